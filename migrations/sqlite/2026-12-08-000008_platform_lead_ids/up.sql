-- A platform's own lead id, per platform and campaign: a lead a platform sends twice (a retry, a
-- webhook after the back-fill read it) is stored once.
ALTER TABLE lead_submissions ADD COLUMN platform_lead_key TEXT;
CREATE UNIQUE INDEX submissions_platform_lead ON lead_submissions (platform_lead_key)
    WHERE platform_lead_key IS NOT NULL;
