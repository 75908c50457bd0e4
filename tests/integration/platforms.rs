//! Platform webhooks (`/v1/inbound/webhooks/{platform}/{account}/{campaign}`): the platforms
//! without signatures, the campaign they name, and what is answered 200 but is no lead.

use crate::harness::{fixture, Daemon, TestDb};
use serde_json::{json, Value};

fn campaign(d: &Daemon, integration: &str, extra: Value) -> String {
    let account = d.default_account_id();
    let mut body = json!({"name": format!("{integration} campaign"), "integration": integration,
        "project_name": "Skyline Towers"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    d.create_campaign(&account, &body)
}

fn hook(d: &Daemon, platform: &str, campaign: &str) -> String {
    format!(
        "/v1/inbound/webhooks/{platform}/{}/{campaign}",
        d.default_account_id()
    )
}

fn post_json(d: &Daemon, path: &str, body: &[u8]) -> crate::harness::Resp {
    d.post_raw(path, "application/json", body, &[])
}

fn ignored_reasons(d: &Daemon) -> Vec<String> {
    d.admin_get("/admin/ignored-webhooks")["ignored_webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["reason"].as_str().unwrap().to_string())
        .collect()
}

/// The one lead an email (or phone digits) finds, once the inbox is drained.
fn lead_by_email(d: &Daemon, email: &str) -> Value {
    d.wait_processed();
    let leads = d.leads(&format!("q={email}"));
    assert_eq!(leads.len(), 1, "{email}: {leads:?}");
    leads[0].clone()
}

#[test]
fn each_platform_fixture_becomes_a_lead_of_its_campaign() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    for (platform, file) in [
        ("instapage", "instapage/form.json"),
        ("kartra", "kartra/filled_form.json"),
        ("manychat", "manychat/full_contact.json"),
        ("phonesites", "phonesites/form.json"),
    ] {
        let id = campaign(&d, platform, json!({}));
        let answer = post_json(&d, &hook(&d, platform, &id), &fixture(file));
        assert_eq!(answer.status, 200, "{platform}: {}", answer.body);
        assert_eq!(answer.json(), json!({"success": true}));
    }
    // Instapage's and PhoneSites' John Doe have one email and project: one person, one lead.
    let john = lead_by_email(&d, "john@example.com");
    assert_eq!(john["project_name"], "Skyline Towers");
    assert_eq!(john["first_name"], "John Doe");
    let sources = d.submission_sources(john["lead_public_id"].as_str().unwrap());
    assert_eq!(sources, ["instapage", "phonesites"]);
    // Instapage's national number takes the calling code of its `Country`.
    let instapage = campaign(&d, "instapage", json!({"project_name": "Harbour View"}));
    let body = String::from_utf8(fixture("instapage/form.json"))
        .unwrap()
        .replace("john@example.com", "insta@example.com");
    let answer = post_json(&d, &hook(&d, "instapage", &instapage), body.as_bytes());
    assert_eq!(answer.status, 200, "{}", answer.body);
    let insta = lead_by_email(&d, "insta@example.com");
    assert_eq!(insta["lead_source"], "instapage");
    assert_eq!(insta["project_name"], "Harbour View");
    assert_eq!(insta["phone_e164"], "+14155551234");
    let kartra = lead_by_email(&d, "johndoe@example.com");
    assert_eq!(kartra["lead_source"], "kartra");
    assert_eq!(kartra["phone_e164"], "+12025550143");
    let manychat = lead_by_email(&d, "maria.silva@example.com");
    assert_eq!(manychat["first_name"], "Maria Silva");
    assert_eq!(manychat["phone_e164"], "+5511912345678");
    let detail = d.lead_detail(manychat["lead_public_id"].as_str().unwrap());
    let submission = &detail["submissions"][0];
    assert_eq!(submission["lead_source"], "manychat");
    assert_eq!(
        submission["payload_json"]["custom_fields"]["WhatsApp"],
        "+55 11 91234-5678"
    );
    assert!(ignored_reasons(&d).is_empty(), "{:?}", ignored_reasons(&d));
}

#[test]
fn what_a_platform_cannot_fix_is_answered_200_and_kept_with_its_reason() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let kartra = campaign(&d, "kartra", json!({}));
    let phonesites = campaign(&d, "phonesites", json!({}));
    let paused = campaign(&d, "instapage", json!({"active": false}));
    let website = campaign(&d, "website", json!({}));
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        (
            hook(&d, "kartra", &kartra),
            br#"{"action": "buy_product", "lead": {"email": "k@example.com"}}"#.to_vec(),
            "kartra_action_not_filled_form",
        ),
        (
            hook(&d, "kartra", &kartra),
            br#"{"action": "filled_form", "lead": {"email": "k@example.com"}}"#.to_vec(),
            "kartra_form_without_id",
        ),
        (
            hook(&d, "phonesites", &phonesites),
            br#"{"lead_id": "ps_1", "email": "p@example.com"}"#.to_vec(),
            "phonesites_without_page",
        ),
        (
            hook(&d, "instapage", &paused),
            fixture("instapage/form.json"),
            "campaign_inactive",
        ),
        // A campaign of another integration, or of nobody, is no campaign of this platform.
        (
            hook(&d, "instapage", &website),
            fixture("instapage/form.json"),
            "unknown_campaign",
        ),
        (
            hook(&d, "instapage", "'; DROP TABLE leads; --"),
            fixture("instapage/form.json"),
            "unknown_campaign",
        ),
        (
            hook(&d, "phonesites", &phonesites),
            b"{\"page\": \"Landing\", \"email\": ".to_vec(),
            "invalid_payload",
        ),
        (
            hook(&d, "phonesites", &phonesites),
            b"[1, 2, 3]".to_vec(),
            "invalid_payload",
        ),
        (
            hook(&d, "phonesites", &phonesites),
            br#"{"page": "Landing", "lead_id": "ps_9", "notes": "nobody"}"#.to_vec(),
            "no_contact",
        ),
        (
            hook(&d, "kartra", &kartra),
            br#"{"action": "filled_form", "action_details": {"form": {"form_id": "7"}}}"#.to_vec(),
            "invalid_payload",
        ),
    ];
    for (path, body, reason) in &cases {
        let answer = post_json(&d, path, body);
        assert_eq!(answer.status, 200, "{reason}: {}", answer.body);
    }
    let expected: Vec<String> = cases.iter().map(|(_, _, r)| r.to_string()).collect();
    let mut reasons = ignored_reasons(&d);
    reasons.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(reasons, expected_sorted);
    d.wait_processed();
    assert!(d.leads("").is_empty(), "nothing ignored became a lead");
    assert_eq!(
        d.admin_get("/admin/inbox?status=failed")["items"],
        json!([])
    );
    // A stranger's megabyte is kept as its first 4 KiB and its length.
    let big = format!("{{\"x\": \"{}\"}}", "y".repeat(1000 * 1000));
    let answer = post_json(&d, &hook(&d, "instapage", "nobody"), big.as_bytes());
    assert_eq!(answer.status, 200);
    let listed = d.admin_get("/admin/ignored-webhooks")["ignored_webhooks"].clone();
    let kept = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["payload_json"]["bytes"] == big.len())
        .expect("the stranger's request is listed")["payload_json"]
        .clone();
    assert_eq!(kept["bytes"], big.len());
    assert_eq!(kept["raw"].as_str().unwrap().len(), 4096);
}

#[test]
fn unknown_platforms_oversized_bodies_and_wrong_tokens_are_refused() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let guarded = campaign(&d, "manychat", json!({"signing_secret": "s3cret-token"}));
    let path = hook(&d, "manychat", &guarded);
    let body = fixture("manychat/full_contact.json");
    assert_eq!(
        post_json(&d, &hook(&d, "myspace", &guarded), &body).status,
        404
    );
    assert_eq!(
        post_json(&d, &hook(&d, "website", &guarded), &body).status,
        404
    );
    assert_eq!(post_json(&d, &path, &body).status, 401);
    assert_eq!(
        post_json(&d, &format!("{path}?token=wrong"), &body).status,
        401
    );
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    assert_eq!(
        post_json(&d, &format!("{path}?token=s3cret-token"), big.as_bytes()).status,
        413
    );
    d.wait_processed();
    assert!(d.leads("").is_empty());
    let right = post_json(&d, &format!("{path}?token=s3cret-token"), &body);
    assert_eq!(right.status, 200, "{}", right.body);
    lead_by_email(&d, "maria.silva@example.com");
    // Form-encoded bodies are read too.
    let phonesites = campaign(&d, "phonesites", json!({}));
    let form = d.post_raw(
        &hook(&d, "phonesites", &phonesites),
        "application/x-www-form-urlencoded",
        b"page=Offer&name=Form+Person&email=form%40example.com&phone=4155550199",
        &[],
    );
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(
        lead_by_email(&d, "form@example.com")["first_name"],
        "Form Person"
    );
}

#[test]
fn a_platform_lead_sent_again_is_stored_once_per_campaign() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let first = campaign(&d, "phonesites", json!({}));
    let second = campaign(&d, "phonesites", json!({"name": "second"}));
    let body = fixture("phonesites/form.json");
    for _ in 0..3 {
        assert_eq!(
            post_json(&d, &hook(&d, "phonesites", &first), &body).status,
            200
        );
    }
    d.wait_processed();
    // A retry after the first was stored, in another batch.
    assert_eq!(
        post_json(&d, &hook(&d, "phonesites", &first), &body).status,
        200
    );
    // The same id from another campaign is another platform lead.
    assert_eq!(
        post_json(&d, &hook(&d, "phonesites", &second), &body).status,
        200
    );
    let other_id = String::from_utf8(body.clone())
        .unwrap()
        .replace("ps_12345", "ps_67890");
    assert_eq!(
        post_json(&d, &hook(&d, "phonesites", &first), other_id.as_bytes()).status,
        200
    );
    let lead = lead_by_email(&d, "john@example.com");
    let detail = d.lead_detail(lead["lead_public_id"].as_str().unwrap());
    let submissions = detail["submissions"].as_array().unwrap();
    assert_eq!(submissions.len(), 3, "{submissions:?}");
    assert_eq!(d.health()["inbox"]["pending"], 0);
    assert_eq!(
        d.admin_get("/admin/inbox?status=failed")["items"],
        json!([])
    );
}

fn clickfunnels_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn signed_platforms_are_verified_over_the_raw_body() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let callrail = campaign(
        &d,
        "callrail",
        json!({"signing_secret": "072e77e426f92738a72fe23c4d1953b4"}),
    );
    let body = fixture("callrail/post_call.json");
    let path = hook(&d, "callrail", &callrail);
    let signed = [("Signature", "3VfoQEMxiAQ25FXtd33d/qdxZig=")];
    assert_eq!(
        d.post_raw(&path, "application/json", &body, &[]).status,
        401
    );
    let mut changed = body.clone();
    changed[20] ^= 1;
    assert_eq!(
        d.post_raw(&path, "application/json", &changed, &signed)
            .status,
        401
    );
    let answer = d.post_raw(&path, "application/json", &body, &signed);
    assert_eq!(answer.status, 200, "{}", answer.body);

    let ctm = campaign(
        &d,
        "calltrackingmetrics",
        json!({"signing_secret": "test_ctm_secret", "tracking_number": "(415) 555-9998"}),
    );
    let ctm_body = fixture("calltrackingmetrics/call.json");
    let ctm_signed = [
        ("X-CTM-Time", "1752000000"),
        ("X-CTM-Signature", "uDnGMPMobHA3NtR9gA7S7px2EQg="),
    ];
    let ctm_path = hook(&d, "calltrackingmetrics", &ctm);
    assert_eq!(
        d.post_raw(&ctm_path, "application/json", &ctm_body, &ctm_signed[..1])
            .status,
        401
    );
    assert_eq!(
        d.post_raw(&ctm_path, "application/json", &ctm_body, &ctm_signed)
            .status,
        200
    );

    let cf = campaign(
        &d,
        "clickfunnels",
        json!({"signing_secret": "test_cf_secret"}),
    );
    let cf_path = hook(&d, "clickfunnels", &cf);
    let cf_body = fixture("clickfunnels/contact_identified.json");
    let now = chrono::Utc::now().timestamp().to_string();
    let stale = (chrono::Utc::now().timestamp() - 11 * 60).to_string();
    for (timestamp, expected) in [(&stale, 401), (&now, 200)] {
        let signature = clickfunnels_signature("test_cf_secret", timestamp, &cf_body);
        let headers = [
            ("X-Webhook-ClickFunnels-Timestamp", timestamp.as_str()),
            ("X-Webhook-ClickFunnels-Signature", signature.as_str()),
        ];
        let answer = d.post_raw(&cf_path, "application/json", &cf_body, &headers);
        assert_eq!(answer.status, expected, "{timestamp}: {}", answer.body);
    }

    let grace = lead_by_email(&d, "2025550111");
    assert_eq!(grace["first_name"], "Grace Hopper");
    assert_eq!(grace["lead_source"], "callrail");
    assert_eq!(grace["phone_e164"], "+12025550111");
    let jane = lead_by_email(&d, "jane@example.com");
    assert_eq!(jane["phone_e164"], "+17607058888");
    assert_eq!(jane["lead_source"], "calltrackingmetrics");
    let bob = lead_by_email(&d, "bob@example.com");
    assert_eq!(bob["first_name"], "Bob Dullan");
    assert_eq!(bob["phone_e164"], "+18472555555");
}

#[test]
fn unbounce_forms_and_other_numbers_calls() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let unbounce = campaign(&d, "unbounce", json!({}));
    let path = hook(&d, "unbounce", &unbounce);
    let form = fixture("unbounce/form.txt");
    for _ in 0..2 {
        let answer = d.post_raw(&path, "application/x-www-form-urlencoded", &form, &[]);
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let no_data = d.post_raw(
        &path,
        "application/x-www-form-urlencoded",
        b"page_id=abc&page_name=Wayfaring",
        &[],
    );
    assert_eq!(no_data.status, 200);
    let ada = lead_by_email(&d, "ada@example.org");
    assert_eq!(ada["first_name"], "Ada Lovelace");
    assert_eq!(ada["lead_source"], "unbounce");
    let detail = d.lead_detail(ada["lead_public_id"].as_str().unwrap());
    let submissions = detail["submissions"].as_array().unwrap();
    assert_eq!(submissions.len(), 1, "the same page and data is one lead");
    assert_eq!(
        submissions[0]["page_url"],
        "http://unbouncepages.com/wayfaring-147/"
    );

    let ctm = campaign(
        &d,
        "calltrackingmetrics",
        json!({"tracking_number": "+14155550000"}),
    );
    let answer = d.post_raw(
        &hook(&d, "calltrackingmetrics", &ctm),
        "application/json",
        &fixture("calltrackingmetrics/call.json"),
        &[],
    );
    assert_eq!(answer.status, 200);
    d.wait_processed();
    assert!(d.leads("q=jane@example.com").is_empty());
    let mut reasons = ignored_reasons(&d);
    reasons.sort();
    assert_eq!(
        reasons,
        ["ctm_not_the_campaigns_number", "unbounce_without_data_json"]
    );
}

#[test]
fn facebooks_subscription_check_echoes_the_challenge_only_for_the_token() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[("FACEBOOK_VERIFY_TOKEN", "verify-me")]);
    let check = |query: &str| {
        d.request(
            "GET",
            &format!("/v1/inbound/webhooks/facebook?{query}"),
            &[],
            None,
        )
    };
    let ok = check("hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, "1158201444");
    assert!(ok.header("content-type").unwrap().starts_with("text/plain"));
    for refused in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=verify-me",
        "hub.mode=subscribe&hub.challenge=1",
        "",
    ] {
        assert_eq!(check(refused).status, 403, "{refused}");
    }
    drop(d);
    let unset = Daemon::start(&db, &[]);
    let without = unset.request(
        "GET",
        "/v1/inbound/webhooks/facebook?hub.mode=subscribe&hub.verify_token=&hub.challenge=1",
        &[],
        None,
    );
    assert_eq!(without.status, 403, "no configured token verifies nothing");
}

#[test]
fn a_platform_lead_goes_to_its_campaigns_webhook() {
    use crate::receiver::{Behavior, Receiver};
    let db = TestDb::new();
    let d = Daemon::start(&db, &[("ENVIRONMENT", "production")]);
    let receiver = Receiver::start(Behavior::Status(200));
    // Two Kartra campaigns of one project: the URL names which one, and so which webhook.
    campaign(
        &d,
        "kartra",
        json!({"name": "other", "webhook_url": "http://127.0.0.1:9/other"}),
    );
    let named = campaign(&d, "kartra", json!({"webhook_url": receiver.url}));
    let answer = post_json(
        &d,
        &hook(&d, "kartra", &named),
        &fixture("kartra/filled_form.json"),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let got = receiver.wait_for(1, std::time::Duration::from_secs(10));
    let sent = got[0].json();
    assert_eq!(sent["email"], "johndoe@example.com");
    assert_eq!(sent["lead_source"], "kartra");
    assert_eq!(sent["campaign_id"], named.as_str());
    assert_eq!(sent["project_name"], "Skyline Towers");
    assert_eq!(sent["phone_e164"], "+12025550143");
    assert_eq!(
        sent["user_ip"],
        Value::Null,
        "the platform's address is not the person's"
    );
}
