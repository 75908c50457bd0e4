//! One canonical lead per (account, project, person): visitor id, email, phone, then IP.

use crate::harness::{Daemon, TestDb};
use serde_json::{json, Value};

fn submissions_of(d: &Daemon, lead: &Value) -> Vec<Value> {
    d.lead_detail(lead["lead_public_id"].as_str().unwrap())["submissions"]
        .as_array()
        .unwrap()
        .clone()
}

fn post_all(d: &Daemon, bodies: &[Value]) {
    for body in bodies {
        let r = d.post_lead(body);
        assert_eq!(r.status, 200, "{body}: {}", r.body);
    }
    d.wait_processed();
}

#[test]
fn visitor_id_joins_even_with_another_email() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    post_all(
        &d,
        &[
            json!({"name": "A", "email": "first@example.com", "visitor_id": "v1", "project": "P"}),
            json!({"name": "A", "email": "second@example.com", "visitor_id": "v1", "project": "P"}),
        ],
    );
    let leads = d.leads("");
    assert_eq!(leads.len(), 1);
    assert_eq!(submissions_of(&d, &leads[0]).len(), 2);
    assert_eq!(leads[0]["submission_count"], 2);
}

#[test]
fn email_matches_trimmed_and_case_insensitive() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    post_all(
        &d,
        &[
            json!({"name": "B", "email": "Person@Example.COM", "project": "P"}),
            json!({"name": "B", "email": "  person@example.com ", "project": "P"}),
        ],
    );
    assert_eq!(d.leads("").len(), 1);
}

#[test]
fn phone_matches_in_e164_whatever_the_formatting() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    post_all(
        &d,
        &[
            json!({"name": "C", "phone": "9999999999", "country_code": "+91", "project": "P"}),
            json!({"name": "C", "phone": "+91 99999-99999", "project": "P"}),
            json!({"name": "C", "mobile": "0091 9999999999", "project": "P"}),
        ],
    );
    let leads = d.leads("");
    assert_eq!(leads.len(), 1);
    assert_eq!(submissions_of(&d, &leads[0]).len(), 3);
}

#[test]
fn client_ip_joins_only_anonymous_submissions() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let from = |ip: &str, body: Value| {
        let r = d.post_lead_with(&body, &[("X-Forwarded-For", ip)]);
        assert_eq!(r.status, 200);
    };
    from("192.0.2.1", json!({"name": "Anonymous", "project": "P"}));
    from(
        "192.0.2.1",
        json!({"name": "Anonymous again", "project": "P"}),
    );
    from(
        "192.0.2.1",
        json!({"name": "Other project", "project": "Q"}),
    );
    from(
        "192.0.2.2",
        json!({"name": "Other address", "project": "P"}),
    );
    // With an email the IP is not a key: a different person behind the same address.
    from(
        "192.0.2.1",
        json!({"name": "Named", "email": "named@example.com", "project": "P"}),
    );
    d.wait_processed();
    let p_leads = d.leads("project=P");
    assert_eq!(p_leads.len(), 3, "{p_leads:?}");
    let shared = p_leads
        .iter()
        .find(|l| l["user_ip"] == "192.0.2.1" && l["email"].is_null())
        .unwrap();
    assert_eq!(submissions_of(&d, shared).len(), 2);
    assert_eq!(d.leads("project=Q").len(), 1);
}

#[test]
fn visitor_id_outranks_email_and_email_outranks_phone() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    post_all(
        &d,
        &[
            json!({"name": "One", "email": "one@example.com", "visitor_id": "v-one", "project": "P"}),
            json!({"name": "Two", "email": "two@example.com", "visitor_id": "v-two", "phone": "+14155552671", "project": "P"}),
        ],
    );
    post_all(
        &d,
        &[
            // visitor of One, email of Two: joins One.
            json!({"name": "Mixed", "email": "two@example.com", "visitor_id": "v-one", "project": "P"}),
            // email of One, phone of Two: joins One.
            json!({"name": "Mixed 2", "email": "one@example.com", "phone": "+1 415 555 2671", "project": "P"}),
        ],
    );
    let leads = d.leads("");
    assert_eq!(leads.len(), 2);
    let one = leads
        .iter()
        .find(|l| {
            submissions_of(&d, l)
                .iter()
                .any(|s| s["payload_json"]["visitor_id"] == "v-one")
        })
        .unwrap();
    assert_eq!(submissions_of(&d, one).len(), 3);
}

#[test]
fn projects_keep_separate_leads_and_name_each_other() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    post_all(
        &d,
        &[json!({"name": "D", "email": "d@example.com", "project": "Skyline Towers"})],
    );
    post_all(
        &d,
        &[json!({"name": "D", "email": "d@example.com", "project": "Lake View"})],
    );
    let leads = d.leads("");
    assert_eq!(leads.len(), 2);
    let lake = leads
        .iter()
        .find(|l| l["project_name"] == "Lake View")
        .unwrap();
    assert_eq!(lake["related_projects"], json!(["Skyline Towers"]));
}

#[test]
fn twenty_concurrent_submissions_by_one_person_make_one_lead() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    std::thread::scope(|scope| {
        for i in 0..20 {
            let d = &d;
            scope.spawn(move || {
                let body = json!({"name": "Eager", "email": "eager@example.com", "phone": "+919812345678",
                    "project": "Skyline Towers", "message": format!("attempt {i}")});
                assert_eq!(d.post_lead(&body).status, 200);
            });
        }
    });
    d.wait_processed();
    let leads = d.leads("");
    assert_eq!(leads.len(), 1, "{leads:?}");
    let submissions = submissions_of(&d, &leads[0]);
    assert_eq!(submissions.len(), 20);
    let mut messages: Vec<String> = submissions
        .iter()
        .map(|s| s["payload_json"]["message"].as_str().unwrap().to_string())
        .collect();
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), 20, "every submission is kept");
    assert_eq!(leads[0]["submission_count"], 20);
}

#[test]
fn an_anonymous_submission_joins_by_ip_but_never_rewrites_the_person() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    let from = |body: Value| {
        let r = d.post_lead_with(&body, &[("X-Forwarded-For", "192.0.2.77")]);
        assert_eq!(r.status, 200);
        d.wait_processed();
    };
    from(
        json!({"name": "Priya Sharma", "email": "priya@example.com", "message": "2BHK please", "location": "Pune", "project": "P"}),
    );
    from(json!({"name": "ATTACKER", "message": "pwned", "location": "nowhere", "project": "P"}));
    let leads = d.leads("project=P");
    assert_eq!(leads.len(), 1, "it joins: {leads:?}");
    let lead = &leads[0];
    assert_eq!(lead["submission_count"], 2);
    assert_eq!(lead["first_name"], "Priya Sharma");
    assert_eq!(lead["email"], "priya@example.com");
    assert_eq!(lead["message"], "2BHK please");
    assert_eq!(lead["user_location"], "Pune");
    let submissions = submissions_of(&d, lead);
    assert_eq!(
        submissions[1]["payload_json"]["name"], "ATTACKER",
        "kept as sent"
    );
}

#[test]
fn a_calling_code_the_number_already_carries_is_not_added_twice() {
    let db = TestDb::new();
    let d = Daemon::start(&db, &[]);
    post_all(
        &d,
        &[
            json!({"name": "A", "phone": "919812345678", "country_code": "+91", "project": "P"}),
            json!({"name": "A again", "phone": "+91 98123 45678", "project": "P"}),
            json!({"name": "B", "phone": "4915112345678", "country_code": "+49", "project": "P"}),
        ],
    );
    let mut phones: Vec<(String, String)> = d
        .leads("project=P")
        .iter()
        .map(|l| {
            (
                l["phone_e164"].as_str().unwrap().to_string(),
                l["phone_mobile"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    phones.sort();
    assert_eq!(
        phones,
        [
            ("+4915112345678".to_string(), "+49-15112345678".to_string()),
            ("+919812345678".to_string(), "+91-9812345678".to_string()),
        ],
        "one lead for A (both spellings), one for B"
    );
}
