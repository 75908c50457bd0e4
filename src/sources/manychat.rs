//! ManyChat: a subscriber's full contact; email and phone often live in `custom_fields`, which the
//! extraction rules search after the top level.

use super::common::platform::flat_submission;
use super::submission::Submission;
use super::{Auth, Source, StoredRequest};

pub const NAME: &str = "manychat";

pub struct ManyChat;

impl Source for ManyChat {
    fn name(&self) -> &'static str {
        NAME
    }

    fn auth(&self) -> Auth {
        Auth::QueryToken
    }

    fn submissions(&self, request: &StoredRequest) -> Result<Vec<Submission>, String> {
        flat_submission(NAME, request, &["id"])
    }
}
