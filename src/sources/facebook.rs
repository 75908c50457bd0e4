//! Facebook Lead Ads, the pure parts: the webhook's signature and its `leadgen` changes, a Graph
//! lead's `field_data` as fields, Meta's test leads, and how a Graph error is handled. The route,
//! the Graph fetch (a job kind) and the back-fill that use them are being built (issue 9); until
//! then this source is not in `SOURCES`.

use super::common::platform::id_text;
use super::common::signature::verify_hex_sha256;
use serde_json::{Map, Value};

pub const NAME: &str = "facebook_ads";

/// `X-Hub-Signature-256: sha256=<hex>` over the raw body with the app secret (constant time).
pub fn signature_matches(header: Option<&str>, body: &[u8], app_secret: &str) -> bool {
    header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .is_some_and(|hex| verify_hex_sha256(app_secret, &[body], hex).is_ok())
}

/// One new lead a webhook announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadgenChange {
    pub leadgen_id: String,
    pub page_id: String,
    pub form_id: Option<String>,
}

/// Every `entry[].changes[]` with `field = "leadgen"` (a batch may hold many; ids are strings
/// or numbers; the page id falls back to the entry's). Changes without a lead id are skipped.
pub fn leadgen_changes(webhook: &Value) -> Vec<LeadgenChange> {
    let entries = webhook.get("entry").and_then(Value::as_array);
    entries
        .into_iter()
        .flatten()
        .flat_map(|entry| {
            let changes = entry.get("changes").and_then(Value::as_array);
            changes.into_iter().flatten().filter_map(move |change| {
                if change.get("field").and_then(Value::as_str) != Some("leadgen") {
                    return None;
                }
                let value = change.get("value")?;
                Some(LeadgenChange {
                    leadgen_id: id_text(value.get("leadgen_id"))?,
                    page_id: id_text(value.get("page_id")).or_else(|| id_text(entry.get("id")))?,
                    form_id: id_text(value.get("form_id")),
                })
            })
        })
        .collect()
}

/// A Graph lead's `field_data` (`[{"name", "values": [...]}]`) as fields, each its first value.
pub fn graph_lead_fields(lead: &Value) -> Map<String, Value> {
    let items = lead.get("field_data").and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let name = item.get("name")?.as_str()?.to_string();
            let first = item.get("values")?.as_array()?.first()?.clone();
            Some((name, first))
        })
        .collect()
}

/// Meta's "test this form" leads: `<test lead: dummy data for ...>` values or Meta's test
/// addresses. They are stored and flagged `test_lead`, never mistaken for a person.
pub fn is_meta_test_lead(fields: &Map<String, Value>) -> bool {
    fields.values().filter_map(Value::as_str).any(|value| {
        let value = value.trim().to_ascii_lowercase();
        value.starts_with("<test lead: dummy data for")
            || value == "test@meta.com"
            || value == "test@fb.com"
    })
}

/// What to do about a Graph API error, by its `error.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphErrorHandling {
    /// 190: the page token expired or was revoked; recorded on the campaign and kept until a
    /// token update, never dropped.
    TokenInvalid,
    /// 1, 2, 4, 17, 32, 613: transient or rate limited; retried with backoff.
    Retry,
    /// 100, 33: the object does not exist or cannot be read; recorded as failed.
    Failed,
}

pub fn graph_error_handling(error: &Value) -> GraphErrorHandling {
    match error.pointer("/error/code").and_then(Value::as_i64) {
        Some(190) => GraphErrorHandling::TokenInvalid,
        Some(100 | 33) => GraphErrorHandling::Failed,
        // 1, 2, 4, 17, 32, 613, and what Meta has not documented: a retry costs little.
        _ => GraphErrorHandling::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/facebook/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn the_signed_webhook_verifies_and_nothing_else_does() {
        let body = fixture("webhook.json");
        let header = "sha256=7252589f15d153eba336132bc84e2f07d4693ef870c4ca6d76c2d5662c5b2db0";
        assert!(signature_matches(Some(header), &body, "test_app_secret"));
        assert!(!signature_matches(Some(header), &body, "other_secret"));
        assert!(!signature_matches(
            Some(header),
            &body[1..],
            "test_app_secret"
        ));
        assert!(!signature_matches(None, &body, "test_app_secret"));
        assert!(!signature_matches(
            Some("sha1=00"),
            &body,
            "test_app_secret"
        ));
        assert!(!signature_matches(
            Some("sha256=zz"),
            &body,
            "test_app_secret"
        ));
    }

    #[test]
    fn leadgen_changes_are_read_with_ids_of_either_type() {
        let webhook: Value = serde_json::from_slice(&fixture("webhook.json")).unwrap();
        assert_eq!(
            leadgen_changes(&webhook),
            vec![LeadgenChange {
                leadgen_id: "233370042045345".into(),
                page_id: "138124712925158".into(),
                form_id: Some("172036835026334".into()),
            }]
        );
        let batched = json!({"object": "page", "entry": [
            {"id": 111, "changes": [
                {"field": "leadgen", "value": {"leadgen_id": 1, "form_id": 2}},
                {"field": "feed", "value": {"post_id": "x"}},
                {"field": "leadgen", "value": {"form_id": 3}}
            ]},
            {"id": "222", "changes": [{"field": "leadgen", "value": {"leadgen_id": "9", "page_id": 222}}]}
        ]});
        let changes = leadgen_changes(&batched);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].page_id, "111");
        assert_eq!(changes[0].leadgen_id, "1");
        assert_eq!(changes[1].form_id, None);
        for hostile in [
            json!(null),
            json!({"entry": "x"}),
            json!({"entry": [{"changes": {}}]}),
        ] {
            assert!(leadgen_changes(&hostile).is_empty());
        }
    }

    #[test]
    fn a_graph_lead_becomes_fields_and_test_leads_are_recognised() {
        let lead: Value =
            serde_json::from_slice(&fixture("graph_lead_233370042045345.json")).unwrap();
        let fields = graph_lead_fields(&lead);
        assert_eq!(fields["full_name"], "Joe Example");
        assert_eq!(fields["phone_number"], "+12025550143");
        assert_eq!(fields["car_make"], "Honda");
        assert!(!is_meta_test_lead(&fields));
        let test = json!({"field_data": [
            {"name": "full_name", "values": ["<test lead: dummy data for full_name>"]},
            {"name": "email", "values": ["test@meta.com"]}
        ]});
        assert!(is_meta_test_lead(&graph_lead_fields(&test)));
        let fb = json!({"field_data": [{"name": "email", "values": [" TEST@FB.COM "]}]});
        assert!(is_meta_test_lead(&graph_lead_fields(&fb)));
    }

    #[test]
    fn graph_errors_are_handled_by_their_code() {
        let expired: Value =
            serde_json::from_slice(&fixture("graph_error_expired_token.json")).unwrap();
        assert_eq!(
            graph_error_handling(&expired),
            GraphErrorHandling::TokenInvalid
        );
        for code in [1, 2, 4, 17, 32, 613] {
            let error = json!({"error": {"code": code}});
            assert_eq!(
                graph_error_handling(&error),
                GraphErrorHandling::Retry,
                "{code}"
            );
        }
        for code in [100, 33] {
            let error = json!({"error": {"code": code}});
            assert_eq!(
                graph_error_handling(&error),
                GraphErrorHandling::Failed,
                "{code}"
            );
        }
    }
}
