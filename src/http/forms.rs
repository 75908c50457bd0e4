//! `POST /v1/leads`: website forms. Validate, check the block list and the honeypot, store the
//! raw submission durably, then answer. Everything else happens after the answer.

use super::error::ApiError;
use super::redirect::{request_origin, thank_you_location};
use super::site::{add_cors_origin, allowed_origin, is_site_host, requested_account};
use super::AppState;
use crate::actors::intake::Nudge;
use crate::jobs::crm_webhook::DeliverNow;
use crate::metrics::label;
use crate::pipeline::ack::AckOutcome;
use crate::pipeline::forwarding::{forwarding, Send};
use crate::pipeline::payload::offline_payload;
use crate::pipeline::spool::SpoolRecord;
use crate::scoring;
use crate::sources::common::body::{
    body_charset, body_kind, parse_form_body, without_nul_characters, MAX_BODY_BYTES,
};
use crate::sources::common::client_ip::{client_ip, is_trusted, ProxyHeaders};
use crate::sources::common::fields::{extract_website_fields, missing_contact, WebsiteFields};
use crate::sources::submission::{Geo, PreForwarded, RequestMeta};
use crate::sources::website::{self, website_submission};
use crate::store::inbox::AckWrite;
use crate::store::json_text;
use crate::store::models::{NewBlockedIpLead, NewIgnoredWebhook, NewInboxRow};
use crate::store::new_public_id;
use crate::store::now;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::{json, Map, Value};

/// Bodies up to this size are read to the end before a 413, so the client sees the answer.
const DRAIN_LIMIT: usize = 16 * MAX_BODY_BYTES;

pub async fn submit_lead(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut response = match accept(&req, payload, &state).await {
        Ok(answer) => answer,
        Err(e) => refused(&state, &e),
    };
    // A site's fetch() can read the answer, errors included, when the site is the account's.
    let account_id = requested_account(&req, &state.directory.snapshot());
    add_cors_origin(&mut response, allowed_origin(&req, &state, &account_id));
    response
}

/// A refused submission or webhook: counted by reason in `/metrics`, answered with the error.
pub fn refused(state: &AppState, e: &ApiError) -> HttpResponse {
    let reason = match e {
        ApiError::PayloadTooLarge(_) => "too_large",
        ApiError::Unprocessable { .. } => "no_contact",
        ApiError::Unavailable(_) => "unavailable",
        ApiError::RequestTimeout => "too_slow",
        ApiError::Unauthorized => "unauthorized",
        ApiError::NotFound(_) => "unknown_platform",
        _ => "malformed",
    };
    state
        .metrics
        .submissions_rejected
        .get_or_create(&label("reason", reason))
        .inc();
    actix_web::ResponseError::error_response(e)
}

async fn accept(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let (fields, form) = read_form(req, payload).await?;
    let snapshot = state.directory.snapshot();
    let account_id = requested_account(req, &snapshot);
    if !snapshot.accounts.contains_key(&account_id) {
        return Err(ApiError::BadRequest(format!(
            "unknown account {account_id:?}"
        )));
    }
    let campaign = snapshot.campaign_for(&account_id, website::NAME, form.project.as_deref());
    let answer = answer(
        req,
        state,
        &snapshot,
        &account_id,
        // A URL stored before it was checked is not sent as a `Location`.
        campaign
            .and_then(|c| c.thank_you_url.as_deref())
            .filter(|url| super::campaigns::valid_thank_you_url(url).is_ok()),
    );
    let ip = request_client_ip(req, state);
    let inactive = snapshot
        .accounts
        .get(&account_id)
        .is_some_and(|a| !a.active);
    let quiet = if let Some(ip) = ip.filter(|ip| snapshot.is_blocked(*ip)) {
        Some(Quiet::Blocked(ip))
    } else if state.config.bot_lead_detection && form.honeypot.is_some() {
        Some(Quiet::Honeypot(ip))
    } else if inactive {
        Some(Quiet::InactiveAccount(campaign.map(|c| c.id.clone())))
    } else {
        None
    };
    if let Some(quiet) = quiet {
        keep_aside(state, quiet, account_id, fields).await;
        return Ok(answer);
    }
    let meta = request_meta(req, state, ip);
    let row = NewInboxRow::request(
        website::NAME,
        &account_id,
        &Value::Object(fields.clone()),
        &meta,
    );
    store_or_spool(state, &row, &meta, campaign).await?;
    state
        .metrics
        .submissions_accepted
        .get_or_create(&label("source", website::NAME))
        .inc();
    state.intake.do_send(Nudge);
    Ok(answer)
}

/// The body as form fields (NUL removed) and what the website form says in them; `422` when
/// there is no name, email or phone.
async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(Map<String, Value>, WebsiteFields), ApiError> {
    let body = read_body(req, payload, MAX_BODY_BYTES).await?;
    let content_type = header_str(req.headers(), header::CONTENT_TYPE);
    let kind = body_kind(content_type)?;
    let charset = body_charset(content_type)?;
    let fields = without_nul_characters(parse_form_body(&kind, charset, &body).await?);
    let form = extract_website_fields(&fields);
    match missing_contact(&form) {
        Some(missing) => Err(ApiError::Unprocessable {
            message: "the form has no name, email or phone".into(),
            fields: missing.into_iter().map(str::to_string).collect(),
        }),
        None => Ok((fields, form)),
    }
}

pub(super) fn request_client_ip(req: &HttpRequest, state: &AppState) -> Option<std::net::IpAddr> {
    let headers = req.headers();
    client_ip(
        req.peer_addr().map(|a| a.ip()),
        ProxyHeaders {
            cf_connecting_ip: header_str(headers, "cf-connecting-ip"),
            x_forwarded_for: header_str(headers, "x-forwarded-for"),
            x_real_ip: header_str(headers, "x-real-ip"),
        },
        &state.config.trusted_proxies,
    )
}

/// A submission answered like any other and not stored as a lead.
enum Quiet {
    Blocked(std::net::IpAddr),
    Honeypot(Option<std::net::IpAddr>),
    InactiveAccount(Option<String>),
}

/// Counts and logs a quiet refusal; the blocked one goes to the audit, the inactive account's to
/// the ignored list (if that write fails, it is said, and the answer stays the same).
async fn keep_aside(
    state: &AppState,
    quiet: Quiet,
    account_id: String,
    fields: Map<String, Value>,
) {
    let write = match quiet {
        Quiet::Blocked(ip) => {
            state.metrics.blocked_ip_submissions.inc();
            log::info!("lead.blocked_ip ip={ip}");
            AckWrite::BlockedLead(NewBlockedIpLead {
                ip: ip.to_string(),
                account_id,
                payload_json: json_text(&Value::Object(fields)),
                created_at: now(),
            })
        }
        Quiet::Honeypot(ip) => {
            state.metrics.honeypot_trips.inc();
            let ip = ip.map(|i| i.to_string()).unwrap_or_default();
            log::info!("lead.honeypot ip={ip}");
            return;
        }
        Quiet::InactiveAccount(campaign_id) => {
            log::info!("lead.ignored account={account_id} reason=account_inactive");
            AckWrite::Ignored(NewIgnoredWebhook {
                platform: website::NAME.into(),
                account_id: Some(account_id),
                campaign_id,
                reason: "account_inactive".into(),
                payload_json: json_text(&Value::Object(fields)),
                received_at: now(),
            })
        }
    };
    if let AckOutcome::NotStored(e) | AckOutcome::Unknown(e) =
        state.ack.write(write, ack_deadline()).await
    {
        log::warn!("lead.aside_unrecorded error={e}");
    }
}

fn request_meta(req: &HttpRequest, state: &AppState, ip: Option<std::net::IpAddr>) -> RequestMeta {
    let headers = req.headers();
    let peer = req.peer_addr().map(|a| a.ip());
    let trusted_peer = peer.is_some_and(|p| is_trusted(p, &state.config.trusted_proxies));
    RequestMeta {
        ip: ip.map(|i| i.to_string()),
        user_agent: header_str(headers, header::USER_AGENT).map(str::to_string),
        geo: if trusted_peer {
            geo_headers(headers)
        } else {
            Geo::default()
        },
        received_at_ms: chrono::Utc::now().timestamp_millis(),
        pre_forwarded: None,
        campaign: None,
    }
}

/// The durable write the answer waits for (2 s at most); failing that, the spool.
async fn store_or_spool(
    state: &AppState,
    row: &NewInboxRow,
    meta: &RequestMeta,
    campaign: Option<&crate::store::models::Campaign>,
) -> Result<(), ApiError> {
    let written = state
        .ack
        .write(AckWrite::Inbox(row.clone()), ack_deadline())
        .await;
    let (forward_now, error) = match written {
        AckOutcome::Stored => return Ok(()),
        AckOutcome::NotStored(e) => (true, e),
        // It may be in the database: forwarded once it is known to be, never twice.
        AckOutcome::Unknown(e) => (false, e),
    };
    state.metrics.ack_failures.inc();
    log::error!(
        "lead.persistence_failed public_id={} error={error}",
        row.public_id
    );
    spool_submission(state, row, meta, campaign, forward_now)
        .await
        .map_err(|_| ApiError::Unavailable("the lead could not be stored; retry shortly".into()))
}

/// How long an answer waits for the database before the submission goes to the spool.
const ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn ack_deadline() -> std::time::Instant {
    std::time::Instant::now() + ACK_WAIT
}

/// The database could not take the submission: it goes to the spool (fsynced) and, when it
/// would be forwarded, is forwarded now with ids generated here and kept for later. Only if
/// the spool fails too is the client told to retry.
async fn spool_submission(
    state: &AppState,
    row: &NewInboxRow,
    meta: &RequestMeta,
    campaign: Option<&crate::store::models::Campaign>,
    forward_now: bool,
) -> std::io::Result<()> {
    let mut record = spool_record(state, row, meta, campaign);
    if !forward_now {
        record.pre_forwarded = None;
    }
    let pre_forwarded = record.pre_forwarded.clone();
    // Marked before the record is in the spool: a drain must not store it as unsent meanwhile.
    if let Some(pre) = &pre_forwarded {
        state
            .offline
            .begin(&pre.make_send_public_id, state.offline_send_bound);
    }
    if let Err(e) = state.spool_writer.append(record).await {
        if let Some(pre) = &pre_forwarded {
            state.offline.end(&pre.make_send_public_id);
        }
        log::error!("spool.append_failed public_id={} error={e}", row.public_id);
        return Err(e);
    }
    log::warn!("lead.spooled public_id={}", row.public_id);
    if let Some(pre) = pre_forwarded {
        state.deliverer.do_send(DeliverNow(pre));
    }
    Ok(())
}

/// The spool record of a submission, with the send to make now if it is to be forwarded.
fn spool_record(
    state: &AppState,
    row: &NewInboxRow,
    meta: &RequestMeta,
    campaign: Option<&crate::store::models::Campaign>,
) -> SpoolRecord {
    // The rare path parses the stored body again, so the common one need not keep a copy.
    let fields: Map<String, Value> = serde_json::from_str(&row.body).unwrap_or_default();
    let submission = website_submission(&row.public_id, &row.account_id, &fields, meta);
    let signals = scoring::signals_of(&submission, &state.config.vpn_ranges);
    // The pipeline's rule, for a new lead: whether it repeats one cannot be known now.
    let settings = &state.pipeline;
    let decided = forwarding(
        &settings.policy,
        scoring::is_bot_lead(settings.bot_lead_detection, &signals),
        None,
        submission.submitted_at,
        settings.destination(campaign.and_then(|c| c.webhook_url.as_deref())),
    );
    let pre_forwarded = decided.send.map(|Send { url, .. }| {
        let (lead_public_id, make_send_public_id) = (new_public_id(), new_public_id());
        let payload = offline_payload(
            &submission,
            &signals,
            &lead_public_id,
            &make_send_public_id,
            campaign.map(|c| c.id.clone()),
            !state.config.is_production(),
        );
        PreForwarded {
            lead_public_id,
            make_send_public_id,
            url,
            payload_json: serde_json::to_string(&payload).unwrap_or_default(),
            delivered: false,
        }
    });
    SpoolRecord {
        public_id: row.public_id.clone(),
        kind: row.kind.clone(),
        account_id: row.account_id.clone(),
        body: row.body.clone(),
        meta_json: row.meta_json.clone(),
        received_at_ms: meta.received_at_ms,
        pre_forwarded,
    }
}

/// The same answer whatever happened to the lead: JSON for API clients, a redirect for browsers.
fn answer(
    req: &HttpRequest,
    state: &AppState,
    snapshot: &crate::directory::Snapshot,
    account_id: &str,
    campaign_thank_you_url: Option<&str>,
) -> HttpResponse {
    let wants_json =
        header_str(req.headers(), header::ACCEPT).is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return HttpResponse::Ok().json(json!({"success": true}));
    }
    let redirect = &state.config.redirect;
    let origin = request_origin(
        header_str(req.headers(), header::ORIGIN),
        header_str(req.headers(), header::REFERER),
    );
    let location = thank_you_location(
        campaign_thank_you_url,
        origin,
        |authority| is_site_host(state, snapshot, account_id, authority),
        &redirect.thank_you_path,
        &redirect.fallback_url,
    );
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, location))
        .finish()
}

fn geo_headers(headers: &HeaderMap) -> Geo {
    let get = |name: &str| header_str(headers, name).map(str::to_string);
    Geo {
        country: get("cf-ipcountry").filter(|c| c != "XX" && c != "T1"),
        city: get("cf-ipcity"),
        timezone: get("cf-timezone"),
        region: get("cf-region"),
    }
}

fn header_str<K: header::AsHeaderName>(headers: &HeaderMap, name: K) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Reads the body up to `limit` bytes. A larger one is a 413; it is still read (up to a point)
/// so that the client gets the answer instead of a reset connection.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let declared =
        header_str(req.headers(), header::CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > DRAIN_LIMIT) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = web::BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            e if super::deadline::is_timeout(&e) => ApiError::RequestTimeout,
            e => ApiError::BadRequest(format!("could not read the body: {e}")),
        })?;
        seen += chunk.len();
        if seen > DRAIN_LIMIT {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        if seen <= limit {
            body.extend_from_slice(&chunk);
        }
    }
    if seen > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    Ok(body.freeze())
}
