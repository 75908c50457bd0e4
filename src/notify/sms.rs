//! SMS through Twilio's REST API: `POST {TWILIO_URL}/2010-04-01/Accounts/{sid}/Messages.json`
//! with basic auth and the form fields `To`, `From`, `Body`.
//!
//! Failure policy: network errors, timeouts, 5xx and 429 are retried; other 4xx (a bad number,
//! bad credentials) are final.

use super::{Failure, SmsMessage};
use crate::jobs::http_attempt::{describe, is_retryable, read_answer, AttemptResult};

/// Twilio's account and where its API is (`TWILIO_URL`, for tests).
#[derive(Clone)]
pub struct TwilioAccount {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
}

impl std::fmt::Debug for TwilioAccount {
    // The auth token is a password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioAccount")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

impl TwilioAccount {
    /// `{TWILIO_URL}/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json`.
    pub fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url.trim_end_matches('/'),
            self.account_sid
        )
    }
}

/// One `POST` of the message.
pub async fn send(
    client: &awc::Client,
    twilio: &TwilioAccount,
    message: &SmsMessage,
) -> Result<(), Failure> {
    let form = [
        ("To", message.to.as_str()),
        ("From", message.from.as_str()),
        ("Body", message.body.as_str()),
    ];
    let sent = client
        .post(twilio.messages_url())
        .basic_auth(&twilio.account_sid, &twilio.auth_token)
        .send_form(&form)
        .await;
    let (result, _) = read_answer(sent).await;
    match result {
        AttemptResult::Status(200..=299) => Ok(()),
        _ => Err(Failure {
            retryable: is_retryable(&result),
            status: result.status(),
            error: format!("Twilio: {}", describe(&result)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_go_to_the_accounts_messages_resource() {
        let twilio = TwilioAccount {
            base_url: "https://api.twilio.com/".into(),
            account_sid: "AC123".into(),
            auth_token: "t".into(),
        };
        assert_eq!(
            twilio.messages_url(),
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
        );
    }
}
