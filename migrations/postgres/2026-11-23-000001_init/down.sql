DROP TABLE blocked_ip_leads;
DROP TABLE blocked_ips;
DROP TABLE outbox;
DROP TABLE lead_submissions;
DROP TABLE leads;
DROP TABLE inbox;
DROP TABLE campaigns;
DROP TABLE accounts;
