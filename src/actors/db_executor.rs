//! DbExecutor: Diesel workers on their own threads over the r2d2 pool. Every query runs here,
//! so blocking database calls never stall the HTTP workers.
//!
//! Failure policy: a query error is returned to the caller; a panic in a query is caught, the
//! worker stops and `SyncArbiter` builds a fresh one (counted as a restart). Work is in tables,
//! so nothing is lost with the worker.

use super::health::{run_guarded, ActorStats};
use crate::store::{AnyConnection, DbError, Pool, Pools};
use actix::prelude::*;
use std::sync::Arc;

pub struct DbExecutor {
    pool: Pool,
    stats: Arc<ActorStats>,
    priority: Priority,
}

/// Which threads yield the CPU: with two cores, the backlog's writer must not take the core an
/// answer needs; it catches up as soon as the answers stop.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Priority {
    Answers,
    Backlog,
}

/// The niceness of backlog threads, relative to the process.
const BACKLOG_NICENESS: i32 = 10;

/// Sets this thread's CPU priority below the process's (Linux schedules threads, not
/// processes); relative to the process, so a worker rebuilt on the same thread stays at the same
/// level. Elsewhere a no-op.
fn yield_cpu_to_answers() {
    #[cfg(target_os = "linux")]
    // SAFETY: getpriority/setpriority on process and thread ids have no memory effects.
    unsafe {
        let process = libc::getpriority(libc::PRIO_PROCESS, libc::getpid() as libc::id_t);
        let thread = libc::gettid() as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, thread, process + BACKLOG_NICENESS) != 0 {
            log::warn!("could not lower the pipeline writer's CPU priority");
        }
    }
}

impl Actor for DbExecutor {
    type Context = SyncContext<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        if self.priority == Priority::Backlog {
            yield_cpu_to_answers();
        }
        self.stats.set_running();
    }
}

type Query<T> = Box<dyn FnOnce(&mut AnyConnection) -> Result<T, DbError> + Send>;

/// Run a closure on a pooled connection.
pub struct Run<T>(Query<T>);

impl<T: Send + 'static> Message for Run<T> {
    type Result = Result<T, DbError>;
}

impl<T: Send + 'static> Handler<Run<T>> for DbExecutor {
    type Result = Result<T, DbError>;

    fn handle(&mut self, msg: Run<T>, ctx: &mut Self::Context) -> Self::Result {
        self.execute(msg.0, ctx)
    }
}

/// Run a closure if, when its turn comes, `wanted` still says so (before a connection is taken).
pub struct RunIfWanted {
    wanted: Box<dyn Fn() -> bool + Send>,
    query: Query<()>,
}

impl Message for RunIfWanted {
    type Result = Result<(), DbError>;
}

impl Handler<RunIfWanted> for DbExecutor {
    type Result = Result<(), DbError>;

    fn handle(&mut self, msg: RunIfWanted, ctx: &mut Self::Context) -> Self::Result {
        if !(msg.wanted)() {
            self.stats.dequeued();
            return Ok(());
        }
        self.execute(msg.query, ctx)
    }
}

impl DbExecutor {
    fn execute<T>(&mut self, query: Query<T>, ctx: &mut SyncContext<Self>) -> Result<T, DbError> {
        let pool = self.pool.clone();
        let outcome = run_guarded(&self.stats, move || {
            let mut conn = pool.get()?;
            query(&mut conn)
        });
        match outcome {
            Ok(Ok(value)) => {
                self.stats.record_processed(1);
                Ok(value)
            }
            Ok(Err(e)) => {
                self.stats.record_error(&e.to_string());
                Err(e)
            }
            Err(crash) => {
                ctx.stop();
                Err(DbError::Connection(crash.to_string()))
            }
        }
    }
}

/// One group of Diesel worker threads over one pool.
#[derive(Clone)]
struct Executor {
    addr: Addr<DbExecutor>,
    stats: Arc<ActorStats>,
}

impl Executor {
    fn start(pool: Pool, threads: usize, stats: Arc<ActorStats>, priority: Priority) -> Executor {
        let worker_stats = stats.clone();
        let addr = SyncArbiter::start(threads.max(1), move || DbExecutor {
            pool: pool.clone(),
            stats: worker_stats.clone(),
            priority,
        });
        Executor { addr, stats }
    }

    /// Queues `query` without waiting for it (its outcome is its own business); skipped, without
    /// taking a connection, if `wanted` says no when its turn comes.
    fn fire_if<F>(&self, wanted: impl Fn() -> bool + Send + 'static, query: F)
    where
        F: FnOnce(&mut AnyConnection) -> Result<(), DbError> + Send + 'static,
    {
        self.stats.enqueued();
        let message = RunIfWanted {
            wanted: Box::new(wanted),
            query: Box::new(query),
        };
        if self.addr.try_send(message).is_err() {
            self.stats.dequeued();
        }
    }

    async fn run<T, F>(&self, query: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, DbError> + Send + 'static,
    {
        self.stats.enqueued();
        match self.addr.send(Run(Box::new(query))).await {
            Ok(result) => result,
            Err(e) => {
                self.stats.dequeued();
                Err(DbError::Connection(format!("DbExecutor unavailable: {e}")))
            }
        }
    }
}

/// The handle everyone else uses: `db.run(|conn| queries::...(conn)).await` for writes,
/// `db.run_inbox` for the inbox's writes, `db.read` for reads. On SQLite each is its own thread
/// group and connection (the main file's writer, the inbox file's writer, readers of both), so an
/// ack or a health page never waits behind a pipeline transaction; on PostgreSQL all three are the
/// one pool's workers.
#[derive(Clone)]
pub struct Db {
    writer: Executor,
    inbox_writer: Executor,
    readers: Executor,
    pub is_sqlite: bool,
}

impl Db {
    /// `threads` workers for PostgreSQL's pool (as many as it has connections), or SQLite's
    /// readers; SQLite's writers get one each. On PostgreSQL the acks get workers of their own
    /// (two of the pool's), so an answer never queues behind the pipeline's transactions.
    pub fn start(pools: Pools, threads: usize, stats: Arc<ActorStats>) -> Db {
        let is_sqlite = pools.is_sqlite;
        let (writer, inbox_writer) = match (pools.inbox_writer, is_sqlite) {
            (Some(inbox_pool), _) => (
                Executor::start(pools.writer, 1, stats.clone(), Priority::Backlog),
                Executor::start(inbox_pool, 1, stats.clone(), Priority::Answers),
            ),
            (None, false) => {
                let ack_threads = if threads >= 4 { 2 } else { 1 };
                let writer_threads = threads.saturating_sub(ack_threads).max(1);
                (
                    // Its reads share these threads, and its pipeline's CPU is the server's.
                    Executor::start(
                        pools.writer.clone(),
                        writer_threads,
                        stats.clone(),
                        Priority::Answers,
                    ),
                    Executor::start(pools.writer, ack_threads, stats.clone(), Priority::Answers),
                )
            }
            // SQLite with its inbox in the main file (tests): one writer for both.
            (None, true) => {
                let writer =
                    Executor::start(pools.writer, threads, stats.clone(), Priority::Answers);
                (writer.clone(), writer)
            }
        };
        let readers = match pools.readers {
            Some(pool) => Executor::start(pool, threads, stats, Priority::Answers),
            None => writer.clone(),
        };
        Db {
            writer,
            inbox_writer,
            readers,
            is_sqlite,
        }
    }

    /// A write to the main database (leads, jobs, settings).
    pub async fn run<T, F>(&self, query: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, DbError> + Send + 'static,
    {
        self.writer.run(query).await
    }

    /// A write to the inbox, blocked-IP leads or ignored webhooks (what an answer waits for).
    pub async fn run_inbox<T, F>(&self, query: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, DbError> + Send + 'static,
    {
        self.inbox_writer.run(query).await
    }

    /// Work for the inbox's writer that nobody waits on (the ack path's group commits, which
    /// answer their requests themselves), skipped if `wanted` says no when its turn comes.
    pub fn fire_inbox_if<F>(&self, wanted: impl Fn() -> bool + Send + 'static, query: F)
    where
        F: FnOnce(&mut AnyConnection) -> Result<(), DbError> + Send + 'static,
    {
        self.inbox_writer.fire_if(wanted, query)
    }

    /// A read of anything; on SQLite a WAL reader, which no writer blocks.
    pub async fn read<T, F>(&self, query: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, DbError> + Send + 'static,
    {
        self.readers.run(query).await
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn niceness_of_this_thread() -> i32 {
        // SAFETY: reads this thread's priority.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[test]
    fn a_worker_rebuilt_on_its_thread_is_lowered_once_not_again() {
        let (first, second) = std::thread::spawn(|| {
            yield_cpu_to_answers();
            let first = niceness_of_this_thread();
            yield_cpu_to_answers();
            (first, niceness_of_this_thread())
        })
        .join()
        .unwrap();
        // SAFETY: reads the process's priority.
        let process =
            unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::getpid() as libc::id_t) };
        assert_eq!(first, (process + BACKLOG_NICENESS).min(19));
        assert_eq!(second, first);
    }
}
