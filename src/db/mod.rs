//! Storage: one connection type over SQLite and PostgreSQL, the pool, migrations, transactions.

pub mod deliveries;
pub mod models;
pub mod pipeline;
pub mod queries;
pub mod schema;

use crate::config::DatabaseTarget;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
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

impl From<r2d2::Error> for DbError {
    fn from(e: r2d2::Error) -> Self {
        DbError::Connection(e.to_string())
    }
}

pub type Pool = r2d2::Pool<ConnectionManager>;

/// Opens connections of the configured backend, with SQLite's durability pragmas on each.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    target: DatabaseTarget,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ManagerError(String);

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = AnyConnection;
    type Error = ManagerError;

    fn connect(&self) -> Result<AnyConnection, ManagerError> {
        establish(&self.target).map_err(|e| ManagerError(e.to_string()))
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), ManagerError> {
        conn.batch_execute("SELECT 1")
            .map_err(|e| ManagerError(e.to_string()))
    }

    /// Diesel marks a connection broken when it fails mid-use (e.g. PostgreSQL restarted):
    /// the pool then drops it instead of handing it out again.
    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

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
            conn.batch_execute(
                "PRAGMA busy_timeout = 2000; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
            )?;
            Ok(AnyConnection::Sqlite(conn))
        }
    }
}

pub fn build_pool(target: &DatabaseTarget, size: u32) -> Result<Pool, DbError> {
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        // A PostgreSQL server can restart under us: check a connection before handing it out.
        // An SQLite connection cannot go stale, and the check would cost every query a statement.
        .test_on_check_out(matches!(target, DatabaseTarget::Postgres(_)))
        .connection_timeout(std::time::Duration::from_secs(2))
        .build(ConnectionManager {
            target: target.clone(),
        })
        .map_err(DbError::from)
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
    let begin = if is_sqlite(conn) {
        "BEGIN IMMEDIATE"
    } else {
        "BEGIN"
    };
    conn.batch_execute(begin)?;
    match catch_unwind(AssertUnwindSafe(|| body(conn))) {
        Ok(Ok(value)) => match conn.batch_execute("COMMIT") {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = conn.batch_execute("ROLLBACK");
                Err(e.into())
            }
        },
        Ok(Err(e)) => {
            let _ = conn.batch_execute("ROLLBACK");
            Err(e)
        }
        Err(panic) => {
            let _ = conn.batch_execute("ROLLBACK");
            resume_unwind(panic)
        }
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

pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
