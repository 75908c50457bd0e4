//! The spool: where a submission goes when the database cannot take it, so that the client still
//! gets its answer and nothing is lost. One JSON record per line, fsynced before the answer;
//! drained into the inbox (with its original public id, exactly once) when the database is back.
//!
//! Failure policy: nothing in the spool is ever deleted unread. Every record starts on a fresh
//! line, so a torn or damaged line cannot swallow the next one; a line that cannot be read is
//! moved to `<spool>.quarantine` (logged, counted in `/admin/health`) and draining goes on. The
//! drain reads bounded batches from a cursor (`<spool>.cursor`) instead of the whole file, and the
//! file is emptied once everything in it has been written to the database. A cursor that falls
//! behind after a crash only re-offers records the inbox already has, which are skipped.

use crate::sources::submission::PreForwarded;
use crate::store::models::NewInboxRow;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

mod writer;
pub use writer::SpoolWriter;

/// One spooled submission: the inbox row it will become, and the send made meanwhile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpoolRecord {
    pub public_id: String,
    pub kind: String,
    pub account_id: String,
    pub body: String,
    pub meta_json: String,
    pub received_at_ms: i64,
    pub pre_forwarded: Option<PreForwarded>,
}

impl SpoolRecord {
    /// The inbox row, with the send (and whether it got through) recorded in its meta.
    pub fn inbox_row(&self, delivered: bool) -> NewInboxRow {
        let mut meta: serde_json::Value = serde_json::from_str(&self.meta_json).unwrap_or_default();
        if let (Some(pre), Some(map)) = (&self.pre_forwarded, meta.as_object_mut()) {
            let pre = PreForwarded {
                delivered,
                ..pre.clone()
            };
            map.insert(
                "pre_forwarded".into(),
                serde_json::to_value(pre).unwrap_or_default(),
            );
        }
        let received_at = chrono::DateTime::from_timestamp_millis(self.received_at_ms)
            .unwrap_or_else(chrono::Utc::now)
            .naive_utc();
        NewInboxRow {
            public_id: self.public_id.clone(),
            kind: self.kind.clone(),
            account_id: self.account_id.clone(),
            body: self.body.clone(),
            meta_json: meta.to_string(),
            status: crate::store::models::InboxStatus::Pending.as_str().into(),
            attempts: 0,
            next_attempt_at: crate::store::now(),
            received_at,
        }
    }
}

/// One line of a batch read from the spool: a record, or the text of a line that is not one.
#[derive(Debug)]
pub struct SpoolEntry {
    pub record: Result<SpoolRecord, String>,
    /// The file offset just after this line: where the cursor goes once it is drained.
    pub end: u64,
}

struct SpoolFile {
    file: File,
    len: u64,
    cursor: u64,
}

pub struct Spool {
    path: PathBuf,
    cursor_path: PathBuf,
    quarantine_path: PathBuf,
    max_bytes: u64,
    inner: Mutex<SpoolFile>,
    pending: AtomicU64,
    quarantined: AtomicU64,
    /// The file's length and the bytes after the cursor, readable without waiting for an fsync.
    bytes: AtomicU64,
    unread: AtomicU64,
    full: AtomicBool,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

impl Spool {
    /// Opens (or creates) the spool. `max_bytes` caps the file: past it a submission is refused
    /// (the client is told to retry) rather than filling the disk.
    pub fn open(path: &Path, max_bytes: u64) -> std::io::Result<Spool> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        // Two processes on one spool would truncate each other's records.
        file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => std::io::Error::other(
                "another leadgate process has this spool open (give each instance its own SPOOL_PATH)",
            ),
            std::fs::TryLockError::Error(e) => e,
        })?;
        let mut len = file.metadata()?.len();
        // A torn last line (a crash mid-write, never acknowledged) is closed, to be quarantined.
        if len > 0 && last_byte(&mut file, len)? != b'\n' {
            file.write_all(b"\n")?;
            file.sync_data()?;
            len += 1;
        }
        let cursor_path = with_suffix(path, ".cursor");
        let cursor = read_cursor(&cursor_path)?
            .filter(|c| *c <= len)
            .unwrap_or(0);
        let quarantine_path = with_suffix(path, ".quarantine");
        let spool = Spool {
            pending: AtomicU64::new(count_lines(path, cursor)?),
            quarantined: AtomicU64::new(count_lines(&quarantine_path, 0)?),
            path: path.to_path_buf(),
            cursor_path,
            quarantine_path,
            max_bytes,
            inner: Mutex::new(SpoolFile { file, len, cursor }),
            bytes: AtomicU64::new(len),
            unread: AtomicU64::new(len - cursor),
            full: AtomicBool::new(false),
        };
        Ok(spool)
    }

    /// Records waiting to be drained (unreadable lines included until they are quarantined).
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    pub fn quarantined(&self) -> u64 {
        self.quarantined.load(Ordering::SeqCst)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }

    /// Whether anything after the cursor is still to be read (the drain's condition: it trusts
    /// the file, not the record count).
    pub fn has_unread(&self) -> bool {
        self.unread.load(Ordering::SeqCst) > 0
    }

    fn publish(&self, spool: &SpoolFile) {
        self.bytes.store(spool.len, Ordering::SeqCst);
        self.unread
            .store(spool.len.saturating_sub(spool.cursor), Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SpoolFile> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends the records that fit under the cap (bytes not yet drained) and fsyncs once; each
    /// caller answers its client only after this. Blocking: call it off the async threads (see
    /// `SpoolWriter`). One result per record, in order.
    pub fn append(&self, records: &[SpoolRecord]) -> Vec<std::io::Result<()>> {
        let mut spool = self.lock();
        // The file's own length, in case something else wrote to it.
        match spool.file.metadata() {
            Ok(meta) => spool.len = meta.len(),
            Err(e) => return records.iter().map(|_| Err(copy_error(&e))).collect(),
        }
        let before = spool.len;
        let mut text = String::new();
        // Every record starts on a fresh line, whatever the file ends with.
        if before > 0 && !matches!(last_byte(&mut spool.file, before), Ok(b'\n')) {
            text.push('\n');
        }
        let mut taken = 0;
        for record in records {
            let line = match serde_json::to_string(record) {
                Ok(line) => line,
                Err(_) => break,
            };
            let unread = before - spool.cursor.min(before) + text.len() as u64;
            if unread + line.len() as u64 + 1 > self.max_bytes {
                break;
            }
            text.push_str(&line);
            text.push('\n');
            taken += 1;
        }
        let written = match taken {
            0 => Ok(()),
            _ => spool
                .file
                .write_all(text.as_bytes())
                .and_then(|()| spool.file.sync_data()),
        };
        let outcome = match written {
            Ok(()) => {
                if taken > 0 {
                    spool.len += text.len() as u64;
                    self.pending.fetch_add(taken as u64, Ordering::SeqCst);
                }
                Ok(())
            }
            Err(e) => {
                // A partial line is cut back; if even that fails, the next record starts a line.
                let _ = spool
                    .file
                    .set_len(before)
                    .and_then(|()| spool.file.sync_data());
                spool.len = spool.file.metadata().map(|m| m.len()).unwrap_or(before);
                Err(e)
            }
        };
        self.publish(&spool);
        if taken < records.len() && !self.full.swap(true, Ordering::SeqCst) {
            log::error!(
                "spool.full path={} unread_bytes={} max_bytes={}: submissions the database cannot take are refused (503) until it drains",
                self.path.display(),
                spool.len.saturating_sub(spool.cursor),
                self.max_bytes
            );
        }
        records
            .iter()
            .enumerate()
            .map(|(i, _)| match (&outcome, i < taken) {
                (Ok(()), true) => Ok(()),
                (Err(e), true) => Err(copy_error(e)),
                (_, false) => Err(std::io::Error::other("the spool is full")),
            })
            .collect()
    }

    /// Up to `max_records` lines (and about `max_bytes`) from the cursor on. Blocking.
    pub fn read_batch(
        &self,
        max_records: usize,
        max_bytes: u64,
    ) -> std::io::Result<Vec<SpoolEntry>> {
        let (cursor, len) = {
            let spool = self.lock();
            (spool.cursor, spool.len)
        };
        let mut reader = BufReader::new(File::open(&self.path)?);
        reader.seek(SeekFrom::Start(cursor))?;
        let mut entries = Vec::new();
        let (mut offset, mut read) = (cursor, 0u64);
        let mut line = Vec::new();
        while offset < len && entries.len() < max_records && read < max_bytes {
            line.clear();
            let n = (&mut reader)
                .take(len - offset)
                .read_until(b'\n', &mut line)? as u64;
            if n == 0 || line.last() != Some(&b'\n') {
                break; // only complete lines: an append may be under way beyond `len`
            }
            offset += n;
            read += n;
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let record = serde_json::from_str::<SpoolRecord>(text).map_err(|e| {
                log::warn!("spool.unreadable_line offset={} error={e}", offset - n);
                text.to_string()
            });
            entries.push(SpoolEntry {
                record,
                end: offset,
            });
        }
        // Blank lines at the end of the file are consumed with the batch, so the file can empty.
        if offset == len {
            if let Some(last) = entries.last_mut() {
                last.end = len;
            }
        }
        Ok(entries)
    }

    /// These entries (the start of the last batch) are in the database, or unreadable: quarantines
    /// the unreadable ones, moves the cursor past them all, and empties the file once everything
    /// in it is drained.
    pub fn consume(&self, entries: &[SpoolEntry]) -> std::io::Result<()> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let unreadable: Vec<&String> = entries
            .iter()
            .filter_map(|e| e.record.as_ref().err())
            .collect();
        if !unreadable.is_empty() {
            self.quarantine(&unreadable)?;
        }
        let mut spool = self.lock();
        let cursor = last.end.min(spool.len);
        if cursor == spool.len {
            // Everything is drained: the cursor is reset on disk first, then the file emptied. A
            // crash between the two re-offers records the inbox already has (skipped); the other
            // order could leave an old cursor pointing into new records.
            write_cursor(&self.cursor_path, 0)?;
            spool.file.set_len(0)?;
            spool.file.sync_data()?;
            spool.len = 0;
            spool.cursor = 0;
            self.full.store(false, Ordering::SeqCst);
        } else {
            write_cursor(&self.cursor_path, cursor)?;
            spool.cursor = cursor;
        }
        self.publish(&spool);
        let _ = self
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_sub(entries.len() as u64))
            });
        Ok(())
    }

    fn quarantine(&self, lines: &[&String]) -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.quarantine_path)?;
        for line in lines {
            // One line each, whatever they held.
            file.write_all(line.replace('\n', " ").as_bytes())?;
            file.write_all(b"\n")?;
        }
        file.sync_data()?;
        self.quarantined
            .fetch_add(lines.len() as u64, Ordering::SeqCst);
        log::error!(
            "spool.quarantined lines={} path={}: unreadable spool lines were set aside for an operator",
            lines.len(),
            self.quarantine_path.display()
        );
        Ok(())
    }
}

fn last_byte(file: &mut File, len: u64) -> std::io::Result<u8> {
    let mut byte = [0u8; 1];
    let mut reader = &*file;
    reader.seek(SeekFrom::Start(len - 1))?;
    reader.read_exact(&mut byte)?;
    Ok(byte[0])
}

/// Complete, non-blank lines from `offset` on; a missing file has none.
fn count_lines(path: &Path, offset: u64) -> std::io::Result<u64> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(offset))?;
    let mut count = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(count);
        }
        if line.iter().any(|b| !b.is_ascii_whitespace()) {
            count += 1;
        }
    }
}

fn read_cursor(path: &Path) -> std::io::Result<Option<u64>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().parse().ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Written aside and renamed over (the folder fsynced), so a crash leaves the old cursor or the
/// new one.
fn write_cursor(path: &Path, cursor: u64) -> std::io::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    let mut out = File::create(&tmp)?;
    out.write_all(cursor.to_string().as_bytes())?;
    out.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn copy_error(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}

#[cfg(test)]
mod tests;
