//! `/admin/*`: the route table (each resource in a file of its own) and what every listing
//! shares. Every handler takes an [`Admin`](super::auth::Admin): `Authorization: Bearer
//! <ADMIN_TOKEN>`, else `401`.

use super::auth::Admin;
use super::error::ApiError;
use super::{
    accounts, blocked_ips, campaigns, contacts, deliveries, inbox, leads, users, AppState,
};
use crate::config::Environment;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

pub fn scope() -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("/admin")
        .route("/health", web::get().to(super::health::admin_health))
        .route("/events", web::get().to(super::events::live_events))
        .configure(tenant_routes)
        .route("/blocked-ips", web::get().to(blocked_ips::list_blocked_ips))
        .route("/blocked-ips", web::post().to(blocked_ips::block_ip))
        .route(
            "/blocked-ips/{id}",
            web::delete().to(blocked_ips::unblock_ip),
        )
        .route(
            "/blocked-ip-leads",
            web::get().to(blocked_ips::list_blocked_ip_leads),
        )
        .route("/leads", web::get().to(leads::list_leads))
        .route("/leads/{public_id}", web::get().to(leads::lead_detail))
        .route("/leads/{public_id}", web::patch().to(leads::update_lead))
        .route("/deliveries", web::get().to(deliveries::list_deliveries))
        .route(
            "/deliveries/{id}",
            web::get().to(deliveries::delivery_detail),
        )
        .route(
            "/dead-letters",
            web::get().to(deliveries::list_dead_letters),
        )
        .route(
            "/dead-letters/replay",
            web::post().to(deliveries::replay_all_dead_letters),
        )
        .route(
            "/dead-letters/{id}/replay",
            web::post().to(deliveries::replay_dead_letter),
        )
        .route("/inbox", web::get().to(inbox::list_inbox))
        .route("/inbox/{id}/retry", web::post().to(inbox::retry_inbox))
        .route(
            "/ignored-webhooks",
            web::get().to(inbox::list_ignored_webhooks),
        )
        .route("/actors/{name}/crash", web::post().to(crash_actor))
}

/// Accounts and what belongs to one: campaigns, CRM records, representatives, page tokens.
fn tenant_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts", web::get().to(accounts::list_accounts))
        .route("/accounts", web::post().to(accounts::create_account))
        .route("/accounts/{id}", web::patch().to(accounts::update_account))
        .route(
            "/accounts/{id}/campaigns",
            web::get().to(campaigns::list_campaigns),
        )
        .route(
            "/accounts/{id}/campaigns",
            web::post().to(campaigns::create_campaign),
        )
        .route(
            "/campaigns/{id}",
            web::patch().to(campaigns::update_campaign),
        )
        .route(
            "/accounts/{id}/contacts",
            web::get().to(contacts::list_account_contacts),
        )
        .route(
            "/accounts/{id}/deals",
            web::get().to(contacts::list_account_deals),
        )
        .route(
            "/accounts/{id}/conversations",
            web::get().to(contacts::list_account_conversations),
        )
        .route("/accounts/{id}/users", web::get().to(users::list_users))
        .route("/accounts/{id}/users", web::post().to(users::create_user))
        .route(
            "/accounts/{id}/facebook-token",
            web::put().to(users::put_facebook_token),
        )
        .route(
            "/accounts/{id}/facebook-token",
            web::get().to(users::list_facebook_tokens),
        );
}

/// JSON bodies: 1 MiB at most, errors as `{"error": ...}`.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(crate::sources::common::body::MAX_BODY_BYTES)
        .error_handler(|err, _req| ApiError::BadRequest(format!("invalid JSON body: {err}")).into())
}

pub type Reply = Result<HttpResponse, ApiError>;

/// A key the contract does not name is a mistake (`thankyou_url`), not a setting to keep: `422`
/// naming it.
pub fn refuse_unknown_keys(
    body: &serde_json::Map<String, Value>,
    what: &str,
    known: impl Fn(&str) -> bool,
) -> Result<(), ApiError> {
    match body.keys().find(|k| !known(k)) {
        Some(unknown) => Err(ApiError::unprocessable(
            unknown,
            format!("unknown {what} key {unknown:?}"),
        )),
        None => Ok(()),
    }
}

/// `{"<key>": [row, ...]}`: the shape of every listing.
pub fn listing<T>(key: &str, rows: &[T], to_json: impl Fn(&T) -> Value) -> HttpResponse {
    let items: Vec<Value> = rows.iter().map(to_json).collect();
    HttpResponse::Ok().json(json!({ key: items }))
}

pub const MAX_PAGE: i64 = 500;

pub fn page_limit(limit: Option<&str>) -> Result<i64, ApiError> {
    match limit {
        None | Some("") => Ok(50),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(ApiError::BadRequest(format!(
                "limit must be 1 to {MAX_PAGE}"
            ))),
        },
    }
}

/// A `status` filter: one of `allowed`, or absent; anything else is a mistake worth a `400`.
pub fn status_filter(status: Option<&str>, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    match status.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if allowed.contains(&s) => Ok(Some(s.to_string())),
        Some(s) => Err(ApiError::BadRequest(format!(
            "status {s:?} is not one of {}",
            allowed.join(", ")
        ))),
    }
}

pub async fn refresh_directory(state: &AppState) {
    if let Err(e) = state.directory.refresh(&state.db).await {
        log::warn!("directory.refresh_failed error={e}");
    }
}

async fn crash_actor(
    _: Admin,
    _: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Reply {
    if state.config.environment != Environment::Test {
        return Err(ApiError::NotFound("not found".into()));
    }
    let stats = state
        .registry
        .get(&name)
        .ok_or_else(|| ApiError::NotFound(format!("no actor named {name}")))?;
    stats.request_crash();
    // The Intake fails on its next pump; make sure one comes soon.
    state.intake.do_send(crate::actors::intake::Nudge);
    Ok(HttpResponse::Accepted().json(json!({"actor": stats.name, "crash": "on its next message"})))
}

#[cfg(test)]
mod tests {
    use super::super::auth::constant_time_eq;
    use super::super::leads::valid_status;
    use super::*;

    #[test]
    fn tokens_and_limits() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert_eq!(page_limit(None).unwrap(), 50);
        assert!(page_limit(Some("501")).is_err());
        assert!(page_limit(Some("0")).is_err());
        assert!(valid_status(Some("contacted")).is_ok());
        assert!(valid_status(Some("DROP TABLE")).is_err());
    }
}
