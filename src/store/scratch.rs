//! A PostgreSQL database of its own on a given server, dropped with this value: for the tests and
//! the benchmark, whose runs must never share a database.

use diesel::{Connection, RunQueryDsl};

pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

impl ScratchDatabase {
    /// `server_url` names any database on the server (the connection that creates the new one);
    /// the new one's name starts with `prefix`.
    pub fn create(server_url: &str, prefix: &str) -> Result<ScratchDatabase, String> {
        let (server, _) = server_url
            .rsplit_once('/')
            .ok_or_else(|| format!("{server_url}: a PostgreSQL URL with a database path"))?;
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = diesel::PgConnection::establish(server_url)
            .map_err(|e| format!("{server_url}: {e}"))?;
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .map_err(|e| format!("create database {name}: {e}"))?;
        Ok(ScratchDatabase {
            admin_url: server_url.to_string(),
            url: format!("{server}/{name}"),
            name,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = diesel::PgConnection::establish(&self.admin_url) {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = diesel::sql_query(drop).execute(&mut admin);
        }
    }
}
