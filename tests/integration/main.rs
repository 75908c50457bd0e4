//! Black-box tests: the real daemon, a real database, real HTTP.

mod graph;
mod harness;
mod proxy;
mod receiver;

mod admin;
mod browser;
mod cli;
mod configuration;
mod crm;
mod delivery;
mod facebook;
mod facebook_backfill;
mod faults;
mod forwarding;
mod identity;
mod nginx;
mod notify;
mod outage;
mod platforms;
mod representatives;
mod tracking;
mod upgrade;
mod website;
