//! A submission as every source gives it to the pipeline, whatever it came from, and what the
//! HTTP layer stored beside a request's body.

use super::common::phone::Phone;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the HTTP layer knew about a request besides its body, stored beside it in the inbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub geo: Geo,
    /// Epoch milliseconds at the ack.
    pub received_at_ms: i64,
    /// Set when the lead was forwarded while the database was down (see `pipeline/spool/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_forwarded: Option<PreForwarded>,
    /// The campaign a platform webhook's URL named, as it was when the request was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<CampaignRef>,
}

impl From<&crate::store::models::Campaign> for CampaignRef {
    fn from(campaign: &crate::store::models::Campaign) -> CampaignRef {
        CampaignRef {
            id: campaign.id.clone(),
            project_name: campaign.project_name.clone(),
        }
    }
}

impl RequestMeta {
    /// A platform's request for a campaign, taken at `received_at_ms`.
    pub fn for_campaign(campaign: CampaignRef, received_at_ms: i64) -> RequestMeta {
        RequestMeta {
            received_at_ms,
            campaign: Some(campaign),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CampaignRef {
    pub id: String,
    pub project_name: Option<String>,
}

/// A send made from the spool while the database was down: the pipeline keeps its ids and
/// records it instead of deciding again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreForwarded {
    pub lead_public_id: String,
    pub make_send_public_id: String,
    pub url: String,
    pub payload_json: String,
    /// Whether the receiver took it before the database was back.
    #[serde(default)]
    pub delivered: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Geo {
    pub country: Option<String>,
    pub city: Option<String>,
    pub timezone: Option<String>,
    pub region: Option<String>,
}

/// One submission, normalized, ready for identity and scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub public_id: String,
    pub account_id: String,
    pub lead_source: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_key: Option<String>,
    pub phone_raw: Option<String>,
    pub phone: Option<Phone>,
    pub country_code: Option<String>,
    pub project_name: Option<String>,
    pub project_key: String,
    pub location: Option<String>,
    pub team: Option<String>,
    pub visitor_id: Option<String>,
    pub session_id: Option<String>,
    pub cta: Option<String>,
    pub page_url: Option<String>,
    pub refered_by: Option<String>,
    pub searched_keyword: Option<String>,
    pub message: Option<String>,
    pub utm: std::collections::BTreeMap<String, String>,
    pub test_lead: bool,
    /// Seconds from form render to submit, when the form said when it rendered.
    pub time_to_submit: Option<f64>,
    pub ip: Option<String>,
    /// Whether `ip` identifies the person (the source's identity policy: only the website's
    /// anonymous submissions join a lead by client IP).
    pub ip_is_key: bool,
    /// The platform's own id for the lead, where it has one (idempotency).
    pub platform_lead_id: Option<String>,
    pub user_agent: Option<String>,
    pub geo: Geo,
    pub submitted_at: DateTime<Utc>,
    pub payload: Value,
    pub pre_forwarded: Option<PreForwarded>,
    /// The campaign the request was for, when its URL said (platform webhooks); a website form's
    /// campaign is found by its project.
    pub campaign_id: Option<String>,
}

/// The project key that identity and filters compare: trimmed, lowercase, `""` when none.
pub fn project_key(project: Option<&str>) -> String {
    project.map(|p| p.trim().to_lowercase()).unwrap_or_default()
}

/// `"+91"`, `"91"`, `"IN +91"` as the payload's `+91`.
pub fn normalize_calling_code(code: &str) -> String {
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    format!("+{digits}")
}
