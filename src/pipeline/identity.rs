//! Which existing lead a submission joins: the keys to try, in order. Pure.

use crate::sources::submission::Submission;

/// How long a client IP alone keeps pointing at the project's most recent lead from it.
pub const IP_MATCH_WINDOW_HOURS: i64 = 24;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityKey {
    VisitorId(String),
    Email(String),
    Phone(String),
    /// Only for a submission whose source takes the IP as a key, with no visitor id, email or
    /// phone.
    ClientIp(String),
}

impl IdentityKey {
    /// How the key is kept in `lead_keys` (kind, value); the client IP is not kept there: it
    /// identifies only within a time window, read from the submissions.
    pub fn stored_as(&self) -> Option<(&'static str, &str)> {
        match self {
            IdentityKey::VisitorId(v) => Some(("visitor", v)),
            IdentityKey::Email(e) => Some(("email", e)),
            IdentityKey::Phone(p) => Some(("phone", p)),
            IdentityKey::ClientIp(_) => None,
        }
    }
}

/// visitor_id, then email, then phone (E.164), then — only for an anonymous website
/// submission — the client IP.
pub fn identity_keys(submission: &Submission) -> Vec<IdentityKey> {
    let mut keys = Vec::with_capacity(3);
    if let Some(v) = &submission.visitor_id {
        keys.push(IdentityKey::VisitorId(v.clone()));
    }
    if let Some(e) = &submission.email_key {
        keys.push(IdentityKey::Email(e.clone()));
    }
    if let Some(p) = &submission.phone {
        keys.push(IdentityKey::Phone(p.e164.clone()));
    }
    // A phone that could not be read still says this is a known person, not an anonymous visit.
    let has_unreadable_phone = submission
        .phone_raw
        .as_deref()
        .is_some_and(|p| p.chars().filter(char::is_ascii_digit).count() >= 5);
    if keys.is_empty() && !has_unreadable_phone && submission.ip_is_key {
        if let Some(ip) = &submission.ip {
            keys.push(IdentityKey::ClientIp(ip.clone()));
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::submission::RequestMeta;
    use crate::sources::website::website_submission;
    use serde_json::json;

    fn sub(fields: serde_json::Value) -> Submission {
        let meta = RequestMeta {
            ip: Some("203.0.113.1".into()),
            received_at_ms: 1,
            ..Default::default()
        };
        website_submission("p", "a", fields.as_object().unwrap(), &meta)
    }

    #[test]
    fn order_is_visitor_email_phone() {
        let s = sub(json!({"visitor_id": "v1", "email": "A@b.co", "phone": "+919999999999"}));
        assert_eq!(
            identity_keys(&s),
            vec![
                IdentityKey::VisitorId("v1".into()),
                IdentityKey::Email("a@b.co".into()),
                IdentityKey::Phone("+919999999999".into())
            ]
        );
    }

    #[test]
    fn an_unreadable_phone_is_not_anonymous() {
        // No country code anywhere: the number cannot be made E.164, but it is a person's.
        let s = sub(json!({"name": "Coworker", "phone": "98765 43210"}));
        assert!(s.phone.is_none());
        assert!(identity_keys(&s).is_empty());
    }

    #[test]
    fn ip_only_when_anonymous() {
        assert_eq!(
            identity_keys(&sub(json!({"name": "Anon"}))),
            vec![IdentityKey::ClientIp("203.0.113.1".into())]
        );
        let mut platform = sub(json!({"name": "Anon"}));
        platform.ip_is_key = false;
        assert!(identity_keys(&platform).is_empty());
    }
}
