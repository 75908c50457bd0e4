//! The pipeline's transaction over a row that holds several submissions (a platform's batch).

use super::forwarding::ForwardPolicy;
use super::{persist_items, PipelineItem, PipelineSettings};
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

#[test]
fn a_row_is_done_with_all_its_submissions_whatever_order_they_are_stored_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = store::establish(&DatabaseTarget::Sqlite(dir.path().join("t.db"))).unwrap();
    store::run_migrations(&mut conn).unwrap();
    let account = accounts::ensure_default_account(&mut conn).unwrap();
    let row = claimed_row(&mut conn, &account.id);
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
