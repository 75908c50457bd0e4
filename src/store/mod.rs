//! Storage: one connection type over SQLite and PostgreSQL, the pool, migrations, transactions
//! (the backends' differences in one place: here), and one file per table group.
//!
//! Failure policy: a query error is returned to the caller, classified (`is_row_error`,
//! `is_unavailable`) so that a batch is retried row by row only when one row's data failed it.

/// The ids of due rows a claimer takes, from a select of ids: every claimer (the inbox, the jobs)
/// selects through this, so how backends claim differs in this one place. Several PostgreSQL
/// instances may claim at once, so rows another one holds are skipped (`FOR UPDATE SKIP LOCKED`);
/// SQLite has one writer, whose transaction already excludes everyone else.
macro_rules! claim_due_ids {
    ($conn:expr, $due_ids:expr) => {
        match $conn {
            $crate::store::AnyConnection::Postgresql(c) => {
                $due_ids.for_update().skip_locked().load::<i64>(c)
            }
            $crate::store::AnyConnection::Sqlite(c) => $due_ids.load::<i64>(c),
        }
    };
}

pub mod accounts;
pub mod assignments;
pub mod blocked_ips;
pub mod contacts;
pub mod conversations;
pub mod dead_letters;
pub mod facebook;
pub mod health;
pub mod inbox;
pub mod inbox_file;
mod job_records;
pub mod jobs;
#[cfg(test)]
mod lead_search_tests;
pub mod leads;
pub mod models;
mod pool;
pub mod schema;
pub mod scratch;
#[cfg(test)]
pub mod statements;
pub mod tracking;
pub mod users;

use crate::config::DatabaseTarget;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
pub use pool::{build_pool, build_pools, Pool, Pools, Role};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database connection failed: {0}")]
    Connection(String),
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
}

impl DbError {
    /// An error of one row's data (a constraint, a value the column refuses), as opposed to the
    /// database being unavailable (locked, unreachable, read-only, out of space, timed out). A
    /// batch that fails for a row error is worth retrying row by row; one that fails because the
    /// database is unavailable is not: every row would wait for the same lock again.
    pub fn is_row_error(&self) -> bool {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        match self {
            DbError::Query(Error::DatabaseError(kind, info)) => match kind {
                Kind::UniqueViolation
                | Kind::ForeignKeyViolation
                | Kind::NotNullViolation
                | Kind::CheckViolation
                | Kind::RestrictViolation
                | Kind::ExclusionViolation => true,
                Kind::Unknown => {
                    let message = info.message();
                    [
                        "invalid byte sequence",
                        "invalid input syntax",
                        "out of range",
                        "too long",
                    ]
                    .iter()
                    .any(|m| message.contains(m))
                }
                _ => false,
            },
            DbError::Query(Error::SerializationError(_) | Error::DeserializationError(_)) => true,
            DbError::Invalid(_) | DbError::NotFound => true,
            _ => false,
        }
    }
}

impl DbError {
    /// The database cannot take writes now (locked, unreachable, read-only, full, timed out):
    /// retrying row by row would only wait for the same lock again.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        // Specific: an error that merely looks like this but repeats for the same rows (a role's
        // statement_timeout, say) would otherwise hold them forever without counting attempts.
        const SIGNS: &[&str] = &[
            "database is locked",
            "database table is locked",
            "disk I/O error",
            "readonly database",
            "read-only transaction",
            "database or disk is full",
            "unable to open database",
            "terminating connection",
            "server closed the connection",
            "could not connect",
            "connection refused",
            "the database system is starting up",
            "the database system is shutting down",
        ];
        match self {
            DbError::Connection(_) => true,
            DbError::Query(Error::BrokenTransactionManager) => true,
            DbError::Query(Error::DatabaseError(kind, info)) => {
                matches!(
                    kind,
                    Kind::ClosedConnection | Kind::UnableToSendCommand | Kind::ReadOnlyTransaction
                ) || SIGNS.iter().any(|sign| info.message().contains(sign))
            }
            _ => false,
        }
    }
}

impl From<r2d2::Error> for DbError {
    fn from(e: r2d2::Error) -> Self {
        DbError::Connection(e.to_string())
    }
}

/// How long SQLite waits for a lock another process holds (a backup, an operator's shell).
const SQLITE_BUSY_TIMEOUT_MS: u64 = 2000;

pub fn establish(target: &DatabaseTarget) -> Result<AnyConnection, DbError> {
    match target {
        DatabaseTarget::Postgres(url) => diesel::PgConnection::establish(url)
            .map(AnyConnection::Postgresql)
            .map_err(|e| DbError::Connection(e.to_string())),
        DatabaseTarget::Sqlite(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    DbError::Connection(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
                .map_err(|e| DbError::Connection(e.to_string()))?;
            // Durability is the product: FULL sync on every commit of the inbox.
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
            ))?;
            Ok(AnyConnection::Sqlite(conn))
        }
    }
}

pub fn run_migrations(conn: &mut AnyConnection) -> Result<usize, DbError> {
    let applied = match conn {
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        AnyConnection::Postgresql(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
    };
    applied.map_err(|e| DbError::Connection(format!("migration failed: {e}")))
}

pub fn is_sqlite(conn: &AnyConnection) -> bool {
    matches!(conn, AnyConnection::Sqlite(_))
}

/// How a write transaction ended. A failed COMMIT is told apart: on PostgreSQL it may have
/// committed (the connection broke before the answer came back).
pub enum TxOutcome<T, E> {
    Committed(T),
    Failed(E),
    CommitFailed(diesel::result::Error),
}

/// A write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so that
/// concurrent writers wait on `busy_timeout` instead of failing on lock upgrade; a panic
/// inside rolls back before it continues, so a pooled connection never keeps a transaction.
pub fn write_transaction<T, E>(
    conn: &mut AnyConnection,
    body: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match transaction_outcome(conn, body) {
        TxOutcome::Committed(value) => Ok(value),
        TxOutcome::Failed(e) => Err(e),
        TxOutcome::CommitFailed(e) => Err(e.into()),
    }
}

fn transaction_outcome<T, E>(
    conn: &mut AnyConnection,
    body: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> TxOutcome<T, E>
where
    E: From<diesel::result::Error>,
{
    let begin = if is_sqlite(conn) {
        "BEGIN IMMEDIATE"
    } else {
        "BEGIN"
    };
    if let Err(e) = conn.batch_execute(begin) {
        return TxOutcome::Failed(e.into());
    }
    match catch_unwind(AssertUnwindSafe(|| body(conn))) {
        Ok(Ok(value)) => match conn.batch_execute("COMMIT") {
            Ok(()) => TxOutcome::Committed(value),
            Err(e) => {
                let _ = conn.batch_execute("ROLLBACK");
                TxOutcome::CommitFailed(e)
            }
        },
        Ok(Err(e)) => {
            let _ = conn.batch_execute("ROLLBACK");
            TxOutcome::Failed(e)
        }
        Err(panic) => {
            let _ = conn.batch_execute("ROLLBACK");
            resume_unwind(panic)
        }
    }
}

/// A write transaction that waits at most `lock_wait` for locks held by others (SQLite's busy
/// handler; PostgreSQL's lock and statement timeouts), so that the ack path answers in bounded time
/// whatever another process holds.
pub fn bounded_write_transaction<T, E>(
    conn: &mut AnyConnection,
    lock_wait: std::time::Duration,
    body: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> TxOutcome<T, E>
where
    E: From<diesel::result::Error>,
{
    let ms = lock_wait.as_millis().clamp(1, 60_000);
    match conn {
        AnyConnection::Sqlite(_) => {
            if let Err(e) = conn.batch_execute(&format!("PRAGMA busy_timeout = {ms}")) {
                return TxOutcome::Failed(e.into());
            }
            let outcome = transaction_outcome(conn, body);
            let _ = conn.batch_execute(&format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"));
            match outcome {
                // SQLite rolls a failed COMMIT back: it did not commit.
                TxOutcome::CommitFailed(e) => TxOutcome::Failed(e.into()),
                other => other,
            }
        }
        AnyConnection::Postgresql(_) => transaction_outcome(conn, |conn| {
            conn.batch_execute(&format!(
                "SET LOCAL lock_timeout = {ms}; SET LOCAL statement_timeout = {ms}"
            ))?;
            body(conn)
        }),
    }
}

/// A read that gives up after `limit` on PostgreSQL (a table locked by someone else must not
/// hang the health page); SQLite's WAL readers are never blocked by a writer.
pub fn bounded_read<T>(
    conn: &mut AnyConnection,
    limit: std::time::Duration,
    body: impl FnOnce(&mut AnyConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    match conn {
        AnyConnection::Sqlite(_) => body(conn),
        AnyConnection::Postgresql(_) => write_transaction(conn, |conn| {
            let ms = limit.as_millis().clamp(1, 60_000);
            conn.batch_execute(&format!("SET LOCAL statement_timeout = {ms}"))?;
            body(conn)
        }),
    }
}

/// Serialises identity decisions for one (account, project) across instances sharing PostgreSQL;
/// SQLite has one writer, which serialises them already.
pub fn lock_identity_key(
    conn: &mut AnyConnection,
    account_id: &str,
    project_key: &str,
) -> QueryResult<()> {
    if let AnyConnection::Postgresql(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<diesel::sql_types::Text, _>(format!("{account_id}\u{1f}{project_key}"))
            .execute(c)?;
    }
    Ok(())
}

/// A UUID that sorts by creation time (v7): each new row's id lands at the end of its unique
/// index instead of on a random page, which a million-row table would otherwise pay in reads and
/// write-ahead-log pages on every insert.
pub fn new_public_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A JSON object column's text, or `{}`.
pub fn json_text(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}

pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The newest migrations go down and up again on a database with rows in it.
    #[test]
    fn the_newest_migrations_revert_and_reapply() {
        let dir = tempfile::tempdir().unwrap();
        let target = DatabaseTarget::Sqlite(dir.path().join("m.db"));
        let AnyConnection::Sqlite(mut conn) = establish(&target).unwrap() else {
            unreachable!()
        };
        let fixture = include_str!("../../tests/fixtures/upgrade/sqlite.sql");
        conn.batch_execute(&fixture.replace("RECEIVER_URL", "http://127.0.0.1:9/hook"))
            .unwrap();
        conn.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
        let keys = count(&mut conn, "SELECT COUNT(*) AS n FROM lead_keys");
        assert!(keys > 0, "the keys of the stored submissions are filled in");
        let search = "SELECT COUNT(*) AS n FROM leads_search WHERE leads_search MATCH '\"person\"'";
        assert!(
            count(&mut conn, search) > 0,
            "the stored leads are in the search index"
        );
        let tracking = "SELECT COUNT(*) AS n FROM sqlite_master \
             WHERE name IN ('visitors', 'visitor_sessions', 'page_views')";
        assert_eq!(count(&mut conn, tracking), 3);
        conn.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
        assert_eq!(count(&mut conn, tracking), 0);
        // An SMS of the Notifier goes back to its own kind, its payload without the channel.
        conn.batch_execute(
            "INSERT INTO jobs (kind, public_id, payload_json, next_attempt_at, created_at, \
             updated_at) VALUES ('notify', 'sms:l1', '{\"channel\":\"sms\",\"lead_id\":1}', \
             '2026-12-04 00:00:00', '2026-12-04 00:00:00', '2026-12-04 00:00:00')",
        )
        .unwrap();
        conn.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
        let sms = "SELECT COUNT(*) AS n FROM jobs \
             WHERE kind = 'notify_sms' AND payload_json = '{\"lead_id\":1}'";
        assert_eq!(count(&mut conn, sms), 1);
        conn.batch_execute("DELETE FROM jobs WHERE public_id = 'sms:l1'")
            .unwrap();
        conn.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
        let crm = "SELECT COUNT(*) AS n FROM sqlite_master \
             WHERE name IN ('contacts', 'contact_keys', 'deals', 'campaign_assignments', \
             'conversations', 'conversation_rooms', 'conversation_messages')";
        assert_eq!(count(&mut conn, crm), 0);
        conn.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
        let health = "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'campaign_health'";
        assert_eq!(count(&mut conn, health), 0);
        let refused = "SELECT COUNT(*) AS n FROM pragma_table_info('facebook_page_tokens') \
             WHERE name = 'invalid_reason'";
        assert_eq!(count(&mut conn, refused), 0);
        conn.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
        let platform_keys = "SELECT COUNT(*) AS n FROM pragma_table_info('lead_submissions') \
             WHERE name = 'platform_lead_key'";
        assert_eq!(count(&mut conn, platform_keys), 0);
        conn.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
        let representatives = "SELECT COUNT(*) AS n FROM sqlite_master \
             WHERE name IN ('users', 'facebook_page_tokens')";
        assert_eq!(count(&mut conn, representatives), 0);
        conn.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
        let search_index =
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE name LIKE 'leads_search%'";
        assert_eq!(count(&mut conn, search_index), 0);
        conn.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
        let person_indexes = "SELECT COUNT(*) AS n FROM sqlite_master WHERE name IN \
             ('submissions_visitor', 'submissions_email', 'submissions_phone')";
        assert_eq!(count(&mut conn, person_indexes), 3);
        conn.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
        assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM outbox"), 4);
        conn.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
        assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM jobs"), 4);
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) AS n FROM lead_keys"),
            keys
        );
        assert!(count(&mut conn, search) > 0);
        assert_eq!(count(&mut conn, representatives), 2);
        assert_eq!(count(&mut conn, platform_keys), 1);
        assert_eq!(count(&mut conn, health), 1);
        assert_eq!(count(&mut conn, refused), 1);
        assert_eq!(count(&mut conn, crm), 7);
        assert_eq!(count(&mut conn, tracking), 3);
    }

    /// `.cargo/config.toml` builds SQLite with its query planner stability guarantee: without it
    /// every statement with a bound LIMIT is prepared again at each execution.
    #[test]
    fn sqlite_is_built_with_the_query_planner_stability_guarantee() {
        let dir = tempfile::tempdir().unwrap();
        let target = DatabaseTarget::Sqlite(dir.path().join("q.db"));
        let AnyConnection::Sqlite(mut conn) = establish(&target).unwrap() else {
            unreachable!()
        };
        let qpsg = "SELECT COUNT(*) AS n FROM pragma_compile_options \
             WHERE compile_options = 'ENABLE_QPSG'";
        assert_eq!(count(&mut conn, qpsg), 1);
        // With it, SQLite plans without bound values: the inbox purge names its partial index.
        conn.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
        let sql = inbox::SQLITE_PURGE_CANDIDATES;
        #[derive(diesel::QueryableByName)]
        struct Plan {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load(&mut conn)
            .unwrap();
        assert!(
            plan.iter().any(|p| p.detail.contains("inbox_processed")),
            "{:?}",
            plan.iter().map(|p| &p.detail).collect::<Vec<_>>()
        );
    }

    fn count(conn: &mut diesel::SqliteConnection, sql: &str) -> i64 {
        diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
    }

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
}
