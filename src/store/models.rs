//! Rows as stored, and their JSON shapes for the admin API.

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

fn parse_json_or(text: &str, fallback: Value) -> Value {
    serde_json::from_str(text).unwrap_or(fallback)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub active: bool,
    pub is_default: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Account {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "active": self.active, "is_default": self.is_default,
            "created_at": rfc3339(&self.created_at), "updated_at": rfc3339(&self.updated_at),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = campaigns)]
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

    pub fn to_json(&self) -> Value {
        let mut out = self.settings();
        let fixed = json!({
            "id": self.id, "account_id": self.account_id, "name": self.name,
            "project_name": self.project_name, "integration": self.integration, "active": self.active,
            "thank_you_url": self.thank_you_url, "webhook_url": self.webhook_url,
            "created_at": rfc3339(&self.created_at), "updated_at": rfc3339(&self.updated_at),
        });
        if let Value::Object(fixed) = fixed {
            out.extend(fixed);
        }
        Value::Object(out)
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = inbox)]
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

impl InboxRow {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "public_id": self.public_id, "kind": self.kind, "account_id": self.account_id,
            "status": self.status, "attempts": self.attempts, "last_error": self.last_error,
            "next_attempt_at": rfc3339(&self.next_attempt_at), "received_at": rfc3339(&self.received_at),
            "processed_at": self.processed_at.as_ref().map(rfc3339),
            "body": parse_json_or(&self.body, Value::String(self.body.clone())),
        })
    }
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

impl Lead {
    /// Every forwarded key (from the latest submission) plus the lead's own state.
    pub fn to_json(&self) -> Value {
        let mut out = match parse_json_or(&self.data_json, json!({})) {
            Value::Object(map) => map,
            _ => Default::default(),
        };
        let own = json!({
            "lead_public_id": self.public_id, "lead_id": self.id, "account_id": self.account_id,
            "project_name": self.project_name, "status": self.status, "crm_lead_id": self.crm_lead_id,
            "crm_url": self.crm_url, "assigned_user_id": self.assigned_user_id,
            "contact_id": self.contact_id, "errors": parse_json_or(&self.errors_json, json!([])),
            "submission_count": self.submission_count,
            "first_submitted_at": rfc3339(&self.first_submitted_at),
            "last_submitted_at": rfc3339(&self.last_submitted_at),
            "created_at": rfc3339(&self.created_at), "updated_at": rfc3339(&self.updated_at),
        });
        if let Value::Object(own) = own {
            out.extend(own);
        }
        Value::Object(out)
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = leads)]
pub struct NewLead {
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
}

impl LeadSubmission {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "public_id": self.public_id, "submitted_at": rfc3339(&self.submitted_at),
            "lead_source": self.lead_source, "cta": self.cta, "page_url": self.page_url,
            "visitor_id": self.visitor_id, "ip": self.ip, "is_duplicate": self.is_duplicate,
            "forwarded": self.forwarded, "forward_decision": self.forward_decision,
            "payload_json": parse_json_or(&self.payload_json, Value::String(self.payload_json.clone())),
            "data": parse_json_or(&self.data_json, json!({})),
        })
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = lead_submissions)]
pub struct NewLeadSubmission {
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
}

/// A side effect to carry out: written in the transaction that stores its lead (or that finishes
/// the job before it).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = jobs)]
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
pub struct BlockedIp {
    pub id: String,
    pub ip: String,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
}

impl BlockedIp {
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "ip": self.ip, "reason": self.reason, "created_at": rfc3339(&self.created_at)})
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = blocked_ip_leads)]
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

impl BlockedIpLead {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "ip": self.ip, "account_id": self.account_id,
            "payload_json": parse_json_or(&self.payload_json, Value::String(self.payload_json.clone())),
            "created_at": rfc3339(&self.created_at),
        })
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ignored_webhooks)]
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

impl IgnoredWebhook {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "platform": self.platform, "account_id": self.account_id,
            "campaign_id": self.campaign_id, "reason": self.reason,
            "payload_json": parse_json_or(&self.payload_json, Value::String(self.payload_json.clone())),
            "received_at": rfc3339(&self.received_at),
        })
    }
}
