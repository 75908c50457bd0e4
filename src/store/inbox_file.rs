//! SQLite keeps what an answer waits for (the inbox, blocked-IP leads, ignored webhooks) in a file
//! of its own beside the database, written by a connection of its own: an ack never waits for
//! the main file's write lock, which the pipeline holds for a whole batch. Readers attach the
//! file, so admin and health queries see both files under the tables' plain names.
//!
//! The pipeline's transaction (main file) and the inbox row marked done (inbox file) are two
//! commits: a row whose submissions are stored is recognised by `lead_submissions.inbox_id`
//! (unique) and never stored twice, so the handover is idempotent whichever commit is lost.

use super::{establish, AnyConnection, DbError};
use crate::config::DatabaseTarget;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::path::{Path, PathBuf};

pub const SQLITE_INBOX_MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("migrations/sqlite_inbox");

/// The schema name the inbox file has on connections that attach it.
const SCHEMA: &str = "inbox_file";

/// The tables that live in the inbox file, with their columns (as created in both files).
const TABLES: [(&str, &str); 3] = [
    (
        "inbox",
        "id, public_id, kind, account_id, body, meta_json, status, attempts, next_attempt_at, \
         lease_owner, lease_until, last_error, received_at, processed_at",
    ),
    (
        "blocked_ip_leads",
        "id, ip, account_id, payload_json, created_at",
    ),
    (
        "ignored_webhooks",
        "id, platform, account_id, campaign_id, reason, payload_json, received_at",
    ),
];

/// `data/leadgate.db` → `data/leadgate-inbox.db`.
pub fn inbox_file_of(main: &Path) -> PathBuf {
    let stem = main
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "leadgate".into());
    let name = match main.extension() {
        Some(ext) => format!("{stem}-inbox.{}", ext.to_string_lossy()),
        None => format!("{stem}-inbox"),
    };
    main.with_file_name(name)
}

/// Opens the inbox file itself (its writer's connection).
pub fn establish_inbox_file(main: &Path) -> Result<AnyConnection, DbError> {
    establish(&DatabaseTarget::Sqlite(inbox_file_of(main)))
}

/// Makes the inbox file's tables visible on a main-file connection.
pub fn attach_inbox_file(conn: &mut AnyConnection, main: &Path) -> Result<(), DbError> {
    diesel::sql_query(format!("ATTACH DATABASE ? AS {SCHEMA}"))
        .bind::<Text, _>(inbox_file_of(main).to_string_lossy().into_owned())
        .execute(conn)?;
    Ok(())
}

/// At start, before anything else opens the files: the inbox file's migrations; the rows of a
/// database from before the split moved over (copied, then dropped from the main file, so a
/// crash in between copies them again, each once); and the inbox's ids kept above every id a
/// stored submission names, so a new row is never mistaken for a stored one — also when the
/// inbox file was deleted. Returns how many rows moved.
pub fn prepare_inbox_file(main: &Path) -> Result<usize, DbError> {
    let mut inbox = establish_inbox_file(main)?;
    if let AnyConnection::Sqlite(c) = &mut inbox {
        c.run_pending_migrations(SQLITE_INBOX_MIGRATIONS)
            .map_err(|e| DbError::Connection(format!("inbox file migration failed: {e}")))?;
    }
    drop(inbox);
    let mut conn = establish(&DatabaseTarget::Sqlite(main.to_path_buf()))?;
    attach_inbox_file(&mut conn, main)?;
    // The move writes the inbox file through this connection: as durably as its own writer.
    conn.batch_execute(&format!("PRAGMA {SCHEMA}.synchronous = FULL"))?;
    let mut moved = 0;
    for (table, columns) in TABLES {
        if !main_has_table(&mut conn, table)? {
            continue;
        }
        if table == "inbox" {
            keep_ids_above(
                &mut conn,
                "SELECT MAX(seq) AS n FROM main.sqlite_sequence WHERE name = 'inbox'",
            )?;
        }
        moved += super::write_transaction(&mut conn, |c| {
            diesel::sql_query(format!(
                "INSERT OR IGNORE INTO {SCHEMA}.{table} ({columns}) SELECT {columns} FROM main.{table}"
            ))
            .execute(c)
        })?;
        // Dropped only when every row is in the inbox file as it is here: a row written in
        // between (an old daemon still running) or a clashing one (a stale inbox file) stops
        // the start instead of vanishing.
        super::write_transaction(&mut conn, |c| {
            let missing = diesel::sql_query(format!(
                "SELECT COUNT(*) AS n FROM main.{table} m WHERE NOT EXISTS \
                 (SELECT 1 FROM {SCHEMA}.{table} f WHERE f.id = m.id AND {same})",
                same = same_row(table)
            ))
            .get_result::<Count>(c)?
            .n;
            if missing > 0 {
                return Err(DbError::Invalid(format!(
                    "{missing} rows of {table} could not be moved to {}: is another leadgate \
                     still running on this database, or is the inbox file from another one?",
                    inbox_file_of(main).display()
                )));
            }
            Ok(c.batch_execute(&format!("DROP TABLE main.{table}"))?)
        })?;
    }
    keep_ids_above(
        &mut conn,
        "SELECT MAX(inbox_id) AS n FROM main.lead_submissions",
    )?;
    conn.batch_execute(&format!("DETACH DATABASE {SCHEMA}"))?;
    Ok(moved)
}

/// What tells a copied row from another with the same id.
fn same_row(table: &str) -> &'static str {
    match table {
        "inbox" => "f.public_id = m.public_id",
        "blocked_ip_leads" => "f.ip = m.ip AND f.created_at = m.created_at",
        _ => "f.received_at = m.received_at AND f.reason = m.reason",
    }
}

fn main_has_table(conn: &mut AnyConnection, table: &str) -> Result<bool, DbError> {
    let n = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM main.sqlite_master WHERE type = 'table' AND name = ?",
    )
    .bind::<Text, _>(table)
    .get_result::<Count>(conn)?
    .n;
    Ok(n > 0)
}

/// Raises the inbox's id sequence to at least `floor_query`'s `n` (the main file's old inbox
/// sequence, or the largest `inbox_id` a submission names).
fn keep_ids_above(conn: &mut AnyConnection, floor_query: &str) -> Result<(), DbError> {
    let floor = diesel::sql_query(format!("SELECT COALESCE(({floor_query}), 0) AS n"))
        .get_result::<Count>(conn)?
        .n;
    super::write_transaction(conn, |c| {
        diesel::sql_query(format!(
            "INSERT INTO {SCHEMA}.sqlite_sequence (name, seq) SELECT 'inbox', 0 \
             WHERE NOT EXISTS (SELECT 1 FROM {SCHEMA}.sqlite_sequence WHERE name = 'inbox')"
        ))
        .execute(c)?;
        diesel::sql_query(format!(
            "UPDATE {SCHEMA}.sqlite_sequence SET seq = ? WHERE name = 'inbox' AND seq < ?"
        ))
        .bind::<BigInt, _>(floor)
        .bind::<BigInt, _>(floor)
        .execute(c)
    })?;
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{run_migrations, schema::inbox};

    fn count(conn: &mut AnyConnection, sql: &str) -> i64 {
        diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
    }

    /// A new inbox row's id, written through the inbox file's own connection.
    fn next_inbox_id(main: &Path) -> i64 {
        let mut inbox = establish_inbox_file(main).unwrap();
        diesel::sql_query(
            "INSERT INTO inbox (public_id, kind, account_id, body, meta_json, next_attempt_at, \
             received_at) VALUES (hex(randomblob(8)), 'website', 'a', '{}', '{}', \
             CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        )
        .execute(&mut inbox)
        .unwrap();
        inbox::table
            .select(diesel::dsl::max(inbox::id))
            .first::<Option<i64>>(&mut inbox)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_database_from_before_moves_its_inbox_once_and_ids_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("leadgate.db");
        let mut conn = establish(&DatabaseTarget::Sqlite(main.clone())).unwrap();
        let fixture = include_str!("../../tests/fixtures/upgrade/sqlite.sql");
        conn.batch_execute(&fixture.replace("RECEIVER_URL", "http://127.0.0.1:9/hook"))
            .unwrap();
        run_migrations(&mut conn).unwrap();
        let rows = count(&mut conn, "SELECT COUNT(*) AS n FROM inbox");
        let blocked = count(&mut conn, "SELECT COUNT(*) AS n FROM blocked_ip_leads");
        let stored_ids = "SELECT MAX(inbox_id) AS n FROM lead_submissions";
        let highest_stored = count(&mut conn, stored_ids);
        assert!(rows > 0 && highest_stored > 0);
        // The newest stored row is purged: its id must never come back.
        conn.batch_execute("DELETE FROM inbox WHERE id = (SELECT MAX(id) FROM inbox)")
            .unwrap();
        drop(conn);

        assert_eq!(
            prepare_inbox_file(&main).unwrap() as i64,
            rows - 1 + blocked
        );
        assert_eq!(prepare_inbox_file(&main).unwrap(), 0, "moved once");
        let mut conn = establish(&DatabaseTarget::Sqlite(main.clone())).unwrap();
        let left = "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'inbox'";
        assert_eq!(count(&mut conn, left), 0, "the main file holds no inbox");
        let mut inbox = establish_inbox_file(&main).unwrap();
        assert_eq!(
            count(&mut inbox, "SELECT COUNT(*) AS n FROM inbox"),
            rows - 1
        );
        assert!(next_inbox_id(&main) > highest_stored.max(rows));

        // An operator deletes the inbox file: new rows still get ids no submission names.
        drop(inbox);
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{}{suffix}", inbox_file_of(&main).display());
            let _ = std::fs::remove_file(file);
        }
        prepare_inbox_file(&main).unwrap();
        assert!(next_inbox_id(&main) > highest_stored);
    }

    /// A stale inbox file (another database's) holding a different row under an id the old
    /// inbox uses: the start stops and the old inbox stays where it is, nothing dropped.
    #[test]
    fn a_clashing_inbox_file_stops_the_move_instead_of_losing_rows() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("leadgate.db");
        let mut conn = establish(&DatabaseTarget::Sqlite(main.clone())).unwrap();
        run_migrations(&mut conn).unwrap();
        conn.batch_execute(
            "INSERT INTO inbox (id, public_id, kind, account_id, body, meta_json, \
             next_attempt_at, received_at) VALUES (1, 'ours', 'website', 'a', '{}', '{}', \
             CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        )
        .unwrap();
        let mut stale = establish_inbox_file(&main).unwrap();
        if let AnyConnection::Sqlite(c) = &mut stale {
            c.run_pending_migrations(SQLITE_INBOX_MIGRATIONS).unwrap();
        }
        stale
            .batch_execute(
                "INSERT INTO inbox (id, public_id, kind, account_id, body, meta_json, \
                 next_attempt_at, received_at) VALUES (1, 'theirs', 'website', 'a', '{}', '{}', \
                 CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            )
            .unwrap();
        let error = prepare_inbox_file(&main).unwrap_err().to_string();
        assert!(error.contains("could not be moved"), "{error}");
        assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM main.inbox"), 1);
    }

    #[test]
    fn the_inbox_file_sits_beside_the_database() {
        assert_eq!(
            inbox_file_of(Path::new("data/leadgate.db")),
            Path::new("data/leadgate-inbox.db")
        );
        assert_eq!(inbox_file_of(Path::new("/x/lg")), Path::new("/x/lg-inbox"));
    }
}
