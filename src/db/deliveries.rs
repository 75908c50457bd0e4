//! The outbox as the WebhookDeliverer sees it: claim due rows, record attempts, dead letters,
//! replays, and the CRM/automation callbacks.

use super::models::{rfc3339, Delivery};
use super::schema::*;
use super::{now, write_transaction, AnyConnection, DbError};
use crate::delivery::retry::Verdict;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{json, Value};

/// Claims up to `limit` pending deliveries that are due and not leased by anyone, leaving out
/// those for the destinations in `busy_urls` (their concurrency is used up).
pub fn claim_deliveries(
    conn: &mut AnyConnection,
    owner: &str,
    limit: i64,
    lease: Duration,
    busy_urls: &[String],
) -> Result<Vec<Delivery>, DbError> {
    write_transaction(conn, |conn| {
        let t = now();
        let due = outbox::table
            .select(outbox::id)
            .filter(outbox::status.eq("pending"))
            .filter(outbox::next_attempt_at.le(t))
            .filter(outbox::lease_until.is_null().or(outbox::lease_until.lt(t)))
            .filter(outbox::url.ne_all(busy_urls.to_vec()))
            .order(outbox::next_attempt_at.asc())
            .limit(limit);
        let ids: Vec<i64> = match conn {
            // Several instances may claim at once: skip rows another one holds.
            AnyConnection::Postgresql(c) => due.for_update().skip_locked().load(c)?,
            AnyConnection::Sqlite(c) => due.load(c)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set((
                outbox::lease_owner.eq(owner),
                outbox::lease_until.eq(t + lease),
            ))
            .execute(conn)?;
        Ok(outbox::table.filter(outbox::id.eq_any(&ids)).load(conn)?)
    })
}

/// Gives back claimed deliveries that will not be attempted now (their destination is busy).
pub fn release_deliveries(
    conn: &mut AnyConnection,
    owner_ids: &[(String, i64)],
) -> Result<(), DbError> {
    for (owner, id) in owner_ids {
        diesel::update(outbox::table.find(id).filter(outbox::lease_owner.eq(owner)))
            .set((
                outbox::lease_owner.eq(None::<String>),
                outbox::lease_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// After a restart of the only instance (SQLite), its delivery leases are void at once.
pub fn release_all_delivery_leases(conn: &mut AnyConnection) -> Result<usize, DbError> {
    Ok(diesel::update(
        outbox::table.filter(
            outbox::status
                .eq("pending")
                .and(outbox::lease_owner.is_not_null()),
        ),
    )
    .set((
        outbox::lease_owner.eq(None::<String>),
        outbox::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?)
}

#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: i64,
    pub lease_owner: String,
    /// 1 for the first attempt.
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub verdict: Verdict,
}

/// What happens to a delivery that gives up: how long its dead letter is kept, and when it is
/// tried again on its own (`WEBHOOK_REDRIVE_SCHEDULE`, after the time it died; empty: never).
#[derive(Debug, Clone)]
pub struct DeadLetterPolicy {
    pub ttl: Duration,
    pub redrive_schedule: Vec<Duration>,
}

impl DeadLetterPolicy {
    /// When a letter that has been re-driven `redrives` times, dead at `t`, is tried next: the
    /// schedule's step, and its last step again after that, until the letter expires.
    pub fn next_redrive(&self, redrives: i32, t: NaiveDateTime) -> Option<NaiveDateTime> {
        let step = usize::try_from(redrives).ok()?;
        let delay = self
            .redrive_schedule
            .get(step)
            .or(self.redrive_schedule.last())?;
        t.checked_add_signed(*delay)
    }
}

/// What recording an attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Delivered,
    Retrying,
    DeadLettered,
    /// The lease was lost (another sender has the row): nothing written.
    NotOurs,
}

/// Records attempts that finished together in one transaction (one fsync); if that fails, each
/// in its own, so one bad record cannot hold back the others.
pub fn record_attempts(
    conn: &mut AnyConnection,
    records: &[AttemptRecord],
    policy: &DeadLetterPolicy,
) -> Vec<Result<Recorded, String>> {
    let batch = write_transaction(conn, |conn| {
        records
            .iter()
            .map(|rec| record_attempt_in(conn, rec, policy))
            .collect::<Result<Vec<_>, DbError>>()
    });
    match batch {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        // Unavailable: each would wait for the same lock. Unrecorded, the leases run out and the
        // rows are sent again with the same webhook-id.
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

/// Records one attempt inside the caller's transaction.
fn record_attempt_in(
    conn: &mut AnyConnection,
    rec: &AttemptRecord,
    policy: &DeadLetterPolicy,
) -> Result<Recorded, DbError> {
    let delivery: Option<Delivery> = outbox::table
        .find(rec.delivery_id)
        .get_result(conn)
        .optional()?;
    let Some(delivery) = delivery
        .filter(|d| d.status == "pending" && d.lease_owner.as_deref() == Some(&rec.lease_owner))
    else {
        return Ok(Recorded::NotOurs);
    };
    let t = now();
    diesel::insert_into(delivery_attempts::table)
        .values((
            delivery_attempts::delivery_id.eq(rec.delivery_id),
            delivery_attempts::attempt.eq(rec.attempt),
            delivery_attempts::status_code.eq(rec.status_code),
            delivery_attempts::duration_ms.eq(rec.duration_ms),
            delivery_attempts::error.eq(&rec.error),
            delivery_attempts::attempted_at.eq(t),
        ))
        .execute(conn)?;
    let (status, next_attempt_at, recorded) = match &rec.verdict {
        Verdict::Delivered => ("delivered", t, Recorded::Delivered),
        Verdict::Retry(delay) => {
            let delay = Duration::from_std(*delay).unwrap_or_else(|_| Duration::seconds(1));
            ("pending", t + delay, Recorded::Retrying)
        }
        Verdict::Dead => ("dead", t, Recorded::DeadLettered),
    };
    diesel::update(outbox::table.find(rec.delivery_id))
        .set((
            outbox::status.eq(status),
            outbox::attempts.eq(rec.attempt),
            outbox::last_status.eq(rec.status_code),
            outbox::last_error.eq(&rec.error),
            outbox::next_attempt_at.eq(next_attempt_at),
            outbox::lease_owner.eq(None::<String>),
            outbox::lease_until.eq(None::<NaiveDateTime>),
            outbox::updated_at.eq(t),
        ))
        .execute(conn)?;
    match recorded {
        // A replayed dead letter that got through leaves the list.
        Recorded::Delivered => {
            diesel::delete(
                dead_letters::table.filter(dead_letters::delivery_id.eq(rec.delivery_id)),
            )
            .execute(conn)?;
        }
        Recorded::DeadLettered => dead_letter(conn, &delivery, rec, policy, t)?,
        _ => {}
    }
    Ok(recorded)
}

/// The delivery's dead letter: written the first time it dies; after a replay or a re-drive that
/// failed too, updated, keeping its id (for replay) and its expiry (counted from the first death).
fn dead_letter(
    conn: &mut AnyConnection,
    delivery: &Delivery,
    rec: &AttemptRecord,
    policy: &DeadLetterPolicy,
    t: NaiveDateTime,
) -> Result<(), DbError> {
    let error = rec.error.clone().unwrap_or_else(|| "failed".into());
    let existing: Option<i32> = dead_letters::table
        .filter(dead_letters::delivery_id.eq(rec.delivery_id))
        .select(dead_letters::redrives)
        .get_result(conn)
        .optional()?;
    match existing {
        Some(redrives) => {
            diesel::update(
                dead_letters::table.filter(dead_letters::delivery_id.eq(rec.delivery_id)),
            )
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
                    dead_letters::delivery_id.eq(rec.delivery_id),
                    dead_letters::make_send_public_id.eq(&delivery.make_send_public_id),
                    dead_letters::url.eq(&delivery.url),
                    dead_letters::payload_json.eq(&delivery.payload_json),
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

#[derive(Debug, Clone, Queryable)]
pub struct DeadLetter {
    pub id: i64,
    pub delivery_id: i64,
    pub make_send_public_id: String,
    pub url: String,
    pub payload_json: String,
    pub error: String,
    pub attempts: i32,
    pub failed_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub redrives: i32,
    pub next_redrive_at: Option<NaiveDateTime>,
}

impl DeadLetter {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "delivery_id": self.delivery_id, "make_send_public_id": self.make_send_public_id,
            "url": self.url, "payload": serde_json::from_str::<Value>(&self.payload_json).unwrap_or(Value::Null),
            "error": self.error, "attempts": self.attempts, "failed_at": rfc3339(&self.failed_at),
            "expires_at": rfc3339(&self.expires_at), "redrives": self.redrives,
            "next_redrive_at": self.next_redrive_at.as_ref().map(rfc3339),
        })
    }
}

pub fn list_dead_letters(conn: &mut AnyConnection, limit: i64) -> Result<Vec<DeadLetter>, DbError> {
    Ok(dead_letters::table
        .filter(dead_letters::expires_at.gt(now()))
        .order(dead_letters::id.desc())
        .limit(limit)
        .load(conn)?)
}

/// Sends a dead letter again: its delivery goes back to pending with the same
/// `make_send_public_id` and a fresh retry schedule. The letter stays until that succeeds.
pub fn replay_dead_letter(conn: &mut AnyConnection, id: i64) -> Result<DeadLetter, DbError> {
    write_transaction(conn, |conn| {
        let letter: DeadLetter = dead_letters::table
            .find(id)
            .filter(dead_letters::expires_at.gt(now()))
            .get_result(conn)
            .optional()?
            .ok_or(DbError::NotFound)?;
        requeue(conn, &letter, Requeue::FreshSchedule)?;
        Ok(letter)
    })
}

/// `POST /admin/dead-letters/replay[?url=]`: every unexpired letter (of that URL) again.
pub fn replay_all_dead_letters(
    conn: &mut AnyConnection,
    url: Option<&str>,
) -> Result<usize, DbError> {
    write_transaction(conn, |conn| {
        let mut query = dead_letters::table
            .filter(dead_letters::expires_at.gt(now()))
            .into_boxed();
        if let Some(url) = url {
            query = query.filter(dead_letters::url.eq(url.to_string()));
        }
        let letters: Vec<DeadLetter> = query.load(conn)?;
        let mut replayed = 0;
        for letter in &letters {
            replayed += requeue(conn, letter, Requeue::FreshSchedule)?;
        }
        Ok(replayed)
    })
}

/// Dead letters whose re-drive time has come go back to the outbox for one attempt each (their
/// attempt count stays past the fast schedule, so a failure makes them dead again at once, with
/// the next re-drive time). Returns how many.
pub fn redrive_due(conn: &mut AnyConnection, limit: i64) -> Result<usize, DbError> {
    write_transaction(conn, |conn| {
        let t = now();
        let letters: Vec<DeadLetter> = dead_letters::table
            .filter(dead_letters::next_redrive_at.le(t))
            .filter(dead_letters::expires_at.gt(t))
            .order(dead_letters::next_redrive_at.asc())
            .limit(limit)
            .load(conn)?;
        let mut redriven = 0;
        for letter in &letters {
            // 0 when its delivery is no longer dead (a replay is under way): nothing to count;
            // it gets its next time when it dies again.
            let requeued = requeue(conn, letter, Requeue::OneAttempt)?;
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

/// Dead letters with no re-drive time (written before re-driving existed, or while it was off)
/// get their first one. Run at start.
pub fn schedule_unscheduled_dead_letters(
    conn: &mut AnyConnection,
    policy: &DeadLetterPolicy,
) -> Result<usize, DbError> {
    let t = now();
    let Some(first) = policy.next_redrive(0, t) else {
        return Ok(0);
    };
    let dead = outbox::table
        .select(outbox::id)
        .filter(outbox::status.eq("dead"));
    Ok(diesel::update(
        dead_letters::table
            .filter(dead_letters::next_redrive_at.is_null())
            .filter(dead_letters::expires_at.gt(t))
            .filter(dead_letters::delivery_id.eq_any(dead)),
    )
    .set(dead_letters::next_redrive_at.eq(first))
    .execute(conn)?)
}

enum Requeue {
    /// A person asked: the 1-2-4 s schedule starts over.
    FreshSchedule,
    /// The re-drive schedule: one attempt, then dead again if it fails.
    OneAttempt,
}

/// A dead delivery back to pending (same `webhook-id`), due now; 1 if it was dead.
fn requeue(conn: &mut AnyConnection, letter: &DeadLetter, how: Requeue) -> Result<usize, DbError> {
    let target = outbox::table
        .find(letter.delivery_id)
        .filter(outbox::status.eq("dead"));
    let common = (
        outbox::status.eq("pending"),
        outbox::next_attempt_at.eq(now()),
        outbox::lease_owner.eq(None::<String>),
        outbox::lease_until.eq(None::<NaiveDateTime>),
        outbox::updated_at.eq(now()),
    );
    let updated = match how {
        Requeue::FreshSchedule => diesel::update(target)
            .set((common, outbox::attempts.eq(0)))
            .execute(conn)?,
        Requeue::OneAttempt => diesel::update(target)
            .set((
                common,
                outbox::attempts.eq(diesel::dsl::sql::<diesel::sql_types::Integer>(&format!(
                    "CASE WHEN attempts < {FAST_ATTEMPTS} THEN {FAST_ATTEMPTS} ELSE attempts END"
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

/// Attempts of the fast schedule: the first and one per retry delay.
const FAST_ATTEMPTS: usize = crate::delivery::retry::RETRY_DELAYS.len() + 1;

/// `GET /admin/deliveries/{id}`: the delivery and every attempt made.
pub fn delivery_with_attempts(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<(Delivery, Vec<Value>), DbError> {
    let delivery: Delivery = outbox::table
        .find(id)
        .get_result(conn)
        .optional()?
        .ok_or(DbError::NotFound)?;
    type AttemptRow = (i32, Option<i32>, i64, Option<String>, NaiveDateTime);
    let attempts: Vec<AttemptRow> = delivery_attempts::table
        .filter(delivery_attempts::delivery_id.eq(id))
        .order(delivery_attempts::id.asc())
        .select((
            delivery_attempts::attempt,
            delivery_attempts::status_code,
            delivery_attempts::duration_ms,
            delivery_attempts::error,
            delivery_attempts::attempted_at,
        ))
        .load(conn)?;
    let attempts = attempts
        .into_iter()
        .map(|(attempt, status_code, duration_ms, error, at)| {
            json!({"attempt": attempt, "status_code": status_code, "duration_ms": duration_ms,
                   "error": error, "attempted_at": rfc3339(&at)})
        })
        .collect();
    Ok((delivery, attempts))
}

pub fn purge_expired_dead_letters(conn: &mut AnyConnection) -> Result<usize, DbError> {
    Ok(
        diesel::delete(dead_letters::table.filter(dead_letters::expires_at.le(now())))
            .execute(conn)?,
    )
}

pub fn count_dead_letters(conn: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(dead_letters::table
        .filter(dead_letters::expires_at.gt(now()))
        .count()
        .get_result(conn)?)
}

/// `POST /v1/crm/callback`: the CRM's id (and link) for a lead.
pub fn set_crm_ids(
    conn: &mut AnyConnection,
    lead: &LeadRef,
    crm_lead_id: &str,
    crm_url: Option<&str>,
) -> Result<(), DbError> {
    let target = leads::table.into_boxed();
    let target = match lead {
        LeadRef::PublicId(public_id) => target.filter(leads::public_id.eq(public_id.clone())),
        LeadRef::Id(id) => target.filter(leads::id.eq(*id)),
    };
    let lead_id: i64 = target
        .select(leads::id)
        .get_result(conn)
        .optional()?
        .ok_or(DbError::NotFound)?;
    diesel::update(leads::table.find(lead_id))
        .set((
            leads::crm_lead_id.eq(crm_lead_id),
            leads::crm_url.eq(crm_url),
            leads::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone)]
pub enum LeadRef {
    PublicId(String),
    Id(i64),
}

/// `POST /v1/make/callback`: the automation's execution link for one send.
pub fn set_execution_url(
    conn: &mut AnyConnection,
    make_send_public_id: &str,
    execution_url: &str,
) -> Result<(), DbError> {
    let updated =
        diesel::update(outbox::table.filter(outbox::make_send_public_id.eq(make_send_public_id)))
            .set((
                outbox::execution_url.eq(execution_url),
                outbox::updated_at.eq(now()),
            ))
            .execute(conn)?;
    if updated == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}
