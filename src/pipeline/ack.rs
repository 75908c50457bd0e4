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
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

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
    tx: mpsc::Sender<Pending>,
}

impl AckWriter {
    /// Starts the committing loop on the current arbiter.
    pub fn start(db: Db, queue: usize) -> AckWriter {
        let (tx, mut rx) = mpsc::channel::<Pending>(queue);
        actix_rt::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
                commit_group(&db, group).await;
            }
        });
        AckWriter { tx }
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
        let queued = tokio::time::timeout_at(deadline.into(), self.tx.send(pending)).await;
        if !matches!(queued, Ok(Ok(()))) {
            return AckOutcome::NotStored("the ack writer did not take the write in time".into());
        }
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

/// One commit for the writes of the group that are still wanted. If the DbExecutor worker itself
/// failed before claiming them (it is being replaced), the group is offered once more.
async fn commit_group(db: &Db, group: Vec<Pending>) {
    let mut group = group;
    for attempt in 0..2 {
        let writes: Vec<(AckWrite, Arc<AtomicU8>, Instant)> = group
            .iter()
            .map(|p| (p.write.clone(), p.claim.clone(), p.deadline))
            .collect();
        match db
            .run_inbox(move |conn| Ok(commit_claimed(conn, &writes)))
            .await
        {
            Ok(outcomes) => {
                for (pending, outcome) in group.into_iter().zip(outcomes) {
                    let _ = pending.reply.send(outcome);
                }
                return;
            }
            Err(e) if attempt == 0 => {
                log::warn!("ack.group_retry writes={} error={e}", group.len());
                group.retain(|p| !p.reply.is_closed());
            }
            Err(e) => {
                for pending in group {
                    let _ = pending.reply.send(AckOutcome::NotStored(e.to_string()));
                }
                return;
            }
        }
    }
}

/// Runs on the database thread: claims the writes whose requests still wait, commits them with a
/// lock wait bounded by the earliest deadline, and reports an outcome per write of the group.
fn commit_claimed(
    conn: &mut crate::store::AnyConnection,
    writes: &[(AckWrite, Arc<AtomicU8>, Instant)],
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
        .map(|((write, _, _), _)| write.clone())
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
