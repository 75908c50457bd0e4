//! The representative of a lead: a job per submission of a campaign with `selected_user` whose
//! lead has none yet (new, or joined from a campaign without representatives). Run by the
//! Assigner.
//!
//! Failure policy: a database failure is an `assigneeCreation` entry in the lead's `errors` and is
//! retried (1 s, 5 s, 30 s), then a dead letter; a campaign none of whose representatives is an
//! active user is an entry and a dead letter at once (replay it once a representative is active
//! again). A retried job finds the lead assigned and leaves it so: the turn moves once per lead.
//! The assignment sets off the representative's notifications, written with its record: an SMS
//! now (`notify_sms.rs`); a representative without a number is an `SmsSendError` on the lead.

use super::notify_sms::{sms_job, SmsMessage};
use super::{Attempted, JobKind, KindSettings};
use crate::actors::db_executor::Db;
use crate::crm::{render, AssignmentRequest, DEFAULT_SMS};
use crate::store::assignments::{assign_lead, Assigned, AssignedTo};
use crate::store::contacts::add_lead_error;
use crate::store::models::{Job, NewJob};
use futures_util::future::LocalBoxFuture;

pub const NAME: &str = "assignment";

/// The job of a lead's assignment (written with its submission).
pub fn assignment_job(request: &AssignmentRequest, submission_public_id: &str) -> NewJob {
    let payload = serde_json::to_string(request).unwrap_or_else(|_| "{}".into());
    let (id, destination) = (
        format!("assign:{submission_public_id}"),
        format!("campaign:{}", request.campaign_id),
    );
    NewJob {
        lead_id: Some(request.lead_id),
        lead_public_id: Some(request.lead_public_id.clone()),
        ..NewJob::pending(NAME, id, destination, payload)
    }
}

pub struct Assigner {
    pub settings: KindSettings,
    pub db: Db,
    /// `TWILIO_FROM` when Twilio is configured (else no SMS is sent).
    pub twilio_from: Option<String>,
}

impl JobKind for Assigner {
    const NAME: &'static str = NAME;
    const ACTOR: &'static str = "Assigner";
    const EVENTS: &'static str = "assignment";

    fn settings(&self) -> &KindSettings {
        &self.settings
    }

    fn attempt(&self, job: &Job) -> LocalBoxFuture<'static, Attempted> {
        let request: Result<AssignmentRequest, _> = serde_json::from_str(&job.payload_json);
        let (db, twilio_from) = (self.db.clone(), self.twilio_from.clone());
        Box::pin(async move {
            let Ok(request) = request else {
                return Attempted::failure(false, "an unreadable assignment job".into());
            };
            let assigning = request.clone();
            let (retryable, error) = match db.run(move |c| assign_lead(c, &assigning)).await {
                Ok(Assigned::To(assigned)) => {
                    log::info!(
                        "assignment.made lead={} user={}",
                        request.lead_public_id,
                        assigned.user_id
                    );
                    let sms = sms_job_of(&request, &assigned, twilio_from.as_deref());
                    if let Err(why) = &sms {
                        note_error(&db, request.lead_id, "SmsSendError", why).await;
                    }
                    return Attempted {
                        follow_ups: sms.ok().flatten().into_iter().collect(),
                        ..Attempted::success()
                    };
                }
                Ok(Assigned::Already(_)) => return Attempted::success(),
                Ok(Assigned::NoneActive) => (
                    false,
                    "no representative of the campaign is an active user".to_string(),
                ),
                Err(e) => (true, e.to_string()),
            };
            note_error(&db, request.lead_id, "assigneeCreation", &error).await;
            Attempted::failure(retryable, error)
        })
    }
}

/// An entry in the lead's `errors` (a failure to write it is logged: the job goes on).
pub async fn note_error(db: &Db, lead_id: i64, error_type: &'static str, details: &str) {
    let details = details.to_string();
    let noted = db
        .run(move |c| add_lead_error(c, lead_id, error_type, &details))
        .await;
    if let Err(e) = noted {
        log::warn!("crm.error_unrecorded lead={lead_id} type={error_type} error={e}");
    }
}

/// The representative's SMS, when the campaign sends them and Twilio is configured
/// (`twilio_from`): to the campaign's `custom_number` for them, else their phone. `Err` when there
/// is no number to send to.
fn sms_job_of(
    request: &AssignmentRequest,
    assigned: &AssignedTo,
    twilio_from: Option<&str>,
) -> Result<Option<NewJob>, String> {
    let (Some(sms), Some(default_from)) = (&request.sms, twilio_from) else {
        return Ok(None);
    };
    let representative = request
        .representatives
        .iter()
        .find(|r| r.id == assigned.user_id);
    let to = representative
        .and_then(|r| r.custom_number.clone())
        .or(assigned.phone.clone())
        .ok_or("the representative has no phone and the campaign no custom_number for them")?;
    let lead: serde_json::Value = serde_json::from_str(&assigned.lead_json).unwrap_or_default();
    let message = SmsMessage {
        lead_id: request.lead_id,
        to,
        from: sms.from.clone().unwrap_or_else(|| default_from.to_string()),
        body: render(sms.content.as_deref().unwrap_or(DEFAULT_SMS), &lead),
    };
    Ok(Some(sms_job(&message, &request.lead_public_id)))
}
