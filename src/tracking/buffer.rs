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

/// Bytes of events that may wait (a hostile flood of 8 KiB events is bounded by this, not by
/// `capacity`).
const MAX_WAITING_BYTES: usize = 32 << 20;
/// How long the pipeline waits for tracking before it scores a batch without the newest events.
pub const PIPELINE_FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Why an event was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    RateLimited,
    Full,
}

#[derive(Default)]
struct Waiting {
    events: std::collections::VecDeque<TrackEvent>,
    bytes: usize,
}

impl Waiting {
    fn take(&mut self, count: usize) -> Vec<TrackEvent> {
        let batch: Vec<TrackEvent> = self.events.drain(..count.min(self.events.len())).collect();
        self.bytes = self
            .bytes
            .saturating_sub(batch.iter().map(TrackEvent::size).sum());
        batch
    }
}

pub struct Tracking {
    waiting: Mutex<Waiting>,
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
            waiting: Mutex::new(Waiting::default()),
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes an event to be written with the next batch, unless a limit says no.
    pub fn admit(&self, event: TrackEvent, address: Option<IpAddr>) -> Result<(), Refused> {
        let refuse = |why| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            Err(why)
        };
        // The address first: a flood from one address does not fill the visitor table.
        if address.is_some_and(|a| self.by_address.check_key(&address_key(a)).is_err())
            || self.by_visitor.check_key(&event.visitor_id).is_err()
        {
            return refuse(Refused::RateLimited);
        }
        let waiting = {
            let mut waiting = self.lock();
            if waiting.events.len() >= self.capacity || waiting.bytes >= MAX_WAITING_BYTES {
                drop(waiting);
                return refuse(Refused::Full);
            }
            waiting.bytes += event.size();
            waiting.events.push_back(event);
            waiting.events.len()
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
            "waiting": self.lock().events.len(),
            "written": self.written.load(Ordering::Relaxed),
            "refused": self.refused.load(Ordering::Relaxed),
        })
    }

    /// Writes the events waiting when it starts (after a batch already being written), not those
    /// that arrive meanwhile, so it ends however fast events come; returns how many it wrote.
    pub async fn flush(&self, db: &Db) -> Result<usize, String> {
        let _writing = self.writing.lock().await;
        let mut remaining = self.lock().events.len();
        let mut total = 0;
        while remaining > 0 {
            let batch = self.lock().take(remaining.min(MAX_BATCH));
            if batch.is_empty() {
                break;
            }
            remaining -= batch.len();
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
        Ok(total)
    }

    /// A batch the database did not take waits again, ahead of newer events (within capacity).
    fn put_back(&self, mut batch: Vec<TrackEvent>) {
        let mut waiting = self.lock();
        let room = self.capacity.saturating_sub(waiting.events.len());
        let lost = batch.len().saturating_sub(room);
        batch.truncate(room);
        waiting.bytes += batch.iter().map(TrackEvent::size).sum::<usize>();
        for event in batch.into_iter().rev() {
            waiting.events.push_front(event);
        }
        drop(waiting);
        if lost > 0 {
            self.refused.fetch_add(lost as u64, Ordering::Relaxed);
            log::warn!("tracking.events_dropped count={lost} reason=backlog_full");
        }
    }

    /// Writes waiting events every `FLUSH_EVERY`, or at once when many wait; forgets idle keys
    /// of the rate limits once a minute.
    pub async fn run_flusher(self: Arc<Self>, db: Db) {
        let mut last_cleanup = std::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(FLUSH_EVERY) => {}
                _ = self.wake.notified() => {}
            }
            if let Err(e) = self.flush(&db).await {
                log::warn!("tracking.write_failed error={e}");
                tokio::time::sleep(FLUSH_EVERY).await;
            }
            // By the clock: under a flood the flusher is woken constantly, and that is when it matters.
            if last_cleanup.elapsed() >= Duration::from_secs(60) {
                last_cleanup = std::time::Instant::now();
                self.by_visitor.retain_recent();
                self.by_address.retain_recent();
                self.by_visitor.shrink_to_fit();
                self.by_address.shrink_to_fit();
            }
        }
    }
}

/// The rate limit's key for an address: IPv6 by its /64 (one subscriber's network), IPv4 whole.
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
        v4 => v4,
    }
}
