//! CRM actions, the pure parts: what a campaign asks for (`add_to_crm`, `add_person_or_business`,
//! `create_deal`), the contact a submission makes, and a deal's name. The ContactCreator
//! (`jobs/crm_contact.rs`) writes them.

use crate::notify::{notification_settings, EmailSettings, SmsSettings};
use crate::sources::common::extract::{extract_contact, Address, ContactKind};
use crate::sources::common::platform::id_text;
use crate::sources::submission::Submission;
use crate::store::models::Campaign;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A campaign's CRM settings, read once per batch.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmSettings {
    pub campaign_name: String,
    /// `add_to_crm`, or a deal (which needs its contact).
    pub makes_contacts: bool,
    pub contact_type: ContactKind,
    pub deal: Option<DealSettings>,
    /// `selected_user`, in the campaign's order: whom its new leads go to, in turn.
    pub representatives: Vec<Representative>,
    /// `sms_details` and `email_details`, when `notification_type` sends them.
    pub sms: Option<SmsSettings>,
    pub email: Option<EmailSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Representative {
    pub id: String,
    pub custom_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealSettings {
    pub pipeline_id: String,
    pub stage_id: String,
    pub value: f64,
    pub currency: String,
}

/// What the campaign asks of each lead: `None` unless it adds contacts, creates deals (a deal
/// needs its contact, so `create_deal` makes the contact too) or assigns representatives.
pub fn crm_settings(campaign: &Campaign) -> Option<CrmSettings> {
    let settings = campaign.settings();
    let flag = |key: &str| settings.get(key).and_then(Value::as_bool).unwrap_or(false);
    let deal = match (
        flag("create_deal"),
        id_text(settings.get("pipeline_id")),
        id_text(settings.get("stage_id")),
    ) {
        (true, Some(pipeline_id), Some(stage_id)) => Some(DealSettings {
            pipeline_id,
            stage_id,
            value: settings
                .get("deal_value")
                .and_then(|v| v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()))
                .unwrap_or(0.0),
            currency: settings
                .get("currency")
                .and_then(Value::as_str)
                .map(str::to_ascii_uppercase)
                .unwrap_or_else(|| "USD".into()),
        }),
        _ => None,
    };
    let representatives = representatives(settings.get("selected_user"));
    let makes_contacts = flag("add_to_crm") || deal.is_some();
    if !makes_contacts && representatives.is_empty() {
        return None;
    }
    let business = settings
        .get("add_person_or_business")
        .and_then(Value::as_str)
        == Some("business");
    let (email, sms) = notification_settings(&settings);
    Some(CrmSettings {
        campaign_name: campaign.name.clone(),
        makes_contacts,
        representatives,
        sms,
        email,
        contact_type: if business {
            ContactKind::Business
        } else {
            ContactKind::Person
        },
        deal,
    })
}

/// `selected_user` as representatives, each once, in order.
fn representatives(selected: Option<&Value>) -> Vec<Representative> {
    let mut found: Vec<Representative> = Vec::new();
    for entry in selected.and_then(Value::as_array).into_iter().flatten() {
        let Some(id) = id_text(entry.get("id")) else {
            continue;
        };
        if found.iter().all(|r| r.id != id) {
            let custom_number = entry.get("custom_number").and_then(Value::as_str);
            found.push(Representative {
                id,
                custom_number: custom_number.map(str::to_string).filter(|n| !n.is_empty()),
            });
        }
    }
    found
}

/// Round robin over the campaign's representatives who are active: the next one after whoever
/// got the previous lead (in the campaign's order), so that with several none gets two leads in a
/// row and over many each gets an even share. `None` when none is active.
pub fn next_representative<'a>(
    representatives: &'a [Representative],
    is_active: impl Fn(&str) -> bool,
    previous: Option<&str>,
) -> Option<&'a Representative> {
    let n = representatives.len();
    let start = previous
        .and_then(|p| representatives.iter().position(|r| r.id == p))
        .map_or(0, |i| i + 1);
    // The previous one comes last: chosen again only when no other is active.
    (0..n)
        .map(|k| &representatives[(start + k) % n])
        .find(|r| is_active(&r.id))
}

/// The Assigner's job: the representative for a new lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignmentRequest {
    pub lead_id: i64,
    pub lead_public_id: String,
    pub account_id: String,
    pub campaign_id: String,
    pub representatives: Vec<Representative>,
    /// The SMS the representative gets, when the campaign sends them.
    #[serde(default)]
    pub sms: Option<SmsSettings>,
    /// The email the representative gets, when the campaign sends them.
    #[serde(default)]
    pub email: Option<EmailSettings>,
}

pub fn contact_type_name(kind: ContactKind) -> &'static str {
    match kind {
        ContactKind::Person => "person",
        ContactKind::Business => "business",
    }
}

/// The contact a submission makes or updates, and the deal its new lead gets: a
/// ContactCreator job's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactRequest {
    pub lead_id: i64,
    pub lead_public_id: String,
    pub account_id: String,
    pub campaign_id: Option<String>,
    pub contact_type: String,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// How the email is compared (trimmed, lowercase).
    pub email_key: Option<String>,
    pub phone: Option<String>,
    pub address: Value,
    /// For a new lead of a campaign that creates deals.
    pub deal: Option<DealRequest>,
    /// The submission, for the support conversation's messages.
    #[serde(default)]
    pub submission_public_id: String,
    #[serde(default)]
    pub lead_source: String,
    #[serde(default)]
    pub submitted_at: String,
}

/// A deal for the lead: named when it is made, from the contact as stored then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealRequest {
    pub campaign_name: String,
    #[serde(flatten)]
    pub settings: DealSettings,
}

/// The contact of a stored submission. A business contact takes the business name first and the
/// business address; a person's name is split at its last space into first and last name.
pub fn contact_request(crm: &CrmSettings, sub: &Submission, lead: (i64, &str)) -> ContactRequest {
    let found = extract_contact(&sub.payload, crm.contact_type);
    let person_name = sub.name.clone().or(found.person_name.clone());
    let name = match crm.contact_type {
        ContactKind::Business => found.business_name.clone().or(person_name.clone()),
        ContactKind::Person => person_name.clone(),
    };
    let (first_name, last_name) = split_name(person_name.as_deref());
    let address = match crm.contact_type {
        ContactKind::Business if found.business_address != Address::default() => {
            &found.business_address
        }
        _ => &found.address,
    };
    // Every submission asks; the lead gets one deal (the first that comes).
    let deal = crm.deal.clone().map(|settings| DealRequest {
        campaign_name: crm.campaign_name.clone(),
        settings,
    });
    ContactRequest {
        lead_id: lead.0,
        lead_public_id: lead.1.to_string(),
        account_id: sub.account_id.clone(),
        campaign_id: sub.campaign_id.clone(),
        contact_type: contact_type_name(crm.contact_type).into(),
        name,
        first_name,
        last_name,
        email: sub.email.clone(),
        email_key: sub.email_key.clone(),
        phone: sub.phone.as_ref().map(|p| p.e164.clone()),
        address: address_json(address),
        deal,
        submission_public_id: sub.public_id.clone(),
        lead_source: sub.lead_source.clone(),
        submitted_at: sub
            .submitted_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// The two messages of a lead received, for the contact as stored (`name`, else its email or
/// phone): `<who> started a new conversation on <time>`, `Lead received for <who>`.
pub fn conversation_messages(
    name: Option<&str>,
    email: Option<&str>,
    phone: Option<&str>,
    submitted_at: &str,
) -> [String; 2] {
    let who = present(name)
        .or(present(email))
        .or(present(phone))
        .unwrap_or("A visitor");
    [
        format!("{who} started a new conversation on {submitted_at}"),
        format!("Lead received for {who}"),
    ]
}

fn address_json(address: &Address) -> Value {
    serde_json::json!({
        "street": address.street, "city": address.city, "state": address.state,
        "postal_code": address.postal_code, "country": address.country,
    })
}

/// A text that says something: trimmed, not empty.
fn present(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|s| !s.is_empty())
}

/// `Ana Maria Lima` → (`Ana Maria`, `Lima`); one word is a first name.
pub fn split_name(name: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return (None, None);
    };
    match name.rsplit_once(' ') {
        Some((first, last)) => (Some(first.trim().to_string()), Some(last.to_string())),
        None => (Some(name.to_string()), None),
    }
}

/// A deal is named by the contact's name, else `first_name last_name`, else the email's local
/// part, else `<campaign name> lead`.
pub fn deal_name(
    name: Option<&str>,
    first_name: Option<&str>,
    last_name: Option<&str>,
    email: Option<&str>,
    campaign_name: &str,
) -> String {
    if let Some(name) = present(name) {
        return name.to_string();
    }
    let parts: Vec<&str> = [present(first_name), present(last_name)]
        .into_iter()
        .flatten()
        .collect();
    if !parts.is_empty() {
        return parts.join(" ");
    }
    match present(email)
        .and_then(|e| e.split('@').next())
        .filter(|l| !l.is_empty())
    {
        Some(local) => local.to_string(),
        None => format!("{campaign_name} lead"),
    }
}

#[cfg(test)]
mod tests;
