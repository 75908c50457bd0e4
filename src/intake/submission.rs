//! An accepted request (an inbox row) turned into a normalized submission, purely.

use super::fields::{email_key, extract_website_fields, is_plausible_email, WebsiteFields};
use super::phone::{normalize_phone, Phone};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the HTTP layer knew about a request besides its body, stored beside it in the inbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub geo: Geo,
    /// Epoch milliseconds at the ack.
    pub received_at_ms: i64,
    /// Set when the lead was forwarded while the database was down (see `spool.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_forwarded: Option<PreForwarded>,
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
    pub user_agent: Option<String>,
    pub geo: Geo,
    pub submitted_at: DateTime<Utc>,
    pub payload: Value,
    pub pre_forwarded: Option<PreForwarded>,
}

/// The project key that identity and filters compare: trimmed, lowercase, `""` when none.
pub fn project_key(project: Option<&str>) -> String {
    project.map(|p| p.trim().to_lowercase()).unwrap_or_default()
}

/// A website form's fields and request meta as a submission.
pub fn website_submission(
    public_id: &str,
    account_id: &str,
    fields_json: &Map<String, Value>,
    meta: &RequestMeta,
) -> Submission {
    let fields = extract_website_fields(fields_json);
    let submitted_at =
        DateTime::<Utc>::from_timestamp_millis(meta.received_at_ms).unwrap_or_else(Utc::now);
    let time_to_submit = time_to_submit(&fields, meta.received_at_ms);
    let email = fields.email.clone().filter(|e| is_plausible_email(e));
    let phone = fields.phone.as_deref().and_then(|p| {
        normalize_phone(
            p,
            fields.country_code.as_deref(),
            meta.geo.country.as_deref(),
        )
    });
    let country_code = phone
        .as_ref()
        .map(|p| p.country_code.clone())
        .or_else(|| fields.country_code.as_deref().map(normalize_calling_code));
    let WebsiteFields {
        project,
        location,
        team,
        visitor_id,
        session_id,
        cta,
        page_url,
        refered_by,
        searched_keyword,
        message,
        utm,
        test_lead,
        phone: phone_raw,
        ..
    } = fields.clone();
    Submission {
        public_id: public_id.to_string(),
        account_id: account_id.to_string(),
        lead_source: "website".into(),
        name: fields.display_name(),
        email_key: email.as_deref().map(email_key),
        email,
        phone_raw,
        phone,
        country_code,
        project_key: project_key(project.as_deref()),
        project_name: project,
        location,
        team,
        visitor_id,
        session_id,
        cta,
        page_url,
        refered_by,
        searched_keyword,
        message,
        utm,
        test_lead,
        time_to_submit,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        geo: meta.geo.clone(),
        submitted_at,
        payload: Value::Object(fields_json.clone()),
        pre_forwarded: meta.pre_forwarded.clone(),
    }
}

/// `__pg_ts` (epoch ms at render) to seconds before the ack; nonsense values are no value.
fn time_to_submit(fields: &WebsiteFields, received_at_ms: i64) -> Option<f64> {
    let rendered = fields.form_rendered_at_ms?;
    let elapsed_ms = received_at_ms.checked_sub(rendered)?;
    let week_ms = 7 * 24 * 3600 * 1000;
    (0..=week_ms)
        .contains(&elapsed_ms)
        .then(|| elapsed_ms as f64 / 1000.0)
}

fn normalize_calling_code(code: &str) -> String {
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    format!("+{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn website_submission_normalizes() {
        let fields = json!({"name": " Priya ", "email": "Priya@Example.com", "phone": "9999999999",
            "country_code": "+91", "project": " Skyline Towers ", "__pg_ts": "1000"});
        let meta = RequestMeta {
            received_at_ms: 5500,
            ip: Some("203.0.113.7".into()),
            ..Default::default()
        };
        let s = website_submission("p1", "a1", fields.as_object().unwrap(), &meta);
        assert_eq!(s.email_key.as_deref(), Some("priya@example.com"));
        assert_eq!(s.phone.as_ref().unwrap().e164, "+919999999999");
        assert_eq!(s.project_key, "skyline towers");
        assert_eq!(s.project_name.as_deref(), Some("Skyline Towers"));
        assert_eq!(s.time_to_submit, Some(4.5));
        assert_eq!(s.country_code.as_deref(), Some("+91"));
        assert_eq!(s.payload, fields);
    }

    #[test]
    fn render_time_in_the_future_is_ignored() {
        let fields = json!({"email": "a@b.co", "__pg_ts": "9000"});
        let meta = RequestMeta {
            received_at_ms: 5000,
            ..Default::default()
        };
        assert_eq!(
            website_submission("p", "a", fields.as_object().unwrap(), &meta).time_to_submit,
            None
        );
    }
}
