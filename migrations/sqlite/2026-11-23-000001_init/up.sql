CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    is_default BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX accounts_one_default ON accounts (is_default) WHERE is_default;

CREATE TABLE campaigns (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    project_name TEXT,
    integration TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    thank_you_url TEXT,
    webhook_url TEXT,
    settings_json TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX campaigns_account ON campaigns (account_id, integration);

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
CREATE INDEX inbox_work ON inbox (status, next_attempt_at, id);

CREATE TABLE leads (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    public_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    project_key TEXT NOT NULL,
    project_name TEXT,
    name TEXT,
    email TEXT,
    phone_e164 TEXT,
    status TEXT NOT NULL DEFAULT 'new',
    lead_source TEXT NOT NULL,
    submission_count INTEGER NOT NULL DEFAULT 0,
    data_json TEXT NOT NULL,
    search_text TEXT NOT NULL DEFAULT '',
    crm_lead_id TEXT,
    crm_url TEXT,
    assigned_user_id TEXT,
    contact_id TEXT,
    errors_json TEXT NOT NULL DEFAULT '[]',
    first_submitted_at TIMESTAMP NOT NULL,
    last_submitted_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX leads_account ON leads (account_id, id);
CREATE INDEX leads_account_project ON leads (account_id, project_key, id);

CREATE TABLE lead_submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    public_id TEXT NOT NULL UNIQUE,
    lead_id BIGINT NOT NULL REFERENCES leads (id),
    inbox_id BIGINT UNIQUE,
    account_id TEXT NOT NULL,
    project_key TEXT NOT NULL,
    lead_source TEXT NOT NULL,
    visitor_id TEXT,
    email_key TEXT,
    phone_e164 TEXT,
    ip TEXT,
    cta TEXT,
    page_url TEXT,
    payload_json TEXT NOT NULL,
    data_json TEXT NOT NULL,
    is_duplicate BOOLEAN NOT NULL DEFAULT 0,
    forwarded BOOLEAN NOT NULL DEFAULT 0,
    submitted_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX submissions_lead ON lead_submissions (lead_id, id);
CREATE INDEX submissions_visitor ON lead_submissions (account_id, visitor_id, project_key);
CREATE INDEX submissions_email ON lead_submissions (account_id, email_key, project_key);
CREATE INDEX submissions_phone ON lead_submissions (account_id, phone_e164, project_key);
CREATE INDEX submissions_ip ON lead_submissions (account_id, ip, submitted_at);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
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

CREATE TABLE blocked_ips (
    id TEXT PRIMARY KEY NOT NULL,
    ip TEXT NOT NULL UNIQUE,
    reason TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE blocked_ip_leads (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    ip TEXT NOT NULL,
    account_id TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
