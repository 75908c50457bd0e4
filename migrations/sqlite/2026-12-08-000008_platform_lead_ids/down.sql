DROP INDEX submissions_platform_lead;
ALTER TABLE lead_submissions DROP COLUMN platform_lead_key;
