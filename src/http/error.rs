//! The errors the API reports, each with its status and `{"error": ...}` body.

use crate::store::DbError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    Unprocessable {
        message: String,
        fields: Vec<String>,
    },
    #[error("body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooManyRequests(String),
}

impl ApiError {
    /// `422` naming the one field that is wrong.
    pub fn unprocessable(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            message: message.into(),
            fields: vec![field.to_string()],
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            ApiError::Unprocessable { message, fields } => {
                json!({"error": message, "fields": fields})
            }
            other => json!({"error": other.to_string()}),
        };
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if matches!(self, ApiError::TooManyRequests(_)) {
            response.insert_header(("Retry-After", "1"));
        }
        if matches!(self, ApiError::RequestTimeout) {
            // The rest of the body may still be on its way: this connection is done.
            response.force_close();
        }
        response.json(body)
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => ApiError::NotFound("not found".into()),
            DbError::Invalid(message) => ApiError::Conflict(message),
            other => {
                log::error!("database.error {other}");
                ApiError::Unavailable("the database is unavailable; retry shortly".into())
            }
        }
    }
}

impl From<crate::sources::common::body::BodyError> for ApiError {
    fn from(e: crate::sources::common::body::BodyError) -> Self {
        match e {
            crate::sources::common::body::BodyError::UnsupportedType(_)
            | crate::sources::common::body::BodyError::UnsupportedCharset(_) => {
                ApiError::UnsupportedMediaType(e.to_string())
            }
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// A missing row as a `404` that names what was looked for; other errors as usual.
pub fn not_found(what: &'static str) -> impl Fn(DbError) -> ApiError {
    move |e| match e {
        DbError::NotFound => ApiError::NotFound(format!("no such {what}")),
        other => other.into(),
    }
}
