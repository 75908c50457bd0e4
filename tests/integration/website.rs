//! `POST /v1/leads`: body types, answers, bad input, block list, honeypot.

use crate::harness::{fixture, Daemon, TestDb};
use serde_json::{json, Value};

fn only_lead(d: &Daemon) -> Value {
    d.wait_processed();
    let leads = d.leads("");
    assert_eq!(leads.len(), 1, "{leads:?}");
    leads[0].clone()
}

#[test]
fn json_fixture_is_stored_with_every_field() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let body = fixture("website/form.json");
    let r = d.post_raw(
        "/v1/leads",
        "application/json",
        &body,
        &[("Accept", "application/json")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"success": true}));
    let lead = only_lead(&d);
    assert_eq!(lead["first_name"], "Priya Sharma");
    assert_eq!(lead["email"], "priya@example.com");
    assert_eq!(lead["email1"], "priya@example.com");
    assert_eq!(lead["phone_mobile"], "+91-9999999999");
    assert_eq!(lead["phone_e164"], "+919999999999");
    assert_eq!(lead["country_code"], "+91");
    assert_eq!(lead["project_name"], "Skyline Towers");
    assert_eq!(lead["user_location"], "Pune");
    assert_eq!(lead["source_team"], "north");
    assert_eq!(lead["visitor_id"], "v_7f3c9a");
    assert_eq!(lead["session_id"], "s_19ab");
    assert_eq!(lead["cta"], "hero-enquire");
    assert_eq!(lead["refered_by"], "google");
    assert_eq!(lead["searched_keyword"], "2bhk pune");
    assert_eq!(lead["lead_source"], "website");
    assert_eq!(lead["status"], "new");
    let detail = d.lead_detail(lead["lead_public_id"].as_str().unwrap());
    let submissions = detail["submissions"].as_array().unwrap();
    assert_eq!(submissions.len(), 1);
    let sent: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(submissions[0]["payload_json"], sent);
}

#[test]
fn every_body_type_is_accepted() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let json_accept = [("Accept", "application/json")];
    let urlencoded = fixture("website/form.urlencoded");
    assert_eq!(
        d.post_raw(
            "/v1/leads",
            "application/x-www-form-urlencoded",
            &urlencoded,
            &json_accept
        )
        .status,
        200
    );
    let multipart =
        "--b0und\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nMulti Part\r\n\
--b0und\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nmulti@example.com\r\n\
--b0und\r\nContent-Disposition: form-data; name=\"project\"\r\n\r\nSkyline Towers\r\n--b0und--\r\n";
    assert_eq!(
        d.post_raw(
            "/v1/leads",
            "multipart/form-data; boundary=b0und",
            multipart.as_bytes(),
            &json_accept
        )
        .status,
        200
    );
    let text_json =
        br#"{"name": "Text Json", "email": "textjson@example.com", "project": "Skyline Towers"}"#;
    assert_eq!(
        d.post_raw("/v1/leads", "text/plain", text_json, &json_accept)
            .status,
        200
    );
    let text_form = b"name=Text+Form&email=textform%40example.com&project=Skyline+Towers";
    assert_eq!(
        d.post_raw(
            "/v1/leads",
            "text/plain;charset=UTF-8",
            text_form,
            &json_accept
        )
        .status,
        200
    );
    d.wait_processed();
    let leads = d.leads("");
    let mut emails: Vec<&str> = leads.iter().map(|l| l["email"].as_str().unwrap()).collect();
    emails.sort();
    assert_eq!(
        emails,
        [
            "multi@example.com",
            "priya@example.com",
            "textform@example.com",
            "textjson@example.com"
        ]
    );
    let priya = leads
        .iter()
        .find(|l| l["email"] == "priya@example.com")
        .unwrap();
    assert_eq!(priya["phone_mobile"], "+91-9999999999");
    assert_eq!(priya["cta"], "footer-form");
    let detail = d.lead_detail(priya["lead_public_id"].as_str().unwrap());
    let payload = &detail["submissions"][0]["payload_json"];
    assert_eq!(payload["name"], "Priya Sharma");
    assert_eq!(payload["country_code"], "+91");
    assert_eq!(payload["__pg_hp"], "");
}

#[test]
fn browsers_are_redirected_never_to_an_arbitrary_host() {
    let db = TestDb::new();
    let d = Daemon::start(
        &db,
        &[
            ("REDIRECT_ALLOWED_HOSTS", "forms.example.com"),
            ("REDIRECT_FALLBACK_URL", "https://home.example.net/thanks"),
        ],
    );
    let account = d.default_account_id();
    let form = |project: &str, email: &str| format!("name=A&email={email}&project={project}");
    let post = |body: String, headers: &[(&str, &str)]| {
        d.post_raw(
            "/v1/leads",
            "application/x-www-form-urlencoded",
            body.as_bytes(),
            headers,
        )
    };

    let r = post(form("P", "a1%40x.co"), &[]);
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("https://home.example.net/thanks")
    );
    let r = post(
        form("P", "a2%40x.co"),
        &[("Origin", "https://forms.example.com")],
    );
    assert_eq!(
        r.header("location"),
        Some("https://forms.example.com/thank-you")
    );
    for hostile in [
        "https://evil.example",
        "https://forms.example.com.evil.example",
        "javascript:alert(1)",
        "null",
    ] {
        let r = post(
            form("P", "a3%40x.co"),
            &[("Origin", hostile), ("Referer", hostile)],
        );
        assert_eq!(
            r.header("location"),
            Some("https://home.example.net/thanks"),
            "{hostile}"
        );
    }

    let campaign = json!({"name": "Skyline", "integration": "website", "project_name": "Skyline Towers",
        "site_domains": ["skyline.example.com"]});
    assert_eq!(
        d.admin(
            "POST",
            &format!("/admin/accounts/{account}/campaigns"),
            Some(&campaign)
        )
        .status,
        201
    );
    let r = post(
        form("Other", "a4%40x.co"),
        &[("Referer", "https://skyline.example.com/pricing")],
    );
    assert_eq!(
        r.header("location"),
        Some("https://skyline.example.com/thank-you")
    );

    let with_page = json!({"name": "Towers", "integration": "website", "project_name": "Thanks Project",
        "thank_you_url": "https://thanks.example.org/done"});
    assert_eq!(
        d.admin(
            "POST",
            &format!("/admin/accounts/{account}/campaigns"),
            Some(&with_page)
        )
        .status,
        201
    );
    let r = post(
        form("Thanks+Project", "a5%40x.co"),
        &[("Origin", "https://forms.example.com")],
    );
    assert_eq!(
        r.header("location"),
        Some("https://thanks.example.org/done")
    );
    d.wait_processed();
    let lead = &d.leads("project=Thanks Project")[0];
    assert!(lead["campaign_id"].is_string(), "{lead}");
}

fn assert_nothing_stored(d: &Daemon) {
    let inbox = d.admin_get("/admin/inbox?limit=500");
    assert_eq!(inbox["items"].as_array().unwrap().len(), 0, "{inbox}");
    assert_eq!(d.leads("").len(), 0);
}

#[test]
fn malformed_missing_and_oversized_bodies_are_refused_and_nothing_is_stored() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("application/json", b"{\"name\": \"broken".to_vec(), 400),
        ("application/json", b"[1, 2, 3]".to_vec(), 400),
        ("application/json", b"".to_vec(), 422),
        (
            "application/json",
            b"\xff\xfe{\"name\": \"x\"}".to_vec(),
            400,
        ),
        (
            "application/x-www-form-urlencoded",
            b"name=%FF%FE&email=\xff".to_vec(),
            400,
        ),
        (
            "multipart/form-data; boundary=zzz",
            b"this is not multipart".to_vec(),
            400,
        ),
        ("multipart/form-data", b"--zzz--".to_vec(), 400),
        ("text/plain", b"   ".to_vec(), 422),
        ("application/x-www-form-urlencoded", b"".to_vec(), 422),
        (
            "application/xml",
            b"<lead><name>x</name></lead>".to_vec(),
            415,
        ),
        (
            "application/json",
            br#"{"project": "Skyline", "message": "hello"}"#.to_vec(),
            422,
        ),
        (
            "application/json",
            br#"{"email": "not an email"}"#.to_vec(),
            422,
        ),
    ];
    for (content_type, body, status) in cases {
        let r = d.post_raw(
            "/v1/leads",
            content_type,
            &body,
            &[("Accept", "application/json")],
        );
        assert_eq!(
            r.status,
            status,
            "{content_type} {:?}: {}",
            String::from_utf8_lossy(&body),
            r.body
        );
        let answer = r.json();
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
        if status == 422 {
            assert_eq!(answer["fields"], json!(["name", "email", "phone"]));
        }
    }
    let mut big = br#"{"name": "Big", "message": ""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big.extend(br#""}"#);
    let r = d.post_raw(
        "/v1/leads",
        "application/json",
        &big,
        &[("Accept", "application/json")],
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.json()["error"].is_string());
    assert_nothing_stored(&d);
    let metrics = d.request("GET", "/metrics", &[], None).body;
    assert!(
        metrics.contains("leadgate_submissions_rejected_total{reason=\"too_large\"} 1"),
        "{metrics}"
    );
}

#[test]
fn hostile_content_is_stored_verbatim_and_harmless() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let hostile = json!({
        "name": "Robert'); DROP TABLE leads;--",
        "email": "bobby@example.com",
        "message": "<script>alert('x')</script>",
        "project": "' OR 1=1 --",
        "page_url": "javascript:alert(1)",
        "nested": {"deep": [1, {"x": null}]},
        "unicode": "名前 🚀 \u{0000} end",
    });
    assert_eq!(d.post_lead(&hostile).status, 200);
    let mut many = serde_json::Map::new();
    for i in 0..10_000 {
        many.insert(format!("field_{i}"), json!(format!("value {i}")));
    }
    many.insert("email".into(), json!("many@example.com"));
    let many = Value::Object(many);
    assert_eq!(d.post_lead(&many).status, 200);
    d.wait_processed();
    let leads = d.leads("");
    assert_eq!(leads.len(), 2);
    let bobby = leads
        .iter()
        .find(|l| l["email"] == "bobby@example.com")
        .unwrap();
    assert_eq!(bobby["first_name"], "Robert'); DROP TABLE leads;--");
    assert_eq!(bobby["message"], "<script>alert('x')</script>");
    assert_eq!(bobby["project_name"], "' OR 1=1 --");
    let detail = d.lead_detail(bobby["lead_public_id"].as_str().unwrap());
    // Verbatim but for U+0000, which no database column can hold and no field means.
    let mut stored = hostile.clone();
    stored["unicode"] = json!("名前 🚀  end");
    assert_eq!(detail["submissions"][0]["payload_json"], stored);
    let wide = leads
        .iter()
        .find(|l| l["email"] == "many@example.com")
        .unwrap();
    let detail = d.lead_detail(wide["lead_public_id"].as_str().unwrap());
    assert_eq!(
        detail["submissions"][0]["payload_json"]
            .as_object()
            .unwrap()
            .len(),
        10_001
    );
}

#[test]
fn honeypot_stores_nothing_and_is_counted() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let bot = json!({"name": "Bot", "email": "bot@example.com", "__pg_hp": "http://spam.example"});
    let r = d.post_lead(&bot);
    assert_eq!((r.status, r.json()), (200, json!({"success": true})));
    let r = d.post_raw(
        "/v1/leads",
        "application/x-www-form-urlencoded",
        b"name=Bot&email=bot2%40example.com&__pg_hp=x",
        &[],
    );
    assert_eq!(
        r.status, 301,
        "the browser answer is the same as for a stored lead"
    );
    assert_eq!(
        d.post_lead(&json!({"name": "Human", "email": "human@example.com", "__pg_hp": ""}))
            .status,
        200
    );
    d.wait_processed();
    let leads = d.leads("");
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0]["email"], "human@example.com");
    assert_eq!(
        d.admin_get("/admin/inbox?limit=500")["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let metrics = d.request("GET", "/metrics", &[], None).body;
    assert!(
        metrics.contains("leadgate_honeypot_trips_total 2"),
        "{metrics}"
    );
    assert!(d.logged("lead.honeypot"), "{}", d.logs());
}

#[test]
fn honeypot_is_ignored_when_bot_detection_is_off() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[("BOT_LEAD_DETECTION", "false")]);
    assert_eq!(
        d.post_lead(&json!({"name": "Kept", "__pg_hp": "filled"}))
            .status,
        200
    );
    assert_eq!(only_lead(&d)["first_name"], "Kept");
}

#[test]
fn blocked_addresses_exact_and_cidr_are_audited_not_stored() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let exact = d.admin(
        "POST",
        "/admin/blocked-ips",
        Some(&json!({"ip": "203.0.113.7", "reason": "spam"})),
    );
    assert_eq!(exact.status, 201, "{}", exact.body);
    assert_eq!(
        d.admin(
            "POST",
            "/admin/blocked-ips",
            Some(&json!({"ip": "198.51.100.0/24"}))
        )
        .status,
        201
    );
    assert_eq!(
        d.admin(
            "POST",
            "/admin/blocked-ips",
            Some(&json!({"ip": "203.0.113.7"}))
        )
        .status,
        409
    );
    assert_eq!(
        d.admin(
            "POST",
            "/admin/blocked-ips",
            Some(&json!({"ip": "not-an-ip"}))
        )
        .status,
        400
    );
    // The test client's peer is 127.0.0.1, a trusted proxy by default.
    let via = |ip: &str, email: &str| {
        d.post_lead_with(
            &json!({"name": "X", "email": email}),
            &[("X-Forwarded-For", ip)],
        )
    };
    assert_eq!(
        via("203.0.113.7", "exact@example.com").json(),
        json!({"success": true})
    );
    assert_eq!(via("198.51.100.99", "cidr@example.com").status, 200);
    assert_eq!(via("198.51.101.1", "allowed@example.com").status, 200);
    d.wait_processed();
    let leads = d.leads("");
    assert_eq!(leads.len(), 1, "{leads:?}");
    assert_eq!(leads[0]["email"], "allowed@example.com");
    assert_eq!(leads[0]["user_ip"], "198.51.101.1");
    let audit = d.admin_get("/admin/blocked-ip-leads")["blocked_ip_leads"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(audit.len(), 2);
    let ips: Vec<&str> = audit.iter().map(|a| a["ip"].as_str().unwrap()).collect();
    assert!(
        ips.contains(&"203.0.113.7") && ips.contains(&"198.51.100.99"),
        "{ips:?}"
    );
    assert!(audit
        .iter()
        .any(|a| a["payload_json"]["email"] == "exact@example.com"));

    let id = exact.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        d.admin("DELETE", &format!("/admin/blocked-ips/{id}"), None)
            .status,
        204
    );
    assert_eq!(
        d.admin("DELETE", &format!("/admin/blocked-ips/{id}"), None)
            .status,
        404
    );
    assert_eq!(via("203.0.113.7", "unblocked@example.com").status, 200);
    d.wait_processed();
    assert_eq!(d.leads("").len(), 2);
}

#[test]
fn ipv4_mapped_addresses_are_blocked_like_the_ipv4_they_are() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let mapped = d.admin(
        "POST",
        "/admin/blocked-ips",
        Some(&json!({"ip": "::ffff:203.0.113.10"})),
    );
    assert_eq!(mapped.status, 201, "{}", mapped.body);
    assert_eq!(mapped.json()["ip"], "203.0.113.10", "stored canonically");
    let plain = d.admin(
        "POST",
        "/admin/blocked-ips",
        Some(&json!({"ip": "203.0.113.11"})),
    );
    assert_eq!(plain.status, 201);
    for (ip, email) in [
        ("203.0.113.10", "a@example.com"),
        ("::ffff:203.0.113.11", "b@example.com"),
        ("[::ffff:203.0.113.10]:443", "c@example.com"),
    ] {
        let r = d.post_lead_with(
            &json!({"name": "X", "email": email}),
            &[("X-Forwarded-For", ip)],
        );
        assert_eq!(r.status, 200);
    }
    d.wait_processed();
    assert!(d.leads("").is_empty());
    let audit = d.admin_get("/admin/blocked-ip-leads")["blocked_ip_leads"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(audit, 3);
}

#[test]
fn proxy_headers_from_an_untrusted_peer_are_ignored() {
    let db = TestDb::new();
    // Only 10.9.9.9 is a proxy: the loopback test client is an ordinary visitor.
    let d = Daemon::start(&db, &[("TRUSTED_PROXIES", "10.9.9.9")]);
    assert_eq!(
        d.admin(
            "POST",
            "/admin/blocked-ips",
            Some(&json!({"ip": "127.0.0.1"}))
        )
        .status,
        201
    );
    let spoofed = [
        ("X-Forwarded-For", "192.0.2.44"),
        ("CF-Connecting-IP", "192.0.2.45"),
        ("X-Real-IP", "192.0.2.46"),
    ];
    assert_eq!(
        d.post_lead_with(
            &json!({"name": "Spoofer", "email": "s@example.com"}),
            &spoofed
        )
        .status,
        200
    );
    d.wait_processed();
    assert_eq!(
        d.leads("").len(),
        0,
        "the spoofed header must not unblock the real address"
    );
    let audit = d.admin_get("/admin/blocked-ip-leads")["blocked_ip_leads"].clone();
    assert_eq!(audit[0]["ip"], "127.0.0.1");
}

#[test]
fn trusted_proxy_headers_give_client_ip_and_geo() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let headers = [
        ("CF-Connecting-IP", "192.0.2.10"),
        ("X-Forwarded-For", "192.0.2.99"),
        ("CF-IPCountry", "IN"),
        ("CF-IPCity", "Pune"),
        ("CF-Timezone", "Asia/Kolkata"),
        ("CF-Region", "Maharashtra"),
        ("User-Agent", "Mozilla/5.0 test"),
    ];
    assert_eq!(
        d.post_lead_with(&json!({"name": "Geo", "phone": "9999999999"}), &headers)
            .status,
        200
    );
    let lead = only_lead(&d);
    assert_eq!(lead["user_ip"], "192.0.2.10");
    assert_eq!(lead["user_country"], "IN");
    assert_eq!(lead["user_city"], "Pune");
    assert_eq!(lead["user_timezone"], "Asia/Kolkata");
    assert_eq!(lead["user_region"], "Maharashtra");
    assert_eq!(lead["user_agent"], "Mozilla/5.0 test");
    assert_eq!(
        lead["phone_e164"], "+919999999999",
        "the country header gives the region of a national number"
    );
}

#[test]
fn a_nul_character_never_makes_an_accepted_lead_unstorable() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let r = d.post_raw(
        "/v1/leads",
        "application/json",
        br#"{"name": "a\u0000b", "email": "nul@example.com", "message": "x\u0000"}"#,
        &[("Accept", "application/json")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let form = d.post_raw(
        "/v1/leads",
        "application/x-www-form-urlencoded",
        b"name=c%00d&email=nul2%40example.com",
        &[("Accept", "application/json")],
    );
    assert_eq!(form.status, 200, "{}", form.body);
    d.wait_processed();
    assert_eq!(d.health()["inbox"]["failed"], 0);
    let mut names: Vec<String> = d
        .leads("")
        .iter()
        .map(|l| l["first_name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["ab", "cd"]);
}

#[test]
fn campaign_sites_may_post_with_fetch_and_others_get_no_cors_headers() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[("REDIRECT_ALLOWED_HOSTS", "www.allowed.example")]);
    let account = d.default_account_id();
    let campaign = d.admin(
        "POST",
        &format!("/admin/accounts/{account}/campaigns"),
        Some(
            &json!({"name": "Skyline", "integration": "website", "project_name": "Skyline",
                     "site_domains": ["skyline.example.com"]}),
        ),
    );
    assert_eq!(campaign.status, 201);
    for origin in ["https://skyline.example.com", "https://www.allowed.example"] {
        let pre = d.request(
            "OPTIONS",
            "/v1/leads",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            None,
        );
        assert_eq!(pre.status, 204, "{origin}");
        assert_eq!(pre.header("access-control-allow-origin"), Some(origin));
        assert_eq!(
            pre.header("access-control-allow-methods"),
            Some("POST, OPTIONS")
        );
        assert_eq!(
            pre.header("access-control-allow-headers"),
            Some("Content-Type, Accept")
        );
        assert_eq!(pre.header("vary"), Some("Origin"));
        let post = d.post_lead_with(
            &json!({"name": "Fetch", "email": format!("fetch@{}", &origin[8..])}),
            &[("Origin", origin)],
        );
        assert_eq!(post.status, 200);
        assert_eq!(post.header("access-control-allow-origin"), Some(origin));
        // A refusal is readable by the site too, so it can show which fields are missing.
        let refused = d.post_lead_with(&json!({"project": "x"}), &[("Origin", origin)]);
        assert_eq!(refused.status, 422);
        assert_eq!(refused.header("access-control-allow-origin"), Some(origin));
    }
    for origin in [
        "https://evil.example",
        "https://skyline.example.com.evil.example",
        "null",
    ] {
        let pre = d.request(
            "OPTIONS",
            "/v1/leads",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
            ],
            None,
        );
        assert_eq!(pre.header("access-control-allow-origin"), None, "{origin}");
        assert_eq!(pre.header("access-control-allow-methods"), None, "{origin}");
        let post = d.post_lead_with(
            &json!({"name": "X", "email": "x@example.com"}),
            &[("Origin", origin)],
        );
        assert_eq!(post.header("access-control-allow-origin"), None, "{origin}");
    }
}

#[test]
fn the_default_thank_you_page_is_served() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let browser = d.request(
        "POST",
        "/v1/leads",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"name=Browser&email=browser%40example.com"),
    );
    assert_eq!(browser.status, 301);
    let location = browser.header("location").unwrap().to_string();
    assert_eq!(location, "/thank-you");
    let page = d.request("GET", &location, &[], None);
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page.body.contains("Thank you"));
}

#[test]
fn a_body_that_does_not_arrive_in_time_is_answered_408_and_its_connection_closed() {
    use std::io::{Read, Write};
    let db = TestDb::new();
    let d = Daemon::start(&db, &[("BODY_TIMEOUT_SECONDS", "1")]);
    let addr = d.base.trim_start_matches("http://").to_string();
    // Many clients that send their headers and half a body, then nothing.
    let mut stalled: Vec<std::net::TcpStream> = (0..50)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            write!(
                s,
                "POST /v1/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: 1000\r\n\r\n{{\"name\": \"slo"
            )
            .unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(15))).unwrap();
            s
        })
        .collect();
    for s in &mut stalled {
        let mut answer = String::new();
        // The answer, then the end of the connection (read_to_string returns at EOF).
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    assert!(d.leads("").is_empty());
    let metrics = d.request("GET", "/metrics", &[], None).body;
    assert!(metrics.contains("reason=\"too_slow\"} 50"), "{metrics}");
    // A body that arrives in time is still fine.
    assert_eq!(
        d.post_lead(&json!({"name": "Quick", "email": "q@example.com"}))
            .status,
        200
    );
}

#[test]
fn a_latin1_form_keeps_its_accents() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let latin1 = d.post_raw(
        "/v1/leads",
        "application/x-www-form-urlencoded; charset=ISO-8859-1",
        b"name=Ren%E9e+M%FCller&email=renee%40example.com&message=Gr%FC%DFe",
        &[("Accept", "application/json")],
    );
    assert_eq!(latin1.status, 200, "{}", latin1.body);
    let unknown = d.post_raw(
        "/v1/leads",
        "application/x-www-form-urlencoded; charset=klingon",
        b"name=X",
        &[("Accept", "application/json")],
    );
    assert_eq!(unknown.status, 415, "{}", unknown.body);
    d.wait_processed();
    let lead = only_lead(&d);
    assert_eq!(lead["first_name"], "Renée Müller");
    assert_eq!(lead["message"], "Grüße");
}

#[test]
fn an_inactive_account_takes_no_leads_and_says_so_to_operators() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let account = d.admin(
        "POST",
        "/admin/accounts",
        Some(&json!({"name": "Paused", "active": false})),
    );
    assert_eq!(account.status, 201);
    let id = account.json()["id"].as_str().unwrap().to_string();
    let r = d.post_raw(
        &format!("/v1/leads?account={id}"),
        "application/json",
        json!({"name": "Late", "email": "late@example.com"})
            .to_string()
            .as_bytes(),
        &[("Accept", "application/json")],
    );
    assert_eq!(r.status, 200, "the same answer as for a stored lead");
    assert_eq!(r.json(), json!({"success": true}));
    d.wait_processed();
    assert!(d.leads("").is_empty());
    let ignored = d.admin_get("/admin/ignored-webhooks")["ignored_webhooks"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(ignored.len(), 1, "{ignored:?}");
    assert_eq!(ignored[0]["platform"], "website");
    assert_eq!(ignored[0]["reason"], "account_inactive");
    assert_eq!(ignored[0]["account_id"], id.as_str());
    assert!(ignored[0]["received_at"].is_string() && ignored[0]["id"].is_i64());
    assert_eq!(ignored[0]["payload_json"]["email"], "late@example.com");
}
