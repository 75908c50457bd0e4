//! Website form fields, found by name with the usual aliases and case variations.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// The fields leadgate understands in a website form, as given (trimmed, never empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebsiteFields {
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub country_code: Option<String>,
    pub project: Option<String>,
    pub location: Option<String>,
    pub team: Option<String>,
    pub visitor_id: Option<String>,
    pub session_id: Option<String>,
    pub cta: Option<String>,
    pub page_url: Option<String>,
    pub refered_by: Option<String>,
    pub searched_keyword: Option<String>,
    pub message: Option<String>,
    pub utm: BTreeMap<String, String>,
    pub test_lead: bool,
    pub honeypot: Option<String>,
    pub form_rendered_at_ms: Option<i64>,
}

const NAME: &[&str] = &[
    "name",
    "full_name",
    "fullname",
    "your_name",
    "contact_name",
    "customer_name",
];
pub const FIRST_NAME: &[&str] = &["first_name", "firstname", "fname", "given_name"];
pub const LAST_NAME: &[&str] = &["last_name", "lastname", "lname", "surname", "family_name"];
const EMAIL: &[&str] = &[
    "email",
    "e_mail",
    "email_address",
    "emailaddress",
    "your_email",
    "mail",
];
const PHONE: &[&str] = &[
    "phone",
    "phone_number",
    "phonenumber",
    "mobile",
    "mobile_number",
    "mobile_no",
    "telephone",
    "tel",
    "contact_number",
    "phone_no",
    "your_phone",
    "whatsapp",
    "whatsapp_number",
];
const COUNTRY_CODE: &[&str] = &[
    "country_code",
    "dial_code",
    "phone_country_code",
    "calling_code",
    "countrycode",
];
const PROJECT: &[&str] = &["project", "project_name", "projectname"];
const LOCATION: &[&str] = &["location", "user_location", "city"];
const TEAM: &[&str] = &["team", "source_team"];
const VISITOR_ID: &[&str] = &["visitor_id", "visitorid"];
const SESSION_ID: &[&str] = &["session_id", "sessionid"];
const CTA: &[&str] = &["cta"];
const PAGE_URL: &[&str] = &["page_url", "pageurl", "page", "url"];
const REFERED_BY: &[&str] = &[
    "refered_by",
    "referred_by",
    "referrer",
    "referer",
    "referral",
];
const SEARCHED_KEYWORD: &[&str] = &["searched_keyword", "search_keyword", "keyword"];
const MESSAGE: &[&str] = &[
    "message", "comments", "comment", "msg", "enquiry", "inquiry", "notes",
];
const UTM: &[&str] = &[
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
];
const TEST_LEAD: &[&str] = &["test_lead", "testlead", "is_test"];
pub const HONEYPOT_FIELD: &str = "__pg_hp";
pub const RENDER_TIME_FIELD: &str = "__pg_ts";

/// Lowercase, `-`/space/`.` as `_`, a trailing `*` dropped: `"First-Name*"` is `first_name`.
pub fn normalize_key(key: &str) -> String {
    key.trim()
        .trim_end_matches('*')
        .trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// A field's value as text: strings trimmed, numbers and booleans written out, the first
/// non-empty element of an array; objects and nulls are no value.
pub fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => items.iter().find_map(value_text),
        Value::Object(_) | Value::Null => None,
    }
}

/// Top-level fields, then those one level down (`{"fields": {...}}`), by normalized key.
struct FieldIndex<'a> {
    by_key: HashMap<String, &'a Value>,
}

impl<'a> FieldIndex<'a> {
    fn new(fields: &'a Map<String, Value>) -> Self {
        let mut by_key = HashMap::with_capacity(fields.len());
        for (key, value) in fields {
            by_key.entry(normalize_key(key)).or_insert(value);
        }
        for value in fields.values() {
            if let Value::Object(inner) = value {
                for (key, value) in inner {
                    by_key.entry(normalize_key(key)).or_insert(value);
                }
            }
        }
        FieldIndex { by_key }
    }

    fn text(&self, aliases: &[&str]) -> Option<String> {
        aliases
            .iter()
            .find_map(|alias| self.by_key.get(*alias).and_then(|v| value_text(v)))
    }
}

pub fn extract_website_fields(fields: &Map<String, Value>) -> WebsiteFields {
    let index = FieldIndex::new(fields);
    let utm = UTM
        .iter()
        .filter_map(|key| index.text(&[key]).map(|v| (key.to_string(), v)))
        .collect();
    WebsiteFields {
        name: index.text(NAME),
        first_name: index.text(FIRST_NAME),
        last_name: index.text(LAST_NAME),
        email: index.text(EMAIL),
        phone: index.text(PHONE),
        country_code: index.text(COUNTRY_CODE),
        project: index.text(PROJECT),
        location: index.text(LOCATION),
        team: index.text(TEAM),
        visitor_id: index.text(VISITOR_ID),
        session_id: index.text(SESSION_ID),
        cta: index.text(CTA),
        page_url: index.text(PAGE_URL),
        refered_by: index.text(REFERED_BY),
        searched_keyword: index.text(SEARCHED_KEYWORD),
        message: index.text(MESSAGE),
        utm,
        test_lead: index.text(TEST_LEAD).is_some_and(|v| is_truthy(&v)),
        honeypot: index.text(&[HONEYPOT_FIELD]),
        form_rendered_at_ms: index
            .text(&[RENDER_TIME_FIELD])
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as i64),
    }
}

fn is_truthy(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

impl WebsiteFields {
    /// The name as given: `name`, else `first_name last_name`.
    pub fn display_name(&self) -> Option<String> {
        self.name.clone().or_else(|| {
            let joined = [self.first_name.as_deref(), self.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            Some(joined).filter(|s| !s.is_empty())
        })
    }
}

/// A syntactically plausible address: one `@`, a dot in the domain, no spaces.
pub fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.len() <= 254
}

/// The lookup key for an email: trimmed and lowercase.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Which contact fields are missing or unusable, when none is usable (the 422 answer).
pub fn missing_contact(fields: &WebsiteFields) -> Option<Vec<&'static str>> {
    let has_name = fields.display_name().is_some();
    let has_email = fields.email.as_deref().is_some_and(is_plausible_email);
    let has_phone = fields
        .phone
        .as_deref()
        .is_some_and(|p| p.chars().filter(char::is_ascii_digit).count() >= 5);
    if has_name || has_email || has_phone {
        None
    } else {
        Some(vec!["name", "email", "phone"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn fixture_fields() {
        let raw = include_str!("../../../tests/fixtures/website/form.json");
        let f = extract_website_fields(&obj(serde_json::from_str(raw).unwrap()));
        assert_eq!(f.name.as_deref(), Some("Priya Sharma"));
        assert_eq!(f.email.as_deref(), Some("priya@example.com"));
        assert_eq!(f.phone.as_deref(), Some("9999999999"));
        assert_eq!(f.country_code.as_deref(), Some("+91"));
        assert_eq!(f.project.as_deref(), Some("Skyline Towers"));
        assert_eq!(f.refered_by.as_deref(), Some("google"));
        assert_eq!(f.honeypot, None);
    }

    #[test]
    fn aliases_and_case_variations() {
        let f = extract_website_fields(&obj(json!({
            "First Name*": "Ada", "LAST-NAME": "Lovelace", "E-Mail": " ADA@Example.com ",
            "Mobile": 4915112345678u64, "Referred_By": "friend", "utm_source": "fb",
            "test_lead": "yes", "__pg_ts": "1700000000000", "fields": {"project": "Nested"}
        })));
        assert_eq!(f.display_name().as_deref(), Some("Ada Lovelace"));
        assert_eq!(f.email.as_deref(), Some("ADA@Example.com"));
        assert_eq!(f.phone.as_deref(), Some("4915112345678"));
        assert_eq!(f.refered_by.as_deref(), Some("friend"));
        assert_eq!(f.utm.get("utm_source").map(String::as_str), Some("fb"));
        assert!(f.test_lead);
        assert_eq!(f.form_rendered_at_ms, Some(1_700_000_000_000));
        assert_eq!(f.project.as_deref(), Some("Nested"));
    }

    #[test]
    fn contact_is_required() {
        let none = extract_website_fields(&obj(json!({"project": "x", "email": "not-an-email"})));
        assert_eq!(missing_contact(&none), Some(vec!["name", "email", "phone"]));
        let phone = extract_website_fields(&obj(json!({"phone": "+1 555 010 0199"})));
        assert_eq!(missing_contact(&phone), None);
    }

    #[test]
    fn emails() {
        assert!(is_plausible_email("a@b.co"));
        assert!(!is_plausible_email("a b@c.co"));
        assert!(!is_plausible_email("@c.co"));
        assert!(!is_plausible_email("a@co"));
        assert_eq!(email_key("  A@B.Co "), "a@b.co");
    }
}
