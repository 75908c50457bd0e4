//! Scorer: the per-submission signals (time to submit, disposable email, bot agent) and what
//! tracking knows of the visitor.
//! Failure policy: pure work; a panic stops the actor and the supervisor restarts it; the
//! caller puts the batch back in the inbox for a later attempt.

use super::health::{run_guarded, ActorCrash, ActorStats};
use crate::scoring::{signals_of, SubmissionSignals};
use crate::sources::submission::Submission;
use crate::tracking::VisitorActivities;
use actix::prelude::*;
use std::sync::Arc;

pub struct Scorer {
    pub stats: Arc<ActorStats>,
    /// `VPN_RANGES`: hosting and VPN networks.
    pub vpn_ranges: Arc<Vec<ipnet::IpNet>>,
}

impl Actor for Scorer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(64);
        self.stats.set_running();
    }
}

impl Supervised for Scorer {
    fn restarting(&mut self, _ctx: &mut Self::Context) {}
}

#[derive(Message)]
#[rtype(result = "Result<Vec<SubmissionSignals>, ActorCrash>")]
pub struct ScoreBatch(pub Vec<Submission>, pub VisitorActivities);

impl Handler<ScoreBatch> for Scorer {
    type Result = Result<Vec<SubmissionSignals>, ActorCrash>;

    fn handle(&mut self, msg: ScoreBatch, ctx: &mut Self::Context) -> Self::Result {
        let result = run_guarded(&self.stats, || {
            msg.0
                .iter()
                .map(|s| SubmissionSignals {
                    activity: s.visitor_id.as_ref().and_then(|v| msg.1.get(v)).cloned(),
                    ..signals_of(s, &self.vpn_ranges)
                })
                .collect::<Vec<_>>()
        });
        match &result {
            Ok(scored) => self.stats.record_processed(scored.len() as u64),
            Err(_) => ctx.stop(),
        }
        result
    }
}
