-- `GET /admin/leads?q=` searches a substring of names, emails and phone digits. A trigram index
-- (FTS5, external content: the text stays in leads.search_text) finds a rare term among a
-- million leads without reading them all; triggers keep it in step with leads.
CREATE VIRTUAL TABLE leads_search USING fts5(
    search_text, content = 'leads', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO leads_search (leads_search) VALUES ('rebuild');
CREATE TRIGGER leads_search_insert AFTER INSERT ON leads BEGIN
    INSERT INTO leads_search (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER leads_search_update AFTER UPDATE OF search_text ON leads
WHEN old.search_text IS NOT new.search_text BEGIN
    INSERT INTO leads_search (leads_search, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
    INSERT INTO leads_search (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER leads_search_delete AFTER DELETE ON leads BEGIN
    INSERT INTO leads_search (leads_search, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
END;
