//! What is forwarded, when, how it is signed and retried. Pure.

pub mod decision;
pub mod payload;
pub mod retry;
pub mod signing;
