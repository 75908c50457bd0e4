//! The CRM actions' runners: the ContactCreator, the Assigner and, when Twilio is configured, the
//! Notifier's SMS — each a job kind with its own gate, woken by the Intake when a batch wrote
//! their jobs.

use super::start::webhook_settings;
use super::start_runner;
use super::supervision::{alive, Liveness};
use crate::actors::db_executor::Db;
use crate::actors::health::Registry;
use crate::config::Config;
use crate::jobs::assignment::Assigner;
use crate::jobs::crm_contact::ContactCreator;
use crate::jobs::notify_sms::{SmsNotifier, TwilioAccount};
use crate::jobs::runner::{JobRunner, JobsQueued, RunnerGate};
use crate::jobs::{JobKind, KindSettings};
use actix::{Addr, Recipient};
use std::sync::Arc;
use std::time::Duration;

pub(super) struct CrmActors {
    contacts: Addr<JobRunner<ContactCreator>>,
    assigner: Addr<JobRunner<Assigner>>,
    notifier: Option<Addr<JobRunner<SmsNotifier>>>,
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
        let mut alive_ones = vec![
            (ContactCreator::ACTOR, alive(&self.contacts)),
            (Assigner::ACTOR, alive(&self.assigner)),
        ];
        alive_ones.extend(
            self.notifier
                .as_ref()
                .map(|n| (SmsNotifier::ACTOR, alive(n))),
        );
        alive_ones
    }
}

/// Twilio's account, when `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN` and `TWILIO_FROM` are set.
fn twilio_account(config: &Config) -> Option<(TwilioAccount, String)> {
    let account = TwilioAccount {
        base_url: config
            .twilio_url
            .clone()
            .unwrap_or_else(|| "https://api.twilio.com".into()),
        account_sid: config.twilio_account_sid.clone()?,
        auth_token: config.twilio_auth_token.clone()?,
    };
    Some((account, config.twilio_from.clone()?))
}

pub(super) async fn start_crm(config: &Config, db: &Db, registry: &mut Registry) -> CrmActors {
    let settings = crm_job_settings(config);
    let gates: Vec<Arc<RunnerGate>> = (0..3).map(|_| Arc::default()).collect();
    let contacts = ContactCreator {
        settings: settings.clone(),
        db: db.clone(),
    };
    let stats = registry.register(ContactCreator::ACTOR);
    let contacts = start_runner(db, contacts, stats, &gates[0]).await;
    let twilio = twilio_account(config);
    let assigner = Assigner {
        settings: settings.clone(),
        db: db.clone(),
        twilio_from: twilio.as_ref().map(|(_, from)| from.clone()),
    };
    let stats = registry.register(Assigner::ACTOR);
    let assigner = start_runner(db, assigner, stats, &gates[1]).await;
    let notifier = match twilio {
        Some((account, _)) => {
            // Messages to different people: several at once.
            let settings = KindSettings {
                max_in_flight_per_destination: 4,
                ..settings
            };
            let notifier = SmsNotifier::new(settings, db.clone(), account);
            let stats = registry.register(SmsNotifier::ACTOR);
            Some(start_runner(db, notifier, stats, &gates[2]).await)
        }
        None => None,
    };
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
        attempt_timeout: Duration::from_secs(30),
        dead_letters: webhook_settings(config).dead_letters,
        // One account's contacts are decided one at a time anyway (its lock).
        max_in_flight: 4,
        max_in_flight_per_destination: 1,
        // Woken by the Intake when a batch wrote their jobs; the look finds retries come due.
        poll_interval: Duration::from_secs(2),
    }
}
