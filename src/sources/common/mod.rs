//! What the sources share, all pure: request bodies to fields (every content type and charset),
//! field names and their aliases, phone numbers, the client's address behind trusted proxies.

pub mod body;
pub mod client_ip;
pub mod fields;
pub mod phone;
