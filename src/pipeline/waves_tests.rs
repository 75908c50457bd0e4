//! A batch stored in waves gives what storing its submissions one at a time gives, with fewer
//! statements.

use super::history_tests::submission;
use super::tests::settings;
use super::{persist_items, PipelineItem};
use crate::store::schema::{lead_submissions, leads};
use crate::store::statements::{record, test_databases};
use crate::store::{self, accounts, write_transaction, AnyConnection};
use diesel::prelude::*;
use serde_json::json;

fn item(conn: &mut AnyConnection, account: &str, fields: serde_json::Value) -> PipelineItem {
    // The anonymous share one address; everyone else has their own.
    let ip = match fields.get("name") {
        Some(_) => "10.0.0.7".to_string(),
        None => format!("10.0.1.{}", fields.to_string().len()),
    };
    submission(conn, account, fields, &ip)
}

/// A batch's people, in order: new ones, known ones, one who returns by the same key, one by
/// another key of the same lead, one in another project, two anonymous visitors from one address
/// and two people from it.
fn batch() -> Vec<serde_json::Value> {
    vec![
        json!({"email": "known@example.com"}),
        json!({"phone": "+14155550100"}),
        json!({"email": "a@example.com", "visitor_id": "va"}),
        json!({"email": "b@example.com"}),
        json!({"email": "a@example.com", "project": "Other"}),
        json!({"visitor_id": "va", "phone": "+14155550101"}),
        json!({"email": "a@example.com", "message": "Again"}),
        json!({"name": "Anon"}),
        json!({"name": "Anon again"}),
        json!({"email": "c@example.com"}),
        json!({"name": "D", "email": "d@example.com"}),
        json!({"name": "E", "email": "e@example.com"}),
    ]
}

/// What one submission of the batch left, without ids and times (which differ between runs).
#[derive(Debug, PartialEq)]
struct Stored {
    /// Its lead, as the order in which the batch's leads were first seen.
    lead: usize,
    is_duplicate: bool,
    /// The submission's snapshot (`form_submit_count`, `related_projects`, the person...).
    snapshot: serde_json::Value,
    /// Its lead after the batch: name, email, phone, search text, submission count, snapshot.
    lead_row: (Option<String>, Option<String>, Option<String>, String, i32),
    lead_snapshot: serde_json::Value,
}

fn without_ids_and_times(json: &str) -> serde_json::Value {
    let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
    for key in [
        "lead_public_id",
        "lead_submission_public_id",
        "lead_id",
        "lead_submission_id",
        "make_send_public_id",
        "account_id",
        "submitted_at",
    ] {
        value.as_object_mut().unwrap().remove(key);
    }
    value
}

fn what_was_stored(conn: &mut AnyConnection, items: &[PipelineItem]) -> Vec<Stored> {
    let mut leads_seen: Vec<i64> = Vec::new();
    items
        .iter()
        .map(|item| {
            let (lead_id, is_duplicate, data): (i64, bool, String) = lead_submissions::table
                .filter(lead_submissions::public_id.eq(&item.submission.public_id))
                .select((
                    lead_submissions::lead_id,
                    lead_submissions::is_duplicate,
                    lead_submissions::data_json,
                ))
                .first(conn)
                .unwrap();
            let (name, email, phone, search, count, lead_data) = leads::table
                .find(lead_id)
                .select((
                    leads::name,
                    leads::email,
                    leads::phone_e164,
                    leads::search_text,
                    leads::submission_count,
                    leads::data_json,
                ))
                .first::<(
                    Option<String>,
                    Option<String>,
                    Option<String>,
                    String,
                    i32,
                    String,
                )>(conn)
                .unwrap();
            if !leads_seen.contains(&lead_id) {
                leads_seen.push(lead_id);
            }
            Stored {
                lead: leads_seen.iter().position(|l| *l == lead_id).unwrap(),
                is_duplicate,
                snapshot: without_ids_and_times(&data),
                lead_row: (name, email, phone, search, count),
                lead_snapshot: without_ids_and_times(&lead_data),
            }
        })
        .collect()
}

/// Stores the known people, then the batch (in one call, or one submission per call); returns
/// what was stored and the number of statements the batch ran.
fn store_batch(conn: &mut AnyConnection, at_once: bool) -> (Vec<Stored>, Vec<String>) {
    let account = accounts::ensure_default_account(conn).unwrap().id;
    for known in [
        json!({"email": "known@example.com", "phone": "+14155550100"}),
        json!({"email": "b@example.com"}),
    ] {
        let known = item(conn, &account, known);
        write_transaction(conn, |c| persist_items(c, &[&known], "owner", &settings())).unwrap();
    }
    let items: Vec<PipelineItem> = batch()
        .into_iter()
        .map(|f| item(conn, &account, f))
        .collect();
    let refs: Vec<&PipelineItem> = items.iter().collect();
    let (_, recorded) = record(conn, |c| {
        let groups: Vec<&[&PipelineItem]> = match at_once {
            true => vec![&refs[..]],
            false => refs.chunks(1).collect(),
        };
        for group in groups {
            let outcomes =
                write_transaction(c, |c| persist_items(c, group, "owner", &settings())).unwrap();
            assert!(outcomes.iter().all(|o| o.submission_public_id.is_some()));
        }
    });
    (what_was_stored(conn, &items), recorded.statements)
}

#[test]
fn a_batch_stores_what_one_submission_at_a_time_stores() {
    for (mut at_once, mut one_by_one) in test_databases().into_iter().zip(test_databases()) {
        let (batched, batched_statements) = store_batch(&mut at_once.conn, true);
        let (single, single_statements) = store_batch(&mut one_by_one.conn, false);
        assert_eq!(batched, single);
        let leads_of = |stored: &[Stored]| stored.iter().map(|s| s.lead).collect::<Vec<_>>();
        // known, known by phone, a, b, a in Other, a by visitor id, a by email, anon, anon by
        // IP, c, d, e.
        assert_eq!(leads_of(&batched), vec![0, 0, 1, 2, 3, 1, 1, 4, 4, 5, 6, 7]);
        assert_eq!(
            batched[0].lead_row.4, 3,
            "the known lead: two earlier submissions and one before"
        );
        let count = |s: &Stored| s.snapshot["form_submit_count"].as_i64().unwrap();
        assert_eq!(count(&batched[5]), 2, "the visitor's second in the hour");
        assert_eq!(batched[6].snapshot["related_projects"], json!(["Other"]));
        // D and E from the anonymous visitors' address: their submissions before in the hour.
        assert_eq!((count(&batched[10]), count(&batched[11])), (3, 4));
        // PostgreSQL reads a wave in four statements; SQLite (no round trips) one at a time.
        let fewer = if store::is_sqlite(&at_once.conn) {
            1
        } else {
            let updated_at_once = "UPDATE leads SET name = v.name";
            assert!(batched_statements
                .iter()
                .any(|s| s.contains(updated_at_once)));
            2
        };
        let (batched_statements, single_statements) =
            (batched_statements.len(), single_statements.len());
        assert!(
            batched_statements * fewer < single_statements,
            "{batched_statements} statements at once, {single_statements} one at a time"
        );
    }
}
