//! Rows as stored, and their JSON shapes for the admin API.
//!
//! Inserts write `None` as NULL (`treat_none_as_default_value = false`; no nullable column has a
//! default): Diesel then keeps the insert as a prepared statement instead of parsing and planning
//! it again for every row.

use super::schema::*;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{json, Value};

/// Where an inbox row is: waiting, claimed by a runner, stored, or given up on (for an operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxStatus {
    Pending,
    Processing,
    Done,
    Failed,
}

impl InboxStatus {
    pub const ALL: [InboxStatus; 4] = [
        InboxStatus::Pending,
        InboxStatus::Processing,
        InboxStatus::Done,
        InboxStatus::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            InboxStatus::Pending => "pending",
            InboxStatus::Processing => "processing",
            InboxStatus::Done => "done",
            InboxStatus::Failed => "failed",
        }
    }
}

/// Where a job is: due (now or later), done, or dead (its dead letter says why).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Done,
    Dead,
}

impl JobStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Done => "done",
            JobStatus::Dead => "dead",
        }
    }
}

/// RFC 3339 UTC with milliseconds, as every time in the API is written.
pub fn rfc3339(t: &NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A JSON column's value, or `fallback` when the text is not JSON.
pub fn parse_json_or(text: &str, fallback: Value) -> Value {
    serde_json::from_str(text).unwrap_or(fallback)
}

/// A representative of an account: who leads are assigned to and notified.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(treat_none_as_null = true)]
pub struct User {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub fcm_token: Option<String>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A Facebook page's access token, per account (the Graph API reads that page's leads with it).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = facebook_page_tokens)]
#[diesel(treat_none_as_default_value = false)]
pub struct FacebookPageToken {
    pub account_id: String,
    pub page_id: String,
    pub access_token: String,
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Meta's refusal (Graph error 190), kept until the token is replaced.
    pub invalid_reason: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = accounts)]
#[diesel(treat_none_as_default_value = false)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub active: bool,
    pub is_default: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = campaigns)]
#[diesel(treat_none_as_default_value = false)]
pub struct Campaign {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub project_name: Option<String>,
    pub integration: String,
    pub active: bool,
    pub thank_you_url: Option<String>,
    pub webhook_url: Option<String>,
    pub settings_json: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[cfg(test)]
impl Campaign {
    /// An active campaign with these settings, for unit tests.
    pub fn for_tests(id: &str, account_id: &str, integration: &str, settings: Value) -> Campaign {
        let t = super::now();
        Campaign {
            id: id.into(),
            account_id: account_id.into(),
            name: id.into(),
            project_name: None,
            integration: integration.into(),
            active: true,
            thank_you_url: None,
            webhook_url: None,
            settings_json: settings.to_string(),
            created_at: t,
            updated_at: t,
        }
    }
}

impl Campaign {
    pub fn settings(&self) -> serde_json::Map<String, Value> {
        match parse_json_or(&self.settings_json, json!({})) {
            Value::Object(map) => map,
            _ => Default::default(),
        }
    }

    /// The hosts this campaign's forms are served from (lowercase).
    pub fn site_domains(&self) -> Vec<String> {
        self.settings()
            .get("site_domains")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|d| d.trim().to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = inbox)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewInboxRow {
    pub public_id: String,
    pub kind: String,
    pub account_id: String,
    pub body: String,
    pub meta_json: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
}

impl NewInboxRow {
    /// A request as it came, due for the pipeline now: its body and what was known beside it.
    pub fn request(
        kind: &str,
        account_id: &str,
        body: &Value,
        meta: &impl serde::Serialize,
    ) -> NewInboxRow {
        let received_at = super::now();
        NewInboxRow {
            public_id: super::new_public_id(),
            kind: kind.to_string(),
            account_id: account_id.to_string(),
            body: super::json_text(body),
            meta_json: serde_json::to_string(meta).unwrap_or_else(|_| "{}".into()),
            status: InboxStatus::Pending.as_str().into(),
            attempts: 0,
            next_attempt_at: received_at,
            received_at,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = inbox)]
pub struct InboxRow {
    pub id: i64,
    pub public_id: String,
    pub kind: String,
    pub account_id: String,
    pub body: String,
    pub meta_json: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub received_at: NaiveDateTime,
    pub processed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = leads)]
pub struct Lead {
    pub id: i64,
    pub public_id: String,
    pub account_id: String,
    pub project_key: String,
    pub project_name: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone_e164: Option<String>,
    pub status: String,
    pub lead_source: String,
    pub submission_count: i32,
    pub data_json: String,
    pub search_text: String,
    pub crm_lead_id: Option<String>,
    pub crm_url: Option<String>,
    pub assigned_user_id: Option<String>,
    pub contact_id: Option<String>,
    pub errors_json: String,
    pub first_submitted_at: NaiveDateTime,
    pub last_submitted_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = leads)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewLead {
    /// Allocated before the insert (`pipeline::store::allocate_ids`): the snapshot names it.
    pub id: i64,
    pub public_id: String,
    pub account_id: String,
    pub project_key: String,
    pub project_name: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone_e164: Option<String>,
    pub status: String,
    pub lead_source: String,
    pub submission_count: i32,
    pub data_json: String,
    pub search_text: String,
    pub errors_json: String,
    pub first_submitted_at: NaiveDateTime,
    pub last_submitted_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lead_submissions)]
pub struct LeadSubmission {
    pub id: i64,
    pub public_id: String,
    pub lead_id: i64,
    pub inbox_id: Option<i64>,
    pub account_id: String,
    pub project_key: String,
    pub lead_source: String,
    pub visitor_id: Option<String>,
    pub email_key: Option<String>,
    pub phone_e164: Option<String>,
    pub ip: Option<String>,
    pub cta: Option<String>,
    pub page_url: Option<String>,
    pub payload_json: String,
    pub data_json: String,
    pub is_duplicate: bool,
    pub forwarded: bool,
    pub submitted_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub forward_decision: Option<String>,
    /// `<platform> <campaign id> <platform's lead id>`, unique: see `platform_lead_key`.
    pub platform_lead_key: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = lead_submissions)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewLeadSubmission {
    /// Allocated before the insert, as the lead's.
    pub id: i64,
    pub public_id: String,
    pub lead_id: i64,
    pub inbox_id: Option<i64>,
    pub account_id: String,
    pub project_key: String,
    pub lead_source: String,
    pub visitor_id: Option<String>,
    pub email_key: Option<String>,
    pub phone_e164: Option<String>,
    pub ip: Option<String>,
    pub cta: Option<String>,
    pub page_url: Option<String>,
    pub payload_json: String,
    pub data_json: String,
    pub is_duplicate: bool,
    pub forwarded: bool,
    pub submitted_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub forward_decision: Option<String>,
    /// `<platform> <campaign id> <platform's lead id>`, unique: see `platform_lead_key`.
    pub platform_lead_key: Option<String>,
}

/// One key (visitor id, email, phone) of a lead, kept once whatever the number of submissions.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = lead_keys)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewLeadKey {
    pub account_id: String,
    pub key_kind: String,
    pub key_value: String,
    pub project_key: String,
    pub lead_id: i64,
}

/// One attempt of a job, for its attempt log.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = job_attempts)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewJobAttempt {
    pub job_id: i64,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub attempted_at: NaiveDateTime,
}

/// A side effect to carry out: written in the transaction that stores its lead (or that finishes
/// the job before it).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = jobs)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewJob {
    pub kind: String,
    /// Unique; for the CRM webhook, the `make_send_public_id` (the `webhook-id`).
    pub public_id: String,
    pub lead_id: Option<i64>,
    pub lead_submission_id: Option<i64>,
    pub lead_public_id: Option<String>,
    /// Where the job goes (a URL): concurrency is limited per destination.
    pub destination: Option<String>,
    pub payload_json: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub result_json: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl NewJob {
    /// A job due now, of no lead (the caller names the lead when there is one).
    pub fn pending(kind: &str, public_id: String, destination: String, payload: String) -> NewJob {
        let t = super::now();
        NewJob {
            kind: kind.into(),
            public_id,
            lead_id: None,
            lead_submission_id: None,
            lead_public_id: None,
            destination: Some(destination),
            payload_json: payload,
            status: super::jobs::PENDING.into(),
            attempts: 0,
            next_attempt_at: t,
            result_json: "{}".into(),
            created_at: t,
            updated_at: t,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub public_id: String,
    pub lead_id: Option<i64>,
    pub lead_submission_id: Option<i64>,
    pub lead_public_id: Option<String>,
    pub destination: Option<String>,
    pub payload_json: String,
    /// `pending`, `done` or `dead`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub result_json: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Job {
    pub fn payload(&self) -> Value {
        parse_json_or(&self.payload_json, json!({}))
    }

    pub fn result(&self) -> Value {
        parse_json_or(&self.result_json, json!({}))
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = blocked_ips)]
#[diesel(treat_none_as_default_value = false)]
pub struct BlockedIp {
    pub id: String,
    pub ip: String,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = blocked_ip_leads)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewBlockedIpLead {
    pub ip: String,
    pub account_id: String,
    pub payload_json: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = blocked_ip_leads)]
pub struct BlockedIpLead {
    pub id: i64,
    pub ip: String,
    pub account_id: String,
    pub payload_json: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ignored_webhooks)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewIgnoredWebhook {
    pub platform: String,
    pub account_id: Option<String>,
    pub campaign_id: Option<String>,
    pub reason: String,
    pub payload_json: String,
    pub received_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ignored_webhooks)]
pub struct IgnoredWebhook {
    pub id: i64,
    pub platform: String,
    pub account_id: Option<String>,
    pub campaign_id: Option<String>,
    pub reason: String,
    pub payload_json: String,
    pub received_at: NaiveDateTime,
}
