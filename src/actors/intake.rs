//! Intake: moves inbox rows through the pipeline — claim, normalize, Scorer, IdentityResolver.
//!
//! Failure policy: rows are claimed with a lease and marked done only after the transaction that
//! stores them commits (a row stored whose mark is lost is recognised and not stored again). If the Scorer or IdentityResolver fails, the claimed rows go back to the inbox
//! with a backoff (1 s, 2 s, 4 s); after 3 attempts they stay `failed` for an operator to retry.
//! A crash of this actor loses nothing: its leases run out and the rows are claimed again.

use super::batch_items::{latest_leads, new_leads, pipeline_items, row_facts};
use super::db_executor::Db;
use super::fetch_handover::{fetch_jobs_of, hand_over_fetches};
use super::health::{run_guarded, ActorStats};
use super::identity_resolver::{BatchOutcome, IdentityResolver, ResolveBatch};
use super::latest_leads::LatestLeads;
use super::live_events::{LeadAdded, LiveEvents};
use super::scorer::{ScoreBatch, Scorer};
use crate::directory::Directory;
use crate::jobs::runner::JobsQueued;
use crate::pipeline::{done_rows, PipelineItem};
use crate::sources::submission::{RequestMeta, Submission};
use crate::sources::{self, StoredRequest};
use crate::store::facebook::record_last_leads;
use crate::store::inbox::claim_inbox;
use crate::store::inbox::{fail_inbox_attempt, mark_inbox_done};
use crate::store::models::{InboxRow, NewJob};
use crate::store::tracking::activity_of;
use crate::store::write_transaction;
use crate::tracking::buffer::PIPELINE_FLUSH_WAIT;
use crate::tracking::{Tracking, VisitorActivities};
use actix::prelude::*;
use chrono::NaiveDateTime;
use std::sync::Arc;
use std::time::Duration;

pub const BATCH_SIZE: i64 = 256;
/// Long enough for any batch; short enough that a crashed instance's rows move on quickly.
const LEASE_SECONDS: i64 = 10;
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Campaigns' `last_lead_at` is written at most this often: never a write per submission.
const LATEST_LEADS_INTERVAL: Duration = Duration::from_secs(1);
const COALESCE_DELAY: Duration = Duration::from_millis(5);
/// How many parts of a claimed batch are stored at once on PostgreSQL.
const BATCHES_IN_FLIGHT: usize = 4;

pub struct Intake {
    pub db: Db,
    pub scorer: Addr<Scorer>,
    pub resolver: Addr<IdentityResolver>,
    pub deliverer: Recipient<JobsQueued>,
    /// The CRM actions' runners, woken when a batch wrote their jobs.
    pub crm_runners: Vec<Recipient<JobsQueued>>,
    pub directory: Arc<Directory>,
    pub stats: Arc<ActorStats>,
    pub lease_owner: String,
    pub busy: bool,
    pub nudged: bool,
    pub latest_leads: LatestLeads,
    pub events: LiveEvents,
    /// Tracking events waiting for their batch: written before a batch is scored.
    pub tracking: Arc<Tracking>,
}

impl Actor for Intake {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        self.stats.set_running();
        self.busy = false;
        ctx.run_interval(POLL_INTERVAL, |act, ctx| act.pump(ctx));
        ctx.run_interval(LATEST_LEADS_INTERVAL, |act, ctx| {
            act.write_latest_leads(ctx)
        });
        self.pump(ctx);
    }
}

impl Supervised for Intake {
    fn restarting(&mut self, _ctx: &mut Self::Context) {}
}

/// New work is in the inbox.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Nudge;

impl Handler<Nudge> for Intake {
    type Result = ();

    fn handle(&mut self, _msg: Nudge, ctx: &mut Self::Context) {
        self.stats.enqueued();
        self.pump(ctx);
    }
}

impl Intake {
    fn write_latest_leads(&mut self, ctx: &mut Context<Self>) {
        let latest = self.latest_leads.take();
        if latest.is_empty() {
            return;
        }
        let db = self.db.clone();
        let work = async move {
            let written = latest.clone();
            match db.run(move |c| record_last_leads(c, &written)).await {
                Ok(()) => Vec::new(),
                Err(e) => {
                    log::warn!("campaign.last_lead_unrecorded error={e}");
                    latest
                }
            }
        };
        ctx.spawn(
            work.into_actor(self)
                .map(|unwritten, act, _| act.latest_leads.merge(unwritten)),
        );
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        if let Err(_crash) = run_guarded(&self.stats, || ()) {
            ctx.stop();
            return;
        }
        if self.busy {
            self.nudged = true;
            return;
        }
        self.busy = true;
        self.nudged = false;
        let work = process_batch(
            self.db.clone(),
            self.scorer.clone(),
            self.resolver.clone(),
            self.deliverer.clone(),
            self.directory.clone(),
            self.lease_owner.clone(),
            self.tracking.clone(),
        );
        ctx.spawn(work.into_actor(self).map(|outcome, act, ctx| {
            act.busy = false;
            match outcome {
                Ok(processed) => {
                    let claimed = processed.claimed;
                    act.latest_leads.merge(processed.latest_leads);
                    act.events.lead_added(processed.new_leads);
                    if processed.crm_enqueued {
                        act.crm_runners.iter().for_each(|r| r.do_send(JobsQueued));
                    }
                    act.stats.record_processed(claimed as u64);
                    if claimed as i64 == BATCH_SIZE {
                        act.pump(ctx);
                    } else if act.nudged {
                        // Let the next rows gather: fewer, larger transactions under load.
                        ctx.run_later(COALESCE_DELAY, |act, ctx| act.pump(ctx));
                    }
                }
                Err(e) => act.stats.record_error(&e),
            }
        }));
    }
}

/// One batch through the pipeline; returns how many rows were claimed.
async fn process_batch(
    db: Db,
    scorer: Addr<Scorer>,
    resolver: Addr<IdentityResolver>,
    deliverer: Recipient<JobsQueued>,
    directory: Arc<Directory>,
    owner: String,
    tracking: Arc<Tracking>,
) -> Result<Processed, String> {
    let claim_owner = owner.clone();
    let rows = db
        .run_inbox(move |conn| {
            claim_inbox(
                conn,
                &claim_owner,
                BATCH_SIZE,
                chrono::Duration::seconds(LEASE_SECONDS),
            )
        })
        .await
        .map_err(|e| e.to_string())?;
    if rows.is_empty() {
        return Ok(Processed::default());
    }
    let (submissions, fetches, mut failures) = read_rows(&rows);
    let mut processed = Processed {
        claimed: rows.len(),
        ..Default::default()
    };
    let (mut done, handover_failures) = hand_over_fetches(&db, fetches).await;
    failures.extend(handover_failures);
    let row_ids: Vec<i64> = rows
        .iter()
        .map(|r| r.id)
        .filter(|id| {
            submissions
                .iter()
                .any(|s: &RowSubmission| s.inbox_id == *id)
        })
        .collect();
    // PostgreSQL's pool has workers to spare, and a transaction spends most of its time on round
    // trips; SQLite has one writer, which would only queue them.
    let parallel = if db.is_sqlite { 1 } else { BATCHES_IN_FLIGHT };
    let activity = visitor_activity(&db, &tracking, &submissions).await;
    match resolve(
        &scorer,
        &resolver,
        &directory,
        &owner,
        (submissions, activity),
        parallel,
    )
    .await
    {
        Ok(batch) => {
            if batch.outcomes.iter().any(|o| o.webhook_enqueued) {
                deliverer.do_send(JobsQueued);
            }
            processed.crm_enqueued = batch.outcomes.iter().any(|o| o.crm_enqueued);
            done.extend(done_rows(&batch.outcomes));
            processed.latest_leads = batch.latest_leads;
            processed.new_leads = batch.new_leads;
            failures.extend(batch.failed_rows);
        }
        Err(e) => failures.extend(row_ids.into_iter().map(|id| (id, e.clone()))),
    }
    finish_rows(&db, owner, done, failures).await?;
    Ok(processed)
}

/// What a batch did that the Intake passes on.
#[derive(Default)]
struct Processed {
    claimed: usize,
    latest_leads: Vec<(String, NaiveDateTime)>,
    new_leads: Vec<LeadAdded>,
    crm_enqueued: bool,
}

type RowFailure = (i64, String);
type RowFetches = (i64, Vec<NewJob>);

/// Each claimed row as its submissions, or as the fetch jobs of what it announces, or failed.
fn read_rows(rows: &[InboxRow]) -> (Vec<RowSubmission>, Vec<RowFetches>, Vec<RowFailure>) {
    let (mut submissions, mut fetches, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        match fetch_jobs_of(row) {
            Some(Ok(jobs)) => fetches.push((row.id, jobs)),
            Some(Err(e)) => failures.push((row.id, e)),
            None => match normalize_row_guarded(row) {
                Ok(of_row) => submissions.extend(in_row(row.id, of_row)),
                Err(e) => failures.push((row.id, e)),
            },
        }
    }
    (submissions, fetches, failures)
}

/// The batch's rows marked done or failed: one commit (one fsync on the inbox writer, ahead of
/// the acks) for the whole batch.
async fn finish_rows(
    db: &Db,
    owner: String,
    done: Vec<i64>,
    failures: Vec<RowFailure>,
) -> Result<(), String> {
    if failures.is_empty() && done.is_empty() {
        return Ok(());
    }
    db.run_inbox(move |conn| {
        write_transaction(conn, |conn| {
            mark_inbox_done(conn, &done)?;
            for (id, error) in &failures {
                log::warn!("pipeline.retry inbox_id={id} error={error}");
                fail_inbox_attempt(conn, *id, &owner, error)?;
            }
            Ok(())
        })
    })
    .await
    .map_err(|e| e.to_string())
}

/// A submission with the inbox row it came from (a row may hold several).
pub struct RowSubmission {
    pub inbox_id: i64,
    pub submission: Submission,
    pub first_of_row: bool,
}

fn in_row(inbox_id: i64, submissions: Vec<Submission>) -> Vec<RowSubmission> {
    submissions
        .into_iter()
        .enumerate()
        .map(|(i, submission)| RowSubmission {
            inbox_id,
            submission,
            first_of_row: i == 0,
        })
        .collect()
}

async fn resolve(
    scorer: &Addr<Scorer>,
    resolver: &Addr<IdentityResolver>,
    directory: &Directory,
    owner: &str,
    (submissions, activity): (Vec<RowSubmission>, VisitorActivities),
    parallel: usize,
) -> Result<BatchOutcome, String> {
    if submissions.is_empty() {
        return Ok(BatchOutcome::default());
    }
    let signals = scorer
        .send(ScoreBatch(
            submissions.iter().map(|s| s.submission.clone()).collect(),
            activity,
        ))
        .await
        .map_err(|e| format!("Scorer unavailable: {e}"))?
        .map_err(|e| e.to_string())?;
    let items = pipeline_items(directory, submissions, signals);
    let facts = row_facts(&items);
    let in_flight = partitions(items, parallel).into_iter().map(|part| {
        let mut rows: Vec<i64> = part.iter().map(|item| item.inbox_id).collect();
        rows.dedup();
        let sent = resolver.send(ResolveBatch {
            items: part,
            lease_owner: owner.to_string(),
        });
        async move {
            let error = match sent.await {
                Ok(Ok(batch)) => return batch,
                Ok(Err(e)) => e,
                Err(e) => format!("IdentityResolver unavailable: {e}"),
            };
            BatchOutcome {
                failed_rows: rows.into_iter().map(|id| (id, error.clone())).collect(),
                ..Default::default()
            }
        }
    });
    let mut merged = BatchOutcome::default();
    for batch in futures_util::future::join_all(in_flight).await {
        merged.outcomes.extend(batch.outcomes);
        merged.failed_rows.extend(batch.failed_rows);
    }
    merged.latest_leads = latest_leads(&merged.outcomes, &facts);
    merged.new_leads = new_leads(&merged.outcomes, &facts);
    Ok(merged)
}

/// What tracking knows of the batch's visitors, once the events waiting are written (an event
/// answered before a submission counts for it). Tracking is not a lead: if it cannot be read, the
/// batch is scored without it.
async fn visitor_activity(
    db: &Db,
    tracking: &Arc<Tracking>,
    submissions: &[RowSubmission],
) -> VisitorActivities {
    let mut visitors: Vec<String> = submissions
        .iter()
        .filter_map(|s| s.submission.visitor_id.clone())
        .collect();
    if visitors.is_empty() {
        return VisitorActivities::new();
    }
    visitors.sort_unstable();
    visitors.dedup();
    // A task of its own: a flush given up on still finishes (its batch put back if it fails).
    let flushing = {
        let (tracking, db) = (tracking.clone(), db.clone());
        actix_rt::spawn(async move { tracking.flush(&db).await })
    };
    match tokio::time::timeout(PIPELINE_FLUSH_WAIT, flushing).await {
        Ok(Ok(Ok(_))) => {}
        Ok(Ok(Err(e))) => log::warn!("tracking.write_failed error={e}"),
        Ok(Err(e)) => log::warn!("tracking.write_failed error={e}"),
        // A lead is not held up for tracking: scored with what is written by now.
        Err(_) => log::warn!(
            "tracking.flush_slow waited_ms={}",
            PIPELINE_FLUSH_WAIT.as_millis()
        ),
    }
    db.read(move |c| activity_of(c, &visitors))
        .await
        .unwrap_or_else(|e| {
            log::warn!("tracking.unreadable error={e}");
            VisitorActivities::new()
        })
}

/// The batch split into `count` batches that can be stored at once: a row's submissions stay
/// together, and rows are placed by the (account, project) of their first submission, so two
/// batches in flight rarely wait for each other's identity lock (which keeps one lead per person
/// and project whatever the split). What parts read across projects — `related_projects`, a
/// visitor's burst count — sees the other parts' submissions once they commit, not before.
pub fn partitions(items: Vec<PipelineItem>, count: usize) -> Vec<Vec<PipelineItem>> {
    use std::hash::{Hash, Hasher};
    let count = count.max(1);
    let mut parts: Vec<Vec<PipelineItem>> = (0..count).map(|_| Vec::new()).collect();
    let mut row_part: Option<(i64, usize)> = None;
    for item in items {
        let part = match row_part {
            Some((row, part)) if row == item.inbox_id => part,
            _ => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                (&item.submission.account_id, &item.submission.project_key).hash(&mut hasher);
                (hasher.finish() % count as u64) as usize
            }
        };
        row_part = Some((item.inbox_id, part));
        parts[part].push(item);
    }
    parts.retain(|part| !part.is_empty());
    parts
}

/// Normalizing parses what visitors sent (phone numbers among it); a panic in there fails this
/// row, not the actor.
fn normalize_row_guarded(row: &InboxRow) -> Result<Vec<Submission>, String> {
    std::panic::catch_unwind(|| normalize_row(row))
        .unwrap_or_else(|_| Err("normalizing the submission panicked".into()))
}

/// An inbox row back into submissions, by the source that took the request.
pub fn normalize_row(row: &InboxRow) -> Result<Vec<Submission>, String> {
    let meta: RequestMeta =
        serde_json::from_str(&row.meta_json).map_err(|e| format!("unreadable meta: {e}"))?;
    let source =
        sources::source(&row.kind).ok_or_else(|| format!("unknown inbox kind {:?}", row.kind))?;
    let submissions = source.submissions(&StoredRequest {
        public_id: &row.public_id,
        account_id: &row.account_id,
        body: &row.body,
        meta: &meta,
    })?;
    if submissions.is_empty() {
        return Err("the request holds no submission".into());
    }
    Ok(submissions)
}

#[cfg(test)]
mod tests {
    use super::partitions;
    use crate::pipeline::PipelineItem;
    use crate::sources::submission::RequestMeta;
    use crate::sources::website::website_submission;

    fn item(inbox_id: i64, project: &str) -> PipelineItem {
        let fields = serde_json::json!({"email": "p@example.com", "project": project});
        let submission = website_submission(
            "id",
            "account",
            fields.as_object().unwrap(),
            &RequestMeta::default(),
        );
        PipelineItem {
            inbox_id,
            first_of_row: true,
            submission,
            signals: Default::default(),
            campaign_id: None,
            campaign_webhook_url: None,
            crm: None,
        }
    }

    #[test]
    fn a_batch_splits_by_key_and_never_splits_a_row() {
        let projects = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let mut items: Vec<PipelineItem> = (0..64)
            .map(|i| item(i, projects[i as usize % projects.len()]))
            .collect();
        // Row 100 holds two submissions for different projects.
        items.push(item(100, "a"));
        items.push(item(100, "h"));
        let parts = partitions(items, 4);
        assert!(parts.len() > 1, "eight projects over four parts");
        assert_eq!(
            parts.iter().map(Vec::len).sum::<usize>(),
            66,
            "nothing lost"
        );
        for part in &parts {
            for other in parts.iter().filter(|o| !std::ptr::eq(*o, part)) {
                let key = |i: &PipelineItem| i.submission.project_key.clone();
                let firsts: Vec<String> =
                    part.iter().filter(|i| i.inbox_id < 100).map(key).collect();
                assert!(
                    other
                        .iter()
                        .filter(|i| i.inbox_id < 100)
                        .all(|i| !firsts.contains(&key(i))),
                    "one key, one part"
                );
            }
        }
        let holding_row = parts.iter().filter(|p| p.iter().any(|i| i.inbox_id == 100));
        assert_eq!(holding_row.count(), 1, "a row stays in one part");
        assert_eq!(partitions(vec![item(1, "a"), item(2, "b")], 1).len(), 1);
    }
}
