//! Configuration: a TOML file, every key overridable by an environment variable.
//!
//! Each setting is declared once, as a field of [`Config`] (or of a table's struct, `[redirect]`):
//! its file key is the field's name, its environment variable is derived from that
//! (`layers::env_name`), its default and its check sit in the field's serde attributes
//! (`values.rs`). Failure policy: a bad value, an unknown key or a bad file is one line naming
//! the key where it was set (the variable, or the file key and the file), and the CLI exits 2.

mod errors;
mod keys;
mod layers;
mod redirect;
#[cfg(test)]
mod tests;
mod values;

pub use errors::ConfigError;
pub use layers::{all_keys, env_name};
pub use redirect::RedirectConfig;
pub use values::{parse_duration, parse_ip_or_cidr};

use errors::{err, file_err, read_file};
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_CONFIG_PATH: &str = "config/default.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    #[default]
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
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Default for DatabaseTarget {
    fn default() -> Self {
        DatabaseTarget::Sqlite(PathBuf::from("data/leadgate.db"))
    }
}

/// Every setting. The README's configuration table lists each one (a test checks it does).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `host:port` to listen on (`LEADGATE_BIND`).
    #[serde(default = "values::default_bind", deserialize_with = "values::bind")]
    pub bind: String,
    #[serde(
        default = "values::default_database_url",
        deserialize_with = "values::database_url"
    )]
    pub database_url: String,
    /// Where `database_url` points.
    #[serde(skip)]
    pub database: DatabaseTarget,
    /// 4 on SQLite and 8 on PostgreSQL unless set (the default is filled in once the backend is
    /// known; 0 until then).
    #[serde(default, deserialize_with = "values::database_pool_size")]
    pub database_pool_size: u32,
    /// Beside the SQLite file, or `data/leadgate.spool` for PostgreSQL, unless set.
    #[serde(default, deserialize_with = "values::path")]
    pub spool_path: PathBuf,
    /// The spool's size cap in bytes, set in megabytes.
    #[serde(
        rename = "spool_max_mb",
        default = "values::default_spool_max_bytes",
        deserialize_with = "values::megabytes"
    )]
    pub spool_max_bytes: u64,
    #[serde(
        rename = "spool_drain_interval_ms",
        default = "values::default_spool_drain_interval",
        deserialize_with = "values::milliseconds"
    )]
    pub spool_drain_interval: Duration,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub admin_token: Option<String>,
    #[serde(default, deserialize_with = "values::environment")]
    pub environment: Environment,
    #[serde(default = "values::yes", deserialize_with = "values::flag")]
    pub bot_lead_detection: bool,
    #[serde(
        default = "values::default_lead_reengage_hours",
        deserialize_with = "values::number"
    )]
    pub lead_reengage_hours: f64,
    #[serde(
        default = "values::default_lead_duplicate_window_minutes",
        deserialize_with = "values::number"
    )]
    pub lead_duplicate_window_minutes: f64,
    #[serde(default, deserialize_with = "values::webhook_url")]
    pub make_webhook_url: Option<String>,
    #[serde(default, deserialize_with = "values::signing_secret")]
    pub webhook_signing_secret: Option<String>,
    #[serde(
        default = "values::default_webhook_timeout_seconds",
        deserialize_with = "values::timeout_seconds"
    )]
    pub webhook_timeout_seconds: f64,
    #[serde(
        default = "values::default_dead_letter_ttl_days",
        deserialize_with = "values::dead_letter_ttl_days"
    )]
    pub dead_letter_ttl_days: f64,
    /// When dead letters are retried on their own, after the time each one died; empty: never.
    #[serde(
        default = "values::default_redrive_schedule",
        deserialize_with = "values::durations"
    )]
    pub webhook_redrive_schedule: Vec<Duration>,
    /// The delays before a webhook delivery's retries (`1s,2s,4s`): the contract's schedule;
    /// tests shorten it where timing is not what they test. Empty: no retries.
    #[serde(
        default = "values::default_retry_schedule",
        deserialize_with = "values::retry_delays"
    )]
    pub webhook_retry_schedule: Vec<Duration>,
    /// How long a request body may take to arrive.
    #[serde(
        rename = "body_timeout_seconds",
        default = "values::default_body_timeout",
        deserialize_with = "values::seconds"
    )]
    pub body_timeout: Duration,
    /// Processed inbox rows are deleted after this many days (0 keeps them).
    #[serde(
        default = "values::default_inbox_retention_days",
        deserialize_with = "values::number"
    )]
    pub inbox_retention_days: f64,
    /// Tracked sessions and page views are deleted after this many days (0 keeps them).
    #[serde(
        default = "values::default_tracking_retention_days",
        deserialize_with = "values::number"
    )]
    pub tracking_retention_days: f64,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub crm_callback_token: Option<String>,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub facebook_verify_token: Option<String>,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub facebook_app_secret: Option<String>,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub facebook_app_id: Option<String>,
    #[serde(
        default = "values::default_facebook_api_version",
        deserialize_with = "values::facebook_api_version"
    )]
    pub facebook_api_version: String,
    #[serde(
        default = "values::default_facebook_graph_url",
        deserialize_with = "values::facebook_graph_url"
    )]
    pub facebook_graph_url: String,
    /// Minutes between reads of each Facebook form's leads (0: off).
    #[serde(
        default = "values::default_facebook_backfill_minutes",
        deserialize_with = "values::facebook_backfill_minutes"
    )]
    pub facebook_backfill_minutes: f64,
    #[serde(
        default = "values::default_trusted_proxies",
        deserialize_with = "values::networks"
    )]
    pub trusted_proxies: Vec<IpNet>,
    /// Hosting and VPN networks: a lead from one of them is `vpn_suspected`.
    #[serde(default, deserialize_with = "values::networks")]
    pub vpn_ranges: Vec<IpNet>,
    #[serde(default)]
    pub redirect: RedirectConfig,
    // The CRM actions' notifications: SMTP, FCM, Twilio (each off while its settings are unset).
    #[serde(default, deserialize_with = "values::optional_text")]
    pub smtp_url: Option<String>,
    /// The `From` of a representative's email whose campaign's `email_details` names none.
    #[serde(default, deserialize_with = "values::optional_text")]
    pub smtp_from: Option<String>,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub fcm_project_id: Option<String>,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub fcm_credentials: Option<String>,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub fcm_url: Option<String>,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub fcm_token_url: Option<String>,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub twilio_account_sid: Option<String>,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub twilio_auth_token: Option<String>,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub twilio_from: Option<String>,
    #[serde(default, deserialize_with = "values::optional_text")]
    pub twilio_url: Option<String>,
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
    let config = Config::from_file_and_env(&file, Some(&path), env)?;
    // The notification channels' settings are read now, so a bad one stops the start.
    crate::app::check_notification_settings(&config).map_err(|(key, problem)| err(key, problem))?;
    Ok(config)
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
        keys::check_file_keys(file, path)?;
        let mut config = Config::deserialize(layers::Node::layered(file, env)).map_err(|e| {
            let key = e.path.join(".");
            // Named where it came from: the variable when it is set, else the file key.
            match env.contains_key(&env_name(&key)) {
                true => err(&env_name(&key), e.problem),
                false => file_err(&key, path, e.problem),
            }
        })?;
        config.fill_backend_defaults();
        if config.is_production() && config.admin_token.is_none() {
            return Err(err("ADMIN_TOKEN", "required when ENVIRONMENT=production"));
        }
        Ok(config)
    }

    /// What depends on the database: its target, the pool's size and the spool's place.
    fn fill_backend_defaults(&mut self) {
        // `database_url` was checked when it was read.
        self.database = values::database_target(&self.database_url).unwrap_or_default();
        if self.database_pool_size == 0 {
            self.database_pool_size = match self.database {
                DatabaseTarget::Sqlite(_) => 4,
                DatabaseTarget::Postgres(_) => 8,
            };
        }
        if self.spool_path.as_os_str().is_empty() {
            self.spool_path = default_spool_path(&self.database);
        }
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
        let twilio = [
            &self.twilio_account_sid,
            &self.twilio_auth_token,
            &self.twilio_from,
        ];
        if twilio.iter().any(|v| v.is_none()) {
            off.push("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN or TWILIO_FROM is unset: SMS notifications are off");
        }
        if self.smtp_url.is_none() {
            off.push("SMTP_URL is unset: email notifications are off");
        }
        if self.fcm_project_id.is_none() || self.fcm_credentials.is_none() {
            off.push("FCM_PROJECT_ID or FCM_CREDENTIALS is unset: push notifications are off");
        }
        if self.facebook_app_secret.is_none() {
            off.push("FACEBOOK_APP_SECRET is unset: Facebook webhook signatures are not checked");
        }
        off
    }
}

/// `sqlite://relative/path`, `sqlite:///absolute/path`, or a PostgreSQL URL.
pub fn parse_database_url(url: &str) -> Result<DatabaseTarget, ConfigError> {
    values::database_target(url).map_err(|problem| err("DATABASE_URL", problem))
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

/// The process environment as a map, so that configuration loading stays a pure function.
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars().collect()
}
