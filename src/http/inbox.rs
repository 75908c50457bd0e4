//! `/admin/inbox` and `/admin/ignored-webhooks`: accepted requests, and those kept aside.

use super::admin::{listing, page_limit, status_filter, Reply, MAX_PAGE};
use super::auth::Admin;
use super::error::ApiError;
use super::AppState;
use crate::store::models::InboxStatus;
use crate::store::models::{parse_json_or, rfc3339, IgnoredWebhook, InboxRow};
use crate::store::{blocked_ips, inbox};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct StatusQuery {
    status: Option<String>,
    limit: Option<String>,
}

pub async fn list_ignored_webhooks(_: Admin, state: web::Data<AppState>) -> Reply {
    let rows = state
        .db
        .read(|c| blocked_ips::list_ignored_webhooks(c, MAX_PAGE))
        .await?;
    Ok(listing("ignored_webhooks", &rows, ignored_webhook_json))
}

pub async fn list_inbox(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<StatusQuery>,
) -> Reply {
    let limit = page_limit(query.limit.as_deref())?;
    let status = status_filter(
        query.status.as_deref(),
        &InboxStatus::ALL.map(InboxStatus::as_str),
    )?;
    let rows = state
        .db
        .read(move |c| inbox::list_inbox(c, status.as_deref(), limit))
        .await?;
    Ok(listing("items", &rows, inbox_row_json))
}

pub async fn retry_inbox(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("no such inbox item".into()))?;
    let row = state
        .db
        .run_inbox(move |c| inbox::retry_inbox(c, id))
        .await?;
    state.intake.do_send(crate::actors::intake::Nudge);
    Ok(HttpResponse::Accepted().json(inbox_row_json(&row)))
}

pub fn inbox_row_json(inbox_row: &InboxRow) -> Value {
    json!({
        "id": inbox_row.id, "public_id": inbox_row.public_id, "kind": inbox_row.kind, "account_id": inbox_row.account_id,
        "status": inbox_row.status, "attempts": inbox_row.attempts, "last_error": inbox_row.last_error,
        "next_attempt_at": rfc3339(&inbox_row.next_attempt_at), "received_at": rfc3339(&inbox_row.received_at),
        "processed_at": inbox_row.processed_at.as_ref().map(rfc3339),
        "body": parse_json_or(&inbox_row.body, Value::String(inbox_row.body.clone())),
    })
}

pub fn ignored_webhook_json(ignored_webhook: &IgnoredWebhook) -> Value {
    json!({
        "id": ignored_webhook.id, "platform": ignored_webhook.platform, "account_id": ignored_webhook.account_id,
        "campaign_id": ignored_webhook.campaign_id, "reason": ignored_webhook.reason,
        "payload_json": parse_json_or(&ignored_webhook.payload_json, Value::String(ignored_webhook.payload_json.clone())),
        "received_at": rfc3339(&ignored_webhook.received_at),
    })
}
