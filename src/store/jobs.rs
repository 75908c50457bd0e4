//! The `jobs` table and its attempt log and dead letters, for every kind: claim due rows, record
//! attempts, dead letters, re-drives, replays, and the views operators read.

use super::models::{Job, JobStatus, NewJob, NewJobAttempt};
use super::schema::*;
use super::{now, write_transaction, AnyConnection, DbError};
use crate::jobs::{DeadLetterPolicy, Recorded, RecordedAttempt, Verdict};

pub use super::dead_letters::DeadLetter;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

pub const PENDING: &str = JobStatus::Pending.as_str();
pub const DONE: &str = JobStatus::Done.as_str();
pub const DEAD: &str = JobStatus::Dead.as_str();

pub fn insert_job(conn: &mut AnyConnection, job: &NewJob) -> Result<i64, DbError> {
    Ok(diesel::insert_into(jobs::table)
        .values(job)
        .returning(jobs::id)
        .get_result(conn)?)
}

/// Jobs whose `public_id` is not in the table yet: a hand-over that is retried, or a lead announced
/// again, writes each once (also when two instances race: the unique index decides).
pub fn insert_jobs_once(conn: &mut AnyConnection, new_jobs: &[NewJob]) -> Result<(), DbError> {
    for job in new_jobs {
        let insert = diesel::insert_into(jobs::table).values(job);
        match conn {
            AnyConnection::Postgresql(c) => insert
                .on_conflict(jobs::public_id)
                .do_nothing()
                .execute(c)?,
            AnyConnection::Sqlite(c) => insert
                .on_conflict(jobs::public_id)
                .do_nothing()
                .execute(c)?,
        };
    }
    Ok(())
}

/// Every dead job of `kind` to `destination` back to pending with a fresh schedule, whether its
/// dead letter is still kept or not (a Facebook page's fetches after its token is replaced).
pub fn requeue_dead_jobs(
    conn: &mut AnyConnection,
    kind: &str,
    destination: &str,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        jobs::table
            .filter(jobs::kind.eq(kind))
            .filter(jobs::destination.eq(destination))
            .filter(jobs::status.eq(DEAD)),
    )
    .set((
        jobs::status.eq(PENDING),
        jobs::attempts.eq(0),
        jobs::next_attempt_at.eq(now()),
        jobs::lease_owner.eq(None::<String>),
        jobs::lease_until.eq(None::<chrono::NaiveDateTime>),
        jobs::updated_at.eq(now()),
    ))
    .execute(conn)?)
}

/// Claims up to `limit` pending jobs of `kind` that are due and not leased by anyone, leaving out
/// those for the destinations in `busy` (their concurrency is used up).
pub fn claim_due(
    conn: &mut AnyConnection,
    kind: &str,
    owner: &str,
    limit: i64,
    lease: Duration,
    busy: &[String],
) -> Result<Vec<Job>, DbError> {
    write_transaction(conn, |conn| {
        let t = now();
        let due = jobs::table
            .select(jobs::id)
            .filter(jobs::kind.eq(kind))
            .filter(jobs::status.eq(PENDING))
            .filter(jobs::next_attempt_at.le(t))
            .filter(jobs::lease_until.is_null().or(jobs::lease_until.lt(t)))
            .filter(
                jobs::destination
                    .is_null()
                    .or(jobs::destination.ne_all(busy.to_vec())),
            )
            .order(jobs::next_attempt_at.asc())
            .limit(limit);
        let ids = claim_due_ids!(conn, due)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(jobs::table.filter(jobs::id.eq_any(&ids)))
            .set((jobs::lease_owner.eq(owner), jobs::lease_until.eq(t + lease)))
            .execute(conn)?;
        Ok(jobs::table.filter(jobs::id.eq_any(&ids)).load(conn)?)
    })
}

/// Gives back claimed jobs that will not be attempted now (their destination is busy).
pub fn release(conn: &mut AnyConnection, owner_ids: &[(String, i64)]) -> Result<(), DbError> {
    for (owner, id) in owner_ids {
        diesel::update(jobs::table.find(id).filter(jobs::lease_owner.eq(owner)))
            .set((
                jobs::lease_owner.eq(None::<String>),
                jobs::lease_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// After a restart of the only instance (SQLite), its leases are void at once.
pub fn release_all_leases(conn: &mut AnyConnection) -> Result<usize, DbError> {
    Ok(diesel::update(
        jobs::table.filter(
            jobs::status
                .eq(PENDING)
                .and(jobs::lease_owner.is_not_null()),
        ),
    )
    .set((
        jobs::lease_owner.eq(None::<String>),
        jobs::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?)
}

/// Records attempts that finished together in one transaction (one fsync); if one record's data
/// fails it, each in its own, so one bad record cannot hold back the others.
pub fn record_attempts(
    conn: &mut AnyConnection,
    records: &[RecordedAttempt],
    policy: &DeadLetterPolicy,
) -> Vec<Result<Recorded, String>> {
    let batch = write_transaction(conn, |conn| {
        if records.len() > 1 && !super::is_sqlite(conn) {
            return super::job_records::record_all_in(conn, records, policy);
        }
        records
            .iter()
            .map(|rec| record_attempt_in(conn, rec, policy))
            .collect::<Result<Vec<_>, DbError>>()
    });
    match batch {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        // Unavailable: each would wait for the same lock. The runner tries again.
        Err(e) if e.is_unavailable() => records.iter().map(|_| Err(e.to_string())).collect(),
        Err(_) => records
            .iter()
            .map(|rec| {
                write_transaction(conn, |conn| record_attempt_in(conn, rec, policy))
                    .map_err(|e| e.to_string())
            })
            .collect(),
    }
}

/// Records one attempt inside the caller's transaction, with the follow-up jobs of a success.
fn record_attempt_in(
    conn: &mut AnyConnection,
    rec: &RecordedAttempt,
    policy: &DeadLetterPolicy,
) -> Result<Recorded, DbError> {
    let ours: Option<(String, Option<String>)> = jobs::table
        .find(rec.job_id)
        .select((jobs::status, jobs::lease_owner))
        .get_result(conn)
        .optional()?;
    let still_ours = ours.is_some_and(|(status, owner)| {
        status == PENDING && owner.as_deref() == Some(&rec.lease_owner)
    });
    if !still_ours {
        return Ok(Recorded::NotOurs);
    }
    let t = now();
    diesel::insert_into(job_attempts::table)
        .values(attempt_row(rec, t))
        .execute(conn)?;
    let (status, next_attempt_at, recorded) = verdict_row(rec, t);
    diesel::update(jobs::table.find(rec.job_id))
        .set((
            jobs::status.eq(status),
            jobs::attempts.eq(rec.attempt),
            jobs::last_status.eq(rec.status_code),
            jobs::last_error.eq(&rec.error),
            jobs::next_attempt_at.eq(next_attempt_at),
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_until.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(t),
        ))
        .execute(conn)?;
    after_verdict(conn, rec, recorded, policy, t)?;
    Ok(recorded)
}

/// The job's attempt-log row.
pub(super) fn attempt_row(rec: &RecordedAttempt, t: NaiveDateTime) -> NewJobAttempt {
    NewJobAttempt {
        job_id: rec.job_id,
        attempt: rec.attempt,
        status_code: rec.status_code,
        duration_ms: rec.duration_ms,
        error: rec.error.clone(),
        attempted_at: t,
    }
}

/// The job's status and next attempt after this one, and what that records.
pub(super) fn verdict_row(
    rec: &RecordedAttempt,
    t: NaiveDateTime,
) -> (&'static str, NaiveDateTime, Recorded) {
    match &rec.verdict {
        Verdict::Done => (DONE, t, Recorded::Done),
        Verdict::Retry(delay) => {
            let delay = Duration::from_std(*delay).unwrap_or_else(|_| Duration::seconds(1));
            (PENDING, t + delay, Recorded::Retrying)
        }
        Verdict::Dead => (DEAD, t, Recorded::DeadLettered),
    }
}

/// What a verdict sets off: a success's follow-up jobs, a death's dead letter.
pub(super) fn after_verdict(
    conn: &mut AnyConnection,
    rec: &RecordedAttempt,
    recorded: Recorded,
    policy: &DeadLetterPolicy,
    t: NaiveDateTime,
) -> Result<(), DbError> {
    match recorded {
        // A replayed dead letter that got through leaves the list; what follows is due now.
        Recorded::Done => {
            diesel::delete(dead_letters::table.filter(dead_letters::job_id.eq(rec.job_id)))
                .execute(conn)?;
            // Once each: a retried attempt (recorded before, then its lease ran out) writes them again.
            insert_jobs_once(conn, &rec.follow_ups)?;
        }
        Recorded::DeadLettered => dead_letter(conn, rec, policy, t)?,
        _ => {}
    }
    Ok(())
}

/// The job's dead letter: written the first time it dies; after a replay or a re-drive that
/// failed too, updated, keeping its id (for replay) and its expiry (counted from the first death).
fn dead_letter(
    conn: &mut AnyConnection,
    rec: &RecordedAttempt,
    policy: &DeadLetterPolicy,
    t: NaiveDateTime,
) -> Result<(), DbError> {
    let error = rec.error.clone().unwrap_or_else(|| "failed".into());
    let letter = dead_letters::table.filter(dead_letters::job_id.eq(rec.job_id));
    let existing: Option<i32> = letter
        .select(dead_letters::redrives)
        .get_result(conn)
        .optional()?;
    match existing {
        Some(redrives) => {
            diesel::update(letter)
                .set((
                    dead_letters::error.eq(&error),
                    dead_letters::attempts.eq(rec.attempt),
                    dead_letters::failed_at.eq(t),
                    dead_letters::next_redrive_at.eq(policy.next_redrive(redrives, t)),
                ))
                .execute(conn)?;
        }
        None => {
            let expires_at = t
                .checked_add_signed(policy.ttl)
                .unwrap_or(NaiveDateTime::MAX);
            diesel::insert_into(dead_letters::table)
                .values((
                    dead_letters::job_id.eq(rec.job_id),
                    dead_letters::error.eq(&error),
                    dead_letters::attempts.eq(rec.attempt),
                    dead_letters::failed_at.eq(t),
                    dead_letters::expires_at.eq(expires_at),
                    dead_letters::redrives.eq(0),
                    dead_letters::next_redrive_at.eq(policy.next_redrive(0, t)),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// One attempt as the log keeps it.
#[derive(Debug, Clone, Queryable)]
pub struct AttemptRow {
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub attempted_at: NaiveDateTime,
}

/// A job of `kind` and every attempt made.
pub fn job_with_attempts(
    conn: &mut AnyConnection,
    kind: &str,
    id: i64,
) -> Result<(Job, Vec<AttemptRow>), DbError> {
    let job: Job = jobs::table
        .find(id)
        .filter(jobs::kind.eq(kind))
        .get_result(conn)
        .optional()?
        .ok_or(DbError::NotFound)?;
    let attempts = job_attempts::table
        .filter(job_attempts::job_id.eq(id))
        .order(job_attempts::id.asc())
        .select((
            job_attempts::attempt,
            job_attempts::status_code,
            job_attempts::duration_ms,
            job_attempts::error,
            job_attempts::attempted_at,
        ))
        .load(conn)?;
    Ok((job, attempts))
}

/// Jobs of `kind`, newest first, of one status when given.
pub fn list_jobs(
    conn: &mut AnyConnection,
    kind: &str,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Job>, DbError> {
    let mut query = jobs::table
        .filter(jobs::kind.eq(kind.to_string()))
        .order(jobs::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(jobs::status.eq(status.to_string()));
    }
    Ok(query.load(conn)?)
}

/// A lead's jobs of `kind`, oldest first.
pub fn jobs_of_lead(
    conn: &mut AnyConnection,
    kind: &str,
    lead_id: i64,
) -> Result<Vec<Job>, DbError> {
    Ok(jobs::table
        .filter(jobs::kind.eq(kind))
        .filter(jobs::lead_id.eq(lead_id))
        .order(jobs::id.asc())
        .load(conn)?)
}

/// Sets `key` in a job's result (what the other side reported back, e.g. an execution link).
pub fn set_result(
    conn: &mut AnyConnection,
    kind: &str,
    public_id: &str,
    key: &str,
    value: &str,
) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        let job: Job = jobs::table
            .filter(jobs::kind.eq(kind))
            .filter(jobs::public_id.eq(public_id))
            .get_result(conn)
            .optional()?
            .ok_or(DbError::NotFound)?;
        let mut result = job.result();
        if let Some(map) = result.as_object_mut() {
            map.insert(
                key.to_string(),
                serde_json::Value::String(value.to_string()),
            );
        }
        diesel::update(jobs::table.find(job.id))
            .set((
                jobs::result_json.eq(result.to_string()),
                jobs::updated_at.eq(now()),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Pending and dead jobs, for the health page (every kind).
pub fn backlog(conn: &mut AnyConnection) -> Result<(i64, i64), DbError> {
    let count = |conn: &mut AnyConnection, status: &str| -> QueryResult<i64> {
        jobs::table
            .filter(jobs::status.eq(status))
            .count()
            .get_result(conn)
    };
    Ok((count(conn, PENDING)?, count(conn, DEAD)?))
}
