-- Why each submission was or was not forwarded (NULL for submissions stored before this).
ALTER TABLE lead_submissions ADD COLUMN forward_decision TEXT;

-- Dead letters are retried on their own on WEBHOOK_REDRIVE_SCHEDULE.
ALTER TABLE dead_letters ADD COLUMN redrives INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN next_redrive_at TIMESTAMP;
CREATE INDEX dead_letters_redrive ON dead_letters (next_redrive_at);

-- Requests accepted but not turned into leads (an inactive account, ...), for operators.
CREATE TABLE ignored_webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    platform TEXT NOT NULL,
    account_id TEXT,
    campaign_id TEXT,
    reason TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX ignored_webhooks_received ON ignored_webhooks (received_at);

-- Processed inbox rows are deleted after INBOX_RETENTION_DAYS.
CREATE INDEX inbox_processed ON inbox (processed_at) WHERE status = 'done';
