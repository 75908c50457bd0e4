//! What every platform source shares: a platform's lead object through the extraction rules into
//! a submission of the campaign its URL named. A platform's client IP is its server's, never the
//! person's: it is neither stored as theirs nor an identity key.

use super::extract::{extract_contact, format_phone, ContactKind};
use super::fields::{email_key, is_plausible_email};
use crate::sources::submission::{normalize_calling_code, project_key, Submission};
use crate::sources::StoredRequest;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A stored platform request's body: the JSON object the webhook handler kept.
pub fn stored_object(request: &StoredRequest) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(request.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the stored body is not a JSON object".into()),
        Err(e) => Err(format!("unreadable body: {e}")),
    }
}

/// A text field of an object, whether the platform sent it as a string or a number.
pub fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A platform whose body is the lead itself: one submission, its lead id the first of `id_keys`.
pub fn flat_submission(
    source: &'static str,
    request: &StoredRequest,
    id_keys: &[&str],
) -> Result<Vec<Submission>, String> {
    let fields = Value::Object(stored_object(request)?);
    let lead_id = id_keys.iter().find_map(|key| id_text(fields.get(*key)));
    Ok(vec![platform_submission(
        source,
        request,
        &fields,
        fields.clone(),
        lead_id,
    )])
}

/// `lead` (the fields the rules read) as a submission of `source`; `payload` is what is kept and
/// forwarded as the raw request.
pub fn platform_submission(
    source: &'static str,
    request: &StoredRequest,
    lead: &Value,
    payload: Value,
    platform_lead_id: Option<String>,
) -> Submission {
    let meta = request.meta;
    let found = extract_contact(lead, ContactKind::Person);
    let phone = found.phone.as_deref().and_then(|raw| {
        format_phone(
            raw,
            found.phone_country_code.as_deref(),
            found.country.as_deref(),
        )
    });
    let email = found.email.clone().filter(|e| is_plausible_email(e));
    let campaign = meta.campaign.clone().unwrap_or_default();
    let utm: BTreeMap<String, String> = ["utm_source", "utm_medium", "utm_campaign"]
        .into_iter()
        .filter_map(|key| id_text(lead.get(key)).map(|v| (key.to_string(), v)))
        .collect();
    Submission {
        public_id: request.public_id.to_string(),
        account_id: request.account_id.to_string(),
        lead_source: source.into(),
        name: found.name.clone(),
        email_key: email.as_deref().map(email_key),
        email,
        phone_raw: found.phone.clone(),
        country_code: phone.as_ref().map(|p| p.country_code.clone()).or_else(|| {
            found
                .phone_country_code
                .as_deref()
                .map(normalize_calling_code)
        }),
        phone,
        project_key: project_key(campaign.project_name.as_deref()),
        project_name: campaign.project_name,
        location: found.address.city.clone(),
        team: None,
        visitor_id: None,
        session_id: None,
        cta: None,
        page_url: None,
        refered_by: None,
        searched_keyword: None,
        message: None,
        utm,
        test_lead: false,
        time_to_submit: None,
        ip: None,
        ip_is_key: false,
        platform_lead_id,
        // The platform's server's, as its address is.
        user_agent: None,
        geo: Default::default(),
        submitted_at: DateTime::<Utc>::from_timestamp_millis(meta.received_at_ms)
            .unwrap_or_else(Utc::now),
        payload,
        pre_forwarded: None,
        campaign_id: meta.campaign.as_ref().map(|c| c.id.clone()),
    }
}
