#!/usr/bin/env python3
"""Derive the machine-readable schema expectation from the data model specification.

Reads sections 2 (enum types) and 3 (tables) of `../shared/spec/datamodel.md`
(relative to the repository root) and writes `ella/ella_head_catalogue.json` (in the
package: `ella-db adopt` checks a database against it), in exactly the format returned
by `ella.catalogue.read_catalogue`:

    {"enums": {name: [labels in order]},
     "tables": {table: {"columns": [...], "constraints": {...},
                        "indexes": {...}, "triggers": {...}}}}

Usage (from the repository root):

    .venv/bin/python tests/catalogue/derive_expectation.py [--spec PATH] [--out PATH]

Everything comes from the spec's tables and bullet lists. The few places where
the spec gives information only as prose (the frequency shadow columns) are
expanded by small, commented rules below; each one prints a line when applied.
"""

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = REPO_ROOT / ".." / "shared" / "spec" / "datamodel.md"
DEFAULT_OUT = HERE.parent.parent / "ella" / "ella_head_catalogue.json"

# PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes.
MAX_IDENT = 63

# Spelling used in the spec -> format_type() spelling (spec §1 "Type spelling").
TYPE_ALIASES = {
    "varchar": "character varying",
    "timestamptz": "timestamp with time zone",
}


def note(msg):
    print(f"[derive] {msg}")


def fail(msg):
    sys.exit(f"derive_expectation: {msg}")


# --------------------------------------------------------------------------- markdown helpers

def section(text, start_re, end_re):
    m = re.search(start_re, text, re.M)
    if not m:
        fail(f"section {start_re!r} not found")
    rest = text[m.end():]
    e = re.search(end_re, rest, re.M)
    return rest[: e.start()] if e else rest


def split_row(line):
    """Split a markdown table row on unescaped pipes; strip cells."""
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


def md_tables(block):
    """Yield (header, rows) for every markdown table in block."""
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| :]+\|$", lines[i + 1].strip()):
            header = split_row(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(header, split_row(lines[i]))))
                i += 1
            yield header, rows
        else:
            i += 1


def backticked(cell):
    return re.findall(r"`([^`]*)`", cell)


def unquote_ident(name):
    if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
        return name[1:-1].replace('""', '"')
    return name


# --------------------------------------------------------------------------- identifier quoting

class Quoter:
    """Mimic PostgreSQL's quote_ident for names appearing in generated definitions.

    Which keywords need quoting is taken from the spec itself: every column the
    spec writes as a quoted identifier (e.g. `"time"`, `"user"`) is a keyword
    that PostgreSQL quotes; this also covers the table name "user".
    """

    def __init__(self):
        self.keywords = set()

    def __call__(self, name):
        if name in self.keywords or not re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
            return '"' + name.replace('"', '""') + '"'
        return name


quote = Quoter()


# --------------------------------------------------------------------------- section 2: enums

def parse_enums(sec2):
    enums = {}
    for header, rows in md_tables(sec2):
        if "Enum" not in header:
            continue
        values_col = next(h for h in header if h.startswith("Values"))
        for row in rows:
            enum_cell = row["Enum"]
            names = backticked(enum_cell)
            if not names:
                continue
            if "not enum" in enum_cell:
                note(f"skipping {names[0]}: composite type, not an enum")
                continue
            enums[names[0]] = backticked(row[values_col])
    return dict(sorted(enums.items()))


# --------------------------------------------------------------------------- section 3: tables

def spec_type(cell):
    cell = cell.strip()
    m = re.fullmatch(r"enum `([^`]+)`", cell)
    if m:
        return m.group(1)
    names = backticked(cell)
    if len(names) != 1:
        fail(f"cannot read type cell {cell!r}")
    t = names[0]
    m = re.fullmatch(r"([a-z ]+?)(\(\d+\))?(\[\])?", t)
    if not m:
        fail(f"cannot read type {t!r}")
    base = TYPE_ALIASES.get(m.group(1), m.group(1))
    return base + (m.group(2) or "") + (m.group(3) or "")


def spec_default(cell):
    cell = cell.strip()
    if not cell:
        return None
    m = re.fullmatch(r"nextval\(`([^`]+)`\)", cell)
    if m:
        return f"nextval('{m.group(1)}'::regclass)"
    names = backticked(cell)
    if len(names) == 1 and cell == f"`{names[0]}`":
        return names[0]
    fail(f"cannot read default cell {cell!r}")


def spec_nullable(cell):
    c = cell.strip()
    if c == "NOT NULL":
        return False
    if c.lower() == "null":
        return True
    fail(f"cannot read Null cell {cell!r}")


def fk_name(table, first_col, reftable):
    return f"fk_{table}_{first_col}_{reftable}".encode()[:MAX_IDENT].decode("utf-8", "ignore")


def expand_frequency_columns(table, block, template_rows):
    """The frequency shadow table's data columns are given in prose (spec §3.2).

    The column table only has two placeholder rows (`"<provider>.<key>"` and
    `"<provider>_num.<key>"`) carrying type/null/default; the concrete columns
    are listed in the paragraph "Data columns in the ELLA dump/demo (pairs, in
    this order)": each `P.K` is followed by its `P_num.K` twin.
    """
    m = re.search(r"Data columns in the ELLA dump/demo \(pairs, in this order\):(.*?)\(each followed",
                  block, re.S)
    if not m:
        fail(f"{table}: data column paragraph not found")
    pairs = backticked(m.group(1))
    freq_tpl, num_tpl = template_rows
    cols = []
    for pk in pairs:
        provider, key = pk.split(".", 1)
        cols.append(dict(freq_tpl, name=f"{provider}.{key}"))
        cols.append(dict(num_tpl, name=f"{provider}_num.{key}"))
    note(f"prose expansion: {table}: placeholder rows replaced by {len(pairs)} listed pairs "
         f"({len(cols)} columns, '<P>.<K>' {freq_tpl['type']} then '<P>_num.<K>' {num_tpl['type']})")
    return cols


def parse_table(table, block):
    tables = [rows for header, rows in md_tables(block) if "Column" in header]
    if len(tables) != 1:
        fail(f"{table}: expected one column table, found {len(tables)}")
    rows = tables[0]

    columns = []
    placeholders = []
    fks = []  # (first column, [columns], reftable, [refcols], on_delete)
    key_pk, key_unique = [], []
    part_of = {}  # first FK column -> list of columns (composite FKs)
    for row in rows:
        names = backticked(row["Column"])
        if len(names) != 1:
            fail(f"{table}: cannot read column cell {row['Column']!r}")
        raw = names[0]
        name = unquote_ident(raw)
        col = {"name": name, "type": spec_type(row["Type"]), "nullable": spec_nullable(row["Null"]),
               "default": spec_default(row["Default"])}
        if "<" in name:
            placeholders.append(col)
            columns.append(None)  # position of the placeholder block
        else:
            columns.append(col)
        key = row["Key / reference"]
        if re.match(r"PK\b", key):
            key_pk.append(name)
        elif key == "UNIQUE":
            key_unique.append(name)
        m = re.match(r"FK → (\"?\w+\"?)\(([^)]*)\)(?:\s*\*\*ON DELETE ([A-Z ]+)\*\*)?$", key)
        if m:
            reftable = unquote_ident(m.group(1))
            refcols = [c.strip() for c in m.group(2).split(",")]
            fks.append([name, [name], reftable, refcols, m.group(3) or "NO ACTION"])
        m = re.match(r"\(part of FK on ([^)]*)\)$", key)
        if m:
            cols = [c.strip() for c in m.group(1).split(",")]
            if name not in cols:
                fail(f"{table}.{name}: 'part of FK' does not list the column itself")
            part_of[cols[0]] = cols
        elif key and not re.match(r"(PK|UNIQUE|FK →)", key):
            fail(f"{table}.{name}: cannot read key cell {key!r}")

    if placeholders:
        i = columns.index(None)
        columns[i:] = expand_frequency_columns(table, block, placeholders) + [
            c for c in columns[i:] if c is not None]

    for fk in fks:
        if len(fk[3]) > 1:
            if fk[0] not in part_of or len(part_of[fk[0]]) != len(fk[3]):
                fail(f"{table}.{fk[0]}: composite FK without matching 'part of FK' rows")
            fk[1] = part_of.pop(fk[0])
    if part_of:
        fail(f"{table}: 'part of FK' rows without an FK: {part_of}")

    # ---- bullets
    m = re.search(r"^Constraints / indexes / triggers:\n((?:- .*\n?)+)", block, re.M)
    bullets = m.group(1).splitlines() if m else []
    constraints, indexes, triggers = {}, {}, {}
    fk_names = []
    for b in bullets:
        b = b[2:].strip()
        m = re.fullmatch(r"(PK|UNIQUE|CHECK) `([^`]+)`: (.+)", b)
        if m:
            kind = {"PK": "primary key", "UNIQUE": "unique", "CHECK": "check"}[m.group(1)]
            constraints[m.group(2)] = {"type": kind, "definition": m.group(3).strip()}
            continue
        m = re.fullmatch(r"FK constraint names: (.+)", b)
        if m:
            fk_names = backticked(m.group(1))
            continue
        m = re.fullmatch(r"(UNIQUE )?INDEX `([^`]+)` (.+)", b)
        if m:
            indexes[m.group(2)] = (m.group(1) or "") + m.group(3).strip()
            continue
        m = re.fullmatch(r"TRIGGER `([^`]+)` (.+?) → `([^`]+)`", b)
        if m:
            triggers[m.group(1)] = f"{m.group(2).strip()} EXECUTE FUNCTION {m.group(3)}"
            continue
        fail(f"{table}: cannot read bullet {b!r}")

    # ---- FK names: fk_<table>_<firstcol>_<reftable>, truncated to 63 bytes
    unmatched = list(fk_names)
    assigned = {}
    pending = []
    for fk in fks:
        n = fk_name(table, fk[0], fk[2])
        if n in unmatched:
            unmatched.remove(n)
            assigned[n] = fk
        else:
            pending.append(fk)
    for fk in pending:
        # Irregular name (spec §1 lists `fk_filterconfig_previous_filterconfig_filterconfig`):
        # accept a listed name fk_<table>_<prefix of column>_<reftable>, if exactly one fits.
        cands = [n for n in unmatched
                 if n.startswith(f"fk_{table}_") and n.endswith(f"_{fk[2]}")
                 and fk[0].startswith(n[len(f"fk_{table}_"):-len(f"_{fk[2]}")])]
        if len(cands) != 1:
            fail(f"{table}.{fk[0]}: no FK name for reference to {fk[2]} among {fk_names}")
        note(f"irregular FK name: {table}.{fk[0]} -> {fk[2]} is named {cands[0]}")
        unmatched.remove(cands[0])
        assigned[cands[0]] = fk
    if unmatched:
        fail(f"{table}: FK names without a column reference: {unmatched}")
    for n, (_first, cols, reftable, refcols, on_delete) in assigned.items():
        definition = (f"FOREIGN KEY ({', '.join(map(quote, cols))}) "
                      f"REFERENCES {quote(reftable)}({', '.join(map(quote, refcols))})")
        if on_delete != "NO ACTION":
            definition += f" ON DELETE {on_delete}"
        constraints[n] = {"type": "foreign key", "definition": definition, "on_delete": on_delete}

    # ---- consistency of the Key column with the bullets
    pk = [c for c in constraints.values() if c["type"] == "primary key"]
    if key_pk and (len(pk) != 1 or pk[0]["definition"] != f"PRIMARY KEY ({', '.join(map(quote, key_pk))})"):
        fail(f"{table}: PK column(s) {key_pk} disagree with bullets {pk}")
    for col in key_unique:
        if not any(c["type"] == "unique" and c["definition"] == f"UNIQUE ({quote(col)})"
                   for c in constraints.values()):
            fail(f"{table}.{col}: marked UNIQUE but no single-column UNIQUE bullet")

    return {
        "columns": columns,
        "constraints": dict(sorted(constraints.items())),
        "indexes": dict(sorted(indexes.items())),
        "triggers": dict(sorted(triggers.items())),
    }


def parse_tables(sec3):
    parts = re.split(r"^#### `([^`]+)`.*$", sec3, flags=re.M)
    blocks = list(zip(parts[1::2], parts[2::2]))
    # Collect quoted-identifier keywords from all column tables before generating definitions.
    for _, block in blocks:
        for header, rows in md_tables(block):
            if "Column" in header:
                for row in rows:
                    for raw in backticked(row["Column"])[:1]:
                        if raw.startswith('"') and "<" not in raw:
                            quote.keywords.add(unquote_ident(raw))
    tables = {}
    for name, block in blocks:
        # A table heading ends at the next heading of any level.
        block = re.split(r"^#{1,4} ", block, flags=re.M)[0]
        tables[name] = parse_table(name, block)
    return dict(sorted(tables.items()))


# --------------------------------------------------------------------------- corrections

def apply_corrections(catalogue):
    """Corrections where the spec disagrees with the real (authoritative) database.

    None are needed at present: the demo database's catalogue equals what the
    spec describes. Add any future correction here, with a comment and a note().
    """
    return catalogue


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    text = args.spec.read_text(encoding="utf-8")
    sec2 = section(text, r"^## 2\. .*$", r"^## 3\. ")
    sec3 = section(text, r"^## 3\. .*$", r"^## 4\. ")
    catalogue = {"enums": parse_enums(sec2), "tables": parse_tables(sec3)}
    catalogue = apply_corrections(catalogue)

    ncols = sum(len(t["columns"]) for t in catalogue["tables"].values())
    note(f"{len(catalogue['enums'])} enums, {len(catalogue['tables'])} tables, {ncols} columns")
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(catalogue, fh, indent=1, sort_keys=False)
        fh.write("\n")
    note(f"wrote {args.out.relative_to(REPO_ROOT) if args.out.is_relative_to(REPO_ROOT) else args.out}")


if __name__ == "__main__":
    main()
