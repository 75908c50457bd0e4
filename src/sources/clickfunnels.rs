//! ClickFunnels: a contact under `data.attributes` (classic) or `data` (v2), signed with
//! HMAC-SHA256 over `<timestamp>.<body>`; `event_id` (else the submission's id) is the lead id.

use super::common::platform::{id_text, platform_submission, stored_object};
use super::common::signature::Scheme;
use super::submission::Submission;
use super::{Auth, Source, StoredRequest};
use serde_json::Value;

pub const NAME: &str = "clickfunnels";

pub struct ClickFunnels;

impl Source for ClickFunnels {
    fn name(&self) -> &'static str {
        NAME
    }

    fn auth(&self) -> Auth {
        Auth::Signature(Scheme::ClickFunnels)
    }

    fn submissions(&self, request: &StoredRequest) -> Result<Vec<Submission>, String> {
        let payload = stored_object(request)?;
        let data = payload.get("data");
        let lead = match (data.and_then(|d| d.get("attributes")), data) {
            (Some(Value::Object(attributes)), _) => Value::Object(attributes.clone()),
            (_, Some(Value::Object(data))) => Value::Object(data.clone()),
            _ => Value::Object(payload.clone()),
        };
        let lead_id = id_text(payload.get("event_id")).or_else(|| id_text(lead.get("id")));
        Ok(vec![platform_submission(
            NAME,
            request,
            &lead,
            Value::Object(payload),
            lead_id,
        )])
    }
}
