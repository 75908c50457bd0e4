//! What a campaign's website needs besides the form post: the CORS answers that let its
//! `fetch()` post to leadgate, and a plain thank-you page for forms that land on leadgate itself.

use super::redirect::request_origin;
use super::AppState;
use crate::directory::Snapshot;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

/// Whether a page on this host (`host` or `host:port`) may post to the account's forms: a host of
/// `redirect.allowed_hosts` or of one of the account's campaigns' `site_domains`.
pub fn is_site_host(
    state: &AppState,
    snapshot: &Snapshot,
    account_id: &str,
    authority: &str,
) -> bool {
    let host = authority.split(':').next().unwrap_or_default();
    [authority, host].iter().any(|candidate| {
        state
            .config
            .redirect
            .allowed_hosts
            .iter()
            .any(|h| h == candidate)
            || snapshot.is_site_domain(account_id, candidate)
    })
}

/// The request's `Origin`, exactly as sent, when it is one of the account's sites.
pub fn allowed_origin(
    req: &HttpRequest,
    state: &AppState,
    account_id: &str,
) -> Option<HeaderValue> {
    let origin = req.headers().get(header::ORIGIN)?;
    let (_, authority) = request_origin(origin.to_str().ok(), None)?;
    let snapshot = state.directory.snapshot();
    is_site_host(state, &snapshot, account_id, &authority).then(|| origin.clone())
}

/// The account a form post is for: `?account=`, else the default account.
pub fn requested_account(req: &HttpRequest, snapshot: &Snapshot) -> String {
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "account")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| snapshot.default_account_id.clone())
}

/// `Access-Control-Allow-Origin` (and `Vary: Origin`) for an allowed origin; nothing otherwise.
pub fn add_cors_origin(response: &mut HttpResponse, origin: Option<HeaderValue>) {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
}

/// `OPTIONS /v1/leads`: the browser asks whether the site's `fetch()` may post.
pub async fn preflight_lead(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    preflight(&req, &state, "Content-Type, Accept")
}

/// The answer to a preflight: `POST` allowed with these request headers, for the account's sites.
pub fn preflight(req: &HttpRequest, state: &AppState, allow_headers: &'static str) -> HttpResponse {
    let account_id = requested_account(req, &state.directory.snapshot());
    let origin = allowed_origin(req, state, &account_id);
    let mut response = HttpResponse::NoContent().finish();
    if origin.is_some() {
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(allow_headers),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    add_cors_origin(&mut response, origin);
    response
}

/// `GET /thank-you`: where a form lands when no campaign or site says otherwise.
pub async fn thank_you() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(THANK_YOU_PAGE)
}

const THANK_YOU_PAGE: &str = "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>Thank you</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}</style>
</head>
<body>
<h1>Thank you!</h1>
<p>We have received your details and will be in touch soon.</p>
<p><a href=\"javascript:history.back()\">Back to the previous page</a></p>
</body>
</html>
";
