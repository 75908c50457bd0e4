//! How each setting's value is read and checked: serde `deserialize_with` functions over the
//! layered file-and-environment values (a file value keeps its TOML type; an environment value is
//! text that `layers::EnvValue` parses as the setting asks), and the pure checks behind them.

use super::{DatabaseTarget, Environment};
use ipnet::IpNet;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

type Result<T, E> = std::result::Result<T, E>;

fn problem<E: de::Error>(text: impl fmt::Display) -> E {
    E::custom(text)
}

/// Text, and what an error says was expected instead.
struct TextVisitor(&'static str);

impl<'de> Visitor<'de> for TextVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// A string, trimmed; blank is not set.
pub fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = d.deserialize_string(TextVisitor("a string"))?;
    Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty()))
}

struct NumberVisitor;

impl<'de> Visitor<'de> for NumberVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

/// A finite number >= 0.
pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let value = d.deserialize_f64(NumberVisitor)?;
    if !value.is_finite() || value < 0.0 {
        return Err(problem(format!("expected a number >= 0, got {value}")));
    }
    Ok(value)
}

/// A whole number within `range` (which lies within what `u64` holds).
fn whole_number<'de, D: Deserializer<'de>>(
    d: D,
    range: std::ops::RangeInclusive<f64>,
) -> Result<u64, D::Error> {
    let value = number(d)?;
    if !range.contains(&value) || value.fract() != 0.0 {
        return Err(problem(format!(
            "expected a whole number from {} to {}, got {value}",
            range.start(),
            range.end()
        )));
    }
    Ok(value as u64)
}

/// Seconds above 0, at most an hour (a `Duration` made of more could not be represented).
fn seconds_up_to_an_hour<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let seconds = number(d)?;
    if seconds == 0.0 || seconds > 3600.0 {
        return Err(problem("expected seconds above 0, at most 3600"));
    }
    Ok(seconds)
}

struct FlagVisitor;

impl<'de> Visitor<'de> for FlagVisitor {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("true or false")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
}

pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    d.deserialize_bool(FlagVisitor)
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }
    /// `"a, b"` in the file is the list it would be in the environment.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
        Ok(v.split(',').map(str::to_string).collect())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StringItem)? {
            items.push(item);
        }
        Ok(items)
    }
}

struct StringItem;

impl<'de> de::DeserializeSeed<'de> for StringItem {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_string(TextVisitor("strings"))
    }
}

/// A list (TOML array, or comma-separated text), items trimmed, blank items dropped.
fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items = d.deserialize_seq(ListVisitor)?;
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect())
}

pub fn default_bind() -> String {
    "127.0.0.1:8080".into()
}

pub fn bind<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let bind = optional_text(d)?.unwrap_or_else(default_bind);
    match bind.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(bind),
        _ => Err(problem(format!("expected host:port, got {bind:?}"))),
    }
}

pub fn default_database_url() -> String {
    "sqlite://data/leadgate.db".into()
}

pub fn database_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = optional_text(d)?.unwrap_or_else(default_database_url);
    database_target(&url).map_err(problem)?;
    Ok(url)
}

/// `sqlite://relative/path`, `sqlite:///absolute/path`, or a PostgreSQL URL.
pub fn database_target(url: &str) -> Result<DatabaseTarget, String> {
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

/// 2 to 64; 0 (not set) until the backend's default is known.
pub fn database_pool_size<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(whole_number(d, 2.0..=64.0)? as u32)
}

/// Blank (not set) until the database's default is known.
pub fn path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    Ok(optional_text(d)?.map(PathBuf::from).unwrap_or_default())
}

pub fn default_spool_max_bytes() -> u64 {
    1024 << 20
}

/// Megabytes (`spool_max_mb`), 1 to 1048576 (1 TiB), as bytes.
pub fn megabytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(whole_number(d, 1.0..=1_048_576.0)? << 20)
}

pub fn default_spool_drain_interval() -> Duration {
    Duration::from_millis(500)
}

/// Milliseconds (`spool_drain_interval_ms`), 1 to 60000.
pub fn milliseconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Ok(Duration::from_millis(whole_number(d, 1.0..=60_000.0)?))
}

pub fn environment<'de, D: Deserializer<'de>>(d: D) -> Result<Environment, D::Error> {
    match optional_text(d)?.as_deref() {
        None | Some("development") => Ok(Environment::Development),
        Some("production") => Ok(Environment::Production),
        Some("test") => Ok(Environment::Test),
        Some(other) => Err(problem(format!(
            "expected development, production or test, got {other:?}"
        ))),
    }
}

pub fn yes() -> bool {
    true
}

pub fn default_lead_reengage_hours() -> f64 {
    24.0
}

pub fn default_lead_duplicate_window_minutes() -> f64 {
    30.0
}

pub fn default_inbox_retention_days() -> f64 {
    30.0
}

pub fn default_tracking_retention_days() -> f64 {
    90.0
}

/// A destination leadgate may send leads to (not a link-local or metadata address).
pub fn webhook_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let url = optional_text(d)?;
    match url
        .as_deref()
        .and_then(crate::outbound::forbidden_destination)
    {
        Some(why) => Err(problem(why)),
        None => Ok(url),
    }
}

pub fn signing_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let secret = optional_text(d)?;
    match &secret {
        Some(s) if !s.starts_with("whsec_") || s.len() <= "whsec_".len() => {
            Err(problem("expected a value starting with whsec_"))
        }
        _ => Ok(secret),
    }
}

pub fn default_webhook_timeout_seconds() -> f64 {
    10.0
}

pub fn timeout_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    seconds_up_to_an_hour(d)
}

pub fn default_body_timeout() -> Duration {
    Duration::from_secs(10)
}

pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Ok(Duration::from_secs_f64(seconds_up_to_an_hour(d)?))
}

pub fn default_dead_letter_ttl_days() -> f64 {
    7.0
}

pub fn dead_letter_ttl_days<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let days = number(d)?;
    if days > 36_500.0 {
        return Err(problem("at most 36500 (a hundred years)"));
    }
    Ok(days)
}

fn durations_of(items: &[&str]) -> Vec<Duration> {
    items.iter().filter_map(|d| parse_duration(d)).collect()
}

/// The contract's retry schedule.
pub fn default_retry_schedule() -> Vec<Duration> {
    durations_of(&["1s", "2s", "4s"])
}

pub fn default_redrive_schedule() -> Vec<Duration> {
    durations_of(&["5m", "30m", "2h", "6h", "12h", "24h"])
}

/// A list of durations (`1s,2s,4s`); an empty list is no schedule.
pub fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    list(d)?
        .iter()
        .map(|item| {
            parse_duration(item).ok_or_else(|| {
                problem(format!("{item:?} is not a duration like 90s, 5m, 2h or 1d"))
            })
        })
        .collect()
}

/// At most ten delays of at most 5 minutes: a send made while the database is down is held in
/// memory for the whole schedule, and longer waits are what the re-drive schedule is for.
pub fn retry_delays<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let delays = durations(d)?;
    if delays.len() > 10 || delays.iter().any(|d| *d > Duration::from_secs(300)) {
        return Err(problem(
            "expected at most 10 delays of at most 5m each (longer waits: WEBHOOK_REDRIVE_SCHEDULE)",
        ));
    }
    Ok(delays)
}

/// `500ms`, `90s`, `5m`, `2h`, `1d` (decimals allowed): a positive duration.
pub fn parse_duration(text: &str) -> Option<Duration> {
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
        .then(|| Duration::from_secs_f64(value * seconds))
}

pub fn default_facebook_api_version() -> String {
    "v18.0".into()
}

pub fn facebook_api_version<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(optional_text(d)?.unwrap_or_else(default_facebook_api_version))
}

pub fn default_facebook_graph_url() -> String {
    "https://graph.facebook.com".into()
}

pub fn facebook_graph_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = optional_text(d)?.unwrap_or_else(default_facebook_graph_url);
    let uri: actix_web::http::Uri = url
        .parse()
        .map_err(|_| problem(format!("{url:?} is not a URL")))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(url),
        _ => Err(problem(format!("{url:?} is not an http(s) URL"))),
    }
}

pub fn default_facebook_backfill_minutes() -> f64 {
    15.0
}

/// `0` (off), or from a second to 30 days: a read more often than that would be one long read.
pub fn facebook_backfill_minutes<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let minutes = number(d)?;
    if minutes != 0.0 && !(1.0 / 60.0..=43_200.0).contains(&minutes) {
        return Err(problem(format!(
            "expected 0 (off) or 0.0167 to 43200 minutes, got {minutes}"
        )));
    }
    Ok(minutes)
}

/// The proxies on this machine.
pub fn default_trusted_proxies() -> Vec<IpNet> {
    ["127.0.0.1", "::1"]
        .iter()
        .filter_map(|ip| parse_ip_or_cidr(ip))
        .collect()
}

/// A list of IPs and CIDRs (`TRUSTED_PROXIES`, `VPN_RANGES`).
pub fn networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    list(d)?
        .iter()
        .map(|item| {
            parse_ip_or_cidr(item)
                .ok_or_else(|| problem(format!("{item:?} is not an IP address or CIDR")))
        })
        .collect()
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

pub fn allowed_hosts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list(d)?
        .iter()
        .map(|entry| super::redirect::allowed_host(entry).map_err(problem))
        .collect()
}

pub fn default_thank_you_path() -> String {
    "/thank-you".into()
}

pub fn thank_you_path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let path = optional_text(d)?.unwrap_or_else(default_thank_you_path);
    super::redirect::check_thank_you_path(&path).map_err(problem)?;
    Ok(path)
}

pub fn fallback_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = optional_text(d)?.unwrap_or_else(default_thank_you_path);
    super::redirect::check_fallback_url(&url).map_err(problem)?;
    Ok(url)
}
