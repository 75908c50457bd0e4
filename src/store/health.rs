//! What the health pages and readiness ask of the database.

use super::models::InboxStatus;
use super::schema::*;
use super::{bounded_write_transaction, TxOutcome};
use super::{write_transaction, AnyConnection, DbError};
use diesel::prelude::*;

/// Whether the database takes writes at all (a read-only file, role or replica does not): a
/// write that changes nothing, rolled back.
pub fn probe_writable(conn: &mut AnyConnection) -> Result<(), DbError> {
    let probe = write_transaction(conn, |conn| {
        diesel::update(accounts::table.filter(accounts::is_default.eq(true)))
            .set(accounts::updated_at.eq(accounts::updated_at))
            .execute(conn)?;
        Err::<(), DbError>(DbError::Invalid("probe".into()))
    });
    match probe {
        Err(DbError::Invalid(_)) => Ok(()),
        Err(e) => Err(e),
        Ok(()) => Ok(()),
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Backlog {
    pub inbox_pending: i64,
    /// When the oldest row still waiting for the pipeline was received.
    pub inbox_oldest_pending_at: Option<chrono::NaiveDateTime>,
    pub inbox_failed: i64,
    pub outbox_pending: i64,
    pub outbox_dead: i64,
}

impl Backlog {
    /// Seconds (one decimal) the oldest waiting row has waited at `now`; `None` when none waits.
    pub fn oldest_pending_age_seconds(&self, now: chrono::NaiveDateTime) -> Option<f64> {
        self.inbox_oldest_pending_at.map(|at| {
            let ms = (now - at).num_milliseconds().max(0);
            (ms as f64 / 100.0).round() / 10.0
        })
    }
}

pub fn backlog(conn: &mut AnyConnection) -> Result<Backlog, DbError> {
    let count_inbox = |conn: &mut AnyConnection, statuses: &[InboxStatus]| -> QueryResult<i64> {
        inbox::table
            .filter(inbox::status.eq_any(statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>()))
            .count()
            .get_result(conn)
    };
    let (jobs_pending, jobs_dead) = super::jobs::backlog(conn)?;
    Ok(Backlog {
        inbox_pending: count_inbox(conn, &[InboxStatus::Pending, InboxStatus::Processing])?,
        inbox_oldest_pending_at: oldest_waiting(conn)?,
        inbox_failed: count_inbox(conn, &[InboxStatus::Failed])?,
        outbox_pending: jobs_pending,
        outbox_dead: jobs_dead,
    })
}

/// The arrival of the oldest row waiting (pending or claimed): one index seek per status.
fn oldest_waiting(conn: &mut AnyConnection) -> QueryResult<Option<chrono::NaiveDateTime>> {
    let mut oldest = None;
    for status in [InboxStatus::Pending, InboxStatus::Processing] {
        let first: Option<chrono::NaiveDateTime> = inbox::table
            .filter(inbox::status.eq(status.as_str()))
            .order(inbox::id.asc())
            .select(inbox::received_at)
            .first(conn)
            .optional()?;
        oldest = match (oldest, first) {
            (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
            (a, b) => a.or(b),
        };
    }
    Ok(oldest)
}

/// Whether an ack could be written now, within `wait`: the write lock taken (SQLite) and the
/// inbox read (PostgreSQL, where a table lock blocks it), then rolled back.
pub fn ready_for_acks(conn: &mut AnyConnection, wait: std::time::Duration) -> Result<(), DbError> {
    let probe = bounded_write_transaction(conn, wait, |conn| {
        inbox::table
            .select(inbox::id)
            .order(inbox::id.desc())
            .limit(1)
            .load::<i64>(conn)?;
        Err::<(), DbError>(DbError::Invalid("probe".into()))
    });
    match probe {
        TxOutcome::Failed(DbError::Invalid(_)) | TxOutcome::Committed(()) => Ok(()),
        TxOutcome::Failed(e) => Err(e),
        TxOutcome::CommitFailed(e) => Err(e.into()),
    }
}
