//! `GET /admin/events[?account=]`: Server-Sent Events for operators, `leadadded` for each new
//! lead (`{"lead_public_id", "account_id"}`). A listener that reads too slowly misses events and
//! is told how many (a comment line); it never holds up the pipeline, which never waits for it.

use super::auth::Admin;
use super::AppState;
use crate::actors::live_events::LeadAdded;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use futures_util::future::{select, Either};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::broadcast::{error::RecvError, Receiver};

/// A comment this often keeps proxies from closing a quiet stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
pub struct EventsQuery {
    account: Option<String>,
}

pub async fn live_events(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<EventsQuery>,
) -> HttpResponse {
    let account = query.into_inner().account.filter(|a| !a.is_empty());
    let listener = Listener {
        events: state.events.listen(),
        account,
        started: false,
    };
    let stream = futures_util::stream::unfold(listener, |mut listener| async move {
        let chunk = listener.next_chunk().await?;
        Some((Ok::<_, actix_web::Error>(chunk), listener))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        // nginx would otherwise hold the events back in its buffer.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream)
}

struct Listener {
    events: Receiver<LeadAdded>,
    account: Option<String>,
    started: bool,
}

impl Listener {
    /// The next text to send: an event, a keepalive, or news of missed events; `None` ends it.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if !self.started {
            self.started = true;
            return Some(Bytes::from_static(b": listening\n\n"));
        }
        // One deadline for the whole wait: skipped events of other accounts do not put it off.
        let keepalive = actix_rt::time::Instant::now() + KEEPALIVE;
        loop {
            let received = self.events.recv();
            let quiet = actix_rt::time::sleep_until(keepalive);
            futures_util::pin_mut!(received, quiet);
            match select(received, quiet).await {
                Either::Left((Ok(lead), _)) => {
                    if self.account.as_ref().is_some_and(|a| *a != lead.account_id) {
                        continue;
                    }
                    return Some(lead_added(&lead));
                }
                Either::Left((Err(RecvError::Lagged(missed)), _)) => {
                    return Some(Bytes::from(format!(": missed {missed} events\n\n")));
                }
                Either::Left((Err(RecvError::Closed), _)) => return None,
                Either::Right(_) => return Some(Bytes::from_static(b": keepalive\n\n")),
            }
        }
    }
}

/// One `leadadded` event in the SSE wire format.
pub fn lead_added(lead: &LeadAdded) -> Bytes {
    let data = serde_json::to_string(lead).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: leadadded\ndata: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_sse_block() {
        let lead = LeadAdded {
            lead_public_id: "l1".into(),
            account_id: "a1".into(),
        };
        assert_eq!(
            lead_added(&lead),
            Bytes::from(
                "event: leadadded\ndata: {\"lead_public_id\":\"l1\",\"account_id\":\"a1\"}\n\n"
            )
        );
    }
}
