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

#[test]
fn a_read_only_database_stops_the_start_with_one_line_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/leadgate.db", dir.path().display());
    let leadgate = env!("CARGO_BIN_EXE_leadgate");
    let migrated = Command::new(leadgate)
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(migrated.status.success());
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in ["leadgate.db", "leadgate.db-wal", "leadgate.db-shm"] {
        let _ = std::fs::set_permissions(
            dir.path().join(file),
            std::fs::Permissions::from_mode(0o444),
        );
    }
    // root writes whatever the mode says: the daemon runs as an ordinary user, as in production.
    let mut command = if nix_is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=61877", "--regid=61877", "--clear-groups", leadgate]);
        c
    } else {
        Command::new(leadgate)
    };
    let spool = tempfile::tempdir().unwrap();
    std::fs::set_permissions(spool.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = command
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("LEADGATE_BIND", "127.0.0.1:0")
        .env("SPOOL_PATH", spool.path().join("x.spool"))
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("database.read_only "), "{stderr}");
    assert!(stderr.contains("leadgate.db"), "{stderr}");
}

fn nix_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn a_crash_loop_spends_no_retries() {
    let db = TestDb::new();
    let mut d = Daemon::start(&db, &[]);
    // Killed right after a burst, again and again: rows claimed by a process that dies are
    // claimed again, and nothing counts that against them.
    for round in 0..3 {
        for i in 0..20 {
            let body = json!({"name": "Loop", "email": format!("loop{round}x{i}@example.com")});
            assert_eq!(d.post_lead(&body).status, 200);
        }
        d.kill();
        d = Daemon::start(&db, &[]);
    }
    d.wait_processed();
    let items = d.admin_get("/admin/inbox?limit=500")["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 60);
    for item in &items {
        assert_eq!(item["status"], "done", "{item}");
        assert_eq!(item["attempts"], 0, "a claim is not an attempt: {item}");
    }
    assert_eq!(d.leads("").len(), 60);
}

/// Each thread's nice value, from `/proc/<pid>/task/*/stat` (field 19, after the `(comm)`),
/// the main thread's first.
fn thread_niceness(pid: u32) -> Vec<i64> {
    let niceness_of = |task: &std::path::Path| -> Option<i64> {
        let stat = std::fs::read_to_string(task.join("stat")).ok()?;
        let after_name = &stat[stat.rfind(')')? + 2..];
        after_name.split(' ').nth(16)?.parse().ok()
    };
    let main = niceness_of(&std::path::PathBuf::from(format!("/proc/{pid}/task/{pid}")));
    let others = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the daemon's threads")
        .filter_map(|task| task.ok())
        .filter(|task| task.file_name().to_string_lossy() != pid.to_string())
        .filter_map(|task| niceness_of(&task.path()));
    main.into_iter().chain(others).collect()
}

#[test]
fn the_pipeline_writer_yields_the_cpu_to_answers() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let lead = json!({"name": "Ann", "email": "ann@example.com"});
    assert_eq!(d.post_lead(&lead).status, 200);
    d.wait_processed();
    let niceness = thread_niceness(d.pid());
    let process = niceness[0];
    let lowered = niceness
        .iter()
        .filter(|n| **n == (process + 10).min(19))
        .count();
    let answering = niceness.iter().filter(|n| **n == process).count();
    if db.is_postgres() {
        // Admin reads run on the pipeline's threads there, and its work is the server's.
        assert_eq!(lowered, 0, "{niceness:?}");
    } else {
        assert!(lowered >= 1, "no thread yields the CPU: {niceness:?}");
        assert!(
            answering > lowered,
            "answers keep the priority: {niceness:?}"
        );
    }
    assert_eq!(lowered + answering, niceness.len(), "{niceness:?}");
}
