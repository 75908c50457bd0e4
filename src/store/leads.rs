//! Canonical leads and their submissions: listing, search, detail, status, CRM ids.

use super::models::*;
use super::schema::*;
use super::{now, AnyConnection, DbError};
use diesel::prelude::*;

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
pub fn search_term(q: &str) -> Option<String> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let phone_like = q
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        && q.chars().any(|c| c.is_ascii_digit());
    Some(if phone_like {
        crate::sources::common::phone::digits_of(q)
    } else {
        q.to_lowercase()
    })
}

/// `search_text LIKE` this (with `\` as the escape) holds the term anywhere.
pub fn like_pattern(term: &str) -> String {
    let escaped: String = term
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// The FTS5 trigram query for a term of three characters or more: one phrase, which matches the
/// term as a substring.
pub fn trigram_phrase(term: &str) -> Option<String> {
    (term.chars().count() >= 3).then(|| format!("\"{}\"", term.replace('"', "\"\"")))
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

/// How many of the newest leads (after the other filters) a search reads itself before it asks
/// the trigram index: a common term fills a page from these, a rare one is found by the index.
/// Not bounded: a term under three characters (no trigram) reads the older leads, and a term
/// common among old leads but rare among new ones gathers every old match from the index.
const SEARCH_WINDOW: i64 = 2000;

/// The newest leads first, with every filter but `q`.
fn filtered(
    filter: &LeadFilter,
) -> leads::BoxedQuery<'static, <AnyConnection as Connection>::Backend> {
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
    if let Some(before) = filter.before_id {
        query = query.filter(leads::id.lt(before));
    }
    query
}

pub fn list_leads(conn: &mut AnyConnection, filter: &LeadFilter) -> Result<Vec<Lead>, DbError> {
    let Some(term) = filter.q.as_deref().and_then(search_term) else {
        return Ok(filtered(filter).load(conn)?);
    };
    let pattern = like_pattern(&term);
    let window_floor: Option<i64> = filtered(filter)
        .select(leads::id)
        .offset(SEARCH_WINDOW - 1)
        .limit(1)
        .first(conn)
        .optional()?;
    let mut newest = filtered(filter).filter(leads::search_text.like(pattern.clone()).escape('\\'));
    if let Some(floor) = window_floor {
        newest = newest.filter(leads::id.ge(floor));
    }
    let mut found: Vec<Lead> = newest.load(conn)?;
    let Some(floor) = window_floor.filter(|_| (found.len() as i64) < filter.limit) else {
        return Ok(found);
    };
    let older = filtered(filter)
        .filter(leads::id.lt(floor))
        .limit(filter.limit - found.len() as i64);
    let older = match (&*conn, trigram_phrase(&term)) {
        (AnyConnection::Sqlite(_), Some(phrase)) => older.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>(
                "leads.id IN (SELECT rowid FROM leads_search WHERE leads_search MATCH ",
            )
            .bind::<diesel::sql_types::Text, _>(phrase)
            .sql(")"),
        ),
        // PostgreSQL's trigram index serves the LIKE (a term under three characters: a scan).
        _ => older.filter(leads::search_text.like(pattern).escape('\\')),
    };
    found.extend(older.load::<Lead>(conn)?);
    Ok(found)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns() {
        let pattern = |q: &str| search_term(q).map(|t| like_pattern(&t));
        assert_eq!(pattern("+91 99999").as_deref(), Some("%9199999%"));
        assert_eq!(pattern("Priya").as_deref(), Some("%priya%"));
        assert_eq!(pattern("50%_off").as_deref(), Some("%50\\%\\_off%"));
        assert_eq!(pattern("  "), None);
        let phrase = |q: &str| search_term(q).and_then(|t| trigram_phrase(&t));
        assert_eq!(phrase("Priya").as_deref(), Some("\"priya\""));
        assert_eq!(phrase("say \"hi\"").as_deref(), Some("\"say \"\"hi\"\"\""));
        assert_eq!(
            phrase("ab"),
            None,
            "under three characters the index cannot help"
        );
    }

    #[test]
    fn search_text_accumulates_unique_tokens() {
        let t = search_text_with("", Some("Priya"), Some("P@x.co"), Some("+91-999"));
        assert_eq!(t, "priya\np@x.co\n91999");
        assert_eq!(search_text_with(&t, Some("PRIYA"), None, None), t);
    }
}
