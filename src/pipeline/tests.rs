//! The pipeline's transaction over a row that holds several submissions (a platform's batch).

use super::forwarding::ForwardPolicy;
use super::{done_rows, persist_items, PipelineItem, PipelineSettings};
use crate::config::DatabaseTarget;
use crate::sources::submission::RequestMeta;
use crate::sources::website::{self, website_submission};
use crate::store::models::{InboxStatus, NewInboxRow};
use crate::store::schema::{inbox, lead_submissions};
use crate::store::{self, accounts, inbox as inbox_store, write_transaction, AnyConnection};
use diesel::prelude::*;

fn item(inbox_id: i64, account_id: &str, project: &str, first_of_row: bool) -> PipelineItem {
    let fields = serde_json::json!({"email": format!("{project}@example.com"), "project": project});
    let meta = RequestMeta {
        received_at_ms: chrono::Utc::now().timestamp_millis(),
        ..RequestMeta::default()
    };
    let public_id = store::new_public_id();
    PipelineItem {
        inbox_id,
        first_of_row,
        submission: website_submission(&public_id, account_id, fields.as_object().unwrap(), &meta),
        signals: Default::default(),
        campaign_id: None,
        campaign_webhook_url: None,
        crm: None,
    }
}

pub(super) fn claimed_row(conn: &mut AnyConnection, account_id: &str) -> i64 {
    let t = store::now();
    diesel::insert_into(inbox::table)
        .values(NewInboxRow {
            public_id: store::new_public_id(),
            kind: website::NAME.into(),
            account_id: account_id.into(),
            body: "{}".into(),
            meta_json: "{}".into(),
            status: InboxStatus::Pending.as_str().into(),
            attempts: 0,
            next_attempt_at: t,
            received_at: t,
        })
        .execute(conn)
        .unwrap();
    let claimed = inbox_store::claim_inbox(conn, "owner", 10, chrono::Duration::seconds(60));
    claimed.unwrap()[0].id
}

/// Settings of a development instance: leads stored, never forwarded.
pub(super) fn settings() -> PipelineSettings {
    PipelineSettings {
        policy: ForwardPolicy {
            production: false,
            duplicate_window_minutes: 30.0,
            reengage_hours: 24.0,
        },
        bot_lead_detection: true,
        default_webhook_url: None,
        dev_environment: true,
    }
}

/// A migrated SQLite database (inbox in the main file), its default account and a claimed row.
fn database_with_claimed_row() -> (
    tempfile::TempDir,
    AnyConnection,
    crate::store::models::Account,
    i64,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = store::establish(&DatabaseTarget::Sqlite(dir.path().join("t.db"))).unwrap();
    store::run_migrations(&mut conn).unwrap();
    let account = accounts::ensure_default_account(&mut conn).unwrap();
    let row = claimed_row(&mut conn, &account.id);
    (dir, conn, account, row)
}

#[test]
fn a_row_is_done_with_all_its_submissions_whatever_order_they_are_stored_in() {
    let (_dir, mut conn, account, row) = database_with_claimed_row();
    // A batch is ordered by project: here the row's second submission is stored first.
    let first = item(row, &account.id, "zeta", true);
    let second = item(row, &account.id, "alpha", false);
    let outcomes = write_transaction(&mut conn, |c| {
        persist_items(c, &[&second, &first], "owner", &settings())
    })
    .unwrap();
    assert!(
        outcomes.iter().all(|o| o.submission_public_id.is_some()),
        "{outcomes:?}"
    );
    assert_eq!(done_rows(&outcomes), vec![row]);
    inbox_store::mark_inbox_done(&mut conn, &done_rows(&outcomes)).unwrap();
    let stored: i64 = lead_submissions::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(stored, 2);
    let status: String = inbox::table
        .find(row)
        .select(inbox::status)
        .first(&mut conn)
        .unwrap();
    assert_eq!(status, InboxStatus::Done.as_str());
    // Stored for good: claimed again, the row is not there to claim.
    let again = inbox_store::claim_inbox(&mut conn, "other", 10, chrono::Duration::seconds(60));
    assert!(again.unwrap().is_empty());
}

/// The handover from the pipeline's commit to the inbox's done mark (two files on SQLite): a row
/// whose mark was lost is claimed again, found stored, marked done, and stored nothing twice.
#[test]
fn a_row_stored_whose_done_mark_was_lost_is_not_stored_again() {
    let (_dir, mut conn, account, row) = database_with_claimed_row();
    let first = item(row, &account.id, "zeta", true);
    let second = item(row, &account.id, "alpha", false);
    let items = [&first, &second];
    let stored = write_transaction(&mut conn, |c| {
        persist_items(c, &items, "owner", &settings())
    });
    assert_eq!(done_rows(&stored.unwrap()), vec![row]);
    // The done mark is lost (a crash between the two commits): the lease runs out, the row is
    // claimed again and comes back with the same submissions.
    diesel::update(inbox::table.find(row))
        .set(inbox::lease_until.eq(store::now() - chrono::Duration::seconds(1)))
        .execute(&mut conn)
        .unwrap();
    let again = inbox_store::claim_inbox(&mut conn, "owner", 10, chrono::Duration::seconds(60));
    assert_eq!(again.unwrap().len(), 1);
    let outcomes = write_transaction(&mut conn, |c| {
        persist_items(c, &items, "owner", &settings())
    })
    .unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| o.stored_before && o.submission_public_id.is_none()),
        "{outcomes:?}"
    );
    assert_eq!(done_rows(&outcomes), vec![row], "done all the same");
    let submissions: i64 = lead_submissions::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(submissions, 2, "nothing stored twice");
}
