DROP TABLE facebook_page_tokens;
DROP TABLE users;
