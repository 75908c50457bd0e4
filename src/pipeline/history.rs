//! Gather the person's history: the project's lead they join, the leads of the account's other
//! projects that share a key (visitor id, email, phone), the project's recent lead from their
//! client IP, and how often they submitted lately.
//!
//! Every read here is bounded, so a key with 100,000 earlier submissions (an office NAT, a test
//! email, a bot's visitor id) costs what a key with one does: keys are read from `lead_keys`, one
//! row per (key, project, lead) whatever the number of submissions; counts stop at what a rule
//! needs; the windowed reads of the submissions go by an index that ends in the time.
//! (Queries here run for every submission on SQLite, and for a wave of one on PostgreSQL, whose
//! larger waves read as `gather_pg.rs` does: they are written out so Diesel caches them.)

use crate::pipeline::identity::{identity_keys, IdentityKey, IP_MATCH_WINDOW_HOURS};
use crate::sources::submission::Submission;
use crate::store::schema::*;
use crate::store::{AnyConnection, DbError};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

/// Recent submissions are counted up to this many, so `form_submit_count` (the earlier ones plus
/// this one) stops at 100; the burst rule needs more than 5.
pub const RECENT_SUBMISSIONS_COUNTED: i64 = 99;

/// An IP's latest submissions read to find the project's lead from it.
pub const IP_SUBMISSIONS_READ: i64 = 50;

/// Leads of a key read at once (any project): its project's lead and, for `related_projects`, the
/// others'.
pub const LEADS_READ_PER_KEY: i64 = 51;

/// The (project, lead) rows read for one key.
pub type KeyRows = Vec<(String, i64)>;

/// What the account already knows of the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonHistory {
    /// The project's most recent lead matched by the first key (in identity order) that matches
    /// at all.
    pub lead_in_project: Option<i64>,
    /// Leads of the account's other projects that share a key, sorted, without repeats.
    pub leads_in_other_projects: Vec<i64>,
    /// Submissions of this visitor in the hour before this one (capped); `None` without a visitor
    /// id.
    pub recent_visitor_submissions: Option<i64>,
}

impl PersonHistory {
    pub fn load(conn: &mut AnyConnection, sub: &Submission) -> Result<PersonHistory, DbError> {
        let rows_of_keys = stored_keys(sub)
            .iter()
            .map(|(kind, value)| leads_of_key(conn, sub, kind, value))
            .collect::<Result<Vec<_>, _>>()?;
        let recent_visitor_submissions = match &sub.visitor_id {
            Some(visitor) => Some(count_recent_from_visitor(conn, sub, visitor)?),
            None => None,
        };
        PersonHistory::from_rows(conn, sub, rows_of_keys, recent_visitor_submissions)
    }

    /// The history from the (project, lead) rows of each of the submission's stored keys (in
    /// identity order, at most `LEADS_READ_PER_KEY` each); a key with more rows than that is asked
    /// for its project's lead.
    pub fn from_rows(
        conn: &mut AnyConnection,
        sub: &Submission,
        rows_of_keys: Vec<KeyRows>,
        recent_visitor_submissions: Option<i64>,
    ) -> Result<PersonHistory, DbError> {
        let mut lead_in_project = None;
        let mut leads_in_other_projects = Vec::new();
        for ((kind, value), leads) in stored_keys(sub).into_iter().zip(rows_of_keys) {
            let (here, elsewhere): (Vec<_>, Vec<_>) = leads
                .into_iter()
                .partition(|(project, _)| *project == sub.project_key);
            let read_all = (here.len() + elsewhere.len()) < LEADS_READ_PER_KEY as usize;
            if lead_in_project.is_none() {
                lead_in_project = if read_all {
                    here.iter().map(|(_, lead)| *lead).max()
                } else {
                    // More leads share the key than one read takes: ask for this project's.
                    latest_lead_of_key(conn, sub, kind, &value)?
                };
            }
            leads_in_other_projects.extend(elsewhere.into_iter().map(|(_, lead)| lead));
        }
        leads_in_other_projects.sort_unstable();
        leads_in_other_projects.dedup();
        Ok(PersonHistory {
            lead_in_project,
            leads_in_other_projects,
            recent_visitor_submissions,
        })
    }
}

/// The submission's keys as kept in `lead_keys` (kind, value), in identity order.
pub fn stored_keys(sub: &Submission) -> Vec<(&'static str, String)> {
    identity_keys(sub)
        .iter()
        .filter_map(|key| {
            key.stored_as()
                .map(|(kind, value)| (kind, value.to_string()))
        })
        .collect()
}

fn latest_lead_of_key(
    conn: &mut AnyConnection,
    sub: &Submission,
    kind: &str,
    value: &str,
) -> Result<Option<i64>, DbError> {
    use lead_keys::dsl as k;
    Ok(k::lead_keys
        .filter(k::account_id.eq(&sub.account_id).and(k::key_kind.eq(kind)))
        .filter(
            k::key_value
                .eq(value)
                .and(k::project_key.eq(&sub.project_key)),
        )
        .select(k::lead_id)
        .order(k::lead_id.desc())
        .limit(1)
        .get_result(conn)
        .optional()?)
}

/// The (project, lead) rows of a key, at most `LEADS_READ_PER_KEY`: one round trip gives both the
/// project's lead and the other projects' leads for all but the rare key shared by more leads.
fn leads_of_key(
    conn: &mut AnyConnection,
    sub: &Submission,
    kind: &str,
    value: &str,
) -> Result<KeyRows, DbError> {
    use lead_keys::dsl as k;
    Ok(k::lead_keys
        .filter(k::account_id.eq(&sub.account_id).and(k::key_kind.eq(kind)))
        .filter(k::key_value.eq(value))
        .select((k::project_key, k::lead_id))
        .limit(LEADS_READ_PER_KEY)
        .load(conn)?)
}

pub fn hour_before(sub: &Submission) -> NaiveDateTime {
    sub.submitted_at.naive_utc() - Duration::hours(1)
}

fn count_recent_from_visitor(
    conn: &mut AnyConnection,
    sub: &Submission,
    visitor: &str,
) -> Result<i64, DbError> {
    use lead_submissions::dsl as s;
    let times: Vec<NaiveDateTime> = s::lead_submissions
        .filter(
            s::account_id
                .eq(&sub.account_id)
                .and(s::visitor_id.eq(visitor)),
        )
        .filter(s::submitted_at.ge(hour_before(sub)))
        .select(s::submitted_at)
        .limit(RECENT_SUBMISSIONS_COUNTED)
        .load(conn)?;
    Ok(times.len() as i64)
}

/// An anonymous submission (of a source whose IP is a key) joins the lead of the project's most
/// recent submission from its IP within 24 h, found among the IP's latest submissions: a busy
/// address (an office NAT) costs no more than a quiet one.
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
    // Only sources whose IP is an identity key store it, so any match is one of theirs.
    let latest: Vec<(i64, String)> = s::lead_submissions
        .filter(s::ip.eq(ip).and(s::account_id.eq(&sub.account_id)))
        .filter(s::submitted_at.ge(since))
        .select((s::lead_id, s::project_key))
        .order((s::submitted_at.desc(), s::id.desc()))
        .limit(IP_SUBMISSIONS_READ)
        .load(conn)?;
    Ok(latest
        .into_iter()
        .find(|(_, project)| *project == sub.project_key)
        .map(|(lead, _)| lead))
}

/// Submissions from this client IP in the hour before this one (capped), for the sources whose
/// IP identifies the person.
pub fn count_recent_from_ip(conn: &mut AnyConnection, sub: &Submission) -> Result<i64, DbError> {
    use lead_submissions::dsl as s;
    let Some(ip) = sub.ip.as_ref().filter(|_| sub.ip_is_key) else {
        return Ok(0);
    };
    let times: Vec<NaiveDateTime> = s::lead_submissions
        .filter(s::ip.eq(ip).and(s::account_id.eq(&sub.account_id)))
        .filter(s::submitted_at.ge(hour_before(sub)))
        .select(s::submitted_at)
        .limit(RECENT_SUBMISSIONS_COUNTED)
        .load(conn)?;
    Ok(times.len() as i64)
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
    Ok(names_of_projects(names))
}

/// A project is named by its name, else its key; sorted, without repeats or blanks.
pub fn names_of_projects(projects: Vec<(String, Option<String>)>) -> Vec<String> {
    let mut names: Vec<String> = projects
        .into_iter()
        .map(|(key, name)| name.unwrap_or(key))
        .filter(|name| !name.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}
