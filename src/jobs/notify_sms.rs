//! The SMS to a lead's representative, through Twilio's REST API: one job per message, so a
//! failed SMS is retried alone. Run by the Notifier.
//!
//! Failure policy: network errors, timeouts, 5xx and 429 are retried (1 s, 5 s, 30 s), then a
//! dead letter an operator can replay; other 4xx (a bad number, bad credentials) are a dead letter
//! at once. Every failure is at once an `SmsSendError` entry in the lead's `errors`; the lead is
//! never rolled back. At least once: a crash after Twilio took the message sends it again.

use super::assignment::note_error;
use super::http_attempt::{describe, is_retryable, AttemptResult};
use super::{Attempted, JobKind, KindSettings};
use crate::actors::db_executor::Db;
use crate::store::models::{Job, NewJob};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};

pub const NAME: &str = "notify_sms";

/// One message: the job's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsMessage {
    pub lead_id: i64,
    pub to: String,
    pub from: String,
    pub body: String,
}

pub fn sms_job(message: &SmsMessage, lead_public_id: &str) -> NewJob {
    let payload = serde_json::to_string(message).unwrap_or_else(|_| "{}".into());
    NewJob {
        lead_id: Some(message.lead_id),
        lead_public_id: Some(lead_public_id.to_string()),
        ..NewJob::pending(
            NAME,
            format!("sms:{lead_public_id}"),
            "twilio".into(),
            payload,
        )
    }
}

/// Twilio's account and where its API is (`TWILIO_URL`, for tests).
#[derive(Debug, Clone)]
pub struct TwilioAccount {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
}

impl TwilioAccount {
    /// `{TWILIO_URL}/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json`.
    pub fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url.trim_end_matches('/'),
            self.account_sid
        )
    }
}

pub struct SmsNotifier {
    pub settings: KindSettings,
    pub db: Db,
    pub twilio: TwilioAccount,
    pub tls: crate::outbound::TlsConfig,
    client: Option<awc::Client>,
}

impl SmsNotifier {
    pub fn new(settings: KindSettings, db: Db, twilio: TwilioAccount) -> SmsNotifier {
        SmsNotifier {
            settings,
            db,
            twilio,
            tls: crate::outbound::tls_config(),
            client: None,
        }
    }
}

impl JobKind for SmsNotifier {
    const NAME: &'static str = NAME;
    const ACTOR: &'static str = "Notifier";
    const EVENTS: &'static str = "notify";

    fn settings(&self) -> &KindSettings {
        &self.settings
    }

    fn started(&mut self) {
        self.client = Some(crate::outbound::client(
            &self.tls,
            self.settings.attempt_timeout,
        ));
    }

    fn attempt(&self, job: &Job) -> LocalBoxFuture<'static, Attempted> {
        let message: Result<SmsMessage, _> = serde_json::from_str(&job.payload_json);
        let (db, client, twilio) = (self.db.clone(), self.client.clone(), self.twilio.clone());
        Box::pin(async move {
            let Ok(message) = message else {
                return Attempted::failure(false, "an unreadable SMS job".into());
            };
            let Some(client) = client else {
                return Attempted::failure(true, "no client yet".into());
            };
            let result = send(&client, &twilio, &message).await;
            if matches!(result, AttemptResult::Status(200..=299)) {
                log::info!("notify.sms_sent lead={}", message.lead_id);
                return Attempted::success();
            }
            let error = format!("Twilio: {}", describe(&result));
            note_error(&db, message.lead_id, "SmsSendError", &error).await;
            Attempted {
                status_code: match result {
                    AttemptResult::Status(code) => Some(i32::from(code)),
                    _ => None,
                },
                ..Attempted::failure(is_retryable(&result), error)
            }
        })
    }
}

/// One `POST` of the message (basic auth, form fields `To`, `From`, `Body`).
async fn send(client: &awc::Client, twilio: &TwilioAccount, message: &SmsMessage) -> AttemptResult {
    let form = [
        ("To", message.to.as_str()),
        ("From", message.from.as_str()),
        ("Body", message.body.as_str()),
    ];
    let sent = client
        .post(twilio.messages_url())
        .basic_auth(&twilio.account_sid, &twilio.auth_token)
        .send_form(&form)
        .await;
    match sent {
        Ok(mut response) => {
            // Read (and drop) the answer, so the connection can be reused.
            let _ = response.body().limit(64 * 1024).await;
            AttemptResult::Status(response.status().as_u16())
        }
        Err(awc::error::SendRequestError::Timeout) => AttemptResult::Timeout,
        Err(e) => AttemptResult::Network(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_go_to_the_accounts_messages_resource() {
        let twilio = TwilioAccount {
            base_url: "https://api.twilio.com/".into(),
            account_sid: "AC123".into(),
            auth_token: "t".into(),
        };
        assert_eq!(
            twilio.messages_url(),
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
        );
    }
}
