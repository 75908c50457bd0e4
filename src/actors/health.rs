//! What each actor reports to `/admin/health`: status, restarts, work done, failures.

use serde_json::{json, Value};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

const RUNNING: u8 = 0;
const RESTARTING: u8 = 1;
const STOPPED: u8 = 2;

#[derive(Debug)]
pub struct ActorStats {
    pub name: &'static str,
    status: AtomicU8,
    restarts: AtomicU64,
    processed: AtomicU64,
    failed: AtomicU64,
    mailbox: AtomicI64,
    last_error: Mutex<Option<String>>,
    crash_requested: AtomicBool,
}

impl ActorStats {
    pub fn new(name: &'static str) -> Arc<Self> {
        Arc::new(ActorStats {
            name,
            status: AtomicU8::new(STOPPED),
            restarts: AtomicU64::new(0),
            processed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            mailbox: AtomicI64::new(0),
            last_error: Mutex::new(None),
            crash_requested: AtomicBool::new(false),
        })
    }

    pub fn set_running(&self) {
        self.status.store(RUNNING, Ordering::SeqCst);
    }

    pub fn set_stopped(&self) {
        self.status.store(STOPPED, Ordering::SeqCst);
    }

    pub fn is_running(&self) -> bool {
        self.status.load(Ordering::SeqCst) == RUNNING
    }

    /// A message is on its way to this actor.
    pub fn enqueued(&self) {
        self.mailbox.fetch_add(1, Ordering::Relaxed);
    }

    /// A message left the mailbox (handled, or dropped with a restart).
    pub fn dequeued(&self) {
        let _ = self
            .mailbox
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some((n - 1).max(0))
            });
    }

    pub fn record_processed(&self, count: u64) {
        self.processed.fetch_add(count, Ordering::Relaxed);
    }

    pub fn record_error(&self, error: &str) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
    }

    /// The actor failed and is being replaced.
    pub fn record_crash(&self, error: &str) {
        self.record_error(error);
        self.restarts.fetch_add(1, Ordering::SeqCst);
        self.status.store(RESTARTING, Ordering::SeqCst);
        log::error!("actor.restarting actor={} error={}", self.name, error);
    }

    pub fn request_crash(&self) {
        self.crash_requested.store(true, Ordering::SeqCst);
    }

    pub fn to_json(&self) -> Value {
        let status = match self.status.load(Ordering::SeqCst) {
            RUNNING => "running",
            RESTARTING => "restarting",
            _ => "stopped",
        };
        json!({
            "status": status,
            "restarts": self.restarts.load(Ordering::SeqCst),
            "processed": self.processed.load(Ordering::Relaxed),
            "failed": self.failed.load(Ordering::Relaxed),
            "mailbox": self.mailbox.load(Ordering::Relaxed),
            "last_error": *self.last_error.lock().unwrap_or_else(|e| e.into_inner()),
        })
    }
}

/// A handler body that panicked (or was told to crash).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{actor} crashed: {message}")]
pub struct ActorCrash {
    pub actor: &'static str,
    pub message: String,
}

/// Runs a handler body. A panic, or a crash requested through the test endpoint, is caught,
/// recorded, and returned so the caller can stop the actor and let it be restarted.
pub fn run_guarded<T>(stats: &ActorStats, body: impl FnOnce() -> T) -> Result<T, ActorCrash> {
    stats.dequeued();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if stats.crash_requested.swap(false, Ordering::SeqCst) {
            panic!("crash requested through /admin/actors/{}/crash", stats.name);
        }
        body()
    }));
    outcome.map_err(|panic| {
        let crash = ActorCrash {
            actor: stats.name,
            message: panic_message(&panic),
        };
        stats.record_crash(&crash.message);
        crash
    })
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".into()
    }
}

/// Every actor that exists, by name.
#[derive(Debug, Default)]
pub struct Registry {
    actors: Vec<Arc<ActorStats>>,
}

impl Registry {
    pub fn register(&mut self, name: &'static str) -> Arc<ActorStats> {
        let stats = ActorStats::new(name);
        self.actors.push(stats.clone());
        stats
    }

    pub fn get(&self, name: &str) -> Option<&Arc<ActorStats>> {
        self.actors.iter().find(|a| a.name == name)
    }

    pub fn all_running(&self) -> bool {
        self.actors.iter().all(|a| a.is_running())
    }

    pub fn to_json(&self) -> Value {
        Value::Object(
            self.actors
                .iter()
                .map(|a| (a.name.to_string(), a.to_json()))
                .collect(),
        )
    }
}
