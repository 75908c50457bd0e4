//! Visitor tracking: the events `/t.js` reports to `POST /v1/track`, read and checked here, and
//! what they add to a visitor's sessions and totals (`apply`), decided in memory.
//!
//! Failure policy: an event that does not read is refused whole (`400`), never stored in part;
//! a time the client got wrong is replaced by the server's; time between two events of a session
//! counts for at most a minute (the tracker reports every 15 s while the page is seen and used),
//! so a tab left open overnight is not hours on the site.

pub mod buffer;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use std::collections::HashMap;

pub use buffer::{Refused, Tracking};

/// A tracking body larger than this is refused (`413`): an event is a few hundred bytes.
pub const MAX_EVENT_BYTES: usize = 8 * 1024;
/// Ids are the tracker's (UUIDs); anything longer is not one.
const MAX_ID_CHARS: usize = 128;
const MAX_URL_CHARS: usize = 2048;
/// A longer page title is cut here rather than refused: titles are the site's, not the visitor's.
const MAX_TITLE_CHARS: usize = 512;
const MAX_TIME_ZONE_CHARS: usize = 64;
/// The tracker starts a new session after this long idle.
pub const SESSION_IDLE_MINUTES: i64 = 30;
/// The longest gap between two events of a session that counts as time on the site: the tracker
/// reports every 15 s while the page is seen and used, so a longer gap is a hidden or idle page.
pub const COUNTED_GAP_SECONDS: i64 = 60;

/// What a tracking event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    PageView,
    Heartbeat,
    Leave,
}

impl EventKind {
    fn parse(text: &str) -> Option<EventKind> {
        match text {
            "pageview" => Some(EventKind::PageView),
            "heartbeat" => Some(EventKind::Heartbeat),
            "leave" => Some(EventKind::Leave),
            _ => None,
        }
    }
}

/// One tracking event, checked, with the request's address and agent.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackEvent {
    pub visitor_id: String,
    pub session_id: String,
    pub kind: EventKind,
    pub url: Option<String>,
    pub referrer: Option<String>,
    pub title: Option<String>,
    /// The client's time when it is plausible, else the server's.
    pub at: NaiveDateTime,
    pub time_zone: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl TrackEvent {
    /// About what it holds in memory while it waits to be written.
    pub fn size(&self) -> usize {
        let texts = [
            &self.url,
            &self.referrer,
            &self.title,
            &self.time_zone,
            &self.ip,
            &self.user_agent,
        ];
        std::mem::size_of::<TrackEvent>()
            + self.visitor_id.len()
            + self.session_id.len()
            + texts
                .iter()
                .map(|t| t.as_ref().map_or(0, String::len))
                .sum::<usize>()
    }
}

/// Reads a `/v1/track` body (`{"visitor_id", "session_id", "type", "url", "referrer", "title",
/// "ts", "tz"}`); `Err` names what is wrong.
pub fn parse_event(body: &[u8], now: DateTime<Utc>) -> Result<TrackEvent, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Value::Object(fields) = value else {
        return Err("the body must be a JSON object".into());
    };
    let kind_text = required_text(&fields, "type")?;
    let kind = EventKind::parse(&kind_text).ok_or_else(|| {
        format!("\"type\" must be \"pageview\", \"heartbeat\" or \"leave\", not {kind_text:?}")
    })?;
    let url = optional_text(&fields, "url", usize::MAX)?.map(|u| cut(u, MAX_URL_CHARS));
    if let Some(url) = &url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err("\"url\" must be an http(s) address".into());
        }
    }
    if kind == EventKind::PageView && url.is_none() {
        return Err("a \"pageview\" needs its \"url\"".into());
    }
    Ok(TrackEvent {
        visitor_id: tracker_id(&fields, "visitor_id")?,
        session_id: tracker_id(&fields, "session_id")?,
        kind,
        url,
        referrer: optional_text(&fields, "referrer", usize::MAX)?.map(|r| cut(r, MAX_URL_CHARS)),
        title: optional_text(&fields, "title", usize::MAX)?.map(|t| cut(t, MAX_TITLE_CHARS)),
        at: event_time(fields.get("ts"), now)?,
        time_zone: time_zone(&fields)?,
        ip: None,
        user_agent: None,
    })
}

/// Addresses and titles are the site's, not the visitor's: a long one is cut, not refused.
fn cut(text: String, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text[..end].to_string(),
        None => text,
    }
}

fn required_text(fields: &Map<String, Value>, key: &str) -> Result<String, String> {
    match fields.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(format!("\"{key}\" is missing")),
        Some(_) => Err(format!("\"{key}\" must be a string")),
    }
}

/// A string of at most `max` characters without control characters; empty is absent.
fn optional_text(
    fields: &Map<String, Value>,
    key: &str,
    max: usize,
) -> Result<Option<String>, String> {
    let text = match fields.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text.trim(),
        Some(_) => return Err(format!("\"{key}\" must be a string")),
    };
    if text.chars().any(char::is_control) {
        return Err(format!("\"{key}\" holds control characters"));
    }
    if text.chars().count() > max {
        return Err(format!("\"{key}\" is longer than {max} characters"));
    }
    Ok((!text.is_empty()).then(|| text.to_string()))
}

/// A visitor or session id: letters, digits and `-_.:`, at most 128 characters.
fn tracker_id(fields: &Map<String, Value>, key: &str) -> Result<String, String> {
    let id = required_text(fields, key)?;
    let valid = id.len() <= MAX_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    match valid {
        true => Ok(id),
        false => Err(format!(
            "\"{key}\" must be at most {MAX_ID_CHARS} letters, digits or -_.:"
        )),
    }
}

/// `ts` (epoch ms) when it lies within the last 7 days and at most 5 minutes ahead, else now.
fn event_time(ts: Option<&Value>, now: DateTime<Utc>) -> Result<NaiveDateTime, String> {
    let millis = match ts {
        None | Some(Value::Null) => return Ok(now.naive_utc()),
        Some(Value::Number(n)) => n.as_f64().ok_or("\"ts\" is not a number")?,
        Some(_) => return Err("\"ts\" must be a number (epoch milliseconds)".into()),
    };
    let plausible = millis.is_finite()
        && millis >= (now - Duration::days(7)).timestamp_millis() as f64
        && millis <= (now + Duration::minutes(5)).timestamp_millis() as f64;
    Ok(match plausible {
        true => DateTime::from_timestamp_millis(millis as i64)
            .unwrap_or(now)
            .naive_utc(),
        false => now.naive_utc(),
    })
}

/// `tz`, an IANA name such as `Asia/Kolkata`: letters, digits and `/_+-`.
fn time_zone(fields: &Map<String, Value>) -> Result<Option<String>, String> {
    let tz = optional_text(fields, "tz", MAX_TIME_ZONE_CHARS)?;
    match &tz {
        Some(name)
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c)) =>
        {
            Err("\"tz\" must be an IANA time zone name".into())
        }
        _ => Ok(tz),
    }
}

/// A session as stored: `stored` tells an update from an insert.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionState {
    pub visitor_id: String,
    pub session_id: String,
    pub started_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub page_views: i64,
    pub seconds_on_site: i64,
    pub landing_url: Option<String>,
    pub referrer: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub time_zone: Option<String>,
    pub stored: bool,
}

/// A visitor's running totals as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitorTotals {
    pub visitor_id: String,
    pub sessions: i64,
    pub page_views: i64,
    pub seconds_on_site: i64,
    pub time_zone: Option<String>,
    pub first_seen_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub stored: bool,
}

/// A page view to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct PageView {
    pub visitor_id: String,
    pub session_id: String,
    pub url: String,
    pub title: Option<String>,
    pub referrer: Option<String>,
    pub viewed_at: NaiveDateTime,
}

pub type SessionKey = (String, String);

/// The sessions and visitors a batch of events touches, as read, then as the events leave them
/// (every one is written back: only the batch's own keys are read).
#[derive(Debug, Default)]
pub struct Touched {
    pub sessions: HashMap<SessionKey, SessionState>,
    pub visitors: HashMap<String, VisitorTotals>,
}

/// Adds the events (in arrival order) to what was read; returns the page views to insert.
pub fn apply(touched: &mut Touched, events: &[TrackEvent]) -> Vec<PageView> {
    let mut page_views = Vec::new();
    for event in events {
        let key = (event.visitor_id.clone(), event.session_id.clone());
        let new_session = !touched.sessions.contains_key(&key);
        let visitor = touched
            .visitors
            .entry(event.visitor_id.clone())
            .or_insert_with(|| new_visitor(event));
        let session = touched
            .sessions
            .entry(key.clone())
            .or_insert_with(|| new_session_of(event));
        let counted = match new_session {
            true => 0,
            false => counted_seconds(session.last_seen_at, event.at),
        };
        session.seconds_on_site += counted;
        visitor.seconds_on_site += counted;
        session.started_at = session.started_at.min(event.at);
        session.last_seen_at = session.last_seen_at.max(event.at);
        visitor.first_seen_at = visitor.first_seen_at.min(event.at);
        visitor.last_seen_at = visitor.last_seen_at.max(event.at);

        if event.time_zone.is_some() {
            visitor.time_zone.clone_from(&event.time_zone);
            session.time_zone.clone_from(&event.time_zone);
        }
        if let (EventKind::PageView, Some(url)) = (event.kind, &event.url) {
            // A session counts from its first page: a heartbeat after a long pause is no visit.
            if session.page_views == 0 {
                visitor.sessions += 1;
            }
            session.page_views += 1;
            visitor.page_views += 1;
            page_views.push(PageView {
                visitor_id: event.visitor_id.clone(),
                session_id: event.session_id.clone(),
                url: url.clone(),
                title: event.title.clone(),
                referrer: event.referrer.clone(),
                viewed_at: event.at,
            });
        }
    }
    page_views
}

/// Seconds between a session's last event and this one, at most `COUNTED_GAP_SECONDS`; none
/// backwards.
fn counted_seconds(last_seen_at: NaiveDateTime, at: NaiveDateTime) -> i64 {
    (at - last_seen_at)
        .num_seconds()
        .clamp(0, COUNTED_GAP_SECONDS)
}

fn new_visitor(event: &TrackEvent) -> VisitorTotals {
    VisitorTotals {
        visitor_id: event.visitor_id.clone(),
        sessions: 0,
        page_views: 0,
        seconds_on_site: 0,
        time_zone: event.time_zone.clone(),
        first_seen_at: event.at,
        last_seen_at: event.at,
        stored: false,
    }
}

fn new_session_of(event: &TrackEvent) -> SessionState {
    SessionState {
        visitor_id: event.visitor_id.clone(),
        session_id: event.session_id.clone(),
        started_at: event.at,
        last_seen_at: event.at,
        page_views: 0,
        seconds_on_site: 0,
        landing_url: event.url.clone(),
        referrer: event.referrer.clone(),
        ip: event.ip.clone(),
        user_agent: event.user_agent.clone(),
        time_zone: event.time_zone.clone(),
        stored: false,
    }
}

/// What tracking knows of a visitor when their lead is scored.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VisitorActivity {
    pub sessions: i64,
    pub page_views: i64,
    pub seconds_on_site: i64,
    pub time_zone: Option<String>,
}

/// Tracked visitors' activity, by visitor id.
pub type VisitorActivities = HashMap<String, VisitorActivity>;
