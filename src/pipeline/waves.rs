//! A batch is stored in waves. A wave is the longest run of submissions, in order, none of which
//! reads what an earlier one of the wave writes (a key, the client IP's submissions, the lead it
//! joins): so all of a wave's reads go first (`gather.rs`), then its writes as a few multi-row
//! statements (`store.rs`), with the result of storing them one at a time. Hot keys (one person,
//! or anonymous visitors from one IP, many times in a batch) make waves of one: a submission then
//! costs what it did before.

use super::gather::{gather, Gathered};
use super::identity::{identity_keys, IdentityKey};
use super::plan::{plan, NewIds};
use super::store::{allocate_ids, write_wave, IdsOf};
use super::{PersistOutcome, PipelineItem, PipelineSettings};
use crate::sources::submission::Submission;
use crate::store::{now, AnyConnection, DbError};
use std::collections::HashSet;

pub fn store_in_waves(
    conn: &mut AnyConnection,
    items: &[&PipelineItem],
    settings: &PipelineSettings,
) -> Result<Vec<PersistOutcome>, DbError> {
    let mut outcomes = Vec::with_capacity(items.len());
    let mut submission_ids = allocate_ids(conn, IdsOf::LeadSubmissions, items.len())?.into_iter();
    let mut rest = items;
    while !rest.is_empty() {
        let candidates = &rest[..independent_prefix(rest)];
        let mut gathered = gather(conn, candidates)?;
        let wave = distinct_leads_prefix(&gathered);
        count_earlier_from_same_ip(&rest[..wave], &mut gathered[..wave]);
        let ids = submission_ids.by_ref().take(wave).collect();
        let stored = store_wave(conn, &rest[..wave], &gathered[..wave], ids, settings)?;
        outcomes.extend(stored);
        rest = &rest[wave..];
    }
    Ok(outcomes)
}

fn store_wave(
    conn: &mut AnyConnection,
    items: &[&PipelineItem],
    gathered: &[Gathered],
    submission_ids: Vec<i64>,
    settings: &PipelineSettings,
) -> Result<Vec<PersistOutcome>, DbError> {
    let new_leads = gathered.iter().filter(|g| g.existing.is_none()).count();
    let mut lead_ids = allocate_ids(conn, IdsOf::Leads, new_leads)?.into_iter();
    let t = now();
    let planned = items
        .iter()
        .zip(gathered)
        .zip(submission_ids)
        .map(|((item, gathered), submission_id)| {
            let ids = NewIds {
                lead_id: gathered
                    .existing
                    .is_none()
                    .then(|| lead_ids.next())
                    .flatten(),
                submission_id,
            };
            plan(item, gathered, ids, settings, t)
        })
        .collect();
    write_wave(conn, planned, t)
}

/// What a submission's reads look at and what its writes change, named within its account.
struct Footprint {
    reads: Vec<String>,
    writes: Vec<String>,
}

fn footprint(sub: &Submission) -> Footprint {
    let named = |what: String| format!("{}\u{0}{what}", sub.account_id);
    // Its keys: the leads of each are read (and the visitor's recent submissions), and written.
    let keys: Vec<String> = identity_keys(sub)
        .iter()
        .filter_map(IdentityKey::stored_as)
        .map(|(kind, value)| named(format!("{kind}:{value}")))
        .collect();
    let mut footprint = Footprint {
        reads: keys.clone(),
        writes: keys,
    };
    if let Some(ip) = stored_ip(sub) {
        let ip = named(format!("ip:{ip}"));
        // An anonymous one joins the IP's lead. (Without a visitor id the IP's recent submissions
        // are counted too: the wave's own are added in memory, `count_earlier_from_same_ip`.)
        if identity_keys(sub)
            .iter()
            .any(|key| matches!(key, IdentityKey::ClientIp(_)))
        {
            footprint.reads.push(ip.clone());
        }
        footprint.writes.push(ip);
    }
    footprint
}

/// The client IP the submission stores (where its source takes the IP as a key).
fn stored_ip(sub: &Submission) -> Option<&str> {
    sub.ip.as_deref().filter(|_| sub.ip_is_key)
}

/// A submission counted by its client IP also counts the wave's earlier ones from that IP in the
/// hour before it, which its read could not see (so one busy address does not make waves of one).
/// Exact with the read's cap: min(cap, min(cap, stored) + wave's) = min(cap, stored + wave's).
fn count_earlier_from_same_ip(items: &[&PipelineItem], gathered: &mut [Gathered]) {
    for (n, item) in items.iter().enumerate() {
        let sub = &item.submission;
        let Some(ip) = stored_ip(sub).filter(|_| sub.visitor_id.is_none()) else {
            continue;
        };
        let since = super::history::hour_before(sub);
        let earlier = items[..n]
            .iter()
            .map(|earlier| &earlier.submission)
            .filter(|e| e.account_id == sub.account_id && stored_ip(e) == Some(ip))
            .filter(|e| e.submitted_at.naive_utc() >= since)
            .count() as i64;
        let counted = &mut gathered[n].recent_submissions;
        *counted = (*counted + earlier).min(super::history::RECENT_SUBMISSIONS_COUNTED);
    }
}

/// How many submissions from the first read nothing an earlier one of them writes (at least one).
fn independent_prefix(items: &[&PipelineItem]) -> usize {
    let mut written: HashSet<String> = HashSet::new();
    for (n, item) in items.iter().enumerate() {
        let footprint = footprint(&item.submission);
        if footprint.reads.iter().any(|read| written.contains(read)) {
            return n;
        }
        written.extend(footprint.writes);
    }
    items.len()
}

/// How many gathered submissions from the first join distinct leads (at least one if any): two that join
/// one lead by different keys must see each other's writes.
fn distinct_leads_prefix(gathered: &[Gathered]) -> usize {
    let mut joined = HashSet::new();
    gathered
        .iter()
        .position(|g| {
            g.existing
                .as_ref()
                .is_some_and(|lead| !joined.insert(lead.id))
        })
        .unwrap_or(gathered.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::submission::RequestMeta;
    use crate::sources::website::website_submission;

    fn item(fields: serde_json::Value, ip: &str) -> PipelineItem {
        let meta = RequestMeta {
            ip: Some(ip.into()),
            received_at_ms: 1,
            ..RequestMeta::default()
        };
        PipelineItem {
            inbox_id: 1,
            first_of_row: true,
            submission: website_submission("s", "a", fields.as_object().unwrap(), &meta),
            signals: Default::default(),
            campaign_id: None,
            campaign_webhook_url: None,
            crm: None,
        }
    }

    fn prefix(items: &[PipelineItem]) -> usize {
        independent_prefix(&items.iter().collect::<Vec<_>>())
    }

    #[test]
    fn different_people_share_a_wave() {
        let items = [
            item(serde_json::json!({"email": "a@x.co"}), "10.0.0.1"),
            item(serde_json::json!({"email": "b@x.co"}), "10.0.0.2"),
            item(serde_json::json!({"visitor_id": "v3"}), "10.0.0.3"),
        ];
        assert_eq!(prefix(&items), 3);
    }

    #[test]
    fn a_returning_key_starts_a_new_wave() {
        let items = [
            item(
                serde_json::json!({"email": "a@x.co", "visitor_id": "v1"}),
                "10.0.0.1",
            ),
            item(serde_json::json!({"email": "b@x.co"}), "10.0.0.2"),
            item(serde_json::json!({"visitor_id": "v1"}), "10.0.0.3"),
        ];
        assert_eq!(prefix(&items), 2);
    }

    #[test]
    fn one_ip_is_a_conflict_only_for_the_anonymous() {
        // People from one office NAT, with or without visitor ids, share a wave (the counts by
        // IP are completed in memory).
        let people = [
            item(serde_json::json!({"visitor_id": "v1"}), "10.0.0.9"),
            item(serde_json::json!({"email": "a@x.co"}), "10.0.0.9"),
            item(serde_json::json!({"email": "b@x.co"}), "10.0.0.9"),
        ];
        assert_eq!(prefix(&people), 3);
        // An anonymous visitor joins the IP's lead: it must see the earlier one's.
        let anonymous = [
            item(serde_json::json!({"name": "Anon"}), "10.0.0.9"),
            item(serde_json::json!({"name": "Anon again"}), "10.0.0.9"),
        ];
        assert_eq!(prefix(&anonymous), 1);
    }

    #[test]
    fn the_first_submission_always_makes_a_wave() {
        let items = [item(serde_json::json!({"name": "Anon"}), "10.0.0.1")];
        assert_eq!(prefix(&items), 1);
    }
}
