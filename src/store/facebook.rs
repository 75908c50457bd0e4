//! Facebook page tokens as the Graph fetch and the back-fill use them, and each campaign's
//! `health` row (last lead, last error, how far the back-fill has read).

use super::models::FacebookPageToken;
use super::schema::*;
use super::{now, write_transaction, AnyConnection, DbError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub fn page_token(
    conn: &mut AnyConnection,
    account_id: &str,
    page_id: &str,
) -> Result<Option<FacebookPageToken>, DbError> {
    Ok(facebook_page_tokens::table
        .find((account_id, page_id))
        .first(conn)
        .optional()?)
}

/// Every page token, for the health page (an account has a few).
pub fn all_page_tokens(conn: &mut AnyConnection) -> Result<Vec<FacebookPageToken>, DbError> {
    Ok(facebook_page_tokens::table.load(conn)?)
}

/// Keeps Meta's refusal on the token until it is replaced. True when it was not refused before
/// (the one time it is logged).
pub fn mark_token_refused(
    conn: &mut AnyConnection,
    account_id: &str,
    page_id: &str,
    problem: &str,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        facebook_page_tokens::table
            .find((account_id, page_id))
            .filter(facebook_page_tokens::invalid_reason.is_null()),
    )
    .set(facebook_page_tokens::invalid_reason.eq(problem))
    .execute(conn)?;
    Ok(changed > 0)
}

/// A long-lived token in place of the one it was exchanged for, unless an operator replaced that
/// one meanwhile.
pub fn store_exchanged_token(
    conn: &mut AnyConnection,
    old: &FacebookPageToken,
    access_token: &str,
    expires_at: Option<NaiveDateTime>,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        facebook_page_tokens::table
            .find((&old.account_id, &old.page_id))
            .filter(facebook_page_tokens::access_token.eq(&old.access_token)),
    )
    .set((
        facebook_page_tokens::access_token.eq(access_token),
        facebook_page_tokens::expires_at.eq(expires_at),
        facebook_page_tokens::invalid_reason.eq(None::<String>),
        facebook_page_tokens::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(changed > 0)
}

#[derive(Debug, Clone, Default, PartialEq, Queryable, Selectable)]
#[diesel(table_name = campaign_health)]
pub struct CampaignHealth {
    pub campaign_id: String,
    pub last_lead_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub last_error_at: Option<NaiveDateTime>,
    pub backfilled_from: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

pub fn campaign_health_of(
    conn: &mut AnyConnection,
    campaign_ids: &[String],
) -> Result<Vec<CampaignHealth>, DbError> {
    Ok(campaign_health::table
        .filter(campaign_health::campaign_id.eq_any(campaign_ids))
        .select(CampaignHealth::as_select())
        .load(conn)?)
}

/// The campaign's row, created empty the first time.
fn ensure_row(conn: &mut AnyConnection, campaign_id: &str) -> Result<(), DbError> {
    let insert = diesel::insert_into(campaign_health::table).values((
        campaign_health::campaign_id.eq(campaign_id),
        campaign_health::updated_at.eq(now()),
    ));
    match conn {
        AnyConnection::Postgresql(c) => insert.on_conflict_do_nothing().execute(c)?,
        AnyConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
    };
    Ok(())
}

/// The campaign's last error and its time.
pub fn set_campaign_error(
    conn: &mut AnyConnection,
    campaign_id: &str,
    error: &str,
) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        ensure_row(conn, campaign_id)?;
        let t = now();
        diesel::update(campaign_health::table.find(campaign_id))
            .set((
                campaign_health::last_error.eq(error),
                campaign_health::last_error_at.eq(t),
                campaign_health::updated_at.eq(t),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// A complete back-fill read that started at `from`.
pub fn set_backfilled_from(
    conn: &mut AnyConnection,
    campaign_id: &str,
    from: NaiveDateTime,
) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        ensure_row(conn, campaign_id)?;
        diesel::update(campaign_health::table.find(campaign_id))
            .set((
                campaign_health::backfilled_from.eq(from),
                campaign_health::updated_at.eq(now()),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Each campaign's latest lead, never moved back; all in one transaction (one commit a second).
pub fn record_last_leads(
    conn: &mut AnyConnection,
    latest: &[(String, NaiveDateTime)],
) -> Result<(), DbError> {
    write_transaction(conn, |conn| record_last_leads_in(conn, latest))
}

fn record_last_leads_in(
    conn: &mut AnyConnection,
    latest: &[(String, NaiveDateTime)],
) -> Result<(), DbError> {
    for (campaign_id, at) in latest {
        ensure_row(conn, campaign_id)?;
        diesel::update(
            campaign_health::table.find(campaign_id).filter(
                campaign_health::last_lead_at
                    .is_null()
                    .or(campaign_health::last_lead_at.lt(at)),
            ),
        )
        .set((
            campaign_health::last_lead_at.eq(at),
            campaign_health::updated_at.eq(now()),
        ))
        .execute(conn)?;
    }
    Ok(())
}
