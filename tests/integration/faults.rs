//! Faults: actors crashed on purpose, the process killed after acks.

use crate::harness::{Daemon, TestDb};
use serde_json::json;

fn crash_then_submit(actor: &str) {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    assert_eq!(
        d.post_lead(&json!({"name": "Before", "email": "before@example.com"}))
            .status,
        200
    );
    d.wait_processed();
    assert_eq!(
        d.admin("POST", &format!("/admin/actors/{actor}/crash"), None)
            .status,
        202
    );
    for i in 0..5 {
        let r = d.post_lead(
            &json!({"name": format!("After {i}"), "email": format!("after{i}@example.com")}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    d.wait_until("the restart to be counted", || {
        d.health()["actors"][actor]["restarts"].as_u64() >= Some(1)
    });
    d.wait_processed();
    let health = d.health();
    let stats = &health["actors"][actor];
    assert_eq!(stats["status"], "running", "{stats}");
    assert!(
        stats["last_error"]
            .as_str()
            .unwrap()
            .contains("crash requested"),
        "{stats}"
    );
    assert_eq!(d.leads("").len(), 6, "no lead is lost with the actor");
    assert_eq!(health["inbox"]["failed"], 0);
    assert_eq!(d.request("GET", "/readyz", &[], None).status, 200);
}

#[test]
fn identity_resolver_crash_loses_nothing() {
    crash_then_submit("IdentityResolver");
}

#[test]
fn scorer_crash_loses_nothing() {
    crash_then_submit("Scorer");
}

#[test]
fn intake_crash_loses_nothing() {
    crash_then_submit("Intake");
}

#[test]
fn db_executor_crash_loses_nothing() {
    crash_then_submit("DbExecutor");
}

#[test]
fn sigkill_after_a_burst_of_acks_loses_none_of_them() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (d, accepted) = (&d, &accepted);
            scope.spawn(move || {
                for i in 0..25 {
                    let body = json!({"name": format!("Burst {t}-{i}"), "email": format!("burst{t}x{i}@example.com"), "project": "Burst"});
                    if d.post_lead(&body).status == 200 {
                        accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 200);
    d.kill(); // SIGKILL at once: some rows are surely still unprocessed
    let d = Daemon::start(&db, &[]);
    d.wait_processed();
    let leads = d.leads("project=Burst");
    assert_eq!(
        leads.len(),
        200,
        "every acknowledged lead is there after the restart"
    );
}
