//! Instapage: a page's form fields as one flat JSON object; `id` is the submission's id.

use super::common::platform::flat_submission;
use super::submission::Submission;
use super::{Auth, Source, StoredRequest};

pub const NAME: &str = "instapage";

pub struct Instapage;

impl Source for Instapage {
    fn name(&self) -> &'static str {
        NAME
    }

    fn auth(&self) -> Auth {
        Auth::QueryToken
    }

    fn submissions(&self, request: &StoredRequest) -> Result<Vec<Submission>, String> {
        flat_submission(NAME, request, &["id", "lead_id"])
    }
}
