//! Queries for the admin API, the ack path and the health page. The pipeline's own are in
//! `pipeline.rs`.

use super::models::*;
use super::schema::*;
use super::{bounded_write_transaction, now, write_transaction, AnyConnection, DbError, TxOutcome};
use chrono::Duration;
use diesel::prelude::*;
use serde_json::Value;

pub fn new_public_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ---- accounts ----

pub fn ensure_default_account(conn: &mut AnyConnection) -> Result<Account, DbError> {
    write_transaction(conn, |conn| {
        if let Some(account) = accounts::table
            .filter(accounts::is_default.eq(true))
            .first::<Account>(conn)
            .optional()?
        {
            return Ok(account);
        }
        let t = now();
        let account = Account {
            id: new_public_id(),
            name: "default".into(),
            active: true,
            is_default: true,
            created_at: t,
            updated_at: t,
        };
        diesel::insert_into(accounts::table)
            .values(&account)
            .execute(conn)?;
        log::info!("account.default_created id={}", account.id);
        Ok(account)
    })
}

/// Whether the database takes writes at all (a read-only file, role or replica does not): a
/// write that changes nothing, rolled back.
pub fn probe_writable(conn: &mut AnyConnection) -> Result<(), DbError> {
    let probe = write_transaction(conn, |conn| {
        diesel::update(accounts::table.filter(accounts::is_default.eq(true)))
            .set(accounts::updated_at.eq(accounts::updated_at))
            .execute(conn)?;
        Err::<(), DbError>(DbError::Invalid("probe".into()))
    });
    match probe {
        Err(DbError::Invalid(_)) => Ok(()),
        Err(e) => Err(e),
        Ok(()) => Ok(()),
    }
}

pub fn list_accounts(conn: &mut AnyConnection) -> Result<Vec<Account>, DbError> {
    Ok(accounts::table
        .order(accounts::created_at.asc())
        .load(conn)?)
}

pub fn find_account(conn: &mut AnyConnection, id: &str) -> Result<Account, DbError> {
    accounts::table
        .find(id)
        .first(conn)
        .optional()?
        .ok_or(DbError::NotFound)
}

pub fn create_account(
    conn: &mut AnyConnection,
    name: &str,
    active: bool,
) -> Result<Account, DbError> {
    let t = now();
    let account = Account {
        id: new_public_id(),
        name: name.to_string(),
        active,
        is_default: false,
        created_at: t,
        updated_at: t,
    };
    diesel::insert_into(accounts::table)
        .values(&account)
        .execute(conn)?;
    Ok(account)
}

pub fn update_account(
    conn: &mut AnyConnection,
    id: &str,
    name: Option<&str>,
    active: Option<bool>,
) -> Result<Account, DbError> {
    let mut account = find_account(conn, id)?;
    if let Some(name) = name {
        account.name = name.to_string();
    }
    if let Some(active) = active {
        account.active = active;
    }
    account.updated_at = now();
    diesel::update(accounts::table.find(id))
        .set(&account)
        .execute(conn)?;
    Ok(account)
}

// ---- campaigns ----

pub fn insert_campaign(conn: &mut AnyConnection, campaign: &Campaign) -> Result<(), DbError> {
    diesel::insert_into(campaigns::table)
        .values(campaign)
        .execute(conn)?;
    Ok(())
}

pub fn list_campaigns(
    conn: &mut AnyConnection,
    account_id: &str,
) -> Result<Vec<Campaign>, DbError> {
    Ok(campaigns::table
        .filter(campaigns::account_id.eq(account_id))
        .order(campaigns::created_at.asc())
        .load(conn)?)
}

pub fn all_campaigns(conn: &mut AnyConnection) -> Result<Vec<Campaign>, DbError> {
    Ok(campaigns::table.load(conn)?)
}

pub fn find_campaign(conn: &mut AnyConnection, id: &str) -> Result<Campaign, DbError> {
    campaigns::table
        .find(id)
        .first(conn)
        .optional()?
        .ok_or(DbError::NotFound)
}

pub fn replace_campaign(conn: &mut AnyConnection, campaign: &Campaign) -> Result<(), DbError> {
    diesel::update(campaigns::table.find(&campaign.id))
        .set((
            campaigns::name.eq(&campaign.name),
            campaigns::project_name.eq(&campaign.project_name),
            campaigns::integration.eq(&campaign.integration),
            campaigns::active.eq(campaign.active),
            campaigns::thank_you_url.eq(&campaign.thank_you_url),
            campaigns::webhook_url.eq(&campaign.webhook_url),
            campaigns::settings_json.eq(&campaign.settings_json),
            campaigns::updated_at.eq(campaign.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

// ---- the ack path ----

/// One durable write the HTTP layer waits for before it answers.
#[derive(Debug, Clone)]
pub enum AckWrite {
    Inbox(NewInboxRow),
    BlockedLead(NewBlockedIpLead),
    /// Accepted, answered as usual, and not a lead (an inactive account): kept for operators.
    Ignored(NewIgnoredWebhook),
}

fn append_ack_write(conn: &mut AnyConnection, write: &AckWrite) -> QueryResult<usize> {
    match write {
        AckWrite::Inbox(row) => diesel::insert_into(inbox::table).values(row).execute(conn),
        AckWrite::BlockedLead(row) => diesel::insert_into(blocked_ip_leads::table)
            .values(row)
            .execute(conn),
        AckWrite::Ignored(row) => diesel::insert_into(ignored_webhooks::table)
            .values(row)
            .execute(conn),
    }
}

/// Why an ack write is not known to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckFailure {
    /// Not stored: the caller may spool and forward it.
    NotStored(String),
    /// A COMMIT whose answer was lost: it may be stored. The caller spools it without
    /// forwarding it now; the drain finds it in the inbox, or writes it, and it is forwarded once.
    Unknown(String),
}

/// Commits writes that arrived together in one transaction (one fsync for all of them), waiting
/// for locks no later than `deadline`. If the batch fails because of one write's data, each write
/// is tried alone while time is left, so a bad write cannot fail its neighbours; if it fails
/// because the database is unavailable, every write fails at once (each would only wait for the
/// same lock again).
pub fn append_ack_writes(
    conn: &mut AnyConnection,
    writes: &[AckWrite],
    deadline: std::time::Instant,
) -> Vec<Result<(), AckFailure>> {
    let all = |r: Result<(), AckFailure>| writes.iter().map(|_| r.clone()).collect();
    let batch = bounded_write_transaction(conn, lock_wait_until(deadline), |conn| {
        for write in writes {
            append_ack_write(conn, write)?;
        }
        Ok::<_, DbError>(())
    });
    match batch {
        TxOutcome::Committed(()) => all(Ok(())),
        TxOutcome::CommitFailed(e) => match already_stored(conn, writes) {
            Some(true) => all(Ok(())),
            Some(false) => all(Err(AckFailure::NotStored(e.to_string()))),
            None => all(Err(AckFailure::Unknown(e.to_string()))),
        },
        TxOutcome::Failed(e) if !e.is_row_error() => all(Err(AckFailure::NotStored(e.to_string()))),
        TxOutcome::Failed(_) => writes
            .iter()
            .map(|write| {
                if std::time::Instant::now() >= deadline {
                    return Err(AckFailure::NotStored(
                        "no time left to write it alone".into(),
                    ));
                }
                let alone = bounded_write_transaction(conn, lock_wait_until(deadline), |conn| {
                    append_ack_write(conn, write).map_err(DbError::from)
                });
                match alone {
                    TxOutcome::Committed(_) => Ok(()),
                    TxOutcome::Failed(e) => Err(AckFailure::NotStored(e.to_string())),
                    TxOutcome::CommitFailed(e) => Err(AckFailure::Unknown(e.to_string())),
                }
            })
            .collect(),
    }
}

/// What is left until `deadline`, and at least a moment: a write that made it this far is tried.
fn lock_wait_until(deadline: std::time::Instant) -> std::time::Duration {
    deadline
        .saturating_duration_since(std::time::Instant::now())
        .max(std::time::Duration::from_millis(100))
}

/// Whether the group's first inbox row is there after all (a COMMIT whose answer was lost);
/// `None` when that cannot be told either. The check must not wait on a lock: it gives up quickly.
fn already_stored(conn: &mut AnyConnection, writes: &[AckWrite]) -> Option<bool> {
    let public_id = writes.iter().find_map(|w| match w {
        AckWrite::Inbox(row) => Some(row.public_id.clone()),
        AckWrite::BlockedLead(_) | AckWrite::Ignored(_) => None,
    })?;
    super::bounded_read(conn, std::time::Duration::from_millis(250), |conn| {
        Ok(inbox::table
            .filter(inbox::public_id.eq(&public_id))
            .count()
            .get_result::<i64>(conn)?)
    })
    .ok()
    .map(|n| n > 0)
}

/// What became of one spooled submission offered to the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpoolInsert {
    Written,
    /// Its public id is in the inbox already (written before, or by its own ack after all).
    AlreadyThere,
    /// The database refuses this row's data: it is set aside, the others go on.
    Refused(String),
}

/// Spooled submissions into the inbox, each once: a public id already there is skipped. All in
/// one transaction; if a row's data fails it, row by row, so one bad row cannot hold the rest.
pub fn insert_spooled(
    conn: &mut AnyConnection,
    rows: &[NewInboxRow],
) -> Result<Vec<SpoolInsert>, DbError> {
    let batch = write_transaction(conn, |conn| {
        rows.iter()
            .map(|row| insert_spooled_row(conn, row))
            .collect::<Result<Vec<_>, DbError>>()
    });
    match batch {
        Err(e) if e.is_row_error() => rows
            .iter()
            .map(
                |row| match write_transaction(conn, |conn| insert_spooled_row(conn, row)) {
                    Err(e) if e.is_row_error() => Ok(SpoolInsert::Refused(e.to_string())),
                    other => other,
                },
            )
            .collect(),
        other => other,
    }
}

fn insert_spooled_row(conn: &mut AnyConnection, row: &NewInboxRow) -> Result<SpoolInsert, DbError> {
    let exists: i64 = inbox::table
        .filter(inbox::public_id.eq(&row.public_id))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Ok(SpoolInsert::AlreadyThere);
    }
    diesel::insert_into(inbox::table)
        .values(row)
        .execute(conn)?;
    Ok(SpoolInsert::Written)
}

// ---- inbox ----

/// Claims up to `limit` inbox rows that are due (or whose lease ran out) for `owner`. A claim is
/// not an attempt: a process that dies holding it (a crash loop) spends none of the row's retries.
pub fn claim_inbox(
    conn: &mut AnyConnection,
    owner: &str,
    limit: i64,
    lease: Duration,
) -> Result<Vec<InboxRow>, DbError> {
    write_transaction(conn, |conn| {
        let t = now();
        let due = inbox::table
            .select(inbox::id)
            .filter(inbox::status.eq("pending"))
            .filter(inbox::next_attempt_at.le(t))
            .order(inbox::id.asc())
            .limit(limit);
        let expired = inbox::table
            .select(inbox::id)
            .filter(inbox::status.eq("processing"))
            .filter(inbox::lease_until.lt(t))
            .order(inbox::id.asc())
            .limit(limit);
        let mut ids: Vec<i64> = match conn {
            // Several instances may claim at once: skip rows another one holds.
            AnyConnection::Postgresql(c) => {
                let mut ids: Vec<i64> = due.for_update().skip_locked().load(c)?;
                ids.extend(expired.for_update().skip_locked().load::<i64>(c)?);
                ids
            }
            AnyConnection::Sqlite(c) => {
                let mut ids: Vec<i64> = due.load(c)?;
                ids.extend(expired.load::<i64>(c)?);
                ids
            }
        };
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(limit as usize);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(inbox::table.filter(inbox::id.eq_any(&ids)))
            .set((
                inbox::status.eq("processing"),
                inbox::lease_owner.eq(owner),
                inbox::lease_until.eq(t + lease),
            ))
            .execute(conn)?;
        Ok(inbox::table
            .filter(inbox::id.eq_any(&ids))
            .order(inbox::id.asc())
            .load(conn)?)
    })
}

/// After a crash of the only instance (SQLite), its leases are void at once.
pub fn release_all_inbox_leases(conn: &mut AnyConnection) -> Result<usize, DbError> {
    Ok(
        diesel::update(inbox::table.filter(inbox::status.eq("processing")))
            .set((
                inbox::status.eq("pending"),
                inbox::lease_owner.eq(None::<String>),
            ))
            .execute(conn)?,
    )
}

pub const INBOX_MAX_ATTEMPTS: i32 = 3;

/// Backoff before the next attempt: 1 s, 2 s, 4 s, ...
pub fn inbox_backoff(attempts: i32) -> Duration {
    Duration::seconds(1i64 << (attempts.clamp(1, 10) - 1))
}

/// A processing attempt failed: it is counted now; retry later, or keep the row as failed for an
/// operator after `INBOX_MAX_ATTEMPTS`.
pub fn fail_inbox_attempt(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    error: &str,
) -> Result<(), DbError> {
    let attempts: Option<i32> = inbox::table
        .find(id)
        .select(inbox::attempts)
        .get_result(conn)
        .optional()?;
    let Some(attempts) = attempts.map(|a| a + 1) else {
        return Ok(());
    };
    let status = if attempts >= INBOX_MAX_ATTEMPTS {
        "failed"
    } else {
        "pending"
    };
    // One conditional statement: a row another instance finished meanwhile is left alone.
    let updated = diesel::update(
        inbox::table
            .find(id)
            .filter(inbox::status.eq("processing"))
            .filter(inbox::lease_owner.eq(owner)),
    )
    .set((
        inbox::status.eq(status),
        inbox::attempts.eq(attempts),
        inbox::lease_owner.eq(None::<String>),
        inbox::lease_until.eq(None::<chrono::NaiveDateTime>),
        inbox::last_error.eq(truncate(error, 2000)),
        inbox::next_attempt_at.eq(now() + inbox_backoff(attempts)),
    ))
    .execute(conn)?;
    if updated > 0 && status == "failed" {
        log::warn!("inbox.failed id={id} attempts={attempts} error={error}");
    }
    Ok(())
}

/// Deletes up to `limit` processed inbox rows older than `before` (their submissions keep the
/// body as `payload_json`); returns how many.
pub fn purge_processed_inbox(
    conn: &mut AnyConnection,
    before: chrono::NaiveDateTime,
    limit: i64,
) -> Result<usize, DbError> {
    let old = inbox::table
        .select(inbox::id)
        .filter(inbox::status.eq("done"))
        .filter(inbox::processed_at.lt(before))
        .order(inbox::processed_at.asc())
        .limit(limit);
    let ids: Vec<i64> = old.load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(inbox::table.filter(inbox::id.eq_any(&ids))).execute(conn)?)
}

pub fn list_inbox(
    conn: &mut AnyConnection,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<InboxRow>, DbError> {
    let mut query = inbox::table
        .order(inbox::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(inbox::status.eq(status.to_string()));
    }
    Ok(query.load(conn)?)
}

pub fn retry_inbox(conn: &mut AnyConnection, id: i64) -> Result<InboxRow, DbError> {
    let row: InboxRow = inbox::table
        .find(id)
        .first(conn)
        .optional()?
        .ok_or(DbError::NotFound)?;
    if row.status != "failed" {
        return Err(DbError::Invalid(format!(
            "inbox item {id} is {}, not failed",
            row.status
        )));
    }
    diesel::update(inbox::table.find(id))
        .set((
            inbox::status.eq("pending"),
            inbox::attempts.eq(0),
            inbox::next_attempt_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(inbox::table.find(id).first(conn)?)
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

// ---- leads ----

#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    pub account_id: Option<String>,
    pub project_key: Option<String>,
    pub q: Option<String>,
    pub status: Option<String>,
    pub limit: i64,
    pub before_id: Option<i64>,
}

/// A search term as matched against `search_text`: phone-like terms by digits, others lowercase.
pub fn search_pattern(q: &str) -> Option<String> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let phone_like = q
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        && q.chars().any(|c| c.is_ascii_digit());
    let term = if phone_like {
        crate::sources::common::phone::digits_of(q)
    } else {
        q.to_lowercase()
    };
    let escaped: String = term
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    Some(format!("%{escaped}%"))
}

/// The text `q` searches: names and emails lowercase, phones as digits, of every submission.
pub fn search_text_with(
    existing: &str,
    name: Option<&str>,
    email: Option<&str>,
    phone: Option<&str>,
) -> String {
    let mut text = existing.to_string();
    let tokens = [
        name.map(str::to_lowercase),
        email.map(str::to_lowercase),
        phone.map(crate::sources::common::phone::digits_of),
    ];
    for token in tokens.into_iter().flatten().filter(|t| !t.is_empty()) {
        if !text.split('\n').any(|existing| existing == token) && text.len() < 8192 {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&token);
        }
    }
    text
}

pub fn list_leads(conn: &mut AnyConnection, filter: &LeadFilter) -> Result<Vec<Lead>, DbError> {
    let mut query = leads::table
        .order(leads::id.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(account) = &filter.account_id {
        query = query.filter(leads::account_id.eq(account.clone()));
    }
    if let Some(project) = &filter.project_key {
        query = query.filter(leads::project_key.eq(project.clone()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(leads::status.eq(status.clone()));
    }
    if let Some(pattern) = filter.q.as_deref().and_then(search_pattern) {
        query = query.filter(leads::search_text.like(pattern).escape('\\'));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(leads::id.lt(before));
    }
    Ok(query.load(conn)?)
}

pub fn find_lead(conn: &mut AnyConnection, public_id: &str) -> Result<Lead, DbError> {
    leads::table
        .filter(leads::public_id.eq(public_id))
        .first(conn)
        .optional()?
        .ok_or(DbError::NotFound)
}

pub fn lead_submissions_of(
    conn: &mut AnyConnection,
    lead_id: i64,
) -> Result<Vec<LeadSubmission>, DbError> {
    Ok(lead_submissions::table
        .filter(lead_submissions::lead_id.eq(lead_id))
        .order(lead_submissions::id.asc())
        .load(conn)?)
}

pub fn set_lead_status(
    conn: &mut AnyConnection,
    public_id: &str,
    status: &str,
) -> Result<Lead, DbError> {
    let updated = diesel::update(leads::table.filter(leads::public_id.eq(public_id)))
        .set((leads::status.eq(status), leads::updated_at.eq(now())))
        .execute(conn)?;
    if updated == 0 {
        return Err(DbError::NotFound);
    }
    find_lead(conn, public_id)
}

/// `POST /v1/crm/callback`: the CRM's id (and link) for a lead.
pub fn set_crm_ids(
    conn: &mut AnyConnection,
    lead: &LeadRef,
    crm_lead_id: &str,
    crm_url: Option<&str>,
) -> Result<(), DbError> {
    let target = leads::table.into_boxed();
    let target = match lead {
        LeadRef::PublicId(public_id) => target.filter(leads::public_id.eq(public_id.clone())),
        LeadRef::Id(id) => target.filter(leads::id.eq(*id)),
    };
    let lead_id: i64 = target
        .select(leads::id)
        .get_result(conn)
        .optional()?
        .ok_or(DbError::NotFound)?;
    diesel::update(leads::table.find(lead_id))
        .set((
            leads::crm_lead_id.eq(crm_lead_id),
            leads::crm_url.eq(crm_url),
            leads::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone)]
pub enum LeadRef {
    PublicId(String),
    Id(i64),
}

// ---- blocked IPs ----

pub fn list_blocked_ips(conn: &mut AnyConnection) -> Result<Vec<BlockedIp>, DbError> {
    Ok(blocked_ips::table
        .order(blocked_ips::created_at.asc())
        .load(conn)?)
}

pub fn insert_blocked_ip(
    conn: &mut AnyConnection,
    ip: &str,
    reason: Option<&str>,
) -> Result<BlockedIp, DbError> {
    let existing: Option<BlockedIp> = blocked_ips::table
        .filter(blocked_ips::ip.eq(ip))
        .first(conn)
        .optional()?;
    if existing.is_some() {
        return Err(DbError::Invalid(format!("{ip} is already blocked")));
    }
    let row = BlockedIp {
        id: new_public_id(),
        ip: ip.to_string(),
        reason: reason.map(str::to_string),
        created_at: now(),
    };
    diesel::insert_into(blocked_ips::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

pub fn delete_blocked_ip(conn: &mut AnyConnection, id: &str) -> Result<(), DbError> {
    match diesel::delete(blocked_ips::table.find(id)).execute(conn)? {
        0 => Err(DbError::NotFound),
        _ => Ok(()),
    }
}

pub fn list_blocked_ip_leads(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<BlockedIpLead>, DbError> {
    Ok(blocked_ip_leads::table
        .order(blocked_ip_leads::id.desc())
        .limit(limit)
        .load(conn)?)
}

// ---- ignored requests ----

pub fn list_ignored_webhooks(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<IgnoredWebhook>, DbError> {
    Ok(ignored_webhooks::table
        .order(ignored_webhooks::id.desc())
        .limit(limit)
        .load(conn)?)
}

// ---- health ----

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Backlog {
    pub inbox_pending: i64,
    pub inbox_failed: i64,
    pub outbox_pending: i64,
    pub outbox_dead: i64,
}

pub fn backlog(conn: &mut AnyConnection) -> Result<Backlog, DbError> {
    let count_inbox = |conn: &mut AnyConnection, statuses: &[&str]| -> QueryResult<i64> {
        inbox::table
            .filter(
                inbox::status.eq_any(statuses.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            )
            .count()
            .get_result(conn)
    };
    let (jobs_pending, jobs_dead) = super::jobs::backlog(conn)?;
    Ok(Backlog {
        inbox_pending: count_inbox(conn, &["pending", "processing"])?,
        inbox_failed: count_inbox(conn, &["failed"])?,
        outbox_pending: jobs_pending,
        outbox_dead: jobs_dead,
    })
}

/// Whether an ack could be written now, within `wait`: the write lock taken (SQLite) and the
/// inbox read (PostgreSQL, where a table lock blocks it), then rolled back.
pub fn ready_for_acks(conn: &mut AnyConnection, wait: std::time::Duration) -> Result<(), DbError> {
    let probe = bounded_write_transaction(conn, wait, |conn| {
        inbox::table
            .select(inbox::id)
            .order(inbox::id.desc())
            .limit(1)
            .load::<i64>(conn)?;
        Err::<(), DbError>(DbError::Invalid("probe".into()))
    });
    match probe {
        TxOutcome::Failed(DbError::Invalid(_)) | TxOutcome::Committed(()) => Ok(()),
        TxOutcome::Failed(e) => Err(e),
        TxOutcome::CommitFailed(e) => Err(e.into()),
    }
}

/// A JSON object column's text, or `{}`.
pub fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite() -> (tempfile::TempDir, AnyConnection) {
        let dir = tempfile::tempdir().unwrap();
        let target = crate::config::DatabaseTarget::Sqlite(dir.path().join("t.db"));
        let mut conn = super::super::establish(&target).unwrap();
        super::super::run_migrations(&mut conn).unwrap();
        (dir, conn)
    }

    fn inbox_row(public_id: &str) -> NewInboxRow {
        NewInboxRow {
            public_id: public_id.into(),
            kind: "website".into(),
            account_id: "a".into(),
            body: "{}".into(),
            meta_json: "{}".into(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: now(),
            received_at: now(),
        }
    }

    fn attempts_of(conn: &mut AnyConnection, id: i64) -> (String, i32) {
        inbox::table
            .find(id)
            .select((inbox::status, inbox::attempts))
            .get_result(conn)
            .unwrap()
    }

    #[test]
    fn claims_spend_no_attempts_failures_do() {
        let (_dir, mut conn) = sqlite();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let written = append_ack_writes(&mut conn, &[AckWrite::Inbox(inbox_row("p1"))], deadline);
        assert_eq!(written, vec![Ok(())]);
        // A crash loop: claimed, process dies, leases released at the next start, again and again.
        for _ in 0..5 {
            let claimed = claim_inbox(&mut conn, "dies", 10, Duration::seconds(10)).unwrap();
            assert_eq!(claimed.len(), 1);
            release_all_inbox_leases(&mut conn).unwrap();
        }
        let id = inbox::table
            .select(inbox::id)
            .first::<i64>(&mut conn)
            .unwrap();
        assert_eq!(attempts_of(&mut conn, id), ("pending".into(), 0));
        for expected in 1..=INBOX_MAX_ATTEMPTS {
            diesel::update(inbox::table.find(id))
                .set(inbox::next_attempt_at.eq(now()))
                .execute(&mut conn)
                .unwrap();
            claim_inbox(&mut conn, "fails", 10, Duration::seconds(10)).unwrap();
            fail_inbox_attempt(&mut conn, id, "fails", "boom").unwrap();
            let status = if expected == INBOX_MAX_ATTEMPTS {
                "failed"
            } else {
                "pending"
            };
            assert_eq!(attempts_of(&mut conn, id), (status.into(), expected));
        }
    }

    #[test]
    fn search_patterns() {
        assert_eq!(search_pattern("+91 99999").as_deref(), Some("%9199999%"));
        assert_eq!(search_pattern("Priya").as_deref(), Some("%priya%"));
        assert_eq!(search_pattern("50%_off").as_deref(), Some("%50\\%\\_off%"));
        assert_eq!(search_pattern("  "), None);
    }

    #[test]
    fn search_text_accumulates_unique_tokens() {
        let t = search_text_with("", Some("Priya"), Some("P@x.co"), Some("+91-999"));
        assert_eq!(t, "priya\np@x.co\n91999");
        assert_eq!(search_text_with(&t, Some("PRIYA"), None, None), t);
    }
}
