//! Phone numbers to E.164 and the forwarded `+<code>-<national>` form.

use phonenumber::{country, Mode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    /// `+919999999999`
    pub e164: String,
    /// `+91`
    pub country_code: String,
    /// `9999999999`
    pub national: String,
    /// The ISO country of the number (`IN`; `CA` for a Canadian `+1`), read once here.
    #[serde(default)]
    pub country: Option<String>,
}

impl Phone {
    /// `+91-9999999999`
    pub fn mobile(&self) -> String {
        format!("{}-{}", self.country_code, self.national)
    }
}

/// Parses `raw` with, in order of preference, its own `+`/`00` prefix, the calling code
/// given beside it (`"+91"`, `"91"`), or a region (ISO code such as `IN`, from geo headers).
/// The result must be a valid number for its country (phonenumber's validity test): a number
/// that is not stays unread (`None`), which is better than a wrong one.
pub fn normalize_phone(
    raw: &str,
    calling_code: Option<&str>,
    region: Option<&str>,
) -> Option<Phone> {
    let trimmed = raw.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if !(5..=17).contains(&digits.len()) || trimmed.chars().any(|c| c.is_alphabetic()) {
        return None;
    }
    let international = if trimmed.starts_with('+') {
        Some(format!("+{digits}"))
    } else {
        digits.strip_prefix("00").map(|rest| format!("+{rest}"))
    };
    let candidates: Vec<phonenumber::PhoneNumber> = if let Some(international) = international {
        phonenumber::parse(None, international)
            .into_iter()
            .collect()
    } else if let Some(code) = calling_code.and_then(calling_code_digits) {
        beside_calling_code(&digits, &code)
    } else if let Some(id) =
        region.and_then(|r| r.trim().to_ascii_uppercase().parse::<country::Id>().ok())
    {
        phonenumber::parse(Some(id), &digits).into_iter().collect()
    } else if digits.len() > 10 {
        phonenumber::parse(None, format!("+{digits}"))
            .into_iter()
            .collect()
    } else {
        return None;
    };
    let number = candidates.into_iter().find(phonenumber::is_valid)?;
    let e164 = number.format().mode(Mode::E164).to_string();
    let country_code = format!("+{}", number.code().value());
    let national = e164.strip_prefix(&country_code)?.to_string();
    let country = number.country().id().map(|id| id.as_ref().to_string());
    Some(Phone {
        e164,
        country_code,
        national,
        country,
    })
}

/// A number typed beside its calling code: as typed when it already starts with that code
/// (`919812345678` beside `+91`), else national by the rules of the code's countries (trunk
/// prefixes: a UK `0` goes, an Italian `0` stays), else with a leading `0` dropped.
fn beside_calling_code(digits: &str, code: &str) -> Vec<phonenumber::PhoneNumber> {
    let mut candidates = Vec::new();
    if digits.starts_with(code) {
        candidates.extend(phonenumber::parse(None, format!("+{digits}")).ok());
    }
    let regions = code
        .parse::<u16>()
        .ok()
        .and_then(|c| phonenumber::metadata::DATABASE.region(&c))
        .unwrap_or_default();
    for region in regions {
        if let Ok(id) = region.parse::<country::Id>() {
            candidates.extend(phonenumber::parse(Some(id), digits).ok());
        }
    }
    let national = digits.strip_prefix('0').unwrap_or(digits);
    candidates.extend(phonenumber::parse(None, format!("+{code}{national}")).ok());
    candidates
}

/// `"+91"`, `"91"`, `"IN +91"` → `91`.
fn calling_code_digits(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    Some(digits).filter(|d| (1..=4).contains(&d.len()))
}

/// Digits only, for comparing phones in searches.
pub fn digits_of(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_number_with_calling_code() {
        let p = normalize_phone("9999999999", Some("+91"), None).unwrap();
        assert_eq!(p.e164, "+919999999999");
        assert_eq!(p.mobile(), "+91-9999999999");
        assert_eq!(p.country_code, "+91");
    }

    #[test]
    fn international_forms() {
        assert_eq!(
            normalize_phone("+91 99999 99999", None, None).unwrap().e164,
            "+919999999999"
        );
        assert_eq!(
            normalize_phone("0091 9999999999", None, None).unwrap().e164,
            "+919999999999"
        );
        assert_eq!(
            normalize_phone("+44 7911 123456", Some("+91"), None)
                .unwrap()
                .country_code,
            "+44"
        );
    }

    #[test]
    fn trunk_zero_and_region() {
        assert_eq!(
            normalize_phone("07911 123456", Some("44"), None)
                .unwrap()
                .e164,
            "+447911123456"
        );
        assert_eq!(
            normalize_phone("(415) 555-2671", None, Some("us"))
                .unwrap()
                .e164,
            "+14155552671"
        );
    }

    #[test]
    fn a_calling_code_the_number_already_has_is_not_added_again() {
        let india = normalize_phone("919812345678", Some("+91"), None).unwrap();
        assert_eq!(india.e164, "+919812345678");
        assert_eq!(india.mobile(), "+91-9812345678");
        let germany = normalize_phone("4915112345678", Some("+49"), None).unwrap();
        assert_eq!(germany.e164, "+4915112345678");
        // A national number that merely begins with the code's digits keeps them.
        assert_eq!(
            normalize_phone("9198123456", Some("+91"), None)
                .unwrap()
                .e164,
            "+919198123456"
        );
    }

    #[test]
    fn national_prefixes_follow_the_country() {
        // Italy keeps the 0 of its landlines; the UK drops its trunk 0.
        assert_eq!(
            normalize_phone("06 1234 5678", Some("+39"), None)
                .unwrap()
                .e164,
            "+390612345678"
        );
        assert_eq!(
            normalize_phone("07911 123456", Some("+44"), None)
                .unwrap()
                .e164,
            "+447911123456"
        );
    }

    #[test]
    fn invalid_numbers_are_not_read() {
        assert_eq!(normalize_phone("+1 555 010 0199", None, None), None);
        assert_eq!(normalize_phone("+44 7700 900123", None, None), None);
        assert_eq!(normalize_phone("12345", Some("+91"), None), None);
    }

    #[test]
    fn not_phones() {
        assert_eq!(normalize_phone("call me", None, None), None);
        assert_eq!(normalize_phone("1234", Some("+1"), None), None);
        assert_eq!(normalize_phone("5551234", None, None), None);
    }
}
