//! Suspicion, from a submission and what is known of the visitor; engagement in `engagement.rs`.
//!
//! Failure policy: pure functions of their input; what cannot be scored scores 0, never fails.
//! Each signal adds its own stable reason (a machine-readable string) and weight; the weights
//! are in the README.

mod engagement;
#[cfg(test)]
mod tests;

use crate::sources::submission::Submission;
use crate::tracking::VisitorActivity;
use chrono::{DateTime, Offset, TimeZone, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::LazyLock;

pub use engagement::{engagement, engagement_of, Engagement};

/// mailchecker's list of disposable-mail domains (~55,000, kept up to date upstream), as a set.
static DISPOSABLE_DOMAINS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| mailchecker::blacklist().into_iter().collect());

const BOT_AGENT_MARKERS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "slurp",
    "headlesschrome",
    "phantomjs",
    "selenium",
    "puppeteer",
    "playwright",
    "python-requests",
    "python-urllib",
    "scrapy",
    "go-http-client",
    "libwww-perl",
];

/// Top-level domains a spammer's link in a name field usually ends in.
const LINK_ENDINGS: &[&str] = &[
    "com", "net", "org", "info", "biz", "ru", "cn", "xyz", "top", "io", "co", "online", "site",
    "click", "link", "shop", "live",
];

/// What a single submission says about itself, and what tracking knows of its visitor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubmissionSignals {
    pub time_to_submit: Option<f64>,
    pub disposable_email: bool,
    pub bot_user_agent: bool,
    /// A phone was given with its country known (an international prefix, a `country_code`, or
    /// the address's country) and is not a valid number there.
    pub invalid_phone: bool,
    /// The name holds a link or markup.
    pub markup_in_name: bool,
    /// The honeypot was filled (stored only while `BOT_LEAD_DETECTION` is off).
    pub honeypot_filled: bool,
    /// A website form's session id came without the render time the tracker sets beside it
    /// (a rule only for visitors tracking has seen: a site may post its own session ids).
    pub form_time_missing: bool,
    /// ISO country of the phone number, and of the client address (`CF-IPCountry`).
    pub phone_country: Option<String>,
    pub ip_country: Option<String>,
    /// The client address's time zone (`CF-Timezone`).
    pub ip_time_zone: Option<String>,
    /// Whether the address is in `VPN_RANGES`; `None` without ranges or an address.
    pub address_in_vpn_ranges: Option<bool>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// The visitor's tracked sessions, pages and time (none when tracking has not seen them).
    pub activity: Option<VisitorActivity>,
}

/// The signals of a submission; `vpn_ranges` are the operator's hosting and VPN networks.
pub fn signals_of(sub: &Submission, vpn_ranges: &[IpNet]) -> SubmissionSignals {
    let address: Option<std::net::IpAddr> = sub.ip.as_deref().and_then(|ip| ip.parse().ok());
    let text = |key: &str| sub.payload.get(key).and_then(|v| v.as_str()).map(str::trim);
    SubmissionSignals {
        time_to_submit: sub.time_to_submit,
        disposable_email: sub.email_key.as_deref().is_some_and(is_disposable_email),
        bot_user_agent: sub.user_agent.as_deref().is_some_and(is_bot_user_agent),
        invalid_phone: sub.phone.is_none()
            && sub
                .phone_raw
                .as_deref()
                .is_some_and(|raw| phone_checkable(raw, sub)),
        markup_in_name: sub.name.as_deref().is_some_and(has_link_or_markup),
        honeypot_filled: text("__pg_hp").is_some_and(|v| !v.is_empty()),
        form_time_missing: sub.lead_source == "website"
            && sub.session_id.is_some()
            && sub.time_to_submit.is_none(),
        phone_country: sub.phone.as_ref().and_then(|p| p.country.clone()),
        ip_country: sub.geo.country.as_deref().map(str::to_ascii_uppercase),
        ip_time_zone: sub.geo.timezone.clone(),
        address_in_vpn_ranges: match (address, vpn_ranges.is_empty()) {
            (Some(ip), false) => Some(vpn_ranges.iter().any(|net| net.contains(&ip))),
            _ => None,
        },
        submitted_at: Some(sub.submitted_at),
        activity: None,
    }
}

pub fn is_disposable_email(email: &str) -> bool {
    let domain = email
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    // The domain and each parent: `x.mailinator.com` is mailinator's too.
    let mut rest = domain.as_str();
    loop {
        if DISPOSABLE_DOMAINS.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) if parent.contains('.') => rest = parent,
            _ => return false,
        }
    }
}

pub fn is_bot_user_agent(user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    BOT_AGENT_MARKERS.iter().any(|m| ua.contains(m))
}

/// A link (`http://`, `www.`, `name.com`) or markup (`<`, `>`) where a person's name belongs.
pub fn has_link_or_markup(name: &str) -> bool {
    let lower = name.to_lowercase();
    if lower.contains("://") || lower.contains("www.") || lower.contains(['<', '>']) {
        return true;
    }
    // An email typed into the name field is a slip, not a link.
    lower
        .split(|c: char| c.is_whitespace() || c == ',' || c == '/')
        .filter(|word| !word.contains('@'))
        .filter_map(|word| word.rsplit_once('.'))
        .any(|(host, tld)| !host.is_empty() && LINK_ENDINGS.contains(&tld))
}

/// Whether a number's country can be told, so that not reading it means it is invalid there (a
/// local number with no country anywhere is unknown, not invalid).
fn phone_checkable(raw: &str, sub: &Submission) -> bool {
    let raw = raw.trim();
    !raw.is_empty()
        && (raw.starts_with('+')
            || raw.starts_with("00")
            || sub.country_code.is_some()
            || sub.geo.country.is_some())
}

/// Whether the visitor is likely behind a VPN or hosting address: their browser's time zone (from
/// the tracker) keeps another UTC offset than their address's (`CF-Timezone`) at the time of the
/// submission, or the address is in `VPN_RANGES`. `None` when neither can be told.
pub fn vpn_suspected(signals: &SubmissionSignals) -> Option<bool> {
    let browser = signals
        .activity
        .as_ref()
        .and_then(|a| a.time_zone.as_deref());
    let offsets_differ = match (browser, signals.ip_time_zone.as_deref()) {
        (Some(browser), Some(address)) => {
            let at = signals.submitted_at.unwrap_or_else(Utc::now);
            match (utc_offset(browser, at), utc_offset(address, at)) {
                (Some(a), Some(b)) => Some(a != b),
                _ => None,
            }
        }
        _ => None,
    };
    match (offsets_differ, signals.address_in_vpn_ranges) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (None, None) => None,
        _ => Some(false),
    }
}

/// A time zone's offset from UTC, in seconds, at `at`.
fn utc_offset(name: &str, at: DateTime<Utc>) -> Option<i32> {
    let tz: chrono_tz::Tz = name.parse().ok()?;
    Some(
        tz.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspicion {
    pub score: u32,
    pub reasons: Vec<String>,
    pub vpn_suspected: Option<bool>,
}

/// Submissions in the last hour from this visitor (or IP) above which a form is being hammered.
pub const FORM_SUBMIT_BURST: i64 = 5;

/// Each signal adds its own reason and weight; the score is capped at 100.
pub fn suspicion(signals: &SubmissionSignals, form_submit_count: i64) -> Suspicion {
    let vpn = vpn_suspected(signals);
    let countries_differ = match (&signals.phone_country, &signals.ip_country) {
        (Some(phone), Some(ip)) => phone != ip && ip != "XX" && ip != "T1",
        _ => false,
    };
    let rules: [(bool, u32, &str); 10] = [
        (signals.bot_user_agent, 50, "bot_user_agent"),
        (signals.honeypot_filled, 50, "honeypot_filled"),
        (
            signals.time_to_submit.is_some_and(|t| t < 3.0),
            40,
            "time_to_submit_under_3s",
        ),
        (signals.disposable_email, 30, "disposable_email_domain"),
        (signals.markup_in_name, 30, "url_or_markup_in_name"),
        (
            form_submit_count > FORM_SUBMIT_BURST,
            20,
            "many_form_submits_in_an_hour",
        ),
        (signals.invalid_phone, 20, "invalid_phone"),
        (
            signals.form_time_missing && signals.activity.is_some(),
            15,
            "form_time_missing",
        ),
        (
            countries_differ,
            15,
            "phone_country_differs_from_ip_country",
        ),
        (vpn == Some(true), 15, "vpn_suspected"),
    ];
    let fired: Vec<(u32, &str)> = rules
        .iter()
        .filter(|(fires, _, _)| *fires)
        .map(|(_, weight, reason)| (*weight, *reason))
        .collect();
    Suspicion {
        score: fired.iter().map(|(w, _)| w).sum::<u32>().min(100),
        reasons: fired.iter().map(|(_, r)| r.to_string()).collect(),
        vpn_suspected: vpn,
    }
}

/// A bot lead is stored but never forwarded; only an unmistakable bot signature makes one.
pub fn is_bot_lead(detection_enabled: bool, signals: &SubmissionSignals) -> bool {
    detection_enabled && signals.bot_user_agent
}
