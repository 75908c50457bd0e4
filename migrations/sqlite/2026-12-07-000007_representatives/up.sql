-- Representatives of an account (campaigns' `selected_user`) and Facebook page tokens per page.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    fcm_token TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX users_account ON users (account_id, created_at);

CREATE TABLE facebook_page_tokens (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    page_id TEXT NOT NULL,
    access_token TEXT NOT NULL,
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, page_id)
);
