//! `/admin/accounts/{id}/campaigns`, `/admin/campaigns/{id}`: what each campaign is, checked
//! key by key (unknown keys are `422`, URLs must be safe to send browsers and leads to).

use super::accounts::valid_name;
use super::admin::{listing, refresh_directory, refuse_unknown_keys, Reply};
use super::auth::Admin;
use super::campaign_health::health_json;
use super::campaign_settings::{check_settings, unknown_users_error};
use super::error::ApiError;
use super::AppState;
use crate::store::models::rfc3339;
use crate::store::models::Campaign;
use crate::store::{self, accounts, now, users};
use actix_web::{web, HttpResponse};
use serde_json::json;
use serde_json::{Map, Value};

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

fn refuse_unknown_campaign_keys(body: &Map<String, Value>) -> Result<(), ApiError> {
    refuse_unknown_keys(body, "campaign", |key| {
        CAMPAIGN_COLUMNS.contains(&key)
            || CAMPAIGN_SETTINGS.contains(&key)
            || CAMPAIGN_READ_ONLY.contains(&key)
    })
}

/// Applies a JSON body to a campaign (new or existing), checking every field it uses; returns the user ids of a `selected_user` it sets, which the caller finds
/// among the account's users.
pub fn apply_campaign_input(
    campaign: &mut Campaign,
    body: &Map<String, Value>,
) -> Result<Vec<String>, ApiError> {
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
            return Err(ApiError::unprocessable(
                "integration",
                format!(
                    "integration must be one of {}",
                    crate::sources::INTEGRATIONS.join(", ")
                ),
            ));
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
    let selected_users = check_settings(&touched_settings(&settings, body))?;
    campaign.settings_json = store::json_text(&Value::Object(settings));
    if campaign.integration.is_empty() {
        return Err(ApiError::BadRequest("integration is required".into()));
    }
    Ok(match body.contains_key("selected_user") {
        true => selected_users,
        false => Vec::new(),
    })
}

/// The settings a change must be judged on: those it sets, with the rest of a deal's settings when
/// it touches one, so a campaign stored before a rule existed can still be paused or renamed.
fn touched_settings(
    settings: &Map<String, Value>,
    body: &Map<String, Value>,
) -> Map<String, Value> {
    const DEAL: &[&str] = &["create_deal", "pipeline_id", "stage_id"];
    let touches_deal = DEAL.iter().any(|key| body.contains_key(*key));
    settings
        .iter()
        .filter(|(key, _)| {
            body.contains_key(*key) || (touches_deal && DEAL.contains(&key.as_str()))
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Stops a campaign naming users its account does not have.
fn known_users(
    conn: &mut crate::store::AnyConnection,
    account_id: &str,
    user_ids: &[String],
) -> Result<Result<(), ApiError>, crate::store::DbError> {
    let unknown = users::unknown_users(conn, account_id, user_ids)?;
    Ok(match unknown.is_empty() {
        true => Ok(()),
        false => Err(unknown_users_error(&unknown)),
    })
}

pub async fn list_campaigns(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let id = id.into_inner();
    let (campaigns, health, tokens) = state
        .db
        .read(move |c| {
            accounts::find_account(c, &id)?;
            let campaigns = accounts::list_campaigns(c, &id)?;
            let ids: Vec<String> = campaigns.iter().map(|c| c.id.clone()).collect();
            let health = crate::store::facebook::campaign_health_of(c, &ids)?;
            Ok((
                campaigns,
                health,
                crate::store::users::facebook_tokens(c, &id)?,
            ))
        })
        .await?;
    let at = now();
    Ok(listing("campaigns", &campaigns, |campaign| {
        let mut out = campaign_json(campaign);
        let of_campaign = health.iter().find(|h| h.campaign_id == campaign.id);
        out["health"] = health_json(campaign, of_campaign, &tokens, at);
        out
    }))
}

pub async fn create_campaign(
    _: Admin,
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
    let user_ids = apply_campaign_input(&mut campaign, &body)?;
    let stored = campaign.clone();
    state
        .db
        .run(move |c| {
            accounts::find_account(c, &stored.account_id)?;
            if let Err(e) = known_users(c, &stored.account_id, &user_ids)? {
                return Ok(Err(e));
            }
            accounts::insert_campaign(c, &stored).map(Ok)
        })
        .await??;
    refresh_directory(&state).await;
    if campaign.integration == crate::sources::facebook::NAME {
        state.facebook.read_forms_again();
    }
    Ok(HttpResponse::Created().json(campaign_json(&campaign)))
}

pub async fn update_campaign(
    _: Admin,
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
            let user_ids = match apply_campaign_input(&mut campaign, &body) {
                Ok(ids) => ids,
                Err(e) => return Ok(Err(e)),
            };
            if let Err(e) = known_users(c, &campaign.account_id, &user_ids)? {
                return Ok(Err(e));
            }
            campaign.updated_at = now();
            accounts::replace_campaign(c, &campaign)?;
            Ok(Ok(campaign))
        })
        .await??;
    refresh_directory(&state).await;
    if campaign.integration == crate::sources::facebook::NAME {
        state.facebook.read_forms_again();
    }
    Ok(HttpResponse::Ok().json(campaign_json(&campaign)))
}

pub fn campaign_json(campaign: &Campaign) -> Value {
    let mut out = campaign.settings();
    let fixed = json!({
        "id": campaign.id, "account_id": campaign.account_id, "name": campaign.name,
        "project_name": campaign.project_name, "integration": campaign.integration, "active": campaign.active,
        "thank_you_url": campaign.thank_you_url, "webhook_url": campaign.webhook_url,
        "created_at": rfc3339(&campaign.created_at), "updated_at": rfc3339(&campaign.updated_at),
    });
    if let Value::Object(fixed) = fixed {
        out.extend(fixed);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            "site_domains": ["skyline.example.com"], "thank_you_url": "/thanks", "create_deal": true,
            "pipeline_id": "p1", "stage_id": "s1"});
        apply_campaign_input(&mut c, body.as_object().unwrap()).unwrap();
        assert_eq!(c.site_domains(), vec!["skyline.example.com"]);
        assert_eq!(campaign_json(&c)["create_deal"], true);
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
}
