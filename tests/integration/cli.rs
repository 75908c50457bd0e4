//! The command line: check-config, migrate, and bad configuration (exit 2, one line).

use std::process::{Command, Output};

fn leadgate(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leadgate"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run leadgate")
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
        (vec!["frobnicate"], vec![], "unknown argument"),
    ];
    for (args, env, key) in cases {
        let out = leadgate(dir.path(), &args, &env);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert!(err.contains(key), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        if key != "unknown argument" {
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
