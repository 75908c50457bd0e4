//! What runs before the actors: the listening socket, the database and its migrations, the
//! one-line start errors, and the settings derived from the configuration.

use crate::actors::db_executor::Db;
use crate::config::Config;
use crate::jobs::{DeadLetterPolicy, KindSettings};
use crate::store::{self, accounts, health};
use std::time::Duration;

/// Opens the database and applies pending migrations (also what `leadgate migrate` does); on
/// SQLite also the inbox file's, with the rows of a database from before it moved over.
pub fn prepare_database(config: &Config) -> anyhow::Result<store::Pools> {
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
    if let crate::config::DatabaseTarget::Sqlite(path) = &config.database {
        let moved = store::inbox_file::prepare_inbox_file(path).map_err(|e| failed(&e))?;
        if moved > 0 {
            log::info!(
                "database.inbox_moved rows={moved} file={}",
                store::inbox_file::inbox_file_of(path).display()
            );
        }
    }
    store::build_pools(&config.database, config.database_pool_size).map_err(|e| failed(&e))
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
pub(super) fn log_forwarding(config: &Config) {
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

/// The CRM webhook's retry schedule, timeout, dead letters and concurrency, from the settings.
pub(super) fn webhook_settings(config: &Config) -> KindSettings {
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
        // A lead's send is woken at once; the look finds retries that came due.
        poll_interval: Duration::from_millis(100),
    }
}

/// Dead letters from before re-driving (or while it was off) get their first re-drive time.
pub(super) async fn schedule_unscheduled_dead_letters(
    db: &Db,
    kind: &'static str,
    policy: &DeadLetterPolicy,
) {
    let policy = policy.clone();
    match db
        .run(move |c| {
            crate::store::dead_letters::schedule_unscheduled_dead_letters(c, kind, &policy)
        })
        .await
    {
        Ok(0) => {}
        Ok(n) => log::info!("webhook.redrive_scheduled dead_letters={n}"),
        Err(e) => log::warn!("webhook.redrive_schedule_failed error={e}"),
    }
}

/// The listening socket (backlog 2048), bound before anything else starts.
pub(super) fn bind_listener(bind: &str) -> anyhow::Result<std::net::TcpListener> {
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
