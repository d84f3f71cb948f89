"""Read the schema catalogue of a database into plain, comparable data.

Used by the schema tests (against `ella_head_catalogue.json`, ELLA's head schema derived from
the data model) and by `ella-db adopt`, which refuses a database lacking part of that schema.
Only schema `public` is read. Names are compared exactly; definitions are
PostgreSQL's own canonical text (`pg_get_indexdef`, `pg_get_constraintdef`)
with the schema prefix removed, so they do not depend on how the DDL was typed.
"""

import json
import re
from pathlib import Path

# Our own bookkeeping lives in this table; it is not part of ELLA's schema.
BOOKKEEPING_TABLE = "ella_sql_migration"


def _strip_schema(text):
    text = re.sub(r"\bpublic\.", "", text)
    # Refresh alternates the shadow tables' sequence names between ..._seq and
    # ..._seq1 (as ELLA's does); both are the same schema.
    return re.sub(r"(tmp_annotationshadow(?:transcript|frequency)_id_seq)1\b", r"\1", text)


def read_catalogue(conn, include_bookkeeping=False):
    """Return {"enums": {...}, "tables": {...}} for schema public."""
    cur = conn.cursor()
    enums = {}
    cur.execute(
        """
        SELECT t.typname, e.enumlabel
        FROM pg_type t
        JOIN pg_namespace n ON n.oid = t.typnamespace
        JOIN pg_enum e ON e.enumtypid = t.oid
        WHERE n.nspname = 'public'
        ORDER BY t.typname, e.enumsortorder
        """
    )
    for typname, label in cur.fetchall():
        enums.setdefault(typname, []).append(label)

    tables = {}
    cur.execute(
        """
        SELECT c.relname, c.oid
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        ORDER BY c.relname
        """
    )
    table_oids = cur.fetchall()
    for relname, oid in table_oids:
        if relname == BOOKKEEPING_TABLE and not include_bookkeeping:
            continue
        tables[relname] = _read_table(cur, oid)
    return {"enums": enums, "tables": tables}


def _read_table(cur, oid):
    cur.execute(
        """
        SELECT a.attname,
               format_type(a.atttypid, a.atttypmod),
               a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        (oid,),
    )
    columns = [
        {
            "name": name,
            "type": _strip_schema(typ),
            "nullable": not notnull,
            "default": _strip_schema(default) if default is not None else None,
        }
        for name, typ, notnull, default in cur.fetchall()
    ]
    cur.execute(
        """
        SELECT con.conname, con.contype, pg_get_constraintdef(con.oid),
               con.confdeltype
        FROM pg_constraint con
        WHERE con.conrelid = %s
        ORDER BY con.conname
        """,
        (oid,),
    )
    constraints = {}
    for name, contype, definition, deltype in cur.fetchall():
        if contype == "n":
            continue  # PostgreSQL 18's NOT NULL constraints: the columns' `nullable` says it
        entry = {"type": CONSTRAINT_TYPES.get(contype, contype),
                 "definition": _strip_schema(definition)}
        if contype == "f":
            entry["on_delete"] = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE",
                                  "n": "SET NULL", "d": "SET DEFAULT"}[deltype]
        constraints[name] = entry
    # Indexes that do not back a constraint (those are described by the constraint).
    cur.execute(
        """
        SELECT ic.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = %s
          AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                          AND con.conrelid = i.indrelid)
        ORDER BY ic.relname
        """,
        (oid,),
    )
    indexes = {}
    for name, definition in cur.fetchall():
        # "CREATE [UNIQUE] INDEX name ON public.t USING btree (...)" -> "[UNIQUE ]btree (...)"
        m = _INDEX_DEFINITION.match(definition)
        indexes[name] = (m.group(1) or "") + _strip_schema(m.group(2)) if m else definition
    cur.execute(
        """
        SELECT t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t WHERE t.tgrelid = %s AND NOT t.tgisinternal
        ORDER BY t.tgname
        """,
        (oid,),
    )
    triggers = {}
    for name, definition in cur.fetchall():
        m = _TRIGGER_DEFINITION.match(definition)
        triggers[name] = _strip_schema(f"{m.group(1) or ''}{m.group(2)} {m.group(3)}") if m \
            else definition
    return {"columns": columns, "constraints": constraints, "indexes": indexes,
            "triggers": triggers}


CONSTRAINT_TYPES = {"p": "primary key", "u": "unique", "f": "foreign key", "c": "check",
                    "x": "exclude", "t": "constraint trigger"}
# An identifier as PostgreSQL prints it (quoted when it must be: `"ix dba allele pos"`), and
# a table name, schema-qualified or not.
_IDENTIFIER = r'(?:"(?:[^"]|"")*"|[^\s".]+)'
_TABLE = rf"{_IDENTIFIER}(?:\.{_IDENTIFIER})?"
# pg_get_indexdef: ONLY for an index on a partitioned table's parent.
_INDEX_DEFINITION = re.compile(
    rf"CREATE (UNIQUE )?INDEX {_IDENTIFIER} ON (?:ONLY )?{_TABLE} USING (.*)$", re.DOTALL)
_TRIGGER_DEFINITION = re.compile(
    rf"CREATE (CONSTRAINT )?TRIGGER {_IDENTIFIER} (.*?) ON {_TABLE} (.*)$", re.DOTALL)


def diff_catalogues(expected, actual, ignore_tables=()):
    """Human-readable list of differences between two catalogues (empty = equal)."""
    problems = []
    for name in sorted(set(expected["enums"]) | set(actual["enums"])):
        e, a = expected["enums"].get(name), actual["enums"].get(name)
        if e != a:
            problems.append(f"enum {name}: expected {e}, found {a}")
    exp_tables = {k: v for k, v in expected["tables"].items() if k not in ignore_tables}
    act_tables = {k: v for k, v in actual["tables"].items() if k not in ignore_tables}
    for name in sorted(set(exp_tables) - set(act_tables)):
        problems.append(f"table {name}: missing")
    for name in sorted(set(act_tables) - set(exp_tables)):
        problems.append(f"table {name}: not expected")
    for name in sorted(set(exp_tables) & set(act_tables)):
        e, a = exp_tables[name], act_tables[name]
        if e["columns"] != a["columns"]:
            ecols = {c["name"]: c for c in e["columns"]}
            acols = {c["name"]: c for c in a["columns"]}
            for col in ecols.keys() | acols.keys():
                if ecols.get(col) != acols.get(col):
                    problems.append(f"table {name} column {col}: expected {ecols.get(col)}, "
                                    f"found {acols.get(col)}")
            if [c["name"] for c in e["columns"]] != [c["name"] for c in a["columns"]] \
                    and ecols.keys() == acols.keys():
                problems.append(f"table {name}: column order differs")
        for part in ("constraints", "indexes", "triggers"):
            ep, ap = e.get(part, {}), a.get(part, {})
            for key in sorted(ep.keys() | ap.keys()):
                if ep.get(key) != ap.get(key):
                    problems.append(f"table {name} {part[:-1]} {key}: expected {ep.get(key)}, "
                                    f"found {ap.get(key)}")
    return problems


ELLA_HEAD_CATALOGUE = Path(__file__).with_name("ella_head_catalogue.json")


def missing_from_ella_head(actual, ignore_tables=()):
    """What of ELLA's head schema a database lacks: a table, a column (or its type), an
    enum value, a constraint or an index, by name (what a damaged copy lacks: a dropped
    unique index allowed two current assessments of one variant). Additions (a DBA's index)
    and definitions' wording (which PostgreSQL versions print differently) are not judged."""
    expected = json.loads(ELLA_HEAD_CATALOGUE.read_text(encoding="utf-8"))
    problems = []
    for name, labels in expected["enums"].items():
        missing = [label for label in labels if label not in actual["enums"].get(name, [])]
        if missing:
            problems.append(f"enum {name} lacks {', '.join(missing)}")
    for name, table in expected["tables"].items():
        if name in ignore_tables:
            continue
        found = actual["tables"].get(name)
        if found is None:
            problems.append(f"table {name} is missing")
            continue
        columns = {c["name"]: c["type"] for c in found["columns"]}
        for column in table["columns"]:
            if column["name"] not in columns:
                problems.append(f"column {name}.{column['name']} is missing")
            elif columns[column["name"]] != column["type"]:
                problems.append(f"column {name}.{column['name']} is {columns[column['name']]}, "
                                f"not {column['type']}")
        for part, what in (("constraints", "constraint"), ("indexes", "index")):
            for key in table.get(part, {}):
                if key not in found.get(part, {}):
                    problems.append(f"{what} {key} of {name} is missing")
    return problems
