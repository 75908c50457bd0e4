//! Push through FCM HTTP v1: a service account's RS256-signed JWT is exchanged at the token
//! endpoint for an access token, cached until a minute before it expires; each message is a
//! `POST {FCM_URL}/v1/projects/{FCM_PROJECT_ID}/messages:send` with it.
//!
//! Failure policy: network errors, timeouts, 5xx and 429 are retried, and so is a 401 (the cached
//! token is dropped first); a 400 (a malformed token), 403 (another project's token) or 404 (an
//! app uninstalled: `UNREGISTERED`) is final, as is a token endpoint that refuses the account.

use super::{Failure, PushMessage};
use crate::jobs::http_attempt::{
    body_start, describe_with_body, is_retryable, read_answer as read, AttemptResult,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
pub const DEFAULT_FCM_URL: &str = "https://fcm.googleapis.com";
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// The fields of a service-account JSON file (`FCM_CREDENTIALS`) that signing needs.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key: String,
    pub private_key_id: Option<String>,
    pub token_uri: Option<String>,
}

impl ServiceAccount {
    /// Reads and checks the file: a JSON object with `client_email` and an RSA `private_key`.
    pub fn read(path: &str) -> Result<(ServiceAccount, EncodingKey), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let account: ServiceAccount = serde_json::from_str(&text)
            .map_err(|e| format!("{path} is not a service-account JSON file: {e}"))?;
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| format!("{path}: private_key is not an RSA key in PEM: {e}"))?;
        Ok((account, key))
    }
}

/// The JWT's claims (RFC 7523): who signs, for what, for whom, when.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// The signed assertion the token endpoint takes, valid for an hour from `now` (epoch seconds).
pub fn assertion(
    account: &ServiceAccount,
    key: &EncodingKey,
    token_url: &str,
    now: i64,
) -> Result<String, String> {
    let claims = Claims {
        iss: account.client_email.clone(),
        scope: SCOPE.into(),
        aud: token_url.into(),
        iat: now,
        exp: now + 3600,
    };
    let header = Header {
        kid: account.private_key_id.clone(),
        ..Header::new(Algorithm::RS256)
    };
    jsonwebtoken::encode(&header, &claims, key).map_err(|e| format!("FCM JWT not signed: {e}"))
}

/// FCM, as configured, with its access token shared by every attempt of this instance.
#[derive(Clone)]
pub struct Fcm {
    pub send_url: String,
    pub token_url: String,
    account: ServiceAccount,
    key: EncodingKey,
    token: Arc<tokio::sync::Mutex<Option<(String, Instant)>>>,
}

impl Fcm {
    /// `fcm_url` and `token_url` override Google's (`FCM_URL`, `FCM_TOKEN_URL`); without
    /// `FCM_TOKEN_URL` the account's `token_uri` is used.
    pub fn new(
        project_id: &str,
        credentials_path: &str,
        fcm_url: Option<&str>,
        token_url: Option<&str>,
    ) -> Result<Fcm, String> {
        let (account, key) = ServiceAccount::read(credentials_path)?;
        let base = fcm_url.unwrap_or(DEFAULT_FCM_URL).trim_end_matches('/');
        let token_url = token_url
            .map(str::to_string)
            .or(account.token_uri.clone())
            .unwrap_or_else(|| DEFAULT_TOKEN_URL.into());
        Ok(Fcm {
            send_url: format!("{base}/v1/projects/{project_id}/messages:send"),
            token_url,
            account,
            key,
            token: Arc::default(),
        })
    }

    /// Sends the message; a 401 (the token revoked before its time) gets one new token and one
    /// more try within the attempt.
    pub async fn send(&self, client: &awc::Client, message: &PushMessage) -> Result<(), Failure> {
        let body = serde_json::json!({"message": {
            "token": message.token,
            "notification": {"title": message.title, "body": message.body},
            "data": message.data,
        }});
        let mut refused = None;
        for _ in 0..2 {
            let token = self.access_token(client, refused.as_deref()).await?;
            let request = client.post(&self.send_url).bearer_auth(&token);
            let (result, start) = answer(request, &body).await;
            match result {
                AttemptResult::Status(200..=299) => return Ok(()),
                AttemptResult::Status(401) => refused = Some(token),
                _ => return Err(failure(&result, &start, "FCM", is_retryable(&result))),
            }
        }
        Err(Failure {
            retryable: true,
            status: Some(401),
            error: "FCM: HTTP 401, with a new access token too".into(),
        })
    }

    /// The cached access token, or a new one when there is none, it expires, or it is `refused`
    /// (one exchange at a time: the others wait for it and take it).
    async fn access_token(
        &self,
        client: &awc::Client,
        refused: Option<&str>,
    ) -> Result<String, Failure> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if *until > Instant::now() && Some(token.as_str()) != refused {
                return Ok(token.clone());
            }
        }
        let now = chrono::Utc::now().timestamp();
        let jwt =
            assertion(&self.account, &self.key, &self.token_url, now).map_err(|error| Failure {
                retryable: false,
                status: None,
                error,
            })?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", jwt.as_str()),
        ];
        let (result, body) = read(client.post(&self.token_url).send_form(&form).await).await;
        let granted: TokenAnswer = match result {
            // An answer that holds a token is never quoted in an error.
            AttemptResult::Status(200..=299) => {
                serde_json::from_slice(&body).map_err(|e| Failure {
                    retryable: true,
                    status: None,
                    error: format!("FCM token endpoint: no usable token in its answer ({e})"),
                })?
            }
            _ => {
                let (start, who) = (body_start(&body), "FCM token endpoint");
                return Err(failure(&result, &start, who, is_retryable(&result)));
            }
        };
        // A minute early, so a token never expires between the check and FCM.
        let lifetime = Duration::from_secs(granted.expires_in.unwrap_or(3600).saturating_sub(60));
        *cached = Some((granted.access_token.clone(), Instant::now() + lifetime));
        Ok(granted.access_token)
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

fn failure(result: &AttemptResult, start: &str, who: &str, retryable: bool) -> Failure {
    Failure {
        retryable,
        status: result.status(),
        error: format!("{who}: {}", describe_with_body(result, start)),
    }
}

async fn answer(request: awc::ClientRequest, body: &serde_json::Value) -> (AttemptResult, String) {
    let (result, bytes) = read(request.send_json(body).await).await;
    (result, body_start(&bytes))
}
