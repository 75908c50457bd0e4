//! Facebook Lead Ads end to end against a local Graph API: the signed webhook, campaigns matched
//! by page and form across accounts, the Graph fetch and its errors, page tokens refused and
//! replaced, and the back-fill.

use crate::graph::{graph_error, graph_lead, FakeGraph, GraphRequest};
use crate::harness::{fixture, Daemon, TestDb};
use crate::receiver::{Behavior, Receiver};
use serde_json::{json, Value};

pub(crate) const PAGE: &str = "138124712925158";
pub(crate) const FORM: &str = "172036835026334";
pub(crate) const LEADGEN: &str = "233370042045345";
pub(crate) const SIGNATURE: &str =
    "sha256=7252589f15d153eba336132bc84e2f07d4693ef870c4ca6d76c2d5662c5b2db0";
pub(crate) const HOOK: &str = "/v1/inbound/webhooks/facebook";

pub(crate) fn start(db: &TestDb, graph: &FakeGraph, backfill_minutes: &str) -> Daemon {
    start_with(db, graph, backfill_minutes, &[])
}

pub(crate) fn start_with(
    db: &TestDb,
    graph: &FakeGraph,
    backfill_minutes: &str,
    more: &[(&str, &str)],
) -> Daemon {
    let mut env = vec![
        ("FACEBOOK_APP_SECRET", "test_app_secret"),
        ("FACEBOOK_GRAPH_URL", graph.url.as_str()),
        ("FACEBOOK_BACKFILL_MINUTES", backfill_minutes),
    ];
    env.extend_from_slice(more);
    Daemon::start(db, &env)
}

pub(crate) fn account(d: &Daemon, name: &str) -> String {
    let created = d.admin("POST", "/admin/accounts", Some(&json!({ "name": name })));
    assert_eq!(created.status, 201, "{}", created.body);
    created.json()["id"].as_str().unwrap().to_string()
}

pub(crate) fn facebook_campaign(d: &Daemon, account: &str, project: &str, extra: Value) -> String {
    let mut body = json!({"name": project, "integration": "facebook_ads", "project_name": project,
        "page_id": PAGE, "lead_form_id": FORM});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    d.create_campaign(account, &body)
}

pub(crate) fn put_token(d: &Daemon, account: &str, page: &str, token: &str) {
    let put = d.admin(
        "PUT",
        &format!("/admin/accounts/{account}/facebook-token"),
        Some(&json!({"page_id": page, "access_token": token})),
    );
    assert_eq!(put.status, 200, "{}", put.body);
}

pub(crate) fn post_signed(d: &Daemon, body: &[u8], signature: &str) -> crate::harness::Resp {
    d.post_raw(
        HOOK,
        "application/json",
        body,
        &[("X-Hub-Signature-256", signature)],
    )
}

pub(crate) fn sign(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"test_app_secret").unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// The leads a search finds (every account's).
pub(crate) fn leads_of(d: &Daemon, q: &str) -> Vec<Value> {
    d.leads(&format!("q={q}"))
}

pub(crate) fn wait_for_leads(d: &Daemon, q: &str, count: usize) -> Vec<Value> {
    d.wait_until(&format!("{count} leads for {q}"), || {
        leads_of(d, q).len() >= count
    });
    leads_of(d, q)
}

pub(crate) fn campaign_health(d: &Daemon, account: &str, campaign: &str) -> Value {
    let listed = d.admin_get(&format!("/admin/accounts/{account}/campaigns"));
    let found = listed["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == campaign)
        .cloned();
    found.expect("the campaign is listed")["health"].clone()
}

pub(crate) fn ignored_reasons(d: &Daemon) -> Vec<String> {
    let listed = d.admin_get("/admin/ignored-webhooks");
    listed["ignored_webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["reason"].as_str().unwrap().to_string())
        .collect()
}

/// Answers the fixture's lead for the page token `PAGE_TOKEN`, 190 for any other.
pub(crate) fn graph_with_the_fixture_lead() -> FakeGraph {
    FakeGraph::start(|request| {
        fixture_lead_answer(request).unwrap_or_else(|| graph_error(100, "Unsupported get request"))
    })
}

/// Meta's 190 for a token other than `PAGE_TOKEN`, the fixture's lead for its id; `None` else.
pub(crate) fn fixture_lead_answer(request: &GraphRequest) -> Option<(u16, Value)> {
    if request.query.get("access_token").map(String::as_str) != Some("PAGE_TOKEN") {
        let expired = fixture("facebook/graph_error_expired_token.json");
        return Some((400, serde_json::from_slice(&expired).unwrap()));
    }
    let lead = fixture("facebook/graph_lead_233370042045345.json");
    (request.path == format!("/v18.0/{LEADGEN}"))
        .then(|| (200, serde_json::from_slice(&lead).unwrap()))
}

#[test]
fn a_signed_webhook_brings_its_lead_to_every_matching_campaign_of_every_account() {
    let db = TestDb::new();
    let graph = graph_with_the_fixture_lead();
    let crm = Receiver::start(Behavior::Status(200));
    let d = start_with(&db, &graph, "0", &[("ENVIRONMENT", "production")]);
    let home = d.default_account_id();
    let other = account(&d, "Other agency");
    let skyline = facebook_campaign(&d, &home, "Skyline Towers", json!({"webhook_url": crm.url}));
    let harbour = facebook_campaign(&d, &home, "Harbour View", json!({}));
    let theirs = facebook_campaign(&d, &other, "Their Project", json!({}));
    let paused = facebook_campaign(&d, &home, "Paused", json!({"active": false}));
    let other_form = facebook_campaign(&d, &home, "Other form", json!({"lead_form_id": "999"}));
    put_token(&d, &home, PAGE, "PAGE_TOKEN");
    put_token(&d, &other, PAGE, "PAGE_TOKEN");

    let body = fixture("facebook/webhook.json");
    assert_eq!(post_signed(&d, &body, "sha256=00").status, 401);
    assert_eq!(d.post_raw(HOOK, "application/json", &body, &[]).status, 401);
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("2333", "2334");
    assert_eq!(post_signed(&d, tampered.as_bytes(), SIGNATURE).status, 401);
    let answer = post_signed(&d, &body, SIGNATURE);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json(), json!({"success": true}));

    let leads = wait_for_leads(&d, "joe@example.com", 3);
    assert_eq!(
        leads.len(),
        3,
        "one lead per matching active campaign: {leads:?}"
    );
    let mut projects: Vec<(String, String)> = leads
        .iter()
        .map(|l| {
            assert_eq!(l["lead_source"], "facebook_ads");
            assert_eq!(l["phone_e164"], "+12025550143");
            assert_eq!(l["test_lead"], false);
            (
                l["account_id"].as_str().unwrap().to_string(),
                l["project_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    projects.sort();
    let mut expected = vec![
        (home.clone(), "Harbour View".to_string()),
        (home.clone(), "Skyline Towers".to_string()),
        (other.clone(), "Their Project".to_string()),
    ];
    expected.sort();
    assert_eq!(
        projects, expected,
        "each account gets its own campaign's lead"
    );
    let theirs_only = d.leads(&format!("account={other}"));
    assert_eq!(theirs_only.len(), 1);
    assert_eq!(ignored_reasons(&d), ["campaign_inactive"]);
    let forwarded = crm.wait_for(1, std::time::Duration::from_secs(10))[0].json();
    assert_eq!(forwarded["lead_source"], "facebook_ads");
    assert_eq!(forwarded["campaign_id"], skyline.as_str());
    assert_eq!(forwarded["email"], "joe@example.com");
    let _ = (paused, other_form);

    for lead in leads_of(&d, "joe@example.com") {
        let detail = d.lead_detail(lead["lead_public_id"].as_str().unwrap());
        let submissions = detail["submissions"].as_array().unwrap();
        assert_eq!(submissions.len(), 1, "{detail}");
        assert_eq!(
            submissions[0]["payload_json"]["field_data"][4]["values"][0],
            "Honda"
        );
    }
    assert_eq!(crm.received().len(), 1, "forwarded once");
    for campaign in [&skyline, &harbour] {
        let health = campaign_health(&d, &home, campaign);
        assert_eq!(health["token_status"], "valid");
        assert_eq!(health["last_error"], Value::Null);
        d.wait_until("last_lead_at", || {
            campaign_health(&d, &home, campaign)["last_lead_at"].is_string()
        });
    }
    assert!(campaign_health(&d, &other, &theirs)["token_status"] == "valid");

    // The same person on the website form for the same project: one lead, two submissions.
    let web = d.post_lead(&json!({"name": "Joe Example", "email": "joe@example.com",
        "project": "Skyline Towers"}));
    assert_eq!(web.status, 200, "{}", web.body);
    d.wait_processed();
    let skyline_lead = leads_of(&d, "joe@example.com")
        .into_iter()
        .find(|l| l["project_name"] == "Skyline Towers" && l["account_id"] == home.as_str())
        .unwrap();
    let sources = d.submission_sources(skyline_lead["lead_public_id"].as_str().unwrap());
    assert_eq!(sources, ["facebook_ads", "website"]);
    assert_eq!(leads_of(&d, "joe@example.com").len(), 3);
}

#[test]
fn batches_with_numeric_ids_test_leads_and_leads_the_graph_does_not_have() {
    let db = TestDb::new();
    let graph = FakeGraph::start(|request| match request.path.as_str() {
        "/v18.0/1001" => (
            200,
            graph_lead("1001", "55", "Ana Lima", "ana@example.com", "+12025550101"),
        ),
        "/v18.0/1002" => (
            200,
            json!({"id": "1002", "field_data": [
            {"name": "full_name", "values": ["<test lead: dummy data for full_name>"]},
            {"name": "email", "values": ["test@meta.com"]}]}),
        ),
        _ => graph_error(100, "Object with ID does not exist"),
    });
    let d = start(&db, &graph, "0");
    let home = d.default_account_id();
    let campaign = facebook_campaign(
        &d,
        &home,
        "Numbers",
        json!({"page_id": 777, "lead_form_id": 55}),
    );
    put_token(&d, &home, "777", "T");
    let change = |id: i64| json!({"field": "leadgen", "value": {"leadgen_id": id, "page_id": 777, "form_id": 55}});
    let body = json!({"object": "page", "entry": [
        {"id": 777, "time": 1, "changes": [change(1001), change(1002)]},
        {"id": 777, "time": 1, "changes": [change(1003), {"field": "feed", "value": {}}]}
    ]})
    .to_string();
    let answer = post_signed(&d, body.as_bytes(), &sign(body.as_bytes()));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let ana = wait_for_leads(&d, "ana@example.com", 1);
    assert_eq!(ana[0]["phone_e164"], "+12025550101");
    let test = wait_for_leads(&d, "test@meta.com", 1);
    assert_eq!(test[0]["test_lead"], true);
    d.wait_until("the missing lead recorded on its campaign", || {
        campaign_health(&d, &home, &campaign)["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("Graph API error 100"))
    });
    assert_eq!(graph.count("/v18.0/1003"), 1, "not found is not retried");
    let letters = d.admin_get("/admin/dead-letters?kind=facebook_lead")["dead_letters"].clone();
    assert_eq!(letters.as_array().unwrap().len(), 1, "{letters}");
    assert!(letters[0]["error"].as_str().unwrap().contains("100"));
    assert_eq!(letters[0]["payload"]["leadgen_id"], "1003");
    let crm = d.admin_get("/admin/dead-letters")["dead_letters"].clone();
    assert_eq!(crm, json!([]), "the CRM webhook's letters are apart");
    assert_eq!(
        d.admin("GET", "/admin/dead-letters?kind=bogus", None)
            .status,
        400
    );

    // Hostile and broken bodies: answered, kept for operators, never fetched.
    let hostile = json!({"entry": [{"id": "../me", "changes": [
        {"field": "leadgen", "value": {"leadgen_id": "1/leads", "page_id": "../me"}}]}]})
    .to_string();
    assert_eq!(
        post_signed(&d, hostile.as_bytes(), &sign(hostile.as_bytes())).status,
        200
    );
    let broken = b"{\"entry\": [";
    assert_eq!(post_signed(&d, broken, &sign(broken)).status, 200);
    let unknown = json!({"entry": [{"id": "5", "changes": [change(1001)]}]}).to_string();
    let unknown = unknown.replace("777", "888");
    assert_eq!(
        post_signed(&d, unknown.as_bytes(), &sign(unknown.as_bytes())).status,
        200
    );
    let huge = vec![b' '; 3 * 1024 * 1024];
    assert_eq!(post_signed(&d, &huge, &sign(&huge)).status, 413);
    let mut reasons = ignored_reasons(&d);
    reasons.sort();
    assert_eq!(
        reasons,
        ["invalid_payload", "invalid_payload", "unknown_campaign"]
    );
    assert!(graph.requests().iter().all(|r| !r.path.contains("..")));
}

#[test]
fn a_lead_announced_again_and_at_once_is_fetched_and_stored_once() {
    let db = TestDb::new();
    let graph = graph_with_the_fixture_lead();
    let d = start(&db, &graph, "0");
    let home = d.default_account_id();
    facebook_campaign(&d, &home, "Skyline Towers", json!({}));
    put_token(&d, &home, PAGE, "PAGE_TOKEN");
    let body = fixture("facebook/webhook.json");
    assert_eq!(post_signed(&d, &body, SIGNATURE).status, 200);
    wait_for_leads(&d, "joe@example.com", 1);
    assert_eq!(post_signed(&d, &body, SIGNATURE).status, 200);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(post_signed(&d, &body, SIGNATURE).status, 200));
        }
    });
    d.wait_processed();
    let inbox = d.admin_get("/admin/inbox?status=done&limit=500");
    let announcements = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "facebook_ads" && i["body"].to_string().contains("leadgen"))
        .count();
    assert_eq!(announcements, 6, "every delivery was taken: {inbox}");
    // The fetcher looks for due jobs every second: a fetch job written for a repeat would run.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    d.wait_processed();
    assert_eq!(graph.count(&format!("/v18.0/{LEADGEN}")), 1, "fetched once");
    let leads = leads_of(&d, "joe@example.com");
    assert_eq!(leads.len(), 1);
    let detail = d.lead_detail(leads[0]["lead_public_id"].as_str().unwrap());
    assert_eq!(
        detail["submissions"].as_array().unwrap().len(),
        1,
        "{detail}"
    );
}
