//! The identity decision and everything it writes: lead, submission, outbox row and the inbox
//! row marked done, in one transaction, so a crash anywhere leaves either all or nothing.

use super::models::*;
use super::queries::{json_text, new_public_id, search_text_with};
use super::schema::*;
use super::{lock_identity_key, now, AnyConnection, DbError};
use crate::delivery::decision::{decide, is_duplicate, ForwardDecision, ForwardPolicy};
use crate::delivery::payload::{forwarded_lead, ForwardedLead, LeadContext};
use crate::identity::{identity_keys, IdentityKey, IP_MATCH_WINDOW_HOURS};
use crate::intake::submission::Submission;
use crate::scoring::{self, SubmissionSignals};
use chrono::Duration;
use diesel::prelude::*;

#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub policy: ForwardPolicy,
    pub bot_lead_detection: bool,
    pub default_webhook_url: Option<String>,
    pub dev_environment: bool,
}

/// One inbox row, normalized and scored, ready to be stored.
#[derive(Debug, Clone)]
pub struct PipelineItem {
    pub inbox_id: i64,
    pub submission: Submission,
    pub signals: SubmissionSignals,
    pub campaign_id: Option<String>,
    pub campaign_webhook_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PersistOutcome {
    pub inbox_id: i64,
    pub lead_public_id: Option<String>,
    pub new_lead: bool,
    pub decision: Option<ForwardDecision>,
    pub delivery_id: Option<i64>,
}

/// Stores one item. The caller holds the write transaction. An inbox row that is no longer
/// ours (done by another instance, or re-claimed after our lease ran out) is left alone.
pub fn persist_submission(
    conn: &mut AnyConnection,
    item: &PipelineItem,
    lease_owner: &str,
    settings: &PipelineSettings,
) -> Result<PersistOutcome, DbError> {
    let sub = &item.submission;
    let untouched = PersistOutcome {
        inbox_id: item.inbox_id,
        lead_public_id: None,
        new_lead: false,
        decision: None,
        delivery_id: None,
    };
    lock_identity_key(conn, &sub.account_id, &sub.project_key)?;
    let claim = inbox::table
        .find(item.inbox_id)
        .select((inbox::status, inbox::lease_owner));
    // On PostgreSQL the row stays locked until commit, so no other instance can re-claim it now.
    let claim: Option<(String, Option<String>)> = match conn {
        AnyConnection::Postgresql(c) => claim.for_update().first(c).optional()?,
        AnyConnection::Sqlite(c) => claim.first(c).optional()?,
    };
    let still_ours = claim.is_some_and(|(status, owner)| {
        status == "processing" && owner.as_deref() == Some(lease_owner)
    });
    if !still_ours {
        return Ok(untouched);
    }

    let existing = match find_lead_for(conn, sub)? {
        Some(lead_id) => Some(leads::table.find(lead_id).first::<Lead>(conn)?),
        None => None,
    };
    let previous_snapshot: Option<ForwardedLead> = existing
        .as_ref()
        .and_then(|lead| serde_json::from_str(&lead.data_json).ok());
    let form_submit_count = count_recent_submissions(conn, sub)? + 1;
    let related_projects = related_projects(conn, sub)?;
    let suspicion = scoring::suspicion(&item.signals, form_submit_count);
    let engagement = scoring::engagement(0, 0, 0);
    let is_bot_lead = scoring::is_bot_lead(settings.bot_lead_detection, &item.signals);
    let decision = decide(
        &settings.policy,
        is_bot_lead,
        existing.as_ref().map(|l| l.last_submitted_at.and_utc()),
        sub.submitted_at,
    );
    let url = item
        .campaign_webhook_url
        .clone()
        .or_else(|| settings.default_webhook_url.clone());
    let send = decision.event().zip(url);
    let t = now();
    let submitted_at = sub.submitted_at.naive_utc();

    let (lead_id, lead_public_id) = match &existing {
        Some(lead) => (lead.id, lead.public_id.clone()),
        None => {
            let public_id = new_public_id();
            let new_lead = NewLead {
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
            diesel::insert_into(leads::table)
                .values(&new_lead)
                .execute(conn)?;
            let id = leads::table
                .filter(leads::public_id.eq(&public_id))
                .select(leads::id)
                .first::<i64>(conn)?;
            (id, public_id)
        }
    };

    let make_send_public_id = send.as_ref().map(|_| new_public_id());
    let mut snapshot = forwarded_lead(
        sub,
        &LeadContext {
            lead_public_id: &lead_public_id,
            lead_id: Some(lead_id),
            lead_submission_id: None,
            previous: previous_snapshot.as_ref(),
            engagement: &engagement,
            suspicion: &suspicion,
            form_submit_count,
            related_projects,
            is_duplicate: is_duplicate(decision, existing.is_some()),
            is_bot_lead,
            dev_environment: settings.dev_environment,
            campaign_id: item.campaign_id.clone(),
            event: send.as_ref().map(|(event, _)| *event),
            make_send_public_id: make_send_public_id.clone(),
        },
    );

    let submission_row = NewLeadSubmission {
        public_id: sub.public_id.clone(),
        lead_id,
        inbox_id: Some(item.inbox_id),
        account_id: sub.account_id.clone(),
        project_key: sub.project_key.clone(),
        lead_source: sub.lead_source.clone(),
        visitor_id: sub.visitor_id.clone(),
        email_key: sub.email_key.clone(),
        phone_e164: sub.phone.as_ref().map(|p| p.e164.clone()),
        ip: (sub.lead_source == "website")
            .then(|| sub.ip.clone())
            .flatten(),
        cta: sub.cta.clone(),
        page_url: sub.page_url.clone(),
        payload_json: json_text(&sub.payload),
        data_json: json_text(&serde_json::to_value(&snapshot).unwrap_or_default()),
        is_duplicate: snapshot.is_duplicate,
        forwarded: send.is_some(),
        submitted_at,
        created_at: t,
    };
    diesel::insert_into(lead_submissions::table)
        .values(&submission_row)
        .execute(conn)?;
    let submission_id = lead_submissions::table
        .filter(lead_submissions::public_id.eq(&sub.public_id))
        .select(lead_submissions::id)
        .first::<i64>(conn)?;
    snapshot.lead_submission_id = Some(submission_id);
    let snapshot_json = serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".into());

    let previous_search = existing
        .as_ref()
        .map(|l| l.search_text.as_str())
        .unwrap_or("");
    let search_text = search_text_with(
        previous_search,
        sub.name.as_deref(),
        sub.email.as_deref(),
        sub.phone
            .as_ref()
            .map(|p| p.e164.as_str())
            .or(sub.phone_raw.as_deref()),
    );
    let last_submitted_at = existing
        .as_ref()
        .map_or(submitted_at, |l| l.last_submitted_at.max(submitted_at));
    diesel::update(leads::table.find(lead_id))
        .set((
            leads::name.eq(snapshot.first_name.clone()),
            leads::email.eq(snapshot.email.clone()),
            leads::phone_e164.eq(snapshot.phone_e164.clone()),
            leads::submission_count.eq(leads::submission_count + 1),
            leads::data_json.eq(&snapshot_json),
            leads::search_text.eq(&search_text),
            leads::last_submitted_at.eq(last_submitted_at),
            leads::updated_at.eq(t),
        ))
        .execute(conn)?;

    let delivery_id = match (send, make_send_public_id) {
        (Some((event, url)), Some(make_send_public_id)) => {
            let row = NewDelivery {
                make_send_public_id: make_send_public_id.clone(),
                lead_id,
                lead_submission_id: submission_id,
                lead_public_id: lead_public_id.clone(),
                event: event.to_string(),
                url,
                payload_json: snapshot_json,
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: t,
                created_at: t,
                updated_at: t,
            };
            diesel::insert_into(outbox::table)
                .values(&row)
                .execute(conn)?;
            Some(
                outbox::table
                    .filter(outbox::make_send_public_id.eq(&make_send_public_id))
                    .select(outbox::id)
                    .first::<i64>(conn)?,
            )
        }
        _ => None,
    };

    diesel::update(inbox::table.find(item.inbox_id))
        .set((
            inbox::status.eq("done"),
            inbox::lease_owner.eq(None::<String>),
            inbox::lease_until.eq(None::<chrono::NaiveDateTime>),
            inbox::processed_at.eq(t),
        ))
        .execute(conn)?;

    Ok(PersistOutcome {
        inbox_id: item.inbox_id,
        lead_public_id: Some(lead_public_id),
        new_lead: existing.is_none(),
        decision: Some(decision),
        delivery_id,
    })
}

/// The lead this submission joins, trying the identity keys in order.
fn find_lead_for(conn: &mut AnyConnection, sub: &Submission) -> Result<Option<i64>, DbError> {
    use lead_submissions::dsl as s;
    for key in identity_keys(sub) {
        let scoped = s::lead_submissions
            .filter(s::account_id.eq(&sub.account_id))
            .filter(s::project_key.eq(&sub.project_key))
            .select(s::lead_id)
            .into_boxed();
        let found: Option<i64> = match key {
            IdentityKey::VisitorId(v) => scoped
                .filter(s::visitor_id.eq(v))
                .order(s::id.desc())
                .first(conn)
                .optional()?,
            IdentityKey::Email(e) => scoped
                .filter(s::email_key.eq(e))
                .order(s::id.desc())
                .first(conn)
                .optional()?,
            IdentityKey::Phone(p) => scoped
                .filter(s::phone_e164.eq(p))
                .order(s::id.desc())
                .first(conn)
                .optional()?,
            IdentityKey::ClientIp(ip) => {
                let since = sub.submitted_at.naive_utc() - Duration::hours(IP_MATCH_WINDOW_HOURS);
                scoped
                    .filter(s::ip.eq(ip))
                    .filter(s::lead_source.eq("website"))
                    .filter(s::submitted_at.ge(since))
                    .order(s::submitted_at.desc())
                    .first(conn)
                    .optional()?
            }
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Earlier submissions in the last hour from this visitor (else this client IP), any project.
fn count_recent_submissions(conn: &mut AnyConnection, sub: &Submission) -> Result<i64, DbError> {
    use lead_submissions::dsl as s;
    let since = sub.submitted_at.naive_utc() - Duration::hours(1);
    let base = s::lead_submissions
        .filter(s::account_id.eq(&sub.account_id))
        .filter(s::submitted_at.ge(since))
        .into_boxed();
    let count = if let Some(visitor) = &sub.visitor_id {
        base.filter(s::visitor_id.eq(visitor))
            .count()
            .get_result(conn)?
    } else if let (Some(ip), "website") = (&sub.ip, sub.lead_source.as_str()) {
        base.filter(s::ip.eq(ip)).count().get_result(conn)?
    } else {
        0
    };
    Ok(count)
}

/// Other projects of this account the same visitor, email or phone inquired about.
fn related_projects(conn: &mut AnyConnection, sub: &Submission) -> Result<Vec<String>, DbError> {
    use lead_submissions::dsl as s;
    let mut keys: Vec<String> = Vec::new();
    let lookups = [
        (sub.visitor_id.clone(), 0u8),
        (sub.email_key.clone(), 1),
        (sub.phone.as_ref().map(|p| p.e164.clone()), 2),
    ];
    for (value, kind) in lookups {
        let Some(value) = value else { continue };
        let query = s::lead_submissions
            .filter(s::account_id.eq(&sub.account_id))
            .filter(s::project_key.ne(&sub.project_key))
            .select(s::lead_id)
            .limit(50)
            .into_boxed();
        let query = match kind {
            0 => query.filter(s::visitor_id.eq(value)),
            1 => query.filter(s::email_key.eq(value)),
            _ => query.filter(s::phone_e164.eq(value)),
        };
        let lead_ids: Vec<i64> = query.load(conn)?;
        if lead_ids.is_empty() {
            continue;
        }
        let names: Vec<(String, Option<String>)> = leads::table
            .filter(leads::id.eq_any(lead_ids))
            .select((leads::project_key, leads::project_name))
            .load(conn)?;
        for (key, name) in names {
            let name = name.unwrap_or(key);
            if !name.is_empty() && !keys.contains(&name) {
                keys.push(name);
            }
        }
    }
    keys.sort();
    Ok(keys)
}
