DROP TABLE conversation_messages;
DROP TABLE conversation_rooms;
DROP TABLE conversations;
DROP TABLE campaign_assignments;
DROP TABLE deals;
DROP TABLE contact_keys;
DROP TABLE contacts;
