//! Visitor tracking over HTTP: `GET /t.js` (the tracker websites include) and `POST /v1/track`
//! (what it reports). An event is checked, rate-limited and answered `204` at once; it is written
//! with the next batch (`tracking::buffer`), never on the ack path.

use super::error::ApiError;
use super::forms::{read_body, request_client_ip};
use super::site::{add_cors_origin, allowed_origin, preflight, requested_account};
use super::AppState;
use crate::metrics::label;
use crate::tracking::{parse_event, Refused, MAX_EVENT_BYTES};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// The tracker, as served (see `src/tracking/t.js`).
pub const TRACKER_SCRIPT: &str = include_str!("../tracking/t.js");

/// `GET /t.js`: cached by browsers for an hour, revalidated by its ETag.
pub async fn tracker_script(req: HttpRequest) -> HttpResponse {
    let etag = tracker_etag();
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = match unchanged {
        true => HttpResponse::NotModified(),
        false => HttpResponse::Ok(),
    };
    response
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::ETAG, etag.clone()));
    match unchanged {
        true => response.finish(),
        false => response
            .content_type("application/javascript; charset=utf-8")
            .body(TRACKER_SCRIPT),
    }
}

/// The script's ETag: a hash of its text, so a new release is fetched again.
fn tracker_etag() -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    TRACKER_SCRIPT.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

/// `POST /v1/track`: `204` once the event is taken; `400` (bad event), `403` (a page of a site
/// that is not the account's), `413`, `429` (rate limit) or `503` (backlog full), nothing stored.
pub async fn track_event(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let account_id = requested_account(&req, &state.directory.snapshot());
    let origin = allowed_origin(&req, &state, &account_id);
    let taken = take_event(&req, payload, &state, origin.is_some()).await;
    let outcome = match &taken {
        Ok(()) => "accepted",
        Err(ApiError::TooManyRequests(_)) => "rate_limited",
        Err(ApiError::Unavailable(_)) => "backlog_full",
        Err(ApiError::Forbidden(_)) => "foreign_site",
        Err(ApiError::PayloadTooLarge(_)) => "too_large",
        Err(_) => "malformed",
    };
    state
        .metrics
        .tracking_events
        .get_or_create(&label("outcome", outcome))
        .inc();
    let mut response = match taken {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => actix_web::ResponseError::error_response(&e),
    };
    add_cors_origin(&mut response, origin);
    response
}

async fn take_event(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    origin_allowed: bool,
) -> Result<(), ApiError> {
    // A browser names the page's site; a page of another site does not write this account's data.
    if req.headers().contains_key(header::ORIGIN) && !origin_allowed {
        return Err(ApiError::Forbidden(
            "this site is not one of the account's (add its host to a campaign's site_domains)"
                .into(),
        ));
    }
    let body = read_body(req, payload, MAX_EVENT_BYTES).await?;
    let mut event = parse_event(&body, chrono::Utc::now()).map_err(ApiError::BadRequest)?;
    let address = request_client_ip(req, state);
    event.ip = address.map(|a| a.to_string());
    event.user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    state
        .tracking
        .admit(event, address)
        .map_err(|refusal| match refusal {
            Refused::RateLimited => {
                ApiError::TooManyRequests("too many tracking events; slow down".into())
            }
            Refused::Full => {
                ApiError::Unavailable("tracking is behind; the event was not kept".into())
            }
        })
}

/// `OPTIONS /v1/track`: a `fetch()` with a JSON content type asks first.
pub async fn preflight_track(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    preflight(&req, &state, "Content-Type")
}
