//! `POST /v1/inbound/webhooks/{platform}/{account_id}/{campaign_id}`: a marketing platform's
//! webhook. The request is stored as it came (the inbox, like a website form) and answered; the
//! platform's source turns it into submissions after the answer. What a platform cannot fix by
//! retrying (an unknown or inactive campaign, an invalid payload, an action that is no lead) is
//! answered `200` and kept as an ignored webhook with its reason; only a request that could not be
//! stored is `503`, so that the platform retries it.

use super::auth::constant_time_eq;
use super::error::ApiError;
use super::forms::{read_body, refused};
use super::AppState;
use crate::actors::intake::Nudge;
use crate::metrics::label;
use crate::pipeline::ack::AckOutcome;
use crate::sources::common::body::{
    body_charset, body_kind, parse_form_body, without_nul_characters, MAX_BODY_BYTES,
};
use crate::sources::common::signature;
use crate::sources::submission::RequestMeta;
use crate::sources::{self, Auth};
use crate::store::inbox::AckWrite;
use crate::store::models::{Campaign, NewIgnoredWebhook, NewInboxRow};
use crate::store::{json_text, now};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// How long the answer waits for the durable write (as a website form's).
pub(super) const ACK_WAIT: Duration = Duration::from_secs(2);

pub async fn platform_webhook(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (platform, account_id, campaign_id) = path.into_inner();
    match accept(&req, &platform, &account_id, &campaign_id, payload, &state).await {
        Ok(answer) => answer,
        Err(e) => refused(&state, &e),
    }
}

pub(super) fn success() -> HttpResponse {
    HttpResponse::Ok().json(json!({"success": true}))
}

async fn accept(
    req: &HttpRequest,
    platform: &str,
    account_id: &str,
    campaign_id: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let source = sources::source(platform)
        .filter(|s| matches!(s.auth(), Auth::QueryToken | Auth::Signature(_)))
        .ok_or_else(|| ApiError::NotFound(format!("unknown platform {platform:?}")))?;
    let body = read_body(req, payload, MAX_BODY_BYTES).await?;
    let snapshot = state.directory.snapshot();
    let campaign = snapshot
        .campaigns
        .iter()
        .find(|c| c.id == campaign_id && c.account_id == account_id && c.integration == platform);
    let ignored = |reason: &'static str, payload: Value| Ignored {
        platform: platform.to_string(),
        account_id: Some(account_id.to_string()),
        campaign_id: campaign.map(|c| c.id.clone()),
        reason,
        payload,
    };
    let Some(campaign) = campaign else {
        return keep_aside(state, ignored("unknown_campaign", raw_excerpt(&body, None))).await;
    };
    check_auth(req, source.auth(), campaign, &body)?;
    let fields = match parse_payload(req, &body).await {
        Ok(fields) => fields,
        Err(why) => {
            let raw = raw_excerpt(&body, Some(why));
            return keep_aside(state, ignored("invalid_payload", raw)).await;
        }
    };
    let account_active = snapshot.accounts.get(account_id).is_some_and(|a| a.active);
    let reason = if !account_active {
        Some("account_inactive")
    } else if !campaign.active {
        Some("campaign_inactive")
    } else {
        source.ignore_reason(&fields, campaign)
    };
    if let Some(reason) = reason {
        return keep_aside(state, ignored(reason, Value::Object(fields))).await;
    }
    let meta = request_meta(req, campaign);
    let row = NewInboxRow::request(platform, account_id, &Value::Object(fields.clone()), &meta);
    // What the pipeline would make of it, now: a body it cannot read, or that names nobody, is no
    // lead to retry for ever but one to show operators.
    if let Some((reason, why)) = not_a_lead(source, &row, &meta) {
        let payload = json!({"payload": fields, "error": why});
        return keep_aside(state, ignored(reason, payload)).await;
    }
    match state
        .ack
        .write(AckWrite::Inbox(row), Instant::now() + ACK_WAIT)
        .await
    {
        AckOutcome::Stored => {
            state
                .metrics
                .submissions_accepted
                .get_or_create(&label("source", platform))
                .inc();
            state.intake.do_send(Nudge);
            Ok(success())
        }
        AckOutcome::NotStored(e) | AckOutcome::Unknown(e) => {
            state.metrics.ack_failures.inc();
            log::error!("webhook.persistence_failed platform={platform} error={e}");
            Err(ApiError::Unavailable(
                "the webhook could not be stored; retry shortly".into(),
            ))
        }
    }
}

/// Why the stored request would be no lead: its source cannot read it, or it has no name, email
/// or phone.
fn not_a_lead(
    source: &dyn sources::Source,
    row: &NewInboxRow,
    meta: &RequestMeta,
) -> Option<(&'static str, String)> {
    let request = sources::StoredRequest {
        public_id: &row.public_id,
        account_id: &row.account_id,
        body: &row.body,
        meta,
    };
    match source.submissions(&request) {
        Err(e) => Some(("invalid_payload", e)),
        Ok(found) if found.is_empty() => Some(("invalid_payload", "no lead in it".into())),
        Ok(found)
            if found
                .iter()
                .all(|s| s.name.is_none() && s.email.is_none() && s.phone_raw.is_none()) =>
        {
            Some(("no_contact", "no name, email or phone".into()))
        }
        Ok(_) => None,
    }
}

/// The start of a body that is no lead (4 KiB, with its length): enough for an operator to see
/// what was sent, without letting anyone store megabytes per request.
pub(super) fn raw_excerpt(body: &[u8], error: Option<String>) -> Value {
    const KEPT: usize = 4096;
    let start = String::from_utf8_lossy(&body[..body.len().min(KEPT)]).into_owned();
    json!({"raw": start, "bytes": body.len(), "error": error})
}

/// A body as an object of fields: JSON, urlencoded or multipart, by its `Content-Type` (JSON or
/// urlencoded when it names none).
async fn parse_payload(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, String> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let kind = body_kind(content_type).map_err(|e| e.to_string())?;
    let charset = body_charset(content_type).map_err(|e| e.to_string())?;
    let fields = parse_form_body(&kind, charset, body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(without_nul_characters(fields))
}

/// With a campaign `signing_secret`: the platform's signature over the raw body, or `?token=`
/// for a platform that does not sign (both compared in constant time); `401` otherwise.
fn check_auth(
    req: &HttpRequest,
    auth: Auth,
    campaign: &Campaign,
    body: &[u8],
) -> Result<(), ApiError> {
    let Some(secret) = campaign
        .settings()
        .get("signing_secret")
        .and_then(Value::as_str)
        .map(str::to_string)
        .filter(|s| !s.is_empty())
    else {
        return Ok(());
    };
    let verified = match auth {
        Auth::None => Ok(()),
        // Never routed here (`accept` takes only the two kinds below); refused if it were.
        Auth::MetaApp => Err("Meta's webhook has its own route"),
        Auth::QueryToken => {
            let given = form_urlencoded::parse(req.query_string().as_bytes())
                .find(|(key, _)| key == "token")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default();
            match constant_time_eq(given.as_bytes(), secret.as_bytes()) {
                true => Ok(()),
                false => Err("token does not match"),
            }
        }
        Auth::Signature(scheme) => {
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            signature::verify(
                scheme,
                header,
                body,
                &secret,
                chrono::Utc::now().timestamp(),
            )
        }
    };
    verified.map_err(|why| {
        log::warn!("webhook.unauthorized campaign={} reason={why}", campaign.id);
        ApiError::Unauthorized
    })
}

/// What is kept beside a platform's body: the campaign its URL named, and when it came.
fn request_meta(req: &HttpRequest, campaign: &Campaign) -> RequestMeta {
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    RequestMeta {
        user_agent,
        ..RequestMeta::for_campaign(campaign.into(), chrono::Utc::now().timestamp_millis())
    }
}

pub(super) struct Ignored {
    pub platform: String,
    pub account_id: Option<String>,
    pub campaign_id: Option<String>,
    pub reason: &'static str,
    pub payload: Value,
}

/// Records a request that is answered `200` and is no lead; one that cannot be recorded is `503`,
/// so the platform sends it again.
pub(super) async fn keep_aside(
    state: &AppState,
    ignored: Ignored,
) -> Result<HttpResponse, ApiError> {
    log::info!(
        "webhook.ignored platform={} account={} reason={}",
        ignored.platform,
        ignored.account_id.as_deref().unwrap_or("-"),
        ignored.reason
    );
    let write = AckWrite::Ignored(NewIgnoredWebhook {
        platform: ignored.platform,
        account_id: ignored.account_id,
        campaign_id: ignored.campaign_id,
        reason: ignored.reason.into(),
        payload_json: json_text(&ignored.payload),
        received_at: now(),
    });
    match state.ack.write(write, Instant::now() + ACK_WAIT).await {
        AckOutcome::Stored => Ok(success()),
        // Unrecorded, it would vanish without a trace: the platform sends it again later.
        AckOutcome::NotStored(e) | AckOutcome::Unknown(e) => {
            log::warn!("webhook.ignored_unrecorded error={e}");
            Err(ApiError::Unavailable(
                "the webhook could not be recorded; retry shortly".into(),
            ))
        }
    }
}
