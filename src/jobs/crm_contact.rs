//! The CRM contact of a stored lead, and its deal: one job per submission of a campaign that adds
//! contacts or creates deals. Run by the ContactCreator.
//!
//! Failure policy: everything is one transaction on our own database, so a failure is the
//! database's: recorded at once in the lead's `errors` (`contactCreation`, or `dealCreateError`
//! when a deal was asked for) and retried (1 s, 5 s, 30 s), then a dead letter an operator can
//! replay. The lead is never rolled back. A retried job finds its contact by its keys and its
//! deal by the lead, so it makes neither twice.

use super::{Attempted, JobKind, KindSettings};
use crate::actors::db_executor::Db;
use crate::crm::ContactRequest;
use crate::store::contacts::{add_lead_error, write_contact};
use crate::store::models::{Job, NewJob};
use futures_util::future::LocalBoxFuture;
use std::time::Duration;

pub const NAME: &str = "crm_contact";

pub const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
];

/// The job of one submission's contact (written with the submission).
pub fn contact_job(request: &ContactRequest, submission: (i64, &str)) -> NewJob {
    let payload = serde_json::to_string(request).unwrap_or_else(|_| "{}".into());
    let (id, destination) = (
        format!("contact:{}", submission.1),
        format!("contacts:{}", request.account_id),
    );
    NewJob {
        lead_id: Some(request.lead_id),
        lead_submission_id: Some(submission.0),
        lead_public_id: Some(request.lead_public_id.clone()),
        ..NewJob::pending(NAME, id, destination, payload)
    }
}

pub struct ContactCreator {
    pub settings: KindSettings,
    pub db: Db,
}

impl JobKind for ContactCreator {
    const NAME: &'static str = NAME;
    const ACTOR: &'static str = "ContactCreator";
    const EVENTS: &'static str = "contact";

    fn settings(&self) -> &KindSettings {
        &self.settings
    }

    fn attempt(&self, job: &Job) -> LocalBoxFuture<'static, Attempted> {
        let request: Result<ContactRequest, _> = serde_json::from_str(&job.payload_json);
        let db = self.db.clone();
        Box::pin(async move {
            let Ok(request) = request else {
                return Attempted::failure(false, "an unreadable contact job".into());
            };
            let written = {
                let request = request.clone();
                db.run(move |c| write_contact(c, &request)).await
            };
            match written {
                Ok(written) => {
                    log::info!(
                        "contact.written lead={} contact={} created={} deal_created={}",
                        request.lead_public_id,
                        written.contact_id,
                        written.created,
                        written.deal_created
                    );
                    Attempted::success()
                }
                Err(e) => {
                    let error_type = match request.deal {
                        Some(_) => "dealCreateError",
                        None => "contactCreation",
                    };
                    let details = e.to_string();
                    let lead = request.lead_id;
                    let noted = db
                        .run(move |c| add_lead_error(c, lead, error_type, &details))
                        .await;
                    if let Err(e) = noted {
                        log::warn!("contact.error_unrecorded lead={lead} error={e}");
                    }
                    Attempted::failure(true, e.to_string())
                }
            }
        })
    }
}
