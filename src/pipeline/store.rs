//! The pipeline's writes for a wave of planned submissions (`plan.rs`), in the transaction that
//! stores them: ids allocated up front, then new leads, submissions, keys, changes to existing
//! leads and jobs (on PostgreSQL each as one statement for the wave); and the read that finds rows
//! stored before (the inbox row is marked done by the Intake once this commits).

use super::plan::{LeadUpdate, Planned};
use super::PersistOutcome;
use crate::store::schema::*;
use crate::store::{AnyConnection, DbError};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

/// Rows per INSERT statement: well under both backends' limits on bound parameters (SQLite
/// 32,766; PostgreSQL 65,535) at about twenty columns a row.
const ROWS_PER_INSERT: usize = 500;

/// Inserts rows: on PostgreSQL as one statement per `ROWS_PER_INSERT` (a round trip each); on
/// SQLite, and a single row, one statement per row, prepared once and kept (a multi-row INSERT's
/// text depends on its number of rows, so SQLite parses and plans it, triggers included, per call:
/// 1.25x slower there, measured). The multi-backend connection has no batch insert.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let rows = $rows;
        match (&mut *$conn, rows.len()) {
            (AnyConnection::Postgresql(c), 2..) => {
                for chunk in rows.chunks(ROWS_PER_INSERT) {
                    diesel::insert_into($table).values(chunk).execute(c)?;
                }
            }
            (conn, _) => {
                for row in &rows {
                    diesel::insert_into($table).values(row).execute(conn)?;
                }
            }
        }
        Ok::<(), DbError>(())
    }};
}

/// The tables whose ids the pipeline allocates before it writes.
#[derive(Debug, Clone, Copy)]
pub enum IdsOf {
    Leads,
    LeadSubmissions,
}

impl IdsOf {
    fn table(self) -> &'static str {
        match self {
            IdsOf::Leads => "leads",
            IdsOf::LeadSubmissions => "lead_submissions",
        }
    }
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// `n` new ids of the table, ascending. On PostgreSQL from its sequence; on SQLite above the
/// highest id the table ever had (`sqlite_sequence`, or a higher id a restore left), which the one writer holding the write
/// transaction alone can raise (an explicit id above it raises it).
pub fn allocate_ids(conn: &mut AnyConnection, of: IdsOf, n: usize) -> Result<Vec<i64>, DbError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let table = of.table();
    match conn {
        AnyConnection::Postgresql(c) => {
            let sql = format!(
                "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id
                 FROM generate_series(1, $1)"
            );
            let mut ids: Vec<i64> = diesel::sql_query(sql)
                .bind::<BigInt, _>(n as i64)
                .load::<Id>(c)?
                .into_iter()
                .map(|row| row.id)
                .collect();
            ids.sort_unstable();
            Ok(ids)
        }
        AnyConnection::Sqlite(c) => {
            let sql = format!(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0),
                           COALESCE((SELECT MAX(id) FROM {table}), 0)) AS id"
            );
            let highest = diesel::sql_query(sql).get_result::<Id>(c)?.id;
            Ok((1..=n as i64).map(|i| highest + i).collect())
        }
    }
}

/// Writes a wave's planned submissions; returns their outcomes in order.
pub fn write_wave(
    conn: &mut AnyConnection,
    planned: Vec<Planned>,
    t: chrono::NaiveDateTime,
) -> Result<Vec<PersistOutcome>, DbError> {
    let mut new_leads = Vec::new();
    let mut submissions = Vec::with_capacity(planned.len());
    let mut keys = Vec::new();
    let mut updates = Vec::new();
    let mut jobs = Vec::new();
    let mut outcomes = Vec::with_capacity(planned.len());
    for p in planned {
        new_leads.extend(p.new_lead);
        submissions.push(p.submission);
        keys.extend(p.keys);
        updates.extend(p.lead_update);
        jobs.extend(p.jobs);
        outcomes.push(p.outcome);
    }
    insert_rows!(conn, leads::table, new_leads)?;
    insert_rows!(conn, lead_submissions::table, submissions)?;
    insert_keys(conn, &keys)?;
    update_leads(conn, &updates, t)?;
    insert_rows!(conn, jobs::table, jobs)?;
    Ok(outcomes)
}

/// A lead's keys are kept once: a key it has already is left as it is.
fn insert_keys(
    conn: &mut AnyConnection,
    keys: &[crate::store::models::NewLeadKey],
) -> Result<(), DbError> {
    match conn {
        AnyConnection::Postgresql(c) => {
            for chunk in keys.chunks(ROWS_PER_INSERT) {
                let insert = diesel::insert_into(lead_keys::table).values(chunk);
                insert.on_conflict_do_nothing().execute(c)?;
            }
        }
        AnyConnection::Sqlite(c) => {
            for key in keys {
                let insert = diesel::insert_into(lead_keys::table).values(key);
                insert.on_conflict_do_nothing().execute(c)?;
            }
        }
    }
    Ok(())
}

/// The wave's existing leads take their submissions' changes: on PostgreSQL in one statement
/// (a wave joins each lead once), on SQLite one statement each (in-process, no round trips).
fn update_leads(
    conn: &mut AnyConnection,
    updates: &[LeadUpdate],
    t: chrono::NaiveDateTime,
) -> Result<(), DbError> {
    match conn {
        AnyConnection::Postgresql(c) if updates.len() > 1 => {
            for chunk in updates.chunks(ROWS_PER_INSERT) {
                update_leads_at_once(c, chunk, t)?;
            }
            Ok(())
        }
        _ => updates.iter().try_for_each(|u| update_lead(conn, u, t)),
    }
}

fn update_leads_at_once(
    conn: &mut diesel::PgConnection,
    updates: &[LeadUpdate],
    t: chrono::NaiveDateTime,
) -> Result<(), DbError> {
    use diesel::sql_types::{Array, Nullable, Text, Timestamp};
    let column = |f: fn(&LeadUpdate) -> Option<String>| updates.iter().map(f).collect::<Vec<_>>();
    diesel::sql_query(
        "UPDATE leads SET name = v.name, email = v.email, phone_e164 = v.phone_e164,
             submission_count = leads.submission_count + 1, data_json = v.data_json,
             search_text = v.search_text, last_submitted_at = v.last_submitted_at, updated_at = $8
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::timestamp[])
             AS v(id, name, email, phone_e164, data_json, search_text, last_submitted_at)
         WHERE leads.id = v.id",
    )
    .bind::<Array<BigInt>, _>(updates.iter().map(|u| u.lead_id).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(column(|u| u.name.clone()))
    .bind::<Array<Nullable<Text>>, _>(column(|u| u.email.clone()))
    .bind::<Array<Nullable<Text>>, _>(column(|u| u.phone_e164.clone()))
    .bind::<Array<Text>, _>(
        updates
            .iter()
            .map(|u| u.data_json.clone())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Text>, _>(
        updates
            .iter()
            .map(|u| u.search_text.clone())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Timestamp>, _>(
        updates
            .iter()
            .map(|u| u.last_submitted_at)
            .collect::<Vec<_>>(),
    )
    .bind::<Timestamp, _>(t)
    .execute(conn)?;
    Ok(())
}

fn update_lead(
    conn: &mut AnyConnection,
    update: &LeadUpdate,
    t: chrono::NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(leads::table.find(update.lead_id))
        .set((
            leads::name.eq(&update.name),
            leads::email.eq(&update.email),
            leads::phone_e164.eq(&update.phone_e164),
            leads::submission_count.eq(leads::submission_count + 1),
            leads::data_json.eq(&update.data_json),
            leads::search_text.eq(&update.search_text),
            leads::last_submitted_at.eq(update.last_submitted_at),
            leads::updated_at.eq(t),
        ))
        .execute(conn)?;
    Ok(())
}

/// Which of the platform lead keys are stored already.
pub fn platform_leads_stored(
    conn: &mut AnyConnection,
    keys: &[String],
) -> Result<Vec<String>, DbError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(lead_submissions::table
        .filter(lead_submissions::platform_lead_key.eq_any(keys))
        .select(lead_submissions::platform_lead_key.assume_not_null())
        .limit(keys.len() as i64)
        .load(conn)?)
}

/// Which of these inbox rows (sorted) have their submissions stored already: a row's first
/// submission carries its id, and a row's submissions are stored in one transaction.
pub fn rows_stored_already(
    conn: &mut AnyConnection,
    inbox_ids: &[i64],
) -> Result<Vec<i64>, DbError> {
    let mut stored: Vec<i64> = lead_submissions::table
        .filter(lead_submissions::inbox_id.eq_any(inbox_ids))
        .select(lead_submissions::inbox_id.assume_not_null())
        .limit(inbox_ids.len() as i64)
        .load(conn)?;
    stored.sort_unstable();
    Ok(stored)
}
