//! Appends from the async threads: the fsync never runs on an HTTP worker.

use super::{Spool, SpoolRecord};

/// Appends from the async threads: a thread of its own takes every record waiting and writes
/// them with one fsync, so an outage under load costs one fsync per group, not per request.
#[derive(Clone)]
pub struct SpoolWriter {
    tx: std::sync::mpsc::Sender<(
        SpoolRecord,
        tokio::sync::oneshot::Sender<std::io::Result<()>>,
    )>,
}

impl SpoolWriter {
    pub fn start(spool: std::sync::Arc<Spool>) -> SpoolWriter {
        let (tx, rx) = std::sync::mpsc::channel::<(
            SpoolRecord,
            tokio::sync::oneshot::Sender<std::io::Result<()>>,
        )>();
        std::thread::Builder::new()
            .name("spool-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // A group of at most 512 records and about 64 MiB, written with one fsync.
                    let mut size = first.0.body.len();
                    let mut group = vec![first];
                    while group.len() < 512 && size < 64 << 20 {
                        match rx.try_recv() {
                            Ok(next) => {
                                size += next.0.body.len();
                                group.push(next);
                            }
                            Err(_) => break,
                        }
                    }
                    let (records, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
                    for (reply, result) in replies.into_iter().zip(spool.append(&records)) {
                        let _ = reply.send(result);
                    }
                }
            })
            .expect("a thread for the spool writer");
        SpoolWriter { tx }
    }

    /// Resolves once the record is fsynced (or could not be).
    pub async fn append(&self, record: SpoolRecord) -> std::io::Result<()> {
        let (reply, done) = tokio::sync::oneshot::channel();
        self.tx
            .send((record, reply))
            .map_err(|_| std::io::Error::other("the spool writer has stopped"))?;
        done.await
            .map_err(|_| std::io::Error::other("the spool writer dropped the record"))?
    }
}
