//! Builds the actor system and the HTTP server from a configuration.

use crate::actors::db_executor::Db;
use crate::actors::health::Registry;
use crate::actors::identity_resolver::IdentityResolver;
use crate::actors::intake::Intake;
use crate::actors::scorer::Scorer;
use crate::config::{Config, DatabaseTarget};
use crate::directory::Directory;
use crate::http::{self, AppState};
use crate::jobs::crm_webhook::{CrmWebhook, OfflineSends};
use crate::jobs::runner::{JobRunner, RunnerGate};
use crate::jobs::signing::signing_key;
use crate::jobs::{DeadLetterPolicy, KindSettings};
use crate::metrics::Metrics;
use crate::pipeline::ack::AckWriter;
use crate::pipeline::forwarding::ForwardPolicy;
use crate::pipeline::spool::{Spool, SpoolEntry, SpoolRecord};
use crate::pipeline::PipelineSettings;
use crate::store::inbox::SpoolInsert;
use crate::store::{self, accounts, health, inbox};
use actix::Supervisor;
use actix_web::{web, App, HttpServer};
use std::sync::Arc;
use std::time::Duration;

/// Opens the database and applies pending migrations (also what `leadgate migrate` does).
pub fn prepare_database(config: &Config) -> anyhow::Result<store::Pool> {
    let target = redact(&config.database_url);
    let failed = |e: &dyn std::fmt::Display| start_error(&target, &e.to_string());
    // One connection first: its error is the real one, said once (the pool retries and logs).
    let mut conn = store::establish(&config.database).map_err(|e| failed(&e))?;
    let applied = store::run_migrations(&mut conn).map_err(|e| failed(&e))?;
    if applied > 0 {
        log::info!("database.migrated applied={applied}");
    }
    // Two instances starting together on one PostgreSQL: the loser of the insert finds the row.
    if accounts::ensure_default_account(&mut conn).is_err() {
        std::thread::sleep(Duration::from_millis(200));
        accounts::ensure_default_account(&mut conn).map_err(|e| failed(&e))?;
    }
    health::probe_writable(&mut conn).map_err(|e| failed(&e))?;
    drop(conn);
    store::build_pool(&config.database, config.database_pool_size).map_err(|e| failed(&e))
}

/// The one line a start that cannot reach its database ends with, naming the event and the cause.
fn start_error(target: &str, error: &str) -> anyhow::Error {
    let read_only = ["readonly", "read-only", "read only"]
        .iter()
        .any(|sign| error.contains(sign));
    let event = if read_only {
        "database.read_only"
    } else {
        "database.unavailable"
    };
    let hint = if read_only {
        " (leadgate must be able to write the database file and its folder)"
    } else {
        ""
    };
    anyhow::anyhow!("{event} {target}: {error}{hint}")
}

/// One line that says where leads will go, so nobody wonders why nothing arrives.
fn log_forwarding(config: &Config) {
    let environment = config.environment.as_str();
    match (config.is_production(), config.make_webhook_url.as_deref()) {
        (false, _) => log::info!(
            "forwarding.off environment={environment}: leads are stored, never forwarded (forwarding needs ENVIRONMENT=production)"
        ),
        (true, Some(url)) => log::info!(
            "forwarding.on environment=production destination={} (MAKE_WEBHOOK_URL; a campaign's webhook_url wins)",
            url_origin(url)
        ),
        (true, None) => log::warn!(
            "forwarding.on environment=production destination=none: only leads of campaigns with a webhook_url are forwarded (MAKE_WEBHOOK_URL is unset)"
        ),
    }
}

/// `scheme://host[:port]` of a URL: webhook paths carry secrets and stay out of logs.
pub fn url_origin(url: &str) -> String {
    match url.parse::<actix_web::http::Uri>() {
        Ok(uri) => match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => {
                let host = authority.as_str().rsplit('@').next().unwrap_or_default();
                format!("{scheme}://{host}")
            }
            _ => "(not a URL)".into(),
        },
        Err(_) => "(not a URL)".into(),
    }
}

/// A database URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Runs the daemon until it is told to stop (SIGTERM / SIGINT).
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    // What can fail at start fails before any actor runs: one line, exit 1, nothing half-started.
    let listener = bind_listener(&config.bind)?;
    let pool = prepare_database(&config)?;
    let spool = Arc::new(
        Spool::open(&config.spool_path, config.spool_max_bytes).map_err(|e| {
            anyhow::anyhow!("spool.unavailable {}: {e}", config.spool_path.display())
        })?,
    );
    for line in config.disabled_features() {
        log::info!("feature.disabled {line}");
    }
    log_forwarding(&config);
    let is_sqlite = matches!(config.database, DatabaseTarget::Sqlite(_));
    if is_sqlite {
        // One instance per SQLite file: whatever it held when it stopped is free again.
        let mut conn = pool.get()?;
        let released = inbox::release_all_inbox_leases(&mut conn)?;
        let jobs = crate::store::jobs::release_all_leases(&mut conn)?;
        if released + jobs > 0 {
            log::info!("leases_released inbox={released} jobs={jobs}");
        }
    }

    let mut registry = Registry::default();
    let db_stats = registry.register("DbExecutor");
    let scorer_stats = registry.register("Scorer");
    let resolver_stats = registry.register("IdentityResolver");
    let intake_stats = registry.register("Intake");
    let deliverer_stats = registry.register("WebhookDeliverer");
    let registry = Arc::new(registry);

    // SQLite has one writer: one connection does all the work, so no write ever waits on
    // SQLite's coarse busy-retry sleeps; PostgreSQL gets a worker per pooled connection.
    let threads = if is_sqlite {
        1
    } else {
        config.database_pool_size as usize
    };
    let db = Db::start(pool, threads, db_stats, is_sqlite);
    let directory = Arc::new(Directory::default());
    directory.refresh(&db).await?;

    let settings = Arc::new(PipelineSettings {
        policy: ForwardPolicy {
            production: config.is_production(),
            duplicate_window_minutes: config.lead_duplicate_window_minutes,
            reengage_hours: config.lead_reengage_hours,
        },
        bot_lead_detection: config.bot_lead_detection,
        default_webhook_url: config.make_webhook_url.clone(),
        dev_environment: !config.is_production(),
    });
    // The pipeline gets a thread of its own beside the HTTP workers; the deliverer stays on the
    // main arbiter, which runs until the shutdown drain is over.
    let pipeline_arbiter = actix::Arbiter::new().handle();
    let scorer = Supervisor::start_in_arbiter(&pipeline_arbiter, move |_| Scorer {
        stats: scorer_stats,
    });
    let metrics = Arc::new(Metrics::default());
    let resolver_db = db.clone();
    let resolver_metrics = metrics.clone();
    let resolver_settings = settings.clone();
    let resolver = Supervisor::start_in_arbiter(&pipeline_arbiter, move |_| IdentityResolver {
        db: resolver_db,
        settings: resolver_settings,
        stats: resolver_stats,
        metrics: resolver_metrics,
    });
    if spool.pending() > 0 {
        log::warn!(
            "spool.pending records={}: submissions from a database outage wait to be written",
            spool.pending()
        );
    }
    let offline = Arc::new(OfflineSends::default());
    let gate = Arc::new(RunnerGate::default());
    let webhook = webhook_settings(&config);
    let offline_send_bound = CrmWebhook::offline_send_bound(&webhook);
    schedule_unscheduled_dead_letters(&db, &webhook.dead_letters).await;
    let deliverer = {
        let kind = CrmWebhook::new(
            webhook,
            config.webhook_signing_secret.as_deref().map(signing_key),
            crate::outbound::tls_config(),
            metrics.clone(),
            offline.clone(),
        );
        let runner = JobRunner::new(
            db.clone(),
            kind,
            deliverer_stats,
            gate.clone(),
            store::new_public_id(),
        );
        Supervisor::start(move |_| runner)
    };
    let (scorer_alive, resolver_alive) = (scorer.clone(), resolver.clone());
    let intake = {
        let (db, directory) = (db.clone(), directory.clone());
        let deliverer = deliverer.clone().recipient();
        let lease_owner = store::new_public_id();
        Supervisor::start_in_arbiter(&pipeline_arbiter, move |_| Intake {
            db,
            scorer,
            resolver,
            deliverer,
            directory,
            stats: intake_stats,
            lease_owner,
            busy: false,
            nudged: false,
        })
    };
    spawn_directory_refresh(db.clone(), directory.clone());
    spawn_inbox_purge(db.clone(), config.inbox_retention_days);
    spawn_watchdog(
        registry.clone(),
        vec![
            ("Scorer", alive(&scorer_alive)),
            ("IdentityResolver", alive(&resolver_alive)),
            ("Intake", alive(&intake)),
            ("WebhookDeliverer", alive(&deliverer)),
        ],
    );
    spawn_spool_drain(
        db.clone(),
        spool.clone(),
        offline.clone(),
        intake.clone(),
        config.spool_drain_interval,
    );

    let ack = AckWriter::start(db.clone(), 8192);
    let state = web::Data::new(AppState {
        config: config.clone(),
        db,
        ack,
        directory,
        registry,
        metrics,
        intake,
        deliverer,
        spool_writer: crate::pipeline::spool::SpoolWriter::start(spool.clone()),
        spool,
        offline,
        offline_send_bound,
        pipeline: settings,
    });
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
    .map_err(|e| anyhow::anyhow!("server.bind_failed {}: {e}", config.bind))?;
    for addr in server.addrs() {
        log::info!("server.listening addr={addr}");
    }
    server.run().await?;
    // In-flight attempts get a bounded time to finish; the rest stays pending for the next start.
    crate::jobs::runner::drain(&gate, Duration::from_secs(10)).await;
    log::info!("server.stopped");
    Ok(())
}

/// Processed inbox rows leave after `INBOX_RETENTION_DAYS` (their submissions keep the body), so
/// the inbox holds work, not history.
fn spawn_inbox_purge(db: Db, retention_days: f64) {
    if retention_days <= 0.0 {
        log::info!("inbox.retention off: processed inbox rows are kept");
        return;
    }
    let retention = Duration::from_secs_f64(retention_days.min(36_500.0) * 86_400.0);
    let every = (retention / 2).clamp(Duration::from_secs(1), Duration::from_secs(600));
    actix_rt::spawn(async move {
        let mut tick = actix_rt::time::interval(every);
        loop {
            tick.tick().await;
            let Some(before) = chrono::Duration::from_std(retention)
                .ok()
                .and_then(|r| crate::store::now().checked_sub_signed(r))
            else {
                continue;
            };
            let mut purged = 0;
            loop {
                match db
                    .run(move |c| inbox::purge_processed_inbox(c, before, 1000))
                    .await
                {
                    Ok(n) => {
                        purged += n;
                        if n < 1000 {
                            break;
                        }
                    }
                    Err(e) => {
                        log::warn!("inbox.purge_failed error={e}");
                        break;
                    }
                }
            }
            if purged > 0 {
                log::info!("inbox.purged rows={purged}");
            }
        }
    });
}

/// The CRM webhook's retry schedule, timeout, dead letters and concurrency, from the settings.
fn webhook_settings(config: &Config) -> KindSettings {
    KindSettings {
        retry_delays: config.webhook_retry_schedule.clone(),
        attempt_timeout: Duration::from_secs_f64(config.webhook_timeout_seconds),
        dead_letters: DeadLetterPolicy {
            ttl: chrono::Duration::milliseconds(
                (config.dead_letter_ttl_days * 86_400_000.0) as i64,
            ),
            redrive_schedule: config
                .webhook_redrive_schedule
                .iter()
                .filter_map(|d| chrono::Duration::from_std(*d).ok())
                .collect(),
        },
        // A receiver that hangs holds at most half the slots, never every campaign's.
        max_in_flight: 64,
        max_in_flight_per_destination: 32,
    }
}

/// Dead letters from before re-driving (or while it was off) get their first re-drive time.
async fn schedule_unscheduled_dead_letters(db: &Db, policy: &DeadLetterPolicy) {
    let policy = policy.clone();
    match db
        .run(move |c| crate::store::dead_letters::schedule_unscheduled_dead_letters(c, &policy))
        .await
    {
        Ok(0) => {}
        Ok(n) => log::info!("webhook.redrive_scheduled dead_letters={n}"),
        Err(e) => log::warn!("webhook.redrive_schedule_failed error={e}"),
    }
}

/// The listening socket (backlog 2048), bound before anything else starts.
fn bind_listener(bind: &str) -> anyhow::Result<std::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let failed = |e: &dyn std::fmt::Display| anyhow::anyhow!("server.bind_failed {bind}: {e}");
    let addr = bind
        .to_socket_addrs()
        .map_err(|e| failed(&e))?
        .next()
        .ok_or_else(|| failed(&"the name has no address"))?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(|e| failed(&e))?;
    socket.set_reuse_address(true).map_err(|e| failed(&e))?;
    socket.bind(&addr.into()).map_err(|e| failed(&e))?;
    socket.listen(2048).map_err(|e| failed(&e))?;
    Ok(socket.into())
}

/// Writes spooled submissions into the inbox once the database answers again (each exactly
/// once: a public id already in the inbox is skipped), a bounded batch at a time, then moves the
/// spool's cursor past them. Reads and writes of the file run on blocking threads.
fn spawn_spool_drain(
    db: Db,
    spool: Arc<Spool>,
    offline: Arc<OfflineSends>,
    intake: actix::Addr<Intake>,
    interval: Duration,
) {
    actix_rt::spawn(async move {
        let mut tick = actix_rt::time::interval(interval);
        loop {
            tick.tick().await;
            while spool.has_unread() {
                match drain_spool_batch(&db, &spool, &offline).await {
                    Ok(0) => break,
                    Ok(records) => {
                        intake.do_send(crate::actors::intake::Nudge);
                        if records < SPOOL_BATCH_RECORDS {
                            break;
                        }
                    }
                    Err(e) => {
                        log::debug!("spool.waiting_for_database error={e}");
                        break;
                    }
                }
            }
        }
    });
}

const SPOOL_BATCH_RECORDS: usize = 256;
const SPOOL_BATCH_BYTES: u64 = 8 << 20;

/// One batch from the spool into the inbox; returns how many lines it moved past.
async fn drain_spool_batch(
    db: &Db,
    spool: &Arc<Spool>,
    offline: &OfflineSends,
) -> Result<usize, String> {
    let reader = spool.clone();
    let mut entries = actix_rt::task::spawn_blocking(move || {
        reader.read_batch(SPOOL_BATCH_RECORDS, SPOOL_BATCH_BYTES)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("spool.unreadable: {e}"))?;
    // A send still being attempted decides how its row is stored: drain up to it.
    let sending = |e: &SpoolEntry| {
        e.record.as_ref().is_ok_and(|r| {
            r.pre_forwarded
                .as_ref()
                .is_some_and(|p| offline.sending(&p.make_send_public_id))
        })
    };
    if let Some(first_sending) = entries.iter().position(sending) {
        entries.truncate(first_sending);
    }
    if entries.is_empty() {
        return Ok(0);
    }
    let records: Vec<SpoolRecord> = entries
        .iter()
        .filter_map(|e| e.record.as_ref().ok().cloned())
        .collect();
    let rows: Vec<_> = records
        .iter()
        .map(|r| {
            let delivered = r
                .pre_forwarded
                .as_ref()
                .is_some_and(|p| offline.delivered(&p.make_send_public_id));
            r.inbox_row(delivered)
        })
        .collect();
    let outcomes = match rows.is_empty() {
        true => Vec::new(),
        false => db
            .run(move |c| inbox::insert_spooled(c, &rows))
            .await
            .map_err(|e| e.to_string())?,
    };
    let written = outcomes
        .iter()
        .filter(|o| **o == SpoolInsert::Written)
        .count();
    // Rows the database refuses are set aside like unreadable lines, with the reason.
    let refused: std::collections::HashMap<&str, &str> = outcomes
        .iter()
        .zip(&records)
        .filter_map(|(o, r)| match o {
            SpoolInsert::Refused(why) => Some((r.public_id.as_str(), why.as_str())),
            _ => None,
        })
        .collect();
    for entry in entries.iter_mut() {
        let Ok(record) = &entry.record else { continue };
        if let Some(why) = refused.get(record.public_id.as_str()) {
            log::error!(
                "spool.row_refused public_id={} error={why}",
                record.public_id
            );
            entry.record = Err(serde_json::to_string(record).unwrap_or_default());
        }
    }
    let count = entries.len();
    let consumer = spool.clone();
    actix_rt::task::spawn_blocking(move || consumer.consume(&entries))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("spool.cursor_failed: {e}"))?;
    for pre in records.iter().filter_map(|r| r.pre_forwarded.as_ref()) {
        offline.forget(&pre.make_send_public_id);
    }
    log::info!("spool.drained records={count} written={written}");
    Ok(count)
}

/// `Supervisor` restarts an actor that stops, not one whose task died (a panic that escaped the
/// guards). The watchdog checks every second that each supervised actor still has a mailbox; a
/// dead one is shown as `stopped` (so `/readyz` fails) and, if it stays dead, the process exits
/// for systemd to restart it: the work lives in tables, so a restart loses nothing.
type Liveness = Box<dyn Fn() -> bool>;

fn alive<A: actix::Actor>(addr: &actix::Addr<A>) -> Liveness {
    let addr = addr.clone();
    Box::new(move || addr.connected())
}

fn spawn_watchdog(registry: Arc<Registry>, actors: Vec<(&'static str, Liveness)>) {
    actix_rt::spawn(async move {
        let mut tick = actix_rt::time::interval(Duration::from_secs(1));
        let mut dead_for = 0u32;
        loop {
            tick.tick().await;
            let dead: Vec<&str> = actors
                .iter()
                .filter(|(_, is_alive)| !is_alive())
                .map(|(name, _)| *name)
                .collect();
            for name in &dead {
                if let Some(stats) = registry.get(name) {
                    stats.set_stopped();
                }
                log::error!("actor.dead actor={name}");
            }
            dead_for = if dead.is_empty() { 0 } else { dead_for + 1 };
            if dead_for >= 5 {
                log::error!("watchdog.exit actors={dead:?}: exiting so that the service manager restarts leadgate");
                std::process::exit(1);
            }
        }
    });
}

fn spawn_directory_refresh(db: Db, directory: Arc<Directory>) {
    actix_rt::spawn(async move {
        let mut tick = actix_rt::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Err(e) = directory.refresh(&db).await {
                log::warn!("directory.refresh_failed error={e}");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
