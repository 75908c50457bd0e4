//! Facebook Lead Ads, the parts that talk to Meta: the Graph API (`graph.rs`), the back-fill
//! (`backfill.rs`) and what the fetch job (`jobs/facebook_lead.rs`) shares with it: a page's
//! usable token (exchanged for a long-lived one when it is close to expiry), a refused token kept
//! on record, a lead read from the Graph API stored in the inbox. The pure parts are in
//! `sources/facebook/`.
//!
//! Failure policy: a lead read from the Graph API is stored in the inbox like a webhook request,
//! and deduplicated by its lead id per campaign in the pipeline, so reading it twice (a retried
//! fetch, a back-fill after a webhook) stores it once. A refused token is recorded on the token
//! and on its campaigns and logged once (`facebook.token_invalid`); the fetches it stopped wait as
//! dead letters until the token is replaced.

pub mod backfill;
pub mod graph;

use crate::actors::db_executor::Db;
use crate::actors::intake::Nudge;
use crate::pipeline::ack::{AckOutcome, AckWriter};
use crate::sources::facebook::{lead_body, token_problem, token_status, TokenStatus, NAME};
use crate::sources::submission::{CampaignRef, RequestMeta};
use crate::store::facebook as store;
use crate::store::inbox::AckWrite;
use crate::store::models::NewInboxRow;
use crate::store::now;
use actix::Recipient;
use graph::{exchange_url, exchanged_token, GraphApi};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Where a lead read from the Graph API goes.
#[derive(Debug, Clone)]
pub struct LeadTarget {
    pub account_id: String,
    pub campaign_id: String,
    pub project_name: Option<String>,
    pub page_id: String,
}

/// Why a page has no token to read with.
#[derive(Debug, Clone, PartialEq)]
pub enum NoToken {
    Missing,
    Refused(String),
    Unavailable(String),
}

impl NoToken {
    pub fn describe(&self, page_id: &str) -> String {
        match self {
            NoToken::Missing => format!("no access token for page {page_id}"),
            NoToken::Refused(why) => format!("the token of page {page_id} was refused: {why}"),
            NoToken::Unavailable(e) => {
                format!("the token of page {page_id} could not be read: {e}")
            }
        }
    }
}

/// The page's token, exchanged first for a long-lived one when it expires within a week and the
/// app's id and secret are configured (a failed exchange keeps the old token: it still works).
pub async fn usable_token(
    db: &Db,
    graph: &GraphApi,
    account_id: &str,
    page_id: &str,
) -> Result<String, NoToken> {
    let (account, page) = (account_id.to_string(), page_id.to_string());
    let token = db
        .read(move |c| store::page_token(c, &account, &page))
        .await
        .map_err(|e| NoToken::Unavailable(e.to_string()))?
        .ok_or(NoToken::Missing)?;
    if let Some(problem) = &token.invalid_reason {
        return Err(NoToken::Refused(problem.clone()));
    }
    let status = token_status(Some((token.expires_at, None)), now());
    if status == TokenStatus::Expired {
        // Recorded (and logged once) as Meta would refuse it, without asking Meta.
        let expired = serde_json::json!({"error": {"code": 190, "error_subcode": 463,
            "message": "the token's expires_at has passed"}});
        token_refused(db, account_id, page_id, &expired).await;
        return Err(NoToken::Refused(token_problem(&expired)));
    }
    let (Some(app), TokenStatus::Expiring) = (&graph.app, status) else {
        return Ok(token.access_token);
    };
    let url = exchange_url(&graph.base, &graph.version, app, &token.access_token);
    let exchanged = graph
        .get(&url)
        .await
        .map(|answer| exchanged_token(&answer, now()));
    match exchanged {
        Ok(Some((long_lived, expires_at))) => {
            let (old, new) = (token.clone(), long_lived.clone());
            let stored = db
                .run(move |c| store::store_exchanged_token(c, &old, &new, expires_at))
                .await;
            log::info!(
                "facebook.token_exchanged account={account_id} page={page_id} stored={}",
                stored.is_ok()
            );
            Ok(long_lived)
        }
        Ok(None) => {
            log::warn!(
                "facebook.token_exchange_failed page={page_id} error=no token in the answer"
            );
            Ok(token.access_token)
        }
        Err(e) => {
            log::warn!(
                "facebook.token_exchange_failed page={page_id} error={}",
                e.describe()
            );
            Ok(token.access_token)
        }
    }
}

/// Graph error 190: kept on the token until it is replaced, logged the first time.
pub async fn token_refused(db: &Db, account_id: &str, page_id: &str, error: &Value) {
    let problem = token_problem(error);
    let (account, page, kept) = (account_id.to_string(), page_id.to_string(), problem.clone());
    match db
        .run(move |c| store::mark_token_refused(c, &account, &page, &kept))
        .await
    {
        Ok(true) => log::error!(
            "facebook.token_invalid account={account_id} page={page_id} problem={problem:?}: \
             its leads wait until the token is replaced (PUT /admin/accounts/{account_id}/facebook-token)"
        ),
        Ok(false) => {}
        Err(e) => log::warn!("facebook.token_mark_failed page={page_id} error={e}"),
    }
}

/// The campaign's last error, with its time: kept when leads flow again (`last_lead_at` after
/// it says they do), so an operator sees what went wrong last.
pub async fn campaign_error(db: &Db, campaign_id: &str, error: &str) {
    let (campaign, error) = (campaign_id.to_string(), error.to_string());
    let written = db
        .run(move |c| store::set_campaign_error(c, &campaign, &error))
        .await;
    if let Err(e) = written {
        log::warn!("facebook.health_unrecorded campaign={campaign_id} error={e}");
    }
}

/// How long storing a lead read from the Graph API waits for the inbox.
const STORE_WAIT: Duration = Duration::from_secs(10);

/// A lead read from the Graph API into the inbox, as a request of the Facebook source.
pub async fn store_lead(
    ack: &AckWriter,
    intake: &Recipient<Nudge>,
    target: &LeadTarget,
    lead: &Value,
    via: &str,
    received_at_ms: i64,
) -> Result<(), String> {
    let campaign = CampaignRef {
        id: target.campaign_id.clone(),
        project_name: target.project_name.clone(),
    };
    let meta = RequestMeta::for_campaign(campaign, received_at_ms);
    let body = lead_body(lead, &target.page_id, via);
    let row = NewInboxRow::request(NAME, &target.account_id, &body, &meta);
    match ack
        .write(AckWrite::Inbox(row), Instant::now() + STORE_WAIT)
        .await
    {
        AckOutcome::Stored => {
            intake.do_send(Nudge);
            Ok(())
        }
        AckOutcome::NotStored(e) | AckOutcome::Unknown(e) => Err(format!("not stored: {e}")),
    }
}

/// When a lead was created, by its Graph `created_time` (`2021-08-27T18:12:06+0000`).
pub fn created_at_ms(lead: &Value) -> Option<i64> {
    let text = lead.get("created_time")?.as_str()?;
    chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_times_are_read_in_both_spellings() {
        let lead = serde_json::json!({"created_time": "2021-08-27T18:12:06+0000"});
        assert_eq!(created_at_ms(&lead), Some(1_630_087_926_000));
        let rfc = serde_json::json!({"created_time": "2021-08-27T18:12:06Z"});
        assert_eq!(created_at_ms(&rfc), Some(1_630_087_926_000));
        assert_eq!(created_at_ms(&serde_json::json!({"created_time": 5})), None);
    }
}
