//! The forwarding decision and the outbox row holding the complete payload.

use crate::harness::{Daemon, TestDb};
use crate::receiver::{Behavior, Receiver};
use serde_json::{json, Value};

/// A webhook address where nothing listens: these tests look at what is queued, not sent.
const HOOK: &str = "http://127.0.0.1:9/make-hook";

/// The contract's list (spec section 3), written out here on purpose: a test that read the
/// daemon's own list could not catch a key missing from it.
const PAYLOAD_KEYS: &[&str] = &[
    "first_name",
    "phone_mobile",
    "phone_e164",
    "email",
    "email1",
    "country_code",
    "project_name",
    "user_location",
    "lead_source",
    "source_team",
    "user_country",
    "user_city",
    "user_timezone",
    "user_region",
    "engagement_score",
    "engagement_label",
    "session_duration_seconds",
    "pages_visited",
    "return_visits",
    "suspicion_score",
    "suspicion_reasons",
    "time_to_submit",
    "form_submit_count",
    "visitor_id",
    "session_id",
    "vpn_suspected",
    "related_projects",
    "refered_by",
    "searched_keyword",
    "user_agent",
    "user_ip",
    "cta",
    "page_url",
    "message",
    "utm",
    "is_duplicate",
    "is_bot_lead",
    "test_lead",
    "dev_environment",
    "lead_public_id",
    "lead_submission_public_id",
    "lead_id",
    "lead_submission_id",
    "make_send_public_id",
    "event",
    "account_id",
    "campaign_id",
    "submitted_at",
];

fn production(db: &TestDb, extra: &[(&'static str, &'static str)]) -> Daemon {
    let mut env = vec![
        ("ENVIRONMENT", "production"),
        ("MAKE_WEBHOOK_URL", HOOK),
        ("WEBHOOK_TIMEOUT_SECONDS", "1"),
    ];
    env.extend_from_slice(extra);
    Daemon::start(db, &env)
}

fn deliveries(d: &Daemon) -> Vec<Value> {
    let mut items = d.admin_get("/admin/deliveries?limit=500")["deliveries"]
        .as_array()
        .unwrap()
        .clone();
    items.reverse();
    items
}

fn submit(d: &Daemon, body: Value) {
    let r = d.post_lead(&body);
    assert_eq!(r.status, 200, "{}", r.body);
    d.wait_processed();
}

#[test]
fn a_new_lead_is_queued_with_the_complete_payload() {
    let db = TestDb::new();
    let d = production(&db, &[]);
    let rendered = chrono::Utc::now().timestamp_millis() - 1_000;
    submit(
        &d,
        json!({"name": "Priya Sharma", "email": "priya@mailinator.com", "phone": "9999999999",
        "country_code": "+91", "project": "Skyline Towers", "utm_source": "google", "utm_campaign": "winter",
        "test_lead": "true", "__pg_ts": rendered.to_string()}),
    );
    let sent = deliveries(&d);
    assert_eq!(sent.len(), 1);
    let delivery = &sent[0];
    assert_eq!(delivery["url"], HOOK);
    let payload = delivery["payload"].as_object().unwrap();
    for key in PAYLOAD_KEYS {
        assert!(payload.contains_key(*key), "{key} missing from {payload:?}");
    }
    assert_eq!(payload["event"], "lead.created");
    assert_eq!(payload["is_duplicate"], false);
    assert_eq!(payload["dev_environment"], false);
    assert_eq!(payload["test_lead"], true);
    assert_eq!(payload["phone_mobile"], "+91-9999999999");
    assert_eq!(payload["email1"], "priya@mailinator.com");
    assert_eq!(
        payload["utm"],
        json!({"utm_source": "google", "utm_campaign": "winter"})
    );
    assert_eq!(
        payload["make_send_public_id"],
        delivery["make_send_public_id"]
    );
    assert!(uuid::Uuid::parse_str(payload["make_send_public_id"].as_str().unwrap()).is_ok());
    assert!(uuid::Uuid::parse_str(payload["lead_public_id"].as_str().unwrap()).is_ok());
    assert!(payload["lead_id"].is_i64() && payload["lead_submission_id"].is_i64());
    assert!(payload["submitted_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(payload["form_submit_count"], 1);
    let time_to_submit = payload["time_to_submit"].as_f64().unwrap();
    assert!((0.5..3.0).contains(&time_to_submit), "{time_to_submit}");
    let reasons: Vec<&str> = payload["suspicion_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"time_to_submit_under_3s")
            && reasons.contains(&"disposable_email_domain"),
        "{reasons:?}"
    );
    assert!(payload["suspicion_score"].as_u64().unwrap() >= 70);
    assert_eq!(payload["engagement_label"], "cold");
    let account = d.default_account_id();
    assert_eq!(payload["account_id"], account.as_str());
}

#[test]
fn repeats_inside_the_windows_are_not_sent_and_reengagement_is() {
    let db = TestDb::new();
    // 0.6 s duplicate window, 2.5 s re-engage window.
    let d = production(
        &db,
        &[
            ("LEAD_DUPLICATE_WINDOW_MINUTES", "0.01"),
            ("LEAD_REENGAGE_HOURS", "0.0007"),
        ],
    );
    let person = json!({"name": "Ravi", "email": "ravi@example.com", "project": "P"});
    submit(&d, person.clone());
    submit(&d, person.clone()); // inside the duplicate window
    std::thread::sleep(std::time::Duration::from_millis(1200));
    submit(&d, person.clone()); // past the duplicate window, inside re-engage
    assert_eq!(deliveries(&d).len(), 1);
    std::thread::sleep(std::time::Duration::from_millis(2700));
    submit(&d, person.clone()); // 2.7 s after the previous submission
    let sent = deliveries(&d);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1]["payload"]["event"], "lead.reengaged");
    assert_eq!(sent[1]["payload"]["is_duplicate"], true);
    assert_ne!(
        sent[0]["make_send_public_id"],
        sent[1]["make_send_public_id"]
    );
    assert_eq!(sent[0]["lead_public_id"], sent[1]["lead_public_id"]);
    assert_eq!(d.leads("").len(), 1);
    let metrics = d.request("GET", "/metrics", &[], None).body;
    for line in [
        "leadgate_leads_created_total 1",
        "leadgate_submissions_joined_total 3",
        "leadgate_forward_decisions_total{decision=\"created\"} 1",
        "leadgate_forward_decisions_total{decision=\"duplicate_window\"} 1",
        "leadgate_forward_decisions_total{decision=\"reengage_window\"} 1",
        "leadgate_forward_decisions_total{decision=\"reengaged\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing from\n{metrics}"
        );
    }
}

#[test]
fn reengage_hours_zero_never_sends_again() {
    let db = TestDb::new();
    let d = production(
        &db,
        &[
            ("LEAD_DUPLICATE_WINDOW_MINUTES", "0"),
            ("LEAD_REENGAGE_HOURS", "0"),
        ],
    );
    let person = json!({"name": "Once", "phone": "+14155552671", "project": "P"});
    submit(&d, person.clone());
    std::thread::sleep(std::time::Duration::from_millis(300));
    submit(&d, person);
    assert_eq!(deliveries(&d).len(), 1);
}

#[test]
fn nothing_is_sent_outside_production() {
    let db = TestDb::new();
    let d = Daemon::start(
        &db,
        &[("ENVIRONMENT", "development"), ("MAKE_WEBHOOK_URL", HOOK)],
    );
    submit(&d, json!({"name": "Dev", "email": "dev@example.com"}));
    assert_eq!(deliveries(&d).len(), 0);
    let lead = &d.leads("")[0];
    assert_eq!(lead["dev_environment"], true);
    assert_eq!(lead["event"], Value::Null);
}

#[test]
fn bot_leads_are_stored_but_never_sent() {
    let db = TestDb::new();
    let d = production(&db, &[]);
    let r = d.post_lead_with(
        &json!({"name": "Crawler", "email": "c@example.com"}),
        &[("User-Agent", "Mozilla/5.0 (compatible; Googlebot/2.1)")],
    );
    assert_eq!(r.status, 200);
    d.wait_processed();
    let lead = &d.leads("")[0];
    assert_eq!(lead["is_bot_lead"], true);
    assert!(lead["suspicion_reasons"]
        .as_array()
        .unwrap()
        .contains(&json!("bot_user_agent")));
    assert_eq!(deliveries(&d).len(), 0);
}

#[test]
fn a_campaign_webhook_url_takes_precedence() {
    let db = TestDb::new();
    let d = production(&db, &[]);
    let account = d.default_account_id();
    let campaign_hook = Receiver::start(Behavior::Status(200));
    let campaign = json!({"name": "Towers", "integration": "website", "project_name": "Skyline Towers",
        "webhook_url": campaign_hook.url});
    let created = d.admin(
        "POST",
        &format!("/admin/accounts/{account}/campaigns"),
        Some(&campaign),
    );
    assert_eq!(created.status, 201);
    submit(
        &d,
        json!({"name": "E", "email": "e@example.com", "project": "skyline towers"}),
    );
    submit(
        &d,
        json!({"name": "F", "email": "f@example.com", "project": "Elsewhere"}),
    );
    let sent = deliveries(&d);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["url"], campaign_hook.url.as_str());
    assert_eq!(sent[0]["payload"]["campaign_id"], created.json()["id"]);
    let got = campaign_hook.wait_for(1, std::time::Duration::from_secs(10));
    assert_eq!(got[0].json()["email"], "e@example.com");
    assert_eq!(sent[1]["url"], HOOK);
    assert_eq!(sent[1]["payload"]["campaign_id"], Value::Null);
}

/// Each submission's `forward_decision`, oldest first.
fn decisions(d: &Daemon) -> Vec<String> {
    let mut all: Vec<(String, String)> = Vec::new();
    for lead in d.leads("") {
        let detail = d.lead_detail(lead["lead_public_id"].as_str().unwrap());
        for s in detail["submissions"].as_array().unwrap() {
            all.push((
                s["submitted_at"].as_str().unwrap().to_string(),
                s["forward_decision"]
                    .as_str()
                    .unwrap_or("<null>")
                    .to_string(),
            ));
        }
    }
    all.sort();
    all.into_iter().map(|(_, decision)| decision).collect()
}

#[test]
fn every_submission_says_why_it_was_or_was_not_forwarded() {
    let dev_db = TestDb::new();
    let dev = Daemon::start(
        &dev_db,
        &[("MAKE_WEBHOOK_URL", HOOK), ("ENVIRONMENT", "development")],
    );
    submit(&dev, json!({"name": "Dev", "email": "dev@example.com"}));
    assert_eq!(decisions(&dev), ["not_production"]);
    assert!(
        dev.logs()
            .contains("forwarding.off environment=development"),
        "the start-up says leads will not be forwarded:\n{}",
        dev.logs()
    );

    let nowhere_db = TestDb::new();
    let nowhere = Daemon::start(&nowhere_db, &[("ENVIRONMENT", "production")]);
    submit(
        &nowhere,
        json!({"name": "Lost", "email": "lost@example.com"}),
    );
    assert_eq!(decisions(&nowhere), ["no_webhook_url"]);

    let db = TestDb::new();
    // A 1.2 s duplicate window.
    let d = production(&db, &[("LEAD_DUPLICATE_WINDOW_MINUTES", "0.02")]);
    assert!(d
        .logs()
        .contains("forwarding.on environment=production destination=http://127.0.0.1:9 "));
    let person = json!({"name": "Ravi", "email": "ravi@example.com"});
    submit(&d, person.clone());
    submit(&d, person.clone());
    std::thread::sleep(std::time::Duration::from_millis(1300));
    submit(&d, person);
    let r = d.post_lead_with(
        &json!({"name": "Crawler", "email": "bot@example.com"}),
        &[("User-Agent", "python-requests/2.31")],
    );
    assert_eq!(r.status, 200);
    d.wait_processed();
    assert_eq!(
        decisions(&d),
        ["sent", "duplicate_window", "reengage_wait", "bot"]
    );
    assert!(d.logged("lead.stored lead="), "{}", d.logs());
    assert!(d.logged("forward_decision=sent"), "{}", d.logs());

    let never_db = TestDb::new();
    let never = production(
        &never_db,
        &[
            ("LEAD_DUPLICATE_WINDOW_MINUTES", "0"),
            ("LEAD_REENGAGE_HOURS", "0"),
        ],
    );
    let person = json!({"name": "Once", "email": "once@example.com"});
    submit(&never, person.clone());
    submit(&never, person);
    assert_eq!(decisions(&never), ["sent", "reengage_disabled"]);
}
