-- Identity lookups that cost the same whatever a key's history: one row per (key, project, lead)
-- instead of reading every earlier submission that shares the key. Filled from the submissions.
CREATE TABLE lead_keys (
    account_id TEXT NOT NULL,
    key_kind TEXT NOT NULL,
    key_value TEXT NOT NULL,
    project_key TEXT NOT NULL,
    lead_id BIGINT NOT NULL REFERENCES leads (id),
    PRIMARY KEY (account_id, key_kind, key_value, project_key, lead_id)
) WITHOUT ROWID;

INSERT INTO lead_keys (account_id, key_kind, key_value, project_key, lead_id)
SELECT DISTINCT account_id, 'visitor', visitor_id, project_key, lead_id
FROM lead_submissions WHERE visitor_id IS NOT NULL;
INSERT INTO lead_keys (account_id, key_kind, key_value, project_key, lead_id)
SELECT DISTINCT account_id, 'email', email_key, project_key, lead_id
FROM lead_submissions WHERE email_key IS NOT NULL;
INSERT INTO lead_keys (account_id, key_kind, key_value, project_key, lead_id)
SELECT DISTINCT account_id, 'phone', phone_e164, project_key, lead_id
FROM lead_submissions WHERE phone_e164 IS NOT NULL;

-- The submissions keep only the indexes of the bounded, time-windowed reads: a visitor's and an
-- IP's recent submissions. The key comes first, so that no other index can serve these reads
-- (a plan made while the table was nearly empty once chose one that scanned the account).
DROP INDEX submissions_visitor;
DROP INDEX submissions_email;
DROP INDEX submissions_phone;
DROP INDEX submissions_ip;
CREATE INDEX submissions_visitor_recent ON lead_submissions (visitor_id, account_id, submitted_at);
CREATE INDEX submissions_ip_recent ON lead_submissions (ip, account_id, submitted_at);

-- The inbox is claimed in arrival order: an index in that order, so a claim reads the rows it
-- takes and not the whole backlog (a sort of every due row made the drain slower as it grew).
DROP INDEX inbox_work;
CREATE INDEX inbox_claim ON inbox (status, id);

-- Jobs by status first: the claim (status, kind, due time) and the health page's counts of
-- pending and dead jobs both read only those, never every job ever done.
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (status, kind, next_attempt_at, id);
