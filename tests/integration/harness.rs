//! Starts the real `leadgate` binary on a fresh database (SQLite, or PostgreSQL when
//! `TEST_DATABASE_URL` is set) on a free port, and talks to it over HTTP.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// One test's own database, removed afterwards.
pub enum TestDb {
    Sqlite {
        dir: tempfile::TempDir,
    },
    Postgres {
        scratch: leadgate::store::scratch::ScratchDatabase,
        dir: tempfile::TempDir,
    },
}

impl TestDb {
    pub fn new() -> TestDb {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(admin_url) => TestDb::Postgres {
                scratch: leadgate::store::scratch::ScratchDatabase::create(
                    &admin_url,
                    "leadgate_test",
                )
                .unwrap_or_else(|e| panic!("TEST_DATABASE_URL: {e}")),
                dir: tempfile::tempdir().expect("temp dir"),
            },
            None => TestDb::Sqlite {
                dir: tempfile::tempdir().expect("temp dir"),
            },
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir } => format!("sqlite://{}/leadgate.db", dir.path().display()),
            TestDb::Postgres { scratch, .. } => scratch.url.clone(),
        }
    }

    /// The daemon's spool file: kept with the database, so a restart finds it.
    pub fn spool_path(&self) -> String {
        let dir = match self {
            TestDb::Sqlite { dir } | TestDb::Postgres { dir, .. } => dir,
        };
        dir.path().join("leadgate.spool").display().to_string()
    }

    /// The PostgreSQL URL with another `host:port` (a proxy in front of the server).
    pub fn url_through(&self, port: u16) -> String {
        let url = self.url();
        let (scheme, rest) = url.split_once("://").unwrap();
        let (credentials, rest) = rest.rsplit_once('@').map_or(("", rest), |(c, r)| (c, r));
        let (_host, path) = rest.split_once('/').unwrap();
        let at = if credentials.is_empty() {
            String::new()
        } else {
            format!("{credentials}@")
        };
        format!("{scheme}://{at}127.0.0.1:{port}/{path}")
    }

    /// The `host:port` of the PostgreSQL server.
    pub fn server_address(&self) -> String {
        let url = self.url();
        let rest = url.split_once("://").unwrap().1;
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let host = rest.split('/').next().unwrap();
        if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:5432")
        }
    }

    /// Runs SQL on the test's database directly, as an operator's shell would.
    pub fn execute(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let url = self.url();
        if self.is_postgres() {
            diesel::PgConnection::establish(&url)
                .unwrap()
                .batch_execute(sql)
                .unwrap();
        } else {
            diesel::SqliteConnection::establish(url.trim_start_matches("sqlite://"))
                .unwrap()
                .batch_execute(sql)
                .unwrap();
        }
    }

    /// The first column of a query's rows as text (the query names it `value`).
    pub fn query_strings(&self, sql: &str) -> Vec<String> {
        use diesel::{Connection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        let url = self.url();
        let rows: Vec<Row> = if self.is_postgres() {
            let mut conn = diesel::PgConnection::establish(&url).unwrap();
            diesel::sql_query(sql).load(&mut conn).unwrap()
        } else {
            let mut conn =
                diesel::SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap();
            diesel::sql_query(sql).load(&mut conn).unwrap()
        };
        rows.into_iter().map(|r| r.value).collect()
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }
}

/// A running daemon. Killed when dropped; its log is printed if the test failed.
pub struct Daemon {
    child: Child,
    pub base: String,
    logs: Arc<Mutex<Vec<String>>>,
    agent: ureq::Agent,
    _config_dir: tempfile::TempDir,
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Daemon {
    pub fn start(db: &TestDb, env: &[(&str, &str)]) -> Daemon {
        let config_dir = tempfile::tempdir().expect("temp dir");
        let config_path = config_dir.path().join("leadgate.toml");
        std::fs::write(&config_path, "").unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_leadgate"));
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("LEADGATE_BIND", "127.0.0.1:0")
            .env("DATABASE_URL", db.url())
            .env("SPOOL_PATH", db.spool_path())
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("ENVIRONMENT", "test")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn leadgate");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let base = loop {
            if let Some(addr) = logs.lock().unwrap().iter().find_map(|l| {
                l.split("server.listening addr=")
                    .nth(1)
                    .map(|a| a.trim().to_string())
            }) {
                break format!("http://{addr}");
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "leadgate exited with {status} before listening:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "leadgate did not start:\n{}",
                logs.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout(Duration::from_secs(30))
            .build();
        Daemon {
            child,
            base,
            logs,
            agent,
            _config_dir: config_dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Whether the log has a line containing `needle`, waiting up to 5 s for it: lines reach the
    /// test through a pipe and a reader thread, so one written just before an answer may still
    /// be on its way when the answer arrives.
    pub fn logged(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.logs().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// SIGTERM, then wait (at most 30 s) for the process to exit; returns whether it exited 0.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "leadgate did not stop on SIGTERM:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let mut req = self
            .agent
            .request(method, &format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(bytes) => req.send_bytes(bytes),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}\n{}", self.logs()),
        };
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|name| {
                response
                    .header(&name)
                    .map(|v| (name.clone(), v.to_string()))
            })
            .collect();
        let mut body = String::new();
        let _ = response
            .into_reader()
            .take(64 << 20)
            .read_to_string(&mut body);
        Resp {
            status,
            headers,
            body,
        }
    }

    /// A website form post answered with JSON.
    pub fn post_lead(&self, fields: &Value) -> Resp {
        self.post_lead_with(fields, &[])
    }

    pub fn post_lead_with(&self, fields: &Value, headers: &[(&str, &str)]) -> Resp {
        let mut all = vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ];
        all.extend_from_slice(headers);
        self.request(
            "POST",
            "/v1/leads",
            &all,
            Some(fields.to_string().as_bytes()),
        )
    }

    pub fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut all = vec![("Content-Type", content_type)];
        all.extend_from_slice(headers);
        self.request("POST", path, &all, Some(body))
    }

    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        let body = body.map(|b| b.to_string());
        self.request(method, path, &headers, body.as_deref().map(str::as_bytes))
    }

    /// The `lead_source` of each of a lead's submissions, sorted.
    pub fn submission_sources(&self, lead_public_id: &str) -> Vec<String> {
        let detail = self.lead_detail(lead_public_id);
        let mut sources: Vec<String> = detail["submissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["lead_source"].as_str().unwrap().to_string())
            .collect();
        sources.sort();
        sources
    }

    /// Creates a campaign of `account` from `body`; its id.
    pub fn create_campaign(&self, account: &str, body: &Value) -> String {
        let path = format!("/admin/accounts/{account}/campaigns");
        let created = self.admin("POST", &path, Some(body));
        assert_eq!(created.status, 201, "{}", created.body);
        created.json()["id"].as_str().unwrap().to_string()
    }

    pub fn admin_get(&self, path: &str) -> Value {
        let r = self.admin("GET", path, None);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.json()
    }

    pub fn leads(&self, query: &str) -> Vec<Value> {
        self.admin_get(&format!("/admin/leads?limit=500&{query}"))["leads"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn lead_detail(&self, public_id: &str) -> Value {
        self.admin_get(&format!("/admin/leads/{public_id}"))
    }

    pub fn health(&self) -> Value {
        self.admin_get("/admin/health")
    }

    /// Waits until the inbox is drained (nothing pending), so what was accepted is processed.
    /// Everything accepted is stored: the inbox drained, and the spool too (a write the database
    /// did not take in time, an actor crashed on purpose, went there and is drained later).
    pub fn wait_processed(&self) {
        self.wait_until("the inbox and the spool to drain", || {
            let health = self.health();
            health["inbox"]["pending"] == 0 && health["spool"]["pending"] == 0
        });
    }

    pub fn wait_until(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn default_account_id(&self) -> String {
        let accounts = self.admin_get("/admin/accounts");
        accounts["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["is_default"] == true)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- leadgate log ----\n{}\n----", self.logs());
        }
    }
}

/// A request body from `tests/fixtures/` (real platform payloads, copied byte for byte).
pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A daemon in production mode, forwarding to `receiver`.
pub fn production(
    db: &TestDb,
    receiver: &crate::receiver::Receiver,
    extra: &[(&str, &str)],
) -> Daemon {
    let mut env = vec![
        ("ENVIRONMENT", "production"),
        ("MAKE_WEBHOOK_URL", receiver.url.as_str()),
    ];
    env.extend_from_slice(extra);
    Daemon::start(db, &env)
}

/// Another process holding the database (a backup, an operator's shell): exclusive transactions
/// on both SQLite files (the database and its inbox file), or the inbox table locked on
/// PostgreSQL. Released when dropped.
pub enum DbLock {
    Sqlite(Vec<diesel::SqliteConnection>),
    Postgres(diesel::PgConnection),
}

impl DbLock {
    pub fn hold(db: &TestDb) -> DbLock {
        let main = db.url().trim_start_matches("sqlite://").to_string();
        let inbox = leadgate::store::inbox_file::inbox_file_of(std::path::Path::new(&main));
        DbLock::take(db, "inbox", &[main, inbox.display().to_string()])
    }

    /// Holds what the pipeline writes (the leads), not what an answer waits for: the SQLite
    /// database file without its inbox file, or the leads table on PostgreSQL.
    pub fn hold_pipeline(db: &TestDb) -> DbLock {
        let main = db.url().trim_start_matches("sqlite://").to_string();
        DbLock::take(db, "leads", &[main])
    }

    fn take(db: &TestDb, postgres_table: &str, sqlite_files: &[String]) -> DbLock {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        if db.is_postgres() {
            let mut conn = diesel::PgConnection::establish(&db.url()).unwrap();
            conn.batch_execute(&format!(
                "BEGIN; LOCK TABLE {postgres_table} IN ACCESS EXCLUSIVE MODE"
            ))
            .unwrap();
            return DbLock::Postgres(conn);
        }
        let held = sqlite_files
            .iter()
            .map(|path| {
                let mut conn = diesel::SqliteConnection::establish(path).unwrap();
                conn.batch_execute("PRAGMA busy_timeout = 5000; BEGIN EXCLUSIVE")
                    .unwrap();
                conn
            })
            .collect();
        DbLock::Sqlite(held)
    }

    pub fn release(self) {
        use diesel::connection::SimpleConnection;
        match self {
            DbLock::Sqlite(held) => {
                for mut c in held {
                    c.batch_execute("ROLLBACK").unwrap();
                }
            }
            DbLock::Postgres(mut c) => c.batch_execute("ROLLBACK").unwrap(),
        }
    }
}
