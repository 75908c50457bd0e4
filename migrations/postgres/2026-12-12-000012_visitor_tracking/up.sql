-- Visitor tracking (`GET /t.js`, `POST /v1/track`). `visitors` keeps each visitor's running
-- totals, so a lead's engagement is one primary-key read whatever the visitor's history;
-- `visitor_sessions` one row per session; `page_views` one row per page view. Sessions and page
-- views older than TRACKING_RETENTION_DAYS are pruned, and visitors not seen since.
CREATE TABLE visitors (
    visitor_id TEXT PRIMARY KEY NOT NULL,
    sessions BIGINT NOT NULL,
    page_views BIGINT NOT NULL,
    seconds_on_site BIGINT NOT NULL,
    time_zone TEXT,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);

CREATE INDEX visitors_seen ON visitors (last_seen_at);

CREATE TABLE visitor_sessions (
    visitor_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    page_views BIGINT NOT NULL,
    seconds_on_site BIGINT NOT NULL,
    landing_url TEXT,
    referrer TEXT,
    ip TEXT,
    user_agent TEXT,
    time_zone TEXT,
    PRIMARY KEY (visitor_id, session_id)
);
CREATE INDEX visitor_sessions_seen ON visitor_sessions (last_seen_at);

CREATE TABLE page_views (
    id BIGSERIAL PRIMARY KEY,
    visitor_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT,
    referrer TEXT,
    viewed_at TIMESTAMP NOT NULL
);
CREATE INDEX page_views_visitor ON page_views (visitor_id, viewed_at);
CREATE INDEX page_views_viewed ON page_views (viewed_at);
