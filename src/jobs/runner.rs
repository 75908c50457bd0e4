//! The runner of one job kind: a supervised actor that claims due rows of its kind with a lease,
//! runs each through the kind within the concurrency limits, records every attempt (attempts that
//! finish together in one commit), re-drives dead letters on their schedule and purges expired
//! ones. Everything a kind has in common lives here, once.

use super::{Attempted, JobKind, Recorded, RecordedAttempt};
use crate::actors::db_executor::Db;
use crate::actors::health::{run_guarded, ActorStats};
use crate::store::models::Job;
use crate::store::{dead_letters, jobs};
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const PURGE_INTERVAL: Duration = Duration::from_secs(60);
const REDRIVE_INTERVAL: Duration = Duration::from_secs(1);
/// Lease beyond the attempt's own timeout: time to record its outcome.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// How long after an attempt its recording is retried (well inside the lease margin).
const RECORDING_RETRIES_FOR: Duration = Duration::from_secs(20);
/// How far past its timeout an attempt may run (its calls' own timeouts ending it first).
const ATTEMPT_SLACK: Duration = Duration::from_secs(5);

/// Shared with the shutdown path and the ack path: how many attempts are on the wire (in all and
/// per destination), and whether to start more.
#[derive(Debug, Default)]
pub struct RunnerGate {
    pub in_flight: AtomicUsize,
    pub draining: AtomicBool,
    by_destination: Mutex<HashMap<String, usize>>,
}

impl RunnerGate {
    fn by_destination(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.by_destination
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn in_flight_to(&self, destination: &str) -> usize {
        self.by_destination().get(destination).copied().unwrap_or(0)
    }

    /// Destinations with every slot in use: not claimed for until one frees up.
    fn busy(&self, per_destination: usize) -> Vec<String> {
        self.by_destination()
            .iter()
            .filter(|(_, n)| **n >= per_destination)
            .map(|(d, _)| d.clone())
            .collect()
    }
}

/// One attempt on the wire or waiting to be recorded. Counted while it lives, so a task dropped
/// with a restarted actor releases its count too.
pub struct InFlight(Arc<RunnerGate>, Option<String>);

impl InFlight {
    pub fn new(gate: &Arc<RunnerGate>, destination: Option<&str>) -> InFlight {
        gate.in_flight.fetch_add(1, Ordering::SeqCst);
        if let Some(d) = destination {
            *gate.by_destination().entry(d.to_string()).or_default() += 1;
        }
        InFlight(gate.clone(), destination.map(str::to_string))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        let Some(destination) = &self.1 else { return };
        let mut counts = self.0.by_destination();
        if let Some(count) = counts.get_mut(destination) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(destination);
            }
        }
    }
}

/// A finished attempt waiting to be recorded. While the database cannot take it, it is kept (and
/// its slot held) until shortly before its lease would let the row be claimed again.
struct Unrecorded {
    record: RecordedAttempt,
    _slot: InFlight,
    give_up_at: Instant,
}

pub struct JobRunner<K: JobKind> {
    pub db: Db,
    pub kind: K,
    pub stats: Arc<ActorStats>,
    pub gate: Arc<RunnerGate>,
    pub lease_owner: String,
    claiming: bool,
    recording: bool,
    unrecorded: Vec<Unrecorded>,
}

impl<K: JobKind> JobRunner<K> {
    pub fn new(
        db: Db,
        kind: K,
        stats: Arc<ActorStats>,
        gate: Arc<RunnerGate>,
        lease_owner: String,
    ) -> Self {
        JobRunner {
            db,
            kind,
            stats,
            gate,
            lease_owner,
            claiming: false,
            recording: false,
            unrecorded: Vec::new(),
        }
    }
}

impl<K: JobKind> Actor for JobRunner<K> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        self.claiming = false;
        self.recording = false;
        self.kind.started();
        // Attempts that finished before a restart are still waiting to be recorded.
        self.flush(ctx);
        self.stats.set_running();
        ctx.run_interval(self.kind.settings().poll_interval, |act, ctx| act.pump(ctx));
        ctx.run_interval(PURGE_INTERVAL, |act, ctx| act.purge(ctx));
        ctx.run_interval(REDRIVE_INTERVAL, |act, ctx| act.redrive(ctx));
        self.pump(ctx);
    }
}

impl<K: JobKind> Supervised for JobRunner<K> {
    fn restarting(&mut self, _ctx: &mut Self::Context) {}
}

/// New jobs are in the table (or dead letters were replayed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct JobsQueued;

impl<K: JobKind> Handler<JobsQueued> for JobRunner<K> {
    type Result = ();

    fn handle(&mut self, _msg: JobsQueued, ctx: &mut Self::Context) {
        self.stats.enqueued();
        self.pump(ctx);
    }
}

impl<K: JobKind> JobRunner<K> {
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if run_guarded(&self.stats, || ()).is_err() {
            ctx.stop();
            return;
        }
        let settings = self.kind.settings();
        let in_flight = self.gate.in_flight.load(Ordering::SeqCst);
        if self.claiming
            || in_flight >= settings.max_in_flight
            || self.gate.draining.load(Ordering::SeqCst)
        {
            return;
        }
        self.claiming = true;
        // Each claim has its own token: an attempt whose lease ran out (and whose row another
        // claim took) cannot record over the newer one.
        let owner = format!("{}/{}", self.lease_owner, uuid::Uuid::new_v4().simple());
        let lease = chrono::Duration::from_std(settings.attempt_timeout + LEASE_MARGIN)
            .unwrap_or_else(|_| chrono::Duration::seconds(60));
        // No more than one destination can take: the rest would only be claimed and given back.
        let limit =
            (settings.max_in_flight - in_flight).min(settings.max_in_flight_per_destination);
        let busy = self.gate.busy(settings.max_in_flight_per_destination);
        let db = self.db.clone();
        let work = async move {
            db.run(move |c| jobs::claim_due(c, K::NAME, &owner, limit as i64, lease, &busy))
                .await
        };
        ctx.spawn(work.into_actor(self).map(|claimed, act, ctx| {
            act.claiming = false;
            match claimed {
                Ok(rows) => act.start_within_limits(rows, ctx),
                Err(e) => act.stats.record_error(&e.to_string()),
            }
        }));
    }

    /// Starts what each destination has room for; gives the rest back for a later claim.
    fn start_within_limits(&mut self, rows: Vec<Job>, ctx: &mut Context<Self>) {
        let per_destination = self.kind.settings().max_in_flight_per_destination;
        let mut over_limit = Vec::new();
        for job in rows {
            let full = job
                .destination
                .as_deref()
                .is_some_and(|d| self.gate.in_flight_to(d) >= per_destination);
            if full {
                over_limit.push((job.lease_owner.clone().unwrap_or_default(), job.id));
            } else {
                self.start(job, ctx);
            }
        }
        if over_limit.is_empty() {
            return;
        }
        let db = self.db.clone();
        ctx.spawn(
            async move {
                if let Err(e) = db.run(move |c| jobs::release(c, &over_limit)).await {
                    log::warn!(
                        "{}.release_failed error={e}: the leases run out instead",
                        K::EVENTS
                    );
                }
            }
            .into_actor(self),
        );
    }

    fn start(&mut self, job: Job, ctx: &mut Context<Self>) {
        let slot = InFlight::new(&self.gate, job.destination.as_deref());
        let owner = job.lease_owner.clone().unwrap_or_default();
        let attempt = job.attempts + 1;
        let delays = self.kind.settings().retry_delays.clone();
        let running = self.kind.attempt(&job);
        // However many calls an attempt makes, it ends with time left in its lease to be
        // recorded, so another claim never runs the job beside it.
        let limit = self.kind.settings().attempt_timeout + ATTEMPT_SLACK;
        let work = async move {
            let started = Instant::now();
            let attempted = match actix_rt::time::timeout(limit, running).await {
                Ok(attempted) => attempted,
                Err(_) => {
                    Attempted::failure(true, format!("timed out after {} s", limit.as_secs()))
                }
            };
            let record = RecordedAttempt {
                job_id: job.id,
                lease_owner: owner,
                attempt,
                status_code: attempted.status_code,
                duration_ms: started.elapsed().as_millis() as i64,
                verdict: attempted.verdict(attempt as u32, &delays),
                error: attempted.error,
                follow_ups: attempted.follow_ups,
            };
            Unrecorded {
                record,
                _slot: slot,
                give_up_at: Instant::now() + RECORDING_RETRIES_FOR,
            }
        };
        ctx.spawn(work.into_actor(self).map(|finished, act, ctx| {
            act.unrecorded.push(finished);
            act.flush(ctx);
        }));
    }

    /// Attempts that finished while a commit was in flight are recorded together by the next.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.recording || self.unrecorded.is_empty() {
            return;
        }
        self.recording = true;
        let pending = std::mem::take(&mut self.unrecorded);
        let batch: Vec<RecordedAttempt> = pending.iter().map(|u| u.record.clone()).collect();
        let (db, policy) = (self.db.clone(), self.kind.settings().dead_letters.clone());
        let work = async move {
            let count = batch.len();
            db.run(move |c| Ok(jobs::record_attempts(c, &batch, &policy)))
                .await
                .unwrap_or_else(|e| vec![Err(e.to_string()); count])
        };
        ctx.spawn(work.into_actor(self).map(move |outcomes, act, ctx| {
            act.recording = false;
            let mut retry_later = false;
            for (unrecorded, outcome) in pending.into_iter().zip(outcomes) {
                // An attempt that is not recorded would be made again: keep trying for a while.
                if outcome.is_err() && Instant::now() < unrecorded.give_up_at {
                    act.unrecorded.push(unrecorded);
                    retry_later = true;
                    continue;
                }
                act.after_recording(&unrecorded.record, outcome, ctx);
            }
            if retry_later {
                ctx.run_later(Duration::from_secs(1), |act, ctx| act.flush(ctx));
            } else {
                act.flush(ctx);
            }
            act.pump(ctx);
        }));
    }

    fn after_recording(
        &mut self,
        record: &RecordedAttempt,
        outcome: Result<Recorded, String>,
        ctx: &mut Context<Self>,
    ) {
        match &outcome {
            Ok(_) => self.stats.record_processed(1),
            // Unrecorded: the lease runs out and the job runs again.
            Err(e) => self.stats.record_error(e),
        }
        self.kind.recorded(record, &outcome);
        if let Ok(Recorded::Done) = outcome {
            if !record.follow_ups.is_empty() {
                // Follow-ups of another kind are found by their runner's next poll.
                self.pump(ctx);
            }
        }
        // Be back on time for the retry rather than on the next poll.
        if let super::Verdict::Retry(delay) = record.verdict {
            ctx.run_later(delay, |act, ctx| act.pump(ctx));
        }
    }

    /// Dead letters due on the re-drive schedule go back for one more attempt.
    fn redrive(&mut self, ctx: &mut Context<Self>) {
        if self.gate.draining.load(Ordering::SeqCst) {
            return;
        }
        let db = self.db.clone();
        let fast_attempts = self.kind.settings().retry_delays.len() + 1;
        ctx.spawn(
            async move {
                db.run(move |c| dead_letters::redrive_due(c, K::NAME, fast_attempts, 256))
                    .await
            }
            .into_actor(self)
            .map(|redriven, act, ctx| match redriven {
                Ok(0) => {}
                Ok(n) => {
                    log::info!("{}.redriving dead_letters={n}", K::EVENTS);
                    act.pump(ctx);
                }
                Err(e) => log::warn!("{}.redrive_failed error={e}", K::EVENTS),
            }),
        );
    }

    fn purge(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        ctx.spawn(
            async move {
                let purge = |c: &mut _| dead_letters::purge_expired_dead_letters(c, K::NAME);
                match db.run(purge).await {
                    Ok(n) if n > 0 => log::info!("{}.dead_letters_purged count={n}", K::EVENTS),
                    Ok(_) => {}
                    Err(e) => log::warn!("{}.purge_failed error={e}", K::EVENTS),
                }
            }
            .into_actor(self),
        );
    }
}

/// After the server stopped accepting: no new attempts, and the ones on the wire get a bounded
/// time to finish; whatever is left stays pending for the next start.
pub async fn drain(gate: &RunnerGate, limit: Duration) {
    gate.draining.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + limit;
    while gate.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    log::info!(
        "jobs.drained in_flight={}",
        gate.in_flight.load(Ordering::SeqCst)
    );
}
