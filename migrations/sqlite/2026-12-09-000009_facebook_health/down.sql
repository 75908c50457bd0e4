ALTER TABLE facebook_page_tokens DROP COLUMN invalid_reason;
DROP TABLE campaign_health;
