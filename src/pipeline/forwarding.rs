//! Whether a submission is forwarded to the CRM webhook. Pure.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy)]
pub struct ForwardPolicy {
    pub production: bool,
    pub duplicate_window_minutes: f64,
    pub reengage_hours: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardDecision {
    /// A new canonical lead: `lead.created`.
    Created,
    /// A returning person after `LEAD_REENGAGE_HOURS`: `lead.reengaged`, `is_duplicate`.
    Reengaged,
    SkipNotProduction,
    SkipBot,
    SkipDuplicateWindow,
    /// A repeat less than `LEAD_REENGAGE_HOURS` after the previous submission.
    SkipReengageWait,
    /// A repeat, and `LEAD_REENGAGE_HOURS=0`: repeats are never sent again.
    SkipReengageDisabled,
}

impl ForwardDecision {
    /// The decision's name in metrics.
    pub fn name(self) -> &'static str {
        match self {
            ForwardDecision::Created => "created",
            ForwardDecision::Reengaged => "reengaged",
            ForwardDecision::SkipNotProduction => "not_production",
            ForwardDecision::SkipBot => "bot",
            ForwardDecision::SkipDuplicateWindow => "duplicate_window",
            ForwardDecision::SkipReengageWait | ForwardDecision::SkipReengageDisabled => {
                "reengage_window"
            }
        }
    }

    /// The submission's `forward_decision` as the contract names it: `sent`, or why not.
    pub fn submission_value(self, has_webhook_url: bool) -> &'static str {
        match self {
            ForwardDecision::Created | ForwardDecision::Reengaged if has_webhook_url => "sent",
            ForwardDecision::Created | ForwardDecision::Reengaged => "no_webhook_url",
            ForwardDecision::SkipNotProduction => "not_production",
            ForwardDecision::SkipBot => "bot",
            ForwardDecision::SkipDuplicateWindow => "duplicate_window",
            ForwardDecision::SkipReengageWait => "reengage_wait",
            ForwardDecision::SkipReengageDisabled => "reengage_disabled",
        }
    }

    pub fn event(self) -> Option<&'static str> {
        match self {
            ForwardDecision::Created => Some("lead.created"),
            ForwardDecision::Reengaged => Some("lead.reengaged"),
            _ => None,
        }
    }
}

/// `previous_submission` is the lead's last submission before this one (`None`: a new lead).
pub fn decide(
    policy: &ForwardPolicy,
    is_bot_lead: bool,
    previous_submission: Option<DateTime<Utc>>,
    submitted_at: DateTime<Utc>,
) -> ForwardDecision {
    if !policy.production {
        return ForwardDecision::SkipNotProduction;
    }
    if is_bot_lead {
        return ForwardDecision::SkipBot;
    }
    let Some(previous) = previous_submission else {
        return ForwardDecision::Created;
    };
    let elapsed_seconds = (submitted_at - previous).num_milliseconds() as f64 / 1000.0;
    if elapsed_seconds < policy.duplicate_window_minutes * 60.0 {
        return ForwardDecision::SkipDuplicateWindow;
    }
    if policy.reengage_hours == 0.0 {
        return ForwardDecision::SkipReengageDisabled;
    }
    if elapsed_seconds < policy.reengage_hours * 3600.0 {
        return ForwardDecision::SkipReengageWait;
    }
    ForwardDecision::Reengaged
}

/// What forwarding comes to for one submission: the decision, its `forward_decision` value, and
/// the send to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarding {
    pub decision: ForwardDecision,
    pub value: &'static str,
    pub send: Option<Send>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Send {
    pub event: &'static str,
    pub url: String,
}

/// The forwarding rule, in one place: the pipeline asks it for every submission, the spool path
/// (the database down, so no earlier submission known) for a new lead. `url` is where the
/// campaign or the configuration says leads go.
pub fn forwarding(
    policy: &ForwardPolicy,
    is_bot_lead: bool,
    previous_submission: Option<DateTime<Utc>>,
    submitted_at: DateTime<Utc>,
    url: Option<String>,
) -> Forwarding {
    let decision = decide(policy, is_bot_lead, previous_submission, submitted_at);
    Forwarding {
        decision,
        value: decision.submission_value(url.is_some()),
        send: decision
            .event()
            .zip(url)
            .map(|(event, url)| Send { event, url }),
    }
}

/// Whether a submission that joins an existing lead counts as a duplicate of it.
pub fn is_duplicate(decision: ForwardDecision, joined_existing: bool) -> bool {
    joined_existing && decision != ForwardDecision::Created
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn policy() -> ForwardPolicy {
        ForwardPolicy {
            production: true,
            duplicate_window_minutes: 30.0,
            reengage_hours: 24.0,
        }
    }

    #[test]
    fn new_lead_is_created() {
        assert_eq!(
            decide(&policy(), false, None, Utc::now()),
            ForwardDecision::Created
        );
    }

    #[test]
    fn windows() {
        let now = Utc::now();
        let p = policy();
        assert_eq!(
            decide(&p, false, Some(now - Duration::minutes(5)), now),
            ForwardDecision::SkipDuplicateWindow
        );
        assert_eq!(
            decide(&p, false, Some(now - Duration::hours(2)), now),
            ForwardDecision::SkipReengageWait
        );
        assert_eq!(
            decide(&p, false, Some(now - Duration::hours(24)), now),
            ForwardDecision::Reengaged
        );
        let never = ForwardPolicy {
            reengage_hours: 0.0,
            ..p
        };
        assert_eq!(
            decide(&never, false, Some(now - Duration::days(300)), now),
            ForwardDecision::SkipReengageDisabled
        );
        let decimal = ForwardPolicy {
            reengage_hours: 0.5,
            duplicate_window_minutes: 0.1,
            ..p
        };
        assert_eq!(
            decide(&decimal, false, Some(now - Duration::minutes(31)), now),
            ForwardDecision::Reengaged
        );
    }

    #[test]
    fn never_outside_production_or_for_bots() {
        let dev = ForwardPolicy {
            production: false,
            ..policy()
        };
        assert_eq!(
            decide(&dev, false, None, Utc::now()),
            ForwardDecision::SkipNotProduction
        );
        assert_eq!(
            decide(&policy(), true, None, Utc::now()),
            ForwardDecision::SkipBot
        );
    }
}
