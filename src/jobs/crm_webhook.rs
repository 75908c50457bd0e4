//! The CRM webhook (Make.com or any URL): one job per send, the stored payload posted byte for
//! byte with the Standard Webhooks headers. Run by the WebhookDeliverer.
//!
//! Failure policy: network errors, timeouts, 5xx, 408 and 429 are retried on the kind's schedule
//! (`WEBHOOK_RETRY_SCHEDULE`, 1 s, 2 s, 4 s by default); other 4xx, 3xx (redirects are not
//! followed) and a refused destination end at once in a dead letter. Every attempt carries the
//! same `webhook-id` (the job's `public_id`, the payload's `make_send_public_id`), which is what
//! a receiver deduplicates on. While the database is down, a lead is sent from memory instead
//! (`DeliverNow`): whether that got through is remembered for the spool drain.

use super::runner::{InFlight, JobRunner};
use super::{Attempted, JobKind, KindSettings, Recorded, RecordedAttempt, Verdict};
use crate::jobs::http_attempt::{
    body_start, describe, describe_with_body, is_retryable, AttemptResult,
};
use crate::jobs::signing::sign;
use crate::metrics::{label, Metrics};
use crate::outbound;
use crate::sources::submission::PreForwarded;
use crate::store::jobs::PENDING;
use crate::store::models::{Job, NewJob};
use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most of a receiver's answer that is read (and thrown away).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

pub struct CrmWebhook {
    pub settings: KindSettings,
    pub signing_key: Option<Vec<u8>>,
    pub tls: outbound::TlsConfig,
    pub metrics: Arc<Metrics>,
    pub offline: Arc<OfflineSends>,
    client: Option<awc::Client>,
}

impl CrmWebhook {
    pub fn new(
        settings: KindSettings,
        signing_key: Option<Vec<u8>>,
        tls: outbound::TlsConfig,
        metrics: Arc<Metrics>,
        offline: Arc<OfflineSends>,
    ) -> Self {
        CrmWebhook {
            settings,
            signing_key,
            tls,
            metrics,
            offline,
            client: None,
        }
    }

    /// The longest a send from memory can take: every attempt timing out, plus the waits.
    pub fn offline_send_bound(settings: &KindSettings) -> Duration {
        let attempts = settings.retry_delays.len() as u32 + 1;
        settings.attempt_timeout * attempts
            + settings.retry_delays.iter().sum::<Duration>()
            + Duration::from_secs(10)
    }

    fn send(
        &self,
        url: &str,
        webhook_id: &str,
        body: &str,
    ) -> LocalBoxFuture<'static, (AttemptResult, String)> {
        let Some(client) = self.client.clone() else {
            return Box::pin(async {
                (
                    AttemptResult::Network("no client yet".into()),
                    String::new(),
                )
            });
        };
        let (url, webhook_id, body) = (url.to_string(), webhook_id.to_string(), body.to_string());
        let (key, timeout) = (self.signing_key.clone(), self.settings.attempt_timeout);
        Box::pin(
            async move { post(&client, &url, &webhook_id, &body, key.as_deref(), timeout).await },
        )
    }
}

impl JobKind for CrmWebhook {
    const NAME: &'static str = "crm_webhook";
    const ACTOR: &'static str = "WebhookDeliverer";
    const EVENTS: &'static str = "webhook";

    fn settings(&self) -> &KindSettings {
        &self.settings
    }

    fn started(&mut self) {
        self.client = Some(outbound::client(&self.tls, self.settings.attempt_timeout));
    }

    fn attempt(&self, job: &Job) -> LocalBoxFuture<'static, Attempted> {
        let url = job.destination.clone().unwrap_or_default();
        let sending = self.send(&url, &job.public_id, &job.payload_json);
        Box::pin(async move {
            let (result, answer) = sending.await;
            let succeeded = matches!(result, AttemptResult::Status(200..=299));
            Attempted {
                succeeded,
                retryable: is_retryable(&result),
                status_code: result.status(),
                error: (!succeeded).then(|| describe_with_body(&result, &answer)),
                follow_ups: Vec::new(),
            }
        })
    }

    fn recorded(&self, record: &RecordedAttempt, outcome: &Result<Recorded, String>) {
        self.metrics.delivery_attempts.inc();
        let label_value = match outcome {
            Ok(Recorded::Done) => "delivered",
            Ok(Recorded::Retrying) => "retrying",
            Ok(Recorded::DeadLettered) => "dead",
            Ok(Recorded::NotOurs) => "lease_lost",
            Err(_) => "unrecorded",
        };
        self.metrics
            .deliveries
            .get_or_create(&label("outcome", label_value))
            .inc();
        let error = record.error.as_deref().unwrap_or_default();
        match outcome {
            Ok(Recorded::DeadLettered) => log::warn!(
                "webhook.dead_lettered delivery_id={} attempts={} error={error}",
                record.job_id,
                record.attempt
            ),
            Ok(Recorded::Done) => log::info!(
                "webhook.delivered delivery_id={} attempt={} status={} ms={}",
                record.job_id,
                record.attempt,
                record.status_code.unwrap_or_default(),
                record.duration_ms
            ),
            Ok(Recorded::Retrying) => log::warn!(
                "webhook.retrying delivery_id={} attempt={} error={error}",
                record.job_id,
                record.attempt
            ),
            _ => {}
        }
    }
}

/// The job that sends one payload: `make_send_public_id` is its `webhook-id`.
pub fn send_job(
    make_send_public_id: &str,
    url: &str,
    payload_json: &str,
    lead: (i64, i64, &str),
    already_delivered: bool,
) -> NewJob {
    let (lead_id, lead_submission_id, lead_public_id) = lead;
    let t = crate::store::now();
    NewJob {
        kind: CrmWebhook::NAME.to_string(),
        public_id: make_send_public_id.to_string(),
        lead_id: Some(lead_id),
        lead_submission_id: Some(lead_submission_id),
        lead_public_id: Some(lead_public_id.to_string()),
        destination: Some(url.to_string()),
        payload_json: payload_json.to_string(),
        status: if already_delivered {
            crate::store::jobs::DONE
        } else {
            PENDING
        }
        .to_string(),
        attempts: i32::from(already_delivered),
        next_attempt_at: t,
        result_json: "{}".into(),
        created_at: t,
        updated_at: t,
    }
}

/// The sends made while the database was down: which are still being attempted (the spool drain
/// waits for them, so that the stored row knows whether it got through) and which got through.
#[derive(Debug, Default)]
pub struct OfflineSends {
    delivered: Mutex<HashSet<String>>,
    /// make_send_public_id → when the mark lapses, should the send never have started.
    sending: Mutex<HashMap<String, Instant>>,
}

impl OfflineSends {
    pub fn sending(&self, make_send_public_id: &str) -> bool {
        self.sending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(make_send_public_id)
            .is_some_and(|lapses| Instant::now() < *lapses)
    }

    /// Marks a send as under way before its record reaches the spool, so that no drain can store
    /// the record as unsent meanwhile. The mark lapses by itself after `for_at_most`.
    pub fn begin(&self, make_send_public_id: &str, for_at_most: Duration) {
        let mut marks = self.sending.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        marks.retain(|_, lapses| *lapses > now);
        marks.insert(make_send_public_id.to_string(), now + for_at_most);
    }

    pub fn end(&self, make_send_public_id: &str) {
        self.sending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(make_send_public_id);
    }

    pub fn delivered(&self, make_send_public_id: &str) -> bool {
        self.delivered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(make_send_public_id)
    }

    fn mark_delivered(&self, make_send_public_id: &str) {
        self.delivered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(make_send_public_id.to_string());
    }

    /// Called once a drained record has been stored: its outcome is now in the database.
    pub fn forget(&self, make_send_public_id: &str) {
        self.delivered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(make_send_public_id);
    }
}

/// Clears the "still sending" mark however the send ends (also if its task is dropped).
struct SendingMark(Arc<OfflineSends>, String);

impl Drop for SendingMark {
    fn drop(&mut self) {
        self.0.end(&self.1);
    }
}

/// Forward now a lead the database could not take (it is in the spool). Attempts follow the same
/// policy, in memory; whether one got through is remembered for when the spool is drained, and
/// if the process stops first, the drained row is sent again with the same `webhook-id`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverNow(pub PreForwarded);

impl Handler<DeliverNow> for JobRunner<CrmWebhook> {
    type Result = ();

    fn handle(&mut self, msg: DeliverNow, ctx: &mut Self::Context) {
        let pre = msg.0;
        let (offline, gate) = (self.kind.offline.clone(), self.gate.clone());
        let bound = CrmWebhook::offline_send_bound(&self.kind.settings);
        let delays = self.kind.settings.retry_delays.clone();
        let metrics = self.kind.metrics.clone();
        let attempts: Vec<_> = (0..=delays.len())
            .map(|_| {
                self.kind
                    .send(&pre.url, &pre.make_send_public_id, &pre.payload_json)
            })
            .collect();
        let work = async move {
            let _mark = SendingMark(offline.clone(), pre.make_send_public_id.clone());
            for (attempt, sending) in (1u32..).zip(attempts) {
                // Renewed as each attempt starts: the drain waits however long it queued.
                offline.begin(&pre.make_send_public_id, bound);
                let slot = InFlight::new(&gate, Some(&pre.url));
                let (result, _) = sending.await;
                drop(slot);
                metrics.delivery_attempts.inc();
                let succeeded = matches!(result, AttemptResult::Status(200..=299));
                match super::verdict(succeeded, is_retryable(&result), attempt, &delays) {
                    Verdict::Done => {
                        offline.mark_delivered(&pre.make_send_public_id);
                        log::info!(
                            "webhook.delivered_while_database_down make_send_public_id={}",
                            pre.make_send_public_id
                        );
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
        };
        ctx.spawn(work.into_actor(self));
    }
}

/// One attempt: the stored payload, byte for byte, with the Standard Webhooks headers. The whole
/// attempt (connect, send, answer, reading its start) ends by one deadline; once the status is
/// in, it counts, even if the body is slow.
async fn post(
    client: &awc::Client,
    url: &str,
    webhook_id: &str,
    body: &str,
    signing_key: Option<&[u8]>,
    timeout: Duration,
) -> (AttemptResult, String) {
    // Checked again at every attempt: a URL stored before the checks existed is not followed.
    if let Some(why) = outbound::forbidden_destination(url) {
        return (AttemptResult::Refused(why), String::new());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = client
        .post(url)
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("webhook-id", webhook_id))
        .insert_header(("webhook-timestamp", timestamp.to_string()));
    if let Some(key) = signing_key {
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
