//! The shipped `systemd/nginx-leadgate.conf` run by the real nginx in front of the real daemon: a
//! client cannot choose its address or country, and the private endpoints are not served.
//! Without nginx these tests print a note and pass, unless `LEADGATE_REQUIRE_NGINX=1`.

use crate::harness::{Daemon, TestDb, ADMIN_TOKEN};
use serde_json::{json, Value};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every header a client might use to pick its address or location.
const SPOOFED: [(&str, &str); 8] = [
    ("CF-Connecting-IP", "8.8.4.4"),
    ("X-Forwarded-For", "8.8.4.4"),
    ("X-Real-IP", "8.8.4.4"),
    ("True-Client-IP", "8.8.4.4"),
    ("CF-IPCountry", "US"),
    ("CF-IPCity", "Austin"),
    ("CF-Timezone", "America/Chicago"),
    ("CF-Region", "Texas"),
];

/// nginx on PATH, else Debian's `/usr/sbin/nginx` (not on every user's PATH).
fn nginx_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("nginx"))
        .chain([PathBuf::from("/usr/sbin/nginx")])
        .find(|p| p.is_file())
}

fn nginx_or_skip(test: &str) -> Option<PathBuf> {
    let found = nginx_binary();
    if found.is_none() {
        assert!(
            std::env::var("LEADGATE_REQUIRE_NGINX").as_deref() != Ok("1"),
            "LEADGATE_REQUIRE_NGINX=1 but nginx is not installed (apt-get install nginx-light)"
        );
        eprintln!(
            "note: {test} skipped: nginx is not installed (LEADGATE_REQUIRE_NGINX=1 fails instead)"
        );
    }
    found
}

/// The `server { ... }` block of the example that listens on 443, rewritten to listen on
/// `127.0.0.1:port` without TLS and to proxy to `upstream` (`host:port`).
fn public_server_block(conf: &str, port: u16, upstream: &str) -> String {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    let mut depth = 0usize;
    for line in conf.lines() {
        // Comments go (the example has no `#` inside strings).
        let code = line.split('#').next().unwrap_or("").trim_end();
        if depth == 0 && code.trim() == "server {" {
            current = Some(Vec::new());
        }
        depth += code.matches('{').count();
        depth -= code.matches('}').count();
        if let Some(block) = current.as_mut() {
            block.push(code.to_string());
            if depth == 0 {
                blocks.push(current.take().unwrap());
            }
        }
    }
    let block = blocks
        .into_iter()
        .find(|b| b.iter().any(|l| l.trim().starts_with("listen 443")))
        .expect("a server block listening on 443 in systemd/nginx-leadgate.conf");
    let mut listened = false;
    let mut proxied = false;
    let mut out = Vec::new();
    for line in block {
        let trimmed = line.trim();
        if trimmed.starts_with("listen ") {
            if !listened {
                out.push(format!("    listen 127.0.0.1:{port};"));
                listened = true;
            }
        } else if trimmed.starts_with("ssl_") {
            continue;
        } else if trimmed.starts_with("proxy_pass http://127.0.0.1:8080;") {
            out.push(format!("        proxy_pass http://{upstream};"));
            proxied = true;
        } else {
            out.push(line);
        }
    }
    assert!(
        proxied,
        "the example no longer proxies to http://127.0.0.1:8080"
    );
    out.join("\n")
}

/// nginx in the foreground, one process, everything in a temporary directory.
struct Nginx {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
}

impl Nginx {
    /// The shipped example in front of `daemon`.
    fn start(binary: &Path, daemon: &Daemon) -> Nginx {
        let example = format!("{}/systemd/nginx-leadgate.conf", env!("CARGO_MANIFEST_DIR"));
        let example =
            std::fs::read_to_string(&example).unwrap_or_else(|e| panic!("{example}: {e}"));
        let upstream = daemon.base.trim_start_matches("http://");
        // A port freed by the OS can be taken again before nginx binds it: then another one.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let server = public_server_block(&example, port, upstream);
            if let Some(nginx) = Nginx::try_start(binary, port, &server) {
                return nginx;
            }
        }
        panic!("nginx found no free port in 5 tries");
    }

    /// None when the port was taken meanwhile.
    fn try_start(binary: &Path, port: u16, server: &str) -> Option<Nginx> {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display();
        let config = format!(
            "pid {d}/nginx.pid;\n\
             error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             access_log off;\n\
             client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\n\
             {server}\n\
             }}\n"
        );
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, &config).unwrap();
        // One process (no master and workers): killing the child stops nginx.
        let mut child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&config_path)
            .args(["-g", "daemon off; master_process off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let error_log =
            || std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        // nginx writes its pid file once its sockets are bound.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dir.path().join("nginx.pid").exists()
            || TcpStream::connect(("127.0.0.1", port)).is_err()
        {
            if let Ok(Some(status)) = child.try_wait() {
                let log = error_log();
                if log.contains("Address already in use") {
                    return None;
                }
                panic!("nginx exited with {status}:\n{log}\n{config}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("nginx did not listen on {port}:\n{}", error_log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout(Duration::from_secs(30))
            .build();
        Some(Nginx {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            agent,
        })
    }

    /// Status and body of a request through nginx.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, String) {
        let mut req = self.agent.request(method, &format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req.send_string(b),
            None => req.call(),
        };
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path} through nginx: {e}\n{}", self.error_log()),
        };
        let status = response.status();
        let mut text = String::new();
        let _ = response
            .into_reader()
            .take(1 << 20)
            .read_to_string(&mut text);
        (status, text)
    }

    fn post_lead(&self, fields: &Value, headers: &[(&str, &str)]) -> (u16, String) {
        let mut all = vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ];
        all.extend_from_slice(headers);
        self.request("POST", "/v1/leads", &all, Some(&fields.to_string()))
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- nginx error.log ----\n{}\n----", self.error_log());
        }
    }
}

/// The daemon as docs/deploy.md runs it: nginx on this machine is its only trusted proxy.
fn daemon(db: &TestDb) -> Daemon {
    Daemon::start(db, &[("TRUSTED_PROXIES", "127.0.0.1,::1")])
}

fn lead_by_email(d: &Daemon, email: &str) -> Value {
    d.wait_processed();
    let leads = d.leads("");
    let lead = leads
        .iter()
        .find(|l| l["email"] == email)
        .unwrap_or_else(|| panic!("no lead {email}: {leads:?}"));
    d.lead_detail(lead["lead_public_id"].as_str().unwrap())
}

#[test]
fn a_client_behind_nginx_cannot_choose_its_address_or_country() {
    let Some(binary) = nginx_or_skip("a_client_behind_nginx_cannot_choose_its_address_or_country")
    else {
        return;
    };
    let db = TestDb::new();
    let d = daemon(&db);
    let nginx = Nginx::start(&binary, &d);

    let (status, body) = nginx.post_lead(
        &json!({"name": "Priya", "email": "p@example.com"}),
        &SPOOFED,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"success": true})
    );
    // The same headers straight to the daemon, from 127.0.0.1, are believed: nginx is what
    // stands between a client and them.
    assert_eq!(
        d.post_lead_with(
            &json!({"name": "Direct", "email": "d@example.com"}),
            &SPOOFED
        )
        .status,
        200
    );

    let through = lead_by_email(&d, "p@example.com");
    assert_eq!(through["lead"]["user_ip"], "127.0.0.1", "{through}");
    assert_eq!(through["submissions"][0]["ip"], "127.0.0.1", "{through}");
    for key in ["user_country", "user_city", "user_timezone", "user_region"] {
        assert!(through["lead"][key].is_null(), "{key}: {through}");
    }
    let direct = lead_by_email(&d, "d@example.com");
    assert_eq!(direct["lead"]["user_ip"], "8.8.4.4", "{direct}");
    assert_eq!(direct["lead"]["user_country"], "US", "{direct}");
}

#[test]
fn a_blocked_client_behind_nginx_stays_blocked_whatever_it_claims() {
    let Some(binary) =
        nginx_or_skip("a_blocked_client_behind_nginx_stays_blocked_whatever_it_claims")
    else {
        return;
    };
    let db = TestDb::new();
    let d = daemon(&db);
    let nginx = Nginx::start(&binary, &d);
    // Straight to the daemon: the block list is an operator's, never reachable through nginx.
    let r = d.admin(
        "POST",
        "/admin/blocked-ips",
        Some(&json!({"ip": "127.0.0.1", "reason": "test"})),
    );
    assert_eq!(r.status, 201, "{}", r.body);

    let (status, body) = nginx.post_lead(
        &json!({"name": "Blocked", "email": "blocked@example.com"}),
        &[
            ("CF-Connecting-IP", "8.8.4.4"),
            ("X-Forwarded-For", "8.8.4.4"),
        ],
    );
    assert_eq!(status, 200, "the answer does not tell: {body}");
    d.wait_processed();
    assert!(d.leads("").is_empty(), "{:?}", d.leads(""));
    let audit = d.admin_get("/admin/blocked-ip-leads")["blocked_ip_leads"].clone();
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
    assert_eq!(audit[0]["ip"], "127.0.0.1", "{audit}");
    assert_eq!(audit[0]["payload_json"]["email"], "blocked@example.com");
}

#[test]
fn nginx_does_not_serve_metrics_readiness_or_admin() {
    let Some(binary) = nginx_or_skip("nginx_does_not_serve_metrics_readiness_or_admin") else {
        return;
    };
    let db = TestDb::new();
    let d = daemon(&db);
    let nginx = Nginx::start(&binary, &d);
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let auth = [("Authorization", auth.as_str())];

    for path in ["/metrics", "/readyz", "/admin/health"] {
        let direct = d.request("GET", path, &auth, None);
        assert_eq!(direct.status, 200, "{path} straight to the daemon");
    }
    for path in [
        "/metrics",
        "/metrics/",
        "/readyz",
        "/admin/health",
        "/admin/leads",
        "/admin/blocked-ips",
        "//admin/health",
        "/%61dmin/health",
        "/%6Detrics",
    ] {
        let (status, body) = nginx.request("GET", path, &auth, None);
        assert!(
            status == 403 || status == 404,
            "{path} through nginx: {status} {body}"
        );
        assert!(
            !body.contains("# HELP") && !body.contains("actors"),
            "{path}: {body}"
        );
    }
    let (status, body) = nginx.request(
        "POST",
        "/admin/blocked-ips",
        &[auth[0], ("Content-Type", "application/json")],
        Some(r#"{"ip": "203.0.113.9"}"#),
    );
    assert!(status == 403 || status == 404, "{status} {body}");
    assert_eq!(nginx.request("GET", "/healthz", &[], None).0, 200);
}
