//! What the sources share, all pure: request bodies to fields (every content type and charset),
//! field names and their aliases, the platforms' extraction rules (`extract.rs`), phone numbers, the client's address behind trusted proxies.
//!
//! Failure policy: bad input is an empty field or an `Err` with the reason, never a panic.

pub mod body;
pub mod client_ip;
pub mod extract;
pub mod fields;
pub mod phone;
pub mod platform;
pub mod signature;
