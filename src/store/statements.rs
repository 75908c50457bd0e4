//! For tests: the statements a piece of work runs, and SQLite's plan for each, so a test can say
//! that the work costs the same however much the tables hold.

use crate::store::AnyConnection;
use diesel::connection::{Connection, InstrumentationEvent};
use diesel::RunQueryDsl;
use std::sync::{Arc, Mutex};

/// What a piece of work did to the database.
#[derive(Debug, Default)]
pub struct Recorded {
    /// The SQL of each statement, without its binds.
    pub statements: Vec<String>,
    /// The SQL of the statements prepared and put in the connection's cache.
    pub cached: Vec<String>,
}

/// Runs `work` on the connection and records its statements.
pub fn record<T>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> T,
) -> (T, Recorded) {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let sink = recorded.clone();
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        let mut r = sink.lock().unwrap();
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                let text = query.to_string();
                let sql = text.split(" -- binds: ").next().unwrap_or_default();
                r.statements.push(sql.to_string());
            }
            InstrumentationEvent::CacheQuery { sql, .. } => r.cached.push(sql.to_string()),
            _ => {}
        }
    });
    let outcome = work(conn);
    conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
    let recorded = std::mem::take(&mut *recorded.lock().unwrap());
    (outcome, recorded)
}

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

/// SQLite's plan for each SELECT and UPDATE: every table reached by an index search, no sort.
/// (An INSERT's plan lists the child-table probes SQLite runs only while a deferred foreign-key
/// violation is outstanding, never here; its own work is its rows.)
pub fn assert_every_statement_searches(conn: &mut AnyConnection, statements: &[String]) {
    for sql in statements {
        if !(sql.starts_with("SELECT") || sql.starts_with("UPDATE")) {
            continue;
        }
        let plan: Vec<PlanLine> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load(conn)
            .unwrap();
        for line in plan {
            let d = &line.detail;
            // A SELECT without FROM, and `sqlite_sequence` (a row per table) are not the data.
            let bounded_scan = d == "SCAN CONSTANT ROW" || d == "SCAN sqlite_sequence";
            assert!(
                bounded_scan || (!d.starts_with("SCAN") && !d.contains("TEMP B-TREE")),
                "{sql}\n  plan: {d}"
            );
        }
    }
}

/// A migrated database for a test, of each backend the tests can reach: SQLite always,
/// PostgreSQL when `TEST_DATABASE_URL` names a server (a database of its own there, dropped after).
pub struct TestDatabase {
    pub conn: AnyConnection,
    _dir: tempfile::TempDir,
    _postgres: Option<super::scratch::ScratchDatabase>,
}

pub fn test_databases() -> Vec<TestDatabase> {
    let dir = tempfile::tempdir().unwrap();
    let mut databases = vec![TestDatabase {
        conn: migrated(&dir),
        _dir: dir,
        _postgres: None,
    }];
    if let Ok(server) = std::env::var("TEST_DATABASE_URL") {
        let scratch = super::scratch::ScratchDatabase::create(&server, "leadgate_unit").unwrap();
        let target = crate::config::DatabaseTarget::Postgres(scratch.url.clone());
        let mut conn = super::establish(&target).unwrap();
        super::run_migrations(&mut conn).unwrap();
        databases.push(TestDatabase {
            conn,
            _dir: tempfile::tempdir().unwrap(),
            _postgres: Some(scratch),
        });
    }
    databases
}

fn migrated(dir: &tempfile::TempDir) -> AnyConnection {
    let target = crate::config::DatabaseTarget::Sqlite(dir.path().join("t.db"));
    let mut conn = super::establish(&target).unwrap();
    super::run_migrations(&mut conn).unwrap();
    conn
}

/// Claiming from an inbox with a backlog reads the rows it takes, not the backlog.
#[test]
fn claiming_the_inbox_reads_by_index_whatever_the_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = migrated(&dir);
    let backlog = "INSERT INTO inbox (public_id, kind, account_id, body, meta_json, status,
             attempts, next_attempt_at, received_at)
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
         SELECT 'in-' || i, 'website', 'acc', '{}', '{}', 'pending', 0, '2026-01-01 00:00:00',
             '2026-01-01 00:00:00' FROM n";
    diesel::sql_query(backlog).execute(&mut conn).unwrap();
    let lease = chrono::Duration::seconds(60);
    let (claimed, run) = record(&mut conn, |c| {
        super::inbox::claim_inbox(c, "owner", 64, lease).unwrap()
    });
    assert_eq!(claimed.len(), 64);
    assert_eq!(claimed[0].public_id, "in-1", "oldest first");
    assert_every_statement_searches(&mut conn, &run.statements);
}

/// The health page counts the backlog (pending and dead) and finds its oldest row, never reading
/// every job or row ever done.
#[test]
fn the_health_page_counts_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = migrated(&dir);
    let (backlog, run) = record(&mut conn, |c| super::health::backlog(c).unwrap());
    assert_eq!(backlog.outbox_pending, 0);
    assert_eq!(run.statements.len(), 6, "{:#?}", run.statements);
    assert_every_statement_searches(&mut conn, &run.statements);
}
