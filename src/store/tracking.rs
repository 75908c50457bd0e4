//! Visitor tracking in the database: a batch of events written in one transaction (the touched
//! sessions and visitors read by key, changed in memory by `tracking::apply`, written back as
//! upserts), a lead's visitor totals read by key, and old sessions and page views pruned.

use super::schema::{page_views, visitor_sessions, visitors};
use super::{write_transaction, AnyConnection, DbError};
use crate::tracking::{
    apply, PageView, SessionState, Touched, TrackEvent, VisitorActivity, VisitorTotals,
};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use std::collections::HashMap;

/// Rows per multi-row statement on PostgreSQL (SQLite runs one cached statement per row).
const ROWS_PER_STATEMENT: usize = 500;

#[derive(Insertable, Queryable)]
#[diesel(table_name = visitors)]
struct VisitorRow {
    visitor_id: String,
    sessions: i64,
    page_views: i64,
    seconds_on_site: i64,
    time_zone: Option<String>,
    first_seen_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
}

#[derive(Insertable, Queryable, QueryableByName)]
#[diesel(table_name = visitor_sessions)]
struct SessionRow {
    visitor_id: String,
    session_id: String,
    started_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    page_views: i64,
    seconds_on_site: i64,
    landing_url: Option<String>,
    referrer: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    time_zone: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = page_views)]
struct NewPageViewRow {
    visitor_id: String,
    session_id: String,
    url: String,
    title: Option<String>,
    referrer: Option<String>,
    viewed_at: NaiveDateTime,
}

/// PostgreSQL: `$rows` (a Vec of `(stored, row)`) as multi-row upserts on `$target` setting
/// `$set`. SQLite: one cached INSERT or UPDATE per row, as the read found it (an upsert's
/// statement is prepared again at every call there, most of a row's cost).
macro_rules! write_rows {
    ($conn:expr, $table:expr, $rows:expr, $target:expr, $set:expr, $update:expr) => {{
        match &mut *$conn {
            AnyConnection::Postgresql(c) => {
                let rows: Vec<_> = $rows.iter().map(|(_, row)| row).collect();
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    let chunk: Vec<_> = chunk.iter().map(|row| *row).collect();
                    diesel::insert_into($table)
                        .values(chunk)
                        .on_conflict($target)
                        .do_update()
                        .set($set)
                        .execute(c)?;
                }
            }
            AnyConnection::Sqlite(c) => {
                for (stored, row) in &$rows {
                    match stored {
                        true => $update(c, row)?,
                        false => diesel::insert_into($table).values(row).execute(c)?,
                    };
                }
            }
        }
        Ok::<(), DbError>(())
    }};
}

/// Stores a batch of events in one transaction.
pub fn write_events(conn: &mut AnyConnection, events: &[TrackEvent]) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        let mut touched = read_touched(conn, events)?;
        let read = ReadCounts::of(&touched);
        let views = apply(&mut touched, events);
        write_visitors(conn, touched.visitors.into_values(), &read)?;
        write_sessions(conn, touched.sessions.into_values(), &read)?;
        write_page_views(conn, views)
    })
}

/// The counters as read, so that PostgreSQL adds what this batch added rather than overwrite
/// them: another instance may write the same visitor's events at the same moment.
#[derive(Default)]
struct ReadCounts {
    visitors: HashMap<String, [i64; 3]>,
    sessions: HashMap<(String, String), [i64; 2]>,
}

impl ReadCounts {
    fn of(touched: &Touched) -> ReadCounts {
        ReadCounts {
            visitors: touched
                .visitors
                .iter()
                .map(|(id, v)| (id.clone(), [v.sessions, v.page_views, v.seconds_on_site]))
                .collect(),
            sessions: touched
                .sessions
                .iter()
                .map(|(key, s)| (key.clone(), [s.page_views, s.seconds_on_site]))
                .collect(),
        }
    }
}

/// The sessions and visitors the events name, as stored (one read each for the whole batch).
fn read_touched(conn: &mut AnyConnection, events: &[TrackEvent]) -> Result<Touched, DbError> {
    let mut visitor_ids: Vec<&str> = events.iter().map(|e| e.visitor_id.as_str()).collect();
    visitor_ids.sort_unstable();
    visitor_ids.dedup();
    let sessions = read_sessions(conn, events)?;
    let totals: Vec<VisitorRow> = visitors::table
        .filter(visitors::visitor_id.eq_any(&visitor_ids))
        .load(conn)?;
    Ok(Touched {
        sessions: sessions
            .into_iter()
            .map(|s| {
                (
                    (s.visitor_id.clone(), s.session_id.clone()),
                    session_state(s),
                )
            })
            .collect(),
        visitors: totals
            .into_iter()
            .map(|v| (v.visitor_id.clone(), visitor_totals(v)))
            .collect(),
    })
}

/// The batch's sessions by their keys: one statement on PostgreSQL (the key pairs as arrays), one
/// cached lookup per key on SQLite (two `IN` lists there would probe every pairing of them).
fn read_sessions(
    conn: &mut AnyConnection,
    events: &[TrackEvent],
) -> Result<Vec<SessionRow>, DbError> {
    let mut keys: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.visitor_id.as_str(), e.session_id.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    match conn {
        AnyConnection::Postgresql(c) => {
            use diesel::sql_types::{Array, Text};
            let (visitors, sessions): (Vec<&str>, Vec<&str>) = keys.into_iter().unzip();
            Ok(diesel::sql_query(
                "SELECT s.* FROM visitor_sessions s \
                 JOIN unnest($1::text[], $2::text[]) AS k(visitor_id, session_id) \
                 ON s.visitor_id = k.visitor_id AND s.session_id = k.session_id",
            )
            .bind::<Array<Text>, _>(visitors)
            .bind::<Array<Text>, _>(sessions)
            .load(c)?)
        }
        AnyConnection::Sqlite(c) => {
            let mut rows = Vec::new();
            for (visitor, session) in keys {
                rows.extend(
                    visitor_sessions::table
                        .find((visitor, session))
                        .first::<SessionRow>(c)
                        .optional()?,
                );
            }
            Ok(rows)
        }
    }
}

fn session_state(s: SessionRow) -> SessionState {
    SessionState {
        visitor_id: s.visitor_id,
        session_id: s.session_id,
        started_at: s.started_at,
        last_seen_at: s.last_seen_at,
        page_views: s.page_views,
        seconds_on_site: s.seconds_on_site,
        landing_url: s.landing_url,
        referrer: s.referrer,
        ip: s.ip,
        user_agent: s.user_agent,
        time_zone: s.time_zone,
        stored: true,
    }
}

fn visitor_totals(v: VisitorRow) -> VisitorTotals {
    VisitorTotals {
        visitor_id: v.visitor_id,
        sessions: v.sessions,
        page_views: v.page_views,
        seconds_on_site: v.seconds_on_site,
        time_zone: v.time_zone,
        first_seen_at: v.first_seen_at,
        last_seen_at: v.last_seen_at,
        stored: true,
    }
}

fn write_visitors(
    conn: &mut AnyConnection,
    totals: impl Iterator<Item = VisitorTotals>,
    read: &ReadCounts,
) -> Result<(), DbError> {
    use visitors::dsl as v;
    // PostgreSQL adds the batch's part to the counters; SQLite (one instance) writes them whole.
    let additive = !super::is_sqlite(conn);
    let mut rows: Vec<(bool, VisitorRow)> = totals
        .map(|t| {
            let before = match additive {
                true => read
                    .visitors
                    .get(&t.visitor_id)
                    .copied()
                    .unwrap_or_default(),
                false => [0; 3],
            };
            let row = VisitorRow {
                visitor_id: t.visitor_id,
                sessions: t.sessions - before[0],
                page_views: t.page_views - before[1],
                seconds_on_site: t.seconds_on_site - before[2],
                time_zone: t.time_zone,
                first_seen_at: t.first_seen_at,
                last_seen_at: t.last_seen_at,
            };
            (t.stored, row)
        })
        .collect();
    // In key order, so two writers' transactions take their row locks in the same order.
    rows.sort_unstable_by(|a, b| a.1.visitor_id.cmp(&b.1.visitor_id));
    let update = |c: &mut diesel::SqliteConnection, row: &VisitorRow| {
        diesel::update(v::visitors.find(&row.visitor_id))
            .set((
                v::sessions.eq(row.sessions),
                v::page_views.eq(row.page_views),
                v::seconds_on_site.eq(row.seconds_on_site),
                v::time_zone.eq(&row.time_zone),
                v::first_seen_at.eq(row.first_seen_at),
                v::last_seen_at.eq(row.last_seen_at),
            ))
            .execute(c)
    };
    write_rows!(
        conn,
        v::visitors,
        rows,
        v::visitor_id,
        (
            v::sessions.eq(v::sessions + excluded(v::sessions)),
            v::page_views.eq(v::page_views + excluded(v::page_views)),
            v::seconds_on_site.eq(v::seconds_on_site + excluded(v::seconds_on_site)),
            v::time_zone.eq(excluded(v::time_zone)),
            v::last_seen_at.eq(excluded(v::last_seen_at)),
        ),
        update
    )
}

fn write_sessions(
    conn: &mut AnyConnection,
    sessions: impl Iterator<Item = SessionState>,
    read: &ReadCounts,
) -> Result<(), DbError> {
    use visitor_sessions::dsl as s;
    let additive = !super::is_sqlite(conn);
    let mut rows: Vec<(bool, SessionRow)> = sessions
        .map(|st| {
            let key = (st.visitor_id.clone(), st.session_id.clone());
            let before = match additive {
                true => read.sessions.get(&key).copied().unwrap_or_default(),
                false => [0; 2],
            };
            let row = SessionRow {
                visitor_id: st.visitor_id,
                session_id: st.session_id,
                started_at: st.started_at,
                last_seen_at: st.last_seen_at,
                page_views: st.page_views - before[0],
                seconds_on_site: st.seconds_on_site - before[1],
                landing_url: st.landing_url,
                referrer: st.referrer,
                ip: st.ip,
                user_agent: st.user_agent,
                time_zone: st.time_zone,
            };
            (st.stored, row)
        })
        .collect();
    rows.sort_unstable_by(|(_, a), (_, b)| {
        (&a.visitor_id, &a.session_id).cmp(&(&b.visitor_id, &b.session_id))
    });
    let update = |c: &mut diesel::SqliteConnection, row: &SessionRow| {
        diesel::update(s::visitor_sessions.find((&row.visitor_id, &row.session_id)))
            .set((
                s::started_at.eq(row.started_at),
                s::last_seen_at.eq(row.last_seen_at),
                s::page_views.eq(row.page_views),
                s::seconds_on_site.eq(row.seconds_on_site),
                s::time_zone.eq(&row.time_zone),
            ))
            .execute(c)
    };
    write_rows!(
        conn,
        s::visitor_sessions,
        rows,
        (s::visitor_id, s::session_id),
        (
            s::last_seen_at.eq(excluded(s::last_seen_at)),
            s::page_views.eq(s::page_views + excluded(s::page_views)),
            s::seconds_on_site.eq(s::seconds_on_site + excluded(s::seconds_on_site)),
            s::time_zone.eq(excluded(s::time_zone)),
        ),
        update
    )
}

fn write_page_views(conn: &mut AnyConnection, views: Vec<PageView>) -> Result<(), DbError> {
    let rows: Vec<NewPageViewRow> = views
        .into_iter()
        .map(|p| NewPageViewRow {
            visitor_id: p.visitor_id,
            session_id: p.session_id,
            url: p.url,
            title: p.title,
            referrer: p.referrer,
            viewed_at: p.viewed_at,
        })
        .collect();
    match &mut *conn {
        AnyConnection::Postgresql(c) => {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                diesel::insert_into(page_views::table)
                    .values(chunk)
                    .execute(c)?;
            }
        }
        AnyConnection::Sqlite(c) => {
            for row in &rows {
                diesel::insert_into(page_views::table)
                    .values(row)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// The tracked totals of these visitors (those tracking has seen), by visitor id.
pub fn activity_of(
    conn: &mut AnyConnection,
    visitor_ids: &[String],
) -> Result<HashMap<String, VisitorActivity>, DbError> {
    if visitor_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<VisitorRow> = visitors::table
        .filter(visitors::visitor_id.eq_any(visitor_ids))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|v| {
            let activity = VisitorActivity {
                sessions: v.sessions,
                page_views: v.page_views,
                seconds_on_site: v.seconds_on_site,
                time_zone: v.time_zone,
            };
            (v.visitor_id, activity)
        })
        .collect())
}

/// Deletes up to `limit` page views, sessions and visitors last seen before `before`; returns how
/// many rows went.
pub fn prune_tracking(
    conn: &mut AnyConnection,
    before: NaiveDateTime,
    limit: i64,
) -> Result<usize, DbError> {
    write_transaction(conn, |conn| {
        let old_views = page_views::table
            .select(page_views::id)
            .filter(page_views::viewed_at.lt(before))
            .order(page_views::viewed_at.asc())
            .limit(limit)
            .load::<i64>(conn)?;
        let views = diesel::delete(page_views::table.filter(page_views::id.eq_any(&old_views)))
            .execute(conn)?;
        let old_sessions: Vec<(String, String)> = visitor_sessions::table
            .select((visitor_sessions::visitor_id, visitor_sessions::session_id))
            .filter(visitor_sessions::last_seen_at.lt(before))
            .order(visitor_sessions::last_seen_at.asc())
            .limit(limit)
            .load(conn)?;
        let old_visitors: Vec<String> = visitors::table
            .select(visitors::visitor_id)
            .filter(visitors::last_seen_at.lt(before))
            .order(visitors::last_seen_at.asc())
            .limit(limit)
            .load(conn)?;
        let gone =
            diesel::delete(visitors::table.filter(visitors::visitor_id.eq_any(&old_visitors)))
                .execute(conn)?;
        let mut sessions = 0;
        for (visitor, session) in &old_sessions {
            sessions += diesel::delete(
                visitor_sessions::table
                    .filter(visitor_sessions::visitor_id.eq(visitor))
                    .filter(visitor_sessions::session_id.eq(session)),
            )
            .execute(conn)?;
        }
        Ok(views + sessions + gone)
    })
}

/// Sessions of a lead's visitors shown on its timeline (the latest), and pages per session.
pub const TIMELINE_SESSIONS: i64 = 50;
const TIMELINE_PAGES: i64 = 1_000;

/// A tracked session with its pages, for a lead's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedSession {
    pub session: SessionState,
    /// (viewed at, url, title), in time order.
    pub pages: Vec<(NaiveDateTime, String, Option<String>)>,
}

/// The latest sessions of these visitors, each with its pages (bounded: a visitor with years of
/// history costs what one with a day does).
pub fn sessions_of_visitors(
    conn: &mut AnyConnection,
    visitor_ids: &[String],
) -> Result<Vec<TrackedSession>, DbError> {
    if visitor_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sessions: Vec<SessionRow> = visitor_sessions::table
        .filter(visitor_sessions::visitor_id.eq_any(visitor_ids))
        .order(visitor_sessions::started_at.desc())
        .limit(TIMELINE_SESSIONS)
        .load(conn)?;
    let oldest = sessions.iter().map(|s| s.started_at).min();
    let Some(oldest) = oldest else {
        return Ok(Vec::new());
    };
    let mut pages: Vec<(String, String, NaiveDateTime, String, Option<String>)> = page_views::table
        .filter(page_views::visitor_id.eq_any(visitor_ids))
        .filter(page_views::viewed_at.ge(oldest))
        .order(page_views::viewed_at.desc())
        .limit(TIMELINE_PAGES)
        .select((
            page_views::visitor_id,
            page_views::session_id,
            page_views::viewed_at,
            page_views::url,
            page_views::title,
        ))
        .load(conn)?;
    pages.reverse();
    Ok(sessions
        .into_iter()
        .map(|s| {
            let of_session = pages
                .iter()
                .filter(|p| p.0 == s.visitor_id && p.1 == s.session_id)
                .map(|p| (p.2, p.3.clone(), p.4.clone()))
                .collect();
            TrackedSession {
                session: session_state(s),
                pages: of_session,
            }
        })
        .collect())
}
