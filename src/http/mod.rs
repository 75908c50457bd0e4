//! The HTTP surface: one file per resource (forms, leads, campaigns, deliveries, ...), the admin
//! route table in `admin.rs`, the admin and callback tokens as extractors in `auth.rs`; handlers
//! are thin and call `store/`, `pipeline/` and `jobs/`.
//!
//! Failure policy: every bad request gets a status and a JSON error naming what is wrong
//! (`error.rs`), never a panic; a submission is answered only once it is durable (inbox row or
//! spool), and a database that is slow or down is a bounded wait and then `503`, never a hang.

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod blocked_ips;
pub mod callbacks;
pub mod campaign_health;
pub mod campaign_settings;
pub mod campaigns;
pub mod contacts;
pub mod deadline;
pub mod deliveries;
pub mod error;
pub mod events;
pub mod facebook;
pub mod forms;
pub mod health;
pub mod inbox;
pub mod leads;
pub mod redirect;
pub mod site;
pub mod track;
pub mod users;
pub mod webhooks;

use crate::actors::db_executor::Db;
use crate::actors::health::Registry;
use crate::actors::intake::Intake;
use crate::config::Config;
use crate::directory::Directory;
use crate::jobs::crm_webhook::{CrmWebhook, OfflineSends};
use crate::jobs::runner::JobRunner;
use crate::metrics::Metrics;
use crate::pipeline::ack::AckWriter;
use actix::Addr;
use actix_web::http::Method;
use actix_web::web;
use std::sync::Arc;

pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub ack: AckWriter,
    pub directory: Arc<Directory>,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub intake: Addr<Intake>,
    pub deliverer: Addr<JobRunner<CrmWebhook>>,
    pub facebook: FacebookActors,
    /// New leads as they are stored, for `GET /admin/events`.
    pub events: crate::actors::live_events::LiveEvents,
    pub spool: Arc<crate::pipeline::spool::Spool>,
    pub spool_writer: crate::pipeline::spool::SpoolWriter,
    pub offline: Arc<OfflineSends>,
    /// The forwarding rule's settings, shared with the pipeline.
    pub pipeline: Arc<crate::pipeline::PipelineSettings>,
    /// How long a send made while the database is down may take (see `DeliveryGate`).
    pub offline_send_bound: std::time::Duration,
    /// Tracking events waiting for their batch.
    pub tracking: Arc<crate::tracking::Tracking>,
}

/// Facebook's actors: the Graph fetch of announced leads, and the back-fill when it is on.
#[derive(Clone)]
pub struct FacebookActors {
    pub fetcher: Addr<JobRunner<crate::jobs::facebook_lead::FacebookLead>>,
    pub backfill: Option<Addr<crate::facebook::backfill::Backfill>>,
}

impl FacebookActors {
    /// After a campaign or page token changed: its form is read again.
    pub fn read_forms_again(&self) {
        if let Some(backfill) = &self.backfill {
            backfill.do_send(crate::facebook::backfill::BackfillNow);
        }
    }
}

/// The route table, apart from the server so it can be read (and tested) on its own.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(admin::json_config())
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/v1/leads", web::post().to(forms::submit_lead))
        .route(
            "/v1/leads",
            web::method(Method::OPTIONS).to(site::preflight_lead),
        )
        .route("/thank-you", web::get().to(site::thank_you))
        .route("/t.js", web::get().to(track::tracker_script))
        .route("/v1/track", web::post().to(track::track_event))
        .route(
            "/v1/track",
            web::method(Method::OPTIONS).to(track::preflight_track),
        )
        .route(
            "/v1/inbound/webhooks/facebook",
            web::get().to(facebook::verify_subscription),
        )
        .route(
            "/v1/inbound/webhooks/facebook",
            web::post().to(facebook::receive_leads),
        )
        .route(
            "/v1/inbound/webhooks/{platform}/{account_id}/{campaign_id}",
            web::post().to(webhooks::platform_webhook),
        )
        .route("/v1/crm/callback", web::post().to(callbacks::crm_callback))
        .route(
            "/v1/make/callback",
            web::post().to(callbacks::make_callback),
        )
        .service(admin::scope());
}
