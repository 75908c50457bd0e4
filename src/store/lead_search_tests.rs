//! `q=` over more leads than a search reads itself: a rare term is found by the trigram index,
//! a common one from the newest leads, newest first either way, on both backends.

use super::leads::{list_leads, LeadFilter};
use super::statements::{record, test_databases};
use super::AnyConnection;
use diesel::RunQueryDsl;

/// `count` leads, oldest first, whose search text is `common person <i>`; lead 7 also says
/// `zebulon`.
fn add_leads(conn: &mut AnyConnection, count: i64) {
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
         INSERT INTO leads (public_id, account_id, project_key, status, lead_source,
             submission_count, data_json, search_text, errors_json, first_submitted_at,
             last_submitted_at, created_at, updated_at)
         SELECT 'lead-' || i, 'acct', 'p', 'new', 'website', 1, '{{}}',
             CASE WHEN i = 7 THEN 'zebulon rare' ELSE 'common person ' || i END, '[]',
             CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
         FROM n"
    );
    diesel::sql_query(sql).execute(conn).unwrap();
}

fn search(conn: &mut AnyConnection, q: &str, limit: i64, before_id: Option<i64>) -> Vec<String> {
    let filter = LeadFilter {
        q: Some(q.into()),
        limit,
        before_id,
        ..LeadFilter::default()
    };
    list_leads(conn, &filter)
        .unwrap()
        .into_iter()
        .map(|l| l.public_id)
        .collect()
}

fn names(ids: impl IntoIterator<Item = i64>) -> Vec<String> {
    ids.into_iter().map(|i| format!("lead-{i}")).collect()
}

#[test]
fn a_search_finds_old_rare_and_new_common_leads_newest_first() {
    for mut database in test_databases() {
        let conn = &mut database.conn;
        add_leads(conn, 2500);
        // Older than the newest 2,000: only the index can find it.
        assert_eq!(search(conn, "Zebulon", 51, None), names([7]));
        assert_eq!(search(conn, "common", 3, None), names([2500, 2499, 2498]));
        // A page further, below the window of its own cursor.
        let before = search(conn, "common", 3, Some(600));
        assert_eq!(before, names([599, 598, 597]));
        // Newest and oldest in one answer, newest first.
        diesel::sql_query(
            "UPDATE leads SET search_text = 'zebulon again' WHERE public_id = 'lead-2490'",
        )
        .execute(conn)
        .unwrap();
        assert_eq!(search(conn, "zebulon", 51, None), names([2490, 7]));
        // The index forgot the old text and learnt the new one.
        assert_eq!(search(conn, "person 2490", 51, None), Vec::<String>::new());
        // Under three characters the index cannot serve: a scan finds it all the same.
        assert_eq!(search(conn, "ze", 51, None), names([2490, 7]));
        assert_eq!(search(conn, "nobody", 51, None), Vec::<String>::new());
    }
}

#[test]
fn on_sqlite_a_rare_term_is_read_from_the_trigram_index() {
    let mut database = test_databases().remove(0);
    let conn = &mut database.conn;
    add_leads(conn, 2500);
    let (_, run) = record(conn, |c| search(c, "zebulon", 51, None));
    let by_index = run.statements.iter().find(|sql| sql.contains("MATCH"));
    let by_index = by_index.expect("the older leads are asked of the index");
    #[derive(diesel::QueryableByName)]
    struct PlanLine {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    let plan: Vec<PlanLine> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {by_index}"))
        .load(conn)
        .unwrap();
    let plan: Vec<&str> = plan.iter().map(|l| l.detail.as_str()).collect();
    assert!(
        plan.iter().any(|d| d.contains("VIRTUAL TABLE INDEX")),
        "{plan:#?}"
    );
    assert!(
        !plan
            .iter()
            .any(|d| d.starts_with("SCAN leads ") || *d == "SCAN leads"),
        "{plan:#?}"
    );
}
