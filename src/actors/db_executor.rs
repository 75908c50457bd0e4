//! DbExecutor: Diesel workers on their own threads over the r2d2 pool. Every query runs here,
//! so blocking database calls never stall the HTTP workers.
//!
//! Failure policy: a query error is returned to the caller; a panic in a query is caught, the
//! worker stops and `SyncArbiter` builds a fresh one (counted as a restart). Work is in tables,
//! so nothing is lost with the worker.

use super::health::{run_guarded, ActorStats};
use crate::store::{AnyConnection, DbError, Pool};
use actix::prelude::*;
use std::sync::Arc;

pub struct DbExecutor {
    pool: Pool,
    stats: Arc<ActorStats>,
}

impl Actor for DbExecutor {
    type Context = SyncContext<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
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
        let pool = self.pool.clone();
        let outcome = run_guarded(&self.stats, move || {
            let mut conn = pool.get()?;
            (msg.0)(&mut conn)
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

/// The handle everyone else uses: `db.run(|conn| queries::...(conn)).await`.
#[derive(Clone)]
pub struct Db {
    addr: Addr<DbExecutor>,
    stats: Arc<ActorStats>,
    pub is_sqlite: bool,
}

impl Db {
    pub fn start(pool: Pool, threads: usize, stats: Arc<ActorStats>, is_sqlite: bool) -> Db {
        let worker_stats = stats.clone();
        let addr = SyncArbiter::start(threads, move || DbExecutor {
            pool: pool.clone(),
            stats: worker_stats.clone(),
        });
        Db {
            addr,
            stats,
            is_sqlite,
        }
    }

    pub async fn run<T, F>(&self, query: F) -> Result<T, DbError>
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
