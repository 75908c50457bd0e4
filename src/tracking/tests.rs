use super::*;
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap()
}

fn parse(body: serde_json::Value) -> Result<TrackEvent, String> {
    parse_event(body.to_string().as_bytes(), now())
}

fn pageview() -> serde_json::Value {
    serde_json::json!({
        "visitor_id": "v-1", "session_id": "s-1", "type": "pageview",
        "url": "https://site.example/pricing", "referrer": "https://google.com/",
        "title": "Pricing", "ts": now().timestamp_millis() - 1_000, "tz": "Asia/Kolkata"
    })
}

#[test]
fn a_page_view_reads_whole() {
    let event = parse(pageview()).unwrap();
    assert_eq!(event.kind, EventKind::PageView);
    assert_eq!(event.url.as_deref(), Some("https://site.example/pricing"));
    assert_eq!(event.time_zone.as_deref(), Some("Asia/Kolkata"));
    assert_eq!(event.at, (now() - Duration::seconds(1)).naive_utc());
}

#[test]
fn a_client_time_out_of_range_is_replaced_by_the_servers() {
    for ts in [
        (now() - Duration::days(8)).timestamp_millis(),
        (now() + Duration::minutes(6)).timestamp_millis(),
        0,
    ] {
        let mut body = pageview();
        body["ts"] = ts.into();
        assert_eq!(parse(body).unwrap().at, now().naive_utc(), "ts {ts}");
    }
    let mut ahead = pageview();
    ahead["ts"] = (now() + Duration::minutes(4)).timestamp_millis().into();
    assert_eq!(
        parse(ahead).unwrap().at,
        (now() + Duration::minutes(4)).naive_utc()
    );
}

#[test]
fn bad_events_are_refused_with_the_reason() {
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("visitor_id", serde_json::json!({"visitor_id": null})),
        ("visitor_id", serde_json::json!({"visitor_id": "a b"})),
        (
            "visitor_id",
            serde_json::json!({"visitor_id": "x".repeat(129)}),
        ),
        ("session_id", serde_json::json!({"session_id": 7})),
        ("type", serde_json::json!({"type": "click"})),
        ("type", serde_json::json!({"type": null})),
        ("url", serde_json::json!({"url": "javascript:alert(1)"})),
        ("url", serde_json::json!({"url": null})),
        ("ts", serde_json::json!({"ts": "yesterday"})),
        ("tz", serde_json::json!({"tz": "<script>"})),
        ("referrer", serde_json::json!({"referrer": "a\u{0}b"})),
    ];
    for (named, change) in cases {
        let mut body = pageview();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let error = parse(body.clone()).unwrap_err();
        assert!(error.contains(named), "{body}: {error}");
    }
    for raw in ["", "[1]", "\"x\"", "{", "null"] {
        assert!(parse_event(raw.as_bytes(), now()).is_err(), "{raw:?}");
    }
}

#[test]
fn a_heartbeat_needs_no_url_and_a_long_title_is_cut() {
    let body = serde_json::json!({"visitor_id": "v", "session_id": "s", "type": "heartbeat"});
    let event = parse(body).unwrap();
    assert_eq!((event.kind, event.url), (EventKind::Heartbeat, None));
    let mut long = pageview();
    long["title"] = "t".repeat(2_000).into();
    assert_eq!(parse(long).unwrap().title.unwrap().len(), 512);
    let mut long_url = pageview();
    long_url["url"] = format!("https://site.example/?q={}", "é".repeat(3_000)).into();
    let url = parse(long_url).unwrap().url.unwrap();
    assert_eq!(
        url.chars().count(),
        2048,
        "cut at a character, never refused"
    );
}

fn event(session: &str, kind: EventKind, seconds: i64) -> TrackEvent {
    TrackEvent {
        visitor_id: "v".into(),
        session_id: session.into(),
        kind,
        url: Some(format!("https://site.example/{seconds}")),
        referrer: None,
        title: None,
        at: (now() + Duration::seconds(seconds)).naive_utc(),
        time_zone: None,
        ip: None,
        user_agent: None,
    }
}

#[test]
fn sessions_pages_and_time_add_up() {
    let mut touched = Touched::default();
    let views = apply(
        &mut touched,
        &[
            event("s1", EventKind::PageView, 0),
            event("s1", EventKind::Heartbeat, 15),
            event("s1", EventKind::PageView, 40),
            event("s1", EventKind::Leave, 100),
            // A second session a day later; an event out of order counts no time.
            event("s2", EventKind::PageView, 86_400),
            event("s2", EventKind::Heartbeat, 86_460),
            event("s2", EventKind::Heartbeat, 86_430),
        ],
    );
    assert_eq!(views.len(), 3);
    let visitor = &touched.visitors["v"];
    assert_eq!(
        (
            visitor.sessions,
            visitor.page_views,
            visitor.seconds_on_site
        ),
        (2, 3, 160)
    );
    let first = &touched.sessions[&("v".to_string(), "s1".to_string())];
    assert_eq!((first.page_views, first.seconds_on_site), (2, 100));
    assert_eq!(first.landing_url.as_deref(), Some("https://site.example/0"));
}

#[test]
fn a_gap_counts_at_most_the_idle_limit_and_stored_rows_continue() {
    let mut touched = Touched::default();
    apply(&mut touched, &[event("s1", EventKind::PageView, 0)]);
    for v in touched.visitors.values_mut() {
        v.stored = true;
    }
    // The next batch continues the same session after a night with the tab open.
    apply(&mut touched, &[event("s1", EventKind::Heartbeat, 36_000)]);
    let visitor = &touched.visitors["v"];
    assert_eq!(visitor.sessions, 1);
    assert_eq!(visitor.seconds_on_site, COUNTED_GAP_SECONDS);
}

#[test]
fn a_session_counts_from_its_first_page() {
    let mut touched = Touched::default();
    apply(
        &mut touched,
        &[
            event("s1", EventKind::PageView, 0),
            // Back after an hour: the tracker's new session starts with a heartbeat, no page.
            event("s2", EventKind::Heartbeat, 3_600),
            event("s2", EventKind::Leave, 3_610),
        ],
    );
    assert_eq!(touched.visitors["v"].sessions, 1);
    apply(&mut touched, &[event("s2", EventKind::PageView, 3_620)]);
    assert_eq!(touched.visitors["v"].sessions, 2);
}
