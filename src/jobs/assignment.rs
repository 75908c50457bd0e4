//! The representative of a lead: a job per submission of a campaign with `selected_user` whose
//! lead has none yet (new, or joined from a campaign without representatives). Run by the
//! Assigner.
//!
//! Failure policy: a database failure is an `assigneeCreation` entry in the lead's `errors` and is
//! retried (1 s, 5 s, 30 s), then a dead letter; a campaign none of whose representatives is an
//! active user is an entry and a dead letter at once (replay it once a representative is active
//! again). A retried job finds the lead assigned and leaves it so: the turn moves once per lead.
//! The assignment sets off the representative's notifications, each message a Notifier job
//! written with its record (`notify.rs`); a representative who cannot be reached on a channel the
//! campaign asks for (no phone, no email) is an entry of that channel's type on the lead.

use super::runner::JobsQueued;
use super::{Attempted, JobKind, KindSettings, Recorded, RecordedAttempt};
use crate::actors::db_executor::Db;
use crate::crm::AssignmentRequest;
use crate::notify::{assignment_messages, Channels};
use crate::store::assignments::{assign_lead, Assigned, AssignedTo};
use crate::store::contacts::add_lead_error;
use crate::store::models::{Job, NewJob};
use actix::Recipient;
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
    /// What the Notifier of this instance can send on (a channel that is off sends nothing).
    pub channels: Channels,
    /// Woken when an assignment wrote messages, so they go out now rather than on its next look.
    pub notifier: Recipient<JobsQueued>,
}

impl JobKind for Assigner {
    const NAME: &'static str = NAME;
    const ACTOR: &'static str = "Assigner";
    const EVENTS: &'static str = "assignment";

    fn settings(&self) -> &KindSettings {
        &self.settings
    }

    fn recorded(&self, record: &RecordedAttempt, outcome: &Result<Recorded, String>) {
        if matches!(outcome, Ok(Recorded::Done)) && !record.follow_ups.is_empty() {
            self.notifier.do_send(JobsQueued);
        }
    }

    fn attempt(&self, job: &Job) -> LocalBoxFuture<'static, Attempted> {
        let request: Result<AssignmentRequest, _> = serde_json::from_str(&job.payload_json);
        let (db, channels) = (self.db.clone(), self.channels.clone());
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
                    let (follow_ups, unreachable) = notifications(&request, &assigned, &channels);
                    for (error_type, why) in unreachable {
                        note_error(&db, request.lead_id, error_type, &why).await;
                    }
                    return Attempted {
                        follow_ups,
                        ..Attempted::success()
                    };
                }
                // A retry after the assignment was made (its messages not written yet, if the
                // attempt was not recorded) writes them; they are written once each.
                Ok(Assigned::Already(assigned)) => {
                    let ours = request
                        .representatives
                        .iter()
                        .any(|r| r.id == assigned.user_id);
                    let follow_ups = match ours {
                        true => notifications(&request, &assigned, &channels).0,
                        false => Vec::new(),
                    };
                    return Attempted {
                        follow_ups,
                        ..Attempted::success()
                    };
                }
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

/// The jobs of the representative's messages, and the channels they cannot be reached on.
fn notifications(
    request: &AssignmentRequest,
    assigned: &AssignedTo,
    channels: &Channels,
) -> (Vec<NewJob>, Vec<(&'static str, String)>) {
    let (mut jobs, mut unreachable) = (Vec::new(), Vec::new());
    for message in assignment_messages(request, assigned, channels) {
        match message {
            Ok(message) => jobs.push(message.job(&request.lead_public_id)),
            Err(error) => unreachable.push(error),
        }
    }
    (jobs, unreachable)
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
