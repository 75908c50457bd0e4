//! `/admin/*`: accounts, campaigns, block list, leads, the inbox and deliveries, actor faults.
//! Every route needs `Authorization: Bearer <ADMIN_TOKEN>`.

use super::deliveries;
use super::error::{not_found, ApiError};
use super::AppState;
use crate::config::{parse_ip_or_cidr, Environment};
use crate::sources::submission::project_key;
use crate::store::leads::LeadFilter;
use crate::store::models::{Campaign, InboxStatus};
use crate::store::{self, accounts, blocked_ips, inbox, leads};
use crate::store::{models::rfc3339, now};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

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
        .wrap(from_fn(require_admin_token))
        .route("/health", web::get().to(super::health::admin_health))
        .route("/accounts", web::get().to(list_accounts))
        .route("/accounts", web::post().to(create_account))
        .route("/accounts/{id}", web::patch().to(update_account))
        .route("/accounts/{id}/campaigns", web::get().to(list_campaigns))
        .route("/accounts/{id}/campaigns", web::post().to(create_campaign))
        .route("/campaigns/{id}", web::patch().to(update_campaign))
        .route("/blocked-ips", web::get().to(list_blocked_ips))
        .route("/blocked-ips", web::post().to(block_ip))
        .route("/blocked-ips/{id}", web::delete().to(unblock_ip))
        .route("/blocked-ip-leads", web::get().to(list_blocked_ip_leads))
        .route("/leads", web::get().to(list_leads))
        .route("/leads/{public_id}", web::get().to(lead_detail))
        .route("/leads/{public_id}", web::patch().to(update_lead))
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
        .route("/inbox", web::get().to(list_inbox))
        .route("/inbox/{id}/retry", web::post().to(retry_inbox))
        .route("/ignored-webhooks", web::get().to(list_ignored_webhooks))
        .route("/actors/{name}/crash", web::post().to(crash_actor))
}

/// JSON bodies: 1 MiB at most, errors as `{"error": ...}`.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(crate::sources::common::body::MAX_BODY_BYTES)
        .error_handler(|err, _req| ApiError::BadRequest(format!("invalid JSON body: {err}")).into())
}

async fn require_admin_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let expected = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.config.admin_token.clone());
    let given = bearer_token(req.headers());
    match (expected, given) {
        (Some(expected), Some(given))
            if constant_time_eq(expected.as_bytes(), given.as_bytes()) =>
        {
            Ok(next.call(req).await?.map_into_left_body())
        }
        _ => {
            let response = actix_web::ResponseError::error_response(&ApiError::Unauthorized);
            Ok(req.into_response(response).map_into_right_body())
        }
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

/// Token comparison whose time does not depend on where the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub type Reply = Result<HttpResponse, ApiError>;

/// `{"<key>": [row, ...]}`: the shape of every listing.
pub fn listing<T>(key: &str, rows: &[T], to_json: impl Fn(&T) -> Value) -> HttpResponse {
    let items: Vec<Value> = rows.iter().map(to_json).collect();
    HttpResponse::Ok().json(json!({ key: items }))
}

// ---- accounts ----

async fn list_accounts(state: web::Data<AppState>) -> Reply {
    let accounts = state.db.run(accounts::list_accounts).await?;
    Ok(listing("accounts", &accounts, |a| a.to_json()))
}

#[derive(Deserialize)]
struct AccountInput {
    name: Option<String>,
    active: Option<bool>,
}

fn valid_name(name: Option<&str>, required: bool) -> Result<Option<String>, ApiError> {
    match name.map(str::trim) {
        Some(n) if !n.is_empty() && n.chars().count() <= 200 => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::BadRequest(
            "name must be 1 to 200 characters".into(),
        )),
        None if required => Err(ApiError::BadRequest("name is required".into())),
        None => Ok(None),
    }
}

async fn create_account(state: web::Data<AppState>, body: web::Json<AccountInput>) -> Reply {
    let name = valid_name(body.name.as_deref(), true)?.unwrap_or_default();
    let active = body.active.unwrap_or(true);
    let account = state
        .db
        .run(move |c| accounts::create_account(c, &name, active))
        .await?;
    refresh_directory(&state).await;
    Ok(HttpResponse::Created().json(account.to_json()))
}

async fn update_account(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<AccountInput>,
) -> Reply {
    let name = valid_name(body.name.as_deref(), false)?;
    let active = body.active;
    let id = id.into_inner();
    let account = state
        .db
        .run(move |c| accounts::update_account(c, &id, name.as_deref(), active))
        .await?;
    refresh_directory(&state).await;
    Ok(HttpResponse::Ok().json(account.to_json()))
}

async fn refresh_directory(state: &AppState) {
    if let Err(e) = state.directory.refresh(&state.db).await {
        log::warn!("directory.refresh_failed error={e}");
    }
}

// ---- campaigns ----

/// Keys kept in their own columns; everything else of the contract is kept in `settings_json`.
const CAMPAIGN_COLUMNS: &[&str] = &[
    "name",
    "project_name",
    "integration",
    "active",
    "thank_you_url",
    "webhook_url",
];

/// The campaign keys of the contract kept in `settings_json`.
const CAMPAIGN_SETTINGS: &[&str] = &[
    "page_id",
    "lead_form_id",
    "tracking_number",
    "signing_secret",
    "site_domains",
    "add_to_crm",
    "add_person_or_business",
    "create_deal",
    "pipeline_id",
    "stage_id",
    "deal_value",
    "currency",
    "selected_user",
    "notification_type",
    "email_details",
    "sms_details",
];

/// Keys leadgate writes itself: a client may send a campaign back as it got it.
const CAMPAIGN_READ_ONLY: &[&str] = &["id", "account_id", "created_at", "updated_at", "health"];

fn optional_string(
    body: &Map<String, Value>,
    key: &str,
) -> Result<Option<Option<String>>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.trim().to_string()).filter(|s| !s.is_empty()))),
        Some(_) => Err(ApiError::BadRequest(format!("{key} must be a string"))),
    }
}

/// Where browsers are sent: an absolute http(s) URL, or a path on this host starting with one
/// `/`. Control characters and backslashes are refused: browsers read `/\evil.example` as
/// another host, and a line break would end the `Location` header.
pub fn valid_thank_you_url(url: &str) -> Result<(), String> {
    if url.chars().any(|c| c.is_control() || c == '\\') {
        return Err("thank_you_url must not contain control characters or backslashes".into());
    }
    if url.starts_with('/') {
        let ok = !url.starts_with("//") && url.parse::<actix_web::http::Uri>().is_ok();
        return ok
            .then_some(())
            .ok_or_else(|| "thank_you_url must be a path starting with a single /".into());
    }
    match url.parse::<actix_web::http::Uri>() {
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {
            Ok(())
        }
        _ => Err("thank_you_url must be an http(s) URL or a path starting with /".into()),
    }
}

/// A key the contract does not name is a mistake (`thankyou_url`), not a setting to keep: `422`.
fn refuse_unknown_campaign_keys(body: &Map<String, Value>) -> Result<(), ApiError> {
    let known = |key: &str| {
        CAMPAIGN_COLUMNS.contains(&key)
            || CAMPAIGN_SETTINGS.contains(&key)
            || CAMPAIGN_READ_ONLY.contains(&key)
    };
    match body.keys().find(|k| !known(k)) {
        Some(unknown) => Err(ApiError::Unprocessable {
            message: format!("unknown campaign key {unknown:?}"),
            fields: vec![unknown.clone()],
        }),
        None => Ok(()),
    }
}

/// Applies a JSON body to a campaign (new or existing), checking every field it uses.
pub fn apply_campaign_input(
    campaign: &mut Campaign,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    refuse_unknown_campaign_keys(body)?;
    if let Some(name) = optional_string(body, "name")? {
        campaign.name = valid_name(name.as_deref(), true)?.unwrap_or_default();
    }
    if let Some(project) = optional_string(body, "project_name")? {
        campaign.project_name = project;
    }
    if let Some(integration) = optional_string(body, "integration")? {
        let integration = integration.unwrap_or_default();
        if !crate::sources::INTEGRATIONS.contains(&integration.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "integration must be one of {}",
                crate::sources::INTEGRATIONS.join(", ")
            )));
        }
        campaign.integration = integration;
    }
    match body.get("active") {
        None => {}
        Some(Value::Bool(b)) => campaign.active = *b,
        Some(_) => return Err(ApiError::BadRequest("active must be true or false".into())),
    }
    if let Some(url) = optional_string(body, "thank_you_url")? {
        if let Some(u) = &url {
            valid_thank_you_url(u).map_err(ApiError::BadRequest)?;
        }
        campaign.thank_you_url = url;
    }
    if let Some(url) = optional_string(body, "webhook_url")? {
        if let Some(why) = url
            .as_deref()
            .and_then(crate::outbound::forbidden_destination)
        {
            return Err(ApiError::BadRequest(format!("webhook_url: {why}")));
        }
        campaign.webhook_url = url;
    }
    if let Some(domains) = body.get("site_domains") {
        let valid = domains.as_array().is_some_and(|items| {
            items
                .iter()
                .all(|d| d.as_str().is_some_and(|s| !s.trim().is_empty()))
        });
        if !valid {
            return Err(ApiError::BadRequest(
                "site_domains must be an array of host names".into(),
            ));
        }
    }
    let mut settings = campaign.settings();
    for (key, value) in body {
        if CAMPAIGN_SETTINGS.contains(&key.as_str()) {
            settings.insert(key.clone(), value.clone());
        }
    }
    campaign.settings_json = store::json_text(&Value::Object(settings));
    if campaign.integration.is_empty() {
        return Err(ApiError::BadRequest("integration is required".into()));
    }
    Ok(())
}

async fn list_campaigns(state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let id = id.into_inner();
    let campaigns = state
        .db
        .run(move |c| {
            accounts::find_account(c, &id)?;
            accounts::list_campaigns(c, &id)
        })
        .await?;
    Ok(listing("campaigns", &campaigns, Campaign::to_json))
}

async fn create_campaign(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Map<String, Value>>,
) -> Reply {
    let t = now();
    let mut campaign = Campaign {
        id: store::new_public_id(),
        account_id: id.into_inner(),
        name: String::new(),
        project_name: None,
        integration: String::new(),
        active: true,
        thank_you_url: None,
        webhook_url: None,
        settings_json: "{}".into(),
        created_at: t,
        updated_at: t,
    };
    if !body.contains_key("name") {
        return Err(ApiError::BadRequest("name is required".into()));
    }
    apply_campaign_input(&mut campaign, &body)?;
    let stored = campaign.clone();
    state
        .db
        .run(move |c| {
            accounts::find_account(c, &stored.account_id)?;
            accounts::insert_campaign(c, &stored)
        })
        .await?;
    refresh_directory(&state).await;
    Ok(HttpResponse::Created().json(campaign.to_json()))
}

async fn update_campaign(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Map<String, Value>>,
) -> Reply {
    let id = id.into_inner();
    let body = body.into_inner();
    refuse_unknown_campaign_keys(&body)?;
    let campaign = state
        .db
        .run(move |c| {
            let mut campaign = accounts::find_campaign(c, &id)?;
            apply_campaign_input(&mut campaign, &body)
                .map_err(|e| crate::store::DbError::Invalid(e.to_string()))?;
            campaign.updated_at = now();
            accounts::replace_campaign(c, &campaign)?;
            Ok(campaign)
        })
        .await
        .map_err(|e| match e {
            crate::store::DbError::Invalid(message) => ApiError::BadRequest(message),
            other => other.into(),
        })?;
    refresh_directory(&state).await;
    Ok(HttpResponse::Ok().json(campaign.to_json()))
}

// ---- blocked IPs ----

async fn list_blocked_ips(state: web::Data<AppState>) -> Reply {
    let rows = state.db.run(blocked_ips::list_blocked_ips).await?;
    Ok(listing("blocked_ips", &rows, |r| r.to_json()))
}

#[derive(Deserialize)]
struct BlockInput {
    ip: Option<String>,
    reason: Option<String>,
}

async fn block_ip(state: web::Data<AppState>, body: web::Json<BlockInput>) -> Reply {
    let text = body.ip.as_deref().unwrap_or_default();
    let net = parse_ip_or_cidr(text).ok_or_else(|| {
        ApiError::BadRequest(format!("ip must be an IP address or CIDR, got {text:?}"))
    })?;
    // An exact address is stored as given ("203.0.113.7"), a network in canonical form.
    let ip = if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    };
    let reason = body.reason.clone();
    let row = state
        .db
        .run(move |c| blocked_ips::insert_blocked_ip(c, &ip, reason.as_deref()))
        .await?;
    refresh_directory(&state).await;
    Ok(HttpResponse::Created().json(row.to_json()))
}

async fn unblock_ip(state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let id = id.into_inner();
    state
        .db
        .run(move |c| blocked_ips::delete_blocked_ip(c, &id))
        .await?;
    refresh_directory(&state).await;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_blocked_ip_leads(state: web::Data<AppState>) -> Reply {
    let rows = state
        .db
        .run(|c| blocked_ips::list_blocked_ip_leads(c, 500))
        .await?;
    Ok(listing("blocked_ip_leads", &rows, |r| r.to_json()))
}

// ---- leads ----

#[derive(Deserialize)]
struct LeadQuery {
    account: Option<String>,
    project: Option<String>,
    q: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
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

async fn list_leads(state: web::Data<AppState>, query: web::Query<LeadQuery>) -> Reply {
    let limit = page_limit(query.limit.as_deref())?;
    let before_id = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::BadRequest("cursor is not valid".into()))?,
        ),
    };
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let filter = LeadFilter {
        account_id: nonempty(&query.account),
        project_key: nonempty(&query.project).map(|p| project_key(Some(&p))),
        q: nonempty(&query.q),
        status: nonempty(&query.status),
        limit: limit + 1,
        before_id,
    };
    let mut leads = state
        .db
        .run(move |c| {
            if let Some(account) = &filter.account_id {
                accounts::find_account(c, account).map_err(|e| match e {
                    crate::store::DbError::NotFound => {
                        crate::store::DbError::Invalid(format!("unknown account {account:?}"))
                    }
                    other => other,
                })?;
            }
            leads::list_leads(c, &filter)
        })
        .await
        .map_err(|e| match e {
            crate::store::DbError::Invalid(message) => ApiError::BadRequest(message),
            other => other.into(),
        })?;
    let next_cursor = if leads.len() as i64 > limit {
        leads.truncate(limit as usize);
        leads.last().map(|l| l.id.to_string())
    } else {
        None
    };
    let items: Vec<Value> = leads.iter().map(|l| l.to_json()).collect();
    Ok(HttpResponse::Ok().json(json!({ "leads": items, "next_cursor": next_cursor })))
}

async fn lead_detail(state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let id = id.into_inner();
    let (lead, submissions, deliveries) = state
        .db
        .run(move |c| {
            let lead = leads::find_lead(c, &id)?;
            let submissions = leads::lead_submissions_of(c, lead.id)?;
            let deliveries = crate::store::jobs::jobs_of_lead(c, lead.id)?;
            Ok((lead, submissions, deliveries))
        })
        .await
        .map_err(not_found("lead"))?;
    let mut timeline: Vec<Value> = submissions
        .iter()
        .map(|s| {
            json!({"at": rfc3339(&s.submitted_at), "type": "submission", "submission_public_id": s.public_id,
                   "lead_source": s.lead_source, "is_duplicate": s.is_duplicate, "forwarded": s.forwarded})
        })
        .chain(deliveries.iter().map(deliveries::delivery_event))
        .collect();
    timeline.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
    Ok(HttpResponse::Ok().json(json!({
        "lead": lead.to_json(),
        "submissions": submissions.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
        "timeline": timeline,
    })))
}

#[derive(Deserialize)]
struct LeadPatch {
    status: Option<String>,
}

/// Lead statuses are the operator's words: lowercase letters, digits and `_`, up to 32.
fn valid_status(status: Option<&str>) -> Result<String, ApiError> {
    let status = status.map(str::trim).unwrap_or_default();
    let ok = !status.is_empty()
        && status.len() <= 32
        && status
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(status.to_string())
    } else {
        Err(ApiError::BadRequest(
            "status must be 1 to 32 characters of a-z, 0-9 and _".into(),
        ))
    }
}

async fn update_lead(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<LeadPatch>,
) -> Reply {
    let status = valid_status(body.status.as_deref())?;
    let id = id.into_inner();
    let lead = state
        .db
        .run(move |c| leads::set_lead_status(c, &id, &status))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "lead": lead.to_json() })))
}

// ---- inbox and deliveries ----

#[derive(Deserialize)]
struct StatusQuery {
    status: Option<String>,
    limit: Option<String>,
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

async fn list_ignored_webhooks(state: web::Data<AppState>) -> Reply {
    let rows = state
        .db
        .run(|c| blocked_ips::list_ignored_webhooks(c, MAX_PAGE))
        .await?;
    Ok(listing("ignored_webhooks", &rows, |r| r.to_json()))
}

async fn list_inbox(state: web::Data<AppState>, query: web::Query<StatusQuery>) -> Reply {
    let limit = page_limit(query.limit.as_deref())?;
    let status = status_filter(
        query.status.as_deref(),
        &InboxStatus::ALL.map(InboxStatus::as_str),
    )?;
    let rows = state
        .db
        .run(move |c| inbox::list_inbox(c, status.as_deref(), limit))
        .await?;
    Ok(listing("items", &rows, |r| r.to_json()))
}

async fn retry_inbox(state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("no such inbox item".into()))?;
    let row = state.db.run(move |c| inbox::retry_inbox(c, id)).await?;
    state.intake.do_send(crate::actors::intake::Nudge);
    Ok(HttpResponse::Accepted().json(row.to_json()))
}

// ---- faults ----

async fn crash_actor(state: web::Data<AppState>, name: web::Path<String>) -> Reply {
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
    use super::*;

    fn blank() -> Campaign {
        Campaign {
            id: "c".into(),
            account_id: "a".into(),
            name: String::new(),
            project_name: None,
            integration: String::new(),
            active: true,
            thank_you_url: None,
            webhook_url: None,
            settings_json: "{}".into(),
            created_at: now(),
            updated_at: now(),
        }
    }

    #[test]
    fn campaign_input_is_checked() {
        let mut c = blank();
        let body = json!({"name": "Skyline", "integration": "website", "project_name": "Skyline Towers",
            "site_domains": ["skyline.example.com"], "thank_you_url": "/thanks", "create_deal": true});
        apply_campaign_input(&mut c, body.as_object().unwrap()).unwrap();
        assert_eq!(c.site_domains(), vec!["skyline.example.com"]);
        assert_eq!(c.to_json()["create_deal"], true);
        for bad in [
            json!({"integration": "myspace"}),
            json!({"thank_you_url": "javascript:x"}),
            json!({"site_domains": "x"}),
            json!({"active": "yes"}),
            json!({"webhook_url": "/relative"}),
        ] {
            let mut c = blank();
            c.name = "n".into();
            c.integration = "website".into();
            assert!(
                apply_campaign_input(&mut c, bad.as_object().unwrap()).is_err(),
                "{bad}"
            );
        }
    }

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
