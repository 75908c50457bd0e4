//! Tracking events between their `204` and the database: rate-limited per visitor and per client
//! address, gathered in memory and written in batches on the main database's writer (never the
//! inbox's, so they cannot slow an ack). The pipeline flushes what waits before it scores a batch,
//! so an event answered before a lead's submission always counts for it.
//!
//! Failure policy: tracking is not a lead. Past `capacity` waiting events, or past a rate limit, an
//! event is refused (`503` / `429`) and not stored; a batch the database refuses goes back to wait
//! for the next flush; a crash loses the events of the last flush interval (about 250 ms).

use super::TrackEvent;
use crate::actors::db_executor::Db;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often waiting events are written when nothing else asks for it.
const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Waiting events that start a flush at once.
const FLUSH_AT: usize = 2_000;
/// Most events written in one transaction.
const MAX_BATCH: usize = 5_000;
/// A visitor's page: a page view, a heartbeat every 15 s and a leave per page; a loop gets cut off.
const VISITOR_PER_SECOND: u32 = 2;
const VISITOR_BURST: u32 = 30;
/// An address may be an office or a mobile carrier's NAT: many visitors.
const ADDRESS_PER_SECOND: u32 = 200;
const ADDRESS_BURST: u32 = 1_000;

/// Why an event was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    RateLimited,
    Full,
}

pub struct Tracking {
    waiting: Mutex<Vec<TrackEvent>>,
    capacity: usize,
    /// Held while a batch is being written: a flush that finds it held waits for that batch too.
    writing: tokio::sync::Mutex<()>,
    wake: tokio::sync::Notify,
    by_visitor: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    accepted: AtomicU64,
    written: AtomicU64,
    refused: AtomicU64,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    let nonzero = |n: u32| NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(nonzero(per_second)).allow_burst(nonzero(burst))
}

impl Tracking {
    pub fn new(capacity: usize) -> Tracking {
        Tracking {
            waiting: Mutex::new(Vec::new()),
            capacity,
            writing: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            by_visitor: RateLimiter::keyed(quota(VISITOR_PER_SECOND, VISITOR_BURST)),
            by_address: RateLimiter::keyed(quota(ADDRESS_PER_SECOND, ADDRESS_BURST)),
            accepted: AtomicU64::new(0),
            written: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<TrackEvent>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes an event to be written with the next batch, unless a limit says no.
    pub fn admit(&self, event: TrackEvent, address: Option<IpAddr>) -> Result<(), Refused> {
        let refuse = |why| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            Err(why)
        };
        // The address first: a flood from one address does not fill the visitor table.
        if address.is_some_and(|a| self.by_address.check_key(&a).is_err())
            || self.by_visitor.check_key(&event.visitor_id).is_err()
        {
            return refuse(Refused::RateLimited);
        }
        let waiting = {
            let mut waiting = self.lock();
            if waiting.len() >= self.capacity {
                drop(waiting);
                return refuse(Refused::Full);
            }
            waiting.push(event);
            waiting.len()
        };
        self.accepted.fetch_add(1, Ordering::Relaxed);
        if waiting >= FLUSH_AT {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// For `/admin/health`: events taken, waiting for their batch, written and refused since the start.
    pub fn figures(&self) -> serde_json::Value {
        serde_json::json!({
            "accepted": self.accepted.load(Ordering::Relaxed),
            "waiting": self.lock().len(),
            "written": self.written.load(Ordering::Relaxed),
            "refused": self.refused.load(Ordering::Relaxed),
        })
    }

    /// Writes everything waiting now (and waits for a batch already being written); returns how
    /// many events it wrote.
    pub async fn flush(&self, db: &Db) -> Result<usize, String> {
        let _writing = self.writing.lock().await;
        let mut total = 0;
        loop {
            let batch: Vec<TrackEvent> = {
                let mut waiting = self.lock();
                let take = waiting.len().min(MAX_BATCH);
                waiting.drain(..take).collect()
            };
            if batch.is_empty() {
                return Ok(total);
            }
            let count = batch.len();
            let kept = batch.clone();
            let written = db
                .run(move |conn| crate::store::tracking::write_events(conn, &batch))
                .await;
            if let Err(e) = written {
                self.put_back(kept);
                return Err(e.to_string());
            }
            self.written.fetch_add(count as u64, Ordering::Relaxed);
            total += count;
        }
    }

    /// A batch the database did not take waits again, ahead of newer events (within capacity).
    fn put_back(&self, mut batch: Vec<TrackEvent>) {
        let mut waiting = self.lock();
        let room = self.capacity.saturating_sub(waiting.len());
        let lost = batch.len().saturating_sub(room);
        batch.truncate(room);
        batch.append(&mut waiting);
        *waiting = batch;
        drop(waiting);
        if lost > 0 {
            self.refused.fetch_add(lost as u64, Ordering::Relaxed);
            log::warn!("tracking.events_dropped count={lost} reason=backlog_full");
        }
    }

    /// Writes waiting events every `FLUSH_EVERY`, or at once when many wait; forgets idle keys
    /// of the rate limits once a minute.
    pub async fn run_flusher(self: Arc<Self>, db: Db) {
        let mut since_cleanup = Duration::ZERO;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(FLUSH_EVERY) => since_cleanup += FLUSH_EVERY,
                _ = self.wake.notified() => {}
            }
            if let Err(e) = self.flush(&db).await {
                log::warn!("tracking.write_failed error={e}");
                tokio::time::sleep(FLUSH_EVERY).await;
            }
            if since_cleanup >= Duration::from_secs(60) {
                since_cleanup = Duration::ZERO;
                self.by_visitor.retain_recent();
                self.by_address.retain_recent();
            }
        }
    }
}
