//! Where leads come from: one module per source (the website form, Facebook Lead Ads and eight
//! other platforms), each saying in one place its integration name, how its requests are
//! authenticated, how a stored request becomes neutral submissions, and its identity policy.
//! `common/` holds what they share: body parsing, field lists, phones, client IP.
//!
//! Failure policy: everything here is pure. A request that cannot be read is an error of its
//! inbox row (retried, then `failed` for an operator), never a panic of the pipeline.
//!
//! Adding a source: its file here, one line in [`SOURCES`], its HTTP route. A source that needs
//! an asynchronous step (Facebook's Graph fetch) enqueues a job of its own kind (`jobs/`), which
//! brings its own retry schedule.

pub mod callrail;
pub mod calltrackingmetrics;
pub mod clickfunnels;
pub mod common;
pub mod facebook;
pub mod instapage;
pub mod kartra;
pub mod manychat;
pub mod phonesites;
pub mod submission;
pub mod unbounce;
pub mod website;

use submission::{RequestMeta, Submission};

/// How a source's requests prove where they come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may post (a website form): the block list and the honeypot keep bots out.
    None,
    /// A platform without signatures: `?token=<the campaign's signing_secret>` when it has one.
    QueryToken,
    /// A platform that signs its requests: verified with the campaign's `signing_secret` when it
    /// has one.
    Signature(common::signature::Scheme),
    /// Meta's app signature (`FACEBOOK_APP_SECRET`) over a body that may hold many pages' leads:
    /// its own route, never the per-campaign one.
    MetaApp,
}

/// A request as the ack stored it in the inbox.
#[derive(Debug, Clone, Copy)]
pub struct StoredRequest<'a> {
    pub public_id: &'a str,
    pub account_id: &'a str,
    pub body: &'a str,
    pub meta: &'a RequestMeta,
}

pub trait Source: Sync {
    /// The integration name: the inbox row's `kind`, each submission's `lead_source`, the
    /// `integration` of the source's campaigns.
    fn name(&self) -> &'static str;

    fn auth(&self) -> Auth;

    /// Why a platform's request is taken and answered `200` but is no lead (a Kartra action
    /// other than `filled_form`): it is kept as an ignored webhook with this reason.
    fn ignore_reason(
        &self,
        _payload: &serde_json::Map<String, serde_json::Value>,
        _campaign: &crate::store::models::Campaign,
    ) -> Option<&'static str> {
        None
    }

    /// Whether this source's requests may only announce leads (see `fetch_jobs`): the Intake
    /// asks only these, so the other sources' rows are read once.
    fn announces_leads(&self) -> bool {
        false
    }

    /// A request that only announces its leads (Facebook's webhook): the jobs that fetch them,
    /// written in place of submissions; what they fetch comes back to the inbox as requests of
    /// this source. `None` for a request that holds its leads.
    fn fetch_jobs(
        &self,
        _request: &StoredRequest,
    ) -> Option<Result<Vec<crate::store::models::NewJob>, String>> {
        None
    }

    /// A stored request as neutral submissions (a platform may batch several leads in one body),
    /// each with its own public id and, where the platform has one, its lead id.
    fn submissions(&self, request: &StoredRequest) -> Result<Vec<Submission>, String>;
}

/// Every source leadgate reads, by name.
pub static SOURCES: &[&dyn Source] = &[
    &website::Website,
    &callrail::CallRail,
    &calltrackingmetrics::CallTrackingMetrics,
    &clickfunnels::ClickFunnels,
    &facebook::Facebook,
    &instapage::Instapage,
    &kartra::Kartra,
    &manychat::ManyChat,
    &phonesites::PhoneSites,
    &unbounce::Unbounce,
];

pub fn source(name: &str) -> Option<&'static dyn Source> {
    SOURCES.iter().copied().find(|s| s.name() == name)
}

/// The integration names of the contract, for campaigns (each becomes a source in this folder).
pub const INTEGRATIONS: &[&str] = &[
    website::NAME,
    facebook::NAME,
    "clickfunnels",
    "manychat",
    "unbounce",
    "instapage",
    "kartra",
    "phonesites",
    "callrail",
    "calltrackingmetrics",
];
