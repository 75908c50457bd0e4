//! Platform webhook signatures (spec section 4), verified over the raw body with the campaign's
//! `signing_secret`, compared in constant time (`Mac::verify_slice`). Pure: the headers, body, secret and the time are
//! given.

use base64::Engine;
use hmac::{Hmac, Mac};

/// How a platform signs its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `X-Webhook-ClickFunnels-Signature`: lowercase hex HMAC-SHA256 of `<timestamp>.<body>`, the
    /// timestamp (`X-Webhook-ClickFunnels-Timestamp`) within 10 minutes of now.
    ClickFunnels,
    /// `Signature`: base64 HMAC-SHA1 of the body.
    CallRail,
    /// `X-CTM-Signature`: base64 HMAC-SHA1 of `<X-CTM-Time><body>`.
    CallTrackingMetrics,
}

/// How far a ClickFunnels timestamp may be from now (a replayed request is older).
pub const CLICKFUNNELS_WINDOW_SECONDS: i64 = 600;

/// `Ok` when the request is signed by `secret`; otherwise why not (for the log, never the answer).
pub fn verify(
    scheme: Scheme,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    secret: &str,
    now_unix: i64,
) -> Result<(), &'static str> {
    match scheme {
        Scheme::ClickFunnels => {
            let timestamp = header("x-webhook-clickfunnels-timestamp").ok_or("no timestamp")?;
            let at: i64 = timestamp
                .trim()
                .parse()
                .map_err(|_| "unreadable timestamp")?;
            if (now_unix - at).abs() > CLICKFUNNELS_WINDOW_SECONDS {
                return Err("timestamp outside the 10-minute window");
            }
            let given = header("x-webhook-clickfunnels-signature").ok_or("no signature")?;
            let signed = [timestamp.trim().as_bytes(), b".", body];
            verify_hex_sha256(secret, &signed, &given)
        }
        Scheme::CallRail => {
            let given = header("signature").ok_or("no signature")?;
            let mut mac = hmac_sha1(secret);
            mac.update(body);
            verify_base64(mac, &given)
        }
        Scheme::CallTrackingMetrics => {
            let time = header("x-ctm-time").ok_or("no time")?;
            let given = header("x-ctm-signature").ok_or("no signature")?;
            let mut mac = hmac_sha1(secret);
            mac.update(time.trim().as_bytes());
            mac.update(body);
            verify_base64(mac, &given)
        }
    }
}

/// Hex HMAC-SHA256 of the concatenated `parts` (ClickFunnels, Meta's `X-Hub-Signature-256`).
pub fn verify_hex_sha256(
    secret: &str,
    parts: &[&[u8]],
    given_hex: &str,
) -> Result<(), &'static str> {
    let given = from_hex(given_hex.trim()).ok_or("signature is not hex")?;
    let mut mac: Hmac<sha2::Sha256> =
        Hmac::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&given).map_err(|_| MISMATCH)
}

/// Lowercase hex SHA-256 (ids made from content: Unbounce's lead id, over-long lead keys).
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hmac_sha1(secret: &str) -> Hmac<sha1::Sha1> {
    Hmac::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length")
}

const MISMATCH: &str = "signature does not match";

/// `verify_slice` compares in constant time.
fn verify_base64<M: Mac>(mac: M, given: &str) -> Result<(), &'static str> {
    let given = base64::engine::general_purpose::STANDARD
        .decode(given.trim())
        .map_err(|_| "signature is not base64")?;
    mac.verify_slice(&given).map_err(|_| MISMATCH)
}

/// Hex text (either case) as bytes; `None` when it is not.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn the_signed_fixtures_verify_and_a_changed_byte_does_not() {
        let cf = fixture("clickfunnels/contact_identified.json");
        let cf_headers = headers(&[
            ("X-Webhook-ClickFunnels-Timestamp", "1712258191"),
            (
                "X-Webhook-ClickFunnels-Signature",
                "7ae02e364b4c77664048d636bb77caba7be5803b22cc4e79cf5fe4c858cae907",
            ),
        ]);
        let then = 1712258191 + 30;
        assert_eq!(
            verify(
                Scheme::ClickFunnels,
                &cf_headers,
                &cf,
                "test_cf_secret",
                then
            ),
            Ok(())
        );
        assert!(verify(Scheme::ClickFunnels, &cf_headers, &cf, "other", then).is_err());
        let mut changed = cf.clone();
        changed[10] ^= 1;
        assert!(verify(
            Scheme::ClickFunnels,
            &cf_headers,
            &changed,
            "test_cf_secret",
            then
        )
        .is_err());
        let late = 1712258191 + CLICKFUNNELS_WINDOW_SECONDS + 1;
        assert_eq!(
            verify(
                Scheme::ClickFunnels,
                &cf_headers,
                &cf,
                "test_cf_secret",
                late
            ),
            Err("timestamp outside the 10-minute window")
        );

        let callrail = fixture("callrail/post_call.json");
        let cr_headers = headers(&[("Signature", "3VfoQEMxiAQ25FXtd33d/qdxZig=")]);
        let key = "072e77e426f92738a72fe23c4d1953b4";
        assert_eq!(
            verify(Scheme::CallRail, &cr_headers, &callrail, key, 0),
            Ok(())
        );
        assert!(verify(Scheme::CallRail, &cr_headers, &callrail[1..], key, 0).is_err());

        let ctm = fixture("calltrackingmetrics/call.json");
        let ctm_headers = headers(&[
            ("X-CTM-Time", "1752000000"),
            ("X-CTM-Signature", "uDnGMPMobHA3NtR9gA7S7px2EQg="),
        ]);
        assert_eq!(
            verify(
                Scheme::CallTrackingMetrics,
                &ctm_headers,
                &ctm,
                "test_ctm_secret",
                0
            ),
            Ok(())
        );
        let other_time = headers(&[
            ("X-CTM-Time", "1752000001"),
            ("X-CTM-Signature", "uDnGMPMobHA3NtR9gA7S7px2EQg="),
        ]);
        assert!(verify(
            Scheme::CallTrackingMetrics,
            &other_time,
            &ctm,
            "test_ctm_secret",
            0
        )
        .is_err());
    }

    #[test]
    fn missing_or_unreadable_headers_are_refused() {
        let none = headers(&[]);
        for scheme in [
            Scheme::ClickFunnels,
            Scheme::CallRail,
            Scheme::CallTrackingMetrics,
        ] {
            assert!(verify(scheme, &none, b"{}", "s", 0).is_err(), "{scheme:?}");
        }
        let bad_time = headers(&[
            ("X-Webhook-ClickFunnels-Timestamp", "yesterday"),
            ("X-Webhook-ClickFunnels-Signature", "00"),
        ]);
        assert_eq!(
            verify(Scheme::ClickFunnels, &bad_time, b"{}", "s", 0),
            Err("unreadable timestamp")
        );
    }
}
