//! Call Tracking Metrics: a call (`caller_number`/`contact_number`, `name`/`cnam`), signed with
//! base64 HMAC-SHA1 of `<X-CTM-Time><body>`; only a call to the campaign's tracking number is its
//! lead (one account's webhook carries every number's calls).

use super::common::phone::digits_of;
use super::common::platform::{flat_submission, id_text};
use super::common::signature::Scheme;
use super::submission::Submission;
use super::{Auth, Source, StoredRequest};
use crate::store::models::Campaign;
use serde_json::{Map, Value};

pub const NAME: &str = "calltrackingmetrics";

pub struct CallTrackingMetrics;

/// Two numbers are one when their last ten digits are (`+1 (415) 555-9998` is `4155559998`).
fn same_number(a: &str, b: &str) -> bool {
    let (a, b) = (digits_of(a), digits_of(b));
    let tail = |d: &str| d[d.len().saturating_sub(10)..].to_string();
    !a.is_empty() && tail(&a) == tail(&b)
}

impl Source for CallTrackingMetrics {
    fn name(&self) -> &'static str {
        NAME
    }

    fn auth(&self) -> Auth {
        Auth::Signature(Scheme::CallTrackingMetrics)
    }

    fn ignore_reason(
        &self,
        payload: &Map<String, Value>,
        campaign: &Campaign,
    ) -> Option<&'static str> {
        let ours = campaign
            .settings()
            .get("tracking_number")
            .and_then(|n| id_text(Some(n)))?;
        let called = id_text(payload.get("tracking_number"))
            .or_else(|| id_text(payload.get("trackingnum")))
            .unwrap_or_default();
        (!same_number(&called, &ours)).then_some("ctm_not_the_campaigns_number")
    }

    fn submissions(&self, request: &StoredRequest) -> Result<Vec<Submission>, String> {
        flat_submission(NAME, request, &["id"])
    }
}

#[cfg(test)]
mod tests {
    use super::same_number;

    #[test]
    fn numbers_compare_by_their_last_ten_digits() {
        assert!(same_number("+14155559998", "(415) 555-9998"));
        assert!(!same_number("+14155559998", "+14155559999"));
        assert!(!same_number("", ""));
    }
}
