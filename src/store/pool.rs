//! The connection pools and what each pooled connection is for: on SQLite a writer per file
//! (the main file's, the inbox file's) and readers of both; on PostgreSQL one pool for all.

use super::{establish, inbox_file, AnyConnection, DbError};
use crate::config::DatabaseTarget;
use diesel::connection::SimpleConnection;

pub type Pool = r2d2::Pool<ConnectionManager>;

/// The main file's writer's page cache: the pages of the pipeline's hot indexes.
const SQLITE_WRITER_CACHE_KIB: u32 = 32 * 1024;

/// Pages in the main file's write-ahead log before it is copied back (SQLite's default: 1,000).
const SQLITE_WRITER_CHECKPOINT_PAGES: u32 = 8_000;

/// What a pooled connection is for: on SQLite each role has its own connections (the main
/// file's one writer; the inbox file's one writer; readers of both); on PostgreSQL they are one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Writer,
    InboxWriter,
    Reader,
}

/// Opens connections of the configured backend, with SQLite's durability pragmas on each.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    target: DatabaseTarget,
    role: Role,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ManagerError(String);

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = AnyConnection;
    type Error = ManagerError;

    fn connect(&self) -> Result<AnyConnection, ManagerError> {
        establish_for(&self.target, self.role).map_err(|e| ManagerError(e.to_string()))
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

/// A connection for `role`. The main file's writer does not attach the inbox file: SQLite's
/// `BEGIN IMMEDIATE` would take the write lock of every attached file, the inbox's too.
fn establish_for(target: &DatabaseTarget, role: Role) -> Result<AnyConnection, DbError> {
    let DatabaseTarget::Sqlite(path) = target else {
        return establish(target);
    };
    match role {
        Role::Writer => {
            let mut conn = establish(target)?;
            // The pipeline's indexes outgrow SQLite's 2 MiB default within a few 100,000 leads,
            // and a page its batches change again and again is copied back once per checkpoint.
            conn.batch_execute(&format!(
                "PRAGMA cache_size = -{SQLITE_WRITER_CACHE_KIB}; \
                 PRAGMA wal_autocheckpoint = {SQLITE_WRITER_CHECKPOINT_PAGES}"
            ))?;
            Ok(conn)
        }
        Role::InboxWriter => inbox_file::establish_inbox_file(path),
        Role::Reader => {
            let mut conn = establish(target)?;
            inbox_file::attach_inbox_file(&mut conn, path)?;
            conn.batch_execute("PRAGMA query_only = ON")?;
            Ok(conn)
        }
    }
}

pub fn build_pool(target: &DatabaseTarget, size: u32, role: Role) -> Result<Pool, DbError> {
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        // A PostgreSQL server can restart under us: check a connection before handing it out.
        // An SQLite connection cannot go stale, and the check would cost every query a statement.
        .test_on_check_out(matches!(target, DatabaseTarget::Postgres(_)))
        .connection_timeout(std::time::Duration::from_secs(2))
        .build(ConnectionManager {
            target: target.clone(),
            role,
        })
        .map_err(DbError::from)
}

/// The pools of each role. PostgreSQL has one pool for all work; SQLite has a writer per file and
/// a pool of readers.
#[derive(Clone)]
pub struct Pools {
    pub writer: Pool,
    /// SQLite's inbox-file writer (the acks, claims, done marks); `None` on PostgreSQL.
    pub inbox_writer: Option<Pool>,
    /// SQLite's readers (admin, health, metrics, the directory); `None` on PostgreSQL.
    pub readers: Option<Pool>,
    pub is_sqlite: bool,
}

impl Pools {
    /// Every role on one pool (PostgreSQL; tests that keep SQLite's inbox in the main file).
    pub fn single(pool: Pool, is_sqlite: bool) -> Pools {
        Pools {
            writer: pool,
            inbox_writer: None,
            readers: None,
            is_sqlite,
        }
    }
}

pub fn build_pools(target: &DatabaseTarget, size: u32) -> Result<Pools, DbError> {
    Ok(match target {
        DatabaseTarget::Postgres(_) => {
            Pools::single(build_pool(target, size, Role::Writer)?, false)
        }
        DatabaseTarget::Sqlite(_) => Pools {
            writer: build_pool(target, 1, Role::Writer)?,
            inbox_writer: Some(build_pool(target, 1, Role::InboxWriter)?),
            readers: Some(build_pool(target, size.max(1), Role::Reader)?),
            is_sqlite: true,
        },
    })
}
