//! CRM contacts and deals. A contact is found again by its keys (email, E.164 phone) among the
//! account's contacts of its type; the decision is taken under a lock per (account, type) on
//! PostgreSQL (SQLite has one writer), and `contact_keys`' primary key holds each key once.

use super::schema::*;
use super::{lock_identity_key, new_public_id, now, write_transaction, AnyConnection, DbError};
use crate::crm::{deal_name, ContactRequest};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts)]
pub struct Contact {
    pub id: String,
    pub account_id: String,
    pub contact_type: String,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_json: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deals)]
pub struct Deal {
    pub id: String,
    pub account_id: String,
    pub contact_id: String,
    pub lead_id: i64,
    pub campaign_id: Option<String>,
    pub name: String,
    pub value: f64,
    pub currency: String,
    pub pipeline_id: String,
    pub stage_id: String,
    pub created_at: NaiveDateTime,
}

/// What writing a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactWritten {
    pub contact_id: String,
    pub created: bool,
    pub deal_created: bool,
}

/// The request's keys: email first (it decides when email and phone name two contacts).
fn keys_of(request: &ContactRequest) -> Vec<(&'static str, String)> {
    let email = request.email_key.clone().map(|e| ("email", e));
    let phone = request.phone.clone().map(|p| ("phone", p));
    email.into_iter().chain(phone).collect()
}

/// The contact of the request, created or updated (what the request knows fills it in), its
/// deal when it asks for one and the lead has none, and the lead pointing at the contact.
pub fn write_contact(
    conn: &mut AnyConnection,
    request: &ContactRequest,
) -> Result<ContactWritten, DbError> {
    write_transaction(conn, |conn| {
        let lock = format!("contacts\u{1f}{}", request.contact_type);
        lock_identity_key(conn, &request.account_id, &lock)?;
        let keys = keys_of(request);
        let (contact_id, created) = match find_contact(conn, request, &keys)? {
            Some(id) => {
                update_contact(conn, &id, request)?;
                (id, false)
            }
            None => (insert_contact(conn, request)?, true),
        };
        for (kind, value) in &keys {
            insert_key(conn, request, kind, value, &contact_id)?;
        }
        // Named and greeted as the contact is now, after what this submission added.
        let contact: Contact = contacts::table
            .find(&contact_id)
            .select(Contact::as_select())
            .first(conn)?;
        if !request.submission_public_id.is_empty() {
            super::conversations::add_lead_messages(conn, request, &contact)?;
        }
        let deal_created = match &request.deal {
            Some(_) => insert_deal(conn, request, &contact)?,
            None => false,
        };
        diesel::update(leads::table.find(request.lead_id))
            .set(leads::contact_id.eq(&contact_id))
            .execute(conn)?;
        Ok(ContactWritten {
            contact_id,
            created,
            deal_created,
        })
    })
}

/// By its keys; a submission without email or phone joins the contact its lead has (of its type).
fn find_contact(
    conn: &mut AnyConnection,
    request: &ContactRequest,
    keys: &[(&'static str, String)],
) -> Result<Option<String>, DbError> {
    if keys.is_empty() {
        return Ok(leads::table
            .inner_join(contacts::table.on(leads::contact_id.eq(contacts::id.nullable())))
            .filter(leads::id.eq(request.lead_id))
            .filter(contacts::contact_type.eq(&request.contact_type))
            .select(contacts::id)
            .first::<String>(conn)
            .optional()?);
    }
    for (kind, value) in keys {
        let found = contact_keys::table
            .filter(contact_keys::account_id.eq(&request.account_id))
            .filter(contact_keys::contact_type.eq(&request.contact_type))
            .filter(contact_keys::key_kind.eq(kind))
            .filter(contact_keys::key_value.eq(value))
            .select(contact_keys::contact_id)
            .first::<String>(conn)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

fn insert_contact(conn: &mut AnyConnection, request: &ContactRequest) -> Result<String, DbError> {
    let id = new_public_id();
    let t = now();
    diesel::insert_into(contacts::table)
        .values((
            contacts::id.eq(&id),
            contacts::account_id.eq(&request.account_id),
            contacts::contact_type.eq(&request.contact_type),
            contacts::name.eq(&request.name),
            contacts::first_name.eq(&request.first_name),
            contacts::last_name.eq(&request.last_name),
            contacts::email.eq(&request.email),
            contacts::phone.eq(&request.phone),
            contacts::address_json.eq(request.address.to_string()),
            contacts::created_at.eq(t),
            contacts::updated_at.eq(t),
        ))
        .execute(conn)?;
    Ok(id)
}

/// What the request knows replaces what the contact had; what it does not know stays.
fn update_contact(
    conn: &mut AnyConnection,
    id: &str,
    request: &ContactRequest,
) -> Result<(), DbError> {
    let current: Contact = contacts::table
        .find(id)
        .select(Contact::as_select())
        .first(conn)?;
    let or = |new: &Option<String>, old: Option<String>| new.clone().or(old);
    let address = match request.address.as_object() {
        Some(fields) if fields.values().any(|v| !v.is_null()) => request.address.to_string(),
        _ => current.address_json.clone(),
    };
    diesel::update(contacts::table.find(id))
        .set((
            contacts::name.eq(or(&request.name, current.name)),
            contacts::first_name.eq(or(&request.first_name, current.first_name)),
            contacts::last_name.eq(or(&request.last_name, current.last_name)),
            contacts::email.eq(or(&request.email, current.email)),
            contacts::phone.eq(or(&request.phone, current.phone)),
            contacts::address_json.eq(address),
            contacts::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A key another contact holds already stays that contact's.
fn insert_key(
    conn: &mut AnyConnection,
    request: &ContactRequest,
    kind: &str,
    value: &str,
    contact_id: &str,
) -> Result<(), DbError> {
    let insert = diesel::insert_into(contact_keys::table).values((
        contact_keys::account_id.eq(&request.account_id),
        contact_keys::contact_type.eq(&request.contact_type),
        contact_keys::key_kind.eq(kind),
        contact_keys::key_value.eq(value),
        contact_keys::contact_id.eq(contact_id),
    ));
    match conn {
        AnyConnection::Postgresql(c) => insert.on_conflict_do_nothing().execute(c)?,
        AnyConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
    };
    Ok(())
}

/// The lead's deal, once (a retried job finds it made).
fn insert_deal(
    conn: &mut AnyConnection,
    request: &ContactRequest,
    contact: &Contact,
) -> Result<bool, DbError> {
    let Some(deal) = &request.deal else {
        return Ok(false);
    };
    let name = deal_name(
        contact.name.as_deref(),
        contact.first_name.as_deref(),
        contact.last_name.as_deref(),
        contact.email.as_deref(),
        &deal.campaign_name,
    );
    let row = Deal {
        id: new_public_id(),
        account_id: request.account_id.clone(),
        contact_id: contact.id.clone(),
        lead_id: request.lead_id,
        campaign_id: request.campaign_id.clone(),
        name,
        value: deal.settings.value,
        currency: deal.settings.currency.clone(),
        pipeline_id: deal.settings.pipeline_id.clone(),
        stage_id: deal.settings.stage_id.clone(),
        created_at: now(),
    };
    let insert = diesel::insert_into(deals::table).values(&row);
    let inserted = match conn {
        AnyConnection::Postgresql(c) => insert.on_conflict_do_nothing().execute(c)?,
        AnyConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
    };
    Ok(inserted > 0)
}

/// An entry in the lead's `errors` (`{"type", "details", "at"}`), the newest 50 kept.
pub fn add_lead_error(
    conn: &mut AnyConnection,
    lead_id: i64,
    error_type: &str,
    details: &str,
) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        // Two kinds failing on one lead at once each keep their entry (PostgreSQL).
        lock_identity_key(conn, "lead-errors", &lead_id.to_string())?;
        let current: String = leads::table
            .find(lead_id)
            .select(leads::errors_json)
            .first(conn)?;
        let mut errors: Vec<serde_json::Value> = serde_json::from_str(&current).unwrap_or_default();
        errors.push(serde_json::json!({"type": error_type, "details": details,
            "at": super::models::rfc3339(&now())}));
        let keep = errors.len().saturating_sub(50);
        let errors = serde_json::Value::Array(errors.split_off(keep));
        diesel::update(leads::table.find(lead_id))
            .set(leads::errors_json.eq(errors.to_string()))
            .execute(conn)?;
        Ok(())
    })
}

pub fn list_contacts(
    conn: &mut AnyConnection,
    account_id: &str,
    limit: i64,
) -> Result<Vec<Contact>, DbError> {
    Ok(contacts::table
        .filter(contacts::account_id.eq(account_id))
        .order(contacts::created_at.desc())
        .limit(limit)
        .select(Contact::as_select())
        .load(conn)?)
}

pub fn list_deals(
    conn: &mut AnyConnection,
    account_id: &str,
    limit: i64,
) -> Result<Vec<Deal>, DbError> {
    Ok(deals::table
        .filter(deals::account_id.eq(account_id))
        .order(deals::created_at.desc())
        .limit(limit)
        .select(Deal::as_select())
        .load(conn)?)
}
