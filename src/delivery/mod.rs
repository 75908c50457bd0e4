//! What is forwarded and when. Pure.

pub mod decision;
pub mod payload;
