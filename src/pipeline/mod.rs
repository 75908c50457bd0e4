//! The pipeline: the durable ack (`ack.rs`, `spool/`) and the steps after it, run for each
//! submission in the transaction that stores it: history, identity, scores, forwarding, store
//! (lead and submission), enqueue jobs — all or nothing. The inbox row is marked done after that
//! commit (on SQLite it lives in a file of its own); a row whose submissions are stored already
//! (`lead_submissions.inbox_id`) is never stored again, so a lost done mark costs nothing.
//!
//! Failure policy: a step that fails rolls the transaction back and the inbox row is retried
//! (1 s, 2 s, 4 s), then kept as `failed` for an operator (`/admin/inbox`); the request body is in
//! the inbox row, so nothing is lost whatever a step does.

pub mod ack;
pub mod forwarding;
pub mod history;
#[cfg(test)]
mod history_tests;
pub mod identity;
pub mod payload;
pub mod spool;
mod store;
#[cfg(test)]
mod tests;

use crate::scoring::{self, Engagement, SubmissionSignals, Suspicion};
use crate::sources::submission::Submission;
use crate::store::models::Lead;
use crate::store::{lock_identity_key, AnyConnection, DbError};
use forwarding::{ForwardDecision, ForwardPolicy, Forwarding};
use history::PersonHistory;
use payload::ForwardedLead;

#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub policy: ForwardPolicy,
    pub bot_lead_detection: bool,
    pub default_webhook_url: Option<String>,
    pub dev_environment: bool,
}

/// One inbox row, normalized and scored, ready to be stored.
#[derive(Debug, Clone)]
pub struct PipelineItem {
    pub inbox_id: i64,
    /// The row's first submission is linked to it (`inbox_id`, unique: a row is never stored
    /// twice).
    pub first_of_row: bool,
    pub submission: Submission,
    pub signals: SubmissionSignals,
    pub campaign_id: Option<String>,
    pub campaign_webhook_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PersistOutcome {
    pub inbox_id: i64,
    pub lead_public_id: Option<String>,
    pub submission_public_id: Option<String>,
    /// The submission's `forward_decision` (`sent`, or why not).
    pub forward_decision: Option<&'static str>,
    pub new_lead: bool,
    pub decision: Option<ForwardDecision>,
    pub delivery_id: Option<i64>,
    /// Its row was stored by an earlier transaction whose done mark was lost: done, not stored again.
    pub stored_before: bool,
}

impl PersistOutcome {
    /// The row was not ours any more (done by another instance, or re-claimed after our lease
    /// ran out): nothing written.
    fn untouched(inbox_id: i64) -> PersistOutcome {
        PersistOutcome {
            inbox_id,
            lead_public_id: None,
            submission_public_id: None,
            forward_decision: None,
            new_lead: false,
            decision: None,
            delivery_id: None,
            stored_before: false,
        }
    }

    fn stored_before(inbox_id: i64) -> PersistOutcome {
        PersistOutcome {
            stored_before: true,
            ..PersistOutcome::untouched(inbox_id)
        }
    }
}

/// The inbox rows that are done: their submissions stored now or before.
pub fn done_rows(outcomes: &[PersistOutcome]) -> Vec<i64> {
    let mut rows: Vec<i64> = outcomes
        .iter()
        .filter(|o| o.submission_public_id.is_some() || o.stored_before)
        .map(|o| o.inbox_id)
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// Stores one submission through the pipeline's steps. The caller holds the write transaction,
/// the lock of the submission's (account, project) and its inbox row.
fn persist_submission(
    conn: &mut AnyConnection,
    item: &PipelineItem,
    settings: &PipelineSettings,
) -> Result<PersistOutcome, DbError> {
    let sub = &item.submission;
    let history = PersonHistory::load(conn, sub)?;
    let person = resolve_identity(conn, sub, &history)?;
    let scores = score(conn, item, &history, settings)?;
    let forwarding = decide_forwarding(item, &person, &scores, settings);
    store::store(conn, item, &person, &scores, &forwarding, settings)
}

/// Stores submissions (a batch, or one row's) in the caller's transaction; `done_rows` of the
/// outcomes are the inbox rows to mark done once it commits. A row is done with all of its
/// submissions whatever order they were stored in (a batch is ordered by project, and a row's
/// submissions may span projects).
pub fn persist_items(
    conn: &mut AnyConnection,
    items: &[&PipelineItem],
    lease_owner: &str,
    settings: &PipelineSettings,
) -> Result<Vec<PersistOutcome>, DbError> {
    lock_keys_of(conn, items)?;
    let row_ids: Vec<i64> = items.iter().map(|item| item.inbox_id).collect();
    let ours = crate::store::inbox::still_ours(conn, &row_ids, lease_owner)?;
    let stored_before = store::rows_stored_already(conn, &ours)?;
    items
        .iter()
        .map(|item| {
            if ours.binary_search(&item.inbox_id).is_err() {
                Ok(PersistOutcome::untouched(item.inbox_id))
            } else if stored_before.binary_search(&item.inbox_id).is_ok() {
                Ok(PersistOutcome::stored_before(item.inbox_id))
            } else {
                persist_submission(conn, item, settings)
            }
        })
        .collect()
}

/// Identity decisions for one (account, project) are serialised by its lock: each key of the
/// items locked once, in key order, so two instances' transactions cannot deadlock.
fn lock_keys_of(conn: &mut AnyConnection, items: &[&PipelineItem]) -> Result<(), DbError> {
    let mut keys: Vec<(&str, &str)> = items
        .iter()
        .map(|item| (&*item.submission.account_id, &*item.submission.project_key))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for (account, project) in keys {
        lock_identity_key(conn, account, project)?;
    }
    Ok(())
}

/// Who the submission is: the project's lead it joins (by visitor id, email, phone, else —
/// for an anonymous submission — client IP), if any.
pub struct Person {
    pub existing: Option<Lead>,
    /// Joined by client IP alone: it is the lead's, but does not speak for the person.
    pub joined_by_ip_only: bool,
    /// The lead's snapshot before this submission.
    pub previous: Option<ForwardedLead>,
}

fn resolve_identity(
    conn: &mut AnyConnection,
    sub: &Submission,
    history: &PersonHistory,
) -> Result<Person, DbError> {
    let (lead_id, joined_by_ip_only) = match history.lead_in_project {
        Some(id) => (Some(id), false),
        None => {
            let by_ip = history::lead_from_client_ip(conn, sub)?;
            (by_ip, by_ip.is_some())
        }
    };
    let existing = match lead_id {
        Some(id) => Some(store::find_lead(conn, id)?),
        None => None,
    };
    let previous = existing
        .as_ref()
        .and_then(|lead| serde_json::from_str(&lead.data_json).ok());
    Ok(Person {
        existing,
        joined_by_ip_only,
        previous,
    })
}

/// What the scores say of the submission.
pub struct Scores {
    pub suspicion: Suspicion,
    pub engagement: Engagement,
    pub is_bot_lead: bool,
    pub form_submit_count: i64,
    pub related_projects: Vec<String>,
}

fn score(
    conn: &mut AnyConnection,
    item: &PipelineItem,
    history: &PersonHistory,
    settings: &PipelineSettings,
) -> Result<Scores, DbError> {
    let sub = &item.submission;
    let form_submit_count = match history.recent_visitor_submissions {
        Some(count) => count,
        None => history::count_recent_from_ip(conn, sub)?,
    } + 1;
    Ok(Scores {
        suspicion: scoring::suspicion(&item.signals, form_submit_count),
        engagement: scoring::engagement(0, 0, 0),
        is_bot_lead: scoring::is_bot_lead(settings.bot_lead_detection, &item.signals),
        form_submit_count,
        related_projects: history::project_names(conn, history.leads_in_other_projects.clone())?,
    })
}

/// The forwarding rule for this submission. A lead forwarded from the spool while the database
/// was down is recorded as sent, not decided again.
fn decide_forwarding(
    item: &PipelineItem,
    person: &Person,
    scores: &Scores,
    settings: &PipelineSettings,
) -> Forwarding {
    let sub = &item.submission;
    let decided = forwarding::forwarding(
        &settings.policy,
        scores.is_bot_lead,
        person
            .existing
            .as_ref()
            .map(|l| l.last_submitted_at.and_utc()),
        sub.submitted_at,
        settings.destination(item.campaign_webhook_url.as_deref()),
    );
    match sub.pre_forwarded {
        Some(_) => Forwarding {
            value: "sent",
            send: None,
            ..decided
        },
        None => decided,
    }
}

impl PipelineSettings {
    /// Where a lead goes: its campaign's webhook, else the configured one.
    pub fn destination(&self, campaign_webhook_url: Option<&str>) -> Option<String> {
        campaign_webhook_url
            .map(str::to_string)
            .or_else(|| self.default_webhook_url.clone())
    }
}
