DROP TABLE ignored_webhooks;
DROP TABLE blocked_ip_leads;
DROP TABLE inbox;
