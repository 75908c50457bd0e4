//! `/admin/accounts`: tenants.

use super::admin::{listing, refresh_directory, Reply};
use super::auth::Admin;
use super::error::ApiError;
use super::AppState;
use crate::store::accounts;
use crate::store::models::{rfc3339, Account};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

pub async fn list_accounts(_: Admin, state: web::Data<AppState>) -> Reply {
    let accounts = state.db.read(accounts::list_accounts).await?;
    Ok(listing("accounts", &accounts, account_json))
}

#[derive(Deserialize)]
pub struct AccountInput {
    name: Option<String>,
    active: Option<bool>,
}

pub fn valid_name(name: Option<&str>, required: bool) -> Result<Option<String>, ApiError> {
    match name.map(str::trim) {
        Some(n) if !n.is_empty() && n.chars().count() <= 200 => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::BadRequest(
            "name must be 1 to 200 characters".into(),
        )),
        None if required => Err(ApiError::BadRequest("name is required".into())),
        None => Ok(None),
    }
}

pub async fn create_account(
    _: Admin,
    state: web::Data<AppState>,
    body: web::Json<AccountInput>,
) -> Reply {
    let name = valid_name(body.name.as_deref(), true)?.unwrap_or_default();
    let active = body.active.unwrap_or(true);
    let account = state
        .db
        .run(move |c| accounts::create_account(c, &name, active))
        .await?;
    refresh_directory(&state).await;
    Ok(HttpResponse::Created().json(account_json(&account)))
}

pub async fn update_account(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<AccountInput>,
) -> Reply {
    let name = valid_name(body.name.as_deref(), false)?;
    let active = body.active;
    let id = id.into_inner();
    let account = state
        .db
        .run(move |c| accounts::update_account(c, &id, name.as_deref(), active))
        .await?;
    refresh_directory(&state).await;
    Ok(HttpResponse::Ok().json(account_json(&account)))
}

pub fn account_json(account: &Account) -> Value {
    json!({
        "id": account.id, "name": account.name, "active": account.active, "is_default": account.is_default,
        "created_at": rfc3339(&account.created_at), "updated_at": rfc3339(&account.updated_at),
    })
}
