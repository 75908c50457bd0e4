-- One work table for every side effect of a stored lead (the CRM webhook first), one attempt log
-- and one dead-letter list for all kinds. The outbox, its attempts and dead letters move in, with
-- their ids: a pending delivery is sent once (same webhook-id), a dead letter replays by its id.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind TEXT NOT NULL,
    public_id TEXT NOT NULL UNIQUE,
    lead_id BIGINT REFERENCES leads (id),
    lead_submission_id BIGINT REFERENCES lead_submissions (id),
    lead_public_id TEXT,
    destination TEXT,
    payload_json TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    last_status INTEGER,
    last_error TEXT,
    result_json TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX jobs_due ON jobs (kind, status, next_attempt_at, id);
CREATE INDEX jobs_lead ON jobs (lead_id);

INSERT INTO jobs (id, kind, public_id, lead_id, lead_submission_id, lead_public_id, destination,
                  payload_json, status, attempts, next_attempt_at, lease_owner, lease_until,
                  last_status, last_error, result_json, created_at, updated_at)
SELECT id, 'crm_webhook', make_send_public_id, lead_id, lead_submission_id, lead_public_id, url,
       payload_json, CASE status WHEN 'delivered' THEN 'done' ELSE status END, attempts,
       next_attempt_at, lease_owner, lease_until, last_status, last_error,
       CASE WHEN execution_url IS NULL THEN '{}'
            ELSE json_object('execution_url', execution_url) END,
       created_at, updated_at
FROM outbox;

CREATE TABLE job_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    job_id BIGINT NOT NULL REFERENCES jobs (id),
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    duration_ms BIGINT NOT NULL,
    error TEXT,
    attempted_at TIMESTAMP NOT NULL
);
CREATE INDEX job_attempts_job ON job_attempts (job_id, id);
INSERT INTO job_attempts (id, job_id, attempt, status_code, duration_ms, error, attempted_at)
SELECT id, delivery_id, attempt, status_code, duration_ms, error, attempted_at
FROM delivery_attempts;

-- The job holds the URL, payload and webhook-id; the letter says when and why it died.
CREATE TABLE job_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    job_id BIGINT NOT NULL UNIQUE REFERENCES jobs (id),
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    redrives INTEGER NOT NULL DEFAULT 0,
    next_redrive_at TIMESTAMP
);
INSERT INTO job_dead_letters (id, job_id, error, attempts, failed_at, expires_at, redrives,
                              next_redrive_at)
SELECT id, delivery_id, error, attempts, failed_at, expires_at, redrives, next_redrive_at
FROM dead_letters;

DROP TABLE dead_letters;
DROP TABLE delivery_attempts;
DROP TABLE outbox;
ALTER TABLE job_dead_letters RENAME TO dead_letters;
CREATE INDEX dead_letters_expiry ON dead_letters (expires_at);
CREATE INDEX dead_letters_redrive ON dead_letters (next_redrive_at);
