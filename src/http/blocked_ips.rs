//! `/admin/blocked-ips` and `/admin/blocked-ip-leads`: the block list and what it refused.

use super::admin::{listing, refresh_directory, Reply};
use super::auth::Admin;
use super::error::ApiError;
use super::AppState;
use crate::config::parse_ip_or_cidr;
use crate::store::blocked_ips;
use crate::store::models::{parse_json_or, rfc3339, BlockedIp, BlockedIpLead};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

pub async fn list_blocked_ips(_: Admin, state: web::Data<AppState>) -> Reply {
    let rows = state.db.read(blocked_ips::list_blocked_ips).await?;
    Ok(listing("blocked_ips", &rows, blocked_ip_json))
}

#[derive(Deserialize)]
pub struct BlockInput {
    ip: Option<String>,
    reason: Option<String>,
}

pub async fn block_ip(_: Admin, state: web::Data<AppState>, body: web::Json<BlockInput>) -> Reply {
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
    Ok(HttpResponse::Created().json(blocked_ip_json(&row)))
}

pub async fn unblock_ip(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let id = id.into_inner();
    state
        .db
        .run(move |c| blocked_ips::delete_blocked_ip(c, &id))
        .await?;
    refresh_directory(&state).await;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_blocked_ip_leads(_: Admin, state: web::Data<AppState>) -> Reply {
    let rows = state
        .db
        .read(|c| blocked_ips::list_blocked_ip_leads(c, 500))
        .await?;
    Ok(listing("blocked_ip_leads", &rows, blocked_ip_lead_json))
}

pub fn blocked_ip_json(blocked_ip: &BlockedIp) -> Value {
    json!({"id": blocked_ip.id, "ip": blocked_ip.ip, "reason": blocked_ip.reason, "created_at": rfc3339(&blocked_ip.created_at)})
}

pub fn blocked_ip_lead_json(blocked_ip_lead: &BlockedIpLead) -> Value {
    json!({
        "id": blocked_ip_lead.id, "ip": blocked_ip_lead.ip, "account_id": blocked_ip_lead.account_id,
        "payload_json": parse_json_or(&blocked_ip_lead.payload_json, Value::String(blocked_ip_lead.payload_json.clone())),
        "created_at": rfc3339(&blocked_ip_lead.created_at),
    })
}
