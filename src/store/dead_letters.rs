//! Dead letters: jobs that gave up, kept `DEAD_LETTER_TTL_DAYS` for replay (by their own id) and
//! re-driven on their kind's schedule.

use super::jobs::{DEAD, PENDING};
use super::models::Job;
use super::schema::*;
use super::{now, write_transaction, AnyConnection, DbError};
use crate::jobs::DeadLetterPolicy;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dead_letters)]
pub struct DeadLetter {
    pub id: i64,
    pub job_id: i64,
    pub error: String,
    pub attempts: i32,
    pub failed_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub redrives: i32,
    pub next_redrive_at: Option<NaiveDateTime>,
}

/// Unexpired dead letters of `kind`, newest first, with their jobs.
pub fn list_dead_letters(
    conn: &mut AnyConnection,
    kind: &str,
    limit: i64,
) -> Result<Vec<(DeadLetter, Job)>, DbError> {
    Ok(dead_letters::table
        .inner_join(jobs::table)
        .filter(jobs::kind.eq(kind))
        .filter(dead_letters::expires_at.gt(now()))
        .order(dead_letters::id.desc())
        .limit(limit)
        .select((DeadLetter::as_select(), Job::as_select()))
        .load(conn)?)
}

/// Sends a dead letter again: its job goes back to pending with the same `public_id` and a fresh
/// retry schedule. The letter stays until that succeeds.
pub fn replay_dead_letter(
    conn: &mut AnyConnection,
    kind: &str,
    id: i64,
) -> Result<(DeadLetter, Job), DbError> {
    write_transaction(conn, |conn| {
        let (letter, job): (DeadLetter, Job) = dead_letters::table
            .inner_join(jobs::table)
            .filter(dead_letters::id.eq(id))
            .filter(jobs::kind.eq(kind))
            .filter(dead_letters::expires_at.gt(now()))
            .select((DeadLetter::as_select(), Job::as_select()))
            .get_result(conn)
            .optional()?
            .ok_or(DbError::NotFound)?;
        requeue(conn, &letter, Requeue::FreshSchedule)?;
        Ok((letter, job))
    })
}

/// Every unexpired letter of `kind` (to one destination, when given) again.
pub fn replay_all_dead_letters(
    conn: &mut AnyConnection,
    kind: &str,
    destination: Option<&str>,
) -> Result<usize, DbError> {
    write_transaction(conn, |conn| {
        let letters: Vec<(DeadLetter, Option<String>)> = dead_letters::table
            .inner_join(jobs::table)
            .filter(jobs::kind.eq(kind))
            .filter(dead_letters::expires_at.gt(now()))
            .select((DeadLetter::as_select(), jobs::destination))
            .load(conn)?;
        let mut replayed = 0;
        for (letter, to) in &letters {
            if destination.is_none_or(|d| to.as_deref() == Some(d)) {
                replayed += requeue(conn, letter, Requeue::FreshSchedule)?;
            }
        }
        Ok(replayed)
    })
}

/// Dead letters of `kind` whose re-drive time has come go back for one attempt each (their
/// attempt count stays past the fast schedule, so a failure makes them dead again at once, with
/// the next re-drive time). Returns how many.
pub fn redrive_due(
    conn: &mut AnyConnection,
    kind: &str,
    fast_attempts: usize,
    limit: i64,
) -> Result<usize, DbError> {
    write_transaction(conn, |conn| {
        let t = now();
        let letters: Vec<DeadLetter> = dead_letters::table
            .inner_join(jobs::table)
            .filter(jobs::kind.eq(kind))
            .filter(dead_letters::next_redrive_at.le(t))
            .filter(dead_letters::expires_at.gt(t))
            .order(dead_letters::next_redrive_at.asc())
            .limit(limit)
            .select(DeadLetter::as_select())
            .load(conn)?;
        let mut redriven = 0;
        for letter in &letters {
            // 0 when its job is no longer dead (a replay is under way): nothing to count; it
            // gets its next time when it dies again.
            let requeued = requeue(conn, letter, Requeue::OneAttempt { fast_attempts })?;
            diesel::update(dead_letters::table.find(letter.id))
                .set((
                    dead_letters::redrives.eq(letter.redrives + requeued as i32),
                    dead_letters::next_redrive_at.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            redriven += requeued;
        }
        Ok(redriven)
    })
}

/// Dead letters of `kind` with no re-drive time (written before re-driving existed, or while it
/// was off) get their first one, on the kind's policy. Run at start.
pub fn schedule_unscheduled_dead_letters(
    conn: &mut AnyConnection,
    kind: &str,
    policy: &DeadLetterPolicy,
) -> Result<usize, DbError> {
    let t = now();
    let Some(first) = policy.next_redrive(0, t) else {
        return Ok(0);
    };
    let dead = jobs::table
        .select(jobs::id)
        .filter(jobs::kind.eq(kind))
        .filter(jobs::status.eq(DEAD));
    Ok(diesel::update(
        dead_letters::table
            .filter(dead_letters::next_redrive_at.is_null())
            .filter(dead_letters::expires_at.gt(t))
            .filter(dead_letters::job_id.eq_any(dead)),
    )
    .set(dead_letters::next_redrive_at.eq(first))
    .execute(conn)?)
}

enum Requeue {
    /// A person asked: the retry schedule starts over.
    FreshSchedule,
    /// The re-drive schedule: one attempt, then dead again if it fails.
    OneAttempt { fast_attempts: usize },
}

/// A dead job back to pending (same `public_id`), due now; 1 if it was dead.
fn requeue(conn: &mut AnyConnection, letter: &DeadLetter, how: Requeue) -> Result<usize, DbError> {
    let target = jobs::table
        .find(letter.job_id)
        .filter(jobs::status.eq(DEAD));
    let common = (
        jobs::status.eq(PENDING),
        jobs::next_attempt_at.eq(now()),
        jobs::lease_owner.eq(None::<String>),
        jobs::lease_until.eq(None::<NaiveDateTime>),
        jobs::updated_at.eq(now()),
    );
    let updated = match how {
        Requeue::FreshSchedule => diesel::update(target)
            .set((common, jobs::attempts.eq(0)))
            .execute(conn)?,
        Requeue::OneAttempt { fast_attempts } => diesel::update(target)
            .set((
                common,
                jobs::attempts.eq(diesel::dsl::sql::<diesel::sql_types::Integer>(&format!(
                    "CASE WHEN attempts < {fast_attempts} THEN {fast_attempts} ELSE attempts END"
                ))),
            ))
            .execute(conn)?,
    };
    if updated > 0 {
        diesel::update(dead_letters::table.find(letter.id))
            .set(dead_letters::next_redrive_at.eq(None::<NaiveDateTime>))
            .execute(conn)?;
    }
    Ok(updated)
}

/// Deletes the expired dead letters of `kind` (the job rows stay, `dead`).
pub fn purge_expired_dead_letters(conn: &mut AnyConnection, kind: &str) -> Result<usize, DbError> {
    let of_kind = jobs::table.select(jobs::id).filter(jobs::kind.eq(kind));
    Ok(diesel::delete(
        dead_letters::table
            .filter(dead_letters::expires_at.le(now()))
            .filter(dead_letters::job_id.eq_any(of_kind)),
    )
    .execute(conn)?)
}

pub fn count_dead_letters(conn: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(dead_letters::table
        .filter(dead_letters::expires_at.gt(now()))
        .count()
        .get_result(conn)?)
}
