//! Each campaign's latest lead, for its `health.last_lead_at`: the Intake notes what it stores
//! and writes the latest per campaign once a second, never a row per submission. A crash loses
//! at most that second's notes (the time shown is then a little older).

use chrono::NaiveDateTime;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct LatestLeads(HashMap<String, NaiveDateTime>);

impl LatestLeads {
    pub fn note(&mut self, campaign_id: &str, at: NaiveDateTime) {
        let latest = self.0.entry(campaign_id.to_string()).or_insert(at);
        *latest = (*latest).max(at);
    }

    pub fn merge(&mut self, latest: Vec<(String, NaiveDateTime)>) {
        for (campaign_id, at) in latest {
            self.note(&campaign_id, at);
        }
    }

    pub fn take(&mut self) -> Vec<(String, NaiveDateTime)> {
        let mut latest: Vec<_> = std::mem::take(&mut self.0).into_iter().collect();
        latest.sort();
        latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_time_per_campaign_is_kept() {
        let t = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap().naive_utc();
        let mut latest = LatestLeads::default();
        latest.note("a", t(5));
        latest.note("a", t(3));
        latest.merge(vec![("b".into(), t(1)), ("a".into(), t(7))]);
        assert_eq!(latest.take(), vec![("a".into(), t(7)), ("b".into(), t(1))]);
        assert!(latest.take().is_empty());
    }
}
