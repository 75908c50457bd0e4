//! Gather the person's history: their earlier submissions in the account that share a key
//! (visitor id, email, phone), the project's recent lead from their client IP, and counts.

use crate::pipeline::identity::{identity_keys, IdentityKey, IP_MATCH_WINDOW_HOURS};
use crate::sources::submission::Submission;
use crate::store::schema::*;
use crate::store::{AnyConnection, DbError};
use chrono::Duration;
use diesel::dsl::max;
use diesel::prelude::*;

/// Earlier submissions of the account that share a visitor id, email or phone with this one,
/// across projects: one indexed query per key gives identity, related projects and the
/// visitor's recent submissions. (Queries here run for every submission: they are written
/// out so Diesel caches them, and have no `LIMIT ?`, which makes SQLite re-prepare.)
pub struct PersonHistory {
    /// (key, lead_id, project_key, submitted_at) per earlier submission.
    rows: Vec<(IdentityKey, i64, String, chrono::NaiveDateTime)>,
}

type HistoryRow = (i64, String, chrono::NaiveDateTime);

impl PersonHistory {
    pub fn load(conn: &mut AnyConnection, sub: &Submission) -> Result<PersonHistory, DbError> {
        use lead_submissions::dsl as s;
        let account = &sub.account_id;
        let columns = (s::lead_id, s::project_key, s::submitted_at);
        let mut rows = Vec::new();
        for key in identity_keys(sub) {
            let found: Vec<HistoryRow> = match &key {
                IdentityKey::VisitorId(v) => s::lead_submissions
                    .filter(s::account_id.eq(account).and(s::visitor_id.eq(v)))
                    .select(columns)
                    .load(conn)?,
                IdentityKey::Email(e) => s::lead_submissions
                    .filter(s::account_id.eq(account).and(s::email_key.eq(e)))
                    .select(columns)
                    .load(conn)?,
                IdentityKey::Phone(p) => s::lead_submissions
                    .filter(s::account_id.eq(account).and(s::phone_e164.eq(p)))
                    .select(columns)
                    .load(conn)?,
                IdentityKey::ClientIp(_) => Vec::new(),
            };
            rows.extend(
                found
                    .into_iter()
                    .map(|(lead, project, at)| (key.clone(), lead, project, at)),
            );
        }
        Ok(PersonHistory { rows })
    }

    /// The most recent lead of this project matched by the first key (in identity order) that
    /// matches at all.
    pub fn lead_in_project(&self, sub: &Submission) -> Option<i64> {
        identity_keys(sub).iter().find_map(|key| {
            self.rows
                .iter()
                .filter(|(k, _, project, _)| k == key && *project == sub.project_key)
                .map(|(_, lead, _, _)| *lead)
                .max()
        })
    }

    /// Submissions of this visitor in the hour before this one; `None` without a visitor id.
    pub fn recent_visitor_submissions(&self, sub: &Submission) -> Option<i64> {
        let visitor = sub.visitor_id.as_ref()?;
        let since = sub.submitted_at.naive_utc() - Duration::hours(1);
        let count = self
            .rows
            .iter()
            .filter(|(k, _, _, at)| {
                matches!(k, IdentityKey::VisitorId(v) if v == visitor) && *at >= since
            })
            .count();
        Some(count as i64)
    }

    pub fn leads_in_other_projects(&self, sub: &Submission) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .rows
            .iter()
            .filter(|(_, _, project, _)| *project != sub.project_key)
            .map(|(_, lead, _, _)| *lead)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// An anonymous submission (of a source whose IP is a key) joins the project's most recent lead
/// from its IP (24 h).
pub fn lead_from_client_ip(
    conn: &mut AnyConnection,
    sub: &Submission,
) -> Result<Option<i64>, DbError> {
    use lead_submissions::dsl as s;
    let Some(IdentityKey::ClientIp(ip)) = identity_keys(sub)
        .into_iter()
        .find(|k| matches!(k, IdentityKey::ClientIp(_)))
    else {
        return Ok(None);
    };
    let since = sub.submitted_at.naive_utc() - Duration::hours(IP_MATCH_WINDOW_HOURS);
    Ok(s::lead_submissions
        .filter(
            s::account_id
                .eq(&sub.account_id)
                .and(s::ip.eq(ip))
                .and(s::submitted_at.ge(since)),
        )
        // Only sources whose IP is an identity key store it, so any match is one of theirs.
        .filter(s::project_key.eq(&sub.project_key))
        .select(max(s::lead_id))
        .get_result(conn)?)
}

/// Submissions from this client IP in the hour before this one (no visitor id), for the sources
/// whose IP identifies the person.
pub fn count_recent_from_ip(conn: &mut AnyConnection, sub: &Submission) -> Result<i64, DbError> {
    use lead_submissions::dsl as s;
    let Some(ip) = sub.ip.as_ref().filter(|_| sub.ip_is_key) else {
        return Ok(0);
    };
    let since = sub.submitted_at.naive_utc() - Duration::hours(1);
    Ok(s::lead_submissions
        .filter(s::account_id.eq(&sub.account_id).and(s::ip.eq(ip)))
        .filter(s::submitted_at.ge(since))
        .count()
        .get_result(conn)?)
}

/// The project names of these leads, sorted, without repeats.
pub fn project_names(conn: &mut AnyConnection, lead_ids: Vec<i64>) -> Result<Vec<String>, DbError> {
    if lead_ids.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<(String, Option<String>)> = leads::table
        .filter(leads::id.eq_any(lead_ids))
        .select((leads::project_key, leads::project_name))
        .load(conn)?;
    let mut projects: Vec<String> = names
        .into_iter()
        .map(|(key, name)| name.unwrap_or(key))
        .filter(|name| !name.is_empty())
        .collect();
    projects.sort();
    projects.dedup();
    Ok(projects)
}
