//! `/admin/*`: auth, accounts, campaigns, lead listing and detail, health.

use crate::harness::{Daemon, TestDb};
use serde_json::{json, Value};

#[test]
fn admin_needs_the_bearer_token() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    for path in [
        "/admin/health",
        "/admin/leads",
        "/admin/accounts",
        "/admin/blocked-ips",
        "/admin/deliveries",
    ] {
        assert_eq!(d.request("GET", path, &[], None).status, 401, "{path}");
        let wrong = d.request("GET", path, &[("Authorization", "Bearer nope")], None);
        assert_eq!(wrong.status, 401, "{path}");
        assert!(wrong.json()["error"].is_string());
    }
    assert_eq!(
        d.request(
            "POST",
            "/admin/accounts",
            &[("Content-Type", "application/json")],
            Some(b"{\"name\":\"x\"}")
        )
        .status,
        401
    );
    assert_eq!(d.request("GET", "/healthz", &[], None).status, 200);
    assert_eq!(d.request("GET", "/readyz", &[], None).status, 200);
    assert_eq!(d.request("GET", "/metrics", &[], None).status, 200);
}

#[test]
fn accounts_are_created_listed_updated_and_receive_leads() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let default = d.default_account_id();
    let created = d.admin(
        "POST",
        "/admin/accounts",
        Some(&json!({"name": "Acme Realty"})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let acme = created.json();
    assert!(uuid::Uuid::parse_str(acme["id"].as_str().unwrap()).is_ok());
    assert_eq!(acme["active"], true);
    let id = acme["id"].as_str().unwrap();
    assert_eq!(
        d.admin("POST", "/admin/accounts", Some(&json!({"name": ""})))
            .status,
        400
    );
    assert_eq!(
        d.admin("POST", "/admin/accounts", Some(&json!({"active": true})))
            .status,
        400
    );
    let bad_json = d.request(
        "POST",
        "/admin/accounts",
        &[
            ("Authorization", "Bearer test-admin-token"),
            ("Content-Type", "application/json"),
        ],
        Some(b"{nope"),
    );
    assert_eq!(bad_json.status, 400);
    assert!(bad_json.json()["error"].is_string());
    let patched = d.admin(
        "PATCH",
        &format!("/admin/accounts/{id}"),
        Some(&json!({"name": "Acme", "active": false})),
    );
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["name"], "Acme");
    assert_eq!(patched.json()["active"], false);
    // Active again to take leads (an inactive account's are ignored: see website.rs).
    let reactivated = d.admin(
        "PATCH",
        &format!("/admin/accounts/{id}"),
        Some(&json!({"active": true})),
    );
    assert_eq!(reactivated.json()["active"], true);
    assert_eq!(
        d.admin(
            "PATCH",
            "/admin/accounts/no-such-account",
            Some(&json!({"name": "x"}))
        )
        .status,
        404
    );
    assert_eq!(
        d.admin_get("/admin/accounts")["accounts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let r = d.request(
        "POST",
        &format!("/v1/leads?account={id}"),
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        Some(br#"{"name": "Acme lead", "email": "a@acme.example"}"#),
    );
    assert_eq!(r.status, 200);
    let r = d.request(
        "POST",
        "/v1/leads?account=nope",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        Some(br#"{"name": "Lost?", "email": "l@x.example"}"#),
    );
    assert_eq!(
        r.status, 400,
        "an unknown account is refused, not filed elsewhere"
    );
    assert_eq!(
        d.post_lead(&json!({"name": "Default lead", "email": "d@x.example"}))
            .status,
        200
    );
    d.wait_processed();
    let acme_leads = d.leads(&format!("account={id}"));
    assert_eq!(acme_leads.len(), 1);
    assert_eq!(acme_leads[0]["first_name"], "Acme lead");
    assert_eq!(d.leads(&format!("account={default}")).len(), 1);
    assert_eq!(d.leads("").len(), 2);
}

#[test]
fn campaigns_are_validated_and_kept_with_their_settings() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let account = d.default_account_id();
    let path = format!("/admin/accounts/{account}/campaigns");
    let user = d.admin(
        "POST",
        &format!("/admin/accounts/{account}/users"),
        Some(&json!({"name": "Ravi"})),
    );
    assert_eq!(user.status, 201, "{}", user.body);
    let user_id = user.json()["id"].as_str().unwrap().to_string();
    let body = json!({"name": "Skyline FB", "integration": "facebook_ads", "project_name": "Skyline Towers",
        "page_id": "123", "lead_form_id": "456", "selected_user": [{"id": user_id, "custom_number": null}]});
    let created = d.admin("POST", &path, Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    let campaign = created.json();
    assert_eq!(campaign["page_id"], "123");
    assert_eq!(campaign["selected_user"][0]["id"], user_id.as_str());
    let bad_integration = d.admin(
        "POST",
        &path,
        Some(&json!({"name": "x", "integration": "myspace"})),
    );
    assert_eq!(bad_integration.status, 422);
    assert_eq!(bad_integration.json()["fields"], json!(["integration"]));
    assert_eq!(
        d.admin("POST", &path, Some(&json!({"integration": "website"})))
            .status,
        400
    );
    assert_eq!(
        d.admin(
            "POST",
            "/admin/accounts/missing/campaigns",
            Some(&json!({"name": "x", "integration": "website"}))
        )
        .status,
        404
    );
    let id = campaign["id"].as_str().unwrap();
    let patched = d.admin(
        "PATCH",
        &format!("/admin/campaigns/{id}"),
        Some(&json!({"active": false, "page_id": "789"})),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.json()["active"], false);
    assert_eq!(patched.json()["page_id"], "789");
    assert_eq!(
        d.admin(
            "PATCH",
            &format!("/admin/campaigns/{id}"),
            Some(&json!({"thank_you_url": "javascript:alert(1)"}))
        )
        .status,
        400
    );
    let listed = d.admin_get(&path)["campaigns"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["lead_form_id"], "456");
}

#[test]
fn leads_are_filtered_searched_and_paged() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    for i in 0..7 {
        let body = json!({"name": format!("Person {i}"), "email": format!("p{i}@example.com"), "project": if i % 2 == 0 { "Even" } else { "Odd" }});
        assert_eq!(d.post_lead(&body).status, 200);
    }
    assert_eq!(
        d.post_lead(&json!({"name": "Ananya Rao", "phone": "+91 98123 45678", "project": "Even"}))
            .status,
        200
    );
    d.wait_processed();
    assert_eq!(d.leads("").len(), 8);
    assert_eq!(d.leads("project=Even").len(), 5);
    assert_eq!(d.leads("project=odd").len(), 3);
    assert_eq!(d.leads("q=ANANYA").len(), 1);
    assert_eq!(d.leads("q=p3%40example").len(), 1);
    assert_eq!(
        d.leads("q=98123-45678").len(),
        1,
        "phones compare by digits"
    );
    assert_eq!(d.leads("q=%25").len(), 0, "LIKE wildcards are literal");

    let ananya = d.leads("q=ananya")[0]["lead_public_id"]
        .as_str()
        .unwrap()
        .to_string();
    let patched = d.admin(
        "PATCH",
        &format!("/admin/leads/{ananya}"),
        Some(&json!({"status": "contacted"})),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.json()["lead"]["status"], "contacted");
    assert_eq!(
        d.admin(
            "PATCH",
            &format!("/admin/leads/{ananya}"),
            Some(&json!({"status": ""}))
        )
        .status,
        400
    );
    assert_eq!(d.leads("status=contacted").len(), 1);
    assert_eq!(d.leads("status=new").len(), 7);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("/admin/leads?limit=3&cursor={c}"),
            None => "/admin/leads?limit=3".into(),
        };
        let page = d.admin_get(&query);
        let leads = page["leads"].as_array().unwrap();
        assert!(leads.len() <= 3);
        seen.extend(
            leads
                .iter()
                .map(|l| l["lead_public_id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (8, 8));
    assert_eq!(d.admin("GET", "/admin/leads?limit=501", None).status, 400);
    assert_eq!(d.admin("GET", "/admin/leads?cursor=abc", None).status, 400);
    assert_eq!(
        d.admin(
            "GET",
            "/admin/leads/00000000-0000-0000-0000-000000000000",
            None
        )
        .status,
        404
    );
    assert_eq!(
        d.admin("GET", "/admin/leads/'%20OR%201=1", None).status,
        404
    );
}

#[test]
fn lead_detail_has_submissions_and_a_timeline() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    assert_eq!(d.post_lead(&json!({"name": "G", "email": "g@example.com", "cta": "hero", "page_url": "https://x.example/a"})).status, 200);
    assert_eq!(
        d.post_lead(&json!({"name": "G", "email": "g@example.com", "cta": "footer"}))
            .status,
        200
    );
    d.wait_processed();
    let lead = &d.leads("")[0];
    let detail = d.lead_detail(lead["lead_public_id"].as_str().unwrap());
    let l = &detail["lead"];
    for key in [
        "status",
        "crm_lead_id",
        "crm_url",
        "assigned_user_id",
        "contact_id",
        "errors",
        "first_name",
        "phone_mobile",
        "make_send_public_id",
    ] {
        assert!(l.get(key).is_some(), "{key} missing");
    }
    assert_eq!(l["errors"], json!([]));
    let submissions = detail["submissions"].as_array().unwrap();
    assert_eq!(submissions.len(), 2);
    assert_eq!(submissions[0]["cta"], "hero");
    assert_eq!(submissions[0]["page_url"], "https://x.example/a");
    assert_eq!(submissions[1]["cta"], "footer");
    assert!(submissions
        .iter()
        .all(|s| s["lead_source"] == "website" && s["payload_json"].is_object()));
    assert_eq!(submissions[1]["is_duplicate"], true);
    assert_eq!(detail["timeline"].as_array().unwrap().len(), 2);
}

#[test]
fn health_lists_every_actor_and_the_backlog() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let health = d.health();
    assert_eq!(health["status"], "ok");
    for actor in ["DbExecutor", "IdentityResolver", "Scorer", "Intake"] {
        let a = &health["actors"][actor];
        assert_eq!(a["status"], "running", "{actor}: {a}");
        for key in ["restarts", "processed", "failed", "mailbox", "last_error"] {
            assert!(a.get(key).is_some(), "{actor}.{key}");
        }
    }
    assert_eq!(
        health["inbox"],
        json!({"pending": 0, "failed": 0, "oldest_pending_age_seconds": null})
    );
    assert_eq!(health["outbox"], json!({"pending": 0, "dead": 0}));
    assert_eq!(
        health["spool"],
        json!({"pending": 0, "quarantined": 0, "bytes": 0})
    );
    assert_eq!(health["database"]["status"], "ok");
    let backend: Value = if db.is_postgres() {
        json!("postgres")
    } else {
        json!("sqlite")
    };
    assert_eq!(health["database"]["backend"], backend);
}

#[test]
fn the_crash_endpoint_exists_only_in_test() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[("ENVIRONMENT", "development")]);
    assert_eq!(
        d.admin("POST", "/admin/actors/Scorer/crash", None).status,
        404
    );
    drop(d);
    let d = Daemon::start(&db, &[]);
    assert_eq!(
        d.admin("POST", "/admin/actors/Nobody/crash", None).status,
        404
    );
    assert_eq!(
        d.admin("POST", "/admin/actors/Scorer/crash", None).status,
        202
    );
}

#[test]
fn campaign_urls_are_checked_and_unknown_keys_refused() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let account = d.default_account_id();
    let path = format!("/admin/accounts/{account}/campaigns");
    let campaign = |extra: Value| {
        let mut body = json!({"name": "Site", "integration": "website", "project_name": "P"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        d.admin("POST", &path, Some(&body))
    };
    for bad in [
        "/thanks\r\nSet-Cookie: pwn=1",
        "/\\evil.example/",
        "/\t/evil.example/",
        "//evil.example/",
        "javascript:alert(1)",
        "thanks",
    ] {
        let r = campaign(json!({"thank_you_url": bad}));
        assert_eq!(r.status, 400, "{bad:?}: {}", r.body);
    }
    for bad in [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/hook",
        "http://[::ffff:169.254.169.254]/",
        "ftp://example.com/",
    ] {
        let r = campaign(json!({"webhook_url": bad}));
        assert_eq!(r.status, 400, "{bad:?}: {}", r.body);
    }
    let good = campaign(
        json!({"thank_you_url": "/thanks?from=form", "webhook_url": "https://hook.eu1.make.com/abc"}),
    );
    assert_eq!(good.status, 201, "{}", good.body);
    let id = good.json()["id"].as_str().unwrap().to_string();

    let typo = campaign(json!({"thankyou_url": "/thanks"}));
    assert_eq!(typo.status, 422, "{}", typo.body);
    assert_eq!(typo.json()["fields"], json!(["thankyou_url"]));
    let patch = d.admin(
        "PATCH",
        &format!("/admin/campaigns/{id}"),
        Some(&json!({"thankyou_url": "/x"})),
    );
    assert_eq!(patch.status, 422, "{}", patch.body);
    assert!(patch.json()["error"]
        .as_str()
        .unwrap()
        .contains("thankyou_url"));
    // A campaign sent back as it was read is fine: the keys leadgate writes are ignored.
    let echoed = d.admin(
        "PATCH",
        &format!("/admin/campaigns/{id}"),
        Some(&good.json()),
    );
    assert_eq!(echoed.status, 200, "{}", echoed.body);

    // A URL stored before these checks existed is never sent as a Location.
    db.execute(&format!(
        "UPDATE campaigns SET thank_you_url = '/\\evil.example/' WHERE id = '{id}'"
    ));
    d.admin(
        "PATCH",
        &format!("/admin/campaigns/{id}"),
        Some(&json!({"active": true})),
    );
    let r = d.request(
        "POST",
        "/v1/leads",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"name=Browser&project=P"),
    );
    assert_eq!(r.status, 301, "{}", r.body);
    assert_eq!(r.header("location"), Some("/thank-you"));
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[("CRM_CALLBACK_TOKEN", "cb-token")]);
    let token = crate::harness::ADMIN_TOKEN;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let auth = format!("{scheme} {token}");
        let r = d.request("GET", "/admin/health", &[("Authorization", &auth)], None);
        assert_eq!(r.status, 200, "{scheme}");
        let cb = d.request(
            "POST",
            "/v1/make/callback",
            &[
                ("Authorization", &format!("{scheme} cb-token")),
                ("Content-Type", "application/json"),
            ],
            Some(br#"{"make_send_public_id": "unknown", "execution_url": "https://x.example"}"#),
        );
        assert_eq!(
            cb.status, 404,
            "{scheme}: authorised, then the id is unknown"
        );
    }
    let basic = d.request(
        "GET",
        "/admin/health",
        &[("Authorization", &format!("Basic {token}"))],
        None,
    );
    assert_eq!(basic.status, 401);
}

#[test]
fn filters_that_name_nothing_are_refused() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    for path in [
        "/admin/deliveries?status=bogus",
        "/admin/inbox?status=bogus",
        "/admin/leads?account=00000000-0000-0000-0000-000000000000",
    ] {
        let r = d.admin("GET", path, None);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.json()["error"].is_string());
    }
    for path in [
        "/admin/deliveries?status=dead",
        "/admin/inbox?status=failed",
        "/admin/ignored-webhooks",
    ] {
        assert_eq!(d.admin("GET", path, None).status, 200, "{path}");
    }
    let account = d.default_account_id();
    assert_eq!(
        d.admin("GET", &format!("/admin/leads?account={account}"), None)
            .status,
        200
    );
}

#[test]
fn processed_inbox_rows_leave_after_the_retention() {
    let db = TestDb::new();
    // 0.00002 days is under 2 seconds.
    let d = Daemon::start(&db, &[("INBOX_RETENTION_DAYS", "0.00002")]);
    assert_eq!(
        d.post_lead(&json!({"name": "Kept", "email": "kept@example.com"}))
            .status,
        200
    );
    d.wait_processed();
    assert_eq!(
        d.admin_get("/admin/inbox")["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    d.wait_until("the processed row to be purged", || {
        d.admin_get("/admin/inbox")["items"]
            .as_array()
            .unwrap()
            .is_empty()
    });
    assert!(d.logged("inbox.purged rows=1"), "{}", d.logs());
    let lead = &d.leads("")[0];
    let detail = d.lead_detail(lead["lead_public_id"].as_str().unwrap());
    assert_eq!(
        detail["submissions"][0]["payload_json"]["email"], "kept@example.com",
        "the submission keeps what was sent"
    );
}

#[test]
fn every_admin_route_needs_the_token() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let routes = [
        ("GET", "/admin/health"),
        ("GET", "/admin/accounts"),
        ("POST", "/admin/accounts"),
        ("PATCH", "/admin/accounts/x"),
        ("GET", "/admin/accounts/x/campaigns"),
        ("POST", "/admin/accounts/x/campaigns"),
        ("PATCH", "/admin/campaigns/x"),
        ("GET", "/admin/blocked-ips"),
        ("POST", "/admin/blocked-ips"),
        ("DELETE", "/admin/blocked-ips/x"),
        ("GET", "/admin/blocked-ip-leads"),
        ("GET", "/admin/leads"),
        ("GET", "/admin/leads/x"),
        ("PATCH", "/admin/leads/x"),
        ("GET", "/admin/deliveries"),
        ("GET", "/admin/deliveries/1"),
        ("GET", "/admin/dead-letters"),
        ("POST", "/admin/dead-letters/replay"),
        ("POST", "/admin/dead-letters/1/replay"),
        ("GET", "/admin/inbox"),
        ("POST", "/admin/inbox/1/retry"),
        ("GET", "/admin/ignored-webhooks"),
        ("POST", "/admin/actors/Scorer/crash"),
    ];
    for (method, path) in routes {
        let r = d.request(
            method,
            path,
            &[("Content-Type", "application/json")],
            Some(b"{}"),
        );
        assert_eq!(r.status, 401, "{method} {path}: {}", r.body);
        let wrong = d.request(
            method,
            path,
            &[("Authorization", "Bearer nope")],
            Some(b"{}"),
        );
        assert_eq!(wrong.status, 401, "{method} {path}");
    }
}
