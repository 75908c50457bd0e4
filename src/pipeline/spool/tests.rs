//! The spool file: appends, bounded reads, the cursor, quarantine, the cap, the lock.

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

fn ids(entries: &[SpoolEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| match &e.record {
            Ok(r) => r.public_id.clone(),
            Err(line) => format!("unreadable:{line}"),
        })
        .collect()
}

#[test]
fn drained_records_leave_and_later_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.spool");
    let spool = Spool::open(&path, 1 << 20).unwrap();
    spool.append(&[record("1"), record("2")]);
    let batch = spool.read_batch(100, 1 << 20).unwrap();
    spool.append(&[record("3")]);
    assert_eq!(ids(&batch), ["1", "2"]);
    spool.consume(&batch).unwrap();
    assert_eq!(spool.pending(), 1);
    assert_eq!(ids(&spool.read_batch(100, 1 << 20).unwrap()), ["3"]);
    // The cursor survives a restart: only "3" is offered again.
    drop(spool);
    let spool = Spool::open(&path, 1 << 20).unwrap();
    assert_eq!(spool.pending(), 1);
    let batch = spool.read_batch(100, 1 << 20).unwrap();
    assert_eq!(ids(&batch), ["3"]);
    spool.consume(&batch).unwrap();
    assert_eq!(
        (spool.pending(), spool.bytes()),
        (0, 0),
        "emptied once drained"
    );
}

#[test]
fn batches_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&dir.path().join("x.spool"), 1 << 20).unwrap();
    let records: Vec<_> = (0..10).map(|i| record(&i.to_string())).collect();
    spool.append(&records);
    let first = spool.read_batch(4, 1 << 20).unwrap();
    assert_eq!(ids(&first), ["0", "1", "2", "3"]);
    spool.consume(&first).unwrap();
    let by_bytes = spool.read_batch(100, 1).unwrap();
    assert_eq!(ids(&by_bytes), ["4"], "at least one record per batch");
    assert_eq!(spool.pending(), 6);
}

#[test]
fn a_damaged_line_is_quarantined_and_never_swallows_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.spool");
    let spool = Spool::open(&path, 1 << 20).unwrap();
    spool.append(&[record("1")]);
    // Something wrote half a record without a newline (a torn write, a full disk).
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"public_id\": \"torn\", \"ki")
        .unwrap();
    drop(spool);
    let spool = Spool::open(&path, 1 << 20).unwrap();
    spool.append(&[record("2")]);
    let batch = spool.read_batch(100, 1 << 20).unwrap();
    assert_eq!(
        ids(&batch),
        ["1", "unreadable:{\"public_id\": \"torn\", \"ki", "2"]
    );
    spool.consume(&batch).unwrap();
    assert_eq!(spool.quarantined(), 1);
    let quarantine = std::fs::read_to_string(dir.path().join("x.spool.quarantine")).unwrap();
    assert_eq!(quarantine, "{\"public_id\": \"torn\", \"ki\n");
}

#[test]
fn appends_start_on_a_fresh_line_even_after_damage_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.spool");
    let spool = Spool::open(&path, 1 << 20).unwrap();
    spool.append(&[record("1")]);
    let mut other = OpenOptions::new().append(true).open(&path).unwrap();
    other.write_all(b"garbage").unwrap();
    spool.append(&[record("2")]);
    let batch = spool.read_batch(100, 1 << 20).unwrap();
    assert_eq!(ids(&batch), ["1", "unreadable:garbage", "2"]);
}

#[test]
fn one_spool_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.spool");
    let _first = Spool::open(&path, 1 << 20).unwrap();
    let second = Spool::open(&path, 1 << 20);
    assert!(second.is_err_and(|e| e.to_string().contains("another leadgate process")));
}

#[test]
fn a_full_spool_refuses_instead_of_filling_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&dir.path().join("x.spool"), 300).unwrap();
    spool.append(&[record("1")]);
    // What fits is taken, record by record; the rest is refused.
    let results = spool.append(&[record("2"), record("3")]);
    assert!(results[0].is_ok() && results[1].is_err(), "{results:?}");
    assert_eq!(spool.pending(), 2);
    // Drained bytes do not count against the cap.
    let batch = spool.read_batch(100, 1 << 20).unwrap();
    spool.consume(&batch).unwrap();
    assert!(spool.append(&[record("2")])[0].is_ok());
}
