//! Builds the actor system and the HTTP server from a configuration.
//!
//! Failure policy: whatever can fail at start (the socket, the database, the spool) fails before
//! any actor runs, with one line and exit 1. After that every actor is supervised (restarted when
//! it stops), the watchdog in `supervision` exits the process when one stays dead, and the
//! background tasks in `tasks` log and retry on their next tick.

mod crm;
mod start;
mod supervision;
mod tasks;

pub use crm::check_notification_settings;
pub use start::{prepare_database, redact, url_origin};

use crate::actors::db_executor::Db;
use crate::actors::health::Registry;
use crate::actors::identity_resolver::IdentityResolver;
use crate::actors::intake::Intake;
use crate::actors::live_events::LiveEvents;
use crate::actors::scorer::Scorer;
use crate::config::Config;
use crate::directory::Directory;
use crate::facebook::backfill::Backfill;
use crate::http::{self, AppState};
use crate::jobs::crm_webhook::{CrmWebhook, OfflineSends};
use crate::jobs::facebook_lead::FacebookLead;
use crate::jobs::runner::{JobRunner, RunnerGate};
use crate::jobs::signing::signing_key;
use crate::jobs::JobKind;
use crate::metrics::Metrics;
use crate::pipeline::ack::AckWriter;
use crate::pipeline::forwarding::ForwardPolicy;
use crate::pipeline::spool::{Spool, SpoolWriter};
use crate::pipeline::PipelineSettings;
use crate::store::{self, inbox};
use crate::tracking::Tracking;
use actix::{Addr, Supervisor};
use actix_web::{web, App, HttpServer};
use start::{bind_listener, log_forwarding, schedule_unscheduled_dead_letters, webhook_settings};
use std::sync::Arc;
use std::time::Duration;
use supervision::{alive, spawn_watchdog, Liveness};

/// Runs the daemon until it is told to stop (SIGTERM / SIGINT).
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    // What can fail at start fails before any actor runs: one line, exit 1, nothing half-started.
    let listener = bind_listener(&config.bind)?;
    let pools = prepare_database(&config)?;
    let spool = open_spool(&config)?;
    for line in config.disabled_features() {
        log::info!("feature.disabled {line}");
    }
    log_forwarding(&config);
    if pools.is_sqlite {
        release_leases(&pools)?;
    }
    let mut registry = Registry::default();
    // SQLite has one writer per file: one connection each does all the writes, so no write ever
    // waits on SQLite's coarse busy-retry sleeps, and readers beside them; PostgreSQL gets a
    // worker per pooled connection.
    let db = Db::start(
        pools,
        config.database_pool_size as usize,
        registry.register("DbExecutor"),
    );
    let directory = Arc::new(Directory::default());
    directory.refresh(&db).await?;
    let ack = AckWriter::start(db.clone(), 8192);
    let actors = start_actors(&config, &db, &ack, &directory, &mut registry).await;
    let registry = Arc::new(registry);
    spawn_watchdog(registry.clone(), actors.liveness);
    tasks::spawn_directory_refresh(db.clone(), directory.clone());
    tasks::spawn_inbox_purge(db.clone(), config.inbox_retention_days);
    tasks::spawn_tracking_prune(db.clone(), config.tracking_retention_days);
    actix_rt::spawn(actors.tracking.clone().run_flusher(db.clone()));
    tasks::spawn_spool_drain(
        db.clone(),
        spool.clone(),
        actors.offline.clone(),
        actors.intake.clone(),
        config.spool_drain_interval,
    );
    let state = web::Data::new(AppState {
        config: config.clone(),
        ack,
        db,
        directory,
        registry,
        metrics: actors.metrics,
        intake: actors.intake,
        deliverer: actors.deliverer,
        events: actors.events,
        facebook: actors.facebook,
        spool_writer: SpoolWriter::start(spool.clone()),
        spool,
        offline: actors.offline,
        offline_send_bound: actors.offline_send_bound,
        pipeline: actors.settings,
        tracking: actors.tracking,
    });
    run_http(state, listener, &config.bind).await?;
    // In-flight attempts get a bounded time to finish; the rest stays pending for the next start.
    tokio::join!(
        crate::jobs::runner::drain(&actors.gate, Duration::from_secs(10)),
        crate::jobs::runner::drain(&actors.facebook_gate, Duration::from_secs(10)),
        futures_util::future::join_all(
            actors
                .crm_gates
                .iter()
                .map(|gate| crate::jobs::runner::drain(gate, Duration::from_secs(10)))
        ),
    );
    log::info!("server.stopped");
    Ok(())
}

/// The spool file for submissions that arrive while the database cannot take them.
fn open_spool(config: &Config) -> anyhow::Result<Arc<Spool>> {
    let spool = Spool::open(&config.spool_path, config.spool_max_bytes)
        .map_err(|e| anyhow::anyhow!("spool.unavailable {}: {e}", config.spool_path.display()))?;
    if spool.pending() > 0 {
        log::warn!(
            "spool.pending records={}: submissions from a database outage wait to be written",
            spool.pending()
        );
    }
    Ok(Arc::new(spool))
}

/// One instance per SQLite file: whatever it held when it stopped is free again.
fn release_leases(pools: &store::Pools) -> anyhow::Result<()> {
    let inbox_pool = pools.inbox_writer.as_ref().unwrap_or(&pools.writer);
    let released = inbox::release_all_inbox_leases(&mut *inbox_pool.get()?)?;
    let jobs = store::jobs::release_all_leases(&mut *pools.writer.get()?)?;
    if released + jobs > 0 {
        log::info!("leases_released inbox={released} jobs={jobs}");
    }
    Ok(())
}

/// The supervised actors and what the HTTP handlers share with them.
struct Actors {
    intake: Addr<Intake>,
    deliverer: Addr<JobRunner<CrmWebhook>>,
    events: LiveEvents,
    facebook: http::FacebookActors,
    facebook_gate: Arc<RunnerGate>,
    crm_gates: Vec<Arc<RunnerGate>>,
    metrics: Arc<Metrics>,
    offline: Arc<OfflineSends>,
    offline_send_bound: Duration,
    gate: Arc<RunnerGate>,
    settings: Arc<PipelineSettings>,
    tracking: Arc<Tracking>,
    liveness: Vec<(&'static str, Liveness)>,
}

/// The pipeline (Scorer, IdentityResolver, Intake) on a thread of its own beside the HTTP
/// workers; the webhook's job runner on the main arbiter, which runs until the shutdown drain.
async fn start_actors(
    config: &Arc<Config>,
    db: &Db,
    ack: &AckWriter,
    directory: &Arc<Directory>,
    registry: &mut Registry,
) -> Actors {
    let settings = Arc::new(pipeline_settings(config));
    let metrics = Arc::new(Metrics::default());
    // Registered in the order /healthz lists them.
    let scorer = Scorer {
        stats: registry.register("Scorer"),
        vpn_ranges: Arc::new(config.vpn_ranges.clone()),
    };
    let resolver = IdentityResolver {
        db: db.clone(),
        settings: settings.clone(),
        stats: registry.register("IdentityResolver"),
        metrics: metrics.clone(),
    };
    let intake_stats = registry.register("Intake");
    let pipeline_arbiter = actix::Arbiter::new().handle();
    let scorer = Supervisor::start_in_arbiter(&pipeline_arbiter, move |_| scorer);
    let resolver = Supervisor::start_in_arbiter(&pipeline_arbiter, move |_| resolver);
    let (deliverer, offline, offline_send_bound, gate) =
        start_deliverer(config, db, &metrics, registry).await;
    let events = LiveEvents::default();
    let tracking = Arc::new(Tracking::new(TRACKING_BACKLOG));
    let crm = crm::start_crm(config, db, registry).await;
    let mut liveness = vec![
        ("Scorer", alive(&scorer)),
        ("IdentityResolver", alive(&resolver)),
        ("WebhookDeliverer", alive(&deliverer)),
    ];
    let intake = Intake {
        db: db.clone(),
        scorer,
        resolver,
        deliverer: deliverer.clone().recipient(),
        directory: directory.clone(),
        stats: intake_stats,
        lease_owner: store::new_public_id(),
        busy: false,
        nudged: false,
        latest_leads: Default::default(),
        events: events.clone(),
        crm_runners: crm.runners(),
        tracking: tracking.clone(),
    };
    let intake = Supervisor::start_in_arbiter(&pipeline_arbiter, move |_| intake);
    liveness.push(("Intake", alive(&intake)));
    let (facebook, facebook_gate) =
        start_facebook(config, db, ack, directory, registry, &intake, &metrics).await;
    liveness.extend(crm.liveness());
    liveness.push(("FacebookFetcher", alive(&facebook.fetcher)));
    liveness.extend(
        facebook
            .backfill
            .as_ref()
            .map(|b| ("FacebookBackfill", alive(b))),
    );
    Actors {
        intake,
        deliverer,
        events,
        facebook,
        facebook_gate,
        crm_gates: crm.gates,
        metrics,
        offline,
        offline_send_bound,
        gate,
        settings,
        tracking,
        liveness,
    }
}

/// Tracking events that may wait for their batch; past this `/v1/track` answers `503`.
const TRACKING_BACKLOG: usize = 100_000;

/// The CRM webhook's runner (the WebhookDeliverer), what it shares with sends made while the
/// database is down, and its gate.
async fn start_deliverer(
    config: &Config,
    db: &Db,
    metrics: &Arc<Metrics>,
    registry: &mut Registry,
) -> (
    Addr<JobRunner<CrmWebhook>>,
    Arc<OfflineSends>,
    Duration,
    Arc<RunnerGate>,
) {
    let offline = Arc::new(OfflineSends::default());
    let gate = Arc::new(RunnerGate::default());
    let webhook = webhook_settings(config);
    let offline_send_bound = CrmWebhook::offline_send_bound(&webhook);
    let kind = CrmWebhook::new(
        webhook,
        config.webhook_signing_secret.as_deref().map(signing_key),
        crate::outbound::tls_config(),
        metrics.clone(),
        offline.clone(),
    );
    let stats = registry.register("WebhookDeliverer");
    let deliverer = start_runner(db, kind, stats, &gate).await;
    (deliverer, offline, offline_send_bound, gate)
}

/// A job kind's runner, supervised on the main arbiter (which runs until the shutdown drain);
/// dead letters from before re-driving get their first re-drive time first.
async fn start_runner<K: JobKind>(
    db: &Db,
    kind: K,
    stats: Arc<crate::actors::health::ActorStats>,
    gate: &Arc<RunnerGate>,
) -> Addr<JobRunner<K>> {
    schedule_unscheduled_dead_letters(db, K::NAME, &kind.settings().dead_letters).await;
    let runner = JobRunner::new(
        db.clone(),
        kind,
        stats,
        gate.clone(),
        store::new_public_id(),
    );
    Supervisor::start(move |_| runner)
}

/// Facebook Lead Ads: the fetcher of announced leads (a job runner) and, unless
/// `FACEBOOK_BACKFILL_MINUTES` is 0, the back-fill.
async fn start_facebook(
    config: &Arc<Config>,
    db: &Db,
    ack: &AckWriter,
    directory: &Arc<Directory>,
    registry: &mut Registry,
    intake: &Addr<Intake>,
    metrics: &Arc<Metrics>,
) -> (http::FacebookActors, Arc<RunnerGate>) {
    let gate = Arc::new(RunnerGate::default());
    let kind = FacebookLead::new(
        facebook_settings(config),
        db.clone(),
        ack.clone(),
        intake.clone().recipient(),
        config.clone(),
    );
    let stats = registry.register(FacebookLead::ACTOR);
    let fetcher = start_runner(db, kind, stats, &gate).await;
    let backfill = (config.facebook_backfill_minutes > 0.0).then(|| {
        let backfill = Backfill::new(
            db.clone(),
            ack.clone(),
            intake.clone().recipient(),
            config.clone(),
            directory.clone(),
            metrics.clone(),
            registry.register("FacebookBackfill"),
        );
        Supervisor::start(move |_| backfill)
    });
    (http::FacebookActors { fetcher, backfill }, gate)
}

/// The Graph fetch's schedule: rate limits lift within minutes to an hour; its dead letters are
/// kept and re-driven like the webhook's.
fn facebook_settings(config: &Config) -> crate::jobs::KindSettings {
    crate::jobs::KindSettings {
        retry_delays: crate::jobs::facebook_lead::RETRY_DELAYS.to_vec(),
        attempt_timeout: Duration::from_secs(30),
        dead_letters: webhook_settings(config).dead_letters,
        max_in_flight: 8,
        max_in_flight_per_destination: 4,
        // Not woken by the hand-over (the Intake starts first): a lead waits a second at most.
        poll_interval: Duration::from_secs(1),
    }
}

/// How the pipeline decides forwarding, from the configuration.
fn pipeline_settings(config: &Config) -> PipelineSettings {
    PipelineSettings {
        policy: ForwardPolicy {
            production: config.is_production(),
            duplicate_window_minutes: config.lead_duplicate_window_minutes,
            reengage_hours: config.lead_reengage_hours,
        },
        bot_lead_detection: config.bot_lead_detection,
        default_webhook_url: config.make_webhook_url.clone(),
        dev_environment: !config.is_production(),
    }
}

/// Serves HTTP on the bound socket until SIGTERM / SIGINT, then lets requests finish (10 s).
async fn run_http(
    state: web::Data<AppState>,
    listener: std::net::TcpListener,
    bind: &str,
) -> anyhow::Result<()> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(
                http::deadline::body_deadline,
            ))
            .configure(http::routes)
    })
    .workers(2)
    .shutdown_timeout(10)
    .listen(listener)
    .map_err(|e| anyhow::anyhow!("server.bind_failed {bind}: {e}"))?;
    for addr in server.addrs() {
        log::info!("server.listening addr={addr}");
    }
    server.run().await?;
    Ok(())
}
