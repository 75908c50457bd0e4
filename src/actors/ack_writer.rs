//! Group commit for the ack path: writes that arrive while a commit is in flight are committed
//! together by the next one, so one fsync acknowledges many requests.

use super::db_executor::Db;
use crate::db::queries::{append_ack_writes, AckWrite};
use tokio::sync::{mpsc, oneshot};

/// Most writes in one commit; beyond this the next commit takes the rest.
const MAX_GROUP: usize = 512;

type Pending = (AckWrite, oneshot::Sender<Result<(), String>>);

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
                let (writes, replies): (Vec<AckWrite>, Vec<_>) = group.into_iter().unzip();
                let results = commit_group(&db, writes).await;
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
        });
        AckWriter { tx }
    }

    /// Resolves once the write is committed (or has failed).
    pub async fn write(&self, write: AckWrite) -> Result<(), String> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send((write, reply))
            .await
            .map_err(|_| "the ack writer has stopped".to_string())?;
        done.await
            .map_err(|_| "the ack writer dropped the write".to_string())?
    }
}

/// One commit for the group. If the DbExecutor worker itself failed (it is being replaced),
/// the group is tried once more before its requests are told to retry.
async fn commit_group(db: &Db, writes: Vec<AckWrite>) -> Vec<Result<(), String>> {
    let count = writes.len();
    let retry = writes.clone();
    match db
        .run(move |conn| Ok(append_ack_writes(conn, &writes)))
        .await
    {
        Ok(results) => results,
        Err(first) => {
            log::warn!("ack.group_retry writes={count} error={first}");
            db.run(move |conn| Ok(append_ack_writes(conn, &retry)))
                .await
                .unwrap_or_else(|e| vec![Err(e.to_string()); count])
        }
    }
}
