//! The configuration's unit tests: defaults, layering, and every error naming its key.

mod redirect;

use super::errors::{line_and_column, read_file};
use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_apply_without_file_or_environment() {
    let c = Config::from_sources(&toml::Table::new(), &env(&[])).unwrap();
    assert_eq!(c.bind, "127.0.0.1:8080");
    assert!(
        matches!(c.database, DatabaseTarget::Sqlite(ref p) if p == Path::new("data/leadgate.db"))
    );
    assert_eq!(c.lead_reengage_hours, 24.0);
    assert_eq!(c.lead_duplicate_window_minutes, 30.0);
    assert!(c.bot_lead_detection);
    assert_eq!(c.trusted_proxies.len(), 2);
    assert_eq!(c.facebook_api_version, "v18.0");
}

#[test]
fn environment_overrides_file() {
    let file: toml::Table = "bind = \"0.0.0.0:9000\"\nlead_reengage_hours = 2\n"
        .parse()
        .unwrap();
    let c = Config::from_sources(&file, &env(&[("LEAD_REENGAGE_HOURS", "0.5")])).unwrap();
    assert_eq!(c.bind, "0.0.0.0:9000");
    assert_eq!(c.lead_reengage_hours, 0.5);
}

#[test]
fn bad_values_name_the_key() {
    let cases = [
        ("LEAD_REENGAGE_HOURS", "soon"),
        ("LEADGATE_BIND", "nowhere"),
        ("DATABASE_URL", "mysql://x"),
        ("ENVIRONMENT", "staging"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,banana"),
        ("BOT_LEAD_DETECTION", "maybe"),
        ("WEBHOOK_SIGNING_SECRET", "plain"),
        ("DEAD_LETTER_TTL_DAYS", "1e9"),
    ];
    for (key, value) in cases {
        let e = Config::from_sources(&toml::Table::new(), &env(&[(key, value)])).unwrap_err();
        assert_eq!(e.key, key, "{value}");
    }
}

#[test]
fn production_requires_admin_token() {
    let e = Config::from_sources(&toml::Table::new(), &env(&[("ENVIRONMENT", "production")]))
        .unwrap_err();
    assert_eq!(e.key, "ADMIN_TOKEN");
}

#[test]
fn mapped_addresses_are_read_as_ipv4() {
    assert_eq!(
        parse_ip_or_cidr("::ffff:203.0.113.10"),
        parse_ip_or_cidr("203.0.113.10")
    );
    assert_eq!(
        parse_ip_or_cidr("::ffff:203.0.113.0/120")
            .unwrap()
            .to_string(),
        "203.0.113.0/24"
    );
    assert_eq!(
        parse_ip_or_cidr("2001:DB8::1").unwrap().to_string(),
        "2001:db8::1/128"
    );
}

#[test]
fn durations_and_the_redrive_schedule() {
    assert_eq!(
        parse_duration("90s"),
        Some(std::time::Duration::from_secs(90))
    );
    assert_eq!(
        parse_duration("1.5h"),
        Some(std::time::Duration::from_secs(5400))
    );
    assert_eq!(
        parse_duration("250ms"),
        Some(std::time::Duration::from_millis(250))
    );
    for bad in ["", "5", "m", "5 minutes", "-1s", "0s"] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
    let c = Config::from_sources(&toml::Table::new(), &env(&[])).unwrap();
    assert_eq!(c.webhook_redrive_schedule.len(), 6);
    assert_eq!(
        c.webhook_redrive_schedule[0],
        std::time::Duration::from_secs(300)
    );
    let off = env(&[("WEBHOOK_REDRIVE_SCHEDULE", "")]);
    assert!(Config::from_sources(&toml::Table::new(), &off)
        .unwrap()
        .webhook_redrive_schedule
        .is_empty());
    let bad = env(&[("WEBHOOK_REDRIVE_SCHEDULE", "5m,soon")]);
    assert_eq!(
        Config::from_sources(&toml::Table::new(), &bad)
            .unwrap_err()
            .key,
        "WEBHOOK_REDRIVE_SCHEDULE"
    );
}

#[test]
fn the_retry_schedule_is_the_contracts_unless_set_and_bounded() {
    let c = Config::from_sources(&toml::Table::new(), &env(&[])).unwrap();
    assert_eq!(c.webhook_retry_schedule, [1, 2, 4].map(Duration::from_secs));
    let quick = env(&[("WEBHOOK_RETRY_SCHEDULE", "100ms, 100ms")]);
    let c = Config::from_sources(&toml::Table::new(), &quick).unwrap();
    assert_eq!(c.webhook_retry_schedule, [Duration::from_millis(100); 2]);
    let none = env(&[("WEBHOOK_RETRY_SCHEDULE", "")]);
    let c = Config::from_sources(&toml::Table::new(), &none).unwrap();
    assert!(c.webhook_retry_schedule.is_empty());
    for bad in ["1d", "6m", "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s", "soon"] {
        let e = error_of("", &[("WEBHOOK_RETRY_SCHEDULE", bad)]);
        assert_eq!(e.key, "WEBHOOK_RETRY_SCHEDULE", "{bad}");
    }
}

#[test]
fn database_urls() {
    assert!(
        matches!(parse_database_url("sqlite:///var/lib/x.db").unwrap(), DatabaseTarget::Sqlite(p) if p == Path::new("/var/lib/x.db"))
    );
    assert!(matches!(
        parse_database_url("postgresql://u@h/db").unwrap(),
        DatabaseTarget::Postgres(_)
    ));
}

fn file(text: &str) -> toml::Table {
    text.parse().unwrap()
}

/// The error for `file` (read from `/etc/leadgate.toml`) under `env`.
fn error_of(text: &str, pairs: &[(&str, &str)]) -> ConfigError {
    let path = Path::new("/etc/leadgate.toml");
    let e = Config::from_file_and_env(&file(text), Some(path), &env(pairs)).unwrap_err();
    assert_eq!(e.to_string().lines().count(), 1, "{e}");
    e
}

#[test]
fn unknown_keys_in_nested_tables_are_refused() {
    let e = error_of("[redirect]\nalowed_hosts = [\"www.example.com\"]\n", &[]);
    assert_eq!(e.key, "redirect.alowed_hosts");
    assert_eq!(
        e.to_string(),
        "configuration error: redirect.alowed_hosts (in /etc/leadgate.toml): \
         unknown key in the configuration file (did you mean allowed_hosts?)"
    );
    let e = error_of(
        "redirect = { fallback_url = \"/x\", colour = \"red\" }\n",
        &[],
    );
    assert_eq!(e.key, "redirect.colour");
    let e = error_of("binds = \"x\"\n", &[]);
    assert_eq!(e.key, "binds");
    assert!(e.problem.contains("did you mean bind?"), "{e}");
    // Without a path, the error still says the key is in the file.
    let e = Config::from_sources(&file("[redirect]\nhosts = []\n"), &env(&[])).unwrap_err();
    assert_eq!(e.key, "redirect.hosts");
    assert_eq!(e.in_file.as_deref(), Some("the configuration file"));
    // The known keys of the table pass.
    let c = Config::from_sources(
        &file("[redirect]\nallowed_hosts = []\nthank_you_path = \"/t\"\nfallback_url = \"/t\"\n"),
        &env(&[]),
    )
    .unwrap();
    assert_eq!(c.redirect.thank_you_path, "/t");
}

#[test]
fn a_table_key_must_hold_a_table() {
    let e = error_of("redirect = \"x\"\n", &[]);
    assert_eq!(e.key, "redirect");
    assert_eq!(
        e.to_string(),
        "configuration error: redirect (in /etc/leadgate.toml): expected a table ([redirect]), got string"
    );
    assert_eq!(
        error_of("[[redirect]]\nfallback_url = \"/x\"\n", &[]).key,
        "redirect"
    );
}

#[test]
fn odd_unknown_keys_are_quoted_on_one_line() {
    let e = error_of("\"a\\nb\" = 1\n", &[]);
    assert_eq!(e.key, "\"a\\nb\"");
    let e = error_of("[redirect]\n\"x y\u{2028}z\" = 1\n", &[]);
    assert!(e.key.starts_with("redirect.\"x y"), "{e}");
    let e = error_of("\"\" = 1\n", &[]);
    assert_eq!(e.key, "\"\"");
}

#[test]
fn a_bad_file_value_is_named_by_its_file_key() {
    let e = error_of("lead_reengage_hours = \"soon\"\n", &[]);
    assert_eq!(
        e.to_string(),
        "configuration error: lead_reengage_hours (in /etc/leadgate.toml): expected a number, got string"
    );
    let cases = [
        (
            "[redirect]\nthank_you_path = 5\n",
            "redirect.thank_you_path",
        ),
        (
            "[redirect]\nallowed_hosts = [1]\n",
            "redirect.allowed_hosts",
        ),
        ("[redirect]\nallowed_hosts = 1\n", "redirect.allowed_hosts"),
        ("bot_lead_detection = \"yes\"\n", "bot_lead_detection"),
        ("bind = \"nowhere\"\n", "bind"),
        ("database_url = \"mysql://x\"\n", "database_url"),
        ("database_pool_size = 100\n", "database_pool_size"),
        ("database_pool_size = 2.5\n", "database_pool_size"),
        ("environment = \"staging\"\n", "environment"),
        ("trusted_proxies = [\"banana\"]\n", "trusted_proxies"),
        (
            "webhook_signing_secret = \"plain\"\n",
            "webhook_signing_secret",
        ),
        ("webhook_timeout_seconds = 0\n", "webhook_timeout_seconds"),
        ("dead_letter_ttl_days = 1e9\n", "dead_letter_ttl_days"),
        (
            "webhook_redrive_schedule = [\"soon\"]\n",
            "webhook_redrive_schedule",
        ),
        ("body_timeout_seconds = -1\n", "body_timeout_seconds"),
        ("spool_max_mb = 0\n", "spool_max_mb"),
        ("facebook_graph_url = \"ftp://x\"\n", "facebook_graph_url"),
    ];
    for (text, key) in cases {
        let e = error_of(text, &[]);
        assert_eq!(e.key, key, "{text}: {e}");
        assert_eq!(e.in_file.as_deref(), Some("/etc/leadgate.toml"), "{text}");
        assert!(
            e.to_string().starts_with(&format!(
                "configuration error: {key} (in /etc/leadgate.toml): "
            )),
            "{e}"
        );
    }
}

#[test]
fn a_bad_environment_value_is_named_by_its_variable_even_over_the_file() {
    let e = error_of(
        "lead_reengage_hours = 2\n",
        &[("LEAD_REENGAGE_HOURS", "soon")],
    );
    assert_eq!(
        e.to_string(),
        "configuration error: LEAD_REENGAGE_HOURS: expected a number, got \"soon\""
    );
    assert_eq!(e.in_file, None);
    let e = error_of(
        "[redirect]\nthank_you_path = \"/ok\"\n",
        &[("REDIRECT_THANK_YOU_PATH", "thanks")],
    );
    assert_eq!(e.key, "REDIRECT_THANK_YOU_PATH");
    // The environment wins, so a bad file value under a good variable is not used at all.
    let c = Config::from_sources(
        &file("lead_reengage_hours = \"soon\"\n"),
        &env(&[("LEAD_REENGAGE_HOURS", "3")]),
    )
    .unwrap();
    assert_eq!(c.lead_reengage_hours, 3.0);
}

#[test]
fn syntax_errors_give_line_and_column_on_one_line() {
    assert_eq!(line_and_column("abc", 0), (1, 1));
    assert_eq!(line_and_column("abc", 2), (1, 3));
    assert_eq!(line_and_column("a\nbc", 3), (2, 2));
    assert_eq!(line_and_column("a\r\nbc", 3), (2, 1));
    assert_eq!(line_and_column("é = \"ü\"\nx", 5), (1, 5));
    assert_eq!(line_and_column("ab", 99), (1, 3));
    // Inside a multi-byte character: no panic.
    assert_eq!(line_and_column("é", 1).0, 1);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leadgate.toml");
    std::fs::write(
        &path,
        "bind = \"127.0.0.1:8080\"\n\nenvironment = = \"test\"\n",
    )
    .unwrap();
    let e = read_file(&path, true).unwrap_err();
    assert_eq!(e.key, "LEADGATE_CONFIG");
    let prefix = format!("{} line 3, column 15: ", path.display());
    assert!(e.problem.starts_with(&prefix), "{e}");
    assert_eq!(e.to_string().lines().count(), 1, "{e}");
    std::fs::write(&path, "bind = [\n").unwrap();
    let e = read_file(&path, true).unwrap_err();
    assert!(e.problem.contains(" line 2, column 1: "), "{e}");
    assert!(e.problem.ends_with("invalid array; expected `]`"), "{e}");
    assert_eq!(e.to_string().lines().count(), 1, "{e}");
}

#[test]
fn huge_and_odd_numbers_are_errors_not_panics() {
    let keys = [
        "DATABASE_POOL_SIZE",
        "SPOOL_MAX_MB",
        "SPOOL_DRAIN_INTERVAL_MS",
        "WEBHOOK_TIMEOUT_SECONDS",
        "BODY_TIMEOUT_SECONDS",
        "DEAD_LETTER_TTL_DAYS",
        "FACEBOOK_BACKFILL_MINUTES",
    ];
    let values = [
        "1e30",
        "99999999999999999999999999",
        "18446744073709551616",
        "1.7976931348623157e308",
        "1e400",
        "NaN",
        "inf",
        "-1",
        "-0.5",
    ];
    for key in keys {
        for value in values {
            let e = error_of("", &[(key, value)]);
            assert_eq!(e.key, key, "{value}");
        }
    }
    for key in [
        "DATABASE_POOL_SIZE",
        "SPOOL_MAX_MB",
        "SPOOL_DRAIN_INTERVAL_MS",
    ] {
        assert_eq!(error_of("", &[(key, "4.5")]).key, key);
    }
    // A back-fill every millisecond would be one endless read.
    for value in ["0.001", "50000"] {
        let e = error_of("", &[("FACEBOOK_BACKFILL_MINUTES", value)]);
        assert_eq!(e.key, "FACEBOOK_BACKFILL_MINUTES", "{value}");
    }
    for text in [
        "database_pool_size = 9223372036854775807\n",
        "database_pool_size = -9223372036854775808\n",
        "spool_max_mb = 1.7976931348623157e308\n",
        "spool_drain_interval_ms = inf\n",
        "webhook_timeout_seconds = 1e300\n",
        "body_timeout_seconds = nan\n",
    ] {
        let e = error_of(text, &[]);
        assert!(e.in_file.is_some(), "{text}: {e}");
    }
    let c = Config::from_sources(
        &toml::Table::new(),
        &env(&[("SPOOL_MAX_MB", "1048576"), ("DATABASE_POOL_SIZE", "64")]),
    )
    .unwrap();
    assert_eq!(c.spool_max_bytes, 1 << 40);
    assert_eq!(c.database_pool_size, 64);
}

#[test]
fn every_error_is_one_line() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("", &[("LEADGATE_BIND", "a\nb")]),
        ("", &[("DATABASE_URL", "mysql://\r\nx")]),
        ("", &[("ENVIRONMENT", "prod\nuction")]),
        ("", &[("TRUSTED_PROXIES", "10.0.0.1,\n\nbanana")]),
        ("", &[("REDIRECT_FALLBACK_URL", "/a\nb")]),
        ("", &[("REDIRECT_THANK_YOU_PATH", "a\u{2028}b")]),
        ("", &[("REDIRECT_ALLOWED_HOSTS", "a\u{85}b")]),
        ("bind = \"x\\ny\"\n", &[]),
        ("[redirect]\nfallback_url = \"a\\u2029b\"\n", &[]),
    ];
    for (text, pairs) in cases {
        let e = Config::from_file_and_env(
            &file(text),
            Some(Path::new("/etc/lead\ngate.toml")),
            &env(pairs),
        )
        .unwrap_err();
        let line = e.to_string();
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            !line.contains(['\u{2028}', '\u{2029}', '\u{85}', '\r']),
            "{line:?}"
        );
    }
}

#[test]
fn the_shipped_default_file_is_valid() {
    let text = include_str!("../../../config/default.toml");
    Config::from_file_and_env(&file(text), Some(Path::new(DEFAULT_CONFIG_PATH)), &env(&[]))
        .unwrap();
}

#[test]
fn every_key_has_its_variable_and_a_line_in_the_readme() {
    let keys = all_keys();
    assert!(keys.contains(&"redirect.allowed_hosts".to_string()));
    assert!(keys.contains(&"spool_max_mb".to_string()));
    assert!(
        !keys.iter().any(|k| k == "database"),
        "derived fields are no keys"
    );
    assert_eq!(env_name("redirect.allowed_hosts"), "REDIRECT_ALLOWED_HOSTS");
    assert_eq!(env_name("bind"), "LEADGATE_BIND");
    let readme = include_str!("../../../README.md");
    for key in &keys {
        let variable = format!("`{}`", env_name(key));
        assert!(readme.contains(&variable), "README lacks {variable}");
    }
    // Every variable is read, and a value its setting refuses is named by the variable.
    for key in keys
        .iter()
        .filter(|k| !k.contains("token") && !k.contains("secret"))
    {
        let variable = env_name(key);
        if let Err(e) = Config::from_sources(&toml::Table::new(), &env(&[(&variable, "1e999,x")])) {
            assert_eq!(e.key, variable);
        }
    }
}

#[test]
fn nested_tables_deny_unknown_fields_in_serde_too() {
    // Below the key check: the declaration itself refuses a key it does not have.
    let nested = file("[redirect]\nalowed_hosts = []\n");
    let e = Config::deserialize(layers::Node::layered(&nested, &env(&[]))).unwrap_err();
    assert_eq!(e.path, ["redirect", "alowed_hosts"], "{e}");
    let top = file("binds = 1\n");
    assert!(Config::deserialize(layers::Node::layered(&top, &env(&[]))).is_err());
}

#[test]
fn type_errors_speak_toml() {
    let cases = [
        (
            "[redirect]\nthank_you_path = 5\n",
            "expected a string, got integer",
        ),
        (
            "[redirect]\nallowed_hosts = [1]\n",
            "expected strings, got integer",
        ),
        (
            "[redirect]\nallowed_hosts = 1\n",
            "expected a list, got integer",
        ),
        (
            "bot_lead_detection = \"yes\"\n",
            "expected true or false, got string",
        ),
        (
            "database_pool_size = 2.5\n",
            "expected a whole number from 2 to 64, got 2.5",
        ),
        (
            "webhook_retry_schedule = {}\n",
            "expected a list, got table",
        ),
    ];
    for (text, problem) in cases {
        assert_eq!(error_of(text, &[]).problem, problem, "{text}");
    }
    // The same words are fine as text from the environment, where everything is text.
    let off = file("bot_lead_detection = false\n");
    let on = Config::from_sources(&off, &env(&[("BOT_LEAD_DETECTION", "yes")])).unwrap();
    assert!(on.bot_lead_detection);
    let off = Config::from_sources(&toml::Table::new(), &env(&[("BOT_LEAD_DETECTION", "off")]));
    assert!(!off.unwrap().bot_lead_detection);
}
