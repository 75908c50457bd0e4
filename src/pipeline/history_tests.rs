//! A key with 10,000 earlier submissions costs what a key with one does: the same statements,
//! each an index search (no scan, no sort of the key's rows), every read of the history bounded
//! by a LIMIT, none prepared anew.

use super::tests::{claimed_row, settings};
use super::{persist_items, PipelineItem};
use crate::sources::submission::RequestMeta;
use crate::sources::website::website_submission;
use crate::store::schema::lead_submissions;
use crate::store::statements::{assert_every_statement_searches, record, test_databases, Recorded};
use crate::store::{self, accounts, write_transaction, AnyConnection};
use diesel::prelude::*;

const EARLIER_SUBMISSIONS: i64 = 10_000;

pub(super) fn submission(
    conn: &mut AnyConnection,
    account: &str,
    fields: serde_json::Value,
    ip: &str,
) -> PipelineItem {
    let meta = RequestMeta {
        ip: Some(ip.into()),
        received_at_ms: chrono::Utc::now().timestamp_millis(),
        ..RequestMeta::default()
    };
    let public_id = store::new_public_id();
    PipelineItem {
        inbox_id: claimed_row(conn, account),
        first_of_row: true,
        submission: website_submission(&public_id, account, fields.as_object().unwrap(), &meta),
        signals: Default::default(),
        campaign_id: None,
        campaign_webhook_url: None,
        crm: None,
    }
}

/// Stores the item, recording its statements; returns them and its `form_submit_count`.
fn store_recorded(conn: &mut AnyConnection, item: &PipelineItem) -> (Recorded, i64) {
    let (outcome, recorded) = record(conn, |c| {
        write_transaction(c, |c| persist_items(c, &[item], "owner", &settings())).unwrap()
    });
    assert!(outcome[0].submission_public_id.is_some(), "{outcome:?}");
    let data: String = lead_submissions::table
        .filter(lead_submissions::public_id.eq(&item.submission.public_id))
        .select(lead_submissions::data_json)
        .first(conn)
        .unwrap();
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    (recorded, data["form_submit_count"].as_i64().unwrap())
}

/// Copies a stored submission `EARLIER_SUBMISSIONS - 1` times: the same person, lead, IP and
/// time (all within the last hour).
fn make_hot(conn: &mut AnyConnection, public_id: &str) {
    let copies = EARLIER_SUBMISSIONS - 1;
    let sql = format!(
        "INSERT INTO lead_submissions (public_id, lead_id, account_id, project_key, lead_source,
             visitor_id, email_key, phone_e164, ip, cta, page_url, payload_json, data_json,
             is_duplicate, forwarded, submitted_at, created_at, forward_decision)
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {copies})
         SELECT public_id || '-' || i, lead_id, account_id, project_key, lead_source, visitor_id,
             email_key, phone_e164, ip, cta, page_url, payload_json, data_json, is_duplicate,
             forwarded, submitted_at, created_at, forward_decision
         FROM lead_submissions, n WHERE public_id = '{public_id}'"
    );
    assert_eq!(diesel::sql_query(sql).execute(conn).unwrap() as i64, copies);
}

/// Every read of the history is bounded by a LIMIT, and an index search.
fn assert_bounded_reads(conn: &mut AnyConnection, statements: &[String]) {
    for sql in statements {
        let reads_history = ["`lead_submissions`", "`lead_keys`"]
            .iter()
            .any(|table| sql.contains(&format!("FROM {table}")));
        assert!(
            !reads_history || sql.ends_with("LIMIT ?"),
            "a read of the history without a bound: {sql}"
        );
    }
    assert_every_statement_searches(conn, statements);
}

fn bounded_for(fields: impl Fn(&str) -> serde_json::Value, ip: impl Fn(&str) -> String) {
    for mut database in test_databases() {
        bounded_on(&mut database.conn, &fields, &ip);
    }
}

fn bounded_on(
    conn: &mut AnyConnection,
    fields: &impl Fn(&str) -> serde_json::Value,
    ip: &impl Fn(&str) -> String,
) {
    let account = accounts::ensure_default_account(conn).unwrap().id;
    // A person of another project shares the keys: related projects are read for both.
    let mut runs = Vec::new();
    for who in ["hot", "cold"] {
        let mut other = submission(conn, &account, fields(who), &ip(who));
        other.submission.project_key = "elsewhere".into();
        runs.push(store_recorded(conn, &other).0);
        let first = submission(conn, &account, fields(who), &ip(who));
        runs.push(store_recorded(conn, &first).0);
        if who == "hot" {
            make_hot(conn, &first.submission.public_id);
        }
    }
    let cold = submission(conn, &account, fields("cold"), &ip("cold"));
    let (cold_run, cold_count) = store_recorded(conn, &cold);
    let hot = submission(conn, &account, fields("hot"), &ip("hot"));
    let (hot_run, hot_count) = store_recorded(conn, &hot);
    assert_eq!(
        cold_count, 3,
        "two earlier in the hour (one in another project), and this one"
    );
    assert_eq!(hot_count, 100, "counted up to what the burst rule needs");
    assert_eq!(hot_run.statements, cold_run.statements);
    assert_eq!(
        hot_run.cached.len(),
        0,
        "every statement was prepared once already"
    );
    if store::is_sqlite(conn) {
        assert_bounded_reads(conn, &hot_run.statements);
    }
    runs.extend([cold_run, hot_run]);
    assert_inserts_prepared_once(&runs);
    // In a batch (PostgreSQL reads a wave in one statement per read): the same statements too.
    let batch_of = |conn: &mut AnyConnection, who: &str| {
        let items = [
            submission(conn, &account, fields(who), &ip(who)),
            submission(
                conn,
                &account,
                fields(&format!("new-{who}")),
                &ip(&format!("new-{who}")),
            ),
        ];
        let (_, recorded) = record(conn, |c| {
            let refs: Vec<&PipelineItem> = items.iter().collect();
            write_transaction(c, |c| persist_items(c, &refs, "owner", &settings())).unwrap()
        });
        recorded.statements
    };
    let cold_batch = batch_of(conn, "cold");
    assert_eq!(batch_of(conn, "hot"), cold_batch);
}

/// Every single-row INSERT is kept as a prepared statement, not parsed and planned again per row.
fn assert_inserts_prepared_once(runs: &[Recorded]) {
    let cached: Vec<&String> = runs.iter().flat_map(|run| &run.cached).collect();
    let inserts = runs
        .iter()
        .flat_map(|run| &run.statements)
        .filter(|sql| sql.starts_with("INSERT") && !sql.contains("), ("));
    for sql in inserts {
        assert!(cached.contains(&sql), "prepared again for every row: {sql}");
    }
}

#[test]
fn a_known_person_costs_the_same_with_ten_thousand_earlier_submissions() {
    bounded_for(
        |who| serde_json::json!({"name": who, "email": format!("{who}@example.com"), "visitor_id": format!("v-{who}")}),
        |who| format!("10.0.0.{}", who.len()),
    );
}

#[test]
fn an_anonymous_visitor_costs_the_same_from_an_ip_with_ten_thousand_earlier_submissions() {
    bounded_for(
        |who| serde_json::json!({"name": who}),
        |who| format!("10.0.0.{}", who.len()),
    );
}

/// A key shared by more leads than one read takes still finds its project's lead.
#[test]
fn a_key_shared_by_many_leads_finds_its_projects_lead() {
    for mut database in test_databases() {
        let conn = &mut database.conn;
        let account = accounts::ensure_default_account(conn).unwrap().id;
        let person = || serde_json::json!({"name": "Shared", "email": "shared@example.com"});
        let mut stored_in = |project: &str| {
            let mut item = submission(conn, &account, person(), "10.9.9.9");
            item.submission.project_key = project.into();
            store_recorded(conn, &item);
            lead_submissions::table
                .filter(lead_submissions::public_id.eq(&item.submission.public_id))
                .select(lead_submissions::lead_id)
                .first::<i64>(conn)
                .unwrap()
        };
        // The key's rows are read in project order: "zz" comes after the first read's rows.
        let first_in_zz = stored_in("zz");
        for n in 0..super::history::LEADS_READ_PER_KEY {
            stored_in(&format!("p{n:03}"));
        }
        assert_eq!(stored_in("zz"), first_in_zz, "joined the project's lead");
    }
}
