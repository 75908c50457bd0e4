//! The CRM and notification settings of a campaign, checked as a whole after a change is applied
//! (so a `PATCH` of `create_deal` alone is judged with the campaign's pipeline and stage): a
//! setting that could not work is `422` naming its field, never a lead that fails later.

use super::error::ApiError;
use serde_json::{Map, Value};

pub const CONTACT_KINDS: &[&str] = &["person", "business"];
pub const NOTIFICATION_TYPES: &[&str] =
    &["only_send_email", "only_send_sms", "send_email_sms", "none"];

/// A non-empty string or a number (CRM ids come both ways).
fn is_id(value: Option<&Value>) -> bool {
    match value {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    }
}

fn one_of(settings: &Map<String, Value>, field: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match settings.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(_) => Err(ApiError::unprocessable(
            field,
            format!("{field} must be one of {}", allowed.join(", ")),
        )),
    }
}

fn boolean(settings: &Map<String, Value>, field: &str) -> Result<bool, ApiError> {
    match settings.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::unprocessable(
            field,
            format!("{field} must be true or false"),
        )),
    }
}

fn object(settings: &Map<String, Value>, field: &str) -> Result<(), ApiError> {
    match settings.get(field) {
        None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(ApiError::unprocessable(
            field,
            format!("{field} must be an object"),
        )),
    }
}

/// Checks the settings; returns the user ids `selected_user` names, for the caller to find among
/// the account's users.
pub fn check_settings(settings: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    boolean(settings, "add_to_crm")?;
    one_of(settings, "add_person_or_business", CONTACT_KINDS)?;
    one_of(settings, "notification_type", NOTIFICATION_TYPES)?;
    object(settings, "email_details")?;
    object(settings, "sms_details")?;
    if boolean(settings, "create_deal")? {
        let missing: Vec<String> = ["pipeline_id", "stage_id"]
            .into_iter()
            .filter(|field| !is_id(settings.get(*field)))
            .map(String::from)
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::Unprocessable {
                message: format!("create_deal needs {}", missing.join(" and ")),
                fields: missing,
            });
        }
    }
    match settings.get("deal_value") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_f64().is_some_and(|v| v >= 0.0) => {}
        Some(_) => {
            return Err(ApiError::unprocessable(
                "deal_value",
                "deal_value must be a number, 0 or more",
            ))
        }
    }
    match settings.get("currency") {
        None | Some(Value::Null) => {}
        Some(Value::String(c)) if c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()) => {}
        Some(_) => {
            return Err(ApiError::unprocessable(
                "currency",
                "currency must be a three-letter code such as USD",
            ))
        }
    }
    selected_user_ids(settings.get("selected_user"))
}

/// `[{"id": "<user id>", "custom_number": "+1..." or null}, ...]`.
fn selected_user_ids(selected: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::unprocessable(
            "selected_user",
            "selected_user must be a list of {\"id\": <user id>, \"custom_number\": <phone or null>}",
        )
    };
    let items = match selected {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad()),
    };
    items
        .iter()
        .map(|item| {
            let id = item.get("id").and_then(Value::as_str).map(str::trim);
            let number_ok = matches!(
                item.get("custom_number"),
                None | Some(Value::Null) | Some(Value::String(_))
            );
            match (id, number_ok) {
                (Some(id), true) if !id.is_empty() => Ok(id.to_string()),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// The answer for ids that name no user of the account.
pub fn unknown_users_error(unknown: &[String]) -> ApiError {
    ApiError::unprocessable(
        "selected_user",
        format!(
            "selected_user names no user of this account: {}",
            unknown.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(settings: Value) -> Result<Vec<String>, Vec<String>> {
        check_settings(settings.as_object().unwrap()).map_err(|e| match e {
            ApiError::Unprocessable { fields, .. } => fields,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn good_settings_pass_and_name_their_users() {
        let ids = check(json!({
            "add_to_crm": true, "add_person_or_business": "business", "create_deal": true,
            "pipeline_id": 7, "stage_id": "s1", "deal_value": 2500.5, "currency": "EUR",
            "notification_type": "send_email_sms", "email_details": {"subject": "New lead"},
            "sms_details": null,
            "selected_user": [{"id": "u1", "custom_number": null}, {"id": "u2", "custom_number": "+15550100"}]
        }));
        assert_eq!(ids, Ok(vec!["u1".to_string(), "u2".to_string()]));
        assert_eq!(check(json!({})), Ok(vec![]));
    }

    #[test]
    fn a_deal_needs_its_pipeline_and_stage() {
        assert_eq!(
            check(json!({"create_deal": true})),
            Err(vec!["pipeline_id".to_string(), "stage_id".to_string()])
        );
        assert_eq!(
            check(json!({"create_deal": true, "pipeline_id": "p", "stage_id": " "})),
            Err(vec!["stage_id".to_string()])
        );
        assert_eq!(check(json!({"create_deal": false})), Ok(vec![]));
    }

    #[test]
    fn each_bad_setting_is_named() {
        for (settings, field) in [
            (
                json!({"add_person_or_business": "company"}),
                "add_person_or_business",
            ),
            (json!({"notification_type": "pigeon"}), "notification_type"),
            (json!({"add_to_crm": "yes"}), "add_to_crm"),
            (json!({"create_deal": 1}), "create_deal"),
            (json!({"deal_value": -1}), "deal_value"),
            (json!({"deal_value": "100"}), "deal_value"),
            (json!({"currency": "dollars"}), "currency"),
            (json!({"email_details": "hi"}), "email_details"),
            (json!({"selected_user": "u1"}), "selected_user"),
            (
                json!({"selected_user": [{"custom_number": null}]}),
                "selected_user",
            ),
            (json!({"selected_user": [{"id": ""}]}), "selected_user"),
            (
                json!({"selected_user": [{"id": "u1", "custom_number": 5}]}),
                "selected_user",
            ),
        ] {
            assert_eq!(
                check(settings.clone()),
                Err(vec![field.to_string()]),
                "{settings}"
            );
        }
    }
}
