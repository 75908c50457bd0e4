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

#[cfg(test)]
mod tests {
    use super::*;

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
