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

-- Support conversations: one per contact, a room per lead source, the messages of each lead
-- received (once per submission: a retried job finds them).
CREATE TABLE conversations (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    contact_id TEXT NOT NULL UNIQUE REFERENCES contacts (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX conversations_account ON conversations (account_id, created_at);

CREATE TABLE conversation_rooms (
    id TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    integration TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (conversation_id, integration)
);

CREATE TABLE conversation_messages (
    id TEXT PRIMARY KEY NOT NULL,
    room_id TEXT NOT NULL REFERENCES conversation_rooms (id),
    submission_public_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    body TEXT NOT NULL,
    attachments_json TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (submission_public_id, position)
);
CREATE INDEX conversation_messages_room ON conversation_messages (room_id, created_at);
