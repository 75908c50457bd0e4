//! The IP block list, the audit of what it refused, and the requests ignored on purpose.

use super::models::*;
use super::new_public_id;
use super::schema::*;
use super::{now, AnyConnection, DbError};
use diesel::prelude::*;

pub fn list_blocked_ips(conn: &mut AnyConnection) -> Result<Vec<BlockedIp>, DbError> {
    Ok(blocked_ips::table
        .order(blocked_ips::created_at.asc())
        .load(conn)?)
}

pub fn insert_blocked_ip(
    conn: &mut AnyConnection,
    ip: &str,
    reason: Option<&str>,
) -> Result<BlockedIp, DbError> {
    let existing: Option<BlockedIp> = blocked_ips::table
        .filter(blocked_ips::ip.eq(ip))
        .first(conn)
        .optional()?;
    if existing.is_some() {
        return Err(DbError::Invalid(format!("{ip} is already blocked")));
    }
    let row = BlockedIp {
        id: new_public_id(),
        ip: ip.to_string(),
        reason: reason.map(str::to_string),
        created_at: now(),
    };
    diesel::insert_into(blocked_ips::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

pub fn delete_blocked_ip(conn: &mut AnyConnection, id: &str) -> Result<(), DbError> {
    match diesel::delete(blocked_ips::table.find(id)).execute(conn)? {
        0 => Err(DbError::NotFound),
        _ => Ok(()),
    }
}

pub fn list_blocked_ip_leads(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<BlockedIpLead>, DbError> {
    Ok(blocked_ip_leads::table
        .order(blocked_ip_leads::id.desc())
        .limit(limit)
        .load(conn)?)
}

pub fn list_ignored_webhooks(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<IgnoredWebhook>, DbError> {
    Ok(ignored_webhooks::table
        .order(ignored_webhooks::id.desc())
        .limit(limit)
        .load(conn)?)
}
