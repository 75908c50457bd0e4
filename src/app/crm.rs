//! The CRM actions' runners: the ContactCreator, the Assigner and, when a channel (Twilio, SMTP,
//! FCM) is configured, the Notifier — each a job kind with its own gate, woken by the Intake when
//! a batch wrote their jobs.

use super::start::webhook_settings;
use super::start_runner;
use super::supervision::{alive, Liveness};
use crate::actors::db_executor::Db;
use crate::actors::health::Registry;
use crate::config::Config;
use crate::jobs::assignment::Assigner;
use crate::jobs::crm_contact::ContactCreator;
use crate::jobs::notify::{Notifier, Senders};
use crate::jobs::runner::{JobRunner, JobsQueued, RunnerGate};
use crate::jobs::{JobKind, KindSettings};
use crate::notify::email::Mailer;
use crate::notify::push::Fcm;
use crate::notify::sms::TwilioAccount;
use crate::notify::Channels;
use actix::{Addr, Recipient};
use std::sync::Arc;
use std::time::Duration;

pub(super) struct CrmActors {
    contacts: Addr<JobRunner<ContactCreator>>,
    assigner: Addr<JobRunner<Assigner>>,
    notifier: Addr<JobRunner<Notifier>>,
    pub gates: Vec<Arc<RunnerGate>>,
}

impl CrmActors {
    /// The runners the Intake wakes (the Notifier's jobs come from the Assigner, not a batch).
    pub fn runners(&self) -> Vec<Recipient<JobsQueued>> {
        vec![
            self.contacts.clone().recipient(),
            self.assigner.clone().recipient(),
        ]
    }

    pub fn liveness(&self) -> Vec<(&'static str, Liveness)> {
        vec![
            (ContactCreator::ACTOR, alive(&self.contacts)),
            (Assigner::ACTOR, alive(&self.assigner)),
            (Notifier::ACTOR, alive(&self.notifier)),
        ]
    }
}

/// Whether the notification channels' settings are usable (the SMTP URL and sender parsed, the
/// FCM service account read), before the runtime starts; `Err((setting, problem))` names what is
/// wrong.
pub fn check_notification_settings(config: &Config) -> Result<(), (&'static str, String)> {
    if let Some(url) = &config.smtp_url {
        Mailer::check(url, smtp_from(config))?;
    }
    fcm(config).transpose().map(|_| ())
}

fn smtp_from(config: &Config) -> &str {
    config.smtp_from.as_deref().unwrap_or("leadgate@localhost")
}

/// The notification channels the configuration turns on (in the runtime: SMTP starts a pool).
/// Checked when the configuration was loaded; one that fails now (a file changed since) is off,
/// and says so, while the others run.
fn notification_senders(config: &Config) -> Senders {
    let mailer = config.smtp_url.as_ref().map(|url| {
        Mailer::new(url, smtp_from(config), SMTP_COMMAND_TIMEOUT).map_err(|e| ("SMTP_URL", e))
    });
    let twilio = match (&config.twilio_account_sid, &config.twilio_auth_token) {
        (Some(sid), Some(token)) if config.twilio_from.is_some() => Some(TwilioAccount {
            base_url: config
                .twilio_url
                .clone()
                .unwrap_or_else(|| "https://api.twilio.com".into()),
            account_sid: sid.clone(),
            auth_token: token.clone(),
        }),
        _ => None,
    };
    Senders {
        twilio,
        mailer: switched_on(mailer),
        fcm: switched_on(fcm(config)),
    }
}

/// The sender, or `None` (logged) when its settings no longer work.
fn switched_on<T>(channel: Option<Result<T, (&str, String)>>) -> Option<T> {
    match channel? {
        Ok(sender) => Some(sender),
        Err((key, problem)) => {
            log::error!("notify.off {key}: {problem}");
            None
        }
    }
}

fn fcm(config: &Config) -> Option<Result<Fcm, (&'static str, String)>> {
    let (project, path) = (
        config.fcm_project_id.as_ref()?,
        config.fcm_credentials.as_ref()?,
    );
    let fcm = Fcm::new(
        project,
        path,
        config.fcm_url.as_deref(),
        config.fcm_token_url.as_deref(),
    );
    Some(fcm.map_err(|e| ("FCM_CREDENTIALS", e)))
}

const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Per SMTP command (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA): a slow server is given up on
/// within the attempt's timeout, which ends the whole conversation.
const SMTP_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn start_crm(config: &Config, db: &Db, registry: &mut Registry) -> CrmActors {
    let settings = crm_job_settings(config);
    let gates: Vec<Arc<RunnerGate>> = (0..3).map(|_| Arc::default()).collect();
    let contacts = ContactCreator {
        settings: settings.clone(),
        db: db.clone(),
    };
    let stats = registry.register(ContactCreator::ACTOR);
    let contacts = start_runner(db, contacts, stats, &gates[0]).await;
    let senders = notification_senders(config);
    let channels = Channels {
        twilio_from: senders.twilio.as_ref().and(config.twilio_from.clone()),
        smtp_from: senders.mailer.as_ref().map(|m| m.default_from.clone()),
        push: senders.fcm.is_some(),
    };
    // Always running: a message of a channel turned off since it was written fails and says so.
    // Messages to different people and providers: several at once.
    let notifier_settings = KindSettings {
        max_in_flight_per_destination: 4,
        ..settings.clone()
    };
    let notifier = Notifier::new(notifier_settings, db.clone(), senders);
    let stats = registry.register(Notifier::ACTOR);
    let notifier = start_runner(db, notifier, stats, &gates[2]).await;
    let assigner = Assigner {
        settings: settings.clone(),
        db: db.clone(),
        channels: channels.clone(),
        notifier: notifier.clone().recipient(),
    };
    let stats = registry.register(Assigner::ACTOR);
    let assigner = start_runner(db, assigner, stats, &gates[1]).await;
    CrmActors {
        contacts,
        assigner,
        notifier,
        gates,
    }
}

/// The CRM actions' schedule: 1 s, 5 s, 30 s, then dead letters re-driven like the webhook's.
fn crm_job_settings(config: &Config) -> KindSettings {
    KindSettings {
        retry_delays: crate::jobs::crm_contact::RETRY_DELAYS.to_vec(),
        attempt_timeout: ATTEMPT_TIMEOUT,
        dead_letters: webhook_settings(config).dead_letters,
        // One account's contacts are decided one at a time anyway (its lock).
        max_in_flight: 4,
        max_in_flight_per_destination: 1,
        // Woken by the Intake when a batch wrote their jobs; the look finds retries come due.
        poll_interval: Duration::from_secs(2),
    }
}
