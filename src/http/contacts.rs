//! `GET /admin/accounts/{id}/contacts`, `.../deals` and `.../conversations`: the CRM records made
//! from leads.

use super::admin::{listing, Reply, MAX_PAGE};
use super::auth::Admin;
use super::AppState;
use crate::store::accounts;
use crate::store::contacts::{list_contacts, list_deals, Contact, Deal};
use crate::store::conversations::{list_conversations, ConversationView};
use crate::store::models::{parse_json_or, rfc3339};
use actix_web::web;
use serde_json::{json, Value};

fn contact_json(contact: &Contact) -> Value {
    json!({
        "id": contact.id, "account_id": contact.account_id, "type": contact.contact_type,
        "name": contact.name, "first_name": contact.first_name, "last_name": contact.last_name,
        "email": contact.email, "phone": contact.phone,
        "address": parse_json_or(&contact.address_json, json!({})),
        "created_at": rfc3339(&contact.created_at), "updated_at": rfc3339(&contact.updated_at),
    })
}

fn deal_json(deal: &Deal) -> Value {
    json!({
        "id": deal.id, "account_id": deal.account_id, "name": deal.name, "value": deal.value,
        "currency": deal.currency, "pipeline_id": deal.pipeline_id, "stage_id": deal.stage_id,
        "contact_id": deal.contact_id, "campaign_id": deal.campaign_id,
        "created_at": rfc3339(&deal.created_at),
    })
}

/// The account's contacts, newest first (500 at most).
pub async fn list_account_contacts(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Reply {
    let id = id.into_inner();
    let contacts = state
        .db
        .read(move |c| {
            accounts::find_account(c, &id)?;
            list_contacts(c, &id, MAX_PAGE)
        })
        .await?;
    Ok(listing("contacts", &contacts, contact_json))
}

/// The account's deals, newest first (500 at most).
pub async fn list_account_deals(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Reply {
    let id = id.into_inner();
    let deals = state
        .db
        .read(move |c| {
            accounts::find_account(c, &id)?;
            list_deals(c, &id, MAX_PAGE)
        })
        .await?;
    Ok(listing("deals", &deals, deal_json))
}

fn conversation_json(view: &ConversationView) -> Value {
    let rooms: Vec<Value> = view
        .rooms
        .iter()
        .map(|(id, integration, messages)| {
            let messages: Vec<Value> = messages
                .iter()
                .map(|(body, attachments, at)| {
                    json!({"body": body, "attachments": parse_json_or(attachments, json!({})),
                        "created_at": rfc3339(at)})
                })
                .collect();
            json!({"id": id, "integration": integration, "messages": messages})
        })
        .collect();
    json!({"id": view.id, "contact_id": view.contact_id, "created_at": rfc3339(&view.created_at),
        "rooms": rooms})
}

/// The account's support conversations, newest first (100 at most), each room with its newest
/// 200 messages.
pub async fn list_account_conversations(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Reply {
    let id = id.into_inner();
    let conversations = state
        .db
        .read(move |c| {
            accounts::find_account(c, &id)?;
            list_conversations(c, &id, 100)
        })
        .await?;
    Ok(listing("conversations", &conversations, conversation_json))
}
