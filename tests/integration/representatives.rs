//! Representatives (`/admin/accounts/{id}/users`), Facebook page tokens, and the campaign
//! settings that name them.

use crate::harness::{Daemon, TestDb, ADMIN_TOKEN};
use serde_json::{json, Value};

fn create_user(d: &Daemon, account: &str, body: Value) -> String {
    let created = d.admin(
        "POST",
        &format!("/admin/accounts/{account}/users"),
        Some(&body),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    created.json()["id"].as_str().unwrap().to_string()
}

fn create_account(d: &Daemon, name: &str) -> String {
    let created = d.admin("POST", "/admin/accounts", Some(&json!({ "name": name })));
    assert_eq!(created.status, 201, "{}", created.body);
    created.json()["id"].as_str().unwrap().to_string()
}

#[test]
fn users_are_created_listed_and_checked_per_account() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let account = d.default_account_id();
    let other = create_account(&d, "Other");
    let ravi = create_user(
        &d,
        &account,
        json!({"name": "Ravi", "email": "ravi@example.com", "phone": "+91 98123 45678", "fcm_token": "tok"}),
    );
    create_user(&d, &account, json!({"name": "Meera", "active": false}));
    create_user(&d, &other, json!({"name": "Elsewhere"}));
    let listed = d.admin_get(&format!("/admin/accounts/{account}/users"))["users"].clone();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ravi", "Meera"]);
    assert_eq!(listed[0]["id"], ravi.as_str());
    assert_eq!(listed[0]["email"], "ravi@example.com");
    assert_eq!(listed[1]["active"], false);
    let users = format!("/admin/accounts/{account}/users");
    for (bad, field) in [
        (json!({"email": "x@example.com"}), "name"),
        (json!({"name": "X", "email": "not-an-email"}), "email"),
        (json!({"name": "X", "phone": "ring ring"}), "phone"),
        (json!({"name": "X", "team": "north"}), "team"),
        (json!({"name": "N".repeat(300)}), "name"),
        (
            json!({"name": "X", "fcm_token": "t".repeat(5000)}),
            "fcm_token",
        ),
    ] {
        let refused = d.admin("POST", &users, Some(&bad));
        assert_eq!(refused.status, 422, "{bad}: {}", refused.body);
        assert_eq!(refused.json()["fields"], json!([field]), "{bad}");
    }
    let missing = d.admin(
        "POST",
        "/admin/accounts/nobody/users",
        Some(&json!({"name": "X"})),
    );
    assert_eq!(missing.status, 404);
    assert_eq!(
        d.admin("GET", "/admin/accounts/nobody/users", None).status,
        404
    );
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let malformed = d.request(
        "POST",
        &users,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(b"{\"name\": ".as_slice()),
    );
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    let oversized = json!({"name": "X", "fcm_token": "t".repeat(2 * 1024 * 1024)});
    assert_eq!(d.admin("POST", &users, Some(&oversized)).status, 400);
    let listed_after = d.admin_get(&users)["users"].as_array().unwrap().len();
    assert_eq!(listed_after, 2, "nothing refused was stored");
    assert_eq!(
        d.request("GET", &users, &[], None).status,
        401,
        "users need the admin token"
    );
}

#[test]
fn campaigns_name_only_their_accounts_users_and_deals_need_a_pipeline_and_stage() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let account = d.default_account_id();
    let other = create_account(&d, "Other");
    let ours = create_user(&d, &account, json!({"name": "Ravi"}));
    let theirs = create_user(&d, &other, json!({"name": "Elsewhere"}));
    let path = format!("/admin/accounts/{account}/campaigns");
    let campaign = |extra: Value| {
        let mut body = json!({"name": "Skyline", "integration": "website"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        d.admin("POST", &path, Some(&body))
    };
    let foreign = campaign(json!({"selected_user": [{"id": theirs, "custom_number": null}]}));
    assert_eq!(foreign.status, 422, "{}", foreign.body);
    assert_eq!(foreign.json()["fields"], json!(["selected_user"]));
    assert!(foreign.body.contains(&theirs), "{}", foreign.body);
    let deal = campaign(json!({"create_deal": true, "pipeline_id": "p1"}));
    assert_eq!(deal.status, 422);
    assert_eq!(deal.json()["fields"], json!(["stage_id"]));
    let good = campaign(
        json!({"selected_user": [{"id": ours, "custom_number": "+15550100"}],
        "create_deal": true, "pipeline_id": "p1", "stage_id": 4, "add_person_or_business": "business",
        "notification_type": "send_email_sms", "deal_value": 1200, "currency": "USD"}),
    );
    assert_eq!(good.status, 201, "{}", good.body);
    let id = good.json()["id"].as_str().unwrap().to_string();
    // A change is judged with what the campaign already has.
    let patch = |body: Value| d.admin("PATCH", &format!("/admin/campaigns/{id}"), Some(&body));
    assert_eq!(patch(json!({"deal_value": 900})).status, 200);
    let unset = patch(json!({"stage_id": null}));
    assert_eq!(unset.status, 422, "{}", unset.body);
    assert_eq!(unset.json()["fields"], json!(["stage_id"]));
    let moved = patch(json!({"selected_user": [{"id": theirs}]}));
    assert_eq!(moved.status, 422);
    assert_eq!(patch(json!({"notification_type": "fax"})).status, 422);
    let kept = d.admin_get(&path)["campaigns"][0].clone();
    assert_eq!(kept["stage_id"], 4, "a refused change changes nothing");
    assert_eq!(kept["deal_value"], 900);
    assert_eq!(kept["selected_user"][0]["id"], ours.as_str());
    // A campaign stored before these rules (a deal without a stage) can still be paused.
    db.execute(&format!(
        "UPDATE campaigns SET settings_json = '{{\"create_deal\": true, \"notification_type\": \"fax\"}}' \
         WHERE id = '{id}'"
    ));
    let paused = patch(json!({"active": false}));
    assert_eq!(paused.status, 200, "{}", paused.body);
    assert_eq!(patch(json!({"create_deal": true})).status, 422);
}

#[test]
fn a_facebook_page_token_is_put_replaced_and_never_shown() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let account = d.default_account_id();
    let path = format!("/admin/accounts/{account}/facebook-token");
    let first = d.admin(
        "PUT",
        &path,
        Some(
            &json!({"page_id": 1029384756u64, "access_token": "EAAB-first-secret-1111",
            "expires_at": "2027-06-01T00:00:00Z"}),
        ),
    );
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.json()["page_id"], "1029384756");
    assert_eq!(first.json()["expires_at"], "2027-06-01T00:00:00.000Z");
    assert!(!first.body.contains("secret"), "{}", first.body);
    let second = d.admin(
        "PUT",
        &path,
        Some(&json!({"page_id": "1029384756", "access_token": "EAAB-second-secret-2222"})),
    );
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.json()["access_token"], "…2222");
    assert_eq!(second.json()["expires_at"], Value::Null);
    let stored = db.query_strings(
        "SELECT access_token AS value FROM facebook_page_tokens WHERE page_id = '1029384756'",
    );
    assert_eq!(stored, ["EAAB-second-secret-2222"]);
    for (bad, field) in [
        (json!({"access_token": "t"}), "page_id"),
        (json!({"page_id": "p"}), "access_token"),
        (
            json!({"page_id": "p", "access_token": "t", "expires_at": "tomorrow"}),
            "expires_at",
        ),
    ] {
        let refused = d.admin("PUT", &path, Some(&bad));
        assert_eq!(refused.status, 422, "{bad}");
        assert_eq!(refused.json()["fields"], json!([field]));
    }
    let nobody = d.admin(
        "PUT",
        "/admin/accounts/nobody/facebook-token",
        Some(&json!({"page_id": "p", "access_token": "t"})),
    );
    assert_eq!(nobody.status, 404);
}
