-- Back to the outbox: webhook jobs only (there are no other kinds yet).
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    make_send_public_id TEXT NOT NULL UNIQUE,
    lead_id BIGINT NOT NULL REFERENCES leads (id),
    lead_submission_id BIGINT NOT NULL REFERENCES lead_submissions (id),
    lead_public_id TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    last_status INTEGER,
    last_error TEXT,
    execution_url TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX outbox_work ON outbox (status, next_attempt_at, id);
CREATE INDEX outbox_lead ON outbox (lead_id);
INSERT INTO outbox SELECT id, public_id, lead_id, lead_submission_id, lead_public_id,
       COALESCE(payload_json::json->>'event', 'lead.created'), destination, payload_json,
       CASE status WHEN 'done' THEN 'delivered' ELSE status END, attempts, next_attempt_at,
       lease_owner, lease_until, last_status, last_error,
       result_json::json->>'execution_url', created_at, updated_at
FROM jobs WHERE kind = 'crm_webhook';
CREATE TABLE delivery_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES outbox (id),
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    duration_ms BIGINT NOT NULL,
    error TEXT,
    attempted_at TIMESTAMP NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
INSERT INTO delivery_attempts SELECT a.id, a.job_id, a.attempt, a.status_code, a.duration_ms,
       a.error, a.attempted_at FROM job_attempts a JOIN outbox o ON o.id = a.job_id;
CREATE TABLE old_dead_letters (
    id BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL UNIQUE REFERENCES outbox (id),
    make_send_public_id TEXT NOT NULL,
    url TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    redrives INTEGER NOT NULL DEFAULT 0,
    next_redrive_at TIMESTAMP
);
INSERT INTO old_dead_letters SELECT d.id, d.job_id, o.make_send_public_id, o.url, o.payload_json,
       d.error, d.attempts, d.failed_at, d.expires_at, d.redrives, d.next_redrive_at
FROM dead_letters d JOIN outbox o ON o.id = d.job_id;
DROP TABLE dead_letters;
DROP TABLE job_attempts;
DROP TABLE jobs;
ALTER TABLE old_dead_letters RENAME TO dead_letters;
CREATE INDEX dead_letters_expiry ON dead_letters (expires_at);
CREATE INDEX dead_letters_redrive ON dead_letters (next_redrive_at);
