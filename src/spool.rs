//! The spool: where a submission goes when the database cannot take it, so that the client still
//! gets its answer and nothing is lost. One JSON record per line, fsynced before the answer;
//! drained into the inbox (with its original public id, exactly once) when the database is back.

use crate::db::models::NewInboxRow;
use crate::intake::submission::PreForwarded;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: crate::db::now(),
            received_at,
        }
    }
}

pub struct Spool {
    path: PathBuf,
    file: Mutex<File>,
}

impl Spool {
    pub fn open(path: &Path) -> std::io::Result<Spool> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        // A torn last line (a crash mid-write) must not swallow the next record.
        let bytes = std::fs::read(path)?;
        if bytes.last().is_some_and(|b| *b != b'\n') {
            file.write_all(b"\n")?;
            file.sync_data()?;
        }
        Ok(Spool {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Appends and fsyncs one record; the caller answers the client only after this.
    pub fn append(&self, record: &SpoolRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let before = file.metadata()?.len();
        let written = file
            .write_all(line.as_bytes())
            .and_then(|()| file.sync_data());
        if written.is_err() {
            // A partial line must not glue itself to the next record.
            let _ = file.set_len(before).and_then(|()| file.sync_data());
        }
        written
    }

    /// Every complete record. A torn last line (a crash mid-write, never acknowledged) is skipped.
    pub fn records(&self) -> std::io::Result<Vec<SpoolRecord>> {
        let _guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        read_records(&self.path)
    }

    pub fn pending(&self) -> usize {
        self.records().map(|r| r.len()).unwrap_or(0)
    }

    /// Removes the first `count` records (those just written to the database), keeping any
    /// appended since; the rewrite is atomic (temporary file, fsync, rename).
    pub fn remove_first(&self, count: usize) -> std::io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let remaining: Vec<SpoolRecord> =
            read_records(&self.path)?.into_iter().skip(count).collect();
        let tmp = self.path.with_extension("spool.tmp");
        let mut out = File::create(&tmp)?;
        for record in &remaining {
            let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.sync_all()?;
        // The handle to append to is opened before the rename, so it is the file that stays.
        let replacement = OpenOptions::new().append(true).open(&tmp)?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        *file = replacement;
        Ok(())
    }
}

fn read_records(path: &Path) -> std::io::Result<Vec<SpoolRecord>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut records = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(record) => records.push(record),
            Err(e) => log::warn!("spool.unreadable_line error={e}"),
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> SpoolRecord {
        SpoolRecord {
            public_id: id.into(),
            kind: "website".into(),
            account_id: "a".into(),
            body: "{}".into(),
            meta_json: r#"{"received_at_ms": 1}"#.into(),
            received_at_ms: 1,
            pre_forwarded: None,
        }
    }

    #[test]
    fn append_read_and_remove_keep_later_records() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("x.spool")).unwrap();
        spool.append(&record("1")).unwrap();
        spool.append(&record("2")).unwrap();
        let drained = spool.records().unwrap();
        spool.append(&record("3")).unwrap();
        spool.remove_first(drained.len()).unwrap();
        let left: Vec<String> = spool
            .records()
            .unwrap()
            .into_iter()
            .map(|r| r.public_id)
            .collect();
        assert_eq!(left, vec!["3"]);
        spool.append(&record("4")).unwrap();
        assert_eq!(spool.pending(), 2);
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.spool");
        let spool = Spool::open(&path).unwrap();
        spool.append(&record("1")).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"public_id\": \"2\", \"ki")
            .unwrap();
        assert_eq!(spool.records().unwrap().len(), 1);
    }
}
