//! WebhookDeliverer: sends outbox rows to the CRM webhook.
//!
//! Failure policy: a delivery is claimed with a lease, sent once, and the outcome is recorded in
//! one transaction (attempt row, next attempt or final state, dead letter). The first attempt is
//! at once; network errors, timeouts, 5xx, 408 and 429 are retried after 1 s, 2 s and 4 s; other
//! 4xx and 3xx (redirects are not followed) end at once in a dead letter. A crash or SIGKILL
//! mid-attempt loses nothing: the lease runs out (at once on a restarted SQLite instance) and the
//! row is sent again with the same `webhook-id`, which is what receivers deduplicate on.

use super::db_executor::Db;
use super::health::{run_guarded, ActorStats};
use crate::db::deliveries::{self, AttemptRecord, DeadLetterPolicy, Recorded};
use crate::db::models::Delivery;
use crate::delivery::retry::{
    body_start, describe, describe_with_body, verdict, AttemptResult, Verdict,
};
use crate::delivery::signing::sign;
use crate::intake::submission::PreForwarded;
use crate::metrics::{label, Metrics};
use crate::outbound;
use actix::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const POLL_INTERVAL: Duration = Duration::from_millis(100);
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
const MAX_IN_FLIGHT: usize = 64;
/// At most this many attempts on the wire to one URL: a receiver that hangs holds these slots,
/// never every campaign's (one healthy receiver still gets as many as it can take).
const MAX_IN_FLIGHT_PER_URL: usize = 32;
const REDRIVE_INTERVAL: Duration = Duration::from_secs(1);
/// Lease beyond the attempt's own timeout: time to record its outcome.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// The most of a receiver's answer that is read (and thrown away).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub timeout: Duration,
    pub signing_key: Option<Vec<u8>>,
    pub dead_letters: DeadLetterPolicy,
    pub tls: outbound::TlsConfig,
}

impl DeliverySettings {
    /// The longest an offline send can take: every attempt timing out, plus the 1-2-4 s waits.
    pub fn offline_send_bound(&self) -> Duration {
        self.timeout * 4 + Duration::from_secs(7 + 10)
    }
}

/// Shared with the shutdown path, the ack path and the spool drain: how many attempts are on the
/// wire, whether to start more, and the sends made while the database was down (which are still
/// being attempted, which got through).
#[derive(Debug, Default)]
pub struct DeliveryGate {
    pub in_flight: AtomicUsize,
    /// Attempts on the wire per destination URL.
    in_flight_by_url: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    pub draining: AtomicBool,
    delivered_offline: std::sync::Mutex<std::collections::HashSet<String>>,
    /// make_send_public_id → when the mark lapses, should the send never have started.
    sending_offline: std::sync::Mutex<std::collections::HashMap<String, Instant>>,
}

/// One attempt on the wire or waiting to be recorded. Counted while it lives, so a task dropped
/// with a restarted actor releases its count too.
pub struct InFlight(Arc<DeliveryGate>, String);

impl InFlight {
    fn new(gate: &Arc<DeliveryGate>, url: &str) -> InFlight {
        gate.in_flight.fetch_add(1, Ordering::SeqCst);
        *gate.by_url().entry(url.to_string()).or_default() += 1;
        InFlight(gate.clone(), url.to_string())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut by_url = self.0.by_url();
        if let Some(count) = by_url.get_mut(&self.1) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                by_url.remove(&self.1);
            }
        }
    }
}

impl DeliveryGate {
    fn by_url(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, usize>> {
        self.in_flight_by_url
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn in_flight_to(&self, url: &str) -> usize {
        self.by_url().get(url).copied().unwrap_or(0)
    }

    /// Destinations with every slot in use: not claimed for until one frees up.
    fn busy_urls(&self) -> Vec<String> {
        self.by_url()
            .iter()
            .filter(|(_, n)| **n >= MAX_IN_FLIGHT_PER_URL)
            .map(|(url, _)| url.clone())
            .collect()
    }

    /// Whether a send made while the database was down is still being attempted; the spool
    /// drain waits for it, so that the stored row knows whether it got through.
    pub fn sending_offline(&self, make_send_public_id: &str) -> bool {
        self.sending_offline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(make_send_public_id)
            .is_some_and(|lapses| Instant::now() < *lapses)
    }

    /// Marks a send as under way before its record reaches the spool, so that no drain can store
    /// the record as unsent meanwhile. The mark lapses by itself after `for_at_most`.
    pub fn begin_offline_send(&self, make_send_public_id: &str, for_at_most: Duration) {
        self.sending_offline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                make_send_public_id.to_string(),
                Instant::now() + for_at_most,
            );
    }

    pub fn end_offline_send(&self, make_send_public_id: &str) {
        self.sending_offline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(make_send_public_id);
    }

    /// Called once a drained record has been stored: its outcome is now in the database.
    pub fn forget_offline(&self, make_send_public_id: &str) {
        self.delivered_offline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(make_send_public_id);
    }

    pub fn mark_delivered_offline(&self, make_send_public_id: &str) {
        self.delivered_offline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(make_send_public_id.to_string());
    }

    pub fn delivered_offline(&self, make_send_public_id: &str) -> bool {
        self.delivered_offline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(make_send_public_id)
    }
}

/// A finished attempt waiting to be recorded. While the database cannot take it, it is kept
/// (and its slot held) until shortly before its lease would let the row be claimed again.
pub struct Unrecorded {
    record: AttemptRecord,
    _slot: InFlight,
    give_up_at: Instant,
}

/// How long after an attempt its recording is retried (well inside the lease margin).
const RECORDING_RETRIES_FOR: Duration = Duration::from_secs(20);

pub struct WebhookDeliverer {
    pub db: Db,
    pub settings: Arc<DeliverySettings>,
    pub stats: Arc<ActorStats>,
    pub metrics: Arc<Metrics>,
    pub gate: Arc<DeliveryGate>,
    pub lease_owner: String,
    pub claiming: bool,
    pub client: Option<awc::Client>,
    /// Finished attempts waiting to be recorded, and whether a recording commit is in flight.
    pub unrecorded: Vec<Unrecorded>,
    pub recording: bool,
}

impl Actor for WebhookDeliverer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        self.claiming = false;
        self.recording = false;
        // Attempts that finished before a restart are still waiting to be recorded.
        self.flush(ctx);
        self.client = Some(outbound::client(&self.settings.tls, self.settings.timeout));
        self.stats.set_running();
        ctx.run_interval(POLL_INTERVAL, |act, ctx| act.pump(ctx));
        ctx.run_interval(PURGE_INTERVAL, |act, ctx| act.purge(ctx));
        ctx.run_interval(REDRIVE_INTERVAL, |act, ctx| act.redrive(ctx));
        self.pump(ctx);
    }
}

impl Supervised for WebhookDeliverer {
    fn restarting(&mut self, _ctx: &mut Self::Context) {}
}

/// New deliveries are in the outbox.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliveriesQueued;

impl Handler<DeliveriesQueued> for WebhookDeliverer {
    type Result = ();

    fn handle(&mut self, _msg: DeliveriesQueued, ctx: &mut Self::Context) {
        self.stats.enqueued();
        self.pump(ctx);
    }
}

/// Forward now a lead the database could not take (it is in the spool). Attempts follow the same
/// policy, in memory; whether one got through is remembered for when the spool is drained, and
/// if the process stops first, the drained row is sent again with the same `webhook-id`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverNow(pub PreForwarded);

impl Handler<DeliverNow> for WebhookDeliverer {
    type Result = ();

    fn handle(&mut self, msg: DeliverNow, ctx: &mut Self::Context) {
        let Some(client) = self.client.clone() else {
            self.gate.end_offline_send(&msg.0.make_send_public_id);
            return;
        };
        let (settings, delivered, metrics) = (
            self.settings.clone(),
            self.gate.clone(),
            self.metrics.clone(),
        );
        let pre = msg.0;
        ctx.spawn(
            async move {
                let _sending = OfflineSend(delivered.clone(), pre.make_send_public_id.clone());
                for attempt in 1u32.. {
                    // The mark is renewed as each attempt starts: the drain waits for the send
                    // however long it queued before starting.
                    delivered.begin_offline_send(&pre.make_send_public_id, settings.offline_send_bound());
                    let on_the_wire = InFlight::new(&delivered, &pre.url);
                    let (result, _) = post(&client, &pre.url, &pre.make_send_public_id, &pre.payload_json, &settings).await;
                    drop(on_the_wire);
                    metrics.delivery_attempts.inc();
                    match verdict(&result, attempt) {
                        Verdict::Delivered => {
                            delivered.mark_delivered_offline(&pre.make_send_public_id);
                            log::info!("webhook.delivered_while_database_down make_send_public_id={}", pre.make_send_public_id);
                            return;
                        }
                        Verdict::Retry(delay) => actix_rt::time::sleep(delay).await,
                        Verdict::Dead => {
                            log::warn!(
                                "webhook.offline_send_failed make_send_public_id={} error={}: sent again once the spool is drained",
                                pre.make_send_public_id,
                                describe(&result)
                            );
                            return;
                        }
                    }
                }
            }
            .into_actor(self),
        );
    }
}

/// Clears the "still sending" mark however the offline send ends (also if its task is dropped).
struct OfflineSend(Arc<DeliveryGate>, String);

impl Drop for OfflineSend {
    fn drop(&mut self) {
        self.0.end_offline_send(&self.1);
    }
}

impl WebhookDeliverer {
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if run_guarded(&self.stats, || ()).is_err() {
            ctx.stop();
            return;
        }
        let in_flight = self.gate.in_flight.load(Ordering::SeqCst);
        if self.claiming || in_flight >= MAX_IN_FLIGHT || self.gate.draining.load(Ordering::SeqCst)
        {
            return;
        }
        self.claiming = true;
        // Each claim has its own token: an attempt whose lease ran out (and whose row another
        // claim took) cannot record over the newer one.
        let owner = format!("{}/{}", self.lease_owner, uuid::Uuid::new_v4().simple());
        // An attempt is bounded by the timeout (see `post`); the rest is time to record it.
        let lease = chrono::Duration::from_std(self.settings.timeout + LEASE_MARGIN)
            .unwrap_or_else(|_| chrono::Duration::seconds(60));
        // No more than one destination can take: the rest would only be claimed and given back.
        let limit = (MAX_IN_FLIGHT - in_flight).min(MAX_IN_FLIGHT_PER_URL) as i64;
        let busy_urls = self.gate.busy_urls();
        let claim = self.db.clone();
        let work = async move {
            claim
                .run(move |c| deliveries::claim_deliveries(c, &owner, limit, lease, &busy_urls))
                .await
        };
        ctx.spawn(work.into_actor(self).map(|claimed, act, ctx| {
            act.claiming = false;
            match claimed {
                Ok(rows) => act.send_within_limits(rows, ctx),
                Err(e) => act.stats.record_error(&e.to_string()),
            }
        }));
    }

    /// Sends what each destination has room for; gives the rest back for a later claim.
    fn send_within_limits(&mut self, rows: Vec<Delivery>, ctx: &mut Context<Self>) {
        let mut over_limit = Vec::new();
        for delivery in rows {
            if self.gate.in_flight_to(&delivery.url) >= MAX_IN_FLIGHT_PER_URL {
                over_limit.push((
                    delivery.lease_owner.clone().unwrap_or_default(),
                    delivery.id,
                ));
            } else {
                self.send(delivery, ctx);
            }
        }
        if !over_limit.is_empty() {
            let db = self.db.clone();
            ctx.spawn(
                async move {
                    if let Err(e) = db
                        .run(move |c| deliveries::release_deliveries(c, &over_limit))
                        .await
                    {
                        log::warn!("webhook.release_failed error={e}: the leases run out instead");
                    }
                }
                .into_actor(self),
            );
        }
    }

    fn send(&mut self, delivery: Delivery, ctx: &mut Context<Self>) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let in_flight = InFlight::new(&self.gate, &delivery.url);
        let settings = self.settings.clone();
        let owner = delivery.lease_owner.clone().unwrap_or_default();
        let attempt = delivery.attempts + 1;
        let work = async move {
            let started = Instant::now();
            let (result, answer) = post(
                &client,
                &delivery.url,
                &delivery.make_send_public_id,
                &delivery.payload_json,
                &settings,
            )
            .await;
            let verdict = verdict(&result, attempt as u32);
            let record = AttemptRecord {
                delivery_id: delivery.id,
                lease_owner: owner,
                attempt,
                status_code: match result {
                    AttemptResult::Status(code) => Some(i32::from(code)),
                    _ => None,
                },
                duration_ms: started.elapsed().as_millis() as i64,
                error: (verdict != Verdict::Delivered)
                    .then(|| describe_with_body(&result, &answer)),
                verdict,
            };
            Unrecorded {
                record,
                _slot: in_flight,
                give_up_at: Instant::now() + RECORDING_RETRIES_FOR,
            }
        };
        ctx.spawn(work.into_actor(self).map(|finished, act, ctx| {
            act.metrics.delivery_attempts.inc();
            act.unrecorded.push(finished);
            act.flush(ctx);
        }));
    }

    /// Attempts that finished while a commit was in flight are recorded together by the next.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.recording || self.unrecorded.is_empty() {
            return;
        }
        self.recording = true;
        let pending = std::mem::take(&mut self.unrecorded);
        let batch: Vec<AttemptRecord> = pending.iter().map(|u| u.record.clone()).collect();
        let (db, settings) = (self.db.clone(), self.settings.clone());
        let work = async move {
            let count = batch.len();
            db.run(move |c| {
                Ok(deliveries::record_attempts(
                    c,
                    &batch,
                    &settings.dead_letters,
                ))
            })
            .await
            .unwrap_or_else(|e| vec![Err(e.to_string()); count])
        };
        ctx.spawn(work.into_actor(self).map(move |outcomes, act, ctx| {
            act.recording = false;
            let mut retry_later = false;
            for (unrecorded, outcome) in pending.into_iter().zip(outcomes) {
                // A delivered attempt that is not recorded would be sent again: keep trying.
                if outcome.is_err() && Instant::now() < unrecorded.give_up_at {
                    act.unrecorded.push(unrecorded);
                    retry_later = true;
                    continue;
                }
                act.after_recording(&unrecorded.record, outcome, ctx);
            }
            if retry_later {
                ctx.run_later(Duration::from_secs(1), |act, ctx| act.flush(ctx));
            } else {
                act.flush(ctx);
            }
            act.pump(ctx);
        }));
    }

    fn after_recording(
        &mut self,
        record: &AttemptRecord,
        outcome: Result<Recorded, String>,
        ctx: &mut Context<Self>,
    ) {
        let label_value = match &outcome {
            Ok(Recorded::Delivered) => "delivered",
            Ok(Recorded::Retrying) => "retrying",
            Ok(Recorded::DeadLettered) => "dead",
            Ok(Recorded::NotOurs) => "lease_lost",
            Err(_) => "unrecorded",
        };
        self.metrics
            .deliveries
            .get_or_create(&label("outcome", label_value))
            .inc();
        match outcome {
            Ok(Recorded::DeadLettered) => {
                self.stats.record_processed(1);
                log::warn!(
                    "webhook.dead_lettered delivery_id={} attempts={} error={}",
                    record.delivery_id,
                    record.attempt,
                    record.error.as_deref().unwrap_or_default()
                );
            }
            Ok(Recorded::Delivered) => {
                self.stats.record_processed(1);
                log::info!(
                    "webhook.delivered delivery_id={} attempt={} status={} ms={}",
                    record.delivery_id,
                    record.attempt,
                    record.status_code.unwrap_or_default(),
                    record.duration_ms
                );
            }
            Ok(Recorded::Retrying) => {
                self.stats.record_processed(1);
                log::warn!(
                    "webhook.retrying delivery_id={} attempt={} error={}",
                    record.delivery_id,
                    record.attempt,
                    record.error.as_deref().unwrap_or_default()
                );
            }
            Ok(_) => self.stats.record_processed(1),
            // Unrecorded: the lease runs out and the row is sent again (same webhook-id).
            Err(e) => self.stats.record_error(&e),
        }
        // Be back on time for the retry rather than on the next poll.
        if let Verdict::Retry(delay) = record.verdict {
            ctx.run_later(delay, |act, ctx| act.pump(ctx));
        }
    }

    /// Dead letters due on the re-drive schedule go back to the outbox for one more attempt.
    fn redrive(&mut self, ctx: &mut Context<Self>) {
        if self.gate.draining.load(Ordering::SeqCst) {
            return;
        }
        let db = self.db.clone();
        ctx.spawn(
            async move { db.run(|c| deliveries::redrive_due(c, 256)).await }
                .into_actor(self)
                .map(|redriven, act, ctx| match redriven {
                    Ok(0) => {}
                    Ok(n) => {
                        log::info!("webhook.redriving dead_letters={n}");
                        act.pump(ctx);
                    }
                    Err(e) => log::warn!("webhook.redrive_failed error={e}"),
                }),
        );
    }

    fn purge(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        ctx.spawn(
            async move {
                match db.run(deliveries::purge_expired_dead_letters).await {
                    Ok(n) if n > 0 => log::info!("webhook.dead_letters_purged count={n}"),
                    Ok(_) => {}
                    Err(e) => log::warn!("webhook.purge_failed error={e}"),
                }
            }
            .into_actor(self),
        );
    }
}

/// One attempt: the stored payload, byte for byte, with the Standard Webhooks headers. The whole
/// attempt (connect, send, answer, reading its body) ends by one deadline, well inside its lease;
/// once the status is in, it counts, even if the body is slow.
async fn post(
    client: &awc::Client,
    url: &str,
    webhook_id: &str,
    body: &str,
    settings: &DeliverySettings,
) -> (AttemptResult, String) {
    // Checked again at every attempt: a URL stored before the checks existed is not followed.
    if let Some(why) = outbound::forbidden_destination(url) {
        return (AttemptResult::Refused(why), String::new());
    }
    let deadline = tokio::time::Instant::now() + settings.timeout;
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = client
        .post(url)
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("webhook-id", webhook_id))
        .insert_header(("webhook-timestamp", timestamp.to_string()));
    if let Some(key) = &settings.signing_key {
        let signature = sign(key, webhook_id, timestamp, body.as_bytes());
        request = request.insert_header(("webhook-signature", signature));
    }
    match tokio::time::timeout_at(deadline, request.send_body(body.to_string())).await {
        Err(_) | Ok(Err(awc::error::SendRequestError::Timeout)) => {
            (AttemptResult::Timeout, String::new())
        }
        Ok(Err(e)) => (AttemptResult::Network(e.to_string()), String::new()),
        Ok(Ok(response)) => {
            let status = response.status().as_u16();
            // The answer's start explains a failure; the rest is read (up to a point) so the
            // connection can be reused, and thrown away.
            let answer = tokio::time::timeout_at(deadline, read_start(response)).await;
            (AttemptResult::Status(status), answer.unwrap_or_default())
        }
    }
}

/// The start of an answer of any size: at most `MAX_RESPONSE_BYTES` are read.
async fn read_start<S>(mut response: awc::ClientResponse<S>) -> String
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
{
    use futures_util::StreamExt;
    let (mut start, mut read) = (Vec::new(), 0usize);
    while let Some(Ok(chunk)) = response.next().await {
        read += chunk.len();
        if start.len() < 4096 {
            start.extend_from_slice(&chunk[..chunk.len().min(4096 - start.len())]);
        }
        if read >= MAX_RESPONSE_BYTES {
            break;
        }
    }
    body_start(&start)
}
