//! `/admin/deliveries` and `/admin/dead-letters`: the CRM webhook's jobs as operators read them
//! (the dead letters of Facebook's Graph fetches too, with `?kind=facebook_lead`).

use super::admin::{listing, page_limit, status_filter, Reply, MAX_PAGE};
use super::auth::Admin;
use super::error::{not_found, ApiError};
use super::AppState;
use crate::jobs::assignment::Assigner;
use crate::jobs::crm_contact::ContactCreator;
use crate::jobs::crm_webhook::CrmWebhook;
use crate::jobs::facebook_lead::FacebookLead;
use crate::jobs::notify::Notifier;
use crate::jobs::runner::JobsQueued;
use crate::jobs::JobKind;
use crate::store::dead_letters::{self, DeadLetter};
use crate::store::jobs::{self, AttemptRow};
use crate::store::models::{rfc3339, Job};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

const KIND: &str = CrmWebhook::NAME;

/// A job's status as the contract names a delivery's: `pending`, `delivered`, `dead`.
fn delivery_status(job: &Job) -> &str {
    match job.status.as_str() {
        jobs::DONE => "delivered",
        other => other,
    }
}

pub fn delivery_json(job: &Job) -> Value {
    let payload = job.payload();
    json!({
        "id": job.id, "make_send_public_id": job.public_id,
        "lead_public_id": job.lead_public_id, "url": job.destination, "event": payload["event"],
        "status": delivery_status(job), "attempts": job.attempts, "last_status": job.last_status,
        "last_error": job.last_error, "execution_url": job.result()["execution_url"],
        "next_attempt_at": rfc3339(&job.next_attempt_at), "created_at": rfc3339(&job.created_at),
        "payload": payload,
    })
}

/// In a lead's timeline.
pub fn delivery_event(job: &Job) -> Value {
    json!({"at": rfc3339(&job.created_at), "type": "delivery", "make_send_public_id": job.public_id,
           "event": job.payload()["event"], "status": delivery_status(job), "attempts": job.attempts})
}

fn dead_letter_json((letter, job): &(DeadLetter, Job)) -> Value {
    json!({
        "id": letter.id, "delivery_id": job.id, "make_send_public_id": job.public_id,
        "url": job.destination, "payload": job.payload(), "error": letter.error,
        "attempts": letter.attempts, "failed_at": rfc3339(&letter.failed_at),
        "expires_at": rfc3339(&letter.expires_at), "redrives": letter.redrives,
        "next_redrive_at": letter.next_redrive_at.as_ref().map(rfc3339),
    })
}

fn attempt_json(a: &AttemptRow) -> Value {
    json!({"attempt": a.attempt, "status_code": a.status_code, "duration_ms": a.duration_ms,
           "error": a.error, "attempted_at": rfc3339(&a.attempted_at)})
}

#[derive(Deserialize)]
pub struct StatusQuery {
    status: Option<String>,
    limit: Option<String>,
}

pub async fn list_deliveries(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<StatusQuery>,
) -> Reply {
    let limit = page_limit(query.limit.as_deref())?;
    let status =
        status_filter(query.status.as_deref(), &["pending", "delivered", "dead"])?.map(|s| {
            if s == "delivered" {
                jobs::DONE.to_string()
            } else {
                s
            }
        });
    let rows = state
        .db
        .read(move |c| jobs::list_jobs(c, KIND, status.as_deref(), limit))
        .await?;
    Ok(listing("deliveries", &rows, delivery_json))
}

/// The delivery (payload, state) and every attempt made: status, duration, error.
pub async fn delivery_detail(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("no such delivery".into()))?;
    let (job, attempts) = state
        .db
        .read(move |c| jobs::job_with_attempts(c, KIND, id))
        .await
        .map_err(not_found("delivery"))?;
    let attempts: Vec<Value> = attempts.iter().map(attempt_json).collect();
    Ok(HttpResponse::Ok().json(json!({"delivery": delivery_json(&job), "attempts": attempts})))
}

#[derive(Deserialize)]
pub struct KindQuery {
    kind: Option<String>,
}

/// The job kinds that keep dead letters.
const DEAD_LETTER_KINDS: [&str; 5] = [
    KIND,
    ContactCreator::NAME,
    Assigner::NAME,
    Notifier::NAME,
    FacebookLead::NAME,
];

/// The job kind a dead-letter request is about: the CRM webhook's unless `?kind=` names another.
fn dead_letter_kind(query: &KindQuery) -> Result<&'static str, ApiError> {
    match query.kind.as_deref().filter(|k| !k.is_empty()) {
        None => Ok(KIND),
        Some(kind) => DEAD_LETTER_KINDS
            .into_iter()
            .find(|known| *known == kind)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "kind must be one of {}, not {kind:?}",
                    DEAD_LETTER_KINDS.join(", ")
                ))
            }),
    }
}

/// Wakes the runner of `kind` after its dead letters were replayed (the CRM actions' runners
/// find them on their next look, within a fraction of a second).
fn wake(state: &AppState, kind: &str) {
    match kind {
        FacebookLead::NAME => state.facebook.fetcher.do_send(JobsQueued),
        KIND => state.deliverer.do_send(JobsQueued),
        _ => {}
    }
}

pub async fn list_dead_letters(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<KindQuery>,
) -> Reply {
    let kind = dead_letter_kind(&query)?;
    let rows = state
        .db
        .read(move |c| dead_letters::list_dead_letters(c, kind, MAX_PAGE))
        .await?;
    Ok(listing("dead_letters", &rows, dead_letter_json))
}

/// Sends a dead letter again with the same `webhook-id`; it leaves the list once delivered.
pub async fn replay_dead_letter(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<KindQuery>,
) -> Reply {
    let kind = dead_letter_kind(&query)?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("no such dead letter".into()))?;
    let letter = state
        .db
        .run(move |c| dead_letters::replay_dead_letter(c, kind, id))
        .await
        .map_err(not_found("dead letter"))?;
    wake(&state, kind);
    Ok(HttpResponse::Accepted().json(json!({"replaying": dead_letter_json(&letter)})))
}

#[derive(Deserialize)]
pub struct ReplayQuery {
    url: Option<String>,
    kind: Option<String>,
}

/// Every unexpired dead letter (of one URL, with `?url=`) sent again, same `webhook-id`s.
pub async fn replay_all_dead_letters(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<ReplayQuery>,
) -> Reply {
    let kind = dead_letter_kind(&KindQuery {
        kind: query.kind.clone(),
    })?;
    let url = query.url.clone().filter(|u| !u.is_empty());
    let replayed = state
        .db
        .run(move |c| dead_letters::replay_all_dead_letters(c, kind, url.as_deref()))
        .await?;
    if replayed > 0 {
        log::info!("webhook.replaying kind={kind} dead_letters={replayed}");
        wake(&state, kind);
    }
    Ok(HttpResponse::Accepted().json(json!({ "replayed": replayed })))
}
