DROP TABLE page_views;
DROP TABLE visitor_sessions;
DROP TABLE visitors;
