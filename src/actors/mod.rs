//! The supervised actors. Each holds wiring and counters; the work is in pure functions and
//! in tables. The job runner's actors (the `WebhookDeliverer` and the kinds to come) live in
//! `jobs/`.
//!
//! Failure policy: every actor is started under a `Supervisor`. A handler's panic is caught and
//! recorded (`health::run_guarded`), the actor stops and is restarted fresh; nothing is lost with
//! it, because the work is in tables (the inbox, the jobs) and the restarted actor claims the same
//! rows again. `app/supervision.rs` exits the process for systemd when one stays dead.

pub mod batch_items;
pub mod db_executor;
pub mod fetch_handover;
pub mod health;
pub mod identity_resolver;
pub mod intake;
pub mod latest_leads;
pub mod live_events;
pub mod scorer;
