//! Visitor tracking: `/t.js`, `POST /v1/track`, and what tracked visits add to a lead.

use crate::harness::{production, Daemon, TestDb};
use crate::receiver::{Behavior, Receiver};
use serde_json::{json, Value};
use std::time::Duration;

const SITE: &str = "https://forms.example.com";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn track(d: &Daemon, event: &Value) -> crate::harness::Resp {
    d.post_raw(
        "/v1/track",
        "text/plain;charset=UTF-8",
        event.to_string().as_bytes(),
        &[("Origin", SITE)],
    )
}

fn event(visitor: &str, session: &str, kind: &str, ts: i64) -> Value {
    json!({"visitor_id": visitor, "session_id": session, "type": kind,
           "url": format!("{SITE}/page-{ts}"), "referrer": "https://www.google.com/",
           "title": "Skyline Towers", "ts": ts, "tz": "Asia/Kolkata"})
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.query_strings(sql)[0].parse().unwrap()
}

#[test]
fn tracked_visits_count_for_a_lead_submitted_after_them() {
    let db = TestDb::new();
    let receiver = Receiver::start(Behavior::Status(200));
    let d = production(
        &db,
        &receiver,
        &[("REDIRECT_ALLOWED_HOSTS", "forms.example.com")],
    );
    let day = 86_400_000;
    let first = now_ms() - day;
    let second = now_ms() - 600_000;
    for (session, kind, ts) in [
        ("s-1", "pageview", first),
        ("s-1", "heartbeat", first + 60_000),
        ("s-1", "pageview", first + 90_000),
        ("s-2", "pageview", second),
        ("s-2", "leave", second + 60_000),
    ] {
        let answer = track(&d, &event("visitor-42", session, kind, ts));
        assert_eq!(answer.status, 204, "{}", answer.body);
        assert_eq!(answer.header("access-control-allow-origin"), Some(SITE));
    }
    // At once: the events may still wait for their batch; the pipeline writes them first.
    let lead = json!({"name": "Asha", "email": "asha@example.com", "project": "Skyline",
                      "visitor_id": "visitor-42", "session_id": "s-2"});
    assert_eq!(d.post_lead(&lead).status, 200);
    let sent = receiver.wait_for(1, Duration::from_secs(20));
    let payload = sent[0].json();
    assert_eq!(payload["pages_visited"], 3, "{payload}");
    assert_eq!(payload["session_duration_seconds"], 150, "90 s then 60 s");
    assert_eq!(payload["return_visits"], 1, "one session before this one");
    // 150 s of 600 is 10 points, 3 pages 18, one return 8.
    assert_eq!(payload["engagement_score"], 36);
    assert_eq!(payload["engagement_label"], "warm");
    assert_eq!(
        count(
            &db,
            "SELECT CAST(COUNT(*) AS TEXT) AS value FROM page_views"
        ),
        3
    );
    assert_eq!(
        db.query_strings("SELECT landing_url AS value FROM visitor_sessions ORDER BY started_at"),
        vec![
            format!("{SITE}/page-{first}"),
            format!("{SITE}/page-{second}")
        ]
    );
    // A lead of a visitor tracking never saw scores zero.
    let unseen = json!({"name": "Ravi", "email": "ravi@example.com", "project": "Skyline",
                        "visitor_id": "never-tracked"});
    assert_eq!(d.post_lead(&unseen).status, 200);
    let payload = receiver.wait_for(2, Duration::from_secs(20))[1].json();
    assert_eq!(
        (&payload["pages_visited"], &payload["engagement_label"]),
        (&json!(0), &json!("cold"))
    );
}

#[test]
fn bad_tracking_input_is_refused_and_nothing_is_stored() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[("REDIRECT_ALLOWED_HOSTS", "forms.example.com")]);
    let good = event("v-1", "s-1", "pageview", now_ms());
    let mut bad: Vec<(String, u16)> = [
        "",
        "{",
        "[]",
        "null",
        r#"{"visitor_id": "v", "session_id": "s", "type": "click", "url": "https://a.example/"}"#,
        r#"{"visitor_id": "v v", "session_id": "s", "type": "pageview", "url": "https://a.example/"}"#,
        r#"{"visitor_id": "v", "type": "pageview", "url": "https://a.example/"}"#,
        r#"{"visitor_id": "v", "session_id": "s", "type": "pageview"}"#,
        r#"{"visitor_id": "v", "session_id": "s", "type": "pageview", "url": "javascript:alert(1)"}"#,
        r#"{"visitor_id": "v", "session_id": "s", "type": "heartbeat", "ts": "soon"}"#,
        r#"{"visitor_id": "v", "session_id": "s", "type": "heartbeat", "tz": "<b>"}"#,
    ]
    .iter()
    .map(|b| (b.to_string(), 400))
    .collect();
    let mut huge = good.clone();
    huge["title"] = "x".repeat(20_000).into();
    bad.push((huge.to_string(), 413));
    for (body, status) in &bad {
        let raw = d.post_raw(
            "/v1/track",
            "text/plain",
            body.as_bytes(),
            &[("Origin", SITE)],
        );
        assert_eq!(raw.status, *status, "{body}: {}", raw.body);
        assert!(raw.json()["error"].is_string(), "{}", raw.body);
    }
    // A page of a site that is not the account's: refused, no CORS headers.
    let foreign = d.post_raw(
        "/v1/track",
        "text/plain",
        good.to_string().as_bytes(),
        &[("Origin", "https://evil.example")],
    );
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    std::thread::sleep(Duration::from_millis(600));
    for table in ["page_views", "visitor_sessions", "visitors"] {
        let sql = format!("SELECT CAST(COUNT(*) AS TEXT) AS value FROM {table}");
        assert_eq!(count(&db, &sql), 0, "{table}");
    }
    // The preflight of a fetch() with a JSON body, from the account's site.
    let pre = d.request(
        "OPTIONS",
        "/v1/track",
        &[("Origin", SITE), ("Access-Control-Request-Method", "POST")],
        None,
    );
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some(SITE));
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("POST, OPTIONS")
    );
    // Without an Origin (a server-side client) the event is taken.
    let plain = d.post_raw(
        "/v1/track",
        "application/json",
        good.to_string().as_bytes(),
        &[],
    );
    assert_eq!(plain.status, 204, "{}", plain.body);
    d.wait_until("the event to be written", || {
        count(
            &db,
            "SELECT CAST(COUNT(*) AS TEXT) AS value FROM page_views",
        ) == 1
    });
}

#[test]
fn a_page_in_a_loop_is_cut_off_and_what_was_taken_is_stored() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[("REDIRECT_ALLOWED_HOSTS", "forms.example.com")]);
    let statuses: Vec<u16> = (0..60)
        .map(|i| track(&d, &event("looping", "s-1", "pageview", now_ms() + i)).status)
        .collect();
    let taken = statuses.iter().filter(|s| **s == 204).count() as i64;
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited > 0, "{statuses:?}");
    assert_eq!(taken as usize + limited, 60, "{statuses:?}");
    let answer = track(&d, &event("looping", "s-1", "pageview", now_ms()));
    if answer.status == 429 {
        assert_eq!(answer.header("retry-after"), Some("1"));
    }
    // Another visitor on the same address is not held back by the loop.
    assert_eq!(
        track(&d, &event("other", "s-9", "pageview", now_ms())).status,
        204
    );
    let expected = taken + 1 + i64::from(answer.status == 204);
    d.wait_until("the taken events to be written", || {
        count(
            &db,
            "SELECT CAST(COUNT(*) AS TEXT) AS value FROM page_views",
        ) == expected
    });
    let metrics = d.request("GET", "/metrics", &[], None).body;
    assert!(
        metrics.contains("leadgate_tracking_events_total{outcome=\"rate_limited\"}"),
        "{metrics}"
    );
}

#[test]
fn the_tracker_is_small_and_cached() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let script = d.request("GET", "/t.js", &[], None);
    assert_eq!(script.status, 200);
    assert!(script
        .header("content-type")
        .unwrap()
        .starts_with("application/javascript"));
    assert_eq!(script.header("cache-control"), Some("public, max-age=3600"));
    assert!(script.body.len() < 4096, "{} bytes", script.body.len());
    for needle in [
        "/v1/track",
        "sendBeacon",
        "data-leadgate",
        "__pg_hp",
        "__pg_ts",
    ] {
        assert!(script.body.contains(needle), "{needle}");
    }
    let etag = script.header("etag").unwrap().to_string();
    let again = d.request("GET", "/t.js", &[("If-None-Match", &etag)], None);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
}
