//! The website form (`POST /v1/leads`, handled in `http/forms.rs`): no authentication (anyone
//! may post a form; the block list and the honeypot keep bots out), one submission per request,
//! and the only source whose client IP identifies an anonymous person.

use super::common::fields::{email_key, extract_website_fields, is_plausible_email, WebsiteFields};
use super::common::phone::normalize_phone;
use super::submission::{normalize_calling_code, project_key, RequestMeta, Submission};
use super::{Auth, Source, StoredRequest};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The integration name of the website form.
pub const NAME: &str = "website";

pub struct Website;

impl Source for Website {
    fn name(&self) -> &'static str {
        NAME
    }

    fn auth(&self) -> Auth {
        Auth::None
    }

    fn submissions(&self, request: &StoredRequest) -> Result<Vec<Submission>, String> {
        let fields: Map<String, Value> =
            serde_json::from_str(request.body).map_err(|e| format!("unreadable body: {e}"))?;
        Ok(vec![website_submission(
            request.public_id,
            request.account_id,
            &fields,
            request.meta,
        )])
    }
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
        lead_source: NAME.into(),
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
        ip_is_key: true,
        platform_lead_id: None,
        user_agent: meta.user_agent.clone(),
        geo: meta.geo.clone(),
        submitted_at,
        payload: Value::Object(fields_json.clone()),
        pre_forwarded: meta.pre_forwarded.clone(),
        campaign_id: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::submission::RequestMeta;
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
