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
mod gather;
mod gather_pg;
pub mod history;
#[cfg(test)]
mod history_tests;
pub mod identity;
pub mod payload;
mod plan;
pub mod spool;
mod store;
#[cfg(test)]
mod tests;
mod waves;
#[cfg(test)]
mod waves_tests;

use crate::scoring::SubmissionSignals;
use crate::sources::submission::Submission;
use crate::store::{lock_identity_key, AnyConnection, DbError};
use forwarding::{ForwardDecision, ForwardPolicy};
pub use plan::platform_lead_key_of;
pub use store::platform_leads_stored;

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
    /// What the campaign asks of its leads in the CRM (contacts, deals).
    pub crm: Option<std::sync::Arc<crate::crm::CrmSettings>>,
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
    /// A CRM webhook send was enqueued in its transaction (the WebhookDeliverer is woken).
    pub webhook_enqueued: bool,
    /// A CRM action (contact, assignment) was enqueued in its transaction (its runners are woken).
    pub crm_enqueued: bool,
    /// Its row was stored by an earlier transaction whose done mark was lost, or it is a
    /// platform's lead stored before (the same platform, campaign and lead id): done, not stored
    /// again.
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
            webhook_enqueued: false,
            crm_enqueued: false,
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
    let platform_keys: Vec<Option<String>> = items
        .iter()
        .map(|item| plan::platform_lead_key(&item.submission))
        .collect();
    let keys: Vec<String> = platform_keys.iter().flatten().cloned().collect();
    let mut platform_leads_seen: std::collections::HashSet<String> =
        store::platform_leads_stored(conn, &keys)?
            .into_iter()
            .collect();
    let mut outcomes: Vec<Option<PersistOutcome>> = Vec::with_capacity(items.len());
    let mut to_store = Vec::new();
    for (item, platform_key) in items.iter().zip(platform_keys) {
        if ours.binary_search(&item.inbox_id).is_err() {
            outcomes.push(Some(PersistOutcome::untouched(item.inbox_id)));
        } else if stored_before.binary_search(&item.inbox_id).is_ok() {
            outcomes.push(Some(PersistOutcome::stored_before(item.inbox_id)));
        } else if platform_key.is_some_and(|key| !platform_leads_seen.insert(key)) {
            log::info!(
                "pipeline.platform_lead_again source={} submission={}",
                item.submission.lead_source,
                item.submission.public_id
            );
            outcomes.push(Some(PersistOutcome::stored_before(item.inbox_id)));
        } else {
            outcomes.push(None);
            to_store.push(*item);
        }
    }
    let mut stored = waves::store_in_waves(conn, &to_store, settings)?.into_iter();
    Ok(outcomes
        .into_iter()
        .map(|outcome| {
            outcome
                .or_else(|| stored.next())
                .expect("one outcome per item")
        })
        .collect())
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

impl PipelineSettings {
    /// Where a lead goes: its campaign's webhook, else the configured one.
    pub fn destination(&self, campaign_webhook_url: Option<&str>) -> Option<String> {
        campaign_webhook_url
            .map(str::to_string)
            .or_else(|| self.default_webhook_url.clone())
    }
}
