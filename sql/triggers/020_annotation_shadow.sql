-- Annotation shadow tables: relational copies of parts of each allele's *current* annotation,
-- used by filtering and search. Function names and argument names are ELLA's (PostgreSQL does
-- not let CREATE OR REPLACE rename arguments, and an adopted ELLA database already has them).
--
-- insert_annotationshadowfrequency() is not here: its column list comes from the configured
-- frequency groups, so `ella-db refresh` generates it (ella/refresh.py).

CREATE OR REPLACE FUNCTION insert_annotationshadowtranscript(allele_id integer, annotations jsonb)
RETURNS void AS $$
BEGIN
    INSERT INTO annotationshadowtranscript (allele_id, hgnc_id, symbol, transcript, hgvsc, protein,
                                            hgvsp, consequences, exon_distance,
                                            coding_region_distance)
    SELECT insert_annotationshadowtranscript.allele_id,
           (tx ->> 'hgnc_id')::integer,
           tx ->> 'symbol',
           tx ->> 'transcript',
           tx ->> 'HGVSc',
           tx ->> 'protein',
           tx ->> 'HGVSp',
           ARRAY(SELECT jsonb_array_elements_text(
                     CASE WHEN jsonb_typeof(tx -> 'consequences') = 'array'
                          THEN tx -> 'consequences' ELSE '[]'::jsonb END)),
           (tx ->> 'exon_distance')::integer,
           (tx ->> 'coding_region_distance')::integer
    FROM jsonb_array_elements(
             CASE WHEN jsonb_typeof(insert_annotationshadowtranscript.annotations -> 'transcripts') = 'array'
                  THEN insert_annotationshadowtranscript.annotations -> 'transcripts'
                  ELSE '[]'::jsonb END) AS tx;
END;
$$ LANGUAGE plpgsql;

-- The deletes are planned on every call (EXECUTE) instead of using PL/pgSQL's cached plan:
-- after a few calls that becomes a generic plan, made while the statistics still say the
-- shadow tables are empty (a new database), i.e. a sequential scan. Inside one large
-- transaction (a deposit that falls back to the triggers, an import by ELLA) the tables then
-- grow under that plan and every row costs more than the last (measured: 8,000 variants
-- into a new database took 34 s instead of ~15 s).
CREATE OR REPLACE FUNCTION delete_annotationshadow(al_id integer)
RETURNS void AS $$
BEGIN
    EXECUTE 'DELETE FROM annotationshadowtranscript WHERE allele_id = $1' USING al_id;
    EXECUTE 'DELETE FROM annotationshadowfrequency WHERE allele_id = $1' USING al_id;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION annotation_to_annotationshadow()
RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- A bulk deposit (ella.bulk_annotation = 'on' in its transaction) replaces the shadow
        -- rows of all its alleles itself, set-based, after inserting the annotations.
        IF current_setting('ella.bulk_annotation', true) = 'on' THEN
            RETURN NEW;
        END IF;
        -- A row inserted as already superseded (history import) must not replace the shadow
        -- rows of the current annotation. ELLA never inserts such rows; this keeps the
        -- shadow tables equal to "current annotation" even if someone does.
        IF NEW.date_superceeded IS NULL THEN
            PERFORM delete_annotationshadow(NEW.allele_id);
            PERFORM insert_annotationshadowtranscript(NEW.allele_id, NEW.annotations);
            PERFORM insert_annotationshadowfrequency(NEW.allele_id, NEW.annotations);
        END IF;
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        -- Annotation rows are history: only the superseding bookkeeping may change.
        IF NEW.allele_id IS DISTINCT FROM OLD.allele_id
           OR NEW.annotations IS DISTINCT FROM OLD.annotations
           OR NEW.date_created IS DISTINCT FROM OLD.date_created THEN
            RAISE EXCEPTION 'Update on one or more of the included columns for annotation table is disallowed';
        END IF;
        RETURN NEW;
    ELSE
        PERFORM delete_annotationshadow(OLD.allele_id);
        RETURN OLD;
    END IF;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS annotation_to_annotationshadow ON annotation;
CREATE TRIGGER annotation_to_annotationshadow
    BEFORE INSERT OR UPDATE OR DELETE ON annotation
    FOR EACH ROW EXECUTE FUNCTION annotation_to_annotationshadow();
