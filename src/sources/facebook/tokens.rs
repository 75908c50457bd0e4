//! A page token's status as operators see it, and how far back the back-fill reads. Pure.

use chrono::{Duration, NaiveDateTime};
use serde_json::Value;

/// `health.token_status` of a `facebook_ads` campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Valid,
    /// Under 7 days left.
    Expiring,
    Expired,
    /// Meta refused it (error 190 other than expiry: revoked, password changed, app removed).
    Invalid,
    /// The account has no token for the campaign's page.
    Missing,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Valid => "valid",
            TokenStatus::Expiring => "expiring",
            TokenStatus::Expired => "expired",
            TokenStatus::Invalid => "invalid",
            TokenStatus::Missing => "missing",
        }
    }

    /// Expired and invalid tokens stop the campaign's leads: `/admin/health` is degraded.
    pub fn is_broken(self) -> bool {
        matches!(self, TokenStatus::Expired | TokenStatus::Invalid)
    }
}

/// How much warning an operator gets before a token expires.
pub const EXPIRING_WITHIN: Duration = Duration::days(7);

/// A token's status from its expiry and the problem Meta reported for it (`token_problem`).
pub fn token_status(
    token: Option<(Option<NaiveDateTime>, Option<&str>)>,
    now: NaiveDateTime,
) -> TokenStatus {
    let Some((expires_at, problem)) = token else {
        return TokenStatus::Missing;
    };
    match (problem, expires_at) {
        (Some(p), _) if p.starts_with("expired") => TokenStatus::Expired,
        (Some(_), _) => TokenStatus::Invalid,
        (None, Some(at)) if at <= now => TokenStatus::Expired,
        (None, Some(at)) if at - now < EXPIRING_WITHIN => TokenStatus::Expiring,
        (None, _) => TokenStatus::Valid,
    }
}

/// What a Graph error 190 says about the token, kept on it until it is replaced: `expired: ...`
/// (subcode 463, or Meta's message says so) or `invalid: ...`.
pub fn token_problem(error: &Value) -> String {
    let message = error
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("token refused");
    let message: String = message.chars().take(300).collect();
    let subcode = error
        .pointer("/error/error_subcode")
        .and_then(Value::as_i64);
    let expired = subcode == Some(463) || message.to_ascii_lowercase().contains("expired");
    match expired {
        true => format!("expired: {message}"),
        false => format!("invalid: {message}"),
    }
}

/// How far back a back-fill reads: an hour before the start of its last complete read (leads
/// Meta stamps late are not missed), or 90 days the first time.
pub fn backfill_since(
    last_complete_read: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> NaiveDateTime {
    match last_complete_read {
        Some(t) => t - Duration::hours(1),
        None => now - Duration::days(90),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> NaiveDateTime {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().naive_utc()
    }

    #[test]
    fn a_token_is_valid_expiring_expired_invalid_or_missing() {
        let now = t("2026-12-04T00:00:00Z");
        assert_eq!(token_status(None, now), TokenStatus::Missing);
        assert_eq!(token_status(Some((None, None)), now), TokenStatus::Valid);
        let later = |days| Some(now + Duration::days(days));
        assert_eq!(
            token_status(Some((later(30), None)), now),
            TokenStatus::Valid
        );
        assert_eq!(
            token_status(Some((later(7), None)), now),
            TokenStatus::Valid
        );
        assert_eq!(
            token_status(Some((later(6), None)), now),
            TokenStatus::Expiring
        );
        assert_eq!(
            token_status(Some((Some(now), None)), now),
            TokenStatus::Expired
        );
        assert_eq!(
            token_status(Some((later(-1), None)), now),
            TokenStatus::Expired
        );
        let problem = Some("expired: Session has expired");
        assert_eq!(
            token_status(Some((later(30), problem)), now),
            TokenStatus::Expired
        );
        let revoked = Some("invalid: The user has not authorized application");
        assert_eq!(
            token_status(Some((None, revoked)), now),
            TokenStatus::Invalid
        );
        assert!(TokenStatus::Invalid.is_broken() && TokenStatus::Expired.is_broken());
        assert!(!TokenStatus::Expiring.is_broken() && !TokenStatus::Missing.is_broken());
    }

    #[test]
    fn meta_errors_say_whether_the_token_expired() {
        let expired =
            json!({"error": {"code": 190, "error_subcode": 463, "message": "Session ended"}});
        assert_eq!(token_problem(&expired), "expired: Session ended");
        let by_message =
            json!({"error": {"code": 190, "message": "Session has expired on Friday"}});
        assert!(token_problem(&by_message).starts_with("expired: "));
        let revoked =
            json!({"error": {"code": 190, "error_subcode": 460, "message": "Password changed"}});
        assert_eq!(token_problem(&revoked), "invalid: Password changed");
        assert_eq!(token_problem(&json!({})), "invalid: token refused");
        let long = json!({"error": {"message": "x".repeat(5000)}});
        assert!(token_problem(&long).len() < 400, "a hostile message is cut");
    }

    #[test]
    fn the_backfill_reads_from_an_hour_before_its_last_read_or_90_days_back() {
        let now = t("2026-12-04T00:00:00Z");
        assert_eq!(backfill_since(None, now), t("2026-09-05T00:00:00Z"));
        assert_eq!(
            backfill_since(Some(t("2026-12-03T23:45:00Z")), now),
            t("2026-12-03T22:45:00Z")
        );
    }
}
