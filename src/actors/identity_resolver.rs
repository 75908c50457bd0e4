//! IdentityResolver: decides which canonical lead each submission joins and stores the result.
//!
//! Decisions are serialised per (account, project): a batch is stored in one database transaction
//! (the Intake marks its inbox rows done after it), and an advisory lock per (account, project)
//! serialises the batches in flight — on PostgreSQL the Intake sends a claimed batch in up to four
//! parts split by key, and instances may share the database; SQLite's one writer takes them in turn.
//!
//! Failure policy: a batch that fails because of one row's data is retried one inbox row per
//! transaction, so a bad row fails alone (one that fails because the database is unavailable is
//! left to its lease); a panic stops the actor (the supervisor restarts it) and the Intake puts the
//! batch back in the inbox.

use super::db_executor::Db;
use super::health::{run_guarded, ActorStats};
use crate::metrics::{label, Metrics};
use crate::pipeline::{persist_items, PersistOutcome, PipelineItem, PipelineSettings};
use crate::store::{write_transaction, AnyConnection};
use actix::prelude::*;
use std::sync::Arc;

pub struct IdentityResolver {
    pub db: Db,
    pub settings: Arc<PipelineSettings>,
    pub stats: Arc<ActorStats>,
    pub metrics: Arc<Metrics>,
}

impl Actor for IdentityResolver {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(16);
        self.stats.set_running();
    }
}

impl Supervised for IdentityResolver {
    fn restarting(&mut self, _ctx: &mut Self::Context) {}
}

#[derive(Message)]
#[rtype(result = "Result<BatchOutcome, String>")]
pub struct ResolveBatch {
    pub items: Vec<PipelineItem>,
    pub lease_owner: String,
}

/// What became of a batch: each submission's outcome, and the rows that failed alone (their
/// attempt is recorded on the inbox by the Intake).
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub outcomes: Vec<PersistOutcome>,
    pub failed_rows: Vec<(i64, String)>,
    /// The campaigns that got a lead, each with its latest (for `health.last_lead_at`).
    pub latest_leads: Vec<(String, chrono::NaiveDateTime)>,
    /// The batch's new leads, for live events.
    pub new_leads: Vec<super::live_events::LeadAdded>,
}

impl Handler<ResolveBatch> for IdentityResolver {
    type Result = ResponseFuture<Result<BatchOutcome, String>>;

    fn handle(&mut self, msg: ResolveBatch, ctx: &mut Self::Context) -> Self::Result {
        let guarded = run_guarded(&self.stats, || {
            (
                self.db.clone(),
                self.settings.clone(),
                self.stats.clone(),
                self.metrics.clone(),
            )
        });
        let (db, settings, stats, metrics) = match guarded {
            Ok(parts) => parts,
            Err(crash) => {
                ctx.stop();
                return Box::pin(async move { Err(crash.to_string()) });
            }
        };
        Box::pin(async move {
            let count = msg.items.len() as u64;
            let result = db
                .run(move |conn| Ok(persist_batch(conn, &msg.items, &msg.lease_owner, &settings)))
                .await
                .map_err(|e| e.to_string());
            match &result {
                Ok(batch) => {
                    stats.record_processed(count);
                    count_outcomes(&metrics, &batch.outcomes);
                }
                Err(e) => stats.record_error(e),
            }
            result
        })
    }
}

/// One log line per stored submission (what an operator greps for first) and the metrics.
fn count_outcomes(metrics: &Metrics, outcomes: &[PersistOutcome]) {
    for outcome in outcomes {
        let Some(lead) = &outcome.lead_public_id else {
            continue;
        };
        if outcome.new_lead {
            metrics.leads_created.inc();
        } else {
            metrics.submissions_joined.inc();
        }
        if let Some(decision) = outcome.decision {
            metrics
                .forward_decisions
                .get_or_create(&label("decision", decision.name()))
                .inc();
        }
        log::info!(
            "lead.stored lead={lead} submission={} new_lead={} forward_decision={}",
            outcome.submission_public_id.as_deref().unwrap_or_default(),
            outcome.new_lead,
            outcome.forward_decision.unwrap_or_default()
        );
    }
}

/// The whole batch in one transaction; if that fails, each row in its own, and a row that still
/// fails is returned for its inbox row to record the attempt.
fn persist_batch(
    conn: &mut AnyConnection,
    items: &[PipelineItem],
    owner: &str,
    settings: &PipelineSettings,
) -> BatchOutcome {
    let started = std::time::Instant::now();
    // Advisory locks are taken in key order, so two instances' batches cannot deadlock; the sort
    // is stable, so submissions of one person keep their arrival order.
    let mut ordered: Vec<&PipelineItem> = items.iter().collect();
    ordered.sort_by(|a, b| {
        let key = |i: &PipelineItem| {
            (
                i.submission.account_id.clone(),
                i.submission.project_key.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    let batch = write_transaction(conn, |conn| persist_items(conn, &ordered, owner, settings));
    log::debug!(
        "pipeline.batch items={} ms={:.2}",
        items.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    match batch {
        Ok(outcomes) => BatchOutcome {
            outcomes,
            ..Default::default()
        },
        // Unavailable: nothing is counted against the rows; their leases run out and they are
        // claimed again.
        Err(batch_error) if batch_error.is_unavailable() => {
            log::warn!(
                "pipeline.batch_unavailable items={} error={}",
                items.len(),
                batch_error
            );
            BatchOutcome::default()
        }
        Err(batch_error) => {
            log::warn!(
                "pipeline.batch_failed items={} error={}",
                items.len(),
                batch_error
            );
            // Row by row: a row's submissions are stored together or not at all.
            let mut batch = BatchOutcome::default();
            for row in rows_of(items) {
                match write_transaction(conn, |conn| persist_items(conn, &row, owner, settings)) {
                    Ok(outcomes) => batch.outcomes.extend(outcomes),
                    Err(e) => {
                        let inbox_id = row[0].inbox_id;
                        log::warn!("pipeline.row_failed inbox_id={inbox_id} error={e}");
                        batch.failed_rows.push((inbox_id, e.to_string()));
                    }
                }
            }
            batch
        }
    }
}

/// The items grouped by inbox row, in order.
fn rows_of(items: &[PipelineItem]) -> Vec<Vec<&PipelineItem>> {
    let mut rows: Vec<Vec<&PipelineItem>> = Vec::new();
    for item in items {
        match rows.last_mut() {
            Some(row) if row[0].inbox_id == item.inbox_id => row.push(item),
            _ => rows.push(vec![item]),
        }
    }
    rows
}
