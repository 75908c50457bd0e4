//! What a claimed batch's submissions carry into the pipeline: their campaign (and its CRM
//! settings, read once per batch), and afterwards each campaign's latest stored lead.

use super::intake::RowSubmission;
use super::latest_leads::LatestLeads;
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

/// Each row's campaign and when its submission came, for the campaigns' `last_lead_at`.
pub fn campaign_of_row(items: &[PipelineItem]) -> HashMap<i64, (String, NaiveDateTime)> {
    items
        .iter()
        .filter_map(|i| {
            let at = i.submission.submitted_at.naive_utc();
            Some((i.inbox_id, (i.campaign_id.clone()?, at)))
        })
        .collect()
}

/// The latest stored lead of each campaign in the batch.
pub fn latest_leads(
    outcomes: &[PersistOutcome],
    campaign_of_row: &HashMap<i64, (String, NaiveDateTime)>,
) -> Vec<(String, NaiveDateTime)> {
    let mut latest = LatestLeads::default();
    let stored = outcomes.iter().filter(|o| o.submission_public_id.is_some());
    for (campaign, at) in stored.filter_map(|o| campaign_of_row.get(&o.inbox_id)) {
        latest.note(campaign, *at);
    }
    latest.take()
}
