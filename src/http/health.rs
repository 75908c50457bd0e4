//! Liveness, readiness, the health page and metrics.

use super::AppState;
use crate::db::queries;
use actix_web::{web, HttpResponse};
use serde_json::json;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database_ok = state.db.run(queries::ping).await.is_ok();
    let actors_ok = state.registry.all_running();
    let body = json!({"database": database_ok, "actors": actors_ok});
    if database_ok && actors_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub async fn admin_health(state: web::Data<AppState>) -> HttpResponse {
    let backlog = state.db.run(queries::backlog).await;
    let database = match &backlog {
        Ok(_) => json!({"backend": backend_name(&state), "status": "ok"}),
        Err(e) => {
            json!({"backend": backend_name(&state), "status": "unavailable", "error": e.to_string()})
        }
    };
    let healthy = backlog.is_ok() && state.registry.all_running();
    let backlog = backlog.unwrap_or_default();
    HttpResponse::Ok().json(json!({
        "status": if healthy { "ok" } else { "degraded" },
        "actors": state.registry.to_json(),
        "database": database,
        "inbox": {"pending": backlog.inbox_pending, "failed": backlog.inbox_failed},
        "outbox": {"pending": backlog.outbox_pending, "dead": backlog.outbox_dead},
        "spool": {"pending": state.spool.pending()},
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
    if let Ok(backlog) = state.db.run(queries::backlog).await {
        state.metrics.inbox_pending.set(backlog.inbox_pending);
        state.metrics.inbox_failed.set(backlog.inbox_failed);
        state.metrics.outbox_pending.set(backlog.outbox_pending);
        state.metrics.outbox_dead.set(backlog.outbox_dead);
    }
    if let Ok(dead) = state
        .db
        .run(crate::db::deliveries::count_dead_letters)
        .await
    {
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
