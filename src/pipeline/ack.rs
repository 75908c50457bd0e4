//! Group commit for the ack path: writes that arrive while a commit is in flight are committed
//! together by the next one, so one fsync acknowledges many requests.
//!
//! Failure policy: an answer does not wait for the database past its deadline (spec: 2 seconds).
//! Each write is claimed by the committer or abandoned by its request, never both: a request
//! whose deadline passes before its write is claimed takes it back (and spools it), and the
//! committer skips it; a claimed write's transaction waits for locks only until the earliest
//! deadline of its group. A group that fails because the database is unavailable fails at once,
//! whole, so every request in it goes to the spool together. A claimed write whose outcome does
//! not come back (a COMMIT without an answer, a hung server) is `Unknown` after a grace period:
//! spooled without being forwarded, so it is stored and forwarded once either way.

use crate::actors::db_executor::Db;
use crate::store::inbox::append_ack_writes;
use crate::store::inbox::AckFailure;
use crate::store::inbox::AckWrite;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most writes in one commit; beyond this the next commit takes the rest.
const MAX_GROUP: usize = 512;
/// How long past its deadline a claimed write's commit is waited for before it is `Unknown`.
const COMMIT_GRACE: Duration = Duration::from_secs(3);

const WAITING: u8 = 0;
const CLAIMED: u8 = 1;
const ABANDONED: u8 = 2;

/// What happened to a write the answer waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    Stored,
    /// Not stored, and never will be by this write: the caller spools it (and forwards it now).
    NotStored(String),
    /// Perhaps stored: the caller spools it without forwarding it now.
    Unknown(String),
}

struct Pending {
    write: AckWrite,
    deadline: Instant,
    claim: Arc<AtomicU8>,
    reply: oneshot::Sender<AckOutcome>,
}

#[derive(Clone)]
pub struct AckWriter {
    db: Db,
    queue: Arc<AckQueue>,
}

/// The writes waiting for a commit. The inbox writer's thread takes them itself, group after
/// group, so a write goes from the request to the committing thread and back: no hop between.
struct AckQueue {
    pending: Mutex<Vec<Pending>>,
    capacity: usize,
}

impl AckWriter {
    /// At most `queue` writes wait; beyond that a write is not stored here (it is spooled).
    pub fn start(db: Db, queue: usize) -> AckWriter {
        let queue = Arc::new(AckQueue {
            pending: Mutex::new(Vec::new()),
            capacity: queue,
        });
        AckWriter { db, queue }
    }

    /// Resolves once the write is committed, or by `deadline` with `NotStored` if it was not
    /// taken up by then (a write already in a commit is waited for: its locks are bounded too).
    pub async fn write(&self, write: AckWrite, deadline: Instant) -> AckOutcome {
        let claim = Arc::new(AtomicU8::new(WAITING));
        let (reply, mut done) = oneshot::channel();
        let pending = Pending {
            write,
            deadline,
            claim: claim.clone(),
            reply,
        };
        {
            let mut waiting = self.queue.pending.lock().unwrap_or_else(|e| e.into_inner());
            if waiting.len() >= self.queue.capacity {
                return AckOutcome::NotStored(format!("{} writes wait already", waiting.len()));
            }
            waiting.push(pending);
        }
        // One nudge per write: the first that reaches the thread commits what waits by then,
        // the rest find the queue empty (or the next group).
        let queue = self.queue.clone();
        self.db.fire_inbox(move |conn| {
            commit_waiting(conn, &queue);
            Ok(())
        });
        tokio::select! {
            outcome = &mut done => outcome.unwrap_or_else(|_| dropped()),
            _ = tokio::time::sleep_until(deadline.into()) => {
                match claim.compare_exchange(WAITING, ABANDONED, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => AckOutcome::NotStored(format!(
                        "the database did not take the write within {} ms",
                        deadline.saturating_duration_since(Instant::now()).as_millis().max(1)
                    )),
                    // Already in a commit: its lock wait ends by the deadline, the fsync soon after.
                    Err(_) => match tokio::time::timeout(COMMIT_GRACE, done).await {
                        Ok(outcome) => outcome.unwrap_or_else(|_| dropped()),
                        Err(_) => AckOutcome::Unknown(format!(
                            "the database did not answer the commit within {} s",
                            COMMIT_GRACE.as_secs()
                        )),
                    },
                }
            }
        }
    }
}

fn dropped() -> AckOutcome {
    AckOutcome::NotStored("the ack writer dropped the write".into())
}

/// Runs on the inbox writer's thread: commits what waits, a group at a time, until nothing does.
/// Replies go straight to the requests. A failure fails its group (the requests spool).
fn commit_waiting(conn: &mut crate::store::AnyConnection, queue: &AckQueue) {
    loop {
        let group: Vec<Pending> = {
            let mut waiting = queue.pending.lock().unwrap_or_else(|e| e.into_inner());
            let take = waiting.len().min(MAX_GROUP);
            waiting.drain(..take).collect()
        };
        if group.is_empty() {
            return;
        }
        let writes: Vec<(&AckWrite, &AtomicU8, Instant)> = group
            .iter()
            .map(|p| (&p.write, p.claim.as_ref(), p.deadline))
            .collect();
        let outcomes = commit_claimed(conn, &writes);
        for (pending, outcome) in group.into_iter().zip(outcomes) {
            let _ = pending.reply.send(outcome);
        }
    }
}

/// Runs on the database thread: claims the writes whose requests still wait, commits them with a
/// lock wait bounded by the earliest deadline, and reports an outcome per write of the group.
fn commit_claimed(
    conn: &mut crate::store::AnyConnection,
    writes: &[(&AckWrite, &AtomicU8, Instant)],
) -> Vec<AckOutcome> {
    let claimed: Vec<bool> = writes
        .iter()
        .map(|(_, claim, _)| {
            claim
                .compare_exchange(WAITING, CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        })
        .collect();
    let to_write: Vec<AckWrite> = writes
        .iter()
        .zip(&claimed)
        .filter(|(_, claimed)| **claimed)
        .map(|((write, _, _), _)| (*write).clone())
        .collect();
    let earliest = writes
        .iter()
        .zip(&claimed)
        .filter(|(_, claimed)| **claimed)
        .map(|((_, _, deadline), _)| *deadline)
        .min();
    let results = match earliest {
        None => Vec::new(),
        Some(deadline) => append_ack_writes(conn, &to_write, deadline),
    };
    let mut results = results.into_iter();
    claimed
        .iter()
        .map(|claimed| match claimed {
            true => match results.next() {
                Some(Ok(())) => AckOutcome::Stored,
                Some(Err(AckFailure::NotStored(e))) => AckOutcome::NotStored(e),
                Some(Err(AckFailure::Unknown(e))) => AckOutcome::Unknown(e),
                None => dropped(),
            },
            false => AckOutcome::NotStored("abandoned before it was written".into()),
        })
        .collect()
}
