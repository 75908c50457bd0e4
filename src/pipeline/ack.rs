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

/// The writes waiting for a commit. Each write nudges the inbox writer, whose thread takes what
/// waits by then as one group and answers the requests itself (one hop fewer than a task between).
/// One group per nudge: the pipeline's work for the same thread takes its turns between them.
struct AckQueue {
    pending: Mutex<Vec<Pending>>,
    capacity: usize,
}

impl AckQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a write still waits for a commit (one abandoned by its request does not).
    fn has_waiting(&self) -> bool {
        self.lock().iter().any(Pending::is_wanted)
    }

    /// The next group, the writes nobody waits for any more dropped.
    fn take_group(&self) -> Vec<Pending> {
        let mut waiting = self.lock();
        waiting.retain(Pending::is_wanted);
        let take = waiting.len().min(MAX_GROUP);
        waiting.drain(..take).collect()
    }
}

impl Pending {
    fn is_wanted(&self) -> bool {
        self.claim.load(Ordering::SeqCst) == WAITING && !self.reply.is_closed()
    }
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

    /// Asks the inbox writer for a commit of what waits, if anything does when its turn comes.
    fn nudge(&self) {
        let (wanted, queue) = (self.queue.clone(), self.queue.clone());
        self.db.fire_inbox_if(
            move || wanted.has_waiting(),
            move |conn| {
                commit_group(conn, queue.take_group());
                Ok(())
            },
        );
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
        let refused = {
            let mut waiting = self.queue.lock();
            if waiting.len() >= self.queue.capacity {
                waiting.retain(Pending::is_wanted);
            }
            match waiting.len() >= self.queue.capacity {
                true => Some(waiting.len()),
                false => {
                    waiting.push(pending);
                    None
                }
            }
        };
        // Even a refused write nudges: what waits is committed, and the queue frees up.
        self.nudge();
        if let Some(count) = refused {
            return AckOutcome::NotStored(format!("{count} writes wait already"));
        }
        tokio::select! {
            outcome = &mut done => outcome.unwrap_or_else(|_| dropped(&claim)),
            _ = tokio::time::sleep_until(deadline.into()) => {
                match claim.compare_exchange(WAITING, ABANDONED, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => AckOutcome::NotStored(format!(
                        "the database did not take the write within {} ms",
                        deadline.saturating_duration_since(Instant::now()).as_millis().max(1)
                    )),
                    // Already in a commit: its lock wait ends by the deadline, the fsync soon after.
                    Err(_) => match tokio::time::timeout(COMMIT_GRACE, done).await {
                        Ok(outcome) => outcome.unwrap_or_else(|_| dropped(&claim)),
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

/// The write's answer was dropped (the inbox writer's thread failed): if its group had claimed
/// it, the commit may have happened — spooled without forwarding, so it is forwarded once.
fn dropped(claim: &AtomicU8) -> AckOutcome {
    match claim.load(Ordering::SeqCst) {
        CLAIMED => AckOutcome::Unknown("the inbox writer failed during the commit".into()),
        _ => AckOutcome::NotStored("the inbox writer dropped the write".into()),
    }
}

/// Runs on the inbox writer's thread: one commit for the group, each request answered. The
/// writes move into the commit (a body is not copied on the ack path).
fn commit_group(conn: &mut crate::store::AnyConnection, group: Vec<Pending>) {
    if group.is_empty() {
        return;
    }
    let (writes, replies): (Vec<_>, Vec<_>) = group
        .into_iter()
        .map(|p| ((p.write, p.claim, p.deadline), p.reply))
        .unzip();
    let outcomes = commit_claimed(conn, writes);
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        let _ = reply.send(outcome);
    }
}

/// Runs on the database thread: claims the writes whose requests still wait, commits them with a
/// lock wait bounded by the earliest deadline, and reports an outcome per write of the group.
fn commit_claimed(
    conn: &mut crate::store::AnyConnection,
    writes: Vec<(AckWrite, Arc<AtomicU8>, Instant)>,
) -> Vec<AckOutcome> {
    let claimed: Vec<bool> = writes
        .iter()
        .map(|(_, claim, _)| {
            claim
                .compare_exchange(WAITING, CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        })
        .collect();
    let earliest = writes
        .iter()
        .zip(&claimed)
        .filter(|(_, claimed)| **claimed)
        .map(|((_, _, deadline), _)| *deadline)
        .min();
    let to_write: Vec<AckWrite> = writes
        .into_iter()
        .zip(&claimed)
        .filter(|(_, claimed)| **claimed)
        .map(|((write, _, _), _)| write)
        .collect();
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
                None => AckOutcome::Unknown("no outcome for a claimed write".into()),
            },
            false => AckOutcome::NotStored("abandoned before it was written".into()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::models::NewIgnoredWebhook;

    fn pending(state: u8) -> (Pending, oneshot::Receiver<AckOutcome>) {
        let (reply, answer) = oneshot::channel();
        let write = AckWrite::Ignored(NewIgnoredWebhook {
            platform: "test".into(),
            account_id: None,
            campaign_id: None,
            reason: "test".into(),
            payload_json: "{}".into(),
            received_at: chrono::Utc::now().naive_utc(),
        });
        let pending = Pending {
            write,
            deadline: Instant::now() + Duration::from_secs(2),
            claim: Arc::new(AtomicU8::new(state)),
            reply,
        };
        (pending, answer)
    }

    #[test]
    fn writes_nobody_waits_for_leave_the_queue_and_the_rest_go_in_one_group() {
        let queue = AckQueue {
            pending: Mutex::new(Vec::new()),
            capacity: 8,
        };
        let (abandoned, _a) = pending(ABANDONED);
        let (gone, answer) = pending(WAITING);
        drop(answer);
        let (first, _f) = pending(WAITING);
        let (second, _s) = pending(WAITING);
        queue.lock().extend([abandoned, gone, first, second]);
        assert!(queue.has_waiting());
        let group = queue.take_group();
        assert_eq!(
            group.len(),
            2,
            "the abandoned write and the gone request are dropped"
        );
        assert!(queue.lock().is_empty());
        assert!(!queue.has_waiting());
        assert!(queue.take_group().is_empty());
    }

    #[test]
    fn a_lost_answer_is_unknown_once_the_write_was_claimed() {
        assert!(matches!(
            dropped(&AtomicU8::new(CLAIMED)),
            AckOutcome::Unknown(_)
        ));
        assert!(matches!(
            dropped(&AtomicU8::new(WAITING)),
            AckOutcome::NotStored(_)
        ));
    }
}
