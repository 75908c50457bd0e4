//! leadgate: inbound leads, captured durably, made canonical, scored and forwarded.

pub mod actors;
pub mod app;
pub mod config;
pub mod crm;
pub mod directory;
pub mod facebook;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod outbound;
pub mod pipeline;
pub mod scoring;
pub mod sources;
pub mod store;
pub mod tracking;
