-- `GET /admin/leads?q=` searches a substring of names, emails and phone digits: a trigram index
-- serves `search_text LIKE '%term%'` among a million leads without reading them all. pg_trgm
-- ships with PostgreSQL and is a trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX leads_search_trgm ON leads USING gin (search_text gin_trgm_ops);
