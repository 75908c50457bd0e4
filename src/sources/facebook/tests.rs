use super::*;
use crate::store::models::Account;
use serde_json::json;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/facebook/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn the_signed_webhook_verifies_and_nothing_else_does() {
    let body = fixture("webhook.json");
    let header = "sha256=7252589f15d153eba336132bc84e2f07d4693ef870c4ca6d76c2d5662c5b2db0";
    assert!(signature_matches(Some(header), &body, "test_app_secret"));
    assert!(!signature_matches(Some(header), &body, "other_secret"));
    assert!(!signature_matches(
        Some(header),
        &body[1..],
        "test_app_secret"
    ));
    assert!(!signature_matches(None, &body, "test_app_secret"));
    assert!(!signature_matches(
        Some("sha1=00"),
        &body,
        "test_app_secret"
    ));
    assert!(!signature_matches(
        Some("sha256=zz"),
        &body,
        "test_app_secret"
    ));
}

#[test]
fn leadgen_changes_are_read_with_ids_of_either_type() {
    let webhook: Value = serde_json::from_slice(&fixture("webhook.json")).unwrap();
    assert_eq!(
        leadgen_changes(&webhook),
        vec![LeadgenChange {
            leadgen_id: "233370042045345".into(),
            page_id: "138124712925158".into(),
            form_id: Some("172036835026334".into()),
        }]
    );
    let batched = json!({"object": "page", "entry": [
        {"id": 111, "changes": [
            {"field": "leadgen", "value": {"leadgen_id": 1, "form_id": 2}},
            {"field": "feed", "value": {"post_id": "x"}},
            {"field": "leadgen", "value": {"form_id": 3}}
        ]},
        {"id": "222", "changes": [{"field": "leadgen", "value": {"leadgen_id": "9", "page_id": 222}}]}
    ]});
    let changes = leadgen_changes(&batched);
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].page_id, "111");
    assert_eq!(changes[0].leadgen_id, "1");
    assert_eq!(changes[1].form_id, None);
    for hostile in [
        json!(null),
        json!({"entry": "x"}),
        json!({"entry": [{"changes": {}}]}),
    ] {
        assert!(leadgen_changes(&hostile).is_empty());
    }
}

#[test]
fn a_graph_lead_becomes_fields_and_test_leads_are_recognised() {
    let lead: Value = serde_json::from_slice(&fixture("graph_lead_233370042045345.json")).unwrap();
    let fields = graph_lead_fields(&lead);
    assert_eq!(fields["full_name"], "Joe Example");
    assert_eq!(fields["phone_number"], "+12025550143");
    assert_eq!(fields["car_make"], "Honda");
    assert!(!is_meta_test_lead(&fields));
    let test = json!({"field_data": [
        {"name": "full_name", "values": ["<test lead: dummy data for full_name>"]},
        {"name": "email", "values": ["test@meta.com"]}
    ]});
    assert!(is_meta_test_lead(&graph_lead_fields(&test)));
    let fb = json!({"field_data": [{"name": "email", "values": [" TEST@FB.COM "]}]});
    assert!(is_meta_test_lead(&graph_lead_fields(&fb)));
}

#[test]
fn graph_errors_are_handled_by_their_code() {
    let expired: Value =
        serde_json::from_slice(&fixture("graph_error_expired_token.json")).unwrap();
    assert_eq!(
        graph_error_handling(&expired),
        GraphErrorHandling::TokenInvalid
    );
    for code in [1, 2, 4, 17, 32, 613] {
        let error = json!({"error": {"code": code}});
        assert_eq!(
            graph_error_handling(&error),
            GraphErrorHandling::Retry,
            "{code}"
        );
    }
    for code in [100, 33] {
        let error = json!({"error": {"code": code}});
        assert_eq!(
            graph_error_handling(&error),
            GraphErrorHandling::Failed,
            "{code}"
        );
    }
}

fn campaign(id: &str, account: &str, active: bool, settings: Value) -> Campaign {
    let mut campaign = Campaign::for_tests(id, account, NAME, settings);
    campaign.project_name = Some(format!("{id} project"));
    campaign.active = active;
    campaign
}

fn account(id: &str, active: bool) -> (String, Account) {
    let t = crate::store::now();
    let account = Account {
        id: id.into(),
        name: id.into(),
        active,
        is_default: false,
        created_at: t,
        updated_at: t,
    };
    (id.to_string(), account)
}

#[test]
fn a_change_goes_to_every_active_campaign_of_its_page_and_form() {
    let change = LeadgenChange {
        leadgen_id: "1".into(),
        page_id: "10".into(),
        form_id: Some("20".into()),
    };
    let mut website = campaign("web", "a", true, json!({"page_id": "10"}));
    website.integration = "website".into();
    let campaigns = vec![
        campaign(
            "form",
            "a",
            true,
            json!({"page_id": "10", "lead_form_id": "20"}),
        ),
        campaign(
            "numeric",
            "b",
            true,
            json!({"page_id": 10, "lead_form_id": 20}),
        ),
        campaign("page-wide", "a", true, json!({"page_id": "10"})),
        campaign(
            "other-form",
            "a",
            true,
            json!({"page_id": "10", "lead_form_id": "21"}),
        ),
        campaign(
            "other-page",
            "a",
            true,
            json!({"page_id": "11", "lead_form_id": "20"}),
        ),
        campaign(
            "paused",
            "a",
            false,
            json!({"page_id": "10", "lead_form_id": "20"}),
        ),
        campaign("closed-account", "c", true, json!({"page_id": "10"})),
        website,
    ];
    let accounts: HashMap<String, Account> =
        [account("a", true), account("b", true), account("c", false)]
            .into_iter()
            .collect();
    let routed = route_change(&form_campaigns(&campaigns), &accounts, &change);
    let ids: Vec<&str> = routed.campaigns.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["form", "numeric", "page-wide"]);
    let ignored: Vec<(&str, &str)> = routed
        .ignored
        .iter()
        .map(|(c, why)| (c.id.as_str(), *why))
        .collect();
    assert_eq!(
        ignored,
        [
            ("paused", "campaign_inactive"),
            ("closed-account", "account_inactive")
        ]
    );
    let formless = LeadgenChange {
        form_id: None,
        ..change
    };
    assert_eq!(
        route_change(&form_campaigns(&campaigns), &accounts, &formless)
            .campaigns
            .len(),
        4,
        "a change without a form goes to every campaign of its page"
    );
}

fn stored(body: &Value, meta: &crate::sources::submission::RequestMeta) -> Vec<Submission> {
    let body = body.to_string();
    let request = StoredRequest {
        public_id: "p1",
        account_id: "a",
        body: &body,
        meta,
    };
    Facebook.submissions(&request).unwrap()
}

#[test]
fn an_announcement_becomes_a_fetch_job_and_a_fetched_lead_a_submission() {
    use crate::sources::submission::{CampaignRef, RequestMeta};
    let meta = RequestMeta {
        received_at_ms: 1_700_000_000_000,
        campaign: Some(CampaignRef {
            id: "c1".into(),
            project_name: Some("Skyline".into()),
        }),
        ..Default::default()
    };
    let change = LeadgenChange {
        leadgen_id: "233".into(),
        page_id: "10".into(),
        form_id: None,
    };
    let body = announcement_body(&change).to_string();
    let request = StoredRequest {
        public_id: "row-1",
        account_id: "a",
        body: &body,
        meta: &meta,
    };
    let jobs = Facebook.fetch_jobs(&request).unwrap().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].public_id, "facebook:c1:233",
        "one job per lead and campaign, however often it is announced"
    );
    let fetch: LeadFetch = serde_json::from_str(&jobs[0].payload_json).unwrap();
    assert_eq!(fetch.leadgen_id, "233");
    assert_eq!(fetch.campaign_id, "c1");
    let orphan = RequestMeta::default();
    let request = StoredRequest {
        meta: &orphan,
        ..request
    };
    assert!(Facebook.fetch_jobs(&request).unwrap().is_err());

    let lead: Value = serde_json::from_slice(&fixture("graph_lead_233370042045345.json")).unwrap();
    let submissions = stored(&lead_body(&lead, "10", "webhook"), &meta);
    let submission = &submissions[0];
    assert_eq!(submission.lead_source, NAME);
    assert_eq!(
        submission.platform_lead_id.as_deref(),
        Some("233370042045345")
    );
    assert_eq!(submission.email.as_deref(), Some("joe@example.com"));
    assert_eq!(submission.campaign_id.as_deref(), Some("c1"));
    assert_eq!(submission.project_name.as_deref(), Some("Skyline"));
    assert_eq!(submission.payload["page_id"], "10");
    assert!(!submission.test_lead);
    let fetched_body = lead_body(&lead, "10", "webhook").to_string();
    let fetched = StoredRequest {
        public_id: "p1",
        account_id: "a",
        body: &fetched_body,
        meta: &meta,
    };
    assert!(
        Facebook.fetch_jobs(&fetched).is_none(),
        "a fetched lead is not fetched again"
    );
    let test = json!({"id": "9", "field_data": [{"name": "email", "values": ["test@fb.com"]}]});
    assert!(stored(&lead_body(&test, "10", "backfill"), &meta)[0].test_lead);
    let unfetched = StoredRequest {
        body: &body,
        ..fetched
    };
    assert!(Facebook.submissions(&unfetched).is_err());
}
