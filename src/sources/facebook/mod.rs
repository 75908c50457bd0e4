//! Facebook Lead Ads, the pure parts: the webhook's signature and its `leadgen` changes, which
//! campaigns a change is for, a Graph lead's `field_data` as fields, Meta's test leads, how a
//! Graph error is handled, a page token's status, and the back-fill's reads.
//!
//! A webhook only announces a lead: the route (`http/facebook.rs`) stores one announcement per
//! matching campaign in the inbox; the pipeline hands each over to a fetch job
//! (`jobs/facebook_lead.rs`), which reads the lead from the Graph API and stores it in the inbox
//! as a lead (`{"lead": ...}`), which this source turns into a submission like any platform's.
//! The back-fill (`facebook/backfill.rs`) stores leads it reads in the same shape.

mod tokens;

pub use tokens::{backfill_since, token_problem, token_status, TokenStatus};

use super::common::platform::{id_text, platform_submission, stored_object};
use super::common::signature::verify_hex_sha256;
use super::submission::Submission;
use super::{Auth, Source, StoredRequest};
use crate::store::models::{Account, Campaign, NewJob};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub const NAME: &str = "facebook_ads";

/// `X-Hub-Signature-256: sha256=<hex>` over the raw body with the app secret (constant time).
pub fn signature_matches(header: Option<&str>, body: &[u8], app_secret: &str) -> bool {
    header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .is_some_and(|hex| verify_hex_sha256(app_secret, &[body], hex).is_ok())
}

/// One new lead a webhook announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadgenChange {
    pub leadgen_id: String,
    pub page_id: String,
    pub form_id: Option<String>,
}

/// Every `entry[].changes[]` with `field = "leadgen"` (a batch may hold many; ids are strings
/// or numbers; the page id falls back to the entry's). Changes without a lead id are skipped.
pub fn leadgen_changes(webhook: &Value) -> Vec<LeadgenChange> {
    let entries = webhook.get("entry").and_then(Value::as_array);
    entries
        .into_iter()
        .flatten()
        .flat_map(|entry| {
            let changes = entry.get("changes").and_then(Value::as_array);
            changes.into_iter().flatten().filter_map(move |change| {
                if change.get("field").and_then(Value::as_str) != Some("leadgen") {
                    return None;
                }
                let value = change.get("value")?;
                Some(LeadgenChange {
                    leadgen_id: id_text(value.get("leadgen_id"))?,
                    page_id: id_text(value.get("page_id")).or_else(|| id_text(entry.get("id")))?,
                    form_id: id_text(value.get("form_id")),
                })
            })
        })
        .collect()
}

/// A Graph lead's `field_data` (`[{"name", "values": [...]}]`) as fields, each its first value.
pub fn graph_lead_fields(lead: &Value) -> Map<String, Value> {
    let items = lead.get("field_data").and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let name = item.get("name")?.as_str()?.to_string();
            let first = item.get("values")?.as_array()?.first()?.clone();
            Some((name, first))
        })
        .collect()
}

/// Meta's "test this form" leads: `<test lead: dummy data for ...>` values or Meta's test
/// addresses. They are stored and flagged `test_lead`, never mistaken for a person.
pub fn is_meta_test_lead(fields: &Map<String, Value>) -> bool {
    fields.values().filter_map(Value::as_str).any(|value| {
        let value = value.trim().to_ascii_lowercase();
        value.starts_with("<test lead: dummy data for")
            || value == "test@meta.com"
            || value == "test@fb.com"
    })
}

/// What to do about a Graph API error, by its `error.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphErrorHandling {
    /// 190: the page token expired or was revoked; recorded on the campaign and kept until a
    /// token update, never dropped.
    TokenInvalid,
    /// 1, 2, 4, 17, 32, 613: transient or rate limited; retried with backoff.
    Retry,
    /// 100, 33: the object does not exist or cannot be read; recorded as failed.
    Failed,
}

pub fn graph_error_handling(error: &Value) -> GraphErrorHandling {
    match error.pointer("/error/code").and_then(Value::as_i64) {
        Some(190) => GraphErrorHandling::TokenInvalid,
        Some(100 | 33) => GraphErrorHandling::Failed,
        // 1, 2, 4, 17, 32, 613, and what Meta has not documented: a retry costs little.
        _ => GraphErrorHandling::Retry,
    }
}

/// A `facebook_ads` campaign with its page and form, read once from its settings (JSON): a
/// webhook of many changes is matched against these, not against the settings of every campaign
/// for every change.
#[derive(Debug)]
pub struct FormCampaign<'a> {
    pub campaign: &'a Campaign,
    page_id: Option<String>,
    form_id: Option<String>,
}

impl FormCampaign<'_> {
    /// Its page is the change's and its form, when it names one, is the change's.
    pub fn matches(&self, change: &LeadgenChange) -> bool {
        self.page_id.as_deref() == Some(change.page_id.as_str())
            && match (&self.form_id, &change.form_id) {
                (Some(form), Some(announced)) => form == announced,
                // A campaign for the whole page, or a change that names no form.
                _ => true,
            }
    }
}

pub fn form_campaigns(campaigns: &[Campaign]) -> Vec<FormCampaign<'_>> {
    campaigns
        .iter()
        .filter(|c| c.integration == NAME)
        .map(|campaign| {
            let settings = campaign.settings();
            FormCampaign {
                campaign,
                page_id: id_text(settings.get("page_id")),
                form_id: id_text(settings.get("lead_form_id")),
            }
        })
        .collect()
}

/// Where a change goes: the campaigns that get it, and why the others that match do not.
#[derive(Debug, Default)]
pub struct Routed<'a> {
    pub campaigns: Vec<&'a Campaign>,
    pub ignored: Vec<(&'a Campaign, &'static str)>,
}

pub fn route_change<'a>(
    campaigns: &[FormCampaign<'a>],
    accounts: &HashMap<String, Account>,
    change: &LeadgenChange,
) -> Routed<'a> {
    let mut routed = Routed::default();
    for campaign in campaigns
        .iter()
        .filter(|c| c.matches(change))
        .map(|c| c.campaign)
    {
        let account_active = accounts.get(&campaign.account_id).is_some_and(|a| a.active);
        match (account_active, campaign.active) {
            (true, true) => routed.campaigns.push(campaign),
            (false, _) => routed.ignored.push((campaign, "account_inactive")),
            (true, false) => routed.ignored.push((campaign, "campaign_inactive")),
        }
    }
    routed
}

/// The inbox body of an announced lead, before it is fetched.
pub fn announcement_body(change: &LeadgenChange) -> Value {
    json!({"leadgen": {
        "leadgen_id": change.leadgen_id,
        "page_id": change.page_id,
        "form_id": change.form_id,
    }})
}

/// The inbox body of a lead read from the Graph API (fetched, or found by the back-fill).
pub fn lead_body(lead: &Value, page_id: &str, via: &str) -> Value {
    json!({"lead": lead, "page_id": page_id, "via": via})
}

/// What a fetch job needs: the announcement and the campaign it is for.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LeadFetch {
    pub account_id: String,
    pub campaign_id: String,
    pub project_name: Option<String>,
    pub page_id: String,
    pub form_id: Option<String>,
    pub leadgen_id: String,
    pub received_at_ms: i64,
}

pub struct Facebook;

impl Source for Facebook {
    fn name(&self) -> &'static str {
        NAME
    }

    fn auth(&self) -> Auth {
        Auth::MetaApp
    }

    fn announces_leads(&self) -> bool {
        true
    }

    fn fetch_jobs(&self, request: &StoredRequest) -> Option<Result<Vec<NewJob>, String>> {
        let body = stored_object(request).ok()?;
        let announced = body.get("leadgen")?;
        let campaign = request.meta.campaign.as_ref();
        let fetch = (|| {
            Some(LeadFetch {
                account_id: request.account_id.to_string(),
                campaign_id: campaign?.id.clone(),
                project_name: campaign?.project_name.clone(),
                page_id: id_text(announced.get("page_id"))?,
                form_id: id_text(announced.get("form_id")),
                leadgen_id: id_text(announced.get("leadgen_id"))?,
                received_at_ms: request.meta.received_at_ms,
            })
        })();
        Some(
            fetch
                .map(|f| vec![crate::jobs::facebook_lead::fetch_job(&f)])
                .ok_or_else(|| "an announcement without its campaign or lead id".into()),
        )
    }

    fn submissions(&self, request: &StoredRequest) -> Result<Vec<Submission>, String> {
        let body = stored_object(request)?;
        let lead = body
            .get("lead")
            .filter(|l| l.is_object())
            .ok_or("a Facebook lead that was not fetched")?;
        let lead_id = id_text(lead.get("id")).ok_or("a Facebook lead without its id")?;
        let fields = graph_lead_fields(lead);
        let mut payload = lead.clone();
        if let (Some(object), Some(page)) = (payload.as_object_mut(), body.get("page_id")) {
            object.insert("page_id".into(), page.clone());
        }
        let mut submission = platform_submission(
            NAME,
            request,
            &Value::Object(fields.clone()),
            payload,
            Some(lead_id),
        );
        submission.test_lead = is_meta_test_lead(&fields);
        Ok(vec![submission])
    }
}

#[cfg(test)]
mod tests;
