//! Unbounce: a form-encoded request whose `data.json` field holds the form as JSON with an array
//! per field (empty arrays are no field, the first element is the value); the page's id and the
//! data together identify the lead, Unbounce sending no lead id.

use super::common::platform::{id_text, platform_submission, stored_object};
use super::common::signature::sha256_hex;
use super::submission::Submission;
use super::{Auth, Source, StoredRequest};
use serde_json::{Map, Value};

pub const NAME: &str = "unbounce";

pub struct Unbounce;

/// `data.json`'s fields: each array's first element, empty arrays dropped.
pub fn unbounce_fields(data_json: &str) -> Result<Map<String, Value>, String> {
    let data: Map<String, Value> =
        serde_json::from_str(data_json).map_err(|e| format!("unreadable data.json: {e}"))?;
    Ok(data
        .into_iter()
        .filter_map(|(key, value)| match value {
            Value::Array(items) => items.into_iter().next().map(|first| (key, first)),
            other => Some((key, other)),
        })
        .collect())
}

impl Source for Unbounce {
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
        let readable = payload
            .get("data.json")
            .and_then(Value::as_str)
            .is_some_and(|data| unbounce_fields(data).is_ok());
        (!readable).then_some("unbounce_without_data_json")
    }

    fn submissions(&self, request: &StoredRequest) -> Result<Vec<Submission>, String> {
        let payload = stored_object(request)?;
        let data = payload
            .get("data.json")
            .and_then(Value::as_str)
            .ok_or("an Unbounce request without data.json")?;
        let mut fields = unbounce_fields(data)?;
        for key in ["page_id", "page_name", "page_url", "variant"] {
            if let (false, Some(value)) = (fields.contains_key(key), payload.get(key)) {
                fields.insert(key.to_string(), value.clone());
            }
        }
        let page = id_text(payload.get("page_id")).unwrap_or_default();
        let lead_id = sha256_hex(format!("{page}\u{1f}{data}").as_bytes());
        let mut submission = platform_submission(
            NAME,
            request,
            &Value::Object(fields),
            Value::Object(payload),
            Some(lead_id),
        );
        submission.page_url = id_text(submission.payload.get("page_url"));
        Ok(vec![submission])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_give_their_first_element_and_empty_ones_nothing() {
        let fields = unbounce_fields(
            r#"{"name": ["Ada"], "empty_field": [], "email": ["a@example.org", "b"]}"#,
        )
        .unwrap();
        assert_eq!(fields.get("name"), Some(&Value::from("Ada")));
        assert_eq!(fields.get("email"), Some(&Value::from("a@example.org")));
        assert!(!fields.contains_key("empty_field"));
        assert!(unbounce_fields("[1]").is_err());
        assert!(unbounce_fields("{").is_err());
    }
}
