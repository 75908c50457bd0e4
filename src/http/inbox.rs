//! `/admin/inbox` and `/admin/ignored-webhooks`: accepted requests, and those kept aside.

use super::admin::{listing, page_limit, status_filter, Reply, MAX_PAGE};
use super::auth::Admin;
use super::error::ApiError;
use super::AppState;
use crate::store::models::InboxStatus;
use crate::store::{blocked_ips, inbox};
use actix_web::{web, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct StatusQuery {
    status: Option<String>,
    limit: Option<String>,
}

pub async fn list_ignored_webhooks(_: Admin, state: web::Data<AppState>) -> Reply {
    let rows = state
        .db
        .run(|c| blocked_ips::list_ignored_webhooks(c, MAX_PAGE))
        .await?;
    Ok(listing("ignored_webhooks", &rows, |r| r.to_json()))
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
        .run(move |c| inbox::list_inbox(c, status.as_deref(), limit))
        .await?;
    Ok(listing("items", &rows, |r| r.to_json()))
}

pub async fn retry_inbox(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("no such inbox item".into()))?;
    let row = state.db.run(move |c| inbox::retry_inbox(c, id)).await?;
    state.intake.do_send(crate::actors::intake::Nudge);
    Ok(HttpResponse::Accepted().json(row.to_json()))
}
