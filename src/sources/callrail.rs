//! CallRail: a call (`customer_name`/`formatted_customer_name`, `customer_phone_number`, the
//! customer's city, state and country), signed with base64 HMAC-SHA1 of the body; `resource_id`
//! is the lead id. The business's and tracking numbers are never the caller's.

use super::common::platform::flat_submission;
use super::common::signature::Scheme;
use super::submission::Submission;
use super::{Auth, Source, StoredRequest};

pub const NAME: &str = "callrail";

pub struct CallRail;

impl Source for CallRail {
    fn name(&self) -> &'static str {
        NAME
    }

    fn auth(&self) -> Auth {
        Auth::Signature(Scheme::CallRail)
    }

    fn submissions(&self, request: &StoredRequest) -> Result<Vec<Submission>, String> {
        flat_submission(NAME, request, &["resource_id", "id"])
    }
}
