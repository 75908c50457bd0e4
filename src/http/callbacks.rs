//! Callbacks from the CRM side: the CRM's id for a lead, the automation's link for a send.
//! `Authorization: Bearer <CRM_CALLBACK_TOKEN>`; unknown ids are `404`.

use super::auth::CrmCaller;
use super::error::{not_found, ApiError};
use super::AppState;
use crate::jobs::crm_webhook::CrmWebhook;
use crate::jobs::JobKind;
use crate::store::leads;
use crate::store::leads::LeadRef;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

/// The body, parsed only once the caller is known: a stranger learns nothing from a `400`.
fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::BadRequest(format!("invalid JSON body: {e}"))),
    }
}

fn text_field(body: &Map<String, Value>, key: &str) -> Option<String> {
    match body.get(key)? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub async fn crm_callback(
    _caller: CrmCaller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = json_object(&body)?;
    let lead = match (text_field(&body, "lead_public_id"), body.get("lead_id")) {
        (Some(public_id), _) => LeadRef::PublicId(public_id),
        (None, Some(Value::Number(n))) => LeadRef::Id(
            n.as_i64()
                .ok_or_else(|| ApiError::BadRequest("lead_id must be an integer".into()))?,
        ),
        (None, Some(Value::String(s))) => match s.trim().parse::<i64>() {
            Ok(id) => LeadRef::Id(id),
            Err(_) => LeadRef::PublicId(s.trim().to_string()),
        },
        _ => {
            return Err(ApiError::BadRequest(
                "lead_public_id or lead_id is required".into(),
            ))
        }
    };
    let crm_lead_id = text_field(&body, "crm_lead_id")
        .ok_or_else(|| ApiError::BadRequest("crm_lead_id is required".into()))?;
    let crm_url = text_field(&body, "crm_url");
    state
        .db
        .run(move |c| leads::set_crm_ids(c, &lead, &crm_lead_id, crm_url.as_deref()))
        .await
        .map_err(not_found("lead"))?;
    Ok(HttpResponse::Ok().json(json!({"success": true})))
}

pub async fn make_callback(
    _caller: CrmCaller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = json_object(&body)?;
    let send_id = text_field(&body, "make_send_public_id")
        .ok_or_else(|| ApiError::BadRequest("make_send_public_id is required".into()))?;
    let execution_url = text_field(&body, "execution_url")
        .ok_or_else(|| ApiError::BadRequest("execution_url is required".into()))?;
    state
        .db
        .run(move |c| {
            crate::store::jobs::set_result(
                c,
                CrmWebhook::NAME,
                &send_id,
                "execution_url",
                &execution_url,
            )
        })
        .await
        .map_err(not_found("delivery"))?;
    Ok(HttpResponse::Ok().json(json!({"success": true})))
}
