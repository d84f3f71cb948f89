-- JSON-schema validation of the two validated JSON columns (datamodel.md 5.3 and 6):
-- annotation.annotations against the `jsonschema` rows named 'annotation', and
-- filterconfig.filterconfig against those named 'filterconfig'.
--
-- Re-runnable: `ella-db refresh` applies this whole file again in one transaction. Function
-- names, argument names, defaults, return types and volatility are ELLA's, so that CREATE OR
-- REPLACE also works on an adopted ELLA database and its other callers keep working.
--
-- validate_json_schema understands this subset of JSON Schema (draft 7 semantics unless noted):
--   type, enum, const, properties, required, additionalProperties, patternProperties,
--   minProperties, maxProperties, dependencies, items (schema or tuple), additionalItems,
--   minItems, maxItems, uniqueItems, minimum, maximum, exclusiveMinimum, exclusiveMaximum
--   (draft 4 boolean form and draft 6+ numeric form), multipleOf, minLength, maxLength,
--   pattern (PostgreSQL regular expression, unanchored), allOf, anyOf, oneOf, not,
--   $ref (only "#" and "#/..." JSON pointers into the root schema; siblings of $ref are
--   ignored, as in draft 7), and boolean schemas (true / false).
-- Every other keyword (format, contains, propertyNames, if/then/else, $id, ...) is ignored.


-- Does `data` have the JSON type `type`? "integer" is a number without a fractional part
-- (so 3.0 is an integer), "number" is any number.
CREATE OR REPLACE FUNCTION _validate_json_schema_type(type text, data jsonb)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
AS $function$
BEGIN
    IF type = 'integer' THEN
        RETURN jsonb_typeof(data) = 'number'
            AND (data #>> '{}')::numeric = trunc((data #>> '{}')::numeric);
    END IF;
    RETURN coalesce(jsonb_typeof(data) = type, false);
END
$function$;


-- Is `data` valid against `schema`? `root_schema` is the document that "#/..." references
-- point into; callers leave it NULL (it then defaults to `schema`).
CREATE OR REPLACE FUNCTION validate_json_schema(schema jsonb, data jsonb, root_schema jsonb DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
AS $function$
DECLARE
    kind text;
    ref text;
    target jsonb;
    sub jsonb;
    key text;
    pattern text;
    num numeric;
    bound numeric;
    len integer;
    tuple_len integer;
    idx integer;
    hits integer;
BEGIN
    IF root_schema IS NULL THEN
        root_schema := schema;
    END IF;
    -- An SQL NULL is checked as JSON null.
    data := coalesce(data, 'null'::jsonb);
    kind := jsonb_typeof(data);

    -- Boolean schemas: true accepts everything, false nothing. Anything else that is not an
    -- object (including a missing schema) places no constraint.
    IF jsonb_typeof(schema) = 'boolean' THEN
        RETURN schema = 'true'::jsonb;
    END IF;
    IF jsonb_typeof(schema) IS DISTINCT FROM 'object' THEN
        RETURN true;
    END IF;

    -- $ref replaces the whole schema (its sibling keywords do not apply).
    IF schema ? '$ref' THEN
        ref := schema ->> '$ref';
        IF ref = '#' THEN
            target := root_schema;
        ELSIF left(ref, 2) = '#/' THEN
            -- JSON pointer: split on '/', then unescape ~1 -> '/' before ~0 -> '~'.
            target := root_schema #> ARRAY(
                SELECT replace(replace(token, '~1', '/'), '~0', '~')
                FROM unnest(string_to_array(substr(ref, 3), '/')) WITH ORDINALITY AS t(token, pos)
                ORDER BY pos);
        ELSE
            RAISE EXCEPTION 'validate_json_schema: unsupported $ref "%" (only "#/..." pointers into the same document)', ref;
        END IF;
        IF target IS NULL THEN
            RAISE EXCEPTION 'validate_json_schema: $ref "%" does not resolve in the root schema', ref;
        END IF;
        RETURN validate_json_schema(target, data, root_schema);
    END IF;

    -- Keywords for every kind of instance.
    IF schema ? 'type' THEN
        IF jsonb_typeof(schema -> 'type') = 'array' THEN
            IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(schema -> 'type') AS t(name)
                           WHERE _validate_json_schema_type(t.name, data)) THEN
                RETURN false;
            END IF;
        ELSIF NOT _validate_json_schema_type(schema ->> 'type', data) THEN
            RETURN false;
        END IF;
    END IF;

    IF schema ? 'enum' AND jsonb_typeof(schema -> 'enum') = 'array' THEN
        IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(schema -> 'enum') AS e(value)
                       WHERE e.value = data) THEN
            RETURN false;
        END IF;
    END IF;

    IF schema ? 'const' AND (schema -> 'const') <> data THEN
        RETURN false;
    END IF;

    IF kind = 'number' THEN
        num := (data #>> '{}')::numeric;
        IF jsonb_typeof(schema -> 'minimum') = 'number' THEN
            bound := (schema ->> 'minimum')::numeric;
            IF num < bound OR (num = bound AND (schema -> 'exclusiveMinimum') = 'true'::jsonb) THEN
                RETURN false;
            END IF;
        END IF;
        IF jsonb_typeof(schema -> 'maximum') = 'number' THEN
            bound := (schema ->> 'maximum')::numeric;
            IF num > bound OR (num = bound AND (schema -> 'exclusiveMaximum') = 'true'::jsonb) THEN
                RETURN false;
            END IF;
        END IF;
        IF jsonb_typeof(schema -> 'exclusiveMinimum') = 'number'
           AND num <= (schema ->> 'exclusiveMinimum')::numeric THEN
            RETURN false;
        END IF;
        IF jsonb_typeof(schema -> 'exclusiveMaximum') = 'number'
           AND num >= (schema ->> 'exclusiveMaximum')::numeric THEN
            RETURN false;
        END IF;
        IF jsonb_typeof(schema -> 'multipleOf') = 'number'
           AND num % (schema ->> 'multipleOf')::numeric <> 0 THEN
            RETURN false;
        END IF;

    ELSIF kind = 'string' THEN
        IF jsonb_typeof(schema -> 'minLength') = 'number'
           AND length(data #>> '{}') < (schema ->> 'minLength')::numeric THEN
            RETURN false;
        END IF;
        IF jsonb_typeof(schema -> 'maxLength') = 'number'
           AND length(data #>> '{}') > (schema ->> 'maxLength')::numeric THEN
            RETURN false;
        END IF;
        IF schema ? 'pattern' AND NOT ((data #>> '{}') ~ (schema ->> 'pattern')) THEN
            RETURN false;
        END IF;

    ELSIF kind = 'array' THEN
        len := jsonb_array_length(data);
        IF jsonb_typeof(schema -> 'minItems') = 'number'
           AND len < (schema ->> 'minItems')::numeric THEN
            RETURN false;
        END IF;
        IF jsonb_typeof(schema -> 'maxItems') = 'number'
           AND len > (schema ->> 'maxItems')::numeric THEN
            RETURN false;
        END IF;
        IF (schema -> 'uniqueItems') = 'true'::jsonb
           AND len <> (SELECT count(DISTINCT e.value) FROM jsonb_array_elements(data) AS e(value)) THEN
            RETURN false;
        END IF;
        IF jsonb_typeof(schema -> 'items') = 'array' THEN
            -- Tuple form: position i is checked against items[i]; extra positions against
            -- additionalItems (when present).
            tuple_len := jsonb_array_length(schema -> 'items');
            FOR idx IN 0 .. least(len, tuple_len) - 1 LOOP
                IF NOT validate_json_schema(schema -> 'items' -> idx, data -> idx, root_schema) THEN
                    RETURN false;
                END IF;
            END LOOP;
            IF schema ? 'additionalItems' THEN
                FOR idx IN tuple_len .. len - 1 LOOP
                    IF NOT validate_json_schema(schema -> 'additionalItems', data -> idx, root_schema) THEN
                        RETURN false;
                    END IF;
                END LOOP;
            END IF;
        ELSIF schema ? 'items' THEN
            FOR sub IN SELECT e.value FROM jsonb_array_elements(data) AS e(value) LOOP
                IF NOT validate_json_schema(schema -> 'items', sub, root_schema) THEN
                    RETURN false;
                END IF;
            END LOOP;
        END IF;

    ELSIF kind = 'object' THEN
        IF jsonb_typeof(schema -> 'required') = 'array' THEN
            IF EXISTS (SELECT 1 FROM jsonb_array_elements_text(schema -> 'required') AS r(name)
                       WHERE NOT data ? r.name) THEN
                RETURN false;
            END IF;
        END IF;
        IF jsonb_typeof(schema -> 'minProperties') = 'number'
           AND (SELECT count(*) FROM jsonb_object_keys(data)) < (schema ->> 'minProperties')::numeric THEN
            RETURN false;
        END IF;
        IF jsonb_typeof(schema -> 'maxProperties') = 'number'
           AND (SELECT count(*) FROM jsonb_object_keys(data)) > (schema ->> 'maxProperties')::numeric THEN
            RETURN false;
        END IF;
        -- properties: only the keys the instance has.
        IF jsonb_typeof(schema -> 'properties') = 'object' THEN
            FOR key, sub IN SELECT p.key, p.value FROM jsonb_each(schema -> 'properties') AS p WHERE data ? p.key LOOP
                IF NOT validate_json_schema(sub, data -> key, root_schema) THEN
                    RETURN false;
                END IF;
            END LOOP;
        END IF;
        -- patternProperties: every (key, pattern) pair where the pattern matches the key.
        IF jsonb_typeof(schema -> 'patternProperties') = 'object' THEN
            FOR pattern, sub IN SELECT p.key, p.value FROM jsonb_each(schema -> 'patternProperties') AS p LOOP
                FOR key IN SELECT k FROM jsonb_object_keys(data) AS k WHERE k ~ pattern LOOP
                    IF NOT validate_json_schema(sub, data -> key, root_schema) THEN
                        RETURN false;
                    END IF;
                END LOOP;
            END LOOP;
        END IF;
        -- additionalProperties: keys neither named in properties nor matched by a pattern.
        IF schema ? 'additionalProperties' THEN
            FOR key IN
                SELECT k FROM jsonb_object_keys(data) AS k
                WHERE NOT coalesce(schema -> 'properties' ? k, false)
                  AND NOT EXISTS (SELECT 1 FROM jsonb_object_keys(
                                      CASE WHEN jsonb_typeof(schema -> 'patternProperties') = 'object'
                                           THEN schema -> 'patternProperties' ELSE '{}'::jsonb END) AS pp
                                  WHERE k ~ pp)
            LOOP
                IF NOT validate_json_schema(schema -> 'additionalProperties', data -> key, root_schema) THEN
                    RETURN false;
                END IF;
            END LOOP;
        END IF;
        -- dependencies: a list of further required keys, or a schema for the whole object.
        IF jsonb_typeof(schema -> 'dependencies') = 'object' THEN
            FOR key, sub IN SELECT d.key, d.value FROM jsonb_each(schema -> 'dependencies') AS d WHERE data ? d.key LOOP
                IF jsonb_typeof(sub) = 'array' THEN
                    IF EXISTS (SELECT 1 FROM jsonb_array_elements_text(sub) AS r(name)
                               WHERE NOT data ? r.name) THEN
                        RETURN false;
                    END IF;
                ELSIF NOT validate_json_schema(sub, data, root_schema) THEN
                    RETURN false;
                END IF;
            END LOOP;
        END IF;
    END IF;

    -- Combinators.
    IF jsonb_typeof(schema -> 'allOf') = 'array' THEN
        FOR sub IN SELECT e.value FROM jsonb_array_elements(schema -> 'allOf') AS e(value) LOOP
            IF NOT validate_json_schema(sub, data, root_schema) THEN
                RETURN false;
            END IF;
        END LOOP;
    END IF;
    IF jsonb_typeof(schema -> 'anyOf') = 'array' THEN
        hits := 0;
        FOR sub IN SELECT e.value FROM jsonb_array_elements(schema -> 'anyOf') AS e(value) LOOP
            IF validate_json_schema(sub, data, root_schema) THEN
                hits := 1;
                EXIT;
            END IF;
        END LOOP;
        IF hits = 0 THEN
            RETURN false;
        END IF;
    END IF;
    IF jsonb_typeof(schema -> 'oneOf') = 'array' THEN
        hits := 0;
        FOR sub IN SELECT e.value FROM jsonb_array_elements(schema -> 'oneOf') AS e(value) LOOP
            IF validate_json_schema(sub, data, root_schema) THEN
                hits := hits + 1;
                IF hits > 1 THEN
                    RETURN false;
                END IF;
            END IF;
        END LOOP;
        IF hits <> 1 THEN
            RETURN false;
        END IF;
    END IF;
    IF schema ? 'not' AND validate_json_schema(schema -> 'not', data, root_schema) THEN
        RETURN false;
    END IF;

    RETURN true;
END
$function$;


-- The highest version of the named schema that `data` validates against. When none does:
-- NULL if allow_null, otherwise an error with SQLSTATE JSONV (datamodel.md 6.2), which the
-- application catches to explain the failure.
-- Declared IMMUTABLE as in ELLA, although it reads the jsonschema table.
CREATE OR REPLACE FUNCTION schema_version(data jsonb, schema_name text, allow_null boolean DEFAULT true)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE
AS $function$
DECLARE
    candidate record;
BEGIN
    FOR candidate IN
        SELECT js.version, js.schema FROM jsonschema AS js
        WHERE js.name = schema_version.schema_name
        ORDER BY js.version DESC
    LOOP
        IF validate_json_schema(candidate.schema, data) THEN
            RETURN candidate.version;
        END IF;
    END LOOP;
    IF coalesce(allow_null, true) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'schema_name=%, data=% ---- failed to validate against any of the existing schemas',
        schema_name, data
        USING ERRCODE = 'JSONV';
END
$function$;


-- A bulk deposit (ella/deposit/variants.py) validates its documents itself, with the Python
-- twin of validate_json_schema (ella/jsonschemas/compiled.py, tested to give the same
-- verdicts), and says so for its own transaction with the setting ella.bulk_annotation = 'on';
-- the schema_version it writes is then kept. Every other writer is validated here.
CREATE OR REPLACE FUNCTION annotation_schema_version()
RETURNS trigger
LANGUAGE plpgsql
AS $function$
BEGIN
    IF NEW.schema_version IS NOT NULL
       AND current_setting('ella.bulk_annotation', true) = 'on' THEN
        RETURN NEW;
    END IF;
    NEW.schema_version := schema_version(NEW.annotations, 'annotation', false);
    RETURN NEW;
END
$function$;

CREATE OR REPLACE FUNCTION filterconfig_schema_version()
RETURNS trigger
LANGUAGE plpgsql
AS $function$
BEGIN
    NEW.schema_version := schema_version(NEW.filterconfig, 'filterconfig', false);
    RETURN NEW;
END
$function$;

DROP TRIGGER IF EXISTS annotation_schema_version ON annotation;
CREATE TRIGGER annotation_schema_version
    BEFORE INSERT OR UPDATE ON annotation
    FOR EACH ROW EXECUTE FUNCTION annotation_schema_version();

DROP TRIGGER IF EXISTS filterconfig_schema_version ON filterconfig;
CREATE TRIGGER filterconfig_schema_version
    BEFORE INSERT OR UPDATE ON filterconfig
    FOR EACH ROW EXECUTE FUNCTION filterconfig_schema_version();
