DROP TABLE campaign_assignments;
DROP TABLE deals;
DROP TABLE contact_keys;
DROP TABLE contacts;
