//! The identity decision and everything it writes: lead, submission, outbox row and the inbox
//! row marked done, in one transaction, so a crash anywhere leaves either all or nothing.

use super::models::*;
use super::queries::{json_text, new_public_id, search_text_with};
use super::schema::*;
use super::{lock_identity_key, now, AnyConnection, DbError};
use crate::delivery::decision::{decide, is_duplicate, ForwardDecision, ForwardPolicy};
use crate::delivery::payload::{forwarded_lead, ForwardedLead, LeadContext};
use crate::identity::{identity_keys, IdentityKey, IP_MATCH_WINDOW_HOURS};
use crate::jobs::crm_webhook::send_job;
use crate::scoring::{self, SubmissionSignals};
use crate::sources::submission::Submission;
use chrono::Duration;
use diesel::dsl::max;
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
    /// Where the submission sits in its inbox row: the row is done with its last submission.
    pub row: RowPosition,
    pub submission: Submission,
    pub signals: SubmissionSignals,
    pub campaign_id: Option<String>,
    pub campaign_webhook_url: Option<String>,
}

/// The first submission of a row is linked to it (`inbox_id`, unique: a row is never stored
/// twice); the last marks it done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowPosition {
    pub first: bool,
    pub last: bool,
}

impl RowPosition {
    pub const ONLY: RowPosition = RowPosition {
        first: true,
        last: true,
    };
}

#[derive(Debug, Clone, PartialEq)]
pub struct PersistOutcome {
    pub inbox_id: i64,
    pub lead_public_id: Option<String>,
    pub submission_public_id: Option<String>,
    /// The submission's `forward_decision` (`sent`, or why not).
    pub forward_decision: Option<&'static str>,
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
        submission_public_id: None,
        forward_decision: None,
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
        AnyConnection::Postgresql(c) => claim.for_update().get_result(c).optional()?,
        AnyConnection::Sqlite(c) => claim.get_result(c).optional()?,
    };
    let still_ours = claim.is_some_and(|(status, owner)| {
        status == "processing" && owner.as_deref() == Some(lease_owner)
    });
    if !still_ours {
        return Ok(untouched);
    }

    let history = PersonHistory::load(conn, sub)?;
    let (lead_id, joined_by_ip_only) = match history.lead_in_project(sub) {
        Some(id) => (Some(id), false),
        None => {
            let by_ip = lead_from_client_ip(conn, sub)?;
            (by_ip, by_ip.is_some())
        }
    };
    let existing = match lead_id {
        Some(lead_id) => Some(leads::table.find(lead_id).get_result::<Lead>(conn)?),
        None => None,
    };
    let previous_snapshot: Option<ForwardedLead> = existing
        .as_ref()
        .and_then(|lead| serde_json::from_str(&lead.data_json).ok());
    let form_submit_count = match history.recent_visitor_submissions(sub) {
        Some(count) => count,
        None => count_recent_from_ip(conn, sub)?,
    } + 1;
    let related_projects = project_names(conn, history.leads_in_other_projects(sub))?;
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
    // A lead forwarded from the spool while the database was down is recorded, not decided again.
    let forward_decision = match &sub.pre_forwarded {
        Some(_) => "sent",
        None => decision.submission_value(url.is_some()),
    };
    let send = match &sub.pre_forwarded {
        Some(_) => None,
        None => decision.event().zip(url),
    };
    let t = now();
    let submitted_at = sub.submitted_at.naive_utc();

    let (lead_id, lead_public_id) = match &existing {
        Some(lead) => (lead.id, lead.public_id.clone()),
        None => {
            let public_id = sub
                .pre_forwarded
                .as_ref()
                .map_or_else(new_public_id, |p| p.lead_public_id.clone());
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
            let id = diesel::insert_into(leads::table)
                .values(&new_lead)
                .returning(leads::id)
                .get_result::<i64>(conn)?;
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
            joined_by_ip_only,
            engagement: &engagement,
            suspicion: &suspicion,
            form_submit_count,
            related_projects,
            is_duplicate: is_duplicate(decision, existing.is_some()),
            is_bot_lead,
            dev_environment: settings.dev_environment,
            campaign_id: item.campaign_id.clone(),
            event: send
                .as_ref()
                .map(|(event, _)| *event)
                .or(sub.pre_forwarded.as_ref().map(|_| "lead.created")),
            make_send_public_id: make_send_public_id.clone().or(sub
                .pre_forwarded
                .as_ref()
                .map(|p| p.make_send_public_id.clone())),
        },
    );

    let submission_row = NewLeadSubmission {
        public_id: sub.public_id.clone(),
        lead_id,
        inbox_id: item.row.first.then_some(item.inbox_id),
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
        data_json: json_text(&serde_json::to_value(&snapshot).unwrap_or_default()),
        is_duplicate: snapshot.is_duplicate,
        forwarded: send.is_some() || sub.pre_forwarded.is_some(),
        submitted_at,
        created_at: t,
        forward_decision: Some(forward_decision.to_string()),
    };
    let submission_id = diesel::insert_into(lead_submissions::table)
        .values(&submission_row)
        .returning(lead_submissions::id)
        .get_result::<i64>(conn)?;
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

    let lead = (lead_id, submission_id, lead_public_id.as_str());
    let job = match (send, make_send_public_id, &sub.pre_forwarded) {
        (Some((_, url)), Some(make_send_public_id), _) => Some(send_job(
            &make_send_public_id,
            &url,
            &snapshot_json,
            lead,
            false,
        )),
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
    let delivery_id = match job {
        Some(job) => Some(super::jobs::insert_job(conn, &job)?),
        None => None,
    };

    if item.row.last {
        diesel::update(inbox::table.find(item.inbox_id))
            .set((
                inbox::status.eq("done"),
                inbox::lease_owner.eq(None::<String>),
                inbox::lease_until.eq(None::<chrono::NaiveDateTime>),
                inbox::processed_at.eq(t),
            ))
            .execute(conn)?;
    }

    Ok(PersistOutcome {
        inbox_id: item.inbox_id,
        lead_public_id: Some(lead_public_id),
        submission_public_id: Some(sub.public_id.clone()),
        forward_decision: Some(forward_decision),
        new_lead: existing.is_none(),
        decision: Some(decision),
        delivery_id,
    })
}

/// Earlier submissions of the account that share a visitor id, email or phone with this one,
/// across projects: one indexed query per key gives identity, related projects and the
/// visitor's recent submissions. (Queries here run for every submission: they are written
/// out so Diesel caches them, and have no `LIMIT ?`, which makes SQLite re-prepare.)
struct PersonHistory {
    /// (key, lead_id, project_key, submitted_at) per earlier submission.
    rows: Vec<(IdentityKey, i64, String, chrono::NaiveDateTime)>,
}

type HistoryRow = (i64, String, chrono::NaiveDateTime);

impl PersonHistory {
    fn load(conn: &mut AnyConnection, sub: &Submission) -> Result<PersonHistory, DbError> {
        use lead_submissions::dsl as s;
        let account = &sub.account_id;
        let columns = (s::lead_id, s::project_key, s::submitted_at);
        let mut rows = Vec::new();
        for key in identity_keys(sub) {
            let found: Vec<HistoryRow> = match &key {
                IdentityKey::VisitorId(v) => s::lead_submissions
                    .filter(s::account_id.eq(account).and(s::visitor_id.eq(v)))
                    .select(columns)
                    .load(conn)?,
                IdentityKey::Email(e) => s::lead_submissions
                    .filter(s::account_id.eq(account).and(s::email_key.eq(e)))
                    .select(columns)
                    .load(conn)?,
                IdentityKey::Phone(p) => s::lead_submissions
                    .filter(s::account_id.eq(account).and(s::phone_e164.eq(p)))
                    .select(columns)
                    .load(conn)?,
                IdentityKey::ClientIp(_) => Vec::new(),
            };
            rows.extend(
                found
                    .into_iter()
                    .map(|(lead, project, at)| (key.clone(), lead, project, at)),
            );
        }
        Ok(PersonHistory { rows })
    }

    /// The most recent lead of this project matched by the first key (in identity order) that
    /// matches at all.
    fn lead_in_project(&self, sub: &Submission) -> Option<i64> {
        identity_keys(sub).iter().find_map(|key| {
            self.rows
                .iter()
                .filter(|(k, _, project, _)| k == key && *project == sub.project_key)
                .map(|(_, lead, _, _)| *lead)
                .max()
        })
    }

    /// Submissions of this visitor in the hour before this one; `None` without a visitor id.
    fn recent_visitor_submissions(&self, sub: &Submission) -> Option<i64> {
        let visitor = sub.visitor_id.as_ref()?;
        let since = sub.submitted_at.naive_utc() - Duration::hours(1);
        let count = self
            .rows
            .iter()
            .filter(|(k, _, _, at)| {
                matches!(k, IdentityKey::VisitorId(v) if v == visitor) && *at >= since
            })
            .count();
        Some(count as i64)
    }

    fn leads_in_other_projects(&self, sub: &Submission) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .rows
            .iter()
            .filter(|(_, _, project, _)| *project != sub.project_key)
            .map(|(_, lead, _, _)| *lead)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// An anonymous submission (of a source whose IP is a key) joins the project's most recent lead
/// from its IP (24 h).
fn lead_from_client_ip(conn: &mut AnyConnection, sub: &Submission) -> Result<Option<i64>, DbError> {
    use lead_submissions::dsl as s;
    let Some(IdentityKey::ClientIp(ip)) = identity_keys(sub)
        .into_iter()
        .find(|k| matches!(k, IdentityKey::ClientIp(_)))
    else {
        return Ok(None);
    };
    let since = sub.submitted_at.naive_utc() - Duration::hours(IP_MATCH_WINDOW_HOURS);
    Ok(s::lead_submissions
        .filter(
            s::account_id
                .eq(&sub.account_id)
                .and(s::ip.eq(ip))
                .and(s::submitted_at.ge(since)),
        )
        // Only sources whose IP is an identity key store it, so any match is one of theirs.
        .filter(s::project_key.eq(&sub.project_key))
        .select(max(s::lead_id))
        .get_result(conn)?)
}

/// Submissions from this client IP in the hour before this one (no visitor id), for the sources
/// whose IP identifies the person.
fn count_recent_from_ip(conn: &mut AnyConnection, sub: &Submission) -> Result<i64, DbError> {
    use lead_submissions::dsl as s;
    let Some(ip) = sub.ip.as_ref().filter(|_| sub.ip_is_key) else {
        return Ok(0);
    };
    let since = sub.submitted_at.naive_utc() - Duration::hours(1);
    Ok(s::lead_submissions
        .filter(s::account_id.eq(&sub.account_id).and(s::ip.eq(ip)))
        .filter(s::submitted_at.ge(since))
        .count()
        .get_result(conn)?)
}

/// The project names of these leads, sorted, without repeats.
fn project_names(conn: &mut AnyConnection, lead_ids: Vec<i64>) -> Result<Vec<String>, DbError> {
    if lead_ids.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<(String, Option<String>)> = leads::table
        .filter(leads::id.eq_any(lead_ids))
        .select((leads::project_key, leads::project_name))
        .load(conn)?;
    let mut projects: Vec<String> = names
        .into_iter()
        .map(|(key, name)| name.unwrap_or(key))
        .filter(|name| !name.is_empty())
        .collect();
    projects.sort();
    projects.dedup();
    Ok(projects)
}
