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
}

impl Phone {
    /// `+91-9999999999`
    pub fn mobile(&self) -> String {
        format!("{}-{}", self.country_code, self.national)
    }
}

/// Parses `raw` with, in order of preference, its own `+`/`00` prefix, the calling code
/// given beside it (`"+91"`, `"91"`), or a region (ISO code such as `IN`, from geo headers).
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
    let number = if let Some(international) = international {
        phonenumber::parse(None, international).ok()?
    } else if let Some(code) = calling_code.and_then(calling_code_digits) {
        // A national number beside its calling code; a leading trunk `0` is not part of it.
        let national = digits.strip_prefix('0').unwrap_or(&digits);
        phonenumber::parse(None, format!("+{code}{national}")).ok()?
    } else if let Some(id) =
        region.and_then(|r| r.trim().to_ascii_uppercase().parse::<country::Id>().ok())
    {
        phonenumber::parse(Some(id), &digits).ok()?
    } else if digits.len() > 10 {
        phonenumber::parse(None, format!("+{digits}")).ok()?
    } else {
        return None;
    };
    let e164 = number.format().mode(Mode::E164).to_string();
    let country_code = format!("+{}", number.code().value());
    let national = e164.strip_prefix(&country_code)?.to_string();
    if national.len() < 4 {
        return None;
    }
    Some(Phone {
        e164,
        country_code,
        national,
    })
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
            normalize_phone("+44 7700 900123", Some("+91"), None)
                .unwrap()
                .country_code,
            "+44"
        );
    }

    #[test]
    fn trunk_zero_and_region() {
        assert_eq!(
            normalize_phone("07700 900123", Some("44"), None)
                .unwrap()
                .e164,
            "+447700900123"
        );
        assert_eq!(
            normalize_phone("(415) 555-2671", None, Some("us"))
                .unwrap()
                .e164,
            "+14155552671"
        );
    }

    #[test]
    fn not_phones() {
        assert_eq!(normalize_phone("call me", None, None), None);
        assert_eq!(normalize_phone("1234", Some("+1"), None), None);
        assert_eq!(normalize_phone("5551234", None, None), None);
    }
}
