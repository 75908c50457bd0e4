//! The pipeline's writes, inside the transaction that stores a submission: the lead (new or
//! existing), the submission, the lead's new state, the jobs; and the read that finds rows stored
//! before (the inbox row is marked done by the Intake once this commits).

use super::forwarding::{is_duplicate, Forwarding};
use super::payload::{forwarded_lead, ForwardedLead, LeadContext};
use super::{PersistOutcome, Person, PipelineItem, PipelineSettings, Scores};
use crate::jobs::crm_webhook::send_job;
use crate::sources::submission::Submission;
use crate::store::json_text;
use crate::store::leads::search_text_with;
use crate::store::models::{Lead, NewLead, NewLeadSubmission};
use crate::store::new_public_id;
use crate::store::schema::*;
use crate::store::{now, AnyConnection, DbError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub fn find_lead(conn: &mut AnyConnection, id: i64) -> Result<Lead, DbError> {
    Ok(leads::table.find(id).get_result::<Lead>(conn)?)
}

/// Writes everything the steps decided, and says what was done.
pub fn store(
    conn: &mut AnyConnection,
    item: &PipelineItem,
    person: &Person,
    scores: &Scores,
    forwarding: &Forwarding,
    settings: &PipelineSettings,
) -> Result<PersistOutcome, DbError> {
    let sub = &item.submission;
    let t = now();
    let (lead_id, lead_public_id) = match &person.existing {
        Some(lead) => (lead.id, lead.public_id.clone()),
        None => insert_lead(conn, sub, t)?,
    };
    let make_send_public_id = forwarding.send.as_ref().map(|_| new_public_id());
    let mut snapshot = snapshot(
        item,
        person,
        scores,
        forwarding,
        settings,
        (lead_id, &lead_public_id),
        make_send_public_id.clone(),
    );
    let submission_id = insert_submission(conn, item, lead_id, &snapshot, forwarding, t)?;
    super::history::remember_keys(conn, sub, lead_id)?;
    snapshot.lead_submission_id = Some(submission_id);
    let snapshot_json = serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".into());
    update_lead(conn, sub, person, lead_id, &snapshot, &snapshot_json, t)?;
    let lead = (lead_id, submission_id, lead_public_id.as_str());
    let delivery_id = enqueue_jobs(
        conn,
        sub,
        forwarding,
        make_send_public_id,
        &snapshot_json,
        lead,
    )?;
    Ok(PersistOutcome {
        inbox_id: item.inbox_id,
        lead_public_id: Some(lead_public_id),
        submission_public_id: Some(sub.public_id.clone()),
        forward_decision: Some(forwarding.value),
        new_lead: person.existing.is_none(),
        decision: Some(forwarding.decision),
        delivery_id,
        stored_before: false,
    })
}

/// The jobs the stored submission sets off, in its transaction: now the CRM webhook's send (new,
/// or one already made from the spool, recorded as it went). Returns the send's job id.
fn enqueue_jobs(
    conn: &mut AnyConnection,
    sub: &Submission,
    forwarding: &Forwarding,
    make_send_public_id: Option<String>,
    snapshot_json: &str,
    lead: (i64, i64, &str),
) -> Result<Option<i64>, DbError> {
    let job = match (&forwarding.send, make_send_public_id, &sub.pre_forwarded) {
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
    };
    job.map(|job| crate::store::jobs::insert_job(conn, &job))
        .transpose()
}

/// A new canonical lead (its public id the one already forwarded, for a lead from the spool).
fn insert_lead(
    conn: &mut AnyConnection,
    sub: &Submission,
    t: NaiveDateTime,
) -> Result<(i64, String), DbError> {
    let public_id = sub
        .pre_forwarded
        .as_ref()
        .map_or_else(new_public_id, |p| p.lead_public_id.clone());
    let submitted_at = sub.submitted_at.naive_utc();
    let lead = NewLead {
        public_id: public_id.clone(),
        account_id: sub.account_id.clone(),
        project_key: sub.project_key.clone(),
        project_name: sub.project_name.clone(),
        name: sub.name.clone(),
        email: sub.email.clone(),
        phone_e164: sub.phone.as_ref().map(|p| p.e164.clone()),
        status: "new".into(),
        lead_source: sub.lead_source.clone(),
        submission_count: 0,
        data_json: "{}".into(),
        search_text: String::new(),
        errors_json: "[]".into(),
        first_submitted_at: submitted_at,
        last_submitted_at: submitted_at,
        created_at: t,
        updated_at: t,
    };
    let id = diesel::insert_into(leads::table)
        .values(&lead)
        .returning(leads::id)
        .get_result::<i64>(conn)?;
    Ok((id, public_id))
}

/// The lead as it stands with this submission: every key the webhook payload carries.
fn snapshot(
    item: &PipelineItem,
    person: &Person,
    scores: &Scores,
    forwarding: &Forwarding,
    settings: &PipelineSettings,
    (lead_id, lead_public_id): (i64, &str),
    make_send_public_id: Option<String>,
) -> ForwardedLead {
    let pre = item.submission.pre_forwarded.as_ref();
    forwarded_lead(
        &item.submission,
        &LeadContext {
            lead_public_id,
            lead_id: Some(lead_id),
            lead_submission_id: None,
            previous: person.previous.as_ref(),
            joined_by_ip_only: person.joined_by_ip_only,
            engagement: &scores.engagement,
            suspicion: &scores.suspicion,
            form_submit_count: scores.form_submit_count,
            related_projects: scores.related_projects.clone(),
            is_duplicate: is_duplicate(forwarding.decision, person.existing.is_some()),
            is_bot_lead: scores.is_bot_lead,
            dev_environment: settings.dev_environment,
            campaign_id: item.campaign_id.clone(),
            event: forwarding
                .send
                .as_ref()
                .map(|send| send.event)
                .or(pre.map(|_| "lead.created")),
            make_send_public_id: make_send_public_id.or(pre.map(|p| p.make_send_public_id.clone())),
        },
    )
}

fn insert_submission(
    conn: &mut AnyConnection,
    item: &PipelineItem,
    lead_id: i64,
    snapshot: &ForwardedLead,
    forwarding: &Forwarding,
    t: NaiveDateTime,
) -> Result<i64, DbError> {
    let sub = &item.submission;
    let row = NewLeadSubmission {
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
    };
    Ok(diesel::insert_into(lead_submissions::table)
        .values(&row)
        .returning(lead_submissions::id)
        .get_result::<i64>(conn)?)
}

/// The lead takes this submission's snapshot (whose person fields an IP-only join keeps), its
/// search terms and its time.
fn update_lead(
    conn: &mut AnyConnection,
    sub: &Submission,
    person: &Person,
    lead_id: i64,
    snapshot: &ForwardedLead,
    snapshot_json: &str,
    t: NaiveDateTime,
) -> Result<(), DbError> {
    let existing = person.existing.as_ref();
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
    let last_submitted_at =
        existing.map_or(submitted_at, |l| l.last_submitted_at.max(submitted_at));
    diesel::update(leads::table.find(lead_id))
        .set((
            leads::name.eq(snapshot.first_name.clone()),
            leads::email.eq(snapshot.email.clone()),
            leads::phone_e164.eq(snapshot.phone_e164.clone()),
            leads::submission_count.eq(leads::submission_count + 1),
            leads::data_json.eq(snapshot_json),
            leads::search_text.eq(&search_text),
            leads::last_submitted_at.eq(last_submitted_at),
            leads::updated_at.eq(t),
        ))
        .execute(conn)?;
    Ok(())
}

/// Which of these inbox rows (sorted) have their submissions stored already: a row's first
/// submission carries its id, and a row's submissions are stored in one transaction.
pub fn rows_stored_already(
    conn: &mut AnyConnection,
    inbox_ids: &[i64],
) -> Result<Vec<i64>, DbError> {
    let mut stored: Vec<i64> = lead_submissions::table
        .filter(lead_submissions::inbox_id.eq_any(inbox_ids))
        .select(lead_submissions::inbox_id.assume_not_null())
        .limit(inbox_ids.len() as i64)
        .load(conn)?;
    stored.sort_unstable();
    Ok(stored)
}
