//! The field extraction rules of the platforms (spec section 4): a person's or a business's name,
//! email, phone, country and address out of whatever object a platform sends, by priority lists
//! of field names (case-insensitive, a trailing `*` ignored, nested objects searched after the
//! top level), with a pattern search over all string values as the fallback for email and phone.
//! Pure: no I/O, no clock.

use super::fields::{is_plausible_email, normalize_key, value_text, FIRST_NAME, LAST_NAME};
use super::phone::{normalize_phone, Phone};
use serde_json::Value;
use std::collections::HashMap;

/// Which contact a campaign creates (`add_person_or_business`): it decides whose name comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContactKind {
    #[default]
    Person,
    Business,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// What the rules found, as the platform wrote it (trimmed, never empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The contact's name: the person's, or for a business the business name when there is one.
    pub name: Option<String>,
    pub person_name: Option<String>,
    pub business_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The calling code the platform sent beside the phone (`phone_country_code`).
    pub phone_country_code: Option<String>,
    pub country: Option<String>,
    pub address: Address,
    pub business_address: Address,
}

const PERSON_NAME: &[&str] = &[
    "name",
    "full_name",
    "fullname",
    "your_name",
    "contact_name",
    "customer_name",
    "formatted_customer_name",
    "cnam",
];
const BUSINESS_NAME: &[&str] = &[
    "company_name",
    "business_name",
    "company",
    "business",
    "organization",
    "organisation",
    "organization_name",
    "firm_name",
];
const EMAIL: &[&str] = &[
    "email",
    "email_address",
    "e_mail",
    "emailaddress",
    "your_email",
    "contact_email",
    "work_email",
    "mail",
];
const PHONE: &[&str] = &[
    "phone",
    "phone_number",
    "phonenumber",
    "mobilephone",
    "mobile_phone",
    "mobile",
    "mobile_number",
    "cell",
    "cell_phone",
    "telephone",
    "tel",
    "customer_phone_number",
    "caller_number",
    "contact_number",
    "phone_no",
    "your_phone",
    "whatsapp",
    "whatsapp_number",
    "work_phone_number",
];
const PHONE_COUNTRY_CODE: &[&str] = &[
    "phone_country_code",
    "country_calling_code",
    "calling_code",
    "dial_code",
];
const COUNTRY: &[&str] = &["country", "country_name", "customer_country"];
const STREET: &[&str] = &[
    "address",
    "street_address",
    "street",
    "address1",
    "address_1",
    "address_line_1",
    "address_line1",
];
const CITY: &[&str] = &["city", "customer_city", "town"];
const STATE: &[&str] = &["state", "customer_state", "province", "region"];
const POSTAL_CODE: &[&str] = &[
    "zip",
    "zip_code",
    "zipcode",
    "postal_code",
    "postcode",
    "post_code",
];
const BUSINESS_STREET: &[&str] = &["company_address", "business_address", "company_street"];
const BUSINESS_CITY: &[&str] = &["company_city", "business_city"];
const BUSINESS_STATE: &[&str] = &["company_state", "business_state"];
const BUSINESS_POSTAL_CODE: &[&str] = &[
    "company_zip",
    "business_zip",
    "company_postal_code",
    "business_postal_code",
];
const BUSINESS_COUNTRY: &[&str] = &["company_country", "business_country"];
/// Numbers that belong to the business or the tracking line, never the caller's (CallRail, CTM).
const NOT_THE_PERSONS_PHONE: &[&str] = &[
    "business_phone_number",
    "business_number",
    "tracking_phone_number",
    "tracking_number",
    "trackingnum",
];

/// The fields of `payload` (an object; anything else has none) by the rules, for `kind`.
pub fn extract_contact(payload: &Value, kind: ContactKind) -> Extracted {
    let index = FieldIndex::new(payload);
    let person_name = index.person_name();
    let business_name = index.text(BUSINESS_NAME);
    let name = match kind {
        ContactKind::Business => business_name.clone().or_else(|| person_name.clone()),
        ContactKind::Person => person_name.clone(),
    };
    let email = index
        .text(EMAIL)
        .filter(|e| is_plausible_email(e))
        .or_else(|| index.first_value(|key, text| !is_excluded(key) && is_plausible_email(text)));
    let phone_country_code = index.text(PHONE_COUNTRY_CODE);
    let country = index.text(COUNTRY);
    // A value found only by its look must also be a valid number where the lead is.
    let valid_phone = |text: &str| {
        looks_like_phone(text)
            && format_phone(text, phone_country_code.as_deref(), country.as_deref()).is_some()
    };
    let phone = index
        .text(PHONE)
        .filter(|p| looks_like_phone(p))
        .or_else(|| index.first_value(|key, text| !is_excluded(key) && valid_phone(text)));
    let address = Address {
        street: index.text(STREET),
        city: index.text(CITY),
        state: index.text(STATE),
        postal_code: index.text(POSTAL_CODE),
        country: index.text(COUNTRY),
    };
    let business_address = Address {
        street: index
            .text(BUSINESS_STREET)
            .or_else(|| address.street.clone()),
        city: index.text(BUSINESS_CITY).or_else(|| address.city.clone()),
        state: index.text(BUSINESS_STATE).or_else(|| address.state.clone()),
        postal_code: index
            .text(BUSINESS_POSTAL_CODE)
            .or_else(|| address.postal_code.clone()),
        country: index
            .text(BUSINESS_COUNTRY)
            .or_else(|| address.country.clone()),
    };
    Extracted {
        name,
        person_name,
        business_name,
        email,
        phone,
        phone_country_code,
        country: address.country.clone(),
        address,
        business_address,
    }
}

/// Ids, addresses, codes, times and amounts, and the business's own numbers, are never searched
/// for a person's email or phone.
fn is_excluded(key: &str) -> bool {
    const NOT_CONTACT: &[&str] = &["ip", "zip", "postal", "time", "date", "amount", "price"];
    key.ends_with("id")
        || NOT_THE_PERSONS_PHONE.contains(&key)
        || NOT_CONTACT.iter().any(|part| key.contains(part))
}

/// A whole value that reads as a phone number: digits with the usual separators, 7 to 15 digits,
/// a `+` only in front; not a date (`2017-11-15`, `15/11/2017`), a time or a decimal.
pub fn looks_like_phone(text: &str) -> bool {
    let text = text.trim();
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '(' | ')' | '-' | '.' | '/');
    let body = text.strip_prefix('+').unwrap_or(text);
    (7..=15).contains(&digits)
        && body.chars().all(allowed)
        && !looks_like_date(body)
        && !looks_like_ip_address(body)
        && {
            let dots = body.matches('.').count();
            dots == 0 || dots >= 2
        }
}

/// `127.0.0.1`: four groups of one to three digits between dots.
fn looks_like_ip_address(text: &str) -> bool {
    let groups: Vec<&str> = text.split('.').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| (1..=3).contains(&g.len()) && g.chars().all(|c| c.is_ascii_digit()))
}

/// `yyyy-mm-dd`, `dd/mm/yyyy`, `mm.dd.yyyy` and the like: three groups, one of four digits at an
/// end, the others of one or two.
fn looks_like_date(text: &str) -> bool {
    let groups: Vec<&str> = text.split(['-', '/', '.']).collect();
    if groups.len() != 3
        || groups
            .iter()
            .any(|g| g.is_empty() || !g.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    let short = |g: &str| g.len() <= 2;
    (groups[0].len() == 4 && short(groups[1]) && short(groups[2]))
        || (short(groups[0]) && short(groups[1]) && matches!(groups[2].len(), 2 | 4))
}

/// The phone in E.164 parts: by its own `+`, else the platform's calling code, else the calling
/// code of the country (a name, an alias or an ISO code); `None` when no rule makes it valid.
pub fn format_phone(
    raw: &str,
    phone_country_code: Option<&str>,
    country: Option<&str>,
) -> Option<Phone> {
    let region = country.and_then(country_iso_code);
    normalize_phone(raw, phone_country_code, region.as_deref())
}

/// `"United States"`, `"usa"`, `"US"`, `"India"`, `"UK"` → the ISO 3166-1 alpha-2 code.
pub fn country_iso_code(country: &str) -> Option<String> {
    let squeezed: String = country
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    // The one common name that is no ISO code nor one of the table's aliases.
    let squeezed = if squeezed == "uk" {
        "gb".to_string()
    } else {
        squeezed
    };
    squeezed
        .parse::<celes::Country>()
        .ok()
        .map(|c| c.alpha2.to_string())
}

/// Every field by normalized key, the top level first, then each nested level; a field's value
/// is its text, an array's first non-empty element, or an object's `value` (`mobilePhone.value`).
struct FieldIndex<'a> {
    /// Each key's values with their depth, the shallowest first.
    by_key: HashMap<String, Vec<(usize, &'a Value)>>,
    deepest: usize,
    /// Every string value in that order, with its key, for the pattern fallback.
    strings: Vec<(String, &'a str)>,
}

/// How deep nested objects are searched: a hostile body nests far deeper than any platform.
const MAX_DEPTH: usize = 8;

impl<'a> FieldIndex<'a> {
    fn new(payload: &'a Value) -> Self {
        let mut index = FieldIndex {
            by_key: HashMap::new(),
            deepest: 0,
            strings: Vec::new(),
        };
        let mut level: Vec<&'a serde_json::Map<String, Value>> = match payload {
            Value::Object(map) => vec![map],
            _ => Vec::new(),
        };
        for depth in 0..MAX_DEPTH {
            let mut next = Vec::new();
            index.deepest = depth;
            for map in level {
                for (key, value) in map {
                    let key = normalize_key(key);
                    index.add(&key, depth, value, &mut next);
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        index
    }

    fn add(
        &mut self,
        key: &str,
        depth: usize,
        value: &'a Value,
        next: &mut Vec<&'a serde_json::Map<String, Value>>,
    ) {
        self.by_key
            .entry(key.to_string())
            .or_default()
            .push((depth, value));
        match value {
            Value::String(s) => self.strings.push((key.to_string(), s)),
            Value::Object(inner) => next.push(inner),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(s) => self.strings.push((key.to_string(), s)),
                        Value::Object(inner) => next.push(inner),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// `name`-like fields, else first and last name, the shallowest level that has either.
    fn person_name(&self) -> Option<String> {
        (0..=self.deepest).find_map(|depth| {
            let at = |names: &[&str]| self.text_at(names, depth);
            at(PERSON_NAME).or_else(|| {
                let parts: Vec<String> = [at(FIRST_NAME), at(LAST_NAME)]
                    .into_iter()
                    .flatten()
                    .collect();
                Some(parts.join(" ")).filter(|s| !s.is_empty())
            })
        })
    }

    /// The first name of the list with a value at the top level, else one level down, and so
    /// on: a nested `name` (a tag's) never wins over a top-level `first_name`.
    fn text(&self, names: &[&str]) -> Option<String> {
        (0..=self.deepest).find_map(|depth| self.text_at(names, depth))
    }

    fn text_at(&self, names: &[&str], depth: usize) -> Option<String> {
        names.iter().find_map(|name| {
            self.by_key
                .get(*name)?
                .iter()
                .filter(|(d, _)| *d == depth)
                .find_map(|(_, value)| match value {
                    Value::Object(inner) => inner.get("value").and_then(value_text),
                    value => value_text(value),
                })
        })
    }

    fn first_value(&self, wanted: impl Fn(&str, &str) -> bool) -> Option<String> {
        self.strings
            .iter()
            .map(|(key, text)| (key, text.trim()))
            .find(|(key, text)| wanted(key, text))
            .map(|(_, text)| text.to_string())
    }
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
