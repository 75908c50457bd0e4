//! CRM contacts and deals (the ContactCreator): one contact per person and type within an
//! account, however many submissions arrive at once, and one deal per new lead.

use crate::harness::{Daemon, TestDb};
use serde_json::{json, Value};

fn website_campaign(d: &Daemon, project: &str, extra: Value) -> String {
    let account = d.default_account_id();
    let mut body = json!({"name": format!("{project} campaign"), "integration": "website",
        "project_name": project});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    d.create_campaign(&account, &body)
}

fn contacts(d: &Daemon) -> Vec<Value> {
    let account = d.default_account_id();
    let listed = d.admin_get(&format!("/admin/accounts/{account}/contacts"));
    listed["contacts"].as_array().unwrap().clone()
}

fn deals(d: &Daemon) -> Vec<Value> {
    let account = d.default_account_id();
    let listed = d.admin_get(&format!("/admin/accounts/{account}/deals"));
    listed["deals"].as_array().unwrap().clone()
}

/// Waits until the ContactCreator has nothing left to do.
fn wait_for_contacts(d: &Daemon, count: usize) -> Vec<Value> {
    d.wait_processed();
    d.wait_until(&format!("{count} contacts"), || contacts(d).len() >= count);
    d.wait_until("the contact jobs done", || {
        let health = d.health();
        health["actors"]["ContactCreator"]["mailbox"] == 0 && health["outbox"]["pending"] == 0
    });
    contacts(d)
}

fn lead_of(email: &str, name: &str, phone: &str, project: &str) -> Value {
    json!({"name": name, "email": email, "phone": phone, "project": project,
        "company_name": "Acme Ltd", "city": "Lisbon"})
}

#[test]
fn one_contact_per_person_and_one_deal_per_lead_however_many_submissions_arrive_at_once() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    website_campaign(
        &d,
        "Skyline Towers",
        json!({"add_to_crm": true, "create_deal": true, "pipeline_id": "p1", "stage_id": 7,
            "deal_value": 2500, "currency": "eur"}),
    );
    website_campaign(
        &d,
        "Harbour View",
        json!({"add_to_crm": true, "add_person_or_business": "business"}),
    );
    website_campaign(&d, "No CRM", json!({}));
    std::thread::scope(|s| {
        for _ in 0..25 {
            s.spawn(|| {
                let lead = lead_of(
                    "Ana@Example.com",
                    "Ana Maria Lima",
                    "+14155550100",
                    "Skyline Towers",
                );
                assert_eq!(d.post_lead(&lead).status, 200);
            });
        }
    });
    let found = wait_for_contacts(&d, 1);
    assert_eq!(found.len(), 1, "{found:?}");
    let ana = &found[0];
    assert_eq!(ana["type"], "person");
    assert_eq!(ana["name"], "Ana Maria Lima");
    assert_eq!(ana["first_name"], "Ana Maria");
    assert_eq!(ana["last_name"], "Lima");
    assert_eq!(ana["phone"], "+14155550100");
    assert_eq!(ana["address"]["city"], "Lisbon");
    let made = deals(&d);
    assert_eq!(made.len(), 1, "one deal for the one lead: {made:?}");
    assert_eq!(made[0]["name"], "Ana Maria Lima");
    assert_eq!(made[0]["value"], 2500.0);
    assert_eq!(made[0]["currency"], "EUR");
    assert_eq!(made[0]["stage_id"], "7");
    assert_eq!(made[0]["contact_id"], ana["id"]);
    let leads = d.leads("q=ana@example.com");
    let detail = d.lead_detail(leads[0]["lead_public_id"].as_str().unwrap());
    assert_eq!(detail["lead"]["contact_id"], ana["id"]);
    assert_eq!(detail["lead"]["errors"], json!([]));

    // The same phone under another email is the same person; a business campaign makes a
    // business contact of its own; a campaign without CRM settings makes none.
    let other_email = lead_of(
        "ana.work@example.com",
        "Ana Lima",
        "+14155550100",
        "Skyline Towers",
    );
    assert_eq!(d.post_lead(&other_email).status, 200);
    let business = lead_of(
        "ana@example.com",
        "Ana Lima",
        "+14155550100",
        "Harbour View",
    );
    assert_eq!(d.post_lead(&business).status, 200);
    let none = lead_of("bea@example.com", "Bea Costa", "+14155550101", "No CRM");
    assert_eq!(d.post_lead(&none).status, 200);
    let found = wait_for_contacts(&d, 2);
    let mut kinds: Vec<(String, String)> = found
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap().into(),
                c["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("business".to_string(), "Acme Ltd".to_string()),
            ("person".to_string(), "Ana Lima".to_string())
        ]
    );
    assert_eq!(
        deals(&d).len(),
        1,
        "a repeat of a lead makes no second deal"
    );
    let unknown = d.admin("GET", "/admin/accounts/nope/contacts", None);
    assert_eq!(unknown.status, 404);
}

#[test]
fn two_instances_on_one_postgresql_agree_on_one_contact() {
    let db = TestDb::new();
    if !db.is_postgres() {
        return; // One SQLite file has one instance.
    }
    let first = Daemon::start(&db, &[]);
    let spool = tempfile::tempdir().unwrap();
    let spool_path = spool.path().join("second.spool");
    let second = Daemon::start(&db, &[("SPOOL_PATH", spool_path.to_str().unwrap())]);
    website_campaign(&first, "Skyline Towers", json!({"add_to_crm": true}));
    std::thread::sleep(std::time::Duration::from_millis(1500)); // the directory refresh
    std::thread::scope(|s| {
        for i in 0..20 {
            let d = if i % 2 == 0 { &first } else { &second };
            s.spawn(move || {
                let lead = lead_of(
                    &format!("p{i}@example.com"),
                    "Pat Doe",
                    "+14155550199",
                    "Skyline Towers",
                );
                assert_eq!(d.post_lead(&lead).status, 200);
            });
        }
    });
    wait_for_contacts(&first, 1);
    wait_for_contacts(&second, 1);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(contacts(&first).len(), 1, "{:?}", contacts(&first));
}
