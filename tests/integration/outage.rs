//! The database held by someone else: answers do not wait for it, the spool takes the
//! submissions, forwards them once, and hands them over exactly once when the database is back.

use crate::harness::{production, Daemon, DbLock, TestDb};
use crate::receiver::{Behavior, Receiver};
use serde_json::{json, Value};
use std::time::Duration;

/// Posts from several threads at once; every answer, in order.
fn post_concurrently(d: &Daemon, bodies: &[Value]) -> Vec<u16> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|body| scope.spawn(move || d.post_lead(body).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn people(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| json!({"name": format!("{prefix} {i}"), "email": format!("{prefix}{i}@example.com"), "project": "Locked"}))
        .collect()
}

fn webhook_ids(receiver: &Receiver) -> (usize, usize) {
    let got = receiver.received();
    let mut ids: Vec<String> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    (got.len(), ids.len())
}

fn wait_all_stored(d: &Daemon, count: usize) {
    // Right after the lock goes a request may still meet it: ask again.
    d.wait_until("the spool to drain into leads", || {
        let leads = d.admin("GET", "/admin/leads?limit=500", None);
        let health = d.admin("GET", "/admin/health", None);
        leads.status == 200
            && leads.json()["leads"].as_array().map_or(0, Vec::len) == count
            && health.json()["spool"]["pending"] == 0
            && health.json()["inbox"]["pending"] == 0
    });
}

fn wait_delivered(d: &Daemon, count: usize) {
    d.wait_until("every send recorded as delivered", || {
        d.admin_get("/admin/deliveries?status=delivered&limit=500")["deliveries"]
            .as_array()
            .map_or(0, Vec::len)
            == count
    });
}

#[test]
fn a_held_database_does_not_hold_the_answers() {
    let receiver = Receiver::start(Behavior::Status(200));
    let db = TestDb::new();
    let d = production(&db, &receiver, &[]);
    d.wait_processed();
    let lock = DbLock::hold(&db);
    // The lock is released only after every answer came back: an answer that waited for the
    // database would never come.
    let answers = post_concurrently(&d, &people("held", 20));
    assert_eq!(answers, vec![200; 20]);
    let health = d.health();
    assert_eq!(health["spool"]["pending"], 20, "{health}");
    assert_eq!(health["database"]["status"], "unavailable", "{health}");
    assert_eq!(d.request("GET", "/readyz", &[], None).status, 503);
    receiver.wait_for(20, Duration::from_secs(20));
    assert!(d.logged("lead.persistence_failed"), "{}", d.logs());
    lock.release();
    wait_all_stored(&d, 20);
    wait_delivered(&d, 20);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(webhook_ids(&receiver), (20, 20), "each lead sent once");
    assert_eq!(d.request("GET", "/readyz", &[], None).status, 200);
}

/// The pipeline's tables held (on SQLite the database file, not its inbox file): the answers and
/// the admin reads go on, the backlog and its age show, and the leads follow once it is free.
#[test]
fn acks_do_not_wait_for_the_pipeline() {
    let receiver = Receiver::start(Behavior::Status(200));
    let db = TestDb::new();
    let d = production(&db, &receiver, &[]);
    d.wait_processed();
    let lock = DbLock::hold_pipeline(&db);
    let answers = post_concurrently(&d, &people("queued", 20));
    assert_eq!(answers, vec![200; 20]);
    let health = d.health();
    assert_eq!(
        health["spool"]["pending"], 0,
        "acked in the inbox: {health}"
    );
    assert_eq!(health["inbox"]["pending"], 20, "{health}");
    assert_eq!(health["database"]["status"], "ok", "{health}");
    let age = health["inbox"]["oldest_pending_age_seconds"].as_f64();
    assert!(age.is_some_and(|a| a >= 0.0), "{health}");
    assert_eq!(d.request("GET", "/readyz", &[], None).status, 200);
    let metrics = d.request("GET", "/metrics", &[], None).body;
    assert!(
        metrics.contains("\nleadgate_inbox_pending 20\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nleadgate_inbox_oldest_pending_age_seconds "),
        "{metrics}"
    );
    if !db.is_postgres() {
        // Readers of the SQLite files are never blocked by a writer.
        let leads = d.admin("GET", "/admin/leads", None);
        assert_eq!(leads.status, 200, "{}", leads.body);
        assert_eq!(leads.json()["leads"], json!([]));
    }
    assert!(
        receiver.received().is_empty(),
        "nothing is sent before it is stored"
    );
    lock.release();
    wait_all_stored(&d, 20);
    wait_delivered(&d, 20);
    assert_eq!(webhook_ids(&receiver), (20, 20), "each lead sent once");
    assert_eq!(
        d.health()["inbox"]["oldest_pending_age_seconds"],
        Value::Null
    );
}

#[test]
fn a_drain_never_races_a_send_in_flight() {
    // Slow answers keep the offline sends in flight while the drain runs every millisecond.
    let receiver = Receiver::start(Behavior::Slow(Duration::from_millis(700), 200));
    let db = TestDb::new();
    let d = production(&db, &receiver, &[("SPOOL_DRAIN_INTERVAL_MS", "1")]);
    d.wait_processed();
    let lock = DbLock::hold(&db);
    let answers = post_concurrently(&d, &people("race", 10));
    lock.release();
    assert_eq!(answers, vec![200; 10]);
    wait_all_stored(&d, 10);
    wait_delivered(&d, 10);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(webhook_ids(&receiver), (10, 10), "no lead sent twice");
}

#[test]
fn a_damaged_spool_line_is_quarantined_and_the_rest_is_drained() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    d.wait_processed();
    let lock = DbLock::hold(&db);
    assert_eq!(d.post_lead(&people("spooled", 1)[0]).status, 200);
    // Half a record without its newline, as a torn write or a full disk would leave it.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(db.spool_path())
        .unwrap()
        .write_all(br#"{"public_id": "torn", "ki"#)
        .unwrap();
    assert_eq!(d.post_lead(&people("after", 1)[0]).status, 200);
    lock.release();
    wait_all_stored(&d, 2);
    let spool = d.health()["spool"].clone();
    assert_eq!(spool["quarantined"], 1, "{spool}");
    let quarantine = std::fs::read_to_string(format!("{}.quarantine", db.spool_path())).unwrap();
    assert_eq!(quarantine, "{\"public_id\": \"torn\", \"ki\n");
    assert!(d.logged("spool.quarantined lines=1"), "{}", d.logs());
    let emails: Vec<String> = d
        .leads("")
        .iter()
        .map(|l| l["email"].as_str().unwrap().to_string())
        .collect();
    assert!(emails.contains(&"spooled0@example.com".to_string()));
    assert!(
        emails.contains(&"after0@example.com".to_string()),
        "the record after the damage is not lost"
    );
}

#[test]
fn a_full_spool_refuses_with_503_instead_of_filling_the_disk() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[("SPOOL_MAX_MB", "1")]);
    d.wait_processed();
    let lock = DbLock::hold(&db);
    let big = |email: &str| json!({"email": email, "message": "x".repeat(700 * 1024)});
    assert_eq!(d.post_lead(&big("first@example.com")).status, 200);
    let refused = d.post_lead(&big("second@example.com"));
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(d.logged("spool.full"), "{}", d.logs());
    lock.release();
    wait_all_stored(&d, 1);
}
