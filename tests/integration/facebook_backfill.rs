//! Facebook page tokens and the back-fill against a local Graph API: a refused token recorded and
//! replaced, a token close to expiry exchanged, every page of a form read back, and a rate limit
//! that stops only its own campaign.

use crate::facebook::{
    campaign_health, facebook_campaign, fixture_lead_answer, leads_of, post_signed, put_token,
    sign, start, wait_for_leads, FORM, PAGE, SIGNATURE,
};
use crate::graph::{graph_error, graph_lead, FakeGraph};
use crate::harness::{fixture, Daemon, TestDb};
use serde_json::{json, Value};

#[test]
fn a_refused_token_is_recorded_and_the_leads_come_once_the_token_is_replaced() {
    let db = TestDb::new();
    let graph = FakeGraph::start(|request| {
        fixture_lead_answer(request).unwrap_or_else(|| match request.path.as_str() {
            "/v18.0/7001" => (
                200,
                graph_lead("7001", FORM, "Kim Ito", "kim@example.com", "+12025550105"),
            ),
            _ => graph_error(100, "no such object"),
        })
    });
    let d = start(&db, &graph, "0");
    let home = d.default_account_id();
    let campaign = facebook_campaign(&d, &home, "Skyline Towers", json!({}));
    put_token(&d, &home, PAGE, "EXPIRED_TOKEN");
    let fixture_webhook = fixture("facebook/webhook.json");
    assert_eq!(post_signed(&d, &fixture_webhook, SIGNATURE).status, 200);
    let second = json!({"entry": [{"id": PAGE, "changes": [{"field": "leadgen",
        "value": {"leadgen_id": "7001", "page_id": PAGE, "form_id": FORM}}]}]})
    .to_string();
    assert_eq!(
        post_signed(&d, second.as_bytes(), &sign(second.as_bytes())).status,
        200
    );
    d.wait_until("both fetches waiting for a token", || {
        let letters = d.admin_get("/admin/dead-letters?kind=facebook_lead");
        letters["dead_letters"].as_array().unwrap().len() == 2
    });
    let health = campaign_health(&d, &home, &campaign);
    assert_eq!(health["token_status"], "expired", "{health}");
    assert!(
        health["last_error"].as_str().unwrap().contains("190"),
        "{health}"
    );
    let overall = d.health();
    assert_eq!(overall["status"], "degraded");
    assert_eq!(
        overall["facebook"]["campaigns_with_broken_tokens"],
        json!([campaign])
    );
    assert!(leads_of(&d, "joe@example.com").is_empty());
    let refusals = d.logs().matches("facebook.token_invalid").count();
    assert_eq!(refusals, 1, "logged once for two refused fetches");
    let tokens = d.admin_get(&format!("/admin/accounts/{home}/facebook-token"));
    assert_eq!(tokens["facebook_tokens"][0]["status"], "expired");
    assert!(tokens["facebook_tokens"][0]["problem"]
        .as_str()
        .unwrap()
        .starts_with("expired: "));

    put_token(&d, &home, PAGE, "PAGE_TOKEN");
    let leads = wait_for_leads(&d, "joe@example.com", 1);
    assert_eq!(leads[0]["lead_source"], "facebook_ads");
    wait_for_leads(&d, "kim@example.com", 1);
    d.wait_until("the campaign healthy again", || {
        let health = campaign_health(&d, &home, &campaign);
        // The error stays on record beside the leads that came after it.
        health["token_status"] == "valid"
            && health["last_lead_at"].is_string()
            && health["last_error"].is_string()
    });
    assert_eq!(d.health()["status"], "ok");
    assert!(
        !d.logs().contains("EXPIRED_TOKEN"),
        "a token is never logged"
    );
}

#[test]
fn the_backfill_reads_every_page_and_a_rate_limit_stops_only_its_campaign() {
    let db = TestDb::new();
    let graph = FakeGraph::start(|_| (500, json!({})));
    let base = graph.url.clone();
    graph.answer_with(
        move |request| match (request.path.as_str(), request.query.get("after")) {
            ("/v18.0/111/leads", _) => graph_error(17, "User request limit reached"),
            ("/v18.0/222/leads", None) => (
                200,
                json!({
            "data": [graph_lead("2001", "222", "Bea Costa", "bea@example.com", "+12025550102")],
            "paging": {"cursors": {"after": "P2"},
                "next": format!("{base}/v18.0/222/leads?access_token=T&after=P2")}}),
            ),
            ("/v18.0/222/leads", Some(_)) => (
                200,
                json!({
            "data": [graph_lead("2002", "222", "Caio Dias", "caio@example.com", "+12025550103")],
            "paging": {"cursors": {"before": "P2"}}}),
            ),
            // A `next` that names the page it is on would be read for ever.
            ("/v18.0/555/leads", _) => (
                200,
                json!({"data": [], "paging": {"next": format!("{base}/v18.0/555/leads?after=X")}}),
            ),
            _ => graph_error(100, "no such object"),
        },
    );
    let d = start(&db, &graph, "15");
    let home = d.default_account_id();
    put_token(&d, &home, "333", "T");
    let limited = facebook_campaign(
        &d,
        &home,
        "Limited",
        json!({"page_id": "333", "lead_form_id": "111"}),
    );
    let read = facebook_campaign(
        &d,
        &home,
        "Read",
        json!({"page_id": "333", "lead_form_id": "222"}),
    );
    let looping = facebook_campaign(
        &d,
        &home,
        "Looping",
        json!({"page_id": "333", "lead_form_id": "555"}),
    );

    wait_for_leads(&d, "bea@example.com", 1);
    let caio = wait_for_leads(&d, "caio@example.com", 1);
    assert_eq!(caio[0]["lead_source"], "facebook_ads");
    assert_eq!(caio[0]["project_name"], "Read");
    d.wait_until("the rate limit recorded on its campaign", || {
        campaign_health(&d, &home, &limited)["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("17"))
    });
    assert!(campaign_health(&d, &home, &read)["last_error"].is_null());
    d.wait_until("the endless pages recorded", || {
        campaign_health(&d, &home, &looping)["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("do not end"))
    });
    assert!(
        graph.count("/v18.0/555/leads") < 10,
        "each read stops at the repeat"
    );
    let first = graph
        .requests()
        .into_iter()
        .find(|r| r.path == "/v18.0/222/leads")
        .unwrap();
    let filter: Value = serde_json::from_str(&first.query["filtering"]).unwrap();
    let since = filter[0]["value"].as_i64().unwrap();
    let ninety_days_ago = chrono::Utc::now().timestamp() - 90 * 86_400;
    assert!(
        (since - ninety_days_ago).abs() < 3_600,
        "the first read goes 90 days back"
    );
    let metrics = d.request("GET", "/metrics", &[], None).body;
    assert!(
        metrics.contains("leadgate_facebook_backfill_leads_total 2"),
        "{metrics}"
    );

    // A webhook that comes later for a lead the back-fill found changes nothing.
    let change = json!({"object": "page", "entry": [{"id": "333", "changes": [{"field": "leadgen",
        "value": {"leadgen_id": "2001", "page_id": "333", "form_id": "222"}}]}]})
    .to_string();
    assert_eq!(
        post_signed(&d, change.as_bytes(), &sign(change.as_bytes())).status,
        200
    );
    d.wait_until("the announcement handled", || {
        d.logged("facebook.lead_known")
    });
    assert_eq!(
        graph.count("/v18.0/2001"),
        0,
        "a lead the campaign has is not fetched"
    );
    let bea = leads_of(&d, "bea@example.com");
    let detail = d.lead_detail(bea[0]["lead_public_id"].as_str().unwrap());
    assert_eq!(detail["submissions"].as_array().unwrap().len(), 1);
}

#[test]
fn a_token_close_to_expiry_is_exchanged_for_a_long_lived_one() {
    let db = TestDb::new();
    let graph = FakeGraph::start(|request| {
        let token = request.query.get("access_token").map(String::as_str);
        match (request.path.as_str(), token) {
            ("/v18.0/oauth/access_token", _) => {
                let asked = request.query.get("fb_exchange_token").map(String::as_str);
                let app = request.query.get("client_id").map(String::as_str);
                match (asked, app) {
                    (Some("SHORT"), Some("4242")) => (
                        200,
                        json!({"access_token": "LONG",
                        "token_type": "bearer", "expires_in": 5_184_000}),
                    ),
                    _ => graph_error(100, "bad exchange"),
                }
            }
            ("/v18.0/5001", Some("LONG")) => (
                200,
                graph_lead(
                    "5001",
                    "66",
                    "Dora Reis",
                    "dora@example.com",
                    "+12025550104",
                ),
            ),
            _ => graph_error(190, "Error validating access token"),
        }
    });
    let d = Daemon::start(
        &db,
        &[
            ("FACEBOOK_APP_SECRET", "test_app_secret"),
            ("FACEBOOK_APP_ID", "4242"),
            ("FACEBOOK_GRAPH_URL", &graph.url),
            ("FACEBOOK_BACKFILL_MINUTES", "0"),
        ],
    );
    let home = d.default_account_id();
    let campaign = facebook_campaign(
        &d,
        &home,
        "Soon",
        json!({"page_id": "444", "lead_form_id": "66"}),
    );
    let in_three_days = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let put = d.admin(
        "PUT",
        &format!("/admin/accounts/{home}/facebook-token"),
        Some(&json!({"page_id": "444", "access_token": "SHORT", "expires_at": in_three_days})),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(
        campaign_health(&d, &home, &campaign)["token_status"],
        "expiring"
    );
    let body = json!({"entry": [{"id": "444", "changes": [{"field": "leadgen",
        "value": {"leadgen_id": "5001", "page_id": "444", "form_id": "66"}}]}]})
    .to_string();
    assert_eq!(
        post_signed(&d, body.as_bytes(), &sign(body.as_bytes())).status,
        200
    );
    let dora = wait_for_leads(&d, "dora@example.com", 1);
    assert_eq!(dora[0]["lead_source"], "facebook_ads");
    assert_eq!(graph.count("/v18.0/oauth/access_token"), 1);
    assert_eq!(
        campaign_health(&d, &home, &campaign)["token_status"],
        "valid"
    );
    let tokens = d.admin_get(&format!("/admin/accounts/{home}/facebook-token"));
    assert!(
        !tokens.to_string().contains("LONG"),
        "a token is never shown: {tokens}"
    );
    assert!(
        !d.logs().contains("LONG") && !d.logs().contains("SHORT"),
        "nor logged"
    );
}
