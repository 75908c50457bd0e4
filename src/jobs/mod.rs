//! Side effects of a stored lead, as rows of the `jobs` table: one runner for every kind
//! (`runner.rs`: claim, lease, attempts, retry schedule, dead letters, re-drive, purge, metrics)
//! and one file per kind, each implementing [`JobKind`] (`crm_webhook.rs` now; contact, deal,
//! assignment, push, email and SMS next).
//!
//! Failure policy: a job is claimed with a lease and recorded in one transaction per attempt
//! (attempt row, next attempt or final state, dead letter, follow-up jobs). A crash mid-attempt
//! loses nothing: the lease runs out (at once when a SQLite instance restarts) and the job runs
//! again — at least once, so each kind makes its effect idempotent (the webhook by its
//! `webhook-id`). An attempt is counted when it is recorded, never when it is claimed.

pub mod assignment;
pub mod crm_contact;
pub mod crm_webhook;
pub mod facebook_lead;
pub mod http_attempt;
pub mod notify;
pub mod runner;
pub mod signing;
#[cfg(test)]
mod tests_kind;

use crate::store::models::{Job, NewJob};
use futures_util::future::LocalBoxFuture;
use std::time::Duration;

/// What the runner does with a job after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done,
    /// Try again after this long.
    Retry(Duration),
    /// Give up: dead letter.
    Dead,
}

/// How one attempt ended, as its kind sees it.
#[derive(Debug, Clone)]
pub struct Attempted {
    pub succeeded: bool,
    /// For a failure: whether trying again could help.
    pub retryable: bool,
    /// The other side's status (an HTTP status), when there was one.
    pub status_code: Option<i32>,
    /// For a failure: what operators read in the attempt log and the dead letter.
    pub error: Option<String>,
    /// For a success: jobs to run next, written in the same transaction.
    pub follow_ups: Vec<NewJob>,
}

impl Attempted {
    /// An attempt that did what it had to, with no status and no follow-ups.
    pub fn success() -> Attempted {
        Attempted {
            succeeded: true,
            retryable: false,
            status_code: None,
            error: None,
            follow_ups: Vec::new(),
        }
    }

    /// An attempt that failed with `error`, without a status.
    pub fn failure(retryable: bool, error: String) -> Attempted {
        Attempted {
            succeeded: false,
            retryable,
            status_code: None,
            error: Some(error),
            follow_ups: Vec::new(),
        }
    }

    pub fn verdict(&self, attempt: u32, retry_delays: &[Duration]) -> Verdict {
        verdict(self.succeeded, self.retryable, attempt, retry_delays)
    }
}

/// `attempt` counts this one (1 for the first). Past the last delay, a failure is final.
pub fn verdict(
    succeeded: bool,
    retryable: bool,
    attempt: u32,
    retry_delays: &[Duration],
) -> Verdict {
    if succeeded {
        return Verdict::Done;
    }
    if !retryable {
        return Verdict::Dead;
    }
    match attempt
        .checked_sub(1)
        .and_then(|i| retry_delays.get(i as usize))
    {
        Some(delay) => Verdict::Retry(*delay),
        None => Verdict::Dead,
    }
}

/// What happens to a job that gives up: how long its dead letter is kept, and when it is tried
/// again on its own (after the time it died; empty: never).
#[derive(Debug, Clone)]
pub struct DeadLetterPolicy {
    pub ttl: chrono::Duration,
    pub redrive_schedule: Vec<chrono::Duration>,
}

impl DeadLetterPolicy {
    /// When a letter that has been re-driven `redrives` times, dead at `t`, is tried next: the
    /// schedule's step, and its last step again after that, until the letter expires.
    pub fn next_redrive(
        &self,
        redrives: i32,
        t: chrono::NaiveDateTime,
    ) -> Option<chrono::NaiveDateTime> {
        let step = usize::try_from(redrives).ok()?;
        let delay = self
            .redrive_schedule
            .get(step)
            .or(self.redrive_schedule.last())?;
        t.checked_add_signed(*delay)
    }
}

/// The settings every kind has.
#[derive(Debug, Clone)]
pub struct KindSettings {
    /// Delays before the retries; the first attempt is at once.
    pub retry_delays: Vec<Duration>,
    /// The longest one attempt may take; its lease is this and a margin to record it.
    pub attempt_timeout: Duration,
    pub dead_letters: DeadLetterPolicy,
    /// Attempts on the wire at once, in all and to one destination.
    pub max_in_flight: usize,
    pub max_in_flight_per_destination: usize,
    /// How often the runner looks for due jobs besides being woken (each look is a write).
    pub poll_interval: Duration,
}

/// One kind of job: what it does with one row. The runner does the rest.
pub trait JobKind: Unpin + 'static {
    /// The `kind` column.
    const NAME: &'static str;
    /// The supervised actor's name in `/admin/health`.
    const ACTOR: &'static str;
    /// The first word of the kind's log lines (`webhook.redriving ...`).
    const EVENTS: &'static str;

    fn settings(&self) -> &KindSettings;

    /// Called on the runner's thread when it starts (and restarts): build clients here.
    fn started(&mut self) {}

    /// One attempt at the job. Ends within `attempt_timeout`.
    fn attempt(&self, job: &Job) -> LocalBoxFuture<'static, Attempted>;

    /// After an attempt was recorded: the kind's metrics and log lines.
    fn recorded(&self, _job: &RecordedAttempt, _outcome: &Result<Recorded, String>) {}
}

/// An attempt as the runner records it.
#[derive(Debug, Clone)]
pub struct RecordedAttempt {
    pub job_id: i64,
    pub lease_owner: String,
    /// 1 for the first attempt.
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub verdict: Verdict,
    pub follow_ups: Vec<NewJob>,
}

/// What recording an attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Done,
    Retrying,
    DeadLettered,
    /// The lease was lost (another runner has the row): nothing written.
    NotOurs,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_two_four() -> Vec<Duration> {
        [1, 2, 4].map(Duration::from_secs).to_vec()
    }

    #[test]
    fn schedule_is_one_two_four_then_dead() {
        let d = one_two_four();
        assert_eq!(
            verdict(false, true, 1, &d),
            Verdict::Retry(Duration::from_secs(1))
        );
        assert_eq!(
            verdict(false, true, 2, &d),
            Verdict::Retry(Duration::from_secs(2))
        );
        assert_eq!(
            verdict(false, true, 3, &d),
            Verdict::Retry(Duration::from_secs(4))
        );
        assert_eq!(verdict(false, true, 4, &d), Verdict::Dead);
        assert_eq!(
            verdict(false, true, 0, &d),
            Verdict::Dead,
            "no attempt number underflows"
        );
        assert_eq!(verdict(false, false, 1, &d), Verdict::Dead);
        assert_eq!(verdict(true, false, 9, &d), Verdict::Done);
    }

    #[test]
    fn redrives_repeat_the_last_step() {
        let policy = DeadLetterPolicy {
            ttl: chrono::Duration::days(7),
            redrive_schedule: vec![chrono::Duration::minutes(5), chrono::Duration::hours(1)],
        };
        let t = chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc();
        assert_eq!(
            policy.next_redrive(0, t),
            Some(t + chrono::Duration::minutes(5))
        );
        assert_eq!(
            policy.next_redrive(5, t),
            Some(t + chrono::Duration::hours(1))
        );
        let off = DeadLetterPolicy {
            redrive_schedule: Vec::new(),
            ..policy
        };
        assert_eq!(off.next_redrive(0, t), None);
    }
}
