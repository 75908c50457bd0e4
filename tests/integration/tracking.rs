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
    ] {
        assert_eq!(
            track(&d, &event("visitor-42", session, kind, ts)).status,
            204
        );
    }
    // The rest in a later batch: the session goes on from what was stored.
    d.wait_until("the first batch", || {
        count(
            &db,
            "SELECT CAST(COUNT(*) AS TEXT) AS value FROM visitor_sessions",
        ) == 1
    });
    for (session, kind, ts) in [
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
    // The lead's timeline: both sessions with their pages, then the submission, in time order.
    let detail = d.lead_detail(payload["lead_public_id"].as_str().unwrap());
    let timeline = detail["timeline"].as_array().unwrap().clone();
    let kinds: Vec<&str> = timeline
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        &kinds[..3],
        &["session", "session", "submission"],
        "{timeline:?}"
    );
    let first_session = &timeline[0];
    assert_eq!(first_session["session_id"], "s-1");
    assert_eq!(first_session["seconds_on_site"], 90);
    let pages = first_session["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0]["url"], format!("{SITE}/page-{first}"));
    assert_eq!(pages[0]["seconds_on_page"], 90, "until the next page");
    assert_eq!(
        pages[1]["seconds_on_page"], 0,
        "the session's last sign of life"
    );
    assert_eq!(timeline[1]["pages"][0]["seconds_on_page"], 60);
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
    // 200 in a row: past the burst of 30 and what 2/s refills even on a slow machine.
    let statuses: Vec<u16> = (0..200)
        .map(|i| track(&d, &event("looping", "s-1", "pageview", now_ms() + i)).status)
        .collect();
    let taken = statuses.iter().filter(|s| **s == 204).count() as i64;
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited > 0, "{statuses:?}");
    assert_eq!(taken as usize + limited, 200, "{statuses:?}");
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
    let figures = &d.health()["tracking"];
    assert_eq!(figures["written"], expected, "{figures}");
    assert_eq!(figures["accepted"], expected);
    assert_eq!(figures["waiting"], 0);
    assert!(figures["refused"].as_i64().unwrap() >= limited as i64);
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

#[test]
fn suspicion_signals_reach_the_forwarded_payload() {
    let db = TestDb::new();
    let receiver = Receiver::start(Behavior::Status(200));
    let d = production(
        &db,
        &receiver,
        &[
            ("REDIRECT_ALLOWED_HOSTS", "forms.example.com"),
            ("VPN_RANGES", "198.51.100.0/24"),
        ],
    );
    let mut visit = event("visitor-vpn", "s-1", "pageview", now_ms() - 60_000);
    visit["tz"] = "America/New_York".into();
    assert_eq!(track(&d, &visit).status, 204);
    // The browser says New York; the address (through the trusted proxy) says India.
    let lead = json!({"name": "Win a prize www.prize.example", "email": "x@mailinator.com",
                      "phone": "+1 416 555 0123", "project": "Skyline",
                      "visitor_id": "visitor-vpn", "session_id": "s-1",
                      "__pg_ts": now_ms() - 1_000});
    let answer = d.post_lead_with(
        &lead,
        &[
            ("CF-IPCountry", "IN"),
            ("CF-Timezone", "Asia/Kolkata"),
            ("X-Forwarded-For", "203.0.113.50"),
        ],
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let payload = receiver.wait_for(1, Duration::from_secs(20))[0].json();
    assert_eq!(payload["vpn_suspected"], true, "{payload}");
    assert_eq!(
        payload["suspicion_reasons"],
        json!([
            "time_to_submit_under_3s",
            "disposable_email_domain",
            "url_or_markup_in_name",
            "phone_country_differs_from_ip_country",
            "vpn_suspected",
        ])
    );
    assert_eq!(payload["suspicion_score"], 100);
    // From an address in VPN_RANGES, with no tracked time zone.
    let from_range = json!({"name": "Ravi", "email": "ravi@example.com", "project": "Skyline"});
    let answer = d.post_lead_with(&from_range, &[("X-Forwarded-For", "198.51.100.7")]);
    assert_eq!(answer.status, 200);
    let payload = receiver.wait_for(2, Duration::from_secs(20))[1].json();
    assert_eq!(payload["vpn_suspected"], true, "{payload}");
    assert_eq!(payload["suspicion_reasons"], json!(["vpn_suspected"]));
}

#[test]
fn related_projects_come_from_the_visitor_the_email_or_the_phone_of_the_same_account() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let other = d.admin("POST", "/admin/accounts", Some(&json!({"name": "Other"})));
    let other_account = other.json()["id"].as_str().unwrap().to_string();
    let post = |path: &str, body: Value| {
        let answer = d.request(
            "POST",
            path,
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            Some(body.to_string().as_bytes()),
        );
        assert_eq!(answer.status, 200, "{}", answer.body);
        d.wait_processed();
    };
    post(
        "/v1/leads",
        json!({"name": "Asha", "email": "asha@one.example", "visitor_id": "v-asha", "project": "Alpha"}),
    );
    post(
        "/v1/leads",
        json!({"name": "Asha", "phone": "+91 98123 45678", "project": "Beta"}),
    );
    post(
        "/v1/leads",
        json!({"name": "Asha", "email": "asha@two.example", "project": "Gamma"}),
    );
    // Another account's lead of the same person is no business of this one.
    let elsewhere = format!("/v1/leads?account={other_account}");
    post(
        &elsewhere,
        json!({"name": "Asha", "email": "asha@two.example", "project": "Delta"}),
    );
    // Tracked as v-asha, with Beta's phone and Gamma's email, for a fourth project.
    post(
        "/v1/leads",
        json!({"name": "Asha", "visitor_id": "v-asha", "phone": "+919812345678",
                             "email": "asha@two.example", "project": "Epsilon"}),
    );
    let epsilon = d
        .leads("")
        .into_iter()
        .find(|l| l["project_name"] == "Epsilon")
        .unwrap();
    assert_eq!(
        epsilon["related_projects"],
        json!(["Alpha", "Beta", "Gamma"])
    );
}

#[test]
fn old_sessions_page_views_and_visitors_are_pruned() {
    let db = TestDb::new();
    // 0.0001 days is 8.6 s: the prune runs every 4.3 s.
    let d = Daemon::start(
        &db,
        &[
            ("REDIRECT_ALLOWED_HOSTS", "forms.example.com"),
            ("TRACKING_RETENTION_DAYS", "0.0001"),
        ],
    );
    let day = 86_400_000;
    assert_eq!(
        track(&d, &event("v-old", "s-old", "pageview", now_ms() - day)).status,
        204
    );
    assert_eq!(
        track(&d, &event("v-old", "s-new", "pageview", now_ms())).status,
        204
    );
    let gone = event("v-gone", "s-gone", "heartbeat", now_ms() - day);
    assert_eq!(track(&d, &gone).status, 204);
    let views = || {
        count(
            &db,
            "SELECT CAST(COUNT(*) AS TEXT) AS value FROM page_views",
        )
    };
    d.wait_until("the events to be written", || views() == 2);
    d.wait_until("the day-old page view to be pruned", || views() == 1);
    assert_eq!(
        db.query_strings("SELECT session_id AS value FROM visitor_sessions"),
        vec!["s-new"]
    );
    assert_eq!(
        db.query_strings(
            "SELECT CAST(sessions AS TEXT) || ' ' || CAST(page_views AS TEXT) AS value FROM visitors"
        ),
        vec!["2 2"],
        "the totals of a visitor seen lately stay; one not seen since is gone"
    );
    assert!(d.logged("tracking.purged rows=4"), "{}", d.logs());
}
