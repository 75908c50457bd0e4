//! The reads of a wave (see `waves.rs`): what the database knows of each submission's person
//! before it is stored. Every read is bounded (`history.rs`); on PostgreSQL a wave's reads go in a
//! few statements for all of its submissions (`gather_pg.rs`), on SQLite (in-process, no round
//! trips) one submission at a time.

use super::history::{self, PersonHistory};
use super::PipelineItem;
use crate::sources::submission::Submission;
use crate::store::models::Lead;
use crate::store::schema::leads;
use crate::store::{AnyConnection, DbError};
use diesel::prelude::*;

/// What was read for one submission.
#[derive(Debug, Clone)]
pub struct Gathered {
    /// The project's lead the submission joins, as it stands.
    pub existing: Option<Lead>,
    /// Joined by client IP alone: it is the lead's, but does not speak for the person.
    pub joined_by_ip_only: bool,
    /// The person's submissions in the hour before this one (visitor id, else client IP), capped.
    pub recent_submissions: i64,
    /// Project names of the account's other leads that share a key.
    pub related_projects: Vec<String>,
}

pub fn gather(conn: &mut AnyConnection, items: &[&PipelineItem]) -> Result<Vec<Gathered>, DbError> {
    if items.len() > 1 && !crate::store::is_sqlite(conn) {
        return super::gather_pg::gather_all(conn, items);
    }
    items
        .iter()
        .map(|item| gather_one(conn, &item.submission))
        .collect()
}

/// The reads of one submission, one statement at a time.
pub fn gather_one(conn: &mut AnyConnection, sub: &Submission) -> Result<Gathered, DbError> {
    let history = PersonHistory::load(conn, sub)?;
    let (lead_id, joined_by_ip_only) = match history.lead_in_project {
        Some(id) => (Some(id), false),
        None => {
            let by_ip = history::lead_from_client_ip(conn, sub)?;
            (by_ip, by_ip.is_some())
        }
    };
    let existing = match lead_id {
        Some(id) => Some(leads::table.find(id).get_result::<Lead>(conn)?),
        None => None,
    };
    let recent_submissions = match history.recent_visitor_submissions {
        Some(count) => count,
        None => history::count_recent_from_ip(conn, sub)?,
    };
    Ok(Gathered {
        existing,
        joined_by_ip_only,
        recent_submissions,
        related_projects: history::project_names(conn, history.leads_in_other_projects)?,
    })
}
