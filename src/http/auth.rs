//! Who may call: operators (`ADMIN_TOKEN`) and the CRM side (`CRM_CALLBACK_TOKEN`), as
//! extractors a handler names first, so that the token is checked before the body is read.

use super::error::ApiError;
use super::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::{ready, Ready};

/// An operator: `Authorization: Bearer <ADMIN_TOKEN>` (unset: nobody).
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Admin, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(bearer_matches(req, |state| state.config.admin_token.as_deref()).map(|()| Admin))
    }
}

/// The CRM side: `Authorization: Bearer <CRM_CALLBACK_TOKEN>` (unset: nobody).
pub struct CrmCaller;

impl FromRequest for CrmCaller {
    type Error = ApiError;
    type Future = Ready<Result<CrmCaller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            bearer_matches(req, |state| state.config.crm_callback_token.as_deref())
                .map(|()| CrmCaller),
        )
    }
}

fn bearer_matches(
    req: &HttpRequest,
    expected: impl Fn(&AppState) -> Option<&str>,
) -> Result<(), ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or(ApiError::Unauthorized)?;
    match (expected(state), bearer_token(req.headers())) {
        (Some(expected), Some(given))
            if constant_time_eq(expected.as_bytes(), given.as_bytes()) =>
        {
            Ok(())
        }
        _ => Err(ApiError::Unauthorized),
    }
}

/// The token of `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110).
pub fn bearer_token(headers: &actix_web::http::header::HeaderMap) -> Option<&str> {
    let value = headers
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, token) = value.split_once(char::is_whitespace)?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Token comparison whose time depends neither on where the first difference is nor on the
/// secret's length: the SHA-256 digests are compared, always 32 bytes.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
