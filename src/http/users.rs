//! `/admin/accounts/{id}/users` (representatives) and `/admin/accounts/{id}/facebook-token`.

use super::accounts::valid_name;
use super::admin::{listing, refresh_directory, refuse_unknown_keys, Reply};
use super::auth::Admin;
use super::error::ApiError;
use super::AppState;
use crate::jobs::facebook_lead::{self, page_destination};
use crate::jobs::runner::JobsQueued;
use crate::sources::common::extract::looks_like_phone;
use crate::sources::common::fields::is_plausible_email;
use crate::sources::facebook::token_status;
use crate::store::jobs::requeue_dead_jobs;
use crate::store::models::{rfc3339, FacebookPageToken, User};
use crate::store::{self, accounts, now, users};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime};
use serde_json::{json, Map, Value};

const USER_KEYS: &[&str] = &["name", "email", "phone", "fcm_token", "active"];
/// FCM registration tokens are about 160 characters; far longer is not one.
const MAX_FCM_TOKEN: usize = 4096;
const TOKEN_KEYS: &[&str] = &["page_id", "access_token", "expires_at"];

/// A trimmed string or nothing; anything else is `422` naming the field.
fn optional_text(body: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Some(_) => Err(ApiError::unprocessable(
            field,
            format!("{field} must be a string"),
        )),
    }
}

/// A representative from a request body, checked field by field.
pub fn user_from_input(account_id: &str, body: &Map<String, Value>) -> Result<User, ApiError> {
    refuse_unknown_keys(body, "user", |key| USER_KEYS.contains(&key))?;
    let name = valid_name(optional_text(body, "name")?.as_deref(), true)
        .map_err(|e| ApiError::unprocessable("name", e.to_string()))?
        .unwrap_or_default();
    let email = optional_text(body, "email")?;
    if email.as_deref().is_some_and(|e| !is_plausible_email(e)) {
        return Err(ApiError::unprocessable(
            "email",
            "email is not an email address",
        ));
    }
    let phone = optional_text(body, "phone")?;
    if phone.as_deref().is_some_and(|p| !looks_like_phone(p)) {
        return Err(ApiError::unprocessable(
            "phone",
            "phone is not a phone number",
        ));
    }
    let active = match body.get("active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::unprocessable(
                "active",
                "active must be true or false",
            ))
        }
    };
    let fcm_token = optional_text(body, "fcm_token")?;
    if fcm_token.as_ref().is_some_and(|t| t.len() > MAX_FCM_TOKEN) {
        return Err(ApiError::unprocessable(
            "fcm_token",
            "fcm_token is too long",
        ));
    }
    let t = now();
    Ok(User {
        id: store::new_public_id(),
        account_id: account_id.to_string(),
        name,
        email,
        phone,
        fcm_token,
        active,
        created_at: t,
        updated_at: t,
    })
}

pub async fn create_user(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Map<String, Value>>,
) -> Reply {
    let user = user_from_input(&id.into_inner(), &body)?;
    let stored = user.clone();
    state
        .db
        .run(move |c| {
            accounts::find_account(c, &stored.account_id)?;
            users::insert_user(c, &stored)
        })
        .await?;
    Ok(HttpResponse::Created().json(user_json(&user)))
}

pub async fn list_users(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let id = id.into_inner();
    let users = state
        .db
        .read(move |c| {
            accounts::find_account(c, &id)?;
            users::list_users(c, &id)
        })
        .await?;
    Ok(listing("users", &users, user_json))
}

pub fn user_json(user: &User) -> Value {
    json!({
        "id": user.id, "account_id": user.account_id, "name": user.name, "email": user.email,
        "phone": user.phone, "fcm_token": user.fcm_token, "active": user.active,
        "created_at": rfc3339(&user.created_at), "updated_at": rfc3339(&user.updated_at),
    })
}

/// `expires_at` as RFC 3339 text or Unix seconds (what Facebook's token debugger shows).
fn expiry(value: Option<&Value>) -> Result<Option<NaiveDateTime>, ApiError> {
    let bad = || {
        ApiError::unprocessable(
            "expires_at",
            "expires_at must be an RFC 3339 time or Unix seconds",
        )
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s.trim())
            .map(|t| Some(t.naive_utc()))
            .map_err(|_| bad()),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .map(|t| Some(t.naive_utc()))
            .ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// A page token from a request body; the page id may come as a number.
pub fn token_from_input(
    account_id: &str,
    body: &Map<String, Value>,
) -> Result<FacebookPageToken, ApiError> {
    refuse_unknown_keys(body, "token", |key| TOKEN_KEYS.contains(&key))?;
    let page_id = match body.get("page_id") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => optional_text(body, "page_id")?,
    }
    .ok_or_else(|| ApiError::unprocessable("page_id", "page_id is required"))?;
    let access_token = optional_text(body, "access_token")?
        .filter(|t| !t.chars().any(char::is_whitespace))
        .ok_or_else(|| {
            ApiError::unprocessable("access_token", "access_token is required, without spaces")
        })?;
    let t = now();
    Ok(FacebookPageToken {
        account_id: account_id.to_string(),
        page_id,
        access_token,
        expires_at: expiry(body.get("expires_at"))?,
        created_at: t,
        updated_at: t,
        invalid_reason: None,
    })
}

pub async fn put_facebook_token(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<Map<String, Value>>,
) -> Reply {
    let token = token_from_input(&id.into_inner(), &body)?;
    let stored = token.clone();
    let page = page_destination(&token.account_id, &token.page_id);
    let replayed = state
        .db
        .run(move |c| {
            accounts::find_account(c, &stored.account_id)?;
            users::put_facebook_token(c, &stored)?;
            // The page's fetches that waited for a working token go again, however long ago
            // they died (their dead letters may have expired).
            requeue_dead_jobs(c, facebook_lead::NAME, &page)
        })
        .await?;
    if replayed > 0 {
        log::info!(
            "facebook.fetches_replayed page={} count={replayed}",
            token.page_id
        );
        state.facebook.fetcher.do_send(JobsQueued);
    }
    refresh_directory(&state).await;
    state.facebook.read_forms_again();
    Ok(HttpResponse::Ok().json(token_json(&token)))
}

/// The account's page tokens, each with its status (`valid`, `expiring`, `expired`, `invalid`)
/// and Meta's refusal when there is one.
pub async fn list_facebook_tokens(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Reply {
    let id = id.into_inner();
    let tokens = state
        .db
        .read(move |c| {
            accounts::find_account(c, &id)?;
            users::facebook_tokens(c, &id)
        })
        .await?;
    let at = now();
    Ok(listing("facebook_tokens", &tokens, |token| {
        let mut out = token_json(token);
        let status = token_status(
            Some((token.expires_at, token.invalid_reason.as_deref())),
            at,
        );
        out["status"] = status.as_str().into();
        out["problem"] = token.invalid_reason.clone().into();
        out
    }))
}

/// A token as operators see it: never the secret itself, only enough to recognise it.
pub fn token_json(token: &FacebookPageToken) -> Value {
    // A short token's tail would be most of it.
    let shown = if token.access_token.chars().count() >= 16 {
        4
    } else {
        0
    };
    let tail: String = token
        .access_token
        .chars()
        .rev()
        .take(shown)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    json!({
        "account_id": token.account_id, "page_id": token.page_id,
        "access_token": format!("…{tail}"),
        "expires_at": token.expires_at.as_ref().map(rfc3339),
        "updated_at": rfc3339(&token.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: Value) -> Vec<String> {
        match value.as_object() {
            Some(body) => match user_from_input("a", body) {
                Err(ApiError::Unprocessable { fields, .. }) => fields,
                other => panic!("{other:?}"),
            },
            None => unreachable!(),
        }
    }

    #[test]
    fn a_user_is_checked_field_by_field() {
        let body = json!({"name": " Ravi ", "email": "ravi@example.com", "phone": "+91 98123 45678",
            "fcm_token": "tok", "active": false});
        let user = user_from_input("a", body.as_object().unwrap()).unwrap();
        assert_eq!(user.name, "Ravi");
        assert!(!user.active);
        assert_eq!(fields(json!({"email": "r@example.com"})), vec!["name"]);
        assert_eq!(fields(json!({"name": "R", "email": "nope"})), vec!["email"]);
        assert_eq!(
            fields(json!({"name": "R", "phone": "call me"})),
            vec!["phone"]
        );
        assert_eq!(
            fields(json!({"name": "R", "active": "yes"})),
            vec!["active"]
        );
        assert_eq!(fields(json!({"name": "R", "role": "boss"})), vec!["role"]);
        assert_eq!(fields(json!({"name": 5})), vec!["name"]);
    }

    #[test]
    fn a_token_takes_numbers_and_both_expiry_forms_and_never_shows_the_secret() {
        let body = json!({"page_id": 1029384756, "access_token": "EAAB-secret-abcd", "expires_at": 1_900_000_000});
        let token = token_from_input("a", body.as_object().unwrap()).unwrap();
        assert_eq!(token.page_id, "1029384756");
        assert_eq!(
            token.expires_at.unwrap().and_utc().timestamp(),
            1_900_000_000
        );
        let shown = token_json(&token).to_string();
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("abcd"), "{shown}");
        let text =
            json!({"page_id": "p", "access_token": "t", "expires_at": "2027-01-01T00:00:00Z"});
        assert!(token_from_input("a", text.as_object().unwrap()).is_ok());
        for (bad, field) in [
            (json!({"access_token": "t"}), "page_id"),
            (json!({"page_id": "p"}), "access_token"),
            (
                json!({"page_id": "p", "access_token": "a b"}),
                "access_token",
            ),
            (
                json!({"page_id": "p", "access_token": "t", "expires_at": "soon"}),
                "expires_at",
            ),
            (
                json!({"page_id": "p", "access_token": "t", "scope": "x"}),
                "scope",
            ),
        ] {
            match token_from_input("a", bad.as_object().unwrap()) {
                Err(ApiError::Unprocessable { fields, .. }) => assert_eq!(fields, vec![field]),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
