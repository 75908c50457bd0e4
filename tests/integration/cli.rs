//! The command line: --help, --version, check-config, migrate, bad arguments and bad
//! configuration (exit 2, one line), resources that cannot be used at start (exit 1, one line).

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn command(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leadgate"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

fn leadgate(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env).output().expect("run leadgate")
}

/// Like `leadgate`, for a command that must exit by itself within `limit` (killed otherwise).
fn leadgate_within(
    limit: Duration,
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut child = command(dir, args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run leadgate");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for leadgate") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
            panic!("leadgate {args:?} still running after {limit:?}:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

#[test]
fn defaults_apply_when_the_default_file_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = leadgate(dir.path(), &["check-config"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("bind=127.0.0.1:8080"));
}

/// Arguments, environment, and what the one-line error must name.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn bad_configuration_exits_2_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad_file = dir.path().join("bad.toml");
    std::fs::write(&bad_file, "bind = [").unwrap();
    let unknown_key = dir.path().join("unknown.toml");
    std::fs::write(&unknown_key, "binds = \"x\"\n").unwrap();
    let cases: Vec<Case> = vec![
        (
            vec!["check-config"],
            vec![("LEAD_REENGAGE_HOURS", "soon")],
            "LEAD_REENGAGE_HOURS",
        ),
        (
            vec!["check-config"],
            vec![("LEADGATE_BIND", "nowhere")],
            "LEADGATE_BIND",
        ),
        (
            vec!["check-config"],
            vec![("DATABASE_URL", "mysql://x/y")],
            "DATABASE_URL",
        ),
        (
            vec!["check-config"],
            vec![("TRUSTED_PROXIES", "10.0.0.0/8, banana")],
            "TRUSTED_PROXIES",
        ),
        (
            vec!["serve"],
            vec![("ENVIRONMENT", "production")],
            "ADMIN_TOKEN",
        ),
        (
            vec!["check-config", "--config", "/nonexistent/leadgate.toml"],
            vec![],
            "LEADGATE_CONFIG",
        ),
        (
            vec!["check-config"],
            vec![("LEADGATE_CONFIG", bad_file.to_str().unwrap())],
            "LEADGATE_CONFIG",
        ),
        (
            vec!["check-config", "--config", unknown_key.to_str().unwrap()],
            vec![],
            "binds",
        ),
        (
            vec!["frobnicate"],
            vec![],
            "unrecognized subcommand 'frobnicate'",
        ),
        (
            vec!["check-config", "--frobnicate"],
            vec![],
            "unexpected argument '--frobnicate'",
        ),
        (vec!["check-config", "--config"], vec![], "--config <PATH>"),
    ];
    for (args, env, key) in cases {
        let out = leadgate(dir.path(), &args, &env);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert!(err.contains(key), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        if args.iter().any(|a| a.contains("frobnicate")) || args.last() == Some(&"--config") {
            // A usage error (clap): the message, the usage line and a pointer to --help.
            assert!(err.starts_with("error: "), "{err}");
            assert!(out.stdout.is_empty(), "{args:?}");
        } else {
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
}

#[test]
fn migrate_creates_the_sqlite_file_and_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = leadgate(
        dir.path(),
        &["migrate"],
        &[("DATABASE_URL", "sqlite://nested/dir/leadgate.db")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("nested/dir/leadgate.db").exists());
    let again = leadgate(
        dir.path(),
        &["migrate"],
        &[("DATABASE_URL", "sqlite://nested/dir/leadgate.db")],
    );
    assert!(
        again.status.success(),
        "migrations are idempotent: {}",
        stderr(&again)
    );
}

#[test]
fn an_unusable_ssl_cert_file_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for path in ["/nonexistent/ca.pem", empty.to_str().unwrap()] {
        let out = leadgate(dir.path(), &["check-config"], &[("SSL_CERT_FILE", path)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{path}: {err}");
        assert!(err.contains("SSL_CERT_FILE") && err.contains(path), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn unusable_notification_settings_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let not_json = dir.path().join("sa.json");
    std::fs::write(
        &not_json,
        "{\"client_email\": \"x\", \"private_key\": \"no key\"}",
    )
    .unwrap();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("SMTP_URL", "ftp://mail.example.com")], "SMTP_URL"),
        (
            &[
                ("SMTP_URL", "smtp://127.0.0.1:2525"),
                ("SMTP_FROM", "nobody"),
            ],
            "SMTP_FROM",
        ),
        (
            &[
                ("FCM_PROJECT_ID", "p"),
                ("FCM_CREDENTIALS", "/nonexistent/sa.json"),
            ],
            "FCM_CREDENTIALS",
        ),
        (
            &[
                ("FCM_PROJECT_ID", "p"),
                ("FCM_CREDENTIALS", not_json.to_str().unwrap()),
            ],
            "FCM_CREDENTIALS",
        ),
    ];
    for (env, key) in cases {
        let out = leadgate(dir.path(), &["check-config"], env);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {err}");
        assert!(err.contains(key), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let secret = leadgate(
        dir.path(),
        &["check-config"],
        &[("SMTP_URL", "smtps://u:hunter2@")],
    );
    assert!(!stderr(&secret).contains("hunter2"), "{}", stderr(&secret));
}

#[test]
fn help_prints_usage_on_stdout_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["--help"], vec!["-h"], vec!["help"]] {
        let out = leadgate(dir.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
        let usage = stdout(&out);
        assert!(usage.contains("Usage: leadgate"), "{usage}");
        for word in ["serve", "migrate", "check-config", "--config"] {
            assert!(usage.contains(word), "{args:?} names {word}: {usage}");
        }
    }
    let long = stdout(&leadgate(dir.path(), &["--help"], &[]));
    for word in ["LEADGATE_CONFIG", "environment variable"] {
        assert!(long.contains(word), "--help mentions {word}: {long}");
    }
    let out = leadgate(dir.path(), &["check-config", "--help"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Usage: leadgate check-config"));
}

#[test]
fn version_prints_the_name_and_version_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--version", "-V"] {
        let out = leadgate(dir.path(), &[flag], &[]);
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{flag}: {}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!("leadgate {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn config_goes_before_or_after_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("other.toml");
    std::fs::write(&file, "bind = \"127.0.0.1:9191\"\n").unwrap();
    let file = file.to_str().unwrap();
    for args in [
        vec!["check-config", "--config", file],
        vec!["--config", file, "check-config"],
        vec![&format!("--config={file}"), "check-config"],
    ] {
        let out = leadgate(dir.path(), &args, &[]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            stdout(&out).starts_with("configuration ok: bind=127.0.0.1:9191 "),
            "{args:?}: {}",
            stdout(&out)
        );
    }
}

/// Runs `serve`, which must give up at start: exit 1 within a few seconds, one line on stderr
/// naming `what` (with logging off), and no panic with the default logging either.
fn serve_fails_at_start(env: &[(&str, &str)], what: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut quiet = env.to_vec();
    quiet.push(("RUST_LOG", "off"));
    let out = leadgate_within(Duration::from_secs(15), dir.path(), &["serve"], &quiet);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    for word in what {
        assert!(err.contains(word), "names {word}: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");

    let out = leadgate_within(Duration::from_secs(15), dir.path(), &["serve"], env);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.lines().all(|l| !l.contains("panicked")), "{err}");
    assert!(
        err.lines().any(|l| what.iter().all(|w| l.contains(w))),
        "{err}"
    );
}

#[test]
fn a_port_in_use_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let database = format!("sqlite://{}/x.db", dir.path().display());
    serve_fails_at_start(
        &[("LEADGATE_BIND", &addr), ("DATABASE_URL", &database)],
        &["server.bind_failed", &addr],
    );
    drop(taken);
}

#[test]
fn an_unusable_spool_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "a file, not a folder\n").unwrap();
    let spool = file.join("x.spool");
    let spool = spool.to_str().unwrap();
    let database = format!("sqlite://{}/x.db", dir.path().display());
    serve_fails_at_start(
        &[
            ("LEADGATE_BIND", "127.0.0.1:0"),
            ("DATABASE_URL", &database),
            ("SPOOL_PATH", spool),
        ],
        &["spool.unavailable", spool],
    );
}

#[test]
fn an_unusable_database_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "a file, not a folder\n").unwrap();
    let database = format!("sqlite://{}/x.db", file.display());
    serve_fails_at_start(
        &[
            ("LEADGATE_BIND", "127.0.0.1:0"),
            ("DATABASE_URL", &database),
            ("SPOOL_PATH", dir.path().join("x.spool").to_str().unwrap()),
        ],
        &["database.unavailable", &database],
    );
}

#[test]
fn bench_help_prints_usage_and_exits_0() {
    let out = Command::new(env!("CARGO_BIN_EXE_leadgate-bench"))
        .arg("--help")
        .output()
        .expect("run leadgate-bench");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let usage = stdout(&out);
    assert!(usage.contains("Usage: leadgate-bench"), "{usage}");
    for option in ["--connections", "--requests", "--people", "--leadgate-bin"] {
        assert!(usage.contains(option), "{option}: {usage}");
    }
    assert!(!usage.contains("bare-server"), "internal: {usage}");

    let out = Command::new(env!("CARGO_BIN_EXE_leadgate-bench"))
        .args(["--requests", "many"])
        .output()
        .expect("run leadgate-bench");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--requests") && err.contains("many"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
