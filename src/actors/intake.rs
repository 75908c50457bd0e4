//! Intake: moves inbox rows through the pipeline — claim, normalize, Scorer, IdentityResolver.
//!
//! Failure policy: rows are claimed with a lease and marked done only after the transaction that
//! stores them commits (a row stored whose mark is lost is recognised and not stored again). If the Scorer or IdentityResolver fails, the claimed rows go back to the inbox
//! with a backoff (1 s, 2 s, 4 s); after 3 attempts they stay `failed` for an operator to retry.
//! A crash of this actor loses nothing: its leases run out and the rows are claimed again.

use super::db_executor::Db;
use super::health::{run_guarded, ActorStats};
use super::identity_resolver::{BatchOutcome, IdentityResolver, ResolveBatch};
use super::scorer::{ScoreBatch, Scorer};
use crate::directory::Directory;
use crate::jobs::runner::JobsQueued;
use crate::pipeline::{done_rows, PipelineItem};
use crate::sources::submission::{RequestMeta, Submission};
use crate::sources::{self, StoredRequest};
use crate::store::inbox::claim_inbox;
use crate::store::inbox::{fail_inbox_attempt, mark_inbox_done};
use crate::store::models::InboxRow;
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

pub const BATCH_SIZE: i64 = 256;
/// Long enough for any batch; short enough that a crashed instance's rows move on quickly.
const LEASE_SECONDS: i64 = 10;
const POLL_INTERVAL: Duration = Duration::from_millis(250);
const COALESCE_DELAY: Duration = Duration::from_millis(5);

pub struct Intake {
    pub db: Db,
    pub scorer: Addr<Scorer>,
    pub resolver: Addr<IdentityResolver>,
    pub deliverer: Recipient<JobsQueued>,
    pub directory: Arc<Directory>,
    pub stats: Arc<ActorStats>,
    pub lease_owner: String,
    pub busy: bool,
    pub nudged: bool,
}

impl Actor for Intake {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        self.stats.set_running();
        self.busy = false;
        ctx.run_interval(POLL_INTERVAL, |act, ctx| act.pump(ctx));
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
        );
        ctx.spawn(work.into_actor(self).map(|outcome, act, ctx| {
            act.busy = false;
            match outcome {
                Ok(claimed) => {
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
) -> Result<usize, String> {
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
        return Ok(0);
    }
    let claimed = rows.len();
    let mut submissions = Vec::new();
    let mut failures: Vec<(i64, String)> = Vec::new();
    for row in &rows {
        match normalize_row_guarded(row) {
            Ok(of_row) => submissions.extend(in_row(row.id, of_row)),
            Err(e) => failures.push((row.id, e)),
        }
    }
    let row_ids: Vec<i64> = rows
        .iter()
        .map(|r| r.id)
        .filter(|id| {
            submissions
                .iter()
                .any(|s: &RowSubmission| s.inbox_id == *id)
        })
        .collect();
    let mut done = Vec::new();
    match resolve(&scorer, &resolver, &directory, &owner, submissions).await {
        Ok(batch) => {
            if batch.outcomes.iter().any(|o| o.delivery_id.is_some()) {
                deliverer.do_send(JobsQueued);
            }
            done = done_rows(&batch.outcomes);
            failures.extend(batch.failed_rows);
        }
        Err(e) => failures.extend(row_ids.into_iter().map(|id| (id, e.clone()))),
    }
    if !failures.is_empty() || !done.is_empty() {
        db.run_inbox(move |conn| {
            mark_inbox_done(conn, &done)?;
            for (id, error) in &failures {
                log::warn!("pipeline.retry inbox_id={id} error={error}");
                fail_inbox_attempt(conn, *id, &owner, error)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    }
    Ok(claimed)
}

/// A submission with the inbox row it came from (a row may hold several).
struct RowSubmission {
    inbox_id: i64,
    submission: Submission,
    first_of_row: bool,
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
    submissions: Vec<RowSubmission>,
) -> Result<BatchOutcome, String> {
    if submissions.is_empty() {
        return Ok(BatchOutcome::default());
    }
    let signals = scorer
        .send(ScoreBatch(
            submissions.iter().map(|s| s.submission.clone()).collect(),
        ))
        .await
        .map_err(|e| format!("Scorer unavailable: {e}"))?
        .map_err(|e| e.to_string())?;
    let snapshot = directory.snapshot();
    let items = submissions
        .into_iter()
        .zip(signals)
        .map(|(of_row, signals)| {
            let sub = &of_row.submission;
            let campaign = snapshot.campaign_for(
                &sub.account_id,
                &sub.lead_source,
                sub.project_name.as_deref(),
            );
            PipelineItem {
                inbox_id: of_row.inbox_id,
                first_of_row: of_row.first_of_row,
                campaign_id: campaign.map(|c| c.id.clone()),
                campaign_webhook_url: campaign.and_then(|c| c.webhook_url.clone()),
                submission: of_row.submission,
                signals,
            }
        })
        .collect();
    resolver
        .send(ResolveBatch {
            items,
            lease_owner: owner.to_string(),
        })
        .await
        .map_err(|e| format!("IdentityResolver unavailable: {e}"))?
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
