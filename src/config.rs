//! Configuration: a TOML file, every key overridable by an environment variable.
//!
//! Each key is read by name so that a bad value is reported as one line naming the key
//! (the CLI turns it into exit code 2).

use ipnet::IpNet;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG_PATH: &str = "config/default.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Production => "production",
            Environment::Test => "test",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RedirectConfig {
    pub allowed_hosts: Vec<String>,
    pub thank_you_path: String,
    pub fallback_url: String,
}

#[derive(Debug, Clone)]
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    pub database_url: String,
    pub database: DatabaseTarget,
    pub database_pool_size: u32,
    pub spool_path: PathBuf,
    /// The spool's size cap in bytes (`SPOOL_MAX_MB`).
    pub spool_max_bytes: u64,
    pub spool_drain_interval: std::time::Duration,
    pub admin_token: Option<String>,
    pub environment: Environment,
    pub bot_lead_detection: bool,
    pub lead_reengage_hours: f64,
    pub lead_duplicate_window_minutes: f64,
    pub make_webhook_url: Option<String>,
    pub webhook_signing_secret: Option<String>,
    pub webhook_timeout_seconds: f64,
    pub dead_letter_ttl_days: f64,
    /// When dead letters are retried on their own, after the time each one died; empty: never.
    pub webhook_redrive_schedule: Vec<std::time::Duration>,
    /// The delays before a webhook delivery's retries (`WEBHOOK_RETRY_SCHEDULE`, `1s,2s,4s`): the
    /// contract's schedule; tests shorten it where timing is not what they test.
    pub webhook_retry_schedule: Vec<std::time::Duration>,
    /// How long a request body may take to arrive (`BODY_TIMEOUT_SECONDS`).
    pub body_timeout: std::time::Duration,
    /// Processed inbox rows are deleted after this many days (`INBOX_RETENTION_DAYS`; 0 keeps them).
    pub inbox_retention_days: f64,
    pub crm_callback_token: Option<String>,
    pub facebook_verify_token: Option<String>,
    pub facebook_app_secret: Option<String>,
    pub facebook_app_id: Option<String>,
    pub facebook_api_version: String,
    pub facebook_graph_url: String,
    pub trusted_proxies: Vec<IpNet>,
    pub redirect: RedirectConfig,
}

/// A configuration error: the key and what is wrong with it. A value from the environment is named
/// by its variable (`LEAD_REENGAGE_HOURS`), a value from the file by its key there
/// (`lead_reengage_hours`, `redirect.thank_you_path`) with `in_file` saying which file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub key: String,
    /// For a value read from the configuration file: its path (or `the configuration file` when
    /// the path is not known); `None` for the environment.
    pub in_file: Option<String>,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error: {}", self.key)?;
        if let Some(file) = &self.in_file {
            write!(f, " (in {file})")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// Whitespace (line breaks included) collapsed to single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The problem is kept on one line: the CLI prints exactly one line per configuration error.
fn err(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: one_line(key),
        in_file: None,
        problem: one_line(&problem.into()),
    }
}

/// An error about a value in the configuration file at `path`.
fn file_err(key: &str, path: Option<&Path>, problem: impl Into<String>) -> ConfigError {
    let file = match path {
        Some(path) => path
            .display()
            .to_string()
            .chars()
            .map(|c| match c {
                ' ' => c.to_string(),
                c if c.is_control() || c.is_whitespace() => c.escape_default().to_string(),
                c => c.to_string(),
            })
            .collect(),
        None => "the configuration file".to_string(),
    };
    ConfigError {
        in_file: Some(file),
        ..err(key, problem)
    }
}

/// Where the configuration file is: `--config`, else `LEADGATE_CONFIG`, else the default path.
pub fn config_path(cli_path: Option<&str>, env: &BTreeMap<String, String>) -> (PathBuf, bool) {
    match cli_path
        .map(str::to_string)
        .or_else(|| env.get("LEADGATE_CONFIG").cloned())
    {
        Some(p) => (PathBuf::from(p), true),
        None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
    }
}

/// Loads the file (a missing file at the default path means defaults) and applies the environment.
pub fn load(cli_path: Option<&str>, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    let (path, explicit) = config_path(cli_path, env);
    let file = read_file(&path, explicit)?;
    if let Some(cert_file) = env.get("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        crate::outbound::check_cert_file(Path::new(cert_file))
            .map_err(|problem| err("SSL_CERT_FILE", problem))?;
    }
    Config::from_file_and_env(&file, Some(&path), env)
}

fn read_file(path: &Path, explicit: bool) -> Result<toml::Table, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.parse::<toml::Table>().map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let (line, column) = line_and_column(&text, span.start);
                    format!(" line {line}, column {column}")
                })
                .unwrap_or_default();
            err(
                "LEADGATE_CONFIG",
                format!("{}{at}: {}", path.display(), message_lines(e.message())),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(toml::Table::new()),
        Err(e) => Err(err("LEADGATE_CONFIG", format!("{}: {}", path.display(), e))),
    }
}

/// The parser's message (`invalid array\nexpected ...`) as one line.
fn message_lines(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The line and column (both from 1; the column in characters) of a byte offset into `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    // UTF-8 continuation bytes do not start a character.
    let column = before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    (line, column)
}

/// One key's raw value, from the environment (text) or the file (TOML).
enum Raw {
    Env(String),
    File(toml::Value),
}

struct Sources<'a> {
    file: &'a toml::Table,
    env: &'a BTreeMap<String, String>,
    /// The file's path, to say where a bad file value is; `None` when not known.
    path: Option<&'a Path>,
}

impl Sources<'_> {
    /// `file_key` may be `table.key`.
    fn file_value(&self, file_key: &str) -> Option<&toml::Value> {
        let mut parts = file_key.split('.');
        let mut value = self.file.get(parts.next()?)?;
        for part in parts {
            value = value.as_table()?.get(part)?;
        }
        Some(value)
    }

    /// The environment wins over the file.
    fn raw(&self, file_key: &str, env_key: &str) -> Option<Raw> {
        if let Some(v) = self.env.get(env_key) {
            return Some(Raw::Env(v.clone()));
        }
        self.file_value(file_key).cloned().map(Raw::File)
    }

    /// A bad value, named where it came from: the environment variable when it is set, else the
    /// file key when the file has it, else (a default) the environment variable.
    fn err(&self, file_key: &str, env_key: &str, problem: impl Into<String>) -> ConfigError {
        if !self.env.contains_key(env_key) && self.file_value(file_key).is_some() {
            file_err(file_key, self.path, problem)
        } else {
            err(env_key, problem)
        }
    }

    fn string(&self, file_key: &str, env_key: &str) -> Result<Option<String>, ConfigError> {
        match self.raw(file_key, env_key) {
            None => Ok(None),
            Some(Raw::Env(s)) => Ok(Some(s)),
            Some(Raw::File(toml::Value::String(s))) => Ok(Some(s)),
            Some(Raw::File(other)) => Err(self.err(
                file_key,
                env_key,
                format!("expected a string, got {}", other.type_str()),
            )),
        }
        .map(|v| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
    }

    fn number(&self, file_key: &str, env_key: &str, default: f64) -> Result<f64, ConfigError> {
        let value = match self.raw(file_key, env_key) {
            None => return Ok(default),
            Some(Raw::Env(s)) => s.trim().parse::<f64>().map_err(|_| {
                self.err(file_key, env_key, format!("expected a number, got {s:?}"))
            })?,
            Some(Raw::File(toml::Value::Integer(i))) => i as f64,
            Some(Raw::File(toml::Value::Float(f))) => f,
            Some(Raw::File(other)) => {
                return Err(self.err(
                    file_key,
                    env_key,
                    format!("expected a number, got {}", other.type_str()),
                ))
            }
        };
        if !value.is_finite() || value < 0.0 {
            return Err(self.err(
                file_key,
                env_key,
                format!("expected a number >= 0, got {value}"),
            ));
        }
        Ok(value)
    }

    fn boolean(&self, file_key: &str, env_key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(file_key, env_key) {
            None => Ok(default),
            Some(Raw::Env(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(self.err(
                    file_key,
                    env_key,
                    format!("expected true or false, got {s:?}"),
                )),
            },
            Some(Raw::File(toml::Value::Boolean(b))) => Ok(b),
            Some(Raw::File(other)) => Err(self.err(
                file_key,
                env_key,
                format!("expected true or false, got {}", other.type_str()),
            )),
        }
    }

    fn list(&self, file_key: &str, env_key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        let items: Vec<String> = match self.raw(file_key, env_key) {
            None => return Ok(None),
            Some(Raw::Env(s)) => s.split(',').map(|p| p.trim().to_string()).collect(),
            Some(Raw::File(toml::Value::String(s))) => {
                s.split(',').map(|p| p.trim().to_string()).collect()
            }
            Some(Raw::File(toml::Value::Array(values))) => values
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s.trim().to_string()),
                    other => Err(self.err(
                        file_key,
                        env_key,
                        format!("expected strings, got {}", other.type_str()),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(Raw::File(other)) => {
                return Err(self.err(
                    file_key,
                    env_key,
                    format!("expected a list, got {}", other.type_str()),
                ))
            }
        };
        Ok(Some(items.into_iter().filter(|s| !s.is_empty()).collect()))
    }
}

/// Keys this daemon knows; anything else in the file is reported rather than silently ignored.
const KNOWN_FILE_KEYS: &[&str] = &[
    "bind",
    "database_url",
    "database_pool_size",
    "spool_path",
    "spool_max_mb",
    "spool_drain_interval_ms",
    "admin_token",
    "environment",
    "bot_lead_detection",
    "lead_reengage_hours",
    "lead_duplicate_window_minutes",
    "make_webhook_url",
    "webhook_signing_secret",
    "webhook_timeout_seconds",
    "dead_letter_ttl_days",
    "webhook_redrive_schedule",
    "webhook_retry_schedule",
    "body_timeout_seconds",
    "inbox_retention_days",
    "crm_callback_token",
    "facebook_verify_token",
    "facebook_app_secret",
    "facebook_app_id",
    "facebook_api_version",
    "facebook_graph_url",
    "trusted_proxies",
    "redirect",
    "smtp_url",
    "fcm_project_id",
    "fcm_credentials",
    "fcm_url",
    "fcm_token_url",
    "twilio_account_sid",
    "twilio_auth_token",
    "twilio_from",
    "twilio_url",
];

/// The keys of `KNOWN_FILE_KEYS` that are tables, and the keys each of them knows.
const KNOWN_FILE_TABLES: &[(&str, &[&str])] = &[(
    "redirect",
    &["allowed_hosts", "thank_you_path", "fallback_url"],
)];

/// Every key in the file, nested tables included, must be known: a typo is refused rather than
/// silently leaving a default in place. Keys are named as written (`redirect.alowed_hosts`).
fn check_file_keys(file: &toml::Table, path: Option<&Path>) -> Result<(), ConfigError> {
    for (key, value) in file {
        if !KNOWN_FILE_KEYS.contains(&key.as_str()) {
            return Err(file_err(
                &key_as_written(key),
                path,
                unknown_key_problem(key, KNOWN_FILE_KEYS),
            ));
        }
        let Some((_, known)) = KNOWN_FILE_TABLES.iter().find(|(table, _)| table == key) else {
            continue;
        };
        let table = value.as_table().ok_or_else(|| {
            file_err(
                key,
                path,
                format!("expected a table ([{key}]), got {}", value.type_str()),
            )
        })?;
        if let Some(unknown) = table.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(file_err(
                &format!("{key}.{}", key_as_written(unknown)),
                path,
                unknown_key_problem(unknown, known),
            ));
        }
    }
    Ok(())
}

/// A bare key as is; anything else quoted and escaped, as TOML would need it (and on one line).
fn key_as_written(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

fn unknown_key_problem(key: &str, known: &[&str]) -> String {
    let closest = known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance);
    match closest {
        Some((_, k)) => format!("unknown key in the configuration file (did you mean {k}?)"),
        None => "unknown key in the configuration file".to_string(),
    }
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

impl Config {
    /// The file's values (its path unknown) under the environment's.
    pub fn from_sources(
        file: &toml::Table,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        Config::from_file_and_env(file, None, env)
    }

    /// The file's values under the environment's; `path` is where the file was read from, to
    /// name it when one of its values is wrong.
    pub fn from_file_and_env(
        file: &toml::Table,
        path: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        check_file_keys(file, path)?;
        let s = Sources { file, env, path };
        let bind = s
            .string("bind", "LEADGATE_BIND")?
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        validate_bind(&bind).map_err(|p| s.err("bind", "LEADGATE_BIND", p))?;
        let database_url = s
            .string("database_url", "DATABASE_URL")?
            .unwrap_or_else(|| "sqlite://data/leadgate.db".into());
        let database =
            database_target(&database_url).map_err(|p| s.err("database_url", "DATABASE_URL", p))?;
        let pool_default = match database {
            DatabaseTarget::Sqlite(_) => 4.0,
            DatabaseTarget::Postgres(_) => 8.0,
        };
        let database_pool_size = whole_number(
            &s,
            "database_pool_size",
            "DATABASE_POOL_SIZE",
            pool_default,
            2.0..=64.0,
        )?;
        let environment = match s.string("environment", "ENVIRONMENT")?.as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some("test") => Environment::Test,
            Some(other) => {
                return Err(s.err(
                    "environment",
                    "ENVIRONMENT",
                    format!("expected development, production or test, got {other:?}"),
                ))
            }
        };
        let admin_token = s.string("admin_token", "ADMIN_TOKEN")?;
        if environment == Environment::Production && admin_token.is_none() {
            return Err(err("ADMIN_TOKEN", "required when ENVIRONMENT=production"));
        }
        let make_webhook_url = s.string("make_webhook_url", "MAKE_WEBHOOK_URL")?;
        if let Some(why) = make_webhook_url
            .as_deref()
            .and_then(crate::outbound::forbidden_destination)
        {
            return Err(s.err("make_webhook_url", "MAKE_WEBHOOK_URL", why));
        }
        let webhook_signing_secret =
            s.string("webhook_signing_secret", "WEBHOOK_SIGNING_SECRET")?;
        if let Some(secret) = &webhook_signing_secret {
            if !secret.starts_with("whsec_") || secret.len() <= "whsec_".len() {
                return Err(s.err(
                    "webhook_signing_secret",
                    "WEBHOOK_SIGNING_SECRET",
                    "expected a value starting with whsec_",
                ));
            }
        }
        let webhook_timeout_seconds =
            s.number("webhook_timeout_seconds", "WEBHOOK_TIMEOUT_SECONDS", 10.0)?;
        // Above the cap, the Duration made of it at start could not be represented.
        if webhook_timeout_seconds == 0.0 || webhook_timeout_seconds > 3600.0 {
            return Err(s.err(
                "webhook_timeout_seconds",
                "WEBHOOK_TIMEOUT_SECONDS",
                "expected seconds above 0, at most 3600",
            ));
        }
        let facebook_graph_url = s
            .string("facebook_graph_url", "FACEBOOK_GRAPH_URL")?
            .unwrap_or_else(|| "https://graph.facebook.com".into());
        validate_http_url(&facebook_graph_url)
            .map_err(|p| s.err("facebook_graph_url", "FACEBOOK_GRAPH_URL", p))?;
        let trusted_proxies = match s.list("trusted_proxies", "TRUSTED_PROXIES")? {
            None => ["127.0.0.1", "::1"]
                .iter()
                .filter_map(|ip| parse_ip_or_cidr(ip))
                .collect(),
            Some(items) => items
                .iter()
                .map(|item| {
                    parse_ip_or_cidr(item).ok_or_else(|| {
                        s.err(
                            "trusted_proxies",
                            "TRUSTED_PROXIES",
                            format!("{item:?} is not an IP address or CIDR"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let redirect = redirect_config(&s)?;
        let spool_path = s
            .string("spool_path", "SPOOL_PATH")?
            .map(PathBuf::from)
            .unwrap_or_else(|| default_spool_path(&database));
        let spool_max_mb = whole_number(
            &s,
            "spool_max_mb",
            "SPOOL_MAX_MB",
            1024.0,
            1.0..=1_048_576.0,
        )?;
        let spool_max_bytes = spool_max_mb
            .checked_mul(1024 * 1024)
            .ok_or_else(|| s.err("spool_max_mb", "SPOOL_MAX_MB", "too large"))?;
        Ok(Config {
            bind,
            database_url,
            database,
            database_pool_size: u32::try_from(database_pool_size).map_err(|_| {
                s.err(
                    "database_pool_size",
                    "DATABASE_POOL_SIZE",
                    "expected a whole number from 2 to 64",
                )
            })?,
            spool_path,
            spool_max_bytes,
            spool_drain_interval: std::time::Duration::from_millis(whole_number(
                &s,
                "spool_drain_interval_ms",
                "SPOOL_DRAIN_INTERVAL_MS",
                500.0,
                1.0..=60_000.0,
            )?),
            admin_token,
            environment,
            bot_lead_detection: s.boolean("bot_lead_detection", "BOT_LEAD_DETECTION", true)?,
            lead_reengage_hours: s.number("lead_reengage_hours", "LEAD_REENGAGE_HOURS", 24.0)?,
            lead_duplicate_window_minutes: s.number(
                "lead_duplicate_window_minutes",
                "LEAD_DUPLICATE_WINDOW_MINUTES",
                30.0,
            )?,
            make_webhook_url,
            webhook_signing_secret,
            webhook_timeout_seconds,
            dead_letter_ttl_days: dead_letter_ttl_days(&s)?,
            webhook_redrive_schedule: redrive_schedule(&s)?,
            webhook_retry_schedule: durations(
                &s,
                "webhook_retry_schedule",
                "WEBHOOK_RETRY_SCHEDULE",
                &["1s", "2s", "4s"],
            )?,
            body_timeout: positive_seconds(
                &s,
                "body_timeout_seconds",
                "BODY_TIMEOUT_SECONDS",
                10.0,
            )?,
            inbox_retention_days: s.number("inbox_retention_days", "INBOX_RETENTION_DAYS", 30.0)?,
            crm_callback_token: s.string("crm_callback_token", "CRM_CALLBACK_TOKEN")?,
            facebook_verify_token: s.string("facebook_verify_token", "FACEBOOK_VERIFY_TOKEN")?,
            facebook_app_secret: s.string("facebook_app_secret", "FACEBOOK_APP_SECRET")?,
            facebook_app_id: s.string("facebook_app_id", "FACEBOOK_APP_ID")?,
            facebook_api_version: s
                .string("facebook_api_version", "FACEBOOK_API_VERSION")?
                .unwrap_or_else(|| "v18.0".into()),
            facebook_graph_url,
            trusted_proxies,
            redirect,
        })
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Features that are off because their settings are missing, for one log line each at start.
    pub fn disabled_features(&self) -> Vec<&'static str> {
        // Where leads go is said by its own line at start (`forwarding.on` / `forwarding.off`).
        let mut off = Vec::new();
        if self.admin_token.is_none() {
            off.push("ADMIN_TOKEN is unset: every /admin endpoint answers 401");
        }
        if self.facebook_app_secret.is_none() {
            off.push("FACEBOOK_APP_SECRET is unset: Facebook webhook signatures are not checked");
        }
        off
    }
}

/// `WEBHOOK_REDRIVE_SCHEDULE`: `5m,30m,2h,6h,12h,24h` by default; empty turns it off.
fn redrive_schedule(s: &Sources<'_>) -> Result<Vec<std::time::Duration>, ConfigError> {
    let default = ["5m", "30m", "2h", "6h", "12h", "24h"];
    durations(
        s,
        "webhook_redrive_schedule",
        "WEBHOOK_REDRIVE_SCHEDULE",
        &default,
    )
}

/// A list of durations (`1s,2s,4s`); the default when the key is absent.
fn durations(
    s: &Sources<'_>,
    file_key: &str,
    env_key: &str,
    default: &[&str],
) -> Result<Vec<std::time::Duration>, ConfigError> {
    let items = s
        .list(file_key, env_key)?
        .unwrap_or_else(|| default.iter().map(|d| d.to_string()).collect());
    items
        .iter()
        .map(|item| {
            parse_duration(item).ok_or_else(|| {
                s.err(
                    file_key,
                    env_key,
                    format!("{item:?} is not a duration like 90s, 5m, 2h or 1d"),
                )
            })
        })
        .collect()
}

/// `500ms`, `90s`, `5m`, `2h`, `1d` (decimals allowed): a positive duration.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let seconds = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return None,
    };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value > 0.0 && value * seconds <= 400.0 * 86_400.0)
        .then(|| std::time::Duration::from_secs_f64(value * seconds))
}

fn positive_seconds(
    s: &Sources<'_>,
    file_key: &str,
    env_key: &str,
    default: f64,
) -> Result<std::time::Duration, ConfigError> {
    let seconds = s.number(file_key, env_key, default)?;
    if seconds == 0.0 || seconds > 3600.0 {
        return Err(s.err(file_key, env_key, "expected seconds above 0, at most 3600"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

fn dead_letter_ttl_days(s: &Sources<'_>) -> Result<f64, ConfigError> {
    let days = s.number("dead_letter_ttl_days", "DEAD_LETTER_TTL_DAYS", 7.0)?;
    if days > 36_500.0 {
        return Err(s.err(
            "dead_letter_ttl_days",
            "DEAD_LETTER_TTL_DAYS",
            "at most 36500 (a hundred years)",
        ));
    }
    Ok(days)
}

/// A whole number within `range` (which must lie within what `u64` holds), or the default.
fn whole_number(
    s: &Sources<'_>,
    file_key: &str,
    env_key: &str,
    default: f64,
    range: std::ops::RangeInclusive<f64>,
) -> Result<u64, ConfigError> {
    let value = s.number(file_key, env_key, default)?;
    if !range.contains(&value) || value.fract() != 0.0 || value >= u64::MAX as f64 {
        return Err(s.err(
            file_key,
            env_key,
            format!(
                "expected a whole number from {} to {}, got {value}",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(value as u64)
}

fn validate_bind(bind: &str) -> Result<(), String> {
    match bind.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!("expected host:port, got {bind:?}")),
    }
}

fn validate_http_url(url: &str) -> Result<(), String> {
    let uri: actix_web::http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(()),
        _ => Err(format!("{url:?} is not an http(s) URL")),
    }
}

/// `sqlite://relative/path`, `sqlite:///absolute/path`, or a PostgreSQL URL.
pub fn parse_database_url(url: &str) -> Result<DatabaseTarget, ConfigError> {
    database_target(url).map_err(|problem| err("DATABASE_URL", problem))
}

fn database_target(url: &str) -> Result<DatabaseTarget, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(DatabaseTarget::Postgres(url.to_string()));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| format!("expected sqlite://PATH or postgres://..., got {url:?}"))?;
    if path.is_empty() {
        return Err("the SQLite path is empty".into());
    }
    Ok(DatabaseTarget::Sqlite(PathBuf::from(path)))
}

/// `[redirect]`: where a browser is sent after a form post.
fn redirect_config(s: &Sources<'_>) -> Result<RedirectConfig, ConfigError> {
    let (hosts_key, hosts_env) = ("redirect.allowed_hosts", "REDIRECT_ALLOWED_HOSTS");
    let allowed_hosts = s
        .list(hosts_key, hosts_env)?
        .unwrap_or_default()
        .iter()
        .map(|entry| allowed_host(entry).map_err(|p| s.err(hosts_key, hosts_env, p)))
        .collect::<Result<_, _>>()?;
    let (path_key, path_env) = ("redirect.thank_you_path", "REDIRECT_THANK_YOU_PATH");
    let thank_you_path = s
        .string(path_key, path_env)?
        .unwrap_or_else(|| "/thank-you".into());
    check_thank_you_path(&thank_you_path).map_err(|p| s.err(path_key, path_env, p))?;
    let (fallback_key, fallback_env) = ("redirect.fallback_url", "REDIRECT_FALLBACK_URL");
    let fallback_url = s
        .string(fallback_key, fallback_env)?
        .unwrap_or_else(|| "/thank-you".into());
    check_fallback_url(&fallback_url).map_err(|p| s.err(fallback_key, fallback_env, p))?;
    Ok(RedirectConfig {
        allowed_hosts,
        thank_you_path,
        fallback_url,
    })
}

/// An allowed redirect host as the `Origin` header carries it: a host name (or an IP address,
/// IPv6 in brackets), optionally with `:port`; returned in lower case.
fn allowed_host(entry: &str) -> Result<String, String> {
    host_form(entry).map_err(|why| {
        let like = host_hint(entry).unwrap_or_else(|| "www.example.com".into());
        format!("{entry:?} is not a host name: {why}; write only the host (and :port if needed), like {like}")
    })
}

fn host_form(entry: &str) -> Result<String, String> {
    let host = entry.trim().to_ascii_lowercase();
    if host.contains("://") {
        return Err("it has a scheme".into());
    }
    if host.contains('/') {
        return Err("it has a path or /".into());
    }
    if host.contains('@') {
        return Err("it has an @".into());
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it has spaces or control characters".into());
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (address, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs its closing ]")?;
        address
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("[{address}] is not an IPv6 address"))?;
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err("only :port may follow the ]".into()),
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host.as_str()), None),
        }
    };
    if let Some(port) = port {
        let ok = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p != 0);
        if !ok {
            return Err(format!(
                "{port:?} is not a port (an IPv6 address goes in brackets)"
            ));
        }
    }
    if let Some(name) = name {
        if name.split('.').any(|label| label.is_empty()) {
            return Err("it has an empty label (.. or a leading or trailing .)".into());
        }
        if name.len() > 253 || name.split('.').any(|label| label.len() > 63) {
            return Err("it is too long for a host name".into());
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(match c {
                '*' => "wildcards are not supported, list each host".to_string(),
                c if !c.is_ascii() => format!(
                    "{c:?} is not allowed (an international name is written in punycode, xn--…)"
                ),
                c => format!("{c:?} is not allowed in a host name"),
            });
        }
    }
    Ok(host)
}

/// The host of a URL-like entry (`https://user@WWW.example.com:8443/x` → `www.example.com:8443`),
/// if that is a valid host.
fn host_hint(entry: &str) -> Option<String> {
    let rest = entry.trim();
    let rest = rest.split_once("://").map_or(rest, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    host_form(host).ok().filter(|h| !h.is_empty())
}

/// Browsers read `/\evil.example` as another host, and a line break would end the `Location`
/// header (as for a campaign's `thank_you_url`).
fn has_control_or_backslash(url: &str) -> bool {
    url.chars().any(|c| c.is_control() || c == '\\')
}

/// A path on the form's own site: `<origin><thank_you_path>`.
fn check_thank_you_path(path: &str) -> Result<(), String> {
    if has_control_or_backslash(path) {
        return Err(format!(
            "{path:?} must not contain control characters or backslashes"
        ));
    }
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(format!(
            "{path:?} must be a path starting with a single /, like /thank-you"
        ));
    }
    path.parse::<actix_web::http::Uri>()
        .map(drop)
        .map_err(|_| format!("{path:?} is not a valid URL path"))
}

/// Where a browser goes when no other page fits: an absolute http(s) URL, or a path on this host.
fn check_fallback_url(url: &str) -> Result<(), String> {
    if has_control_or_backslash(url) {
        return Err(format!(
            "{url:?} must not contain control characters or backslashes"
        ));
    }
    if url.starts_with('/') {
        return check_thank_you_path(url);
    }
    match url.parse::<actix_web::http::Uri>() {
        Ok(uri)
            if matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.host().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{url:?} must be an absolute http(s):// URL, like https://www.example.com/thank-you, or a path starting with a single /, like /thank-you"
        )),
    }
}

/// Beside the SQLite file; for PostgreSQL in `data/` of the working directory.
fn default_spool_path(database: &DatabaseTarget) -> PathBuf {
    match database {
        DatabaseTarget::Sqlite(path) => {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".spool");
            path.with_file_name(name)
        }
        DatabaseTarget::Postgres(_) => PathBuf::from("data/leadgate.spool"),
    }
}

/// An exact address becomes a host network (/32 or /128). IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is
/// read as the IPv4 address it is, since client addresses are compared in that form.
pub fn parse_ip_or_cidr(text: &str) -> Option<IpNet> {
    let text = text.trim();
    let net = match text.parse::<IpNet>() {
        Ok(net) => net.trunc(),
        Err(_) => IpNet::from(text.parse::<std::net::IpAddr>().ok()?),
    };
    Some(canonical_net(net))
}

fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(|n| IpNet::V4(n.trunc()))
                .unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

/// The process environment as a map, so that configuration loading stays a pure function.
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars().collect()
}

#[cfg(test)]
mod tests {
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
            &file(
                "[redirect]\nallowed_hosts = []\nthank_you_path = \"/t\"\nfallback_url = \"/t\"\n",
            ),
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
    fn allowed_hosts_are_host_names() {
        let c = Config::from_sources(
            &toml::Table::new(),
            &env(&[(
                "REDIRECT_ALLOWED_HOSTS",
                "WWW.Example.com, shop.example.com:8443,localhost,[::1]:8080,203.0.113.7,my_host",
            )]),
        )
        .unwrap();
        assert_eq!(
            c.redirect.allowed_hosts,
            [
                "www.example.com",
                "shop.example.com:8443",
                "localhost",
                "[::1]:8080",
                "203.0.113.7",
                "my_host"
            ]
        );
        let bad = [
            "https://www.example.com/",
            "https://www.example.com",
            "www.example.com/",
            "www.example.com/thanks",
            "user@www.example.com",
            "www example.com",
            "www..example.com",
            ".example.com",
            "example.com.",
            "example.com:",
            "example.com:http",
            "example.com:99999",
            "example.com:0",
            "*.example.com",
            "::1",
            "[::1",
            "[nope]",
            "[::1]x",
            "bücher.example",
            "a\u{7}b",
        ];
        for entry in bad {
            let e = error_of("", &[("REDIRECT_ALLOWED_HOSTS", entry)]);
            assert_eq!(e.key, "REDIRECT_ALLOWED_HOSTS", "{entry}");
            assert!(e.problem.contains("is not a host name"), "{e}");
            assert!(e.problem.contains(", like "), "{e}");
        }
        let e = error_of(
            "",
            &[("REDIRECT_ALLOWED_HOSTS", "https://WWW.example.com:8443/x")],
        );
        assert!(e.problem.ends_with("like www.example.com:8443"), "{e}");
        let e = error_of(
            "",
            &[("REDIRECT_ALLOWED_HOSTS", "https://www.example.com/")],
        );
        assert_eq!(
            e.to_string(),
            "configuration error: REDIRECT_ALLOWED_HOSTS: \"https://www.example.com/\" is not a host name: \
             it has a scheme; write only the host (and :port if needed), like www.example.com"
        );
        let e = error_of(
            "[redirect]\nallowed_hosts = [\"ok.example\", \"http://x.example\"]\n",
            &[],
        );
        assert_eq!(e.key, "redirect.allowed_hosts");
        assert!(e.problem.contains("\"http://x.example\""), "{e}");
    }

    #[test]
    fn thank_you_path_and_fallback_url() {
        let ok = Config::from_sources(
            &toml::Table::new(),
            &env(&[
                ("REDIRECT_THANK_YOU_PATH", "/thanks?from=form"),
                (
                    "REDIRECT_FALLBACK_URL",
                    "HTTPS://www.example.com/thanks?x=1",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(ok.redirect.thank_you_path, "/thanks?from=form");
        for url in [
            "/thanks",
            "http://example.com",
            "https://www.example.com:8443/t",
        ] {
            Config::from_sources(&toml::Table::new(), &env(&[("REDIRECT_FALLBACK_URL", url)]))
                .unwrap_or_else(|e| panic!("{url}: {e}"));
        }
        for path in [
            "thanks",
            "//evil.example",
            "/\\evil.example",
            "/a\u{1}b",
            "https://x.example/t",
            "/a b",
        ] {
            let e = error_of("", &[("REDIRECT_THANK_YOU_PATH", path)]);
            assert_eq!(e.key, "REDIRECT_THANK_YOU_PATH", "{path:?}");
        }
        for url in [
            "thanks",
            "www.example.com/thanks",
            "//evil.example",
            "/\\evil.example",
            "https:\\\\evil.example",
            "https://www.example.com/a\u{0}b",
            "javascript:alert(1)",
            "ftp://example.com/",
            "https://",
            "https:///path",
        ] {
            let e = error_of("", &[("REDIRECT_FALLBACK_URL", url)]);
            assert_eq!(e.key, "REDIRECT_FALLBACK_URL", "{url:?}");
        }
        let e = error_of("", &[("REDIRECT_FALLBACK_URL", "thanks")]);
        assert!(e.problem.contains("absolute http(s)://"), "{e}");
        let e = error_of("[redirect]\nfallback_url = \"thanks\"\n", &[]);
        assert_eq!(e.key, "redirect.fallback_url");
        let e = error_of("[redirect]\nthank_you_path = \"//x\"\n", &[]);
        assert_eq!(e.key, "redirect.thank_you_path");
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
        let text = include_str!("../config/default.toml");
        Config::from_file_and_env(&file(text), Some(Path::new(DEFAULT_CONFIG_PATH)), &env(&[]))
            .unwrap();
    }
}
