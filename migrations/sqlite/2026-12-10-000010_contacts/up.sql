-- CRM contacts (person or business) per account, found again by email or E.164 phone among the
-- contacts of the same type: `contact_keys` holds each key once, so two submissions cannot make
-- two contacts of one person. Deals: at most one per lead.
CREATE TABLE contacts (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    contact_type TEXT NOT NULL,
    name TEXT,
    first_name TEXT,
    last_name TEXT,
    email TEXT,
    phone TEXT,
    address_json TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX contacts_account ON contacts (account_id, created_at);

CREATE TABLE contact_keys (
    account_id TEXT NOT NULL,
    contact_type TEXT NOT NULL,
    key_kind TEXT NOT NULL,
    key_value TEXT NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    PRIMARY KEY (account_id, contact_type, key_kind, key_value)
);

CREATE TABLE deals (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    lead_id BIGINT NOT NULL UNIQUE,
    campaign_id TEXT,
    name TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    currency TEXT NOT NULL,
    pipeline_id TEXT NOT NULL,
    stage_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX deals_account ON deals (account_id, created_at);

-- Round-robin per campaign: who got its previous lead. The Assigner decides under a lock per
-- campaign (PostgreSQL) in the transaction that writes this row, so instances agree.
CREATE TABLE campaign_assignments (
    campaign_id TEXT PRIMARY KEY NOT NULL,
    last_user_id TEXT NOT NULL,
    assigned INTEGER NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL
);
