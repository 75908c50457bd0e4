//! What a claimed batch's submissions carry into the pipeline: their campaign (and its CRM
//! settings, read once per batch), and afterwards each campaign's latest stored lead and the
//! batch's new leads.

use super::intake::RowSubmission;
use super::latest_leads::LatestLeads;
use super::live_events::LeadAdded;
use crate::crm::{crm_settings, CrmSettings};
use crate::directory::Directory;
use crate::pipeline::{PersistOutcome, PipelineItem};
use crate::scoring::SubmissionSignals;
use chrono::NaiveDateTime;
use std::collections::HashMap;
use std::sync::Arc;

/// Each submission with its signals and its campaign: the one its platform's URL named, else
/// the account's campaign of its source for its project.
pub fn pipeline_items(
    directory: &Directory,
    submissions: Vec<RowSubmission>,
    signals: Vec<SubmissionSignals>,
) -> Vec<PipelineItem> {
    let snapshot = directory.snapshot();
    // A campaign's settings are read once per batch.
    let mut crm_of: HashMap<String, Option<Arc<CrmSettings>>> = HashMap::new();
    submissions
        .into_iter()
        .zip(signals)
        .map(|(of_row, signals)| {
            let sub = &of_row.submission;
            let campaign = match &sub.campaign_id {
                Some(id) => snapshot.campaigns.iter().find(|c| &c.id == id),
                None => snapshot.campaign_for(
                    &sub.account_id,
                    &sub.lead_source,
                    sub.project_name.as_deref(),
                ),
            };
            PipelineItem {
                inbox_id: of_row.inbox_id,
                first_of_row: of_row.first_of_row,
                campaign_id: campaign.map(|c| c.id.clone()),
                campaign_webhook_url: campaign.and_then(|c| c.webhook_url.clone()),
                crm: campaign.and_then(|c| {
                    crm_of
                        .entry(c.id.clone())
                        .or_insert_with(|| crm_settings(c).map(Arc::new))
                        .clone()
                }),
                submission: of_row.submission,
                signals,
            }
        })
        .collect()
}

/// What the batch's outcomes are read against: each row's account, campaign and time.
pub struct RowFacts {
    pub account_id: String,
    pub campaign_id: Option<String>,
    pub at: NaiveDateTime,
}

pub fn row_facts(items: &[PipelineItem]) -> HashMap<i64, RowFacts> {
    items
        .iter()
        .map(|i| {
            let facts = RowFacts {
                account_id: i.submission.account_id.clone(),
                campaign_id: i.campaign_id.clone(),
                at: i.submission.submitted_at.naive_utc(),
            };
            (i.inbox_id, facts)
        })
        .collect()
}

/// The latest stored lead of each campaign in the batch.
pub fn latest_leads(
    outcomes: &[PersistOutcome],
    facts: &HashMap<i64, RowFacts>,
) -> Vec<(String, NaiveDateTime)> {
    let mut latest = LatestLeads::default();
    let stored = outcomes.iter().filter(|o| o.submission_public_id.is_some());
    for row in stored.filter_map(|o| facts.get(&o.inbox_id)) {
        if let Some(campaign) = &row.campaign_id {
            latest.note(campaign, row.at);
        }
    }
    latest.take()
}

/// The batch's new leads, for `GET /admin/events`.
pub fn new_leads(outcomes: &[PersistOutcome], facts: &HashMap<i64, RowFacts>) -> Vec<LeadAdded> {
    outcomes
        .iter()
        .filter(|o| o.new_lead && o.submission_public_id.is_some())
        .filter_map(|o| {
            Some(LeadAdded {
                lead_public_id: o.lead_public_id.clone()?,
                account_id: facts.get(&o.inbox_id)?.account_id.clone(),
            })
        })
        .collect()
}
