//! The supervised actors. Each holds wiring and counters; the work is in pure functions and
//! in tables.

pub mod db_executor;
pub mod health;
pub mod identity_resolver;
pub mod intake;
pub mod scorer;
