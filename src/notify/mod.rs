//! The representative's notifications, the pure parts: what a campaign sends
//! (`notification_type`, `email_details`, `sms_details`), the messages of one assignment, and the
//! templates they are written from. Each message is a job of the Notifier (`jobs/notify.rs`); the
//! channels' senders are `sms.rs` (Twilio), `email.rs` (SMTP) and `push.rs` (FCM).

pub mod email;
pub mod push;
pub mod sms;

use crate::crm::AssignmentRequest;
use crate::store::assignments::AssignedTo;
use crate::store::models::NewJob;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The job kind of every notification (one per message: a failed SMS is retried alone).
pub const JOB_KIND: &str = "notify";

/// A campaign's SMS to the representative: `content` a template of the lead's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SmsSettings {
    pub content: Option<String>,
    pub from: Option<String>,
}

/// A campaign's email to the representative (`email_details`): `subject` and `content` are
/// templates of the lead's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmailSettings {
    pub subject: Option<String>,
    pub content: Option<String>,
    pub from: Option<String>,
    pub reply_to: Option<String>,
}

/// What an SMS says when the campaign gives no `content`.
pub const DEFAULT_SMS: &str =
    "New lead for {{project_name}}: {{first_name}} {{phone_e164}} {{email}}";
pub const DEFAULT_EMAIL_SUBJECT: &str = "New lead for {{project_name}}: {{first_name}}";
pub const DEFAULT_EMAIL: &str = "A new lead for {{project_name}} is yours.\n\nName: {{first_name}} {{last_name}}\nEmail: {{email}}\nPhone: {{phone_e164}}\nLead: {{lead_id}}\n";
const PUSH_TITLE: &str = "New lead for {{project_name}}";
const PUSH_BODY: &str = "{{first_name}} {{last_name}} {{phone_e164}} {{email}}";

/// The campaign's email and SMS settings by its `notification_type`.
pub fn notification_settings(
    settings: &serde_json::Map<String, Value>,
) -> (Option<EmailSettings>, Option<SmsSettings>) {
    let kind = settings.get("notification_type").and_then(Value::as_str);
    let text = |details: &str, key: &str| {
        let found = settings.get(details)?.get(key)?.as_str()?.trim();
        (!found.is_empty()).then(|| found.to_string())
    };
    let email = matches!(kind, Some("only_send_email" | "send_email_sms")).then(|| EmailSettings {
        subject: text("email_details", "subject"),
        content: text("email_details", "content"),
        from: text("email_details", "from"),
        reply_to: text("email_details", "reply_to"),
    });
    let sms = matches!(kind, Some("only_send_sms" | "send_email_sms")).then(|| SmsSettings {
        content: text("sms_details", "content"),
        from: text("sms_details", "from"),
    });
    (email, sms)
}

/// One message to a representative: a Notifier job's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "lowercase")]
pub enum Message {
    Sms(SmsMessage),
    Email(EmailMessage),
    Push(PushMessage),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsMessage {
    pub lead_id: i64,
    pub to: String,
    pub from: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailMessage {
    pub lead_id: i64,
    pub to: String,
    pub from: String,
    pub reply_to: Option<String>,
    /// `SMTP_FROM` when the campaign's `from` differs: the envelope's sender (and `Sender:`),
    /// which an authenticated relay checks, while `From` stays the campaign's.
    #[serde(default)]
    pub sender: Option<String>,
    pub subject: String,
    pub body: String,
    /// The campaign's content is HTML (the lead's fields in it were escaped).
    pub html: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushMessage {
    pub lead_id: i64,
    /// The representative's `fcm_token`.
    pub token: String,
    pub title: String,
    pub body: String,
    pub data: BTreeMap<String, String>,
}

impl Message {
    pub fn lead_id(&self) -> i64 {
        match self {
            Message::Sms(m) => m.lead_id,
            Message::Email(m) => m.lead_id,
            Message::Push(m) => m.lead_id,
        }
    }

    pub fn channel(&self) -> &'static str {
        match self {
            Message::Sms(_) => "sms",
            Message::Email(_) => "email",
            Message::Push(_) => "push",
        }
    }

    /// The `type` of the lead's `errors` entry when it fails.
    pub fn error_type(&self) -> &'static str {
        match self {
            Message::Sms(_) => SMS_ERROR,
            Message::Email(_) => EMAIL_ERROR,
            Message::Push(_) => PUSH_ERROR,
        }
    }

    /// One job per channel and lead: written twice (a retried assignment), it is still one.
    pub fn job(&self, lead_public_id: &str) -> NewJob {
        let payload = serde_json::to_string(self).unwrap_or_else(|_| "{}".into());
        let destination = match self {
            Message::Sms(_) => "twilio",
            Message::Email(_) => "smtp",
            Message::Push(_) => "fcm",
        };
        NewJob {
            lead_id: Some(self.lead_id()),
            lead_public_id: Some(lead_public_id.to_string()),
            ..NewJob::pending(
                JOB_KIND,
                format!("{}:{lead_public_id}", self.channel()),
                destination.into(),
                payload,
            )
        }
    }
}

pub const SMS_ERROR: &str = "SmsSendError";
pub const EMAIL_ERROR: &str = "emailSendError";
pub const PUSH_ERROR: &str = "pushSendError";

/// Why a message was not sent, as its sender saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Whether trying again could help (a network error, a 5xx, a 429, a 4xx SMTP reply).
    pub retryable: bool,
    /// The other side's HTTP status or SMTP reply code, when there was one.
    pub status: Option<i32>,
    pub error: String,
}

/// The channels this instance can send on: Twilio's default sender, the SMTP sender's default
/// `From`, and whether FCM is configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Channels {
    pub twilio_from: Option<String>,
    pub smtp_from: Option<String>,
    pub push: bool,
}

/// The messages of one assignment, each `Ok`, or `Err((error type, why))` when the representative
/// cannot be reached on a channel the campaign asks for (no phone, no email). A push goes to every
/// representative with an `fcm_token`; a channel this instance has not configured sends nothing.
pub fn assignment_messages(
    request: &AssignmentRequest,
    assigned: &AssignedTo,
    channels: &Channels,
) -> Vec<Result<Message, (&'static str, String)>> {
    let lead: Value = serde_json::from_str(&assigned.lead_json).unwrap_or_default();
    let lead_id = request.lead_id;
    let mut messages = Vec::new();
    if let (Some(sms), Some(default_from)) = (&request.sms, &channels.twilio_from) {
        let custom_number = request
            .representatives
            .iter()
            .find(|r| r.id == assigned.user_id)
            .and_then(|r| r.custom_number.clone());
        messages.push(match custom_number.or(assigned.phone.clone()) {
            Some(to) => Ok(Message::Sms(SmsMessage {
                lead_id,
                to,
                from: sms.from.clone().unwrap_or_else(|| default_from.clone()),
                body: render_line(sms.content.as_deref().unwrap_or(DEFAULT_SMS), &lead),
            })),
            None => Err((
                SMS_ERROR,
                "the representative has no phone and the campaign no custom_number for them".into(),
            )),
        });
    }
    if let (Some(email), Some(default_from)) = (&request.email, &channels.smtp_from) {
        messages.push(match assigned.email.clone() {
            Some(to) => Ok(Message::Email(email_message(
                lead_id,
                to,
                email,
                default_from,
                &lead,
            ))),
            None => Err((EMAIL_ERROR, "the representative has no email".into())),
        });
    }
    if let (Some(token), true) = (&assigned.fcm_token, channels.push) {
        let data = BTreeMap::from([
            ("lead_id".to_string(), request.lead_public_id.clone()),
            ("account_id".to_string(), request.account_id.clone()),
        ]);
        messages.push(Ok(Message::Push(PushMessage {
            lead_id,
            token: token.clone(),
            title: render_line(PUSH_TITLE, &lead),
            body: render_line(PUSH_BODY, &lead),
            data,
        })));
    }
    messages
}

fn email_message(
    lead_id: i64,
    to: String,
    settings: &EmailSettings,
    default_from: &str,
    lead: &Value,
) -> EmailMessage {
    let content = settings.content.as_deref().unwrap_or(DEFAULT_EMAIL);
    let html = looks_like_html(content);
    let escape: fn(&str) -> String = if html { escape_html } else { str::to_string };
    EmailMessage {
        lead_id,
        to,
        from: settings
            .from
            .clone()
            .unwrap_or_else(|| default_from.to_string()),
        reply_to: settings.reply_to.clone(),
        sender: settings
            .from
            .as_ref()
            .filter(|from| *from != default_from)
            .map(|_| default_from.to_string()),
        subject: render_line(
            settings.subject.as_deref().unwrap_or(DEFAULT_EMAIL_SUBJECT),
            lead,
        ),
        body: render_with(content, lead, escape),
        html,
    }
}

/// Content with a closing tag or a `<br>` is HTML; anything else is plain text.
pub fn looks_like_html(content: &str) -> bool {
    let lower = content.to_ascii_lowercase();
    lower.contains("</") || lower.contains("<br")
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A one-line template (an SMS, a subject, a push): the lead's fields in, then every run of
/// whitespace (blank fields, a newline a visitor typed) one space.
pub fn render_line(template: &str, lead: &Value) -> String {
    let rendered = render_with(template, lead, str::to_string);
    rendered.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A template with `{{key}}` replaced by the lead's field of that name (as forwarded:
/// `first_name`, `email`, `phone_e164`, `project_name`, ...), passed through `escape`; an unknown
/// or empty field is left blank, an unclosed `{{` is kept as written.
pub fn render_with(template: &str, lead: &Value, escape: fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let value = match lead.get(after[..end].trim()) {
            Some(Value::String(s)) => escape(s),
            Some(Value::Null) | None => String::new(),
            Some(other) => escape(&other.to_string()),
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
