//! Engagement and suspicion, from a submission and what is known of the visitor.
//!
//! Failure policy: pure functions of their input; what cannot be scored scores 0, never fails.

use serde::{Deserialize, Serialize};

const DISPOSABLE_DOMAINS: &[&str] = &[
    "mailinator.com",
    "guerrillamail.com",
    "guerrillamail.net",
    "10minutemail.com",
    "tempmail.com",
    "temp-mail.org",
    "yopmail.com",
    "trashmail.com",
    "sharklasers.com",
    "getnada.com",
    "dispostable.com",
    "maildrop.cc",
    "throwawaymail.com",
    "fakeinbox.com",
    "mailnesia.com",
    "mintemail.com",
    "spamgourmet.com",
    "tempr.email",
    "discard.email",
    "mohmal.com",
    "emailondeck.com",
    "mytemp.email",
    "tempmailo.com",
];

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

/// What a single submission says about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubmissionSignals {
    pub time_to_submit: Option<f64>,
    pub disposable_email: bool,
    pub bot_user_agent: bool,
    /// The visitor's tracked sessions, pages and time (none when tracking has not seen them).
    #[serde(default)]
    pub activity: Option<crate::tracking::VisitorActivity>,
}

pub fn signals(
    time_to_submit: Option<f64>,
    email_key: Option<&str>,
    user_agent: Option<&str>,
) -> SubmissionSignals {
    SubmissionSignals {
        time_to_submit,
        disposable_email: email_key.is_some_and(is_disposable_email),
        bot_user_agent: user_agent.is_some_and(is_bot_user_agent),
        activity: None,
    }
}

pub fn is_disposable_email(email: &str) -> bool {
    let domain = email
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    DISPOSABLE_DOMAINS
        .iter()
        .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
}

pub fn is_bot_user_agent(user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    BOT_AGENT_MARKERS.iter().any(|m| ua.contains(m))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspicion {
    pub score: u32,
    pub reasons: Vec<String>,
}

/// Submissions in the last hour from this visitor (or IP) above which a form is being hammered.
pub const FORM_SUBMIT_BURST: i64 = 5;

/// Each signal adds its own reason and weight; the score is capped at 100.
pub fn suspicion(signals: &SubmissionSignals, form_submit_count: i64) -> Suspicion {
    let mut score = 0u32;
    let mut reasons = Vec::new();
    let mut add = |weight: u32, reason: &str| {
        score += weight;
        reasons.push(reason.to_string());
    };
    if signals.time_to_submit.is_some_and(|t| t < 3.0) {
        add(40, "time_to_submit_under_3s");
    }
    if signals.disposable_email {
        add(30, "disposable_email_domain");
    }
    if signals.bot_user_agent {
        add(50, "bot_user_agent");
    }
    if form_submit_count > FORM_SUBMIT_BURST {
        add(20, "many_form_submits_in_an_hour");
    }
    Suspicion {
        score: score.min(100),
        reasons,
    }
}

/// A bot lead is stored but never forwarded; only an unmistakable bot signature makes one.
pub fn is_bot_lead(detection_enabled: bool, signals: &SubmissionSignals) -> bool {
    detection_enabled && signals.bot_user_agent
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engagement {
    pub score: u32,
    pub label: &'static str,
    pub session_duration_seconds: i64,
    pub pages_visited: i64,
    pub return_visits: i64,
}

/// Engagement from what tracking knows of the visitor (all zero when it knows nothing): time and
/// pages over all sessions, and the sessions before the one they submit in.
pub fn engagement_of(activity: Option<&crate::tracking::VisitorActivity>) -> Engagement {
    match activity {
        None => engagement(0, 0, 0),
        Some(a) => engagement(a.seconds_on_site, a.page_views, (a.sessions - 1).max(0)),
    }
}

/// Engagement from the visitor's tracked sessions: up to 40 points for time on the site (full at
/// 10 minutes), 6 a page up to 36 (6 pages), 8 a return visit up to 24 (3 returns); `cold` up to
/// 32, `warm` up to 65, `hot` above.
pub fn engagement(
    session_duration_seconds: i64,
    pages_visited: i64,
    return_visits: i64,
) -> Engagement {
    let time_points = (session_duration_seconds as f64 / 600.0 * 40.0).min(40.0);
    let page_points = (pages_visited as f64 * 6.0).min(36.0);
    let return_points = (return_visits as f64 * 8.0).min(24.0);
    let score = (time_points + page_points + return_points)
        .round()
        .clamp(0.0, 100.0) as u32;
    let label = match score {
        0..=32 => "cold",
        33..=65 => "warm",
        _ => "hot",
    };
    Engagement {
        score,
        label,
        session_duration_seconds,
        pages_visited,
        return_visits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_adds_a_reason() {
        let s = signals(Some(1.2), Some("x@mailinator.com"), Some("Mozilla/5.0"));
        let out = suspicion(&s, 1);
        assert_eq!(
            out.reasons,
            vec!["time_to_submit_under_3s", "disposable_email_domain"]
        );
        assert_eq!(out.score, 70);
        assert_eq!(
            suspicion(&SubmissionSignals::default(), 1),
            Suspicion {
                score: 0,
                reasons: vec![]
            }
        );
    }

    #[test]
    fn score_is_capped() {
        let s = signals(Some(0.1), Some("x@sub.yopmail.com"), Some("Googlebot/2.1"));
        assert_eq!(suspicion(&s, 50).score, 100);
        assert!(is_bot_lead(true, &s));
        assert!(!is_bot_lead(false, &s));
    }

    #[test]
    fn engagement_labels() {
        assert_eq!(engagement(0, 0, 0).label, "cold");
        assert_eq!(engagement(300, 3, 1).label, "warm");
        assert_eq!(engagement(1200, 10, 5).label, "hot");
        assert!(engagement(100_000, 1000, 1000).score <= 100);
    }
}
