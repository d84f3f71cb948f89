-- reference.search: full-text vector over authors and title (weight A), journal (B) and
-- year (C), kept up to date on every insert and update. ELLA's production databases have the
-- column but nothing that fills it; its reference search queries it, so we fill it.
-- `ella-db refresh` back-fills rows whose vector is missing or stale.

CREATE OR REPLACE FUNCTION reference_search_vector(authors varchar, title varchar,
                                                   journal varchar, year varchar)
RETURNS tsvector AS $$
    SELECT setweight(to_tsvector('pg_catalog.english', coalesce(authors, '')), 'A')
        || setweight(to_tsvector('pg_catalog.english', coalesce(title, '')), 'A')
        || setweight(to_tsvector('pg_catalog.english', coalesce(journal, '')), 'B')
        || setweight(to_tsvector('pg_catalog.english', coalesce(year, '')), 'C');
$$ LANGUAGE sql IMMUTABLE;

CREATE OR REPLACE FUNCTION reference_search_update()
RETURNS trigger AS $$
BEGIN
    NEW.search := reference_search_vector(NEW.authors, NEW.title, NEW.journal, NEW.year);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS reference_search_trigger ON reference;
CREATE TRIGGER reference_search_trigger
    BEFORE INSERT OR UPDATE ON reference
    FOR EACH ROW EXECUTE FUNCTION reference_search_update();
