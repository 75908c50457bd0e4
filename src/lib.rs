//! leadgate: inbound leads, captured durably, made canonical, scored and forwarded.

pub mod config;
pub mod db;
pub mod delivery;
pub mod identity;
pub mod intake;
pub mod metrics;
pub mod scoring;
pub mod actors;
pub mod directory;
pub mod app;
pub mod http;
