DROP INDEX inbox_processed;
DROP TABLE ignored_webhooks;
DROP INDEX dead_letters_redrive;
ALTER TABLE dead_letters DROP COLUMN next_redrive_at;
ALTER TABLE dead_letters DROP COLUMN redrives;
ALTER TABLE lead_submissions DROP COLUMN forward_decision;
