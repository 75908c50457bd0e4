//! The representative's notifications: one job per message (SMS, email, push), so a failed SMS
//! is retried alone and never sends the email again. Run by the Notifier; the messages are
//! written by the Assigner with the assignment (`notify::assignment_messages`), the channels'
//! senders are in `notify/`.
//!
//! Failure policy: what each channel's sender says is retryable is retried (1 s, 5 s, 30 s), then
//! a dead letter an operator can replay; the rest is a dead letter at once. Every failure is at
//! once an entry in the lead's `errors` (`SmsSendError`, `emailSendError`, `pushSendError`); the
//! lead is never rolled back. At least once: a crash after the provider took a message sends it
//! again.

use super::assignment::note_error;
use super::{Attempted, JobKind, KindSettings};
use crate::actors::db_executor::Db;
use crate::notify::email::Mailer;
use crate::notify::push::Fcm;
use crate::notify::sms::TwilioAccount;
use crate::notify::{Failure, Message, JOB_KIND};
use crate::store::models::Job;
use futures_util::future::LocalBoxFuture;

/// The configured channels; a message for one that is not (configuration changed since it was
/// written) is a final failure that says so.
#[derive(Clone, Default)]
pub struct Senders {
    pub twilio: Option<TwilioAccount>,
    pub mailer: Option<Mailer>,
    pub fcm: Option<Fcm>,
}

pub struct Notifier {
    pub settings: KindSettings,
    pub db: Db,
    pub senders: Senders,
    tls: crate::outbound::TlsConfig,
    client: Option<awc::Client>,
}

impl Notifier {
    pub fn new(settings: KindSettings, db: Db, senders: Senders) -> Notifier {
        Notifier {
            settings,
            db,
            senders,
            tls: crate::outbound::tls_config(),
            client: None,
        }
    }
}

impl JobKind for Notifier {
    const NAME: &'static str = JOB_KIND;
    const ACTOR: &'static str = "Notifier";
    const EVENTS: &'static str = "notify";

    fn settings(&self) -> &KindSettings {
        &self.settings
    }

    fn started(&mut self) {
        // An attempt may make two calls (FCM's token, then the message): each gets a third.
        self.client = Some(crate::outbound::client(
            &self.tls,
            self.settings.attempt_timeout / 3,
        ));
    }

    fn attempt(&self, job: &Job) -> LocalBoxFuture<'static, Attempted> {
        let message: Result<Message, _> = serde_json::from_str(&job.payload_json);
        let (db, client, senders) = (self.db.clone(), self.client.clone(), self.senders.clone());
        Box::pin(async move {
            let message = match message {
                Ok(message) => message,
                Err(e) => return Attempted::failure(false, format!("an unreadable message: {e}")),
            };
            let Some(client) = client else {
                return Attempted::failure(true, "no client yet".into());
            };
            let Err(failure) = send(&senders, &client, &message).await else {
                log::info!(
                    "notify.sent channel={} lead={}",
                    message.channel(),
                    message.lead_id()
                );
                return Attempted::success();
            };
            let error_type = message.error_type();
            note_error(&db, message.lead_id(), error_type, &failure.error).await;
            Attempted {
                status_code: failure.status,
                ..Attempted::failure(failure.retryable, failure.error)
            }
        })
    }
}

async fn send(senders: &Senders, client: &awc::Client, message: &Message) -> Result<(), Failure> {
    let off = |what: &str| Failure {
        retryable: false,
        status: None,
        error: format!("{what} is not configured on this instance"),
    };
    match message {
        Message::Sms(sms) => match &senders.twilio {
            Some(twilio) => crate::notify::sms::send(client, twilio, sms).await,
            None => Err(off("Twilio")),
        },
        Message::Email(email) => match &senders.mailer {
            Some(mailer) => mailer.send(email).await,
            None => Err(off("SMTP")),
        },
        Message::Push(push) => match &senders.fcm {
            Some(fcm) => fcm.send(client, push).await,
            None => Err(off("FCM")),
        },
    }
}
