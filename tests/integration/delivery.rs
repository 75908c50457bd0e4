//! WebhookDeliverer against a real local receiver: payload, signature, retry schedule, dead
//! letters and replay, callbacks, a SIGKILL during the backoff.

use crate::harness::{production, Daemon, TestDb};
use crate::receiver::{Behavior, Receiver};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A new person per email (no shared phone, so two emails are two leads).
fn submit(d: &Daemon, email: &str) {
    let r =
        d.post_lead(&json!({"name": "Priya Sharma", "email": email, "project": "Skyline Towers"}));
    assert_eq!(r.status, 200, "{}", r.body);
}

fn deliveries(d: &Daemon, status: &str) -> Vec<Value> {
    d.admin_get(&format!("/admin/deliveries?status={status}"))["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}

fn dead_letters(d: &Daemon) -> Vec<Value> {
    d.admin_get("/admin/dead-letters")["dead_letters"]
        .as_array()
        .unwrap()
        .clone()
}

/// Verifies a request the way the Standard Webhooks specification tells receivers to.
fn verify_signature(headers: &crate::receiver::Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let id = headers.header("webhook-id").unwrap();
    let timestamp = headers.header("webhook-timestamp").unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&headers.body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    headers
        .header("webhook-signature")
        .unwrap()
        .split(' ')
        .any(|sig| sig.strip_prefix("v1,") == Some(expected.as_str()))
}

#[test]
fn a_lead_is_delivered_signed_with_the_full_payload() {
    let receiver = Receiver::start(Behavior::Status(200));
    let db = TestDb::new();
    let d = production(&db, &receiver, &[("WEBHOOK_SIGNING_SECRET", SECRET)]);
    let r = d.post_lead(&json!({"name": "Priya Sharma", "email": "priya@example.com", "phone": "9999999999", "country_code": "+91", "project": "Skyline Towers"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let got = receiver.wait_for(1, Duration::from_secs(10));
    let request = &got[0];
    assert_eq!(request.path, "/hook");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(request
        .header("user-agent")
        .unwrap()
        .starts_with("leadgate/"));
    let timestamp: i64 = request
        .header("webhook-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 30);
    assert!(
        verify_signature(request),
        "signature does not verify: {:?}",
        request.headers
    );
    let payload = request.json();
    assert_eq!(
        request.header("webhook-id"),
        payload["make_send_public_id"].as_str()
    );
    assert_eq!(payload["event"], "lead.created");
    assert_eq!(payload["phone_mobile"], "+91-9999999999");
    assert_eq!(payload["email1"], "priya@example.com");
    assert!(payload["lead_id"].is_i64() && payload["lead_submission_id"].is_i64());
    assert!(
        payload["suspicion_reasons"].is_array()
            && payload["related_projects"].is_array()
            && payload["utm"].is_object()
    );
    assert_eq!(payload.as_object().unwrap().len(), 48);
    d.wait_until("the delivery to be recorded", || {
        deliveries(&d, "delivered").len() == 1
    });
    let delivery = &deliveries(&d, "delivered")[0];
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_status"], 200);
    assert_eq!(delivery["lead_public_id"], payload["lead_public_id"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        receiver.received().len(),
        1,
        "a delivered lead is sent once"
    );
}

#[test]
fn server_errors_are_retried_after_1_2_4_seconds_then_dead_lettered() {
    let receiver = Receiver::start(Behavior::Status(503));
    let db = TestDb::new();
    let d = production(&db, &receiver, &[]);
    submit(&d, "retry@example.com");
    let got = receiver.wait_for(4, Duration::from_secs(20));
    let gaps: Vec<f64> = got
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64())
        .collect();
    for (gap, expected) in gaps.iter().zip([1.0, 2.0, 4.0]) {
        assert!((gap - expected).abs() <= 0.5, "gaps {gaps:?}");
    }
    let id = got[0].header("webhook-id").unwrap();
    assert!(
        got.iter().all(|r| r.header("webhook-id") == Some(id)),
        "one webhook-id on every retry"
    );
    d.wait_until("the dead letter", || dead_letters(&d).len() == 1);
    let letter = &dead_letters(&d)[0];
    assert_eq!(letter["url"], receiver.url.as_str());
    assert_eq!(letter["attempts"], 4);
    assert_eq!(
        letter["error"], "HTTP 503: ok",
        "with the start of the answer"
    );
    assert_eq!(letter["payload"]["make_send_public_id"], id);
    assert!(letter["failed_at"].is_string() && letter["expires_at"].is_string());
    assert_eq!(deliveries(&d, "dead").len(), 1);
    assert!(d.logged("webhook.dead_lettered"), "{}", d.logs());
    let metrics = d.request("GET", "/metrics", &[], None).body;
    assert!(metrics.contains("leadgate_dead_letters 1"), "{metrics}");
    assert!(
        metrics.contains("leadgate_delivery_attempts_total 4"),
        "{metrics}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(receiver.received().len(), 4, "no fifth attempt");
}

#[test]
fn client_errors_and_redirects_are_not_retried() {
    let receiver = Receiver::start(Behavior::Status(200));
    receiver.script(&[Behavior::Status(400)]);
    let db = TestDb::new();
    let d = production(&db, &receiver, &[]);
    submit(&d, "bad-request@example.com");
    receiver.wait_for(1, Duration::from_secs(10));
    receiver.script(&[Behavior::Status(302)]);
    submit(&d, "redirected@example.com");
    receiver.wait_for(2, Duration::from_secs(10));
    d.wait_until("two dead letters", || dead_letters(&d).len() == 2);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        receiver.received().len(),
        2,
        "neither is retried, the redirect is not followed"
    );
    let errors: Vec<String> = dead_letters(&d)
        .iter()
        .map(|l| l["error"].as_str().unwrap().to_string())
        .collect();
    assert!(
        errors.contains(&"HTTP 400: ok".to_string())
            && errors.contains(&"HTTP 302: ok".to_string()),
        "{errors:?}"
    );
}

#[test]
fn timeouts_dropped_connections_429_and_408_are_retried() {
    let receiver = Receiver::start(Behavior::Status(200));
    receiver.script(&[
        Behavior::Hang(Duration::from_secs(3)),
        Behavior::Drop,
        Behavior::Status(429),
        Behavior::Status(408),
    ]);
    let db = TestDb::new();
    let d = production(&db, &receiver, &[("WEBHOOK_TIMEOUT_SECONDS", "1")]);
    submit(&d, "patient@example.com");
    let got = receiver.wait_for(4, Duration::from_secs(20));
    let first_gap = (got[1].at - got[0].at).as_secs_f64();
    assert!(
        (1.5..=2.8).contains(&first_gap),
        "timeout (1 s) then the 1 s backoff: {first_gap}"
    );
    d.wait_until("the dead letter after the 408", || {
        deliveries(&d, "dead").len() == 1
    });
    let delivery = &deliveries(&d, "dead")[0];
    assert_eq!(delivery["attempts"], 4);
    assert_eq!(delivery["last_status"], 408);

    receiver.script(&[Behavior::Hang(Duration::from_secs(3))]);
    submit(&d, "second@example.com");
    d.wait_until("the second lead delivered after a timeout", || {
        deliveries(&d, "delivered").len() == 1
    });
    assert_eq!(deliveries(&d, "delivered")[0]["attempts"], 2);
}

#[test]
fn a_dead_letter_replays_with_the_same_webhook_id_and_leaves_the_list() {
    let receiver = Receiver::start(Behavior::Status(200));
    receiver.script(&[Behavior::Status(410)]);
    let db = TestDb::new();
    let d = production(&db, &receiver, &[]);
    submit(&d, "replay@example.com");
    d.wait_until("the dead letter", || dead_letters(&d).len() == 1);
    let letter = dead_letters(&d)[0].clone();
    let id = letter["id"].as_i64().unwrap();
    let r = d.admin("POST", &format!("/admin/dead-letters/{id}/replay"), None);
    assert_eq!(r.status, 202, "{}", r.body);
    let got = receiver.wait_for(2, Duration::from_secs(10));
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert_eq!(
        got[1].header("webhook-id"),
        letter["make_send_public_id"].as_str()
    );
    d.wait_until("the letter to leave the list", || {
        dead_letters(&d).is_empty()
    });
    assert_eq!(deliveries(&d, "delivered").len(), 1);
    assert_eq!(
        d.admin("POST", &format!("/admin/dead-letters/{id}/replay"), None)
            .status,
        404
    );
    assert_eq!(
        d.admin("POST", "/admin/dead-letters/abc/replay", None)
            .status,
        404
    );
}

#[test]
fn a_delivery_waiting_in_backoff_survives_sigkill_and_is_sent_exactly_once_more() {
    let receiver = Receiver::start(Behavior::Status(200));
    receiver.script(&[Behavior::Status(500)]);
    let db = TestDb::new();
    let d = production(&db, &receiver, &[]);
    submit(&d, "survivor@example.com");
    receiver.wait_for(1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300)); // inside the 1 s backoff
    d.kill();
    let d = production(&db, &receiver, &[]);
    let got = receiver.wait_for(2, Duration::from_secs(10));
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    d.wait_until("the delivery to be recorded", || {
        deliveries(&d, "delivered").len() == 1
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        receiver.received().len(),
        2,
        "exactly one more attempt after the restart"
    );
    assert_eq!(deliveries(&d, "delivered")[0]["attempts"], 2);
}

#[test]
fn crm_and_automation_callbacks_are_stored() {
    let receiver = Receiver::start(Behavior::Status(200));
    let db = TestDb::new();
    let d = production(&db, &receiver, &[("CRM_CALLBACK_TOKEN", "cb-token")]);
    submit(&d, "callback@example.com");
    let payload = receiver.wait_for(1, Duration::from_secs(10))[0].json();
    let lead_public_id = payload["lead_public_id"].as_str().unwrap().to_string();
    let post = |path: &str, token: &str, body: Value| {
        let auth = format!("Bearer {token}");
        d.request(
            "POST",
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            Some(body.to_string().as_bytes()),
        )
    };
    let crm = json!({"lead_public_id": lead_public_id, "crm_lead_id": "CRM-42", "crm_url": "https://crm.example/leads/42"});
    assert_eq!(post("/v1/crm/callback", "wrong", crm.clone()).status, 401);
    let garbage = d.request(
        "POST",
        "/v1/crm/callback",
        &[("Authorization", "Bearer wrong")],
        Some(b"{not json"),
    );
    assert_eq!(
        garbage.status, 401,
        "the token is checked before the body is read"
    );
    let garbage = d.request(
        "POST",
        "/v1/crm/callback",
        &[("Authorization", "Bearer cb-token")],
        Some(b"{not json"),
    );
    assert_eq!(garbage.status, 400);
    assert!(garbage.json()["error"].is_string());
    assert_eq!(post("/v1/crm/callback", "cb-token", crm).status, 200);
    let lead = d.lead_detail(&lead_public_id)["lead"].clone();
    assert_eq!(
        (lead["crm_lead_id"].clone(), lead["crm_url"].clone()),
        (json!("CRM-42"), json!("https://crm.example/leads/42"))
    );
    let by_number = json!({"lead_id": payload["lead_id"], "crm_lead_id": 43});
    assert_eq!(post("/v1/crm/callback", "cb-token", by_number).status, 200);
    assert_eq!(d.lead_detail(&lead_public_id)["lead"]["crm_lead_id"], "43");
    assert_eq!(
        post(
            "/v1/crm/callback",
            "cb-token",
            json!({"lead_public_id": "00000000-0000-0000-0000-000000000000", "crm_lead_id": "x"})
        )
        .status,
        404
    );
    assert_eq!(
        post(
            "/v1/crm/callback",
            "cb-token",
            json!({"lead_public_id": lead_public_id})
        )
        .status,
        400
    );

    let send_id = payload["make_send_public_id"].as_str().unwrap();
    let make = json!({"make_send_public_id": send_id, "execution_url": "https://make.example/executions/7"});
    assert_eq!(post("/v1/make/callback", "nope", make.clone()).status, 401);
    assert_eq!(post("/v1/make/callback", "cb-token", make).status, 200);
    d.wait_until("the delivery to be recorded", || {
        deliveries(&d, "delivered").len() == 1
    });
    assert_eq!(
        deliveries(&d, "delivered")[0]["execution_url"],
        "https://make.example/executions/7"
    );
    assert_eq!(
        post(
            "/v1/make/callback",
            "cb-token",
            json!({"make_send_public_id": "unknown", "execution_url": "https://x"})
        )
        .status,
        404
    );
}

#[test]
fn two_instances_on_one_postgresql_never_double_send() {
    let db = TestDb::new();
    if !db.is_postgres() {
        eprintln!("two instances need a shared PostgreSQL (TEST_DATABASE_URL); SQLite is one instance per file");
        return;
    }
    let receiver = Receiver::start(Behavior::Status(200));
    let a = production(&db, &receiver, &[]);
    // Each instance has a spool of its own (a shared one is refused at start).
    let b_spool = tempfile::tempdir().unwrap();
    let b_spool_path = b_spool.path().join("b.spool").display().to_string();
    let b = production(&db, &receiver, &[("SPOOL_PATH", &b_spool_path)]);
    for i in 0..40 {
        let d = if i % 2 == 0 { &a } else { &b };
        submit(d, &format!("shared{i}@example.com"));
    }
    receiver.wait_for(40, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let got = receiver.received();
    let mut ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        (got.len(), ids.len()),
        (40, 40),
        "every lead sent exactly once"
    );
    assert_eq!(a.leads("").len(), 40);
}

/// Posts leads from several threads at once; returns their answers.
fn submit_concurrently(d: &Daemon, emails: &[&str]) -> Vec<u16> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = emails
            .iter()
            .map(|email| {
                scope.spawn(move || {
                    d.post_lead(&json!({"name": "Outage", "email": email, "project": "P"}))
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// While the database is unavailable: normal answers, spooled, forwarded at once; when it is
/// back: written with the ids that were forwarded, once, and not forwarded again.
fn outage_then_recovery(d: &Daemon, receiver: &Receiver, restore: impl FnOnce()) {
    let emails = [
        "down1@example.com",
        "down2@example.com",
        "down3@example.com",
    ];
    let answers = submit_concurrently(d, &emails);
    assert_eq!(answers, vec![200, 200, 200]);
    let sent = receiver.wait_for(3, Duration::from_secs(20));
    let mut sent_leads: Vec<(String, String)> = sent
        .iter()
        .map(|r| {
            let p = r.json();
            assert_eq!(
                p["lead_id"],
                Value::Null,
                "database ids are unknown while it is down"
            );
            assert_eq!(p["event"], "lead.created");
            (
                p["email"].as_str().unwrap().to_string(),
                p["lead_public_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    sent_leads.sort();
    assert!(d.logged("lead.persistence_failed"), "{}", d.logs());
    restore();
    // Right after the database is back a request may still meet a dead connection: ask again.
    d.wait_until("the spool to drain into leads", || {
        let leads = d.admin("GET", "/admin/leads?limit=500", None);
        let health = d.admin("GET", "/admin/health", None);
        leads.status == 200
            && leads.json()["leads"].as_array().map_or(0, Vec::len) == 3
            && health.json()["spool"]["pending"] == 0
    });
    let mut stored: Vec<(String, String)> = d
        .leads("")
        .iter()
        .map(|l| {
            (
                l["email"].as_str().unwrap().to_string(),
                l["lead_public_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    stored.sort();
    assert_eq!(
        stored, sent_leads,
        "stored with the public ids that were forwarded"
    );
    d.wait_until("the offline sends recorded as delivered", || {
        deliveries(d, "delivered").len() == 3
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(receiver.received().len(), 3, "nothing is forwarded twice");
    let inbox = d.admin_get("/admin/inbox?limit=500")["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(inbox, 3, "each spooled submission is written exactly once");
}

#[test]
fn a_locked_sqlite_database_loses_nothing_and_forwards_everything() {
    let db = TestDb::new();
    if db.is_postgres() {
        return; // the PostgreSQL variant below cuts the connection instead
    }
    let receiver = Receiver::start(Behavior::Status(200));
    let d = production(&db, &receiver, &[]);
    d.wait_processed();
    // Both files: the database and its inbox file (a backup holding the pair).
    let lock = crate::harness::DbLock::hold(&db);
    outage_then_recovery(&d, &receiver, move || lock.release());
}

#[test]
fn a_lost_postgresql_connection_loses_nothing_and_forwards_everything() {
    let db = TestDb::new();
    if !db.is_postgres() {
        return; // the SQLite variant above locks the file instead
    }
    let proxy = crate::proxy::Proxy::start(&db.server_address());
    let receiver = Receiver::start(Behavior::Status(200));
    let url = db.url_through(proxy.port);
    let d = production(&db, &receiver, &[("DATABASE_URL", url.as_str())]);
    d.wait_processed();
    proxy.cut();
    outage_then_recovery(&d, &receiver, || proxy.restore());
}

#[test]
fn sigterm_lets_the_attempt_in_flight_finish() {
    let receiver = Receiver::start(Behavior::Status(200));
    receiver.script(&[Behavior::Slow(Duration::from_millis(1500), 200)]);
    let db = TestDb::new();
    let d = production(&db, &receiver, &[]);
    submit(&d, "graceful@example.com");
    receiver.wait_for(1, Duration::from_secs(10));
    assert!(d.terminate(), "a clean exit on SIGTERM");
    let d = production(&db, &receiver, &[]);
    d.wait_processed();
    let delivered = deliveries(&d, "delivered");
    assert_eq!(
        delivered.len(),
        1,
        "the answer that came during shutdown was recorded"
    );
    assert_eq!(delivered[0]["attempts"], 1);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        receiver.received().len(),
        1,
        "and the lead is not sent again after the restart"
    );
}

#[test]
fn expired_dead_letters_leave_the_list() {
    let receiver = Receiver::start(Behavior::Status(400));
    let db = TestDb::new();
    // 0.0000116 days is about a second.
    let d = production(&db, &receiver, &[("DEAD_LETTER_TTL_DAYS", "0.0000116")]);
    submit(&d, "expiring@example.com");
    d.wait_until("the delivery to die", || deliveries(&d, "dead").len() == 1);
    std::thread::sleep(Duration::from_millis(1200));
    assert!(dead_letters(&d).is_empty());
}

#[test]
fn https_deliveries_verify_the_receiver_certificate() {
    let ca = crate::receiver::TestCa::new();
    let receiver = Receiver::start_tls(Behavior::Status(200), &ca);
    assert!(receiver.url.starts_with("https://"));

    // The CA is in SSL_CERT_FILE: delivered, byte for byte.
    let trusted_db = TestDb::new();
    let cert_file = ca.pem_path.display().to_string();
    let trusted = production(&trusted_db, &receiver, &[("SSL_CERT_FILE", &cert_file)]);
    submit(&trusted, "tls@example.com");
    let got = receiver.wait_for(1, Duration::from_secs(10));
    assert_eq!(got[0].json()["email"], "tls@example.com");
    trusted.wait_until("the delivery to be recorded", || {
        deliveries(&trusted, "delivered").len() == 1
    });
    assert!(trusted
        .logs()
        .contains("tls.roots loaded=1 source=SSL_CERT_FILE"));

    // The system's roots do not know the test CA: the attempt fails on the certificate and
    // nothing reaches the receiver.
    let untrusted_db = TestDb::new();
    let untrusted = production(&untrusted_db, &receiver, &[]);
    submit(&untrusted, "mitm@example.com");
    untrusted.wait_until("a failed attempt", || {
        deliveries(&untrusted, "pending")
            .first()
            .is_some_and(|d| d["attempts"].as_i64() >= Some(1))
    });
    let delivery = &deliveries(&untrusted, "pending")[0];
    let error = delivery["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("certificate"), "{delivery}");
    assert_eq!(
        receiver.received().len(),
        1,
        "only the trusted daemon got through"
    );
}

#[test]
fn dead_letters_are_redriven_on_the_schedule_with_the_same_webhook_id() {
    let receiver = Receiver::start(Behavior::Status(200));
    receiver.script(&[
        Behavior::Status(503),
        Behavior::Status(503),
        Behavior::Status(503),
        Behavior::Status(503),
        Behavior::Status(502),
    ]);
    let db = TestDb::new();
    // The retries' timing is another test's: here they are quick.
    let d = production(
        &db,
        &receiver,
        &[
            ("WEBHOOK_REDRIVE_SCHEDULE", "1s,1s,1s"),
            ("WEBHOOK_RETRY_SCHEDULE", "100ms,100ms,100ms"),
        ],
    );
    submit(&d, "redrive@example.com");
    d.wait_until("the dead letter", || dead_letters(&d).len() == 1);
    let letter = dead_letters(&d)[0].clone();
    assert!(letter["next_redrive_at"].is_string(), "{letter}");
    // First re-drive: one attempt (502), dead again; the second gets through.
    let got = receiver.wait_for(6, Duration::from_secs(20));
    assert!(got
        .iter()
        .all(|r| r.header("webhook-id") == got[0].header("webhook-id")));
    d.wait_until("the letter to leave the list", || {
        dead_letters(&d).is_empty()
    });
    let delivery = deliveries(&d, "delivered")[0].clone();
    let detail = d.admin_get(&format!("/admin/deliveries/{}", delivery["id"]));
    let attempts = detail["attempts"].as_array().unwrap();
    let statuses: Vec<i64> = attempts
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [503, 503, 503, 503, 502, 200]);
    assert_eq!(attempts[4]["error"], "HTTP 502: ok");
    assert!(attempts[5]["error"].is_null());
    assert_eq!(detail["delivery"]["status"], "delivered");
    assert!(d.logged("webhook.redriving"), "{}", d.logs());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(receiver.received().len(), 6, "nothing after the delivery");
    assert_eq!(d.admin("GET", "/admin/deliveries/999999", None).status, 404);
    assert_eq!(d.admin("GET", "/admin/deliveries/abc", None).status, 404);
}

#[test]
fn redrives_go_on_with_the_last_step_until_the_letter_expires() {
    let receiver = Receiver::start(Behavior::Status(500));
    let db = TestDb::new();
    // 0.0001 days is about 8.6 seconds.
    let d = production(
        &db,
        &receiver,
        &[
            ("WEBHOOK_REDRIVE_SCHEDULE", "1s"),
            ("DEAD_LETTER_TTL_DAYS", "0.0001"),
        ],
    );
    submit(&d, "stubborn@example.com");
    receiver.wait_for(7, Duration::from_secs(20));
    d.wait_until("the letter to expire", || dead_letters(&d).is_empty());
    std::thread::sleep(Duration::from_millis(1500));
    let after_expiry = receiver.received().len();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        receiver.received().len(),
        after_expiry,
        "an expired letter is not re-driven"
    );
    assert!(
        after_expiry >= 7,
        "4 fast attempts, then the 1 s step again and again"
    );
}

#[test]
fn every_dead_letter_can_be_replayed_at_once() {
    let receiver = Receiver::start(Behavior::Status(200));
    receiver.script(&[Behavior::Status(410), Behavior::Status(410)]);
    let db = TestDb::new();
    let d = production(&db, &receiver, &[("WEBHOOK_REDRIVE_SCHEDULE", "")]);
    submit(&d, "one@example.com");
    submit(&d, "two@example.com");
    d.wait_until("two dead letters", || dead_letters(&d).len() == 2);
    assert!(
        dead_letters(&d)
            .iter()
            .all(|l| l["next_redrive_at"].is_null()),
        "re-drive is off"
    );
    let none = d.admin(
        "POST",
        "/admin/dead-letters/replay?url=https%3A%2F%2Felsewhere.example%2F",
        None,
    );
    assert_eq!((none.status, none.json()), (202, json!({"replayed": 0})));
    let all = d.admin("POST", "/admin/dead-letters/replay", None);
    assert_eq!((all.status, all.json()), (202, json!({"replayed": 2})));
    d.wait_until("both delivered", || deliveries(&d, "delivered").len() == 2);
    d.wait_until("the list to empty", || dead_letters(&d).is_empty());
    assert_eq!(receiver.received().len(), 4);
}

#[test]
fn a_hanging_receiver_does_not_hold_up_another_campaign() {
    let hanging = Receiver::start(Behavior::Hang(Duration::from_secs(20)));
    let fast = Receiver::start(Behavior::Status(200));
    let db = TestDb::new();
    let d = production(&db, &fast, &[("WEBHOOK_TIMEOUT_SECONDS", "20")]);
    let account = d.default_account_id();
    let campaign = d.admin(
        "POST",
        &format!("/admin/accounts/{account}/campaigns"),
        Some(&json!({"name": "Slow", "integration": "website", "project_name": "Slow", "webhook_url": hanging.url})),
    );
    assert_eq!(campaign.status, 201, "{}", campaign.body);
    for i in 0..40 {
        let body = json!({"name": "S", "email": format!("slow{i}@example.com"), "project": "Slow"});
        assert_eq!(d.post_lead(&body).status, 200);
    }
    hanging.wait_for(32, Duration::from_secs(10));
    for i in 0..10 {
        submit(&d, &format!("fast{i}@example.com"));
    }
    // The hanging receiver answers nothing for 20 s; the other campaign's leads go through now.
    fast.wait_for(10, Duration::from_secs(8));
    assert_eq!(
        hanging.received().len(),
        32,
        "at most 32 attempts on the wire to one URL"
    );
}

#[test]
fn a_link_local_url_stored_before_the_checks_is_never_connected_to() {
    let receiver = Receiver::start(Behavior::Status(200));
    let db = TestDb::new();
    let d = production(&db, &receiver, &[]);
    let account = d.default_account_id();
    let campaign = d.admin(
        "POST",
        &format!("/admin/accounts/{account}/campaigns"),
        Some(&json!({"name": "Old", "integration": "website", "project_name": "Old", "webhook_url": "https://old.example/hook"})),
    );
    let id = campaign.json()["id"].as_str().unwrap().to_string();
    // As an older release would have accepted it.
    db.execute(&format!(
        "UPDATE campaigns SET webhook_url = 'http://169.254.169.254/latest/meta-data' WHERE id = '{id}'"
    ));
    d.admin(
        "PATCH",
        &format!("/admin/campaigns/{id}"),
        Some(&json!({"active": true})),
    );
    let r = d.post_lead(&json!({"name": "M", "email": "meta@example.com", "project": "Old"}));
    assert_eq!(r.status, 200);
    d.wait_until("the refused delivery", || dead_letters(&d).len() == 1);
    let letter = &dead_letters(&d)[0];
    assert!(
        letter["error"].as_str().unwrap().starts_with("refused: "),
        "{letter}"
    );
    assert_eq!(letter["attempts"], 1, "never retried");
}
