//! Support conversations: one per contact, a room per lead source, two messages for each lead
//! received (the second with the platform and the raw payload). Written in the contact's
//! transaction; each submission's messages once.

use super::contacts::Contact;
use super::schema::*;
use super::{new_public_id, now, AnyConnection, DbError};
use crate::crm::{conversation_messages, ContactRequest};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{json, Value};

/// The contact's conversation and the request's room, with the submission's two messages.
pub fn add_lead_messages(
    conn: &mut AnyConnection,
    request: &ContactRequest,
    contact: &Contact,
) -> Result<(), DbError> {
    let contact_id = contact.id.as_str();
    let conversation = match conversations::table
        .filter(conversations::contact_id.eq(contact_id))
        .select(conversations::id)
        .first::<String>(conn)
        .optional()?
    {
        Some(id) => id,
        None => {
            let id = new_public_id();
            diesel::insert_into(conversations::table)
                .values((
                    conversations::id.eq(&id),
                    conversations::account_id.eq(&request.account_id),
                    conversations::contact_id.eq(contact_id),
                    conversations::created_at.eq(now()),
                ))
                .execute(conn)?;
            id
        }
    };
    let room = room_of(conn, &conversation, &request.lead_source)?;
    let payload: Value = lead_submissions::table
        .filter(lead_submissions::public_id.eq(&request.submission_public_id))
        .select(lead_submissions::payload_json)
        .first::<String>(conn)
        .optional()?
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    let attachments = [
        json!({}),
        json!({"platform": request.lead_source, "payload": payload}),
    ];
    let messages = conversation_messages(
        contact.name.as_deref(),
        contact.email.as_deref(),
        contact.phone.as_deref(),
        &request.submitted_at,
    );
    for (position, (body, attached)) in messages.iter().zip(attachments).enumerate() {
        let insert = diesel::insert_into(conversation_messages::table).values((
            conversation_messages::id.eq(new_public_id()),
            conversation_messages::room_id.eq(&room),
            conversation_messages::submission_public_id.eq(&request.submission_public_id),
            conversation_messages::position.eq(position as i32),
            conversation_messages::body.eq(body),
            conversation_messages::attachments_json.eq(attached.to_string()),
            conversation_messages::created_at.eq(now()),
        ));
        match conn {
            AnyConnection::Postgresql(c) => insert.on_conflict_do_nothing().execute(c)?,
            AnyConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
        };
    }
    Ok(())
}

/// The conversation's room for a lead source, made the first time.
fn room_of(
    conn: &mut AnyConnection,
    conversation: &str,
    integration: &str,
) -> Result<String, DbError> {
    let found = conversation_rooms::table
        .filter(conversation_rooms::conversation_id.eq(conversation))
        .filter(conversation_rooms::integration.eq(integration))
        .select(conversation_rooms::id)
        .first::<String>(conn)
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    let id = new_public_id();
    diesel::insert_into(conversation_rooms::table)
        .values((
            conversation_rooms::id.eq(&id),
            conversation_rooms::conversation_id.eq(conversation),
            conversation_rooms::integration.eq(integration),
            conversation_rooms::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(id)
}

/// A message: its body, its attachments (JSON text) and its time.
pub type Message = (String, String, NaiveDateTime);
/// A room: its id, its integration and its messages in order.
pub type Room = (String, String, Vec<Message>);

/// A conversation as operators read it.
#[derive(Debug, Clone)]
pub struct ConversationView {
    pub id: String,
    pub contact_id: String,
    pub created_at: NaiveDateTime,
    pub rooms: Vec<Room>,
}

/// The account's newest conversations (`limit`), each room with its newest 200 messages.
pub fn list_conversations(
    conn: &mut AnyConnection,
    account_id: &str,
    limit: i64,
) -> Result<Vec<ConversationView>, DbError> {
    let found: Vec<(String, String, NaiveDateTime)> = conversations::table
        .filter(conversations::account_id.eq(account_id))
        .order(conversations::created_at.desc())
        .limit(limit)
        .select((
            conversations::id,
            conversations::contact_id,
            conversations::created_at,
        ))
        .load(conn)?;
    let mut views = Vec::with_capacity(found.len());
    for (id, contact_id, created_at) in found {
        let rooms: Vec<(String, String)> = conversation_rooms::table
            .filter(conversation_rooms::conversation_id.eq(&id))
            .order(conversation_rooms::created_at.asc())
            .select((conversation_rooms::id, conversation_rooms::integration))
            .load(conn)?;
        let mut with_messages = Vec::with_capacity(rooms.len());
        for (room, integration) in rooms {
            let mut messages: Vec<Message> = conversation_messages::table
                .filter(conversation_messages::room_id.eq(&room))
                .order((
                    conversation_messages::created_at.desc(),
                    conversation_messages::position.desc(),
                ))
                .limit(200)
                .select((
                    conversation_messages::body,
                    conversation_messages::attachments_json,
                    conversation_messages::created_at,
                ))
                .load(conn)?;
            messages.reverse();
            with_messages.push((room, integration, messages));
        }
        views.push(ConversationView {
            id,
            contact_id,
            created_at,
            rooms: with_messages,
        });
    }
    Ok(views)
}
