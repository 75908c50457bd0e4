//! What storing one submission writes, decided in memory from what was read (`gather.rs`) and the
//! ids allocated for it: the lead (new, or the changes to the existing one), the submission, its
//! keys and the jobs it sets off. Pure but for the new public id of a webhook send.

use super::forwarding::{is_duplicate, Forwarding};
use super::gather::Gathered;
use super::payload::{forwarded_lead, ForwardedLead, LeadContext};
use super::{PersistOutcome, PipelineItem, PipelineSettings};
use crate::crm::{contact_request, AssignmentRequest};
use crate::jobs::assignment::assignment_job;
use crate::jobs::crm_contact::contact_job;
use crate::jobs::crm_webhook::send_job;
use crate::pipeline::identity::{identity_keys, IdentityKey};
use crate::scoring::{self, Engagement, Suspicion};
use crate::sources::submission::Submission;
use crate::store::json_text;
use crate::store::leads::search_text_with;
use crate::store::models::{Lead, NewJob, NewLead, NewLeadKey, NewLeadSubmission};
use crate::store::new_public_id;
use chrono::NaiveDateTime;

/// Everything one submission writes.
#[derive(Debug)]
pub struct Planned {
    pub new_lead: Option<NewLead>,
    pub lead_update: Option<LeadUpdate>,
    pub submission: NewLeadSubmission,
    pub keys: Vec<NewLeadKey>,
    pub jobs: Vec<NewJob>,
    pub outcome: PersistOutcome,
}

/// An existing lead takes the submission's snapshot, its search terms and its time (its
/// submission count goes up by one).
#[derive(Debug)]
pub struct LeadUpdate {
    pub lead_id: i64,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone_e164: Option<String>,
    pub data_json: String,
    pub search_text: String,
    pub last_submitted_at: NaiveDateTime,
}

/// The ids allocated for the submission (and its lead, if new).
#[derive(Debug, Clone, Copy)]
pub struct NewIds {
    pub lead_id: Option<i64>,
    pub submission_id: i64,
}

/// Who the submission is: the project's lead it joins, if any.
struct Person<'a> {
    existing: Option<&'a Lead>,
    joined_by_ip_only: bool,
    /// The lead's snapshot before this submission.
    previous: Option<ForwardedLead>,
}

/// What the scores say of the submission.
struct Scores {
    suspicion: Suspicion,
    engagement: Engagement,
    is_bot_lead: bool,
    form_submit_count: i64,
}

pub fn plan(
    item: &PipelineItem,
    gathered: &Gathered,
    ids: NewIds,
    settings: &PipelineSettings,
    t: NaiveDateTime,
) -> Planned {
    let sub = &item.submission;
    let person = Person {
        existing: gathered.existing.as_ref(),
        joined_by_ip_only: gathered.joined_by_ip_only,
        previous: gathered
            .existing
            .as_ref()
            .and_then(|lead| serde_json::from_str(&lead.data_json).ok()),
    };
    let form_submit_count = gathered.recent_submissions + 1;
    let scores = Scores {
        suspicion: scoring::suspicion(&item.signals, form_submit_count),
        engagement: scoring::engagement_of(item.signals.activity.as_ref()),
        is_bot_lead: scoring::is_bot_lead(settings.bot_lead_detection, &item.signals),
        form_submit_count,
    };
    let forwarding = decide_forwarding(item, &person, &scores, settings);
    let (lead_id, lead_public_id) = match person.existing {
        Some(lead) => (lead.id, lead.public_id.clone()),
        None => (
            ids.lead_id.expect("a new lead has an allocated id"),
            sub.pre_forwarded
                .as_ref()
                .map_or_else(new_public_id, |p| p.lead_public_id.clone()),
        ),
    };
    let make_send_public_id = forwarding.send.as_ref().map(|_| new_public_id());
    let context = SnapshotContext {
        person: &person,
        scores: &scores,
        forwarding: &forwarding,
        related_projects: &gathered.related_projects,
        lead: (lead_id, &lead_public_id),
        make_send_public_id: make_send_public_id.clone(),
    };
    let mut snapshot = snapshot(item, &context, settings);
    let submission = submission_row(item, lead_id, ids.submission_id, &snapshot, &forwarding, t);
    snapshot.lead_submission_id = Some(ids.submission_id);
    let snapshot_json = serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".into());
    let update = lead_update(sub, &person, lead_id, &snapshot, snapshot_json);
    let lead = (lead_id, ids.submission_id, lead_public_id.as_str());
    let job = send_job_of(
        sub,
        &forwarding,
        make_send_public_id,
        &update.data_json,
        lead,
    );
    let contact = contact_job_of(item, lead, scores.is_bot_lead);
    // A lead without a representative gets one (a repeat of an assigned lead takes no turn).
    let unassigned = person.existing.is_none_or(|l| l.assigned_user_id.is_none());
    let assignment = assignment_job_of(item, lead, unassigned && !scores.is_bot_lead);
    let outcome = PersistOutcome {
        webhook_enqueued: job.is_some(),
        crm_enqueued: contact.is_some() || assignment.is_some(),
        ..stored_outcome(item, lead, &forwarding, person.existing.is_none())
    };
    let (new_lead, lead_update) = match person.existing {
        Some(_) => (None, Some(update)),
        None => (Some(new_lead(sub, lead_public_id, update, t)), None),
    };
    Planned {
        new_lead,
        lead_update,
        submission,
        keys: keys_of(sub, lead_id),
        jobs: job.into_iter().chain(contact).chain(assignment).collect(),
        outcome,
    }
}

/// A new lead's representative, when its campaign names some.
fn assignment_job_of(
    item: &PipelineItem,
    (lead_id, _, lead_public_id): (i64, i64, &str),
    assigns: bool,
) -> Option<NewJob> {
    let crm = item.crm.as_deref().filter(|_| assigns)?;
    let campaign_id = item.campaign_id.clone()?;
    let request = AssignmentRequest {
        lead_id,
        lead_public_id: lead_public_id.to_string(),
        account_id: item.submission.account_id.clone(),
        campaign_id,
        representatives: crm.representatives.clone(),
        sms: crm.sms.clone(),
        email: crm.email.clone(),
    };
    (!crm.representatives.is_empty()).then(|| assignment_job(&request, &item.submission.public_id))
}

/// What storing the submission did, as the Intake reads it.
fn stored_outcome(
    item: &PipelineItem,
    (_, _, lead_public_id): (i64, i64, &str),
    forwarding: &Forwarding,
    new_lead: bool,
) -> PersistOutcome {
    PersistOutcome {
        inbox_id: item.inbox_id,
        lead_public_id: Some(lead_public_id.to_string()),
        submission_public_id: Some(item.submission.public_id.clone()),
        forward_decision: Some(forwarding.value),
        new_lead,
        decision: Some(forwarding.decision),
        webhook_enqueued: false,
        crm_enqueued: false,
        stored_before: false,
    }
}

/// The CRM contact (and deal) a campaign asks for; a bot's lead gets none.
fn contact_job_of(
    item: &PipelineItem,
    (lead_id, submission_id, lead_public_id): (i64, i64, &str),
    is_bot_lead: bool,
) -> Option<NewJob> {
    let crm = item
        .crm
        .as_deref()
        .filter(|crm| crm.makes_contacts && !is_bot_lead)?;
    let request = contact_request(crm, &item.submission, (lead_id, lead_public_id));
    Some(contact_job(
        &request,
        (submission_id, &item.submission.public_id),
    ))
}

/// The forwarding rule for this submission. A lead forwarded from the spool while the database
/// was down is recorded as sent, not decided again.
fn decide_forwarding(
    item: &PipelineItem,
    person: &Person,
    scores: &Scores,
    settings: &PipelineSettings,
) -> Forwarding {
    let sub = &item.submission;
    let decided = super::forwarding::forwarding(
        &settings.policy,
        scores.is_bot_lead,
        person.existing.map(|l| l.last_submitted_at.and_utc()),
        sub.submitted_at,
        settings.destination(item.campaign_webhook_url.as_deref()),
    );
    match sub.pre_forwarded {
        Some(_) => Forwarding {
            value: "sent",
            send: None,
            ..decided
        },
        None => decided,
    }
}

/// The job the stored submission sets off: now the CRM webhook's send (new, or one already made
/// from the spool, recorded as it went).
fn send_job_of(
    sub: &Submission,
    forwarding: &Forwarding,
    make_send_public_id: Option<String>,
    snapshot_json: &str,
    lead: (i64, i64, &str),
) -> Option<NewJob> {
    match (&forwarding.send, make_send_public_id, &sub.pre_forwarded) {
        (Some(send), Some(id), _) => Some(send_job(&id, &send.url, snapshot_json, lead, false)),
        // Forwarded from the spool: recorded as it went; if it had not got through, the
        // WebhookDeliverer sends it again with the same webhook-id.
        (_, _, Some(pre)) => Some(send_job(
            &pre.make_send_public_id,
            &pre.url,
            &pre.payload_json,
            lead,
            pre.delivered,
        )),
        _ => None,
    }
}

struct SnapshotContext<'a> {
    person: &'a Person<'a>,
    scores: &'a Scores,
    forwarding: &'a Forwarding,
    related_projects: &'a [String],
    lead: (i64, &'a str),
    make_send_public_id: Option<String>,
}

/// The lead as it stands with this submission: every key the webhook payload carries.
fn snapshot(
    item: &PipelineItem,
    context: &SnapshotContext,
    settings: &PipelineSettings,
) -> ForwardedLead {
    let pre = item.submission.pre_forwarded.as_ref();
    let (person, scores, forwarding) = (context.person, context.scores, context.forwarding);
    forwarded_lead(
        &item.submission,
        &LeadContext {
            lead_public_id: context.lead.1,
            lead_id: Some(context.lead.0),
            lead_submission_id: None,
            previous: person.previous.as_ref(),
            joined_by_ip_only: person.joined_by_ip_only,
            engagement: &scores.engagement,
            suspicion: &scores.suspicion,
            form_submit_count: scores.form_submit_count,
            related_projects: context.related_projects.to_vec(),
            is_duplicate: is_duplicate(forwarding.decision, person.existing.is_some()),
            is_bot_lead: scores.is_bot_lead,
            dev_environment: settings.dev_environment,
            campaign_id: item.campaign_id.clone(),
            event: forwarding
                .send
                .as_ref()
                .map(|send| send.event)
                .or(pre.map(|_| "lead.created")),
            make_send_public_id: context
                .make_send_public_id
                .clone()
                .or(pre.map(|p| p.make_send_public_id.clone())),
        },
    )
}

fn submission_row(
    item: &PipelineItem,
    lead_id: i64,
    submission_id: i64,
    snapshot: &ForwardedLead,
    forwarding: &Forwarding,
    t: NaiveDateTime,
) -> NewLeadSubmission {
    let sub = &item.submission;
    NewLeadSubmission {
        id: submission_id,
        public_id: sub.public_id.clone(),
        lead_id,
        inbox_id: item.first_of_row.then_some(item.inbox_id),
        account_id: sub.account_id.clone(),
        project_key: sub.project_key.clone(),
        lead_source: sub.lead_source.clone(),
        visitor_id: sub.visitor_id.clone(),
        email_key: sub.email_key.clone(),
        phone_e164: sub.phone.as_ref().map(|p| p.e164.clone()),
        // Stored only where it identifies the person (the source's identity policy).
        ip: sub.ip.clone().filter(|_| sub.ip_is_key),
        cta: sub.cta.clone(),
        page_url: sub.page_url.clone(),
        payload_json: json_text(&sub.payload),
        data_json: json_text(&serde_json::to_value(snapshot).unwrap_or_default()),
        is_duplicate: snapshot.is_duplicate,
        forwarded: forwarding.send.is_some() || sub.pre_forwarded.is_some(),
        submitted_at: sub.submitted_at.naive_utc(),
        created_at: t,
        forward_decision: Some(forwarding.value.to_string()),
        platform_lead_key: platform_lead_key(sub),
    }
}

/// PostgreSQL's btree takes entries up to about 2.7 KB.
const MAX_READABLE_KEY: usize = 512;

/// What makes a platform's lead the same lead when it comes again: the platform, the campaign
/// its URL named and the platform's id for it (a website form has none).
pub fn platform_lead_key(sub: &Submission) -> Option<String> {
    Some(platform_lead_key_of(
        &sub.lead_source,
        sub.campaign_id.as_deref()?,
        sub.platform_lead_id.as_deref()?,
    ))
}

/// The key of `source`'s lead `lead_id` for `campaign` (the Facebook fetch asks before it fetches).
pub fn platform_lead_key_of(source: &str, campaign: &str, lead_id: &str) -> String {
    let key = format!("{source}\u{1f}{campaign}\u{1f}{lead_id}");
    // A platform's id is short; a long one is hashed so it always fits a btree index entry.
    match key.len() > MAX_READABLE_KEY {
        true => format!(
            "sha256:{}",
            crate::sources::common::signature::sha256_hex(key.as_bytes())
        ),
        false => key,
    }
}

/// The lead's fields after this submission (whose person fields an IP-only join keeps).
fn lead_update(
    sub: &Submission,
    person: &Person,
    lead_id: i64,
    snapshot: &ForwardedLead,
    snapshot_json: String,
) -> LeadUpdate {
    let existing = person.existing;
    let search_text = search_text_with(
        existing.map(|l| l.search_text.as_str()).unwrap_or(""),
        sub.name.as_deref(),
        sub.email.as_deref(),
        sub.phone
            .as_ref()
            .map(|p| p.e164.as_str())
            .or(sub.phone_raw.as_deref()),
    );
    let submitted_at = sub.submitted_at.naive_utc();
    LeadUpdate {
        lead_id,
        name: snapshot.first_name.clone(),
        email: snapshot.email.clone(),
        phone_e164: snapshot.phone_e164.clone(),
        data_json: snapshot_json,
        search_text,
        last_submitted_at: existing.map_or(submitted_at, |l| l.last_submitted_at.max(submitted_at)),
    }
}

/// A new canonical lead, written whole (its public id the one already forwarded, for a lead from
/// the spool).
fn new_lead(sub: &Submission, public_id: String, state: LeadUpdate, t: NaiveDateTime) -> NewLead {
    NewLead {
        id: state.lead_id,
        public_id,
        account_id: sub.account_id.clone(),
        project_key: sub.project_key.clone(),
        project_name: sub.project_name.clone(),
        name: state.name,
        email: state.email,
        phone_e164: state.phone_e164,
        status: "new".into(),
        lead_source: sub.lead_source.clone(),
        submission_count: 1,
        data_json: state.data_json,
        search_text: state.search_text,
        errors_json: "[]".into(),
        first_submitted_at: sub.submitted_at.naive_utc(),
        last_submitted_at: state.last_submitted_at,
        created_at: t,
        updated_at: t,
    }
}

/// The keys this submission adds to its lead (visitor id, email, phone).
fn keys_of(sub: &Submission, lead_id: i64) -> Vec<NewLeadKey> {
    identity_keys(sub)
        .iter()
        .filter_map(IdentityKey::stored_as)
        .map(|(kind, value)| NewLeadKey {
            account_id: sub.account_id.clone(),
            key_kind: kind.into(),
            key_value: value.into(),
            project_key: sub.project_key.clone(),
            lead_id,
        })
        .collect()
}
