-- The SQLite inbox file (`<name>-inbox.db` beside the database): what an answer waits for lives
-- here, on a writer of its own, so an ack never waits behind the pipeline's transactions on the
-- main file. Same shapes as in the main file before the move (migrations/sqlite, 000001-000005).
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    public_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    account_id TEXT NOT NULL,
    body TEXT NOT NULL,
    meta_json TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    last_error TEXT,
    received_at TIMESTAMP NOT NULL,
    processed_at TIMESTAMP
);
CREATE INDEX inbox_claim ON inbox (status, id);
CREATE INDEX inbox_processed ON inbox (processed_at) WHERE status = 'done';

CREATE TABLE blocked_ip_leads (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    ip TEXT NOT NULL,
    account_id TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

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
