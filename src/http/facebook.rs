//! `/v1/inbound/webhooks/facebook`: Meta's subscription check (`GET`) and its lead webhook
//! (`POST`). A webhook only announces leads: each `leadgen` change is stored in the inbox once
//! per campaign it is for (every active campaign of an active account whose page and form match)
//! and answered; the lead itself is fetched from the Graph API after the answer
//! (`jobs/facebook_lead.rs`). A change no campaign takes is kept as an ignored webhook with its
//! reason.

use super::auth::constant_time_eq;
use super::error::ApiError;
use super::forms::{read_body, refused};
use super::webhooks::{keep_aside, raw_excerpt, success, Ignored, ACK_WAIT};
use super::AppState;
use crate::actors::intake::Nudge;
use crate::facebook::graph::is_graph_id;
use crate::metrics::label;
use crate::pipeline::ack::AckOutcome;
use crate::sources::common::body::MAX_BODY_BYTES;
use crate::sources::facebook::{
    announcement_body, form_campaigns, leadgen_changes, route_change, signature_matches,
    LeadgenChange, NAME,
};
use crate::sources::submission::RequestMeta;
use crate::store::inbox::AckWrite;
use crate::store::models::{Campaign, NewIgnoredWebhook, NewInboxRow};
use crate::store::{json_text, now};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;
use std::time::Instant;

/// The most `leadgen` changes one webhook may carry.
const MAX_CHANGES: usize = 1000;

/// Meta's challenges are short numbers; anything much longer is not one.
const MAX_CHALLENGE: usize = 256;

/// `200` with `hub.challenge` as the body when `hub.mode=subscribe` and `hub.verify_token` is
/// `FACEBOOK_VERIFY_TOKEN`; `403` otherwise (also when no token is configured).
pub async fn verify_subscription(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let get = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let expected = state.config.facebook_verify_token.as_deref().unwrap_or("");
    let token_matches = !expected.is_empty()
        && constant_time_eq(
            get("hub.verify_token").unwrap_or("").as_bytes(),
            expected.as_bytes(),
        );
    match (get("hub.mode"), get("hub.challenge"), token_matches) {
        (Some("subscribe"), Some(challenge), true) if challenge.len() <= MAX_CHALLENGE => {
            HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .insert_header(("X-Content-Type-Options", "nosniff"))
                .body(challenge.to_string())
        }
        _ => {
            log::warn!("facebook.subscription_refused");
            HttpResponse::Forbidden().finish()
        }
    }
}

/// `POST`: Meta's lead webhook, signed with the app secret when `FACEBOOK_APP_SECRET` is set.
pub async fn receive_leads(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match accept_leads(&req, payload, &state).await {
        Ok(answer) => answer,
        Err(e) => refused(&state, &e),
    }
}

async fn accept_leads(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(req, payload, MAX_BODY_BYTES).await?;
    if let Some(secret) = state.config.facebook_app_secret.as_deref() {
        let header = req
            .headers()
            .get("X-Hub-Signature-256")
            .and_then(|v| v.to_str().ok());
        if !signature_matches(header, &body, secret) {
            log::warn!("webhook.unauthorized platform={NAME} reason=signature does not match");
            return Err(ApiError::Unauthorized);
        }
    }
    let ignored = |reason, payload| Ignored {
        platform: NAME.into(),
        account_id: None,
        campaign_id: None,
        reason,
        payload,
    };
    let webhook: Value = match serde_json::from_slice(&body) {
        Ok(webhook) => webhook,
        Err(e) => {
            let raw = raw_excerpt(&body, Some(format!("not JSON: {e}")));
            return keep_aside(state, ignored("invalid_payload", raw)).await;
        }
    };
    let changes = leadgen_changes(&webhook);
    if changes.is_empty() {
        let raw = raw_excerpt(&body, Some("no leadgen change".into()));
        return keep_aside(state, ignored("no_leadgen_change", raw)).await;
    }
    // Meta batches up to 1,000 changes; more is no delivery of Meta's, and would be as many
    // writes for one answer.
    if changes.len() > MAX_CHANGES {
        let why = format!("{} leadgen changes, more than {MAX_CHANGES}", changes.len());
        let raw = raw_excerpt(&body, Some(why));
        return keep_aside(state, ignored("too_many_changes", raw)).await;
    }
    let writes = route_changes(state, &changes);
    let leads = writes
        .iter()
        .filter(|w| matches!(w, AckWrite::Inbox(_)))
        .count() as u64;
    let deadline = Instant::now() + ACK_WAIT;
    let outcomes =
        futures_util::future::join_all(writes.into_iter().map(|w| state.ack.write(w, deadline)))
            .await;
    if let Some(AckOutcome::NotStored(e) | AckOutcome::Unknown(e)) =
        outcomes.iter().find(|o| **o != AckOutcome::Stored)
    {
        state.metrics.ack_failures.inc();
        log::error!("webhook.persistence_failed platform={NAME} error={e}");
        // Meta sends the whole webhook again; what was stored of it is fetched once.
        return Err(ApiError::Unavailable(
            "the webhook could not be stored; retry shortly".into(),
        ));
    }
    if leads > 0 {
        state
            .metrics
            .submissions_accepted
            .get_or_create(&label("source", NAME))
            .inc_by(leads);
        state.intake.do_send(Nudge);
    }
    Ok(success())
}

/// What each change becomes: an announcement per campaign that takes it, and an ignored webhook
/// for each matching campaign that does not (or one when no campaign matches).
fn route_changes(state: &AppState, changes: &[LeadgenChange]) -> Vec<AckWrite> {
    let snapshot = state.directory.snapshot();
    let campaigns = form_campaigns(&snapshot.campaigns);
    let mut writes = Vec::new();
    for change in changes {
        let announced = announcement_body(change);
        let ignored = |reason: &str, campaign: Option<&Campaign>| {
            AckWrite::Ignored(NewIgnoredWebhook {
                platform: NAME.into(),
                account_id: campaign.map(|c| c.account_id.clone()),
                campaign_id: campaign.map(|c| c.id.clone()),
                reason: reason.into(),
                payload_json: json_text(&announced),
                received_at: now(),
            })
        };
        // Ids go into Graph URLs: only Meta's decimal ids are taken.
        if !is_graph_id(&change.leadgen_id) || !is_graph_id(&change.page_id) {
            writes.push(ignored("invalid_payload", None));
            continue;
        }
        let routed = route_change(&campaigns, &snapshot.accounts, change);
        if routed.campaigns.is_empty() && routed.ignored.is_empty() {
            writes.push(ignored("unknown_campaign", None));
        }
        for (campaign, reason) in &routed.ignored {
            writes.push(ignored(reason, Some(campaign)));
        }
        for campaign in routed.campaigns {
            writes.push(AckWrite::Inbox(announcement_row(campaign, &announced)));
        }
    }
    let ignored = writes
        .iter()
        .filter(|w| matches!(w, AckWrite::Ignored(_)))
        .count();
    if ignored > 0 {
        log::info!("webhook.ignored platform={NAME} changes={ignored}");
    }
    writes
}

fn announcement_row(campaign: &Campaign, announced: &Value) -> NewInboxRow {
    let meta = RequestMeta::for_campaign(campaign.into(), chrono::Utc::now().timestamp_millis());
    NewInboxRow::request(NAME, &campaign.account_id, announced, &meta)
}
