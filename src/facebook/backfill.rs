//! The back-fill: Meta retries a failed delivery for at most 36 hours, and a page whose app
//! subscription broke sends nothing, so every active `facebook_ads` campaign's form is read from
//! the Graph API (`/{form_id}/leads`, newest since an hour before the last complete read, the
//! first time 90 days, following `paging.next`) at start, when a campaign or page token changes,
//! and every `FACEBOOK_BACKFILL_MINUTES`. A lead the campaign does not have yet is stored as if
//! its webhook had come; one it has is skipped.
//!
//! Failure policy: one campaign's failure (a refused token, a rate limit, a form it may not read)
//! is recorded on that campaign and never stops the others' reads; an incomplete read does not
//! move the campaign's starting point, so the next read covers the same time again.

use super::graph::{form_leads_url, is_graph_id, next_page, GraphApi, GraphFailure};
use super::{campaign_error, created_at_ms, store_lead, token_refused, usable_token, LeadTarget};
use crate::actors::db_executor::Db;
use crate::actors::health::ActorStats;
use crate::actors::intake::Nudge;
use crate::directory::Directory;
use crate::metrics::{label, Metrics};
use crate::pipeline::ack::AckWriter;
use crate::pipeline::{platform_lead_key_of, platform_leads_stored};
use crate::sources::common::platform::id_text;
use crate::sources::facebook::{backfill_since, GraphErrorHandling, NAME};
use crate::store::facebook as store;
use crate::store::now;
use actix::prelude::*;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// More pages than any form has in 90 days: a `next` link that loops ends here.
const MAX_PAGES: usize = 10_000;
/// How many recently stored leads are remembered (then forgotten at once; the pipeline dedupes).
const MAX_RECENT: usize = 100_000;

/// Read every campaign's form now (at start, after a campaign or token change).
#[derive(Message)]
#[rtype(result = "()")]
pub struct BackfillNow;

pub struct Backfill {
    pub db: Db,
    pub ack: AckWriter,
    pub intake: Recipient<Nudge>,
    pub config: Arc<crate::config::Config>,
    pub directory: Arc<Directory>,
    pub metrics: Arc<Metrics>,
    pub stats: Arc<ActorStats>,
    pub interval: Duration,
    graph: Option<GraphApi>,
    reading: bool,
    again: bool,
    recent: Rc<RefCell<HashSet<String>>>,
}

impl Backfill {
    pub fn new(
        db: Db,
        ack: AckWriter,
        intake: Recipient<Nudge>,
        config: Arc<crate::config::Config>,
        directory: Arc<Directory>,
        metrics: Arc<Metrics>,
        stats: Arc<ActorStats>,
    ) -> Backfill {
        let interval = Duration::from_secs_f64(config.facebook_backfill_minutes * 60.0);
        Backfill {
            db,
            ack,
            intake,
            config,
            directory,
            metrics,
            stats,
            interval,
            graph: None,
            reading: false,
            again: false,
            recent: Rc::default(),
        }
    }
}

impl Actor for Backfill {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.stats.set_running();
        self.graph = Some(GraphApi::new(&self.config, Duration::from_secs(30)));
        self.reading = false;
        ctx.run_interval(self.interval, |act, ctx| act.read_all(ctx, false));
        self.read_all(ctx, true);
    }
}

impl Supervised for Backfill {}

impl Handler<BackfillNow> for Backfill {
    type Result = ();

    fn handle(&mut self, _msg: BackfillNow, ctx: &mut Self::Context) {
        self.read_all(ctx, true);
    }
}

impl Backfill {
    /// `requested`: after a change, which a read under way may have missed (a timer tick during
    /// a long read is not: the read under way is that tick's).
    fn read_all(&mut self, ctx: &mut Context<Self>, requested: bool) {
        if self.reading {
            self.again |= requested;
            return;
        }
        let Some(graph) = self.graph.clone() else {
            return;
        };
        self.reading = true;
        self.again = false;
        let reader = Reader {
            db: self.db.clone(),
            ack: self.ack.clone(),
            intake: self.intake.clone(),
            metrics: self.metrics.clone(),
            graph,
            recent: self.recent.clone(),
        };
        let targets = campaigns_to_read(&self.directory);
        let work = async move {
            let mut outcomes = Vec::new();
            for (target, form_id) in targets {
                outcomes.push(reader.read_campaign(&target, &form_id).await);
            }
            outcomes
        };
        ctx.spawn(work.into_actor(self).map(|outcomes, act, ctx| {
            act.reading = false;
            for outcome in outcomes {
                match outcome {
                    Ok(_) => act.stats.record_processed(1),
                    Err(e) => act.stats.record_error(&e),
                }
            }
            if act.again {
                act.read_all(ctx, false);
            }
        }));
    }
}

/// The active `facebook_ads` campaigns of active accounts that name a page and a form.
fn campaigns_to_read(directory: &Directory) -> Vec<(LeadTarget, String)> {
    let snapshot = directory.snapshot();
    snapshot
        .live_campaigns(NAME)
        .filter_map(|c| {
            let settings = c.settings();
            let page = id_text(settings.get("page_id")).filter(|p| is_graph_id(p))?;
            let form = id_text(settings.get("lead_form_id")).filter(|f| is_graph_id(f))?;
            let target = LeadTarget {
                account_id: c.account_id.clone(),
                campaign_id: c.id.clone(),
                project_name: c.project_name.clone(),
                page_id: page,
            };
            Some((target, form))
        })
        .collect()
}

struct Reader {
    db: Db,
    ack: AckWriter,
    intake: Recipient<Nudge>,
    metrics: Arc<Metrics>,
    graph: GraphApi,
    /// Leads this back-fill stored lately: a read soon after another (a change, then the tick)
    /// does not store again what the pipeline has not stored yet.
    recent: Rc<RefCell<HashSet<String>>>,
}

impl Reader {
    /// One campaign's form, page by page; returns how many leads it recovered.
    async fn read_campaign(&self, target: &LeadTarget, form_id: &str) -> Result<usize, String> {
        let outcome = self.read_form(target, form_id).await;
        let (result, error) = match &outcome {
            Ok(recovered) => {
                log::info!(
                    "facebook.backfill_read campaign={} form={form_id} recovered={recovered}",
                    target.campaign_id
                );
                ("complete", None)
            }
            Err(e) => {
                log::warn!(
                    "facebook.backfill_failed campaign={} form={form_id} error={e}",
                    target.campaign_id
                );
                ("failed", Some(e.clone()))
            }
        };
        self.metrics
            .facebook_backfill_reads
            .get_or_create(&label("result", result))
            .inc();
        if let Some(error) = error {
            campaign_error(&self.db, &target.campaign_id, &error).await;
        }
        outcome
    }

    async fn read_form(&self, target: &LeadTarget, form_id: &str) -> Result<usize, String> {
        let token = usable_token(&self.db, &self.graph, &target.account_id, &target.page_id)
            .await
            .map_err(|why| why.describe(&target.page_id))?;
        let campaign = target.campaign_id.clone();
        let health = self
            .db
            .read(move |c| store::campaign_health_of(c, &[campaign]))
            .await
            .map_err(|e| format!("database: {e}"))?;
        let started = now();
        let since = backfill_since(health.first().and_then(|h| h.backfilled_from), started);
        let graph = &self.graph;
        let mut url = form_leads_url(
            &graph.base,
            &graph.version,
            form_id,
            &token,
            since.and_utc().timestamp(),
        );
        let (mut recovered, mut seen) = (0, HashSet::new());
        loop {
            // Only a read that reached the last page moves the campaign's starting point.
            if seen.len() >= MAX_PAGES || !seen.insert(url.clone()) {
                return Err(format!("the form's pages do not end (page {})", seen.len()));
            }
            let page = match graph.get(&url).await {
                Ok(page) => page,
                Err(failure) => return Err(self.failed(target, failure).await),
            };
            recovered += self.store_new_leads(target, &page).await?;
            match next_page(&page, &graph.base) {
                Some(next) => url = next,
                None => break,
            }
        }
        let campaign = target.campaign_id.clone();
        self.db
            .run(move |c| store::set_backfilled_from(c, &campaign, started))
            .await
            .map_err(|e| format!("database: {e}"))?;
        Ok(recovered)
    }

    async fn failed(&self, target: &LeadTarget, failure: GraphFailure) -> String {
        if let (GraphErrorHandling::TokenInvalid, GraphFailure::Api { error, .. }) =
            (failure.handling(), &failure)
        {
            token_refused(&self.db, &target.account_id, &target.page_id, error).await;
        }
        failure.describe()
    }

    /// The page's leads that the campaign does not have yet, into the inbox.
    async fn store_new_leads(&self, target: &LeadTarget, page: &Value) -> Result<usize, String> {
        let leads: Vec<(String, &Value)> = page
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|lead| Some((id_text(lead.get("id")).filter(|id| is_graph_id(id))?, lead)))
            .collect();
        let keys: Vec<String> = leads
            .iter()
            .map(|(id, _)| platform_lead_key_of(NAME, &target.campaign_id, id))
            .collect();
        let lookup = keys.clone();
        let known = self
            .db
            .read(move |c| platform_leads_stored(c, &lookup))
            .await
            .map_err(|e| format!("database: {e}"))?;
        let mut stored = 0;
        for ((_, lead), key) in leads.iter().zip(&keys) {
            if known.contains(key) || self.recent.borrow().contains(key) {
                continue;
            }
            let at = created_at_ms(lead).unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
            store_lead(&self.ack, &self.intake, target, lead, "backfill", at).await?;
            let mut recent = self.recent.borrow_mut();
            if recent.len() >= MAX_RECENT {
                recent.clear();
            }
            recent.insert(key.clone());
            self.metrics.facebook_backfill_leads.inc();
            stored += 1;
        }
        Ok(stored)
    }
}
