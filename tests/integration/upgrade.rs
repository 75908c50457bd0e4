//! A database written by release 0.1 (pending, delivered and dead deliveries, dead letters, a
//! failed and a waiting inbox row) opened by this release: nothing pending is lost, nothing is
//! sent twice, dead letters keep their ids for replay.

use crate::harness::{production, TestDb};
use crate::receiver::{Behavior, Receiver};
use serde_json::{json, Value};
use std::time::Duration;

const PENDING_SEND: &str = "5e000000-0000-4000-8000-000000000002";
const DEAD_SEND: &str = "5e000000-0000-4000-8000-000000000003";
const DELIVERED_LEAD: &str = "1e000000-0000-4000-8000-000000000001";

fn load_release_0_1(db: &TestDb, receiver: &Receiver) {
    let backend = if db.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    let path = format!(
        "{}/tests/fixtures/upgrade/{backend}.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    let sql = std::fs::read_to_string(&path).unwrap();
    db.execute(&sql.replace("RECEIVER_URL", &receiver.url));
}

fn list(d: &crate::harness::Daemon, path: &str, key: &str) -> Vec<Value> {
    d.admin_get(path)[key].as_array().unwrap().clone()
}

#[test]
fn a_release_0_1_database_upgrades_without_loss_or_double_sends() {
    let receiver = Receiver::start(Behavior::Status(200));
    let db = TestDb::new();
    load_release_0_1(&db, &receiver);
    let d = production(&db, &receiver, &[]);
    d.wait_processed();

    // The pending delivery is sent once, with its own webhook-id, and the waiting submission
    // becomes a lead that is sent; delivered and dead ones are not sent again.
    receiver.wait_for(2, Duration::from_secs(10));
    d.wait_until("both deliveries recorded", || {
        list(&d, "/admin/deliveries?status=delivered", "deliveries").len() == 3
    });
    std::thread::sleep(Duration::from_millis(1500));
    let got = receiver.received();
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&PENDING_SEND), "{ids:?}");
    let waiting_send = got
        .iter()
        .find(|r| r.header("webhook-id") != Some(PENDING_SEND))
        .unwrap()
        .json();
    assert_eq!(waiting_send["email"], "waiting@example.com");

    // Deliveries keep their ids, attempts and callback links.
    let deliveries = list(&d, "/admin/deliveries?limit=500", "deliveries");
    assert_eq!(deliveries.len(), 5);
    let first = deliveries.iter().find(|x| x["id"] == 1).unwrap();
    assert_eq!(first["execution_url"], "https://make.example/executions/1");
    let dead = d.admin_get("/admin/deliveries/3");
    assert_eq!(dead["delivery"]["status"], "dead");
    assert_eq!(dead["attempts"].as_array().unwrap().len(), 4);

    // The unexpired dead letter keeps its id; a replay by that id sends the same webhook-id.
    let letters = list(&d, "/admin/dead-letters", "dead_letters");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["id"], 7);
    assert_eq!(letters[0]["make_send_public_id"], DEAD_SEND);
    assert!(
        letters[0]["next_redrive_at"].is_string(),
        "scheduled for re-drive"
    );
    assert_eq!(
        d.admin("POST", "/admin/dead-letters/7/replay", None).status,
        202
    );
    let got = receiver.wait_for(3, Duration::from_secs(10));
    assert_eq!(got[2].header("webhook-id"), Some(DEAD_SEND));
    d.wait_until("the replayed letter to leave the list", || {
        list(&d, "/admin/dead-letters", "dead_letters").is_empty()
    });

    // The failed inbox row waits for an operator; the waiting one became a lead.
    let failed = list(&d, "/admin/inbox?status=failed", "items");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["id"], 5);
    let emails: Vec<String> = d
        .leads("")
        .iter()
        .map(|l| l["email"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(emails.len(), 5, "{emails:?}");
    assert!(emails.contains(&"waiting@example.com".to_string()));
    // New rows continue after the old ids.
    let waiting = d
        .leads("")
        .into_iter()
        .find(|l| l["email"] == "waiting@example.com")
        .unwrap();
    assert_eq!(waiting["lead_id"], 5);

    // A person stored before the upgrade is still known by their email (keys filled on upgrade).
    let returning = json!({"name": "Delivered Person", "email": "Delivered@Example.com"});
    assert_eq!(d.post_lead(&returning).status, 200);
    d.wait_until(
        "the returning person's submission to join their lead",
        || {
            d.leads("")
                .iter()
                .any(|l| l["lead_public_id"] == DELIVERED_LEAD && l["submission_count"] == 2)
        },
    );
    assert_eq!(d.leads("").len(), 5, "no new lead for a known person");
}
