//! The hand-over of rows that only announce leads (Facebook's webhook): each becomes the jobs that
//! fetch its leads, written once (a job's id is its lead's per campaign), and the row is done.
//! What the jobs fetch comes back to the inbox as requests of the same source.

use super::db_executor::Db;
use crate::sources::submission::RequestMeta;
use crate::sources::{self, StoredRequest};
use crate::store::jobs::insert_jobs_once;
use crate::store::models::{InboxRow, NewJob};
use crate::store::write_transaction;

/// Rows that only announce leads (Facebook's) become their fetch jobs, written once each (the
/// job's id is the row's), in one transaction; the rows are then done.
pub async fn hand_over_fetches(
    db: &Db,
    fetches: Vec<(i64, Vec<NewJob>)>,
) -> (Vec<i64>, Vec<(i64, String)>) {
    if fetches.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let rows: Vec<i64> = fetches.iter().map(|(id, _)| *id).collect();
    let jobs: Vec<NewJob> = fetches.into_iter().flat_map(|(_, jobs)| jobs).collect();
    match db
        .run(move |c| write_transaction(c, |c| insert_jobs_once(c, &jobs)))
        .await
    {
        Ok(()) => (rows, Vec::new()),
        Err(e) => {
            let error = format!("fetch jobs not written: {e}");
            (
                Vec::new(),
                rows.into_iter().map(|id| (id, error.clone())).collect(),
            )
        }
    }
}

/// The fetch jobs of a row that announces leads, or `None` for a row that holds them.
pub fn fetch_jobs_of(row: &InboxRow) -> Option<Result<Vec<NewJob>, String>> {
    let source = sources::source(&row.kind).filter(|s| s.announces_leads())?;
    let meta: RequestMeta = match serde_json::from_str(&row.meta_json) {
        Ok(meta) => meta,
        Err(_) => return None,
    };
    source.fetch_jobs(&StoredRequest {
        public_id: &row.public_id,
        account_id: &row.account_id,
        body: &row.body,
        meta: &meta,
    })
}
