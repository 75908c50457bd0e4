//! PhoneSites: a flat JSON object; only a request that names its `page` is a form submission.

use super::common::platform::{flat_submission, id_text};
use super::submission::Submission;
use super::{Auth, Source, StoredRequest};
use serde_json::{Map, Value};

pub const NAME: &str = "phonesites";

pub struct PhoneSites;

impl Source for PhoneSites {
    fn name(&self) -> &'static str {
        NAME
    }

    fn auth(&self) -> Auth {
        Auth::QueryToken
    }

    fn ignore_reason(
        &self,
        payload: &Map<String, Value>,
        _campaign: &crate::store::models::Campaign,
    ) -> Option<&'static str> {
        id_text(payload.get("page"))
            .is_none()
            .then_some("phonesites_without_page")
    }

    fn submissions(&self, request: &StoredRequest) -> Result<Vec<Submission>, String> {
        flat_submission(NAME, request, &["lead_id", "id"])
    }
}
