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

/// A configuration error: the key (as its environment name) and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error: {}: {}", self.key, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// The problem is kept on one line: the CLI prints exactly one line per configuration error.
fn err(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        problem: problem
            .into()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
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
    Config::from_sources(&file, env)
}

fn read_file(path: &Path, explicit: bool) -> Result<toml::Table, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.parse::<toml::Table>().map_err(|e| {
            let msg = e.message().to_string();
            err("LEADGATE_CONFIG", format!("{}: {}", path.display(), msg))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(toml::Table::new()),
        Err(e) => Err(err("LEADGATE_CONFIG", format!("{}: {}", path.display(), e))),
    }
}

/// One key's raw value, from the environment (text) or the file (TOML).
enum Raw {
    Env(String),
    File(toml::Value),
}

struct Sources<'a> {
    file: &'a toml::Table,
    env: &'a BTreeMap<String, String>,
}

impl Sources<'_> {
    /// `file_key` may be `table.key`; the environment name is given separately.
    fn raw(&self, file_key: &str, env_key: &str) -> Option<Raw> {
        if let Some(v) = self.env.get(env_key) {
            return Some(Raw::Env(v.clone()));
        }
        let mut parts = file_key.split('.');
        let first = parts.next()?;
        let mut value = self.file.get(first)?;
        for part in parts {
            value = value.as_table()?.get(part)?;
        }
        Some(Raw::File(value.clone()))
    }

    fn string(&self, file_key: &str, env_key: &str) -> Result<Option<String>, ConfigError> {
        match self.raw(file_key, env_key) {
            None => Ok(None),
            Some(Raw::Env(s)) => Ok(Some(s)),
            Some(Raw::File(toml::Value::String(s))) => Ok(Some(s)),
            Some(Raw::File(other)) => Err(err(
                env_key,
                format!("expected a string, got {}", other.type_str()),
            )),
        }
        .map(|v| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
    }

    fn number(&self, file_key: &str, env_key: &str, default: f64) -> Result<f64, ConfigError> {
        let value = match self.raw(file_key, env_key) {
            None => return Ok(default),
            Some(Raw::Env(s)) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| err(env_key, format!("expected a number, got {s:?}")))?,
            Some(Raw::File(toml::Value::Integer(i))) => i as f64,
            Some(Raw::File(toml::Value::Float(f))) => f,
            Some(Raw::File(other)) => {
                return Err(err(
                    env_key,
                    format!("expected a number, got {}", other.type_str()),
                ))
            }
        };
        if !value.is_finite() || value < 0.0 {
            return Err(err(env_key, format!("expected a number >= 0, got {value}")));
        }
        Ok(value)
    }

    fn boolean(&self, file_key: &str, env_key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(file_key, env_key) {
            None => Ok(default),
            Some(Raw::Env(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(err(env_key, format!("expected true or false, got {s:?}"))),
            },
            Some(Raw::File(toml::Value::Boolean(b))) => Ok(b),
            Some(Raw::File(other)) => Err(err(
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
                    other => Err(err(
                        env_key,
                        format!("expected strings, got {}", other.type_str()),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(Raw::File(other)) => {
                return Err(err(
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

impl Config {
    pub fn from_sources(
        file: &toml::Table,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        if let Some(unknown) = file.keys().find(|k| !KNOWN_FILE_KEYS.contains(&k.as_str())) {
            return Err(err(unknown, "unknown key in the configuration file"));
        }
        let s = Sources { file, env };
        let bind = s
            .string("bind", "LEADGATE_BIND")?
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        validate_bind(&bind)?;
        let database_url = s
            .string("database_url", "DATABASE_URL")?
            .unwrap_or_else(|| "sqlite://data/leadgate.db".into());
        let database = parse_database_url(&database_url)?;
        let pool_default = match database {
            DatabaseTarget::Sqlite(_) => 4.0,
            DatabaseTarget::Postgres(_) => 8.0,
        };
        let database_pool_size =
            s.number("database_pool_size", "DATABASE_POOL_SIZE", pool_default)?;
        if !(2.0..=64.0).contains(&database_pool_size) || database_pool_size.fract() != 0.0 {
            return Err(err(
                "DATABASE_POOL_SIZE",
                "expected a whole number from 2 to 64",
            ));
        }
        let environment = match s.string("environment", "ENVIRONMENT")?.as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some("test") => Environment::Test,
            Some(other) => {
                return Err(err(
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
            return Err(err("MAKE_WEBHOOK_URL", why));
        }
        let webhook_signing_secret =
            s.string("webhook_signing_secret", "WEBHOOK_SIGNING_SECRET")?;
        if let Some(secret) = &webhook_signing_secret {
            if !secret.starts_with("whsec_") || secret.len() <= "whsec_".len() {
                return Err(err(
                    "WEBHOOK_SIGNING_SECRET",
                    "expected a value starting with whsec_",
                ));
            }
        }
        let webhook_timeout_seconds =
            s.number("webhook_timeout_seconds", "WEBHOOK_TIMEOUT_SECONDS", 10.0)?;
        if webhook_timeout_seconds == 0.0 {
            return Err(err("WEBHOOK_TIMEOUT_SECONDS", "must be greater than 0"));
        }
        let facebook_graph_url = s
            .string("facebook_graph_url", "FACEBOOK_GRAPH_URL")?
            .unwrap_or_else(|| "https://graph.facebook.com".into());
        validate_http_url("FACEBOOK_GRAPH_URL", &facebook_graph_url)?;
        let trusted_proxies = match s.list("trusted_proxies", "TRUSTED_PROXIES")? {
            None => ["127.0.0.1", "::1"]
                .iter()
                .filter_map(|ip| parse_ip_or_cidr(ip))
                .collect(),
            Some(items) => items
                .iter()
                .map(|item| {
                    parse_ip_or_cidr(item).ok_or_else(|| {
                        err(
                            "TRUSTED_PROXIES",
                            format!("{item:?} is not an IP address or CIDR"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let redirect = RedirectConfig {
            allowed_hosts: s
                .list("redirect.allowed_hosts", "REDIRECT_ALLOWED_HOSTS")?
                .unwrap_or_default()
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            thank_you_path: s
                .string("redirect.thank_you_path", "REDIRECT_THANK_YOU_PATH")?
                .unwrap_or_else(|| "/thank-you".into()),
            fallback_url: s
                .string("redirect.fallback_url", "REDIRECT_FALLBACK_URL")?
                .unwrap_or_else(|| "/thank-you".into()),
        };
        if !redirect.thank_you_path.starts_with('/') {
            return Err(err("REDIRECT_THANK_YOU_PATH", "must start with /"));
        }
        let spool_path = s
            .string("spool_path", "SPOOL_PATH")?
            .map(PathBuf::from)
            .unwrap_or_else(|| default_spool_path(&database));
        Ok(Config {
            bind,
            database_url,
            database,
            database_pool_size: database_pool_size as u32,
            spool_path,
            spool_max_bytes: whole_number(
                &s,
                "spool_max_mb",
                "SPOOL_MAX_MB",
                1024.0,
                1.0..=1_048_576.0,
            )? * 1024
                * 1024,
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
        let mut off = Vec::new();
        if self.make_webhook_url.is_none() {
            off.push("MAKE_WEBHOOK_URL is unset: leads are forwarded only to campaigns with a webhook_url");
        }
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
    let key = "WEBHOOK_REDRIVE_SCHEDULE";
    let items = s.list("webhook_redrive_schedule", key)?.unwrap_or_else(|| {
        ["5m", "30m", "2h", "6h", "12h", "24h"]
            .map(String::from)
            .to_vec()
    });
    items
        .iter()
        .map(|item| {
            parse_duration(item).ok_or_else(|| {
                err(
                    key,
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
        return Err(err(env_key, "expected seconds above 0, at most 3600"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

fn dead_letter_ttl_days(s: &Sources<'_>) -> Result<f64, ConfigError> {
    let days = s.number("dead_letter_ttl_days", "DEAD_LETTER_TTL_DAYS", 7.0)?;
    if days > 36_500.0 {
        return Err(err(
            "DEAD_LETTER_TTL_DAYS",
            "at most 36500 (a hundred years)",
        ));
    }
    Ok(days)
}

/// A whole number within `range`, or the default.
fn whole_number(
    s: &Sources<'_>,
    file_key: &str,
    env_key: &str,
    default: f64,
    range: std::ops::RangeInclusive<f64>,
) -> Result<u64, ConfigError> {
    let value = s.number(file_key, env_key, default)?;
    if !range.contains(&value) || value.fract() != 0.0 {
        return Err(err(
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

fn validate_bind(bind: &str) -> Result<(), ConfigError> {
    let (host, port) = bind
        .rsplit_once(':')
        .ok_or_else(|| err("LEADGATE_BIND", format!("expected host:port, got {bind:?}")))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(err(
            "LEADGATE_BIND",
            format!("expected host:port, got {bind:?}"),
        ));
    }
    Ok(())
}

fn validate_http_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let uri: actix_web::http::Uri = url
        .parse()
        .map_err(|_| err(key, format!("{url:?} is not a URL")))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(()),
        _ => Err(err(key, format!("{url:?} is not an http(s) URL"))),
    }
}

/// `sqlite://relative/path`, `sqlite:///absolute/path`, or a PostgreSQL URL.
pub fn parse_database_url(url: &str) -> Result<DatabaseTarget, ConfigError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(DatabaseTarget::Postgres(url.to_string()));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| {
            err(
                "DATABASE_URL",
                format!("expected sqlite://PATH or postgres://..., got {url:?}"),
            )
        })?;
    if path.is_empty() {
        return Err(err("DATABASE_URL", "the SQLite path is empty"));
    }
    Ok(DatabaseTarget::Sqlite(PathBuf::from(path)))
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
}
