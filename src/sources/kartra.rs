//! Kartra: many actions reach the same webhook; only `filled_form` with a form id is a lead, and
//! its fields are under `lead`.

use super::common::platform::{id_text, platform_submission, stored_object};
use super::submission::Submission;
use super::{Auth, Source, StoredRequest};
use serde_json::{Map, Value};

pub const NAME: &str = "kartra";

pub struct Kartra;

fn form_id(payload: &Map<String, Value>) -> Option<String> {
    id_text(payload.get("action_details")?.get("form")?.get("form_id"))
}

impl Source for Kartra {
    fn name(&self) -> &'static str {
        NAME
    }

    fn auth(&self) -> Auth {
        Auth::QueryToken
    }

    fn ignore_reason(
        &self,
        payload: &Map<String, Value>,
        _campaign: &crate::store::models::Campaign,
    ) -> Option<&'static str> {
        if payload.get("action").and_then(Value::as_str) != Some("filled_form") {
            Some("kartra_action_not_filled_form")
        } else if form_id(payload).is_none() {
            Some("kartra_form_without_id")
        } else {
            None
        }
    }

    fn submissions(&self, request: &StoredRequest) -> Result<Vec<Submission>, String> {
        let payload = stored_object(request)?;
        let lead = match payload.get("lead") {
            Some(Value::Object(lead)) => Value::Object(lead.clone()),
            _ => return Err("a Kartra filled_form without its lead".into()),
        };
        let lead_id = id_text(lead.get("id"));
        Ok(vec![platform_submission(
            NAME,
            request,
            &lead,
            Value::Object(payload),
            lead_id,
        )])
    }
}
