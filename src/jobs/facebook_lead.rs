//! The Graph fetch of a lead a Facebook webhook announced: one job per lead and campaign. Run by
//! the FacebookFetcher.
//!
//! Failure policy: by Meta's error code. 190 (the page token expired or was revoked) is recorded
//! on the token and the campaign and the job waits as a dead letter, replayed when the token is
//! replaced; 1, 2, 4, 17, 32, 613, network errors and 5xx are retried on the kind's schedule
//! (10 s, 1 min, 5 min, 30 min), then dead letters re-driven like the webhook's; 100 and 33 (the
//! lead does not exist or cannot be read) are dead letters at once, recorded on the campaign. A
//! lead already stored for the campaign is not fetched again.

use super::{Attempted, JobKind, KindSettings};
use crate::actors::db_executor::Db;
use crate::actors::intake::Nudge;
use crate::facebook::graph::{lead_url, GraphApi};
use crate::facebook::{self, campaign_error, store_lead, token_refused, LeadTarget, NoToken};
use crate::pipeline::ack::AckWriter;
use crate::pipeline::{platform_lead_key_of, platform_leads_stored};
use crate::sources::facebook::{GraphErrorHandling, LeadFetch, NAME as SOURCE};
use crate::store::models::{Job, NewJob};
use actix::Recipient;
use futures_util::future::LocalBoxFuture;
use std::sync::Arc;
use std::time::Duration;

pub const NAME: &str = "facebook_lead";

/// Rate limits (4, 17, 32, 613) lift within minutes to an hour.
pub const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(1800),
];

/// The fetch job of one announced lead for one campaign. Its id is the lead's per campaign, so a
/// lead Meta announces again (a retried webhook, a hand-over done twice) is fetched once.
pub fn fetch_job(fetch: &LeadFetch) -> NewJob {
    NewJob::pending(
        NAME,
        format!("facebook:{}:{}", fetch.campaign_id, fetch.leadgen_id),
        page_destination(&fetch.account_id, &fetch.page_id),
        serde_json::to_string(fetch).unwrap_or_else(|_| "{}".into()),
    )
}

/// A page's fetches share a destination: limited together, replayed together when its token is
/// replaced.
pub fn page_destination(account_id: &str, page_id: &str) -> String {
    format!("facebook:{account_id}:{page_id}")
}

pub struct FacebookLead {
    pub settings: KindSettings,
    pub db: Db,
    pub ack: AckWriter,
    pub intake: Recipient<Nudge>,
    pub config: Arc<crate::config::Config>,
    graph: Option<GraphApi>,
}

impl FacebookLead {
    pub fn new(
        settings: KindSettings,
        db: Db,
        ack: AckWriter,
        intake: Recipient<Nudge>,
        config: Arc<crate::config::Config>,
    ) -> Self {
        FacebookLead {
            settings,
            db,
            ack,
            intake,
            config,
            graph: None,
        }
    }
}

impl JobKind for FacebookLead {
    const NAME: &'static str = NAME;
    const ACTOR: &'static str = "FacebookFetcher";
    const EVENTS: &'static str = "facebook";

    fn settings(&self) -> &KindSettings {
        &self.settings
    }

    fn started(&mut self) {
        // A third of the attempt each for the exchange and the fetch; the rest to store.
        self.graph = Some(GraphApi::new(
            &self.config,
            self.settings.attempt_timeout / 3,
        ));
    }

    fn attempt(&self, job: &Job) -> LocalBoxFuture<'static, Attempted> {
        let fetch: Result<LeadFetch, _> = serde_json::from_str(&job.payload_json);
        let (db, ack, intake, graph) = (
            self.db.clone(),
            self.ack.clone(),
            self.intake.clone(),
            self.graph.clone(),
        );
        let limit = self.settings.attempt_timeout;
        Box::pin(async move {
            let Ok(fetch) = fetch else {
                return Attempted::failure(false, "an unreadable fetch job".into());
            };
            let Some(graph) = graph else {
                return Attempted::failure(true, "no Graph client yet".into());
            };
            // Within the lease, whatever the exchange, the fetch and the store take together.
            let fetching = fetch_lead(&db, &ack, &intake, &graph, &fetch);
            tokio::time::timeout(limit, fetching)
                .await
                .unwrap_or_else(|_| Attempted::failure(true, "timed out".into()))
        })
    }
}

async fn fetch_lead(
    db: &Db,
    ack: &AckWriter,
    intake: &Recipient<Nudge>,
    graph: &GraphApi,
    fetch: &LeadFetch,
) -> Attempted {
    let key = platform_lead_key_of(SOURCE, &fetch.campaign_id, &fetch.leadgen_id);
    match db.read(move |c| platform_leads_stored(c, &[key])).await {
        Ok(stored) if !stored.is_empty() => {
            log::info!(
                "facebook.lead_known leadgen_id={} campaign={}",
                fetch.leadgen_id,
                fetch.campaign_id
            );
            return Attempted::success();
        }
        Ok(_) => {}
        Err(e) => return Attempted::failure(true, format!("database: {e}")),
    }
    let token = match facebook::usable_token(db, graph, &fetch.account_id, &fetch.page_id).await {
        Ok(token) => token,
        Err(NoToken::Unavailable(e)) => return Attempted::failure(true, format!("database: {e}")),
        // Waits as a dead letter until the page's token is stored or replaced.
        Err(why) => {
            let error = why.describe(&fetch.page_id);
            campaign_error(db, &fetch.campaign_id, &error).await;
            return Attempted::failure(false, error);
        }
    };
    let url = lead_url(&graph.base, &graph.version, &fetch.leadgen_id, &token);
    match graph.get(&url).await {
        Ok(mut lead) => {
            if let Some(object) = lead.as_object_mut() {
                // The announcement's id is the one the campaign dedupes on.
                object.insert("id".into(), fetch.leadgen_id.clone().into());
            }
            let target = LeadTarget {
                account_id: fetch.account_id.clone(),
                campaign_id: fetch.campaign_id.clone(),
                project_name: fetch.project_name.clone(),
                page_id: fetch.page_id.clone(),
            };
            match store_lead(ack, intake, &target, &lead, "webhook", fetch.received_at_ms).await {
                Ok(()) => Attempted::success(),
                Err(e) => Attempted::failure(true, e),
            }
        }
        Err(failure) => {
            let error = failure.describe();
            let handling = failure.handling();
            if let (
                GraphErrorHandling::TokenInvalid,
                crate::facebook::graph::GraphFailure::Api { error: body, .. },
            ) = (handling, &failure)
            {
                token_refused(db, &fetch.account_id, &fetch.page_id, body).await;
            }
            if handling != GraphErrorHandling::Retry {
                campaign_error(db, &fetch.campaign_id, &error).await;
            }
            Attempted::failure(handling == GraphErrorHandling::Retry, error)
        }
    }
}
