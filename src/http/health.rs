//! Liveness, readiness, the health page and metrics.

use super::auth::Admin;
use super::campaign_health::campaigns_with_broken_tokens;
use super::AppState;
use crate::store::health;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::time::Duration;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How long the health pages wait for the database: a locked or hung database is reported, not
/// waited for.
const HEALTH_WAIT: Duration = Duration::from_millis(1500);

/// A health read, or why the database did not answer it in time.
async fn read_bounded<T: Send + 'static>(
    state: &AppState,
    read: fn(&mut crate::store::AnyConnection) -> Result<T, crate::store::DbError>,
) -> Result<T, String> {
    let query = state
        .db
        .read(move |c| crate::store::bounded_read(c, HEALTH_WAIT, read));
    let wait = HEALTH_WAIT + Duration::from_millis(500);
    match tokio::time::timeout(wait, query).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", wait.as_millis())),
    }
}

async fn backlog(state: &AppState) -> Result<health::Backlog, String> {
    read_bounded(state, health::backlog).await
}

/// Whether an ack could be written now (on SQLite: the inbox file's writer takes its lock).
async fn acks_writable(state: &AppState) -> Result<(), String> {
    let probe = state
        .db
        .run_inbox(|c| health::ready_for_acks(c, HEALTH_WAIT));
    let wait = HEALTH_WAIT + Duration::from_millis(500);
    match tokio::time::timeout(wait, probe).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", wait.as_millis())),
    }
}

/// Ready when acks can be written and every actor runs.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database_ok = acks_writable(&state).await.is_ok();
    let actors_ok = state.registry.all_running();
    let body = json!({"database": database_ok, "actors": actors_ok});
    if database_ok && actors_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The backlog is read on a reader (on SQLite never blocked by a writer, so it shows while the
/// database is locked); the database's status is whether acks can be written.
pub async fn admin_health(_: Admin, state: web::Data<AppState>) -> HttpResponse {
    let (backlog, writable, broken_tokens) = tokio::join!(
        backlog(&state),
        acks_writable(&state),
        campaigns_with_broken_tokens(&state)
    );
    let database = match backlog.as_ref().err().or(writable.as_ref().err()) {
        None => json!({"backend": backend_name(&state), "status": "ok"}),
        Some(e) => {
            json!({"backend": backend_name(&state), "status": "unavailable", "error": e})
        }
    };
    // A campaign whose token Meta refuses gets no leads until an operator replaces it.
    let broken_tokens = broken_tokens.unwrap_or_default();
    let healthy = backlog.is_ok()
        && writable.is_ok()
        && state.registry.all_running()
        && broken_tokens.is_empty();
    let backlog = backlog.unwrap_or_default();
    let oldest_age = backlog.oldest_pending_age_seconds(crate::store::now());
    HttpResponse::Ok().json(json!({
        "status": if healthy { "ok" } else { "degraded" },
        "actors": state.registry.to_json(),
        "database": database,
        "inbox": {"pending": backlog.inbox_pending, "failed": backlog.inbox_failed, "oldest_pending_age_seconds": oldest_age},
        "outbox": {"pending": backlog.outbox_pending, "dead": backlog.outbox_dead},
        "facebook": {"campaigns_with_broken_tokens": broken_tokens},
        "spool": {"pending": state.spool.pending(), "quarantined": state.spool.quarantined(), "bytes": state.spool.bytes()},
        "tracking": state.tracking.figures(),
    }))
}

fn backend_name(state: &AppState) -> &'static str {
    if state.db.is_sqlite {
        "sqlite"
    } else {
        "postgres"
    }
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if let Ok(backlog) = backlog(&state).await {
        state.metrics.inbox_pending.set(backlog.inbox_pending);
        state.metrics.inbox_failed.set(backlog.inbox_failed);
        let age = backlog.oldest_pending_age_seconds(crate::store::now());
        state
            .metrics
            .inbox_oldest_pending_age_seconds
            .set(age.unwrap_or(0.0));
        state.metrics.outbox_pending.set(backlog.outbox_pending);
        state.metrics.outbox_dead.set(backlog.outbox_dead);
    }
    if let Ok(dead) = read_bounded(&state, crate::store::dead_letters::count_dead_letters).await {
        state.metrics.dead_letters.set(dead);
    }
    if let Some(actors) = state.registry.to_json().as_object() {
        for (name, stats) in actors {
            let restarts = stats["restarts"].as_i64().unwrap_or(0);
            state
                .metrics
                .actor_restarts
                .get_or_create(&crate::metrics::label("actor", name))
                .set(restarts);
        }
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}
