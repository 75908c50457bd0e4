DROP TRIGGER leads_search_delete;
DROP TRIGGER leads_search_update;
DROP TRIGGER leads_search_insert;
DROP TABLE leads_search;
