//! Representatives (users) of an account and the account's Facebook page tokens.

use super::models::{FacebookPageToken, User};
use super::schema::*;
use super::{AnyConnection, DbError};
use diesel::prelude::*;

pub fn insert_user(conn: &mut AnyConnection, user: &User) -> Result<(), DbError> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)?;
    Ok(())
}

pub fn list_users(conn: &mut AnyConnection, account_id: &str) -> Result<Vec<User>, DbError> {
    Ok(users::table
        .filter(users::account_id.eq(account_id))
        .order((users::created_at.asc(), users::id.asc()))
        .load(conn)?)
}

/// Which of `ids` are not users of the account (a campaign may only name its own).
pub fn unknown_users(
    conn: &mut AnyConnection,
    account_id: &str,
    ids: &[String],
) -> Result<Vec<String>, DbError> {
    let known: Vec<String> = users::table
        .filter(users::account_id.eq(account_id))
        .filter(users::id.eq_any(ids))
        .select(users::id)
        .load(conn)?;
    Ok(ids
        .iter()
        .filter(|id| !known.contains(id))
        .cloned()
        .collect())
}

/// Stores the page's token, replacing the one the account had for that page.
pub fn put_facebook_token(
    conn: &mut AnyConnection,
    token: &FacebookPageToken,
) -> Result<(), DbError> {
    let insert = diesel::insert_into(facebook_page_tokens::table).values(token);
    let replace = (
        facebook_page_tokens::access_token.eq(&token.access_token),
        facebook_page_tokens::expires_at.eq(token.expires_at),
        facebook_page_tokens::updated_at.eq(token.updated_at),
        // A new token is not the refused one.
        facebook_page_tokens::invalid_reason.eq(None::<String>),
    );
    let key = (
        facebook_page_tokens::account_id,
        facebook_page_tokens::page_id,
    );
    match conn {
        AnyConnection::Postgresql(c) => insert
            .on_conflict(key)
            .do_update()
            .set(replace)
            .execute(c)?,
        AnyConnection::Sqlite(c) => insert
            .on_conflict(key)
            .do_update()
            .set(replace)
            .execute(c)?,
    };
    Ok(())
}

pub fn facebook_tokens(
    conn: &mut AnyConnection,
    account_id: &str,
) -> Result<Vec<FacebookPageToken>, DbError> {
    Ok(facebook_page_tokens::table
        .filter(facebook_page_tokens::account_id.eq(account_id))
        .order(facebook_page_tokens::page_id.asc())
        .load(conn)?)
}
