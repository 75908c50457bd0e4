//! The lead as forwarded to the CRM webhook and shown to operators: every key, always. Pure.

use crate::scoring::{Engagement, Suspicion};
use crate::sources::submission::Submission;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardedLead {
    // contact
    pub first_name: Option<String>,
    pub phone_mobile: Option<String>,
    pub phone_e164: Option<String>,
    pub email: Option<String>,
    pub email1: Option<String>,
    pub country_code: Option<String>,
    // project
    pub project_name: Option<String>,
    pub user_location: Option<String>,
    pub lead_source: String,
    pub source_team: Option<String>,
    // geo
    pub user_country: Option<String>,
    pub user_city: Option<String>,
    pub user_timezone: Option<String>,
    pub user_region: Option<String>,
    // scoring
    pub engagement_score: u32,
    pub engagement_label: String,
    pub session_duration_seconds: i64,
    pub pages_visited: i64,
    pub return_visits: i64,
    // fraud
    pub suspicion_score: u32,
    pub suspicion_reasons: Vec<String>,
    pub time_to_submit: Option<f64>,
    pub form_submit_count: i64,
    // identity
    pub visitor_id: Option<String>,
    pub session_id: Option<String>,
    pub vpn_suspected: Option<bool>,
    // context
    pub related_projects: Vec<String>,
    pub refered_by: Option<String>,
    pub searched_keyword: Option<String>,
    pub user_agent: Option<String>,
    pub user_ip: Option<String>,
    pub cta: Option<String>,
    pub page_url: Option<String>,
    pub message: Option<String>,
    pub utm: BTreeMap<String, String>,
    // status
    pub is_duplicate: bool,
    pub is_bot_lead: bool,
    pub test_lead: bool,
    pub dev_environment: bool,
    // mapping
    pub lead_public_id: String,
    pub lead_submission_public_id: String,
    pub lead_id: Option<i64>,
    pub lead_submission_id: Option<i64>,
    pub make_send_public_id: Option<String>,
    // envelope
    pub event: Option<String>,
    pub account_id: String,
    pub campaign_id: Option<String>,
    pub submitted_at: String,
}

/// What the pipeline decided about a submission, beside the submission itself.
#[derive(Debug, Clone)]
pub struct LeadContext<'a> {
    pub lead_public_id: &'a str,
    pub lead_id: Option<i64>,
    pub lead_submission_id: Option<i64>,
    /// The lead's snapshot before this submission: fills contact gaps of a partial repeat.
    pub previous: Option<&'a ForwardedLead>,
    /// The submission joined only by client IP: it is the lead's, but it does not speak for the
    /// person, so the contact fields (name, email, phone, location, message) stay the lead's.
    pub joined_by_ip_only: bool,
    pub engagement: &'a Engagement,
    pub suspicion: &'a Suspicion,
    pub form_submit_count: i64,
    pub related_projects: Vec<String>,
    pub is_duplicate: bool,
    pub is_bot_lead: bool,
    pub dev_environment: bool,
    pub campaign_id: Option<String>,
    pub event: Option<&'a str>,
    pub make_send_public_id: Option<String>,
}

const META_TEST_PLACEHOLDER: &str = "<test lead: dummy data for";

/// Meta's test leads carry placeholder values instead of real ones.
pub fn has_test_placeholders(payload: &Value) -> bool {
    match payload {
        Value::String(s) => s.trim_start().starts_with(META_TEST_PLACEHOLDER),
        Value::Array(items) => items.iter().any(has_test_placeholders),
        Value::Object(map) => map.values().any(has_test_placeholders),
        _ => false,
    }
}

pub fn forwarded_lead(sub: &Submission, ctx: &LeadContext<'_>) -> ForwardedLead {
    let lead = submission_as_lead(sub, ctx);
    match ctx.previous.filter(|_| ctx.joined_by_ip_only) {
        Some(person) => ForwardedLead {
            first_name: person.first_name.clone(),
            phone_mobile: person.phone_mobile.clone(),
            phone_e164: person.phone_e164.clone(),
            email: person.email.clone(),
            email1: person.email1.clone(),
            country_code: person.country_code.clone(),
            user_location: person.user_location.clone(),
            message: person.message.clone(),
            ..lead
        },
        None => lead,
    }
}

fn submission_as_lead(sub: &Submission, ctx: &LeadContext<'_>) -> ForwardedLead {
    let prev = ctx.previous;
    let from_prev = |pick: fn(&ForwardedLead) -> Option<String>| prev.and_then(pick);
    let email = sub.email.clone().or_else(|| from_prev(|p| p.email.clone()));
    // A number that could not be read is still forwarded, as given: better unformatted than lost.
    let (phone_mobile, phone_e164) = match (&sub.phone, &sub.phone_raw) {
        (Some(p), _) => (Some(p.mobile()), Some(p.e164.clone())),
        (None, Some(raw)) => (Some(raw.clone()), None),
        (None, None) => (
            from_prev(|p| p.phone_mobile.clone()),
            from_prev(|p| p.phone_e164.clone()),
        ),
    };
    ForwardedLead {
        first_name: sub
            .name
            .clone()
            .or_else(|| from_prev(|p| p.first_name.clone())),
        phone_mobile,
        phone_e164,
        email1: email.clone(),
        email,
        country_code: sub
            .country_code
            .clone()
            .or_else(|| from_prev(|p| p.country_code.clone())),
        project_name: sub.project_name.clone(),
        user_location: sub
            .location
            .clone()
            .or_else(|| from_prev(|p| p.user_location.clone())),
        lead_source: sub.lead_source.clone(),
        source_team: sub.team.clone(),
        user_country: sub.geo.country.clone(),
        user_city: sub.geo.city.clone(),
        user_timezone: sub.geo.timezone.clone(),
        user_region: sub.geo.region.clone(),
        engagement_score: ctx.engagement.score,
        engagement_label: ctx.engagement.label.to_string(),
        session_duration_seconds: ctx.engagement.session_duration_seconds,
        pages_visited: ctx.engagement.pages_visited,
        return_visits: ctx.engagement.return_visits,
        suspicion_score: ctx.suspicion.score,
        suspicion_reasons: ctx.suspicion.reasons.clone(),
        time_to_submit: sub.time_to_submit,
        form_submit_count: ctx.form_submit_count,
        visitor_id: sub
            .visitor_id
            .clone()
            .or_else(|| from_prev(|p| p.visitor_id.clone())),
        session_id: sub.session_id.clone(),
        vpn_suspected: ctx.suspicion.vpn_suspected,
        related_projects: ctx.related_projects.clone(),
        refered_by: sub.refered_by.clone(),
        searched_keyword: sub.searched_keyword.clone(),
        user_agent: sub.user_agent.clone(),
        user_ip: sub.ip.clone(),
        cta: sub.cta.clone(),
        page_url: sub.page_url.clone(),
        message: sub.message.clone(),
        utm: sub.utm.clone(),
        is_duplicate: ctx.is_duplicate,
        is_bot_lead: ctx.is_bot_lead,
        test_lead: sub.test_lead || has_test_placeholders(&sub.payload),
        dev_environment: ctx.dev_environment,
        lead_public_id: ctx.lead_public_id.to_string(),
        lead_submission_public_id: sub.public_id.clone(),
        lead_id: ctx.lead_id,
        lead_submission_id: ctx.lead_submission_id,
        make_send_public_id: ctx.make_send_public_id.clone(),
        event: ctx.event.map(str::to_string),
        account_id: sub.account_id.clone(),
        campaign_id: ctx.campaign_id.clone(),
        submitted_at: sub
            .submitted_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }
}

/// A lead forwarded while the database is down: a fresh lead public id, no database ids, always
/// `lead.created` (whether it repeats an earlier lead cannot be known without the database).
pub fn offline_payload(
    sub: &Submission,
    signals: &crate::scoring::SubmissionSignals,
    lead_public_id: &str,
    make_send_public_id: &str,
    campaign_id: Option<String>,
    dev_environment: bool,
) -> ForwardedLead {
    let engagement = crate::scoring::engagement(0, 0, 0);
    let suspicion = crate::scoring::suspicion(signals, 1);
    forwarded_lead(
        sub,
        &LeadContext {
            lead_public_id,
            lead_id: None,
            lead_submission_id: None,
            previous: None,
            joined_by_ip_only: false,
            engagement: &engagement,
            suspicion: &suspicion,
            form_submit_count: 1,
            related_projects: Vec::new(),
            is_duplicate: false,
            is_bot_lead: false,
            dev_environment,
            campaign_id,
            event: Some("lead.created"),
            make_send_public_id: Some(make_send_public_id.to_string()),
        },
    )
}

/// Every key the contract promises in the forwarded payload.
pub const PAYLOAD_KEYS: &[&str] = &[
    "first_name",
    "phone_mobile",
    "phone_e164",
    "email",
    "email1",
    "country_code",
    "project_name",
    "user_location",
    "lead_source",
    "source_team",
    "user_country",
    "user_city",
    "user_timezone",
    "user_region",
    "engagement_score",
    "engagement_label",
    "session_duration_seconds",
    "pages_visited",
    "return_visits",
    "suspicion_score",
    "suspicion_reasons",
    "time_to_submit",
    "form_submit_count",
    "visitor_id",
    "session_id",
    "vpn_suspected",
    "related_projects",
    "refered_by",
    "searched_keyword",
    "user_agent",
    "user_ip",
    "cta",
    "page_url",
    "message",
    "utm",
    "is_duplicate",
    "is_bot_lead",
    "test_lead",
    "dev_environment",
    "lead_public_id",
    "lead_submission_public_id",
    "lead_id",
    "lead_submission_id",
    "make_send_public_id",
    "event",
    "account_id",
    "campaign_id",
    "submitted_at",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::SubmissionSignals;
    use crate::sources::submission::RequestMeta;
    use crate::sources::website::website_submission;
    use serde_json::json;

    fn website(fields: Value) -> Submission {
        website_submission(
            "s1",
            "a1",
            fields.as_object().unwrap(),
            &RequestMeta::default(),
        )
    }

    #[test]
    fn every_key_is_present() {
        let sub = website(json!({"name": "Priya", "phone": "9999999999", "country_code": "+91"}));
        let lead = offline_payload(&sub, &SubmissionSignals::default(), "l1", "m1", None, true);
        let value = serde_json::to_value(lead).unwrap();
        let map = value.as_object().unwrap();
        for key in PAYLOAD_KEYS {
            assert!(map.contains_key(*key), "{key} missing");
        }
        assert_eq!(map.len(), PAYLOAD_KEYS.len());
        assert_eq!(map["phone_mobile"], "+91-9999999999");
        assert_eq!(map["email"], Value::Null);
        assert_eq!(map["first_name"], "Priya");
        assert_eq!(map["event"], "lead.created");
        assert_eq!(map["lead_id"], Value::Null);
        assert_eq!(map["make_send_public_id"], "m1");
    }

    #[test]
    fn an_unreadable_phone_is_forwarded_as_given() {
        let sub = website(json!({"name": "X", "phone": "98765 43210"}));
        let lead = offline_payload(&sub, &SubmissionSignals::default(), "l", "m", None, true);
        assert_eq!(lead.phone_mobile.as_deref(), Some("98765 43210"));
        assert_eq!(lead.phone_e164, None);
    }

    #[test]
    fn meta_placeholders_mark_test_leads() {
        assert!(has_test_placeholders(
            &json!({"field_data": [{"values": ["<test lead: dummy data for email>"]}]})
        ));
        assert!(!has_test_placeholders(&json!({"email": "a@b.co"})));
    }
}
