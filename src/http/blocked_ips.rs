//! `/admin/blocked-ips` and `/admin/blocked-ip-leads`: the block list and what it refused.

use super::admin::{listing, refresh_directory, Reply};
use super::auth::Admin;
use super::error::ApiError;
use super::AppState;
use crate::config::parse_ip_or_cidr;
use crate::store::blocked_ips;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub async fn list_blocked_ips(_: Admin, state: web::Data<AppState>) -> Reply {
    let rows = state.db.run(blocked_ips::list_blocked_ips).await?;
    Ok(listing("blocked_ips", &rows, |r| r.to_json()))
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
    Ok(HttpResponse::Created().json(row.to_json()))
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
        .run(|c| blocked_ips::list_blocked_ip_leads(c, 500))
        .await?;
    Ok(listing("blocked_ip_leads", &rows, |r| r.to_json()))
}
