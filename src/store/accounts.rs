//! Accounts (tenants) and their campaigns.

use super::models::*;
use super::new_public_id;
use super::schema::*;
use super::{now, write_transaction, AnyConnection, DbError};
use diesel::prelude::*;

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
