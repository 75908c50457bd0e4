//! Background tasks on the main arbiter: the spool drain, the inbox purge and the directory
//! refresh. Each logs its failures and tries again on its next tick; none can stop the daemon.

use crate::actors::db_executor::Db;
use crate::actors::intake::Intake;
use crate::directory::Directory;
use crate::jobs::crm_webhook::OfflineSends;
use crate::pipeline::spool::{Spool, SpoolEntry, SpoolRecord};
use crate::store::inbox::{self, SpoolInsert};
use std::sync::Arc;
use std::time::Duration;

/// Writes spooled submissions into the inbox once the database answers again (each exactly
/// once: a public id already in the inbox is skipped), a bounded batch at a time, then moves the
/// spool's cursor past them. Reads and writes of the file run on blocking threads.
pub(super) fn spawn_spool_drain(
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
    let mut entries = read_spool_batch(spool, offline).await?;
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
            .run_inbox(move |c| inbox::insert_spooled(c, &rows))
            .await
            .map_err(|e| e.to_string())?,
    };
    let written = outcomes
        .iter()
        .filter(|o| **o == SpoolInsert::Written)
        .count();
    set_aside_refused(&mut entries, &records, &outcomes);
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

/// The spool's next batch, up to the first submission whose offline send is still being
/// attempted (that send decides how its row is stored).
async fn read_spool_batch(
    spool: &Arc<Spool>,
    offline: &OfflineSends,
) -> Result<Vec<SpoolEntry>, String> {
    let reader = spool.clone();
    let mut entries = actix_rt::task::spawn_blocking(move || {
        reader.read_batch(SPOOL_BATCH_RECORDS, SPOOL_BATCH_BYTES)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("spool.unreadable: {e}"))?;
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
    Ok(entries)
}

/// Rows the database refuses are set aside like unreadable lines, with the reason.
fn set_aside_refused(
    entries: &mut [SpoolEntry],
    records: &[SpoolRecord],
    outcomes: &[SpoolInsert],
) {
    let refused: std::collections::HashMap<&str, &str> = outcomes
        .iter()
        .zip(records)
        .filter_map(|(o, r)| match o {
            SpoolInsert::Refused(why) => Some((r.public_id.as_str(), why.as_str())),
            _ => None,
        })
        .collect();
    for entry in entries {
        let Ok(record) = &entry.record else { continue };
        if let Some(why) = refused.get(record.public_id.as_str()) {
            log::error!(
                "spool.row_refused public_id={} error={why}",
                record.public_id
            );
            entry.record = Err(serde_json::to_string(record).unwrap_or_default());
        }
    }
}

/// Rows deleted per purge statement: a purge never holds the writer for long.
const PURGE_BATCH: i64 = 1000;

/// Processed inbox rows leave after `INBOX_RETENTION_DAYS` (their submissions keep the body), so
/// the inbox holds work, not history.
pub(super) fn spawn_inbox_purge(db: Db, retention_days: f64) {
    spawn_purge("inbox", retention_days, move |before| {
        let db = db.clone();
        async move {
            db.run_inbox(move |c| inbox::purge_processed_inbox(c, before, PURGE_BATCH))
                .await
        }
    });
}

/// Tracked sessions and page views leave after `TRACKING_RETENTION_DAYS` (visitors' totals stay).
pub(super) fn spawn_tracking_prune(db: Db, retention_days: f64) {
    spawn_purge("tracking", retention_days, move |before| {
        let db = db.clone();
        async move {
            db.run(move |c| crate::store::tracking::prune_tracking(c, before, PURGE_BATCH))
                .await
        }
    });
}

/// Every so often (half the retention, at most 10 minutes), deletes what is older than the
/// retention, a batch at a time; a retention of 0 keeps everything.
fn spawn_purge<F, Fut>(what: &'static str, retention_days: f64, purge_batch: F)
where
    F: Fn(chrono::NaiveDateTime) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<usize, crate::store::DbError>>,
{
    if retention_days <= 0.0 {
        log::info!("{what}.retention off: old rows are kept");
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
                match purge_batch(before).await {
                    Ok(n) => {
                        purged += n;
                        if n < PURGE_BATCH as usize {
                            break;
                        }
                    }
                    Err(e) => {
                        log::warn!("{what}.purge_failed error={e}");
                        break;
                    }
                }
            }
            if purged > 0 {
                log::info!("{what}.purged rows={purged}");
            }
        }
    });
}

pub(super) fn spawn_directory_refresh(db: Db, directory: Arc<Directory>) {
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
