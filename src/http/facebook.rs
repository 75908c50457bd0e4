//! `GET /v1/inbound/webhooks/facebook`: Meta's subscription check. The lead webhook itself
//! (`POST`, its Graph fetch and back-fill) is being built; until then Meta's deliveries are not
//! taken (Meta retries them for 36 hours, and the back-fill will read what it missed).

use super::auth::constant_time_eq;
use super::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

/// Meta's challenges are short numbers; anything much longer is not one.
const MAX_CHALLENGE: usize = 256;

/// `200` with `hub.challenge` as the body when `hub.mode=subscribe` and `hub.verify_token` is
/// `FACEBOOK_VERIFY_TOKEN`; `403` otherwise (also when no token is configured).
pub async fn verify_subscription(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let get = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let expected = state.config.facebook_verify_token.as_deref().unwrap_or("");
    let token_matches = !expected.is_empty()
        && constant_time_eq(
            get("hub.verify_token").unwrap_or("").as_bytes(),
            expected.as_bytes(),
        );
    match (get("hub.mode"), get("hub.challenge"), token_matches) {
        (Some("subscribe"), Some(challenge), true) if challenge.len() <= MAX_CHALLENGE => {
            HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .insert_header(("X-Content-Type-Options", "nosniff"))
                .body(challenge.to_string())
        }
        _ => {
            log::warn!("facebook.subscription_refused");
            HttpResponse::Forbidden().finish()
        }
    }
}
