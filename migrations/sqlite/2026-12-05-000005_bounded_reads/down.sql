DROP INDEX inbox_claim;
CREATE INDEX inbox_work ON inbox (status, next_attempt_at, id);
DROP INDEX submissions_ip_project;
DROP INDEX submissions_visitor_recent;
CREATE INDEX submissions_visitor ON lead_submissions (account_id, visitor_id, project_key);
CREATE INDEX submissions_email ON lead_submissions (account_id, email_key, project_key);
CREATE INDEX submissions_phone ON lead_submissions (account_id, phone_e164, project_key);
DROP TABLE lead_keys;
