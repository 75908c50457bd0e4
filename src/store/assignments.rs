//! Representatives for new leads, in turn per campaign: decided under a lock per campaign
//! (PostgreSQL; SQLite has one writer) in the transaction that records who got the lead, so
//! concurrent leads and several instances agree.

use super::schema::*;
use super::{lock_identity_key, now, write_transaction, AnyConnection, DbError};
use crate::crm::{next_representative, AssignmentRequest};
use diesel::prelude::*;

/// Who got the lead, and what their notifications need: the user's phone, email and FCM token,
/// and the lead's snapshot (its forwarded fields, for templates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedTo {
    pub user_id: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub fcm_token: Option<String>,
    pub lead_json: String,
}

/// What an assignment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assigned {
    /// The lead now goes to this user.
    To(AssignedTo),
    /// A retried job (or a second submission's): the lead had its representative already.
    Already(AssignedTo),
    /// None of the campaign's representatives is an active user of its account.
    NoneActive,
}

pub fn assign_lead(
    conn: &mut AnyConnection,
    request: &AssignmentRequest,
) -> Result<Assigned, DbError> {
    write_transaction(conn, |conn| {
        let lock = format!("assign\u{1f}{}", request.campaign_id);
        lock_identity_key(conn, &request.account_id, &lock)?;
        let current: Option<String> = leads::table
            .find(request.lead_id)
            .select(leads::assigned_user_id)
            .first(conn)?;
        if let Some(user) = current {
            return Ok(Assigned::Already(assigned_to(
                conn,
                &user,
                request.lead_id,
            )?));
        }
        let ids: Vec<&str> = request
            .representatives
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        let active: Vec<String> = users::table
            .filter(users::account_id.eq(&request.account_id))
            .filter(users::id.eq_any(&ids))
            .filter(users::active.eq(true))
            .select(users::id)
            .load(conn)?;
        let previous: Option<String> = campaign_assignments::table
            .find(&request.campaign_id)
            .select(campaign_assignments::last_user_id)
            .first(conn)
            .optional()?;
        let chosen = next_representative(
            &request.representatives,
            |id| active.iter().any(|a| a == id),
            previous.as_deref(),
        );
        let Some(chosen) = chosen else {
            return Ok(Assigned::NoneActive);
        };
        record_turn(conn, &request.campaign_id, &chosen.id, previous.is_some())?;
        diesel::update(leads::table.find(request.lead_id))
            .set(leads::assigned_user_id.eq(&chosen.id))
            .execute(conn)?;
        Ok(Assigned::To(assigned_to(
            conn,
            &chosen.id,
            request.lead_id,
        )?))
    })
}

/// The user and what their notifications need, with the lead's snapshot.
fn assigned_to(
    conn: &mut AnyConnection,
    user_id: &str,
    lead_id: i64,
) -> Result<AssignedTo, DbError> {
    let (phone, email, fcm_token) = users::table
        .find(user_id)
        .select((users::phone, users::email, users::fcm_token))
        .first(conn)?;
    let lead_json: String = leads::table
        .find(lead_id)
        .select(leads::data_json)
        .first(conn)?;
    Ok(AssignedTo {
        user_id: user_id.to_string(),
        phone,
        email,
        fcm_token,
        lead_json,
    })
}

/// The campaign's turn moves to `user`.
fn record_turn(
    conn: &mut AnyConnection,
    campaign_id: &str,
    user: &str,
    exists: bool,
) -> Result<(), DbError> {
    match exists {
        true => diesel::update(campaign_assignments::table.find(campaign_id))
            .set((
                campaign_assignments::last_user_id.eq(user),
                campaign_assignments::assigned.eq(campaign_assignments::assigned + 1),
                campaign_assignments::updated_at.eq(now()),
            ))
            .execute(conn)?,
        false => diesel::insert_into(campaign_assignments::table)
            .values((
                campaign_assignments::campaign_id.eq(campaign_id),
                campaign_assignments::last_user_id.eq(user),
                campaign_assignments::assigned.eq(1),
                campaign_assignments::updated_at.eq(now()),
            ))
            .execute(conn)?,
    };
    Ok(())
}
