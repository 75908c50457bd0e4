//! A campaign's `health` as operators see it (`{"last_lead_at", "last_error", "token_status"}`),
//! and the Facebook tokens that degrade `/admin/health`.

use super::AppState;
use crate::sources::common::platform::id_text;
use crate::sources::facebook::{token_status, TokenStatus, NAME as FACEBOOK};
use crate::store::facebook::{all_page_tokens, CampaignHealth};
use crate::store::models::rfc3339;
use crate::store::models::{Campaign, FacebookPageToken};
use crate::store::now;
use chrono::NaiveDateTime;
use serde_json::{json, Value};

/// The status of the token a `facebook_ads` campaign reads its page with; `None` for others.
pub fn campaign_token_status(
    campaign: &Campaign,
    tokens: &[FacebookPageToken],
    at: NaiveDateTime,
) -> Option<TokenStatus> {
    if campaign.integration != FACEBOOK {
        return None;
    }
    let page = id_text(campaign.settings().get("page_id"));
    let token = tokens
        .iter()
        .find(|t| t.account_id == campaign.account_id && Some(&t.page_id) == page.as_ref());
    Some(token_status(
        token.map(|t| (t.expires_at, t.invalid_reason.as_deref())),
        at,
    ))
}

pub fn health_json(
    campaign: &Campaign,
    health: Option<&CampaignHealth>,
    tokens: &[FacebookPageToken],
    at: NaiveDateTime,
) -> Value {
    json!({
        "last_lead_at": health.and_then(|h| h.last_lead_at.as_ref()).map(rfc3339),
        "last_error": health.and_then(|h| h.last_error.as_deref()),
        "last_error_at": health.and_then(|h| h.last_error_at.as_ref()).map(rfc3339),
        "token_status": campaign_token_status(campaign, tokens, at).map(TokenStatus::as_str),
    })
}

/// The active Facebook campaigns (of active accounts) whose token is expired or invalid: their
/// leads cannot be read, so `/admin/health` is degraded.
pub async fn campaigns_with_broken_tokens(state: &AppState) -> Result<Vec<String>, String> {
    let snapshot = state.directory.snapshot();
    let facebook: Vec<Campaign> = snapshot.live_campaigns(FACEBOOK).cloned().collect();
    if facebook.is_empty() {
        return Ok(Vec::new());
    }
    let tokens = state
        .db
        .read(all_page_tokens)
        .await
        .map_err(|e| e.to_string())?;
    let at = now();
    Ok(facebook
        .iter()
        .filter(|c| campaign_token_status(c, &tokens, at).is_some_and(TokenStatus::is_broken))
        .map(|c| c.id.clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(integration: &str, settings: Value) -> Campaign {
        Campaign::for_tests("c", "a", integration, settings)
    }

    fn token(account: &str, page: &str, invalid: Option<&str>) -> FacebookPageToken {
        let t = now();
        FacebookPageToken {
            account_id: account.into(),
            page_id: page.into(),
            access_token: "T".into(),
            expires_at: None,
            created_at: t,
            updated_at: t,
            invalid_reason: invalid.map(str::to_string),
        }
    }

    #[test]
    fn only_facebook_campaigns_have_a_token_status_and_it_is_their_pages() {
        let at = now();
        let website = campaign("website", json!({}));
        assert_eq!(campaign_token_status(&website, &[], at), None);
        let facebook = campaign("facebook_ads", json!({"page_id": 42}));
        assert_eq!(
            campaign_token_status(&facebook, &[], at),
            Some(TokenStatus::Missing)
        );
        let others = [token("b", "42", None), token("a", "43", None)];
        assert_eq!(
            campaign_token_status(&facebook, &others, at),
            Some(TokenStatus::Missing),
            "another account's token for the page is not this campaign's"
        );
        let refused = [token("a", "42", Some("invalid: revoked"))];
        assert_eq!(
            campaign_token_status(&facebook, &refused, at),
            Some(TokenStatus::Invalid)
        );
        let health = health_json(&facebook, None, &[token("a", "42", None)], at);
        assert_eq!(health["token_status"], "valid");
        assert_eq!(health["last_lead_at"], Value::Null);
        assert_eq!(
            health_json(&website, None, &[], at)["token_status"],
            Value::Null
        );
    }
}
