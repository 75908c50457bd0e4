//! The inbox: the durable ack (group-committed writes with a deadline, spooled submissions written
//! back once) and the rows the pipeline claims, fails, retries and purges.

use super::models::*;
use super::schema::*;
use super::{bounded_write_transaction, TxOutcome};
use super::{now, write_transaction, AnyConnection, DbError};
use chrono::Duration;
use diesel::prelude::*;
use InboxStatus::{Done, Failed, Pending, Processing};

/// One durable write the HTTP layer waits for before it answers.
#[derive(Debug, Clone)]
pub enum AckWrite {
    Inbox(NewInboxRow),
    BlockedLead(NewBlockedIpLead),
    /// Accepted, answered as usual, and not a lead (an inactive account): kept for operators.
    Ignored(NewIgnoredWebhook),
}

fn append_ack_write(conn: &mut AnyConnection, write: &AckWrite) -> QueryResult<usize> {
    match write {
        AckWrite::Inbox(row) => diesel::insert_into(inbox::table).values(row).execute(conn),
        AckWrite::BlockedLead(row) => diesel::insert_into(blocked_ip_leads::table)
            .values(row)
            .execute(conn),
        AckWrite::Ignored(row) => diesel::insert_into(ignored_webhooks::table)
            .values(row)
            .execute(conn),
    }
}

/// A group's writes; on PostgreSQL its inbox rows as one multi-row INSERT (a round trip per row
/// was most of an ack's cost there; SQLite is in-process).
fn append_ack_group(conn: &mut AnyConnection, writes: &[AckWrite]) -> QueryResult<()> {
    let AnyConnection::Postgresql(pg) = conn else {
        return writes
            .iter()
            .try_for_each(|w| append_ack_write(conn, w).map(drop));
    };
    let rows: Vec<&NewInboxRow> = writes
        .iter()
        .filter_map(|w| match w {
            AckWrite::Inbox(row) => Some(row),
            AckWrite::BlockedLead(_) | AckWrite::Ignored(_) => None,
        })
        .collect();
    match rows.as_slice() {
        [] => {}
        // Alone: a statement prepared once (a multi-row one is planned per call).
        [row] => drop(diesel::insert_into(inbox::table).values(*row).execute(pg)?),
        // Nine columns a row: 1,000 rows are far under PostgreSQL's 65,535 parameters.
        rows => {
            for chunk in rows.chunks(1000) {
                diesel::insert_into(inbox::table)
                    .values(chunk.to_vec())
                    .execute(pg)?;
            }
        }
    };
    writes
        .iter()
        .filter(|w| !matches!(w, AckWrite::Inbox(_)))
        .try_for_each(|w| append_ack_write(conn, w).map(drop))
}

/// Why an ack write is not known to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckFailure {
    /// Not stored: the caller may spool and forward it.
    NotStored(String),
    /// A COMMIT whose answer was lost: it may be stored. The caller spools it without
    /// forwarding it now; the drain finds it in the inbox, or writes it, and it is forwarded once.
    Unknown(String),
}

/// Commits writes that arrived together in one transaction (one fsync for all of them), waiting
/// for locks no later than `deadline`. If the batch fails because of one write's data, each write
/// is tried alone while time is left, so a bad write cannot fail its neighbours; if it fails
/// because the database is unavailable, every write fails at once (each would only wait for the
/// same lock again).
pub fn append_ack_writes(
    conn: &mut AnyConnection,
    writes: &[AckWrite],
    deadline: std::time::Instant,
) -> Vec<Result<(), AckFailure>> {
    let all = |r: Result<(), AckFailure>| writes.iter().map(|_| r.clone()).collect();
    let batch = bounded_write_transaction(conn, lock_wait_until(deadline), |conn| {
        append_ack_group(conn, writes)?;
        Ok::<_, DbError>(())
    });
    match batch {
        TxOutcome::Committed(()) => all(Ok(())),
        TxOutcome::CommitFailed(e) => match already_stored(conn, writes) {
            Some(true) => all(Ok(())),
            Some(false) => all(Err(AckFailure::NotStored(e.to_string()))),
            None => all(Err(AckFailure::Unknown(e.to_string()))),
        },
        TxOutcome::Failed(e) if !e.is_row_error() => all(Err(AckFailure::NotStored(e.to_string()))),
        TxOutcome::Failed(_) => writes
            .iter()
            .map(|write| {
                if std::time::Instant::now() >= deadline {
                    return Err(AckFailure::NotStored(
                        "no time left to write it alone".into(),
                    ));
                }
                let alone = bounded_write_transaction(conn, lock_wait_until(deadline), |conn| {
                    append_ack_write(conn, write).map_err(DbError::from)
                });
                match alone {
                    TxOutcome::Committed(_) => Ok(()),
                    TxOutcome::Failed(e) => Err(AckFailure::NotStored(e.to_string())),
                    TxOutcome::CommitFailed(e) => Err(AckFailure::Unknown(e.to_string())),
                }
            })
            .collect(),
    }
}

/// What is left until `deadline`, and at least a moment: a write that made it this far is tried.
fn lock_wait_until(deadline: std::time::Instant) -> std::time::Duration {
    deadline
        .saturating_duration_since(std::time::Instant::now())
        .max(std::time::Duration::from_millis(100))
}

/// Whether the group's first inbox row is there after all (a COMMIT whose answer was lost);
/// `None` when that cannot be told either. The check must not wait on a lock: it gives up quickly.
fn already_stored(conn: &mut AnyConnection, writes: &[AckWrite]) -> Option<bool> {
    let public_id = writes.iter().find_map(|w| match w {
        AckWrite::Inbox(row) => Some(row.public_id.clone()),
        AckWrite::BlockedLead(_) | AckWrite::Ignored(_) => None,
    })?;
    super::bounded_read(conn, std::time::Duration::from_millis(250), |conn| {
        Ok(inbox::table
            .filter(inbox::public_id.eq(&public_id))
            .count()
            .get_result::<i64>(conn)?)
    })
    .ok()
    .map(|n| n > 0)
}

/// What became of one spooled submission offered to the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpoolInsert {
    Written,
    /// Its public id is in the inbox already (written before, or by its own ack after all).
    AlreadyThere,
    /// The database refuses this row's data: it is set aside, the others go on.
    Refused(String),
}

/// Spooled submissions into the inbox, each once: a public id already there is skipped. All in
/// one transaction; if a row's data fails it, row by row, so one bad row cannot hold the rest.
pub fn insert_spooled(
    conn: &mut AnyConnection,
    rows: &[NewInboxRow],
) -> Result<Vec<SpoolInsert>, DbError> {
    let batch = write_transaction(conn, |conn| {
        rows.iter()
            .map(|row| insert_spooled_row(conn, row))
            .collect::<Result<Vec<_>, DbError>>()
    });
    match batch {
        Err(e) if e.is_row_error() => rows
            .iter()
            .map(
                |row| match write_transaction(conn, |conn| insert_spooled_row(conn, row)) {
                    Err(e) if e.is_row_error() => Ok(SpoolInsert::Refused(e.to_string())),
                    other => other,
                },
            )
            .collect(),
        other => other,
    }
}

fn insert_spooled_row(conn: &mut AnyConnection, row: &NewInboxRow) -> Result<SpoolInsert, DbError> {
    let exists: i64 = inbox::table
        .filter(inbox::public_id.eq(&row.public_id))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Ok(SpoolInsert::AlreadyThere);
    }
    diesel::insert_into(inbox::table)
        .values(row)
        .execute(conn)?;
    Ok(SpoolInsert::Written)
}

/// Claims up to `limit` inbox rows that are due (or whose lease ran out) for `owner`. A claim is
/// not an attempt: a process that dies holding it (a crash loop) spends none of the row's retries.
pub fn claim_inbox(
    conn: &mut AnyConnection,
    owner: &str,
    limit: i64,
    lease: Duration,
) -> Result<Vec<InboxRow>, DbError> {
    write_transaction(conn, |conn| {
        let t = now();
        let due = inbox::table
            .select(inbox::id)
            .filter(inbox::status.eq(Pending.as_str()))
            .filter(inbox::next_attempt_at.le(t))
            .order(inbox::id.asc())
            .limit(limit);
        let expired = inbox::table
            .select(inbox::id)
            .filter(inbox::status.eq(Processing.as_str()))
            .filter(inbox::lease_until.lt(t))
            .order(inbox::id.asc())
            .limit(limit);
        let mut ids = claim_due_ids!(conn, due)?;
        ids.extend(claim_due_ids!(conn, expired)?);
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(limit as usize);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(inbox::table.filter(inbox::id.eq_any(&ids)))
            .set((
                inbox::status.eq(Processing.as_str()),
                inbox::lease_owner.eq(owner),
                inbox::lease_until.eq(t + lease),
            ))
            .execute(conn)?;
        Ok(inbox::table
            .filter(inbox::id.eq_any(&ids))
            .order(inbox::id.asc())
            .load(conn)?)
    })
}

/// Which of these inbox rows (sorted) are still this runner's to store, in one read. On
/// PostgreSQL the rows stay locked until commit (taken in id order), so no other instance can
/// re-claim them now. SQLite has one instance, whose Intake stores a batch before it claims the
/// next, and its inbox is in another file: all are; a row re-claimed after its lease ran out is
/// caught by its stored submissions (`rows_stored_already`).
pub fn still_ours(
    conn: &mut AnyConnection,
    inbox_ids: &[i64],
    owner: &str,
) -> Result<Vec<i64>, DbError> {
    let mut ids = inbox_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    match conn {
        AnyConnection::Postgresql(c) => Ok(inbox::table
            .filter(inbox::id.eq_any(ids))
            .filter(inbox::status.eq(Processing.as_str()))
            .filter(inbox::lease_owner.eq(owner))
            .select(inbox::id)
            .order(inbox::id.asc())
            .for_update()
            .load(c)?),
        AnyConnection::Sqlite(_) => Ok(ids),
    }
}

/// The rows whose submissions are stored (and committed) are done.
pub fn mark_inbox_done(conn: &mut AnyConnection, inbox_ids: &[i64]) -> Result<(), DbError> {
    if inbox_ids.is_empty() {
        return Ok(());
    }
    diesel::update(inbox::table.filter(inbox::id.eq_any(inbox_ids)))
        .set((
            inbox::status.eq(Done.as_str()),
            inbox::lease_owner.eq(None::<String>),
            inbox::lease_until.eq(None::<chrono::NaiveDateTime>),
            inbox::processed_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// After a crash of the only instance (SQLite), its leases are void at once.
pub fn release_all_inbox_leases(conn: &mut AnyConnection) -> Result<usize, DbError> {
    Ok(
        diesel::update(inbox::table.filter(inbox::status.eq(Processing.as_str())))
            .set((
                inbox::status.eq(Pending.as_str()),
                inbox::lease_owner.eq(None::<String>),
            ))
            .execute(conn)?,
    )
}

pub const INBOX_MAX_ATTEMPTS: i32 = 3;

/// Backoff before the next attempt: 1 s, 2 s, 4 s, ...
pub fn inbox_backoff(attempts: i32) -> Duration {
    Duration::seconds(1i64 << (attempts.clamp(1, 10) - 1))
}

/// A processing attempt failed: it is counted now; retry later, or keep the row as failed for an
/// operator after `INBOX_MAX_ATTEMPTS`.
pub fn fail_inbox_attempt(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    error: &str,
) -> Result<(), DbError> {
    let attempts: Option<i32> = inbox::table
        .find(id)
        .select(inbox::attempts)
        .get_result(conn)
        .optional()?;
    let Some(attempts) = attempts.map(|a| a + 1) else {
        return Ok(());
    };
    let status = if attempts >= INBOX_MAX_ATTEMPTS {
        Failed.as_str()
    } else {
        Pending.as_str()
    };
    // One conditional statement: a row another instance finished meanwhile is left alone.
    let updated = diesel::update(
        inbox::table
            .find(id)
            .filter(inbox::status.eq(Processing.as_str()))
            .filter(inbox::lease_owner.eq(owner)),
    )
    .set((
        inbox::status.eq(status),
        inbox::attempts.eq(attempts),
        inbox::lease_owner.eq(None::<String>),
        inbox::lease_until.eq(None::<chrono::NaiveDateTime>),
        inbox::last_error.eq(truncate(error, 2000)),
        inbox::next_attempt_at.eq(now() + inbox_backoff(attempts)),
    ))
    .execute(conn)?;
    if updated > 0 && status == Failed.as_str() {
        log::warn!("inbox.failed id={id} attempts={attempts} error={error}");
    }
    Ok(())
}

/// The oldest processed rows on SQLite, by the partial index `inbox_processed` named outright:
/// SQLite is built with its query planner stability guarantee, which plans without bound values,
/// and left to itself it walks every done row of `inbox_claim` and sorts them.
pub const SQLITE_PURGE_CANDIDATES: &str = "SELECT id FROM inbox INDEXED BY inbox_processed \
     WHERE status = 'done' AND processed_at < ? ORDER BY processed_at LIMIT ?";

#[derive(diesel::QueryableByName)]
struct RowId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// Deletes up to `limit` processed inbox rows older than `before` (their submissions keep the
/// body as `payload_json`); returns how many.
pub fn purge_processed_inbox(
    conn: &mut AnyConnection,
    before: chrono::NaiveDateTime,
    limit: i64,
) -> Result<usize, DbError> {
    let ids: Vec<i64> = match conn {
        AnyConnection::Sqlite(c) => diesel::sql_query(SQLITE_PURGE_CANDIDATES)
            .bind::<diesel::sql_types::Timestamp, _>(before)
            .bind::<diesel::sql_types::BigInt, _>(limit)
            .load::<RowId>(c)?
            .into_iter()
            .map(|r| r.id)
            .collect(),
        AnyConnection::Postgresql(c) => inbox::table
            .select(inbox::id)
            .filter(inbox::status.eq(Done.as_str()))
            .filter(inbox::processed_at.lt(before))
            .order(inbox::processed_at.asc())
            .limit(limit)
            .load(c)?,
    };
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(inbox::table.filter(inbox::id.eq_any(&ids))).execute(conn)?)
}

pub fn list_inbox(
    conn: &mut AnyConnection,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<InboxRow>, DbError> {
    let mut query = inbox::table
        .order(inbox::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(inbox::status.eq(status.to_string()));
    }
    Ok(query.load(conn)?)
}

pub fn retry_inbox(conn: &mut AnyConnection, id: i64) -> Result<InboxRow, DbError> {
    let row: InboxRow = inbox::table
        .find(id)
        .first(conn)
        .optional()?
        .ok_or(DbError::NotFound)?;
    if row.status != Failed.as_str() {
        return Err(DbError::Invalid(format!(
            "inbox item {id} is {}, not failed",
            row.status
        )));
    }
    diesel::update(inbox::table.find(id))
        .set((
            inbox::status.eq(Pending.as_str()),
            inbox::attempts.eq(0),
            inbox::next_attempt_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(inbox::table.find(id).first(conn)?)
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite() -> (tempfile::TempDir, AnyConnection) {
        let dir = tempfile::tempdir().unwrap();
        let target = crate::config::DatabaseTarget::Sqlite(dir.path().join("t.db"));
        let mut conn = super::super::establish(&target).unwrap();
        super::super::run_migrations(&mut conn).unwrap();
        (dir, conn)
    }

    fn inbox_row(public_id: &str) -> NewInboxRow {
        NewInboxRow {
            public_id: public_id.into(),
            kind: "website".into(),
            account_id: "a".into(),
            body: "{}".into(),
            meta_json: "{}".into(),
            status: Pending.as_str().into(),
            attempts: 0,
            next_attempt_at: now(),
            received_at: now(),
        }
    }

    fn attempts_of(conn: &mut AnyConnection, id: i64) -> (String, i32) {
        inbox::table
            .find(id)
            .select((inbox::status, inbox::attempts))
            .get_result(conn)
            .unwrap()
    }

    #[test]
    fn claims_spend_no_attempts_failures_do() {
        let (_dir, mut conn) = sqlite();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let written = append_ack_writes(&mut conn, &[AckWrite::Inbox(inbox_row("p1"))], deadline);
        assert_eq!(written, vec![Ok(())]);
        // A crash loop: claimed, process dies, leases released at the next start, again and again.
        for _ in 0..5 {
            let claimed = claim_inbox(&mut conn, "dies", 10, Duration::seconds(10)).unwrap();
            assert_eq!(claimed.len(), 1);
            release_all_inbox_leases(&mut conn).unwrap();
        }
        let id = inbox::table
            .select(inbox::id)
            .first::<i64>(&mut conn)
            .unwrap();
        assert_eq!(attempts_of(&mut conn, id), (Pending.as_str().into(), 0));
        for expected in 1..=INBOX_MAX_ATTEMPTS {
            diesel::update(inbox::table.find(id))
                .set(inbox::next_attempt_at.eq(now()))
                .execute(&mut conn)
                .unwrap();
            claim_inbox(&mut conn, "fails", 10, Duration::seconds(10)).unwrap();
            fail_inbox_attempt(&mut conn, id, "fails", "boom").unwrap();
            let status = if expected == INBOX_MAX_ATTEMPTS {
                Failed.as_str()
            } else {
                Pending.as_str()
            };
            assert_eq!(attempts_of(&mut conn, id), (status.into(), expected));
        }
    }

    /// A group larger than one statement takes (PostgreSQL writes a group's rows at once).
    #[test]
    fn a_large_ack_group_is_stored_whole() {
        for mut database in crate::store::statements::test_databases() {
            let conn = &mut database.conn;
            let writes: Vec<AckWrite> = (0..8000)
                .map(|n| AckWrite::Inbox(inbox_row(&format!("group-{n}"))))
                .collect();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            let results = append_ack_writes(conn, &writes, deadline);
            assert!(results.iter().all(Result::is_ok));
            let stored: i64 = inbox::table.count().get_result(conn).unwrap();
            assert_eq!(stored, 8000, "more rows than one statement can bind");
        }
    }
}
