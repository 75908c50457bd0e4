//! CRM actions: contacts and deals (the ContactCreator) — one contact per person and type within
//! an account however many submissions arrive at once, one deal per lead — representatives in
//! turn (the Assigner), support conversations, and live events.

use crate::harness::{Daemon, TestDb};
use serde_json::{json, Value};

pub fn website_campaign(d: &Daemon, project: &str, extra: Value) -> String {
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

/// A representative of the default account; its id.
pub fn user(d: &Daemon, body: Value) -> String {
    let account = d.default_account_id();
    let created = d.admin(
        "POST",
        &format!("/admin/accounts/{account}/users"),
        Some(&body),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    created.json()["id"].as_str().unwrap().to_string()
}

/// Each lead of the project with its representative, once all are assigned.
fn assignments(d: &Daemon, project: &str, count: usize) -> Vec<Value> {
    d.wait_processed();
    let q = format!("project={}", project.replace(' ', "+"));
    d.wait_until(&format!("{count} leads assigned"), || {
        let leads = d.leads(&q);
        leads.len() == count
            && leads.iter().all(|l| {
                let detail = d.lead_detail(l["lead_public_id"].as_str().unwrap());
                !detail["lead"]["assigned_user_id"].is_null()
                    || detail["lead"]["errors"] != json!([])
            })
    });
    d.leads(&q)
        .iter()
        .map(|l| d.lead_detail(l["lead_public_id"].as_str().unwrap())["lead"].clone())
        .collect()
}

#[test]
fn new_leads_go_to_the_campaigns_representatives_in_turn() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let (ana, bea, cid) = (
        user(&d, json!({"name": "ana", "active": true})),
        user(&d, json!({"name": "bea", "active": true})),
        user(&d, json!({"name": "cid", "active": true})),
    );
    let off = user(&d, json!({"name": "off", "active": false}));
    let selected = |ids: &[&String]| -> Value {
        ids.iter()
            .map(|id| json!({"id": id, "custom_number": null}))
            .collect()
    };
    website_campaign(
        &d,
        "Three",
        json!({"selected_user": selected(&[&ana, &bea, &cid, &off])}),
    );
    website_campaign(&d, "Solo", json!({"selected_user": selected(&[&bea])}));
    website_campaign(&d, "Nobody", json!({"selected_user": selected(&[&off])}));
    std::thread::scope(|s| {
        for i in 0..12 {
            let d = &d;
            s.spawn(move || {
                let lead = json!({"name": "Lead", "email": format!("t{i}@example.com"), "project": "Three"});
                assert_eq!(d.post_lead(&lead).status, 200);
            });
        }
    });
    let three = assignments(&d, "Three", 12);
    for user in [&ana, &bea, &cid] {
        let share = three
            .iter()
            .filter(|l| l["assigned_user_id"] == user.as_str())
            .count();
        assert_eq!(
            share, 4,
            "an even share, the inactive one skipped: {three:?}"
        );
    }
    // A repeat of a lead is no new lead: it keeps its representative and takes no turn.
    let again = json!({"name": "Lead", "email": "t0@example.com", "project": "Three"});
    assert_eq!(d.post_lead(&again).status, 200);
    for i in 0..2 {
        let lead = json!({"name": "Solo", "email": format!("s{i}@example.com"), "project": "Solo"});
        assert_eq!(d.post_lead(&lead).status, 200);
    }
    let solo = assignments(&d, "Solo", 2);
    assert!(
        solo.iter().all(|l| l["assigned_user_id"] == bea.as_str()),
        "{solo:?}"
    );
    let lonely = json!({"name": "Nobody", "email": "n@example.com", "project": "Nobody"});
    assert_eq!(d.post_lead(&lonely).status, 200);
    let nobody = assignments(&d, "Nobody", 1);
    assert!(nobody[0]["assigned_user_id"].is_null());
    assert_eq!(
        nobody[0]["errors"][0]["type"], "assigneeCreation",
        "{nobody:?}"
    );
    let letters = d.admin_get("/admin/dead-letters?kind=assignment");
    assert_eq!(
        letters["dead_letters"].as_array().unwrap().len(),
        1,
        "{letters}"
    );
}

/// Opens `GET /admin/events` (with `query`) and hands back its lines as they come.
fn listen(d: &Daemon, query: &str) -> std::sync::mpsc::Receiver<String> {
    use std::io::{BufRead, BufReader, Write};
    let address = d.base.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    let token = crate::harness::ADMIN_TOKEN;
    write!(
        stream,
        "GET /admin/events{query} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    received
}

/// The `data` of the next `leadadded` event within `seconds`.
fn next_lead_added(lines: &std::sync::mpsc::Receiver<String>, seconds: f64) -> Option<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds);
    let mut event = false;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        let Ok(line) = lines.recv_timeout(left) else {
            return None;
        };
        if line == "event: leadadded" {
            event = true;
        } else if let Some(data) = line.strip_prefix("data: ").filter(|_| event) {
            return serde_json::from_str(data).ok();
        }
    }
    None
}

#[test]
fn each_new_lead_is_a_live_event_for_operators() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let home = d.default_account_id();
    let created = d.admin("POST", "/admin/accounts", Some(&json!({"name": "Other"})));
    let other = created.json()["id"].as_str().unwrap().to_string();
    let all = listen(&d, "");
    let other_account = listen(&d, &format!("?account={other}"));
    assert_eq!(
        all.recv_timeout(std::time::Duration::from_secs(5)).unwrap(),
        "HTTP/1.1 200 OK"
    );
    let unauthorized = d.request("GET", "/admin/events", &[], None);
    assert_eq!(unauthorized.status, 401);
    let lead = json!({"name": "Eve", "email": "eve@example.com", "project": "Live"});
    assert_eq!(d.post_lead(&lead).status, 200);
    let event = next_lead_added(&all, 10.0).expect("a leadadded event");
    assert_eq!(event["account_id"], home.as_str());
    let stored = d.leads("q=eve@example.com");
    assert_eq!(event["lead_public_id"], stored[0]["lead_public_id"]);
    // A repeat is no new lead; another account's listener hears nothing.
    assert_eq!(d.post_lead(&lead).status, 200);
    d.wait_processed();
    assert!(
        next_lead_added(&all, 1.5).is_none(),
        "a repeat is no new lead"
    );
    let theirs = json!({"name": "Otto", "email": "otto@example.com", "project": "Live"});
    let answer = d.request(
        "POST",
        &format!("/v1/leads?account={other}"),
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        Some(theirs.to_string().as_bytes()),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let heard = next_lead_added(&other_account, 10.0).expect("their own lead");
    assert_eq!(
        heard["account_id"],
        other.as_str(),
        "only that account's: not Eve's first"
    );
}

#[test]
fn a_contact_has_one_conversation_with_a_room_per_lead_source() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let account = d.default_account_id();
    website_campaign(&d, "Skyline Towers", json!({"add_to_crm": true}));
    let instapage = d.create_campaign(
        &account,
        &json!({"name": "Insta", "integration": "instapage", "project_name": "Harbour View",
            "add_to_crm": true}),
    );
    let website =
        json!({"name": "Ana Lima", "email": "ana@example.com", "project": "Skyline Towers"});
    assert_eq!(d.post_lead(&website).status, 200);
    wait_for_contacts(&d, 1);
    let hook = format!("/v1/inbound/webhooks/instapage/{account}/{instapage}");
    let body = json!({"id": "i-1", "Name": "Ana Lima", "Email": "ana@example.com"}).to_string();
    let answer = d.post_raw(&hook, "application/json", body.as_bytes(), &[]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let again = json!({"name": "Ana Lima", "email": "ana@example.com", "project": "Skyline Towers",
        "message": "second time"});
    assert_eq!(d.post_lead(&again).status, 200);
    let found = wait_for_contacts(&d, 1);
    assert_eq!(found.len(), 1, "{found:?}");
    let listed = d.admin_get(&format!("/admin/accounts/{account}/conversations"));
    let conversations = listed["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 1, "one per contact: {listed}");
    assert_eq!(conversations[0]["contact_id"], found[0]["id"]);
    let rooms = conversations[0]["rooms"].as_array().unwrap();
    let room = |integration: &str| {
        rooms
            .iter()
            .find(|r| r["integration"] == integration)
            .unwrap_or_else(|| panic!("a {integration} room: {listed}"))["messages"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert_eq!(rooms.len(), 2, "{listed}");
    let web = room("website");
    assert_eq!(web.len(), 4, "two messages per lead received: {web:?}");
    assert!(web[0]["body"]
        .as_str()
        .unwrap()
        .starts_with("Ana Lima started a new conversation on 20"));
    assert_eq!(web[1]["body"], "Lead received for Ana Lima");
    assert_eq!(web[1]["attachments"]["platform"], "website");
    assert_eq!(web[1]["attachments"]["payload"]["email"], "ana@example.com");
    assert_eq!(web[3]["attachments"]["payload"]["message"], "second time");
    let insta = room("instapage");
    assert_eq!(insta.len(), 2);
    assert_eq!(insta[1]["attachments"]["payload"]["id"], "i-1");
}
