//! The Graph API as leadgate uses it: a lead, a form's leads page by page, and a token exchange.
//! URLs and answers are read by pure functions; `GraphApi` only sends. Tokens travel in URLs
//! (Meta's way), so a URL is never logged and errors never quote one.

use crate::sources::facebook::{graph_error_handling, GraphErrorHandling};
use serde_json::{json, Value};
use std::time::Duration;

/// The most of one answer that is read: a page of leads is far less.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Why a Graph request gave no usable answer.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphFailure {
    /// Meta answered with an error object (`{"error": {"code", ...}}`).
    Api { code: Option<i64>, error: Value },
    /// No answer it could read: the network, a timeout, a 5xx page.
    Transport(String),
    /// An answer that is no error object and cannot be helped by asking again (a 404 page).
    Refused(String),
}

impl GraphFailure {
    pub fn handling(&self) -> GraphErrorHandling {
        match self {
            GraphFailure::Api { error, .. } => graph_error_handling(error),
            GraphFailure::Transport(_) => GraphErrorHandling::Retry,
            GraphFailure::Refused(_) => GraphErrorHandling::Failed,
        }
    }

    /// One line for operators (campaign health, the attempt log).
    pub fn describe(&self) -> String {
        match self {
            GraphFailure::Api { code, error } => {
                let message = error
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message");
                let message: String = message.chars().take(300).collect();
                match code {
                    Some(code) => format!("Graph API error {code}: {message}"),
                    None => format!("Graph API error: {message}"),
                }
            }
            GraphFailure::Transport(e) => format!("Graph API unreachable: {e}"),
            GraphFailure::Refused(e) => format!("Graph API refused: {e}"),
        }
    }
}

/// Meta's object ids are decimal digits; anything else never goes into a URL path.
pub fn is_graph_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

fn url(base: &str, version: &str, path: &str, query: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    format!("{}/{version}/{path}?{query}", base.trim_end_matches('/'))
}

/// `GET {base}/{version}/{leadgen_id}?access_token=...`: one lead.
pub fn lead_url(base: &str, version: &str, leadgen_id: &str, token: &str) -> String {
    url(base, version, leadgen_id, &[("access_token", token)])
}

/// `GET {base}/{version}/{form_id}/leads` created after `since` (unix seconds): the back-fill's
/// first page.
pub fn form_leads_url(base: &str, version: &str, form_id: &str, token: &str, since: i64) -> String {
    let filtering =
        json!([{"field": "time_created", "operator": "GREATER_THAN", "value": since}]).to_string();
    let path = format!("{form_id}/leads");
    url(
        base,
        version,
        &path,
        &[("access_token", token), ("filtering", &filtering)],
    )
}

/// The exchange of a token for a long-lived one (`oauth/access_token`, `fb_exchange_token`).
pub fn exchange_url(base: &str, version: &str, app: &AppCredentials, token: &str) -> String {
    url(
        base,
        version,
        "oauth/access_token",
        &[
            ("grant_type", "fb_exchange_token"),
            ("client_id", &app.id),
            ("client_secret", &app.secret),
            ("fb_exchange_token", token),
        ],
    )
}

/// The next page of a listing, only when it is on the configured Graph host: a `next` link
/// elsewhere would carry the page's token to someone else.
pub fn next_page(page: &Value, base: &str) -> Option<String> {
    let next = page.pointer("/paging/next")?.as_str()?;
    let base = base.trim_end_matches('/');
    let on_graph = next
        .strip_prefix(base)
        .is_some_and(|rest| rest.starts_with('/'));
    on_graph.then(|| next.to_string())
}

/// An exchange's answer: the new token and when it expires (`None`: it does not).
pub fn exchanged_token(
    answer: &Value,
    now: chrono::NaiveDateTime,
) -> Option<(String, Option<chrono::NaiveDateTime>)> {
    let token = answer.get("access_token")?.as_str()?.trim();
    if token.is_empty() || token.chars().any(char::is_whitespace) {
        return None;
    }
    let expires_in = answer.get("expires_in").and_then(Value::as_i64);
    let expires_at = expires_in
        .filter(|s| *s > 0)
        .map(|s| now + chrono::Duration::seconds(s));
    Some((token.to_string(), expires_at))
}

/// What a Graph answer means: its JSON, or why it is none.
pub fn read_answer(status: u16, body: &[u8]) -> Result<Value, GraphFailure> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match parsed {
        Some(value) if value.get("error").is_some_and(Value::is_object) => Err(GraphFailure::Api {
            code: value.pointer("/error/code").and_then(Value::as_i64),
            error: value,
        }),
        Some(value) if (200..300).contains(&status) && value.is_object() => Ok(value),
        _ if status >= 500 || status == 429 || status == 408 => {
            Err(GraphFailure::Transport(format!("HTTP {status}")))
        }
        _ => Err(GraphFailure::Refused(format!(
            "HTTP {status} without a Graph answer"
        ))),
    }
}

#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub id: String,
    pub secret: String,
}

/// Sends Graph requests (one client per thread: awc's is not `Send`).
#[derive(Clone)]
pub struct GraphApi {
    pub base: String,
    pub version: String,
    pub app: Option<AppCredentials>,
    client: awc::Client,
}

impl GraphApi {
    pub fn new(config: &crate::config::Config, timeout: Duration) -> GraphApi {
        let app = match (&config.facebook_app_id, &config.facebook_app_secret) {
            (Some(id), Some(secret)) => Some(AppCredentials {
                id: id.clone(),
                secret: secret.clone(),
            }),
            _ => None,
        };
        GraphApi {
            base: config.facebook_graph_url.clone(),
            version: config.facebook_api_version.clone(),
            app,
            client: crate::outbound::client(&crate::outbound::tls_config(), timeout),
        }
    }

    pub async fn get(&self, url: &str) -> Result<Value, GraphFailure> {
        let response = self.client.get(url).send().await.map_err(|e| {
            // awc's errors can quote the URL, and the URL holds the token.
            let kind = match e {
                awc::error::SendRequestError::Timeout => "timed out",
                awc::error::SendRequestError::Connect(_) => "could not connect",
                _ => "request failed",
            };
            GraphFailure::Transport(kind.into())
        })?;
        let status = response.status().as_u16();
        let mut response = response;
        let body =
            response.body().limit(MAX_ANSWER_BYTES).await.map_err(|_| {
                GraphFailure::Transport(format!("HTTP {status}, answer unreadable"))
            })?;
        read_answer(status, &body).map_err(|failure| match failure {
            // Meta's messages are kept and shown: never with a secret this request carried.
            GraphFailure::Api { code, mut error } => {
                scrub_secrets(&mut error, &secrets_in(url));
                GraphFailure::Api { code, error }
            }
            other => other,
        })
    }
}

/// The secrets a Graph URL carries: tokens and the app secret.
fn secrets_in(url: &str) -> Vec<String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| {
            matches!(
                key.as_ref(),
                "access_token" | "fb_exchange_token" | "client_secret"
            )
        })
        .map(|(_, value)| value.into_owned())
        .filter(|value| value.len() >= 4)
        .collect()
}

/// Whether a word is shaped like a Meta access token: `EAA` and 20 or more letters and digits.
fn looks_like_meta_token(word: &str) -> bool {
    word.starts_with("EAA") && word.len() >= 23 && word.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Every string in `value` without the `secrets`, nor anything shaped like a Meta access token.
pub fn scrub_secrets(value: &mut Value, secrets: &[String]) {
    match value {
        Value::String(text) => {
            for secret in secrets {
                *text = text.replace(secret.as_str(), "[token]");
            }
            let words: Vec<String> = text
                .split(' ')
                .map(|word| {
                    let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
                    match looks_like_meta_token(bare) {
                        true => word.replace(bare, "[token]"),
                        false => word.to_string(),
                    }
                })
                .collect();
            *text = words.join(" ");
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_secrets(v, secrets)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub_secrets(v, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_the_token_and_the_filter_encoded() {
        let lead = lead_url("https://graph.facebook.com/", "v18.0", "123", "a b&c");
        assert_eq!(
            lead,
            "https://graph.facebook.com/v18.0/123?access_token=a+b%26c"
        );
        let leads = form_leads_url("http://127.0.0.1:9", "v18.0", "55", "T", 1700000000);
        assert!(leads.starts_with("http://127.0.0.1:9/v18.0/55/leads?access_token=T&filtering="));
        let query = leads.split_once('?').unwrap().1;
        let filtering: String = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "filtering")
            .unwrap()
            .1
            .into_owned();
        let filter: Value = serde_json::from_str(&filtering).unwrap();
        assert_eq!(filter[0]["field"], "time_created");
        assert_eq!(filter[0]["operator"], "GREATER_THAN");
        assert_eq!(filter[0]["value"], 1700000000);
        let app = AppCredentials {
            id: "1".into(),
            secret: "s".into(),
        };
        let exchange = exchange_url("http://g", "v18.0", &app, "old");
        assert_eq!(exchange, "http://g/v18.0/oauth/access_token?grant_type=fb_exchange_token&client_id=1&client_secret=s&fb_exchange_token=old");
    }

    #[test]
    fn only_digits_are_graph_ids() {
        assert!(is_graph_id("233370042045345"));
        for bad in ["", "12a", "../me", "1/leads", &"1".repeat(33), "١٢"] {
            assert!(!is_graph_id(bad), "{bad}");
        }
    }

    #[test]
    fn next_pages_are_followed_only_on_the_graph_host() {
        let page = |next: &str| json!({"data": [], "paging": {"next": next}});
        let base = "http://127.0.0.1:9";
        assert_eq!(
            next_page(&page("http://127.0.0.1:9/v18.0/5/leads?after=x"), base).as_deref(),
            Some("http://127.0.0.1:9/v18.0/5/leads?after=x")
        );
        assert_eq!(
            next_page(&page("http://127.0.0.1:99/v18.0/5/leads"), base),
            None
        );
        assert_eq!(next_page(&page("http://evil.example/v18.0"), base), None);
        assert_eq!(next_page(&json!({"data": []}), base), None);
    }

    #[test]
    fn answers_are_leads_errors_or_transport_failures() {
        assert!(read_answer(200, br#"{"id": "1"}"#).is_ok());
        let expired = read_answer(400, br#"{"error": {"code": 190, "message": "expired"}}"#);
        let failure = expired.unwrap_err();
        assert_eq!(failure.handling(), GraphErrorHandling::TokenInvalid);
        assert_eq!(failure.describe(), "Graph API error 190: expired");
        let limited = read_answer(400, br#"{"error": {"code": 17}}"#).unwrap_err();
        assert_eq!(limited.handling(), GraphErrorHandling::Retry);
        let gone = read_answer(400, br#"{"error": {"code": 100}}"#).unwrap_err();
        assert_eq!(gone.handling(), GraphErrorHandling::Failed);
        let down = read_answer(502, b"<html>bad gateway</html>").unwrap_err();
        assert_eq!(down.handling(), GraphErrorHandling::Retry);
        let missing = read_answer(404, b"not here").unwrap_err();
        assert_eq!(missing.handling(), GraphErrorHandling::Failed);
        let odd = read_answer(200, b"[1, 2]").unwrap_err();
        assert_eq!(odd.handling(), GraphErrorHandling::Failed);
    }

    #[test]
    fn secrets_never_stay_in_an_error() {
        let url = lead_url("http://g", "v18.0", "1", "SECRET-TOKEN-1");
        let mut error = json!({"error": {"code": 190, "message":
            "Malformed access token SECRET-TOKEN-1, also EAAGm0PX4ZCpsBAJZBZAxyz123456789 (x)",
            "nested": ["SECRET-TOKEN-1"]}});
        scrub_secrets(&mut error, &secrets_in(&url));
        let text = error.to_string();
        assert!(!text.contains("SECRET-TOKEN-1"), "{text}");
        assert!(!text.contains("EAAGm0PX4"), "{text}");
        assert!(
            text.contains("Malformed access token [token], also [token] (x)"),
            "{text}"
        );
        let app = AppCredentials {
            id: "1".into(),
            secret: "APPSECRET".into(),
        };
        let secrets = secrets_in(&exchange_url("http://g", "v18.0", &app, "SHORT-LIVED"));
        assert!(secrets.contains(&"APPSECRET".to_string()));
        assert!(secrets.contains(&"SHORT-LIVED".to_string()));
        assert!(
            !secrets.contains(&"1".to_string()),
            "the app id is no secret"
        );
    }

    #[test]
    fn an_exchange_gives_a_token_and_its_expiry() {
        let now = chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc();
        let answer = json!({"access_token": "LONG", "token_type": "bearer", "expires_in": 5183944});
        let (token, at) = exchanged_token(&answer, now).unwrap();
        assert_eq!(token, "LONG");
        assert_eq!(at, Some(now + chrono::Duration::seconds(5183944)));
        assert_eq!(
            exchanged_token(&json!({"access_token": "X"}), now)
                .unwrap()
                .1,
            None
        );
        assert!(exchanged_token(&json!({"access_token": ""}), now).is_none());
        assert!(exchanged_token(&json!({"token": "X"}), now).is_none());
    }
}
