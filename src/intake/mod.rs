//! Everything between the raw request and a normalized submission. Pure functions only.

pub mod body;
pub mod client_ip;
pub mod fields;
pub mod phone;
pub mod submission;
