//! The reads of a wave on PostgreSQL in four statements whatever its size, each the per-submission
//! read of `history.rs` run for every submission by a LATERAL join over arrays of its
//! parameters, with the same bounds (LIMIT per key, per visitor, per IP): a round trip per read
//! per submission was most of the pipeline's time.

use super::gather::Gathered;
use super::history::{
    self, hour_before, stored_keys, KeyRows, PersonHistory, IP_SUBMISSIONS_READ,
    LEADS_READ_PER_KEY, RECENT_SUBMISSIONS_COUNTED,
};
use super::identity::{identity_keys, IdentityKey, IP_MATCH_WINDOW_HOURS};
use super::PipelineItem;
use crate::store::models::Lead;
use crate::store::schema::leads;
use crate::store::{AnyConnection, DbError};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
use std::collections::HashMap;

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = BigInt)]
    key_index: i64,
    #[diesel(sql_type = Text)]
    project_key: String,
    #[diesel(sql_type = BigInt)]
    lead_id: i64,
}

#[derive(QueryableByName)]
struct ItemCount {
    #[diesel(sql_type = BigInt)]
    item_index: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct ItemLead {
    #[diesel(sql_type = BigInt)]
    item_index: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    lead_id: Option<i64>,
}

pub fn gather_all(
    conn: &mut AnyConnection,
    items: &[&PipelineItem],
) -> Result<Vec<Gathered>, DbError> {
    let rows_of_keys = leads_of_keys(conn, items)?;
    let recent = recent_submissions(conn, items)?;
    let by_ip = leads_from_client_ips(conn, items)?;
    let mut histories = Vec::with_capacity(items.len());
    for ((item, rows), recent) in items.iter().zip(rows_of_keys).zip(&recent) {
        let sub = &item.submission;
        let visitor_count = sub.visitor_id.as_ref().map(|_| *recent);
        histories.push(PersonHistory::from_rows(conn, sub, rows, visitor_count)?);
    }
    let joined: Vec<(Option<i64>, bool)> = histories
        .iter()
        .zip(&by_ip)
        .map(|(history, by_ip)| match history.lead_in_project {
            Some(id) => (Some(id), false),
            None => (*by_ip, by_ip.is_some()),
        })
        .collect();
    let mut wanted: Vec<i64> = joined.iter().filter_map(|(id, _)| *id).collect();
    wanted.extend(
        histories
            .iter()
            .flat_map(|h| h.leads_in_other_projects.clone()),
    );
    wanted.sort_unstable();
    wanted.dedup();
    let leads: HashMap<i64, Lead> = leads::table
        .filter(leads::id.eq_any(&wanted))
        .load::<Lead>(conn)?
        .into_iter()
        .map(|lead| (lead.id, lead))
        .collect();
    Ok(histories
        .into_iter()
        .zip(joined)
        .zip(recent)
        .map(
            |((history, (lead_id, joined_by_ip_only)), recent_submissions)| {
                let projects = history
                    .leads_in_other_projects
                    .iter()
                    .filter_map(|id| leads.get(id))
                    .map(|lead| (lead.project_key.clone(), lead.project_name.clone()))
                    .collect();
                Gathered {
                    existing: lead_id.and_then(|id| leads.get(&id).cloned()),
                    joined_by_ip_only,
                    recent_submissions,
                    related_projects: history::names_of_projects(projects),
                }
            },
        )
        .collect())
}

fn pg(conn: &mut AnyConnection) -> Result<&mut diesel::PgConnection, DbError> {
    match conn {
        AnyConnection::Postgresql(c) => Ok(c),
        AnyConnection::Sqlite(_) => Err(DbError::Invalid(
            "a wave's reads in one statement are PostgreSQL's".into(),
        )),
    }
}

/// Each item's stored keys' (project, lead) rows, in identity order, at most `LEADS_READ_PER_KEY`
/// a key (as `history::leads_of_key`).
fn leads_of_keys(
    conn: &mut AnyConnection,
    items: &[&PipelineItem],
) -> Result<Vec<Vec<KeyRows>>, DbError> {
    let (mut accounts, mut kinds, mut values, mut owners) = (vec![], vec![], vec![], vec![]);
    let mut rows: Vec<Vec<KeyRows>> = Vec::with_capacity(items.len());
    for (n, item) in items.iter().enumerate() {
        let keys = stored_keys(&item.submission);
        rows.push(vec![Vec::new(); keys.len()]);
        for (k, (kind, value)) in keys.into_iter().enumerate() {
            accounts.push(item.submission.account_id.clone());
            kinds.push(kind.to_string());
            values.push(value);
            owners.push((n, k));
        }
    }
    if owners.is_empty() {
        return Ok(rows);
    }
    let found: Vec<KeyRow> = diesel::sql_query(
        "SELECT q.i AS key_index, k.project_key, k.lead_id
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS q(account_id, kind, value, i)
         CROSS JOIN LATERAL (
             SELECT project_key, lead_id FROM lead_keys
             WHERE account_id = q.account_id AND key_kind = q.kind AND key_value = q.value
             LIMIT $4) k",
    )
    .bind::<Array<Text>, _>(accounts)
    .bind::<Array<Text>, _>(kinds)
    .bind::<Array<Text>, _>(values)
    .bind::<BigInt, _>(LEADS_READ_PER_KEY)
    .load(pg(conn)?)?;
    for row in found {
        let (n, k) = owners[row.key_index as usize - 1];
        rows[n][k].push((row.project_key, row.lead_id));
    }
    Ok(rows)
}

/// Each item's submissions in the hour before it, capped: by its visitor id, else by its client
/// IP where the source keeps it, else none (as `history::count_recent_from_*`).
fn recent_submissions(
    conn: &mut AnyConnection,
    items: &[&PipelineItem],
) -> Result<Vec<i64>, DbError> {
    let (mut accounts, mut visitors, mut ips, mut since) = (vec![], vec![], vec![], vec![]);
    for item in items {
        let sub = &item.submission;
        accounts.push(sub.account_id.clone());
        visitors.push(sub.visitor_id.clone());
        let ip = sub
            .ip
            .clone()
            .filter(|_| sub.ip_is_key && sub.visitor_id.is_none());
        ips.push(ip);
        since.push(hour_before(sub));
    }
    let counts: Vec<ItemCount> = diesel::sql_query(
        "SELECT q.i AS item_index, CASE
             WHEN q.visitor IS NOT NULL THEN (SELECT COUNT(*) FROM (SELECT 1 FROM lead_submissions s
                 WHERE s.account_id = q.account_id AND s.visitor_id = q.visitor
                   AND s.submitted_at >= q.since LIMIT $5) v)
             WHEN q.ip IS NOT NULL THEN (SELECT COUNT(*) FROM (SELECT 1 FROM lead_submissions s
                 WHERE s.ip = q.ip AND s.account_id = q.account_id
                   AND s.submitted_at >= q.since LIMIT $5) a)
             ELSE 0 END AS n
         FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamp[])
             WITH ORDINALITY AS q(account_id, visitor, ip, since, i)",
    )
    .bind::<Array<Text>, _>(accounts)
    .bind::<Array<Nullable<Text>>, _>(visitors)
    .bind::<Array<Nullable<Text>>, _>(ips)
    .bind::<Array<Timestamp>, _>(since)
    .bind::<BigInt, _>(RECENT_SUBMISSIONS_COUNTED)
    .load(pg(conn)?)?;
    let mut recent = vec![0; items.len()];
    for count in counts {
        recent[count.item_index as usize - 1] = count.n;
    }
    Ok(recent)
}

/// For each anonymous item (whose IP is its only key), the project's lead of the most recent
/// submission from its IP within the window, among the IP's latest (as
/// `history::lead_from_client_ip`).
fn leads_from_client_ips(
    conn: &mut AnyConnection,
    items: &[&PipelineItem],
) -> Result<Vec<Option<i64>>, DbError> {
    let (mut accounts, mut ips, mut projects, mut since, mut owners) =
        (vec![], vec![], vec![], Vec::<NaiveDateTime>::new(), vec![]);
    for (n, item) in items.iter().enumerate() {
        let sub = &item.submission;
        let ip = identity_keys(sub).into_iter().find_map(|key| match key {
            IdentityKey::ClientIp(ip) => Some(ip),
            _ => None,
        });
        if let Some(ip) = ip {
            accounts.push(sub.account_id.clone());
            ips.push(ip);
            projects.push(sub.project_key.clone());
            since.push(sub.submitted_at.naive_utc() - Duration::hours(IP_MATCH_WINDOW_HOURS));
            owners.push(n);
        }
    }
    let mut leads = vec![None; items.len()];
    if owners.is_empty() {
        return Ok(leads);
    }
    let found: Vec<ItemLead> = diesel::sql_query(
        "SELECT q.i AS item_index, (SELECT latest.lead_id FROM (
                 SELECT id, lead_id, project_key, submitted_at FROM lead_submissions s
                 WHERE s.ip = q.ip AND s.account_id = q.account_id AND s.submitted_at >= q.since
                 ORDER BY s.submitted_at DESC, s.id DESC LIMIT $5) latest
             WHERE latest.project_key = q.project
             ORDER BY latest.submitted_at DESC, latest.id DESC LIMIT 1) AS lead_id
         FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamp[])
             WITH ORDINALITY AS q(account_id, ip, project, since, i)",
    )
    .bind::<Array<Text>, _>(accounts)
    .bind::<Array<Text>, _>(ips)
    .bind::<Array<Text>, _>(projects)
    .bind::<Array<Timestamp>, _>(since)
    .bind::<BigInt, _>(IP_SUBMISSIONS_READ)
    .load(pg(conn)?)?;
    for row in found {
        leads[owners[row.item_index as usize - 1]] = row.lead_id;
    }
    Ok(leads)
}
