//! `/admin/leads`: the canonical leads, their submissions and timeline, their status.

use super::admin::{page_limit, Reply};
use super::auth::Admin;
use super::error::{not_found, ApiError};
use super::AppState;
use crate::jobs::crm_webhook::CrmWebhook;
use crate::jobs::JobKind;
use crate::sources::submission::project_key;
use crate::store::leads::{self, LeadFilter};
use crate::store::models::{parse_json_or, Lead, LeadSubmission};
use crate::store::tracking::{sessions_of_visitors, TrackedSession};
use crate::store::{accounts, models::rfc3339};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct LeadQuery {
    account: Option<String>,
    project: Option<String>,
    q: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list_leads(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<LeadQuery>,
) -> Reply {
    let limit = page_limit(query.limit.as_deref())?;
    let before_id = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::BadRequest("cursor is not valid".into()))?,
        ),
    };
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let filter = LeadFilter {
        account_id: nonempty(&query.account),
        project_key: nonempty(&query.project).map(|p| project_key(Some(&p))),
        q: nonempty(&query.q),
        status: nonempty(&query.status),
        limit: limit + 1,
        before_id,
    };
    let mut leads = state
        .db
        .read(move |c| {
            if let Some(account) = &filter.account_id {
                accounts::find_account(c, account).map_err(|e| match e {
                    crate::store::DbError::NotFound => {
                        crate::store::DbError::Invalid(format!("unknown account {account:?}"))
                    }
                    other => other,
                })?;
            }
            leads::list_leads(c, &filter)
        })
        .await
        .map_err(|e| match e {
            crate::store::DbError::Invalid(message) => ApiError::BadRequest(message),
            other => other.into(),
        })?;
    let next_cursor = if leads.len() as i64 > limit {
        leads.truncate(limit as usize);
        leads.last().map(|l| l.id.to_string())
    } else {
        None
    };
    let items: Vec<Value> = leads.iter().map(lead_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "leads": items, "next_cursor": next_cursor })))
}

pub async fn lead_detail(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let id = id.into_inner();
    let (lead, submissions, deliveries, sessions) = state
        .db
        .read(move |c| {
            let lead = leads::find_lead(c, &id)?;
            let submissions = leads::lead_submissions_of(c, lead.id)?;
            let deliveries = crate::store::jobs::jobs_of_lead(c, CrmWebhook::NAME, lead.id)?;
            let mut visitors: Vec<String> = submissions
                .iter()
                .filter_map(|s| s.visitor_id.clone())
                .collect();
            visitors.sort_unstable();
            visitors.dedup();
            let sessions = sessions_of_visitors(c, &visitors)?;
            Ok((lead, submissions, deliveries, sessions))
        })
        .await
        .map_err(not_found("lead"))?;
    let mut timeline: Vec<Value> = submissions
        .iter()
        .map(|s| {
            json!({"at": rfc3339(&s.submitted_at), "type": "submission", "submission_public_id": s.public_id,
                   "lead_source": s.lead_source, "is_duplicate": s.is_duplicate, "forwarded": s.forwarded})
        })
        .chain(deliveries.iter().map(super::deliveries::delivery_event))
        .chain(sessions.iter().map(session_event))
        .collect();
    timeline.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
    Ok(HttpResponse::Ok().json(json!({
        "lead": lead_json(&lead),
        "submissions": submissions.iter().map(submission_json).collect::<Vec<_>>(),
        "timeline": timeline,
    })))
}

/// A tracked session on a lead's timeline, with its pages and the time spent on each (until the
/// next page, or the session's last sign of life for the last one).
fn session_event(tracked: &TrackedSession) -> Value {
    let s = &tracked.session;
    let pages: Vec<Value> = tracked
        .pages
        .iter()
        .enumerate()
        .map(|(i, (at, url, title))| {
            let until = tracked
                .pages
                .get(i + 1)
                .map_or(s.last_seen_at, |next| next.0);
            json!({"at": rfc3339(at), "url": url, "title": title,
                   "seconds_on_page": (until - *at).num_seconds().max(0)})
        })
        .collect();
    json!({"at": rfc3339(&s.started_at), "type": "session", "visitor_id": s.visitor_id,
           "session_id": s.session_id, "ended_at": rfc3339(&s.last_seen_at),
           "seconds_on_site": s.seconds_on_site, "page_views": s.page_views,
           "landing_url": s.landing_url, "referrer": s.referrer, "pages": pages})
}

#[derive(Deserialize)]
pub struct LeadPatch {
    status: Option<String>,
}

/// Lead statuses are the operator's words: lowercase letters, digits and `_`, up to 32.
pub fn valid_status(status: Option<&str>) -> Result<String, ApiError> {
    let status = status.map(str::trim).unwrap_or_default();
    let ok = !status.is_empty()
        && status.len() <= 32
        && status
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(status.to_string())
    } else {
        Err(ApiError::BadRequest(
            "status must be 1 to 32 characters of a-z, 0-9 and _".into(),
        ))
    }
}

pub async fn update_lead(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<LeadPatch>,
) -> Reply {
    let status = valid_status(body.status.as_deref())?;
    let id = id.into_inner();
    let lead = state
        .db
        .run(move |c| leads::set_lead_status(c, &id, &status))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "lead": lead_json(&lead) })))
}

/// Every forwarded key (from the latest submission) plus the lead's own state.
pub fn lead_json(lead: &Lead) -> Value {
    let mut out = match parse_json_or(&lead.data_json, json!({})) {
        Value::Object(map) => map,
        _ => Default::default(),
    };
    let own = json!({
        "lead_public_id": lead.public_id, "lead_id": lead.id, "account_id": lead.account_id,
        "project_name": lead.project_name, "status": lead.status, "crm_lead_id": lead.crm_lead_id,
        "crm_url": lead.crm_url, "assigned_user_id": lead.assigned_user_id,
        "contact_id": lead.contact_id, "errors": parse_json_or(&lead.errors_json, json!([])),
        "submission_count": lead.submission_count,
        "first_submitted_at": rfc3339(&lead.first_submitted_at),
        "last_submitted_at": rfc3339(&lead.last_submitted_at),
        "created_at": rfc3339(&lead.created_at), "updated_at": rfc3339(&lead.updated_at),
    });
    if let Value::Object(own) = own {
        out.extend(own);
    }
    Value::Object(out)
}

pub fn submission_json(submission: &LeadSubmission) -> Value {
    json!({
        "id": submission.id, "public_id": submission.public_id, "submitted_at": rfc3339(&submission.submitted_at),
        "lead_source": submission.lead_source, "cta": submission.cta, "page_url": submission.page_url,
        "visitor_id": submission.visitor_id, "ip": submission.ip, "is_duplicate": submission.is_duplicate,
        "forwarded": submission.forwarded, "forward_decision": submission.forward_decision,
        "payload_json": parse_json_or(&submission.payload_json, Value::String(submission.payload_json.clone())),
        "data": parse_json_or(&submission.data_json, json!({})),
    })
}
