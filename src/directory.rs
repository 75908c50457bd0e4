//! Accounts, campaigns and the IP block list, held in memory for the ack path and refreshed
//! from the database every second (and at once after an admin change).

use crate::actors::db_executor::Db;
use crate::sources::submission::project_key;
use crate::store::models::{Account, Campaign};
use crate::store::{accounts, blocked_ips, DbError};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

#[derive(Debug, Default)]
pub struct Snapshot {
    pub default_account_id: String,
    pub accounts: HashMap<String, Account>,
    pub campaigns: Vec<Campaign>,
    pub blocked: Vec<IpNet>,
}

impl Snapshot {
    /// The account's active campaign of this integration for this project.
    pub fn campaign_for(
        &self,
        account_id: &str,
        integration: &str,
        project: Option<&str>,
    ) -> Option<&Campaign> {
        let key = project_key(project);
        self.campaigns.iter().find(|c| {
            c.account_id == account_id
                && c.active
                && c.integration == integration
                && project_key(c.project_name.as_deref()) == key
        })
    }

    /// The campaigns of an integration that take leads: active, of an active account.
    pub fn live_campaigns<'a>(
        &'a self,
        integration: &'a str,
    ) -> impl Iterator<Item = &'a Campaign> {
        self.campaigns.iter().filter(move |c| {
            c.integration == integration
                && c.active
                && self.accounts.get(&c.account_id).is_some_and(|a| a.active)
        })
    }

    /// Whether `host` is one of the account's campaigns' `site_domains`.
    pub fn is_site_domain(&self, account_id: &str, host: &str) -> bool {
        self.campaigns
            .iter()
            .filter(|c| c.account_id == account_id && c.active)
            .any(|c| c.site_domains().iter().any(|d| d == host))
    }

    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.blocked.iter().any(|net| net.contains(&ip))
    }
}

#[derive(Default)]
pub struct Directory {
    /// The snapshot and the generation of the refresh that read it.
    current: RwLock<(u64, Arc<Snapshot>)>,
    generations: AtomicU64,
}

impl Directory {
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    /// Reloads from the database. A refresh that started earlier never overwrites one that
    /// started later, so an admin change is not undone by a slow periodic refresh.
    pub async fn refresh(&self, db: &Db) -> Result<(), DbError> {
        let generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        let snapshot = db
            .read(|conn| {
                let accounts = accounts::list_accounts(conn)?;
                let campaigns = accounts::all_campaigns(conn)?;
                let blocked = blocked_ips::list_blocked_ips(conn)?
                    .iter()
                    .filter_map(|b| crate::config::parse_ip_or_cidr(&b.ip))
                    .collect();
                Ok(Snapshot {
                    default_account_id: accounts
                        .iter()
                        .find(|a| a.is_default)
                        .map(|a| a.id.clone())
                        .unwrap_or_default(),
                    accounts: accounts.into_iter().map(|a| (a.id.clone(), a)).collect(),
                    campaigns,
                    blocked,
                })
            })
            .await?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if generation > current.0 {
            *current = (generation, Arc::new(snapshot));
        }
        Ok(())
    }
}
