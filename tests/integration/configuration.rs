//! `leadgate check-config` with a configuration file: every mistake is exit code 2 and one line on
//! stderr naming the key as written where it was found (the file key with the file's path, or the
//! environment variable), never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary directory holding `leadgate.toml`; the daemon runs in it.
struct Setup {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Setup {
    fn new(config: &str) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("leadgate.toml");
        std::fs::write(&path, config).unwrap();
        Setup { dir, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    fn check_config(&self, env: &[(&str, &str)]) -> Output {
        check_config(self.dir.path(), self.path(), env)
    }

    /// Runs check-config and returns its one line on stderr, asserting exit code 2.
    fn error_line(&self, env: &[(&str, &str)]) -> String {
        let out = self.check_config(env);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{env:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.trim_end_matches('\n').lines().count(), 1, "{err:?}");
        assert!(err.ends_with('\n') && !err.ends_with("\n\n"), "{err:?}");
        err.trim_end().to_string()
    }
}

fn check_config(dir: &Path, config: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leadgate"));
    command
        .args(["check-config", "--config", config])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run leadgate")
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("configuration ok: "));
}

#[test]
fn the_shipped_default_file_passes() {
    let setup = Setup::new(include_str!("../../config/default.toml"));
    assert_ok(&setup.check_config(&[]));
}

#[test]
fn an_unknown_key_in_the_redirect_table_is_refused() {
    let setup = Setup::new("[redirect]\nalowed_hosts = [\"www.example.com\"]\n");
    let line = setup.error_line(&[]);
    assert_eq!(
        line,
        format!(
            "configuration error: redirect.alowed_hosts (in {}): unknown key in the configuration \
             file (did you mean allowed_hosts?)",
            setup.path()
        )
    );
    let inline = Setup::new("redirect = { thank_you_path = \"/t\", fallback = \"/t\" }\n");
    let line = inline.error_line(&[]);
    assert!(
        line.starts_with(&format!(
            "configuration error: redirect.fallback (in {}): unknown key",
            inline.path()
        )),
        "{line}"
    );
    let known = Setup::new(
        "[redirect]\nallowed_hosts = [\"www.example.com\"]\nthank_you_path = \"/t\"\n\
         fallback_url = \"https://www.example.com/t\"\n",
    );
    assert_ok(&known.check_config(&[]));
}

#[test]
fn redirect_must_be_a_table() {
    let setup = Setup::new("redirect = \"x\"\n");
    assert_eq!(
        setup.error_line(&[]),
        format!(
            "configuration error: redirect (in {}): expected a table ([redirect]), got string",
            setup.path()
        )
    );
}

#[test]
fn a_wrong_type_in_the_file_is_named_by_its_file_key() {
    let setup = Setup::new("lead_reengage_hours = \"soon\"\n");
    assert_eq!(
        setup.error_line(&[]),
        format!(
            "configuration error: lead_reengage_hours (in {}): expected a number, got string",
            setup.path()
        )
    );
    let nested = Setup::new("[redirect]\nthank_you_path = 5\n");
    assert_eq!(
        nested.error_line(&[]),
        format!(
            "configuration error: redirect.thank_you_path (in {}): expected a string, got integer",
            nested.path()
        )
    );
    let range = Setup::new("database_pool_size = 1000\n");
    let line = range.error_line(&[]);
    assert!(
        line.starts_with(&format!(
            "configuration error: database_pool_size (in {}): ",
            range.path()
        )),
        "{line}"
    );
}

#[test]
fn a_wrong_value_in_the_environment_is_named_by_its_variable() {
    let setup = Setup::new("lead_reengage_hours = 2\n");
    assert_eq!(
        setup.error_line(&[("LEAD_REENGAGE_HOURS", "soon")]),
        "configuration error: LEAD_REENGAGE_HOURS: expected a number, got \"soon\""
    );
    let nested = Setup::new("[redirect]\nthank_you_path = \"/t\"\n");
    let line = nested.error_line(&[("REDIRECT_THANK_YOU_PATH", "t")]);
    assert!(
        line.starts_with("configuration error: REDIRECT_THANK_YOU_PATH: "),
        "{line}"
    );
}

#[test]
fn a_syntax_error_gives_line_and_column() {
    let setup = Setup::new("bind = \"127.0.0.1:8080\"\n\nenvironment = = \"test\"\n");
    let line = setup.error_line(&[]);
    let prefix = format!(
        "configuration error: LEADGATE_CONFIG: {} line 3, column 15: ",
        setup.path()
    );
    assert!(line.starts_with(&prefix), "{line}");
    // A message that spans lines in the parser is still one line.
    let unclosed = Setup::new("bind = \"127.0.0.1:8080\"\ntrusted_proxies = [\n");
    let line = unclosed.error_line(&[]);
    assert!(line.contains(" line "), "{line}");
    assert!(line.contains(", column "), "{line}");
}

#[test]
fn allowed_hosts_must_be_host_names() {
    let setup = Setup::new("");
    let line = setup.error_line(&[("REDIRECT_ALLOWED_HOSTS", "https://www.example.com/")]);
    assert!(
        line.starts_with(
            "configuration error: REDIRECT_ALLOWED_HOSTS: \"https://www.example.com/\" is not a \
             host name"
        ),
        "{line}"
    );
    assert!(line.ends_with("like www.example.com"), "{line}");
    for entry in [
        "forms.example.com, https://www.example.com",
        "www.example.com/thanks",
        "user@www.example.com",
        "www example.com",
        "www..example.com",
    ] {
        let line = setup.error_line(&[("REDIRECT_ALLOWED_HOSTS", entry)]);
        assert!(
            line.starts_with("configuration error: REDIRECT_ALLOWED_HOSTS: "),
            "{line}"
        );
    }
    let in_file = Setup::new("[redirect]\nallowed_hosts = [\"https://www.example.com/\"]\n");
    let line = in_file.error_line(&[]);
    assert!(
        line.starts_with(&format!(
            "configuration error: redirect.allowed_hosts (in {}): ",
            in_file.path()
        )),
        "{line}"
    );
    assert_ok(&setup.check_config(&[(
        "REDIRECT_ALLOWED_HOSTS",
        "WWW.Example.com, shop.example.com:8443",
    )]));
}

#[test]
fn fallback_url_and_thank_you_path_are_checked() {
    let setup = Setup::new("");
    let line = setup.error_line(&[("REDIRECT_FALLBACK_URL", "thanks")]);
    assert!(
        line.starts_with("configuration error: REDIRECT_FALLBACK_URL: \"thanks\" must be"),
        "{line}"
    );
    for url in ["//evil.example/x", "/\\evil.example", "ftp://example.com/"] {
        let line = setup.error_line(&[("REDIRECT_FALLBACK_URL", url)]);
        assert!(
            line.starts_with("configuration error: REDIRECT_FALLBACK_URL: "),
            "{line}"
        );
    }
    for path in ["thank-you", "//evil.example", "/\\evil.example", "/a\u{7}b"] {
        let line = setup.error_line(&[("REDIRECT_THANK_YOU_PATH", path)]);
        assert!(
            line.starts_with("configuration error: REDIRECT_THANK_YOU_PATH: "),
            "{line}"
        );
    }
    let in_file = Setup::new("[redirect]\nfallback_url = \"thanks\"\n");
    let line = in_file.error_line(&[]);
    assert!(
        line.starts_with(&format!(
            "configuration error: redirect.fallback_url (in {}): ",
            in_file.path()
        )),
        "{line}"
    );
    assert_ok(&setup.check_config(&[
        (
            "REDIRECT_FALLBACK_URL",
            "https://www.example.com/thanks?from=form",
        ),
        ("REDIRECT_THANK_YOU_PATH", "/thanks?from=form"),
    ]));
}

#[test]
fn huge_numbers_are_one_line_errors_not_panics() {
    let setup = Setup::new("");
    for key in [
        "DATABASE_POOL_SIZE",
        "SPOOL_MAX_MB",
        "SPOOL_DRAIN_INTERVAL_MS",
    ] {
        for value in ["99999999999999999999999999", "1e308", "NaN"] {
            let line = setup.error_line(&[(key, value)]);
            assert!(
                line.starts_with(&format!("configuration error: {key}: ")),
                "{line}"
            );
        }
    }
    let in_file = Setup::new("database_pool_size = 9223372036854775807\n");
    let line = in_file.error_line(&[]);
    assert!(line.contains("database_pool_size (in "), "{line}");
}
