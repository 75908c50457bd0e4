DROP TABLE deals;
DROP TABLE contact_keys;
DROP TABLE contacts;
