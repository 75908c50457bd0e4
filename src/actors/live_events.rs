//! Live events for operators (`GET /admin/events`): the Intake announces each new lead on a
//! broadcast channel. A slow or vanished listener never slows the pipeline: the channel is
//! bounded and never waits; a listener that falls behind misses events (and is told so).

use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a listener may fall behind before it misses some.
const CAPACITY: usize = 1024;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadAdded {
    pub lead_public_id: String,
    pub account_id: String,
}

#[derive(Clone)]
pub struct LiveEvents(broadcast::Sender<LeadAdded>);

impl Default for LiveEvents {
    fn default() -> Self {
        LiveEvents(broadcast::channel(CAPACITY).0)
    }
}

impl LiveEvents {
    /// Announces the leads; nobody listening is no error.
    pub fn lead_added(&self, leads: Vec<LeadAdded>) {
        for lead in leads {
            let _ = self.0.send(lead);
        }
    }

    pub fn listen(&self) -> broadcast::Receiver<LeadAdded> {
        self.0.subscribe()
    }
}
