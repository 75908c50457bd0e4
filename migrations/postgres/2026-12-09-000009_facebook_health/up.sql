-- What operators see of a campaign's lead flow (`health`): its last lead, its last error, and for
-- Facebook campaigns how far the back-fill has read. One row per campaign, written when that
-- changes, never per submission.
CREATE TABLE campaign_health (
    campaign_id TEXT PRIMARY KEY NOT NULL REFERENCES campaigns (id),
    last_lead_at TIMESTAMP,
    last_error TEXT,
    last_error_at TIMESTAMP,
    backfilled_from TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);

-- Graph error 190 on a page token: kept until the token is replaced.
ALTER TABLE facebook_page_tokens ADD COLUMN invalid_reason TEXT;
