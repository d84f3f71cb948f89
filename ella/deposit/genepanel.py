"""Gene panel deposit: the ELLA 1.17 transcripts and phenotypes TSV files -> database.

Reading validates both files completely before anything is written; every bad line becomes
one problem "<file>, line <n>: <what>". Writing happens in one transaction: genes (by HGNC
id), transcripts (by name) and phenotypes (by gene, description, inheritance) are reused
when they exist, new ones are inserted, and the panel's link rows are written in bulk.
"""

import os
import re
import stat
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ella.deposit.analysis_config import has_control_character
from ella.text import (NotUtf8, control_character, has_odd_space, same_text_other_form,
                       utf8_text)

GENOME_REFERENCE = "GRCh37"

TRANSCRIPT_HEADER_START = "#chromosome"
PHENOTYPE_HEADER_START = "HGNC id"

# Columns the deposit needs (others, e.g. score and metadata, are ignored).
TRANSCRIPT_COLUMNS = ("chromosome", "read start", "read end", "name", "strand", "HGNC id",
                      "HGNC symbol", "inheritance", "coding start", "coding end",
                      "exon starts", "exon ends")
OPTIONAL_TRANSCRIPT_COLUMNS = ("tags",)
PHENOTYPE_COLUMNS = ("HGNC id", "HGNC symbol", "inheritance", "phenotype MIM number",
                     "phenotype")

_INTEGER = re.compile(r"[0-9]+")


class GenepanelError(Exception):
    """Bad input or a conflict with the database. `problems` lists every problem found;
    str() is one line: the first SHOWN problems, then how many more there are."""

    SHOWN = 5

    def __init__(self, problems):
        self.problems = list(problems) if isinstance(problems, (list, tuple)) else [problems]
        message = "; ".join(self.problems[:self.SHOWN])
        if len(self.problems) > self.SHOWN:
            more = len(self.problems) - self.SHOWN
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        super().__init__(message)


@dataclass
class PanelFiles:
    """The validated content of one panel's two files."""
    transcripts: list = field(default_factory=list)   # dicts, file order
    phenotypes: list = field(default_factory=list)    # dicts, file order, de-duplicated
    genes: dict = field(default_factory=dict)         # hgnc_id -> symbol


def folder_base_name(folder):
    """The folder's own last name as the operator gave it: a symbolic link
    `HBOC_v02 -> store/2026-11-01` is panel HBOC v02 (resolving it deposited the target's
    name, or backed out as "exists" for another panel); `.` and a trailing `/` still work."""
    return Path(os.path.abspath(folder)).name


def split_folder_name(folder):
    """`<name>_<version>` (split at the first `_`; version starts with `v`) -> (name, version)."""
    base = folder_base_name(folder)
    name, sep, version = base.partition("_")
    if not sep or not name or not version.startswith("v"):
        raise GenepanelError(f"gene panel folder name {base!r} is not <name>_<version> "
                             "(e.g. HBOC_v01: split at the first '_', version starting with 'v')")
    return name, version


def folder_files(folder):
    """The two file paths a panel folder must contain."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GenepanelError(f"gene panel folder {str(folder)!r} does not exist or is not a "
                             "directory")
    base = folder_base_name(folder)
    return folder / f"{base}_genes_transcripts.tsv", folder / f"{base}_phenotypes.tsv"


# The Mendeliome's transcripts file is 1.2 MB (3,577 transcripts of ~350 bytes); all of
# RefSeq's ~200,000 transcripts would be about 70 MB.
MAX_PANEL_FILE_BYTES = 256 * 1024 * 1024


class _Lines:
    """Numbered, newline-stripped lines of a text file, or a problem if unreadable."""

    def __init__(self, path, problems):
        self.path = str(path)
        self.problems = problems

    def read(self):
        try:
            with open(self.path, "rb") as handle:
                # A device (/dev/zero) was read until the process was killed for its
                # memory, without a clilog row. (A pipe is fine: `<(zcat x.tsv.gz)`.)
                mode = os.fstat(handle.fileno()).st_mode
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    self.problems.append(f"{self.path}: is a device, not a file")
                    return None
                data = handle.read(MAX_PANEL_FILE_BYTES + 1)
            if len(data) > MAX_PANEL_FILE_BYTES:
                self.problems.append(f"{self.path}: larger than {MAX_PANEL_FILE_BYTES:,} bytes "
                                     "(every transcript of the genome takes about 70 MB)")
                return None
        except FileNotFoundError:
            self.problems.append(f"{self.path}: file not found")
            return None
        except OSError as exc:
            self.problems.append(f"{self.path}: cannot read: {exc.strerror or exc}")
            return None
        try:
            text = utf8_text(data)  # (a byte-order mark, Excel's or Notepad's, skipped)
        except NotUtf8 as exc:
            at = exc.offset
            # Lines counted at LF, as this reader splits them (a lone CR is refused below).
            self.problem(data.count(b"\n", 0, at) + 1, f"not UTF-8 text (byte {at} of the "
                                                      f"file: {data[at:at + 1]!r})")
            return None
        # (CR CR LF: Python's csv writer on Windows, in a file not opened with newline="".)
        lines = [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), 1)]
        for number, line in lines:
            if "\r" in line:
                # A cell's carriage return was stored, and the export (one line per row)
                # could not give it back: the panel did not deposit again unchanged.
                self.problem(number, "a carriage return inside the line (line ends of "
                                     "another system?)")
                return None
        return lines

    def problem(self, lineno, text):
        self.problems.append(f"{self.path}, line {lineno}: {text}")


def _header_index(lines, lineno, names, required, optional=()):
    """Column name -> position, or None after recording the missing columns."""
    index = {}
    for pos, raw in enumerate(names):
        index.setdefault(raw.strip(), pos)
    # Which of the two was meant cannot be told (the first was read, without a word).
    twice = [c for c in (*required, *optional) if [n.strip() for n in names].count(c) > 1]
    if twice:
        lines.problem(lineno, "header has column" + ("s " if len(twice) > 1 else " ")
                      + ", ".join(repr(c) for c in twice) + " more than once")
        return None
    missing = [c for c in required if c not in index]
    if missing:
        lines.problem(lineno, "header lacks column" + ("s " if len(missing) > 1 else " ")
                      + ", ".join(repr(c) for c in missing))
        return None
    return {c: index[c] for c in (*required, *optional) if c in index}


def _int(value, column, errors, minimum=0):
    value = value.strip()
    if not _INTEGER.fullmatch(value):
        errors.append(f"{column} {value!r} is not a non-negative integer" if value
                      else f"{column} is empty")
        return None
    if len(value.lstrip("0")) > 10:  # over 2**31 - 1 (int() refuses a digit string over 4,300 long)
        errors.append(f"{column} {value[:20]}... is too large")
        return None
    number = int(value)
    if number < minimum:
        errors.append(f"{column} {number} is below {minimum}")
        return None
    if number > 2**31 - 1:
        errors.append(f"{column} {number} is too large")
        return None
    return number


def _int_list(value, column, errors):
    items = [v.strip() for v in value.strip().split(",")]
    if items and items[-1] == "":
        items.pop()  # trailing comma, as UCSC writes them
    if not items:
        errors.append(f"{column} is empty")
        return None
    result = []
    for item in items:
        before = len(errors)
        number = _int(item, f"{column} item", errors)
        if len(errors) > before:
            return None
        result.append(number)
    return result


def _parse_transcript(fields, col, errors):
    get = lambda c: fields[col[c]]  # noqa: E731
    t = {
        "chromosome": get("chromosome").strip(),
        "tx_start": _int(get("read start"), "read start", errors),
        "tx_end": _int(get("read end"), "read end", errors),
        "transcript_name": get("name").strip(),
        "gene_id": _int(get("HGNC id"), "HGNC id", errors, minimum=1),
        "symbol": get("HGNC symbol").strip(),
        "inheritance": get("inheritance").strip(),
    }
    for key, column in (("chromosome", "chromosome"), ("transcript_name", "name"),
                        ("symbol", "HGNC symbol"), ("inheritance", "inheritance")):
        if not t[key]:
            errors.append(f"{column} is empty")
    if t["chromosome"].lower().startswith("chr"):
        # Alleles are stored as `11` (import.md 2.4): such a transcript matched no variant.
        errors.append(f"chromosome {t['chromosome']!r} must be named without 'chr', as "
                      "ELLA names them (11, X)")
    strand = get("strand").strip() or "+"
    if strand not in ("+", "-"):
        errors.append(f"strand {strand!r} is not '+' or '-'")
    t["strand"] = strand
    if t["tx_start"] is not None and t["tx_end"] is not None and t["tx_start"] > t["tx_end"]:
        errors.append(f"read start {t['tx_start']} is after read end {t['tx_end']}")

    cds = [get("coding start").strip(), get("coding end").strip()]
    if not cds[0] and not cds[1]:
        t["cds_start"] = t["cds_end"] = None  # non-coding transcript
    elif not cds[0] or not cds[1]:
        errors.append("coding start and coding end must both be given or both be empty")
    else:
        t["cds_start"] = _int(cds[0], "coding start", errors)
        t["cds_end"] = _int(cds[1], "coding end", errors)
        if (t["cds_start"] is not None and t["cds_end"] is not None
                and t["cds_start"] > t["cds_end"]):
            errors.append(f"coding start {t['cds_start']} is after coding end {t['cds_end']}")

    starts = _int_list(get("exon starts"), "exon starts", errors)
    ends = _int_list(get("exon ends"), "exon ends", errors)
    if starts is not None and ends is not None:
        if len(starts) != len(ends):
            errors.append(f"{len(starts)} exon starts but {len(ends)} exon ends")
        else:
            for i, (s, e) in enumerate(zip(starts, ends), 1):
                if s > e:
                    errors.append(f"exon {i} starts at {s}, after its end {e}")
                    break
                if i > 1 and s < ends[i - 2]:
                    errors.append(f"exon {i} starts at {s}, before the end {ends[i - 2]} of "
                                  f"exon {i - 1} (exons in ascending order, not overlapping)")
                    break
    t["exon_starts"], t["exon_ends"] = starts, ends
    errors += _outside_the_transcript(t)

    tags = None
    if "tags" in col:
        tags = [x.strip() for x in get("tags").split(",") if x.strip()] or None
    t["tags"] = tags
    return t


def _outside_the_transcript(t):
    """Why the coding region or an exon lies outside the transcript's read start and end
    (the region filter looks for a variant's exons only near its transcript, and the IGV
    track drew blocks before the transcript's start), as a list of at most one problem."""
    start, end = t["tx_start"], t["tx_end"]
    if start is None or end is None or start > end:
        return []
    if t.get("cds_start") is not None and t.get("cds_end") is not None and (
            t["cds_start"] < start or t["cds_end"] > end):
        return [f"the coding region {t['cds_start']}-{t['cds_end']} is not within the "
                f"transcript's {start}-{end}"]
    for i, (s, e) in enumerate(zip(t["exon_starts"] or [], t["exon_ends"] or []), 1):
        if s < start or e > end:
            return [f"exon {i} ({s}-{e}) is not within the transcript's {start}-{end}"]
    return []


class _GeneNames:
    """Keeps HGNC id <-> symbol consistent across both files (one symbol per id and back)."""

    def __init__(self):
        self.by_id = {}       # id -> (symbol, where)
        self.by_symbol = {}   # lower(symbol) -> (id, where)

    def check(self, gene_id, symbol, where):
        problems = []
        known = self.by_id.get(gene_id)
        if known and known[0] != symbol:
            problems.append(f"HGNC id {gene_id} is {known[0]!r} on {known[1]} but {symbol!r} here")
        other = self.by_symbol.get(symbol.lower())
        if other and other[0] != gene_id:
            problems.append(f"HGNC symbol {symbol!r} is HGNC id {other[0]} on {other[1]} "
                            f"but {gene_id} here")
        if not problems:
            self.by_id.setdefault(gene_id, (symbol, where))
            self.by_symbol.setdefault(symbol.lower(), (gene_id, where))
        return problems


MAX_PANEL_NAME_LENGTH = 200
# Held by every writer of new panels (deposits, `POST genepanels/`) until it commits: two
# deposits of panels sharing genes must not race on the same rows, and a new name is checked
# against the committed names in every Unicode form (no key can refuse those).
PANEL_NAMES_LOCK = "ella.deposit.genepanel"


def panel_name_problem(label, value):
    """Why `value` cannot be a new gene panel's name or version (label), or None. The API
    addresses a panel as genepanels/<name>/<version>/, so no '/'; a blank at either end
    makes a second panel that reads as the first on every screen."""
    if not value.strip() or "/" in value:
        return f"invalid gene panel {label} {value!r}"
    if value in (".", ".."):
        # Browsers and proxies drop such a path segment: the panel could never be opened.
        return f"the gene panel {label} {value!r} cannot be part of its address"
    if value != value.strip():
        return f"the gene panel {label} {value!r} starts or ends with a blank"
    if len(value) > MAX_PANEL_NAME_LENGTH:
        return f"the gene panel {label} is longer than {MAX_PANEL_NAME_LENGTH} characters"
    if has_odd_space(value):
        return (f"the gene panel {label} {value!r} has a space other than the plain one (a "
                "no-break space looks like it)")
    return None


def versions_in_other_form(cur, name, version):
    """The stored versions of panel `name` that are `version` in another Unicode form (a
    file saved on a Mac decomposes `é`): shown alike, two panels nobody could tell apart."""
    text = unicodedata.normalize("NFC", version)
    return [other for (other,) in cur.execute(
        "SELECT version FROM genepanel WHERE name = %s AND version <> %s ORDER BY version",
        (name, version)) if unicodedata.normalize("NFC", other) == text]


class _TsvReader:
    """The line loop both panel files share: blank lines and `#` comments skipped, one header
    line (starting with `header_start`) giving the column positions, then data lines.

    `rows()` yields (lineno, fields, ok) for each data line; ok is False when its column count
    differs from the header's (already recorded as a problem). After the loop, `failed` says
    whether the file could not be used at all (unreadable, no header, header lacks columns)."""

    def __init__(self, path, problems, header_start, required, optional=(),
                 header_has_hash=False, may_be_empty=False):
        self.path = path
        self.problems = problems
        self.lines = _Lines(path, problems)
        self.header_start = header_start
        self.required = required
        self.optional = optional
        self.header_has_hash = header_has_hash
        self.may_be_empty = may_be_empty  # no header and no data: nothing in it
        self.col = None
        self.failed = False

    def problem(self, lineno, text):
        self.lines.problem(lineno, text)

    def rows(self):
        content = self.lines.read()
        if content is None:
            self.failed = True
            return
        names = []
        for lineno, line in content:
            if not line.strip():
                continue
            if line.startswith(self.header_start):
                if self.col is not None:
                    self.problem(lineno, "a second header line")
                    continue
                names = [n.strip() for n in
                         (line[1:] if self.header_has_hash else line).split("\t")]
                self.col = _header_index(self.lines, lineno, names, self.required, self.optional)
                if self.col is None:
                    self.failed = True
                    return
                continue
            if line.startswith("#"):
                continue  # comment
            if self.col is None:
                self.problem(lineno, "No valid header found before this data line (the header "
                                     f"line starts with {self.header_start!r})")
                self.failed = True
                return
            if "\x00" in line:  # PostgreSQL's text cannot hold it: refused before writing
                self.problem(lineno, "has a NUL character")
                yield lineno, [], False
                continue
            control = control_character(line, allowed="\t")
            if control:
                # Stored, it went into symbols and inheritances the filters compare, and
                # broke the lines of exports and logs (POST genepanels/ refuses it too).
                self.problem(lineno, f"has a control character (U+{ord(control):04X})")
                yield lineno, [], False
                continue
            fields = line.split("\t")
            if len(fields) > len(names) and not any(f.strip() for f in fields[len(names):]):
                fields = fields[:len(names)]  # trailing tabs: empty cells beyond the header
            elif len(fields) < len(names) and not set(names[len(fields):]) & set(self.col):
                # An editor trimmed the empty cells of columns the deposit does not read.
                fields += [""] * (len(names) - len(fields))
            ok = len(fields) == len(names)
            if not ok:
                self.problem(lineno, f"expected {len(names)} tab-separated columns (as in the "
                                     f"header), found {len(fields)}")
            yield lineno, fields, ok
        if self.col is None and self.may_be_empty and not any(
                line.strip() and not line.startswith("#") for _, line in content):
            return
        if self.col is None:
            self.problems.append(f"{self.path}: No valid header found (a line starting with "
                                 f"{self.header_start!r})")
            self.failed = True


def read_transcripts(path, problems, genes):
    reader = _TsvReader(path, problems, TRANSCRIPT_HEADER_START, TRANSCRIPT_COLUMNS,
                        OPTIONAL_TRANSCRIPT_COLUMNS, header_has_hash=True)
    transcripts = []
    seen_names = {}
    for lineno, fields, ok in reader.rows():
        col = reader.col
        if not ok:
            continue
        errors = []
        t = _parse_transcript(fields, col, errors)
        if not errors:
            first = seen_names.get(t["transcript_name"])
            if first:
                errors.append(f"transcript {t['transcript_name']} is already on line {first}")
            else:
                errors += genes.check(t["gene_id"], t["symbol"],
                                      f"line {lineno} of {Path(path).name}")
        if errors:
            reader.problem(lineno, "; ".join(errors))
            continue
        seen_names[t["transcript_name"]] = lineno
        t["line"] = lineno
        transcripts.append(t)
    if reader.failed:
        return None
    if not transcripts and not any(p.startswith(f"{path}, line") for p in problems):
        problems.append(f"{path}: no transcripts (at least one is needed)")
    return transcripts


def read_phenotypes(path, problems, genes):
    """A gene may have phenotypes and no transcripts in the panel, as a panel made in the UI
    (`POST genepanels/`) may, so that its export deposits again; its id and symbol must agree
    with the transcripts file's. An empty file is a panel without phenotypes."""
    reader = _TsvReader(path, problems, PHENOTYPE_HEADER_START, PHENOTYPE_COLUMNS,
                        may_be_empty=True)
    phenotypes = {}
    for lineno, fields, ok in reader.rows():
        if not ok:
            continue
        col = reader.col
        errors = []
        gene_id = _int(fields[col["HGNC id"]], "HGNC id", errors, minimum=1)
        symbol = fields[col["HGNC symbol"]].strip()
        if not symbol:
            errors.append("HGNC symbol is empty")
        inheritance = fields[col["inheritance"]].strip() or "N/A"
        mim = fields[col["phenotype MIM number"]].strip()
        omim_id = _int(mim, "phenotype MIM number", errors) if mim else None
        # Stripped as every other cell: "... 1} " made a second, identical-looking phenotype.
        description = fields[col["phenotype"]].strip()
        if not description:
            errors.append("phenotype is empty")
        if not errors:
            errors += genes.check(gene_id, symbol, f"line {lineno} of {Path(path).name}")
        if errors:
            reader.problem(lineno, "; ".join(errors))
            continue
        key = (gene_id, description, inheritance)
        first = phenotypes.get(key)
        if first is None:
            phenotypes[key] = {"gene_id": gene_id, "description": description,
                               "inheritance": inheritance, "omim_id": omim_id, "line": lineno}
        elif first["omim_id"] != omim_id:
            # One row holds (gene, phenotype, inheritance): one of the numbers was dropped.
            reader.problem(lineno, f"the phenotype of line {first['line']} again, with MIM "
                                   f"number {mim or '(none)'} where that line has "
                                   f"{first['omim_id'] if first['omim_id'] is not None else '(none)'}")
        # (The same line twice is one phenotype.)
    if reader.failed:
        return None
    return list(phenotypes.values())


def read_panel_files(transcripts_path, phenotypes_path):
    """Parse and validate both files; GenepanelError lists every problem found."""
    problems = []
    genes = _GeneNames()
    transcripts = read_transcripts(transcripts_path, problems, genes)
    phenotypes = read_phenotypes(phenotypes_path, problems, genes)
    if problems:
        raise GenepanelError(problems)
    return PanelFiles(transcripts=transcripts, phenotypes=phenotypes,
                      genes={g: s for g, (s, _) in genes.by_id.items()})


# --- writing -----------------------------------------------------------------------------

# ON COMMIT DROP cleans up after a normal deposit; the explicit drops cover a deposit that
# runs inside a caller's open transaction (then ours is only a savepoint).
_TEMP_TABLES = """
DROP TABLE IF EXISTS pg_temp.gp_gene, pg_temp.gp_transcript, pg_temp.gp_phenotype;
CREATE TEMP TABLE gp_gene (hgnc_id integer PRIMARY KEY, hgnc_symbol varchar NOT NULL)
    ON COMMIT DROP;
CREATE TEMP TABLE gp_transcript (
    ord integer NOT NULL, transcript_name varchar PRIMARY KEY, gene_id integer NOT NULL,
    chromosome varchar NOT NULL, tx_start integer NOT NULL, tx_end integer NOT NULL,
    strand varchar(1) NOT NULL, cds_start integer, cds_end integer,
    exon_starts integer[] NOT NULL, exon_ends integer[] NOT NULL, tags text[],
    inheritance text NOT NULL) ON COMMIT DROP;
CREATE TEMP TABLE gp_phenotype (
    ord integer NOT NULL, gene_id integer NOT NULL, description varchar NOT NULL,
    inheritance varchar NOT NULL, omim_id integer) ON COMMIT DROP;
"""

_TRANSCRIPT_FIELDS = ("gene_id", "chromosome", "tx_start", "tx_end", "strand", "cds_start",
                      "cds_end", "exon_starts", "exon_ends", "tags")


def _copy(cur, table, columns, types, rows):
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def deposit_genepanel(conn, name, version, panel, replace=False,
                      genome_reference=GENOME_REFERENCE, progress=None):
    """Write one panel in one transaction. Returns a dict of counts; `status` is "created",
    "replaced" or "exists" (panel already there and replace not asked: nothing written)."""
    say = progress or (lambda text: None)
    began = time.monotonic()
    result = {"name": name, "version": version}
    with conn.transaction(), conn.cursor() as cur:
        # Two deposits of panels sharing genes/transcripts must not race on the same rows.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (PANEL_NAMES_LOCK,))
        params = {"n": name, "v": version, "r": genome_reference}
        # Inserted when missing (`POST genepanels/` takes the same lock: a panel it makes is
        # committed or not there, and a name in another Unicode form is seen below).
        cur.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                    "date_created) VALUES (%(n)s, %(v)s, %(r)s, true, now()) "
                    "ON CONFLICT DO NOTHING RETURNING 1", params)
        exists = cur.fetchone() is None
        # Analysis folders name the panel; its export's comment line holds both. A name
        # that exists (an adopted database's panel, also in its next version) and the
        # version of a panel that exists are checked for line breaks only.
        name_exists = exists or cur.execute(
            "SELECT 1 FROM genepanel WHERE name = %(n)s AND version <> %(v)s LIMIT 1",
            params).fetchone() is not None
        odd = [f"the gene panel {label} {value!r} has a control or invisible character"
               for label, value, known in (("name", name, name_exists),
                                           ("version", version, exists))
               if has_control_character(value, new=not known)]
        odd += [problem for label, value, known in (("name", name, name_exists),
                                                    ("version", version, exists))
                if not known and (problem := panel_name_problem(label, value))]
        if not name_exists:
            odd += [f"the gene panel name {name!r} is that of the existing panel {other!r} in "
                    "another Unicode form (a file saved on a Mac decomposes `Å`): name it "
                    "exactly as stored" for other in same_text_other_form(cur, "genepanel", name)]
        if not exists:
            odd += [f"the gene panel version {version!r} is the existing version {other!r} of "
                    f"{name} in another Unicode form: give the version exactly as stored, or "
                    "another" for other in versions_in_other_form(cur, name, version)]
        if odd:
            raise GenepanelError(odd)
        if exists:
            # NO KEY UPDATE, as the UPDATE below: FOR UPDATE waited for every import on the
            # panel (their foreign keys key-share-lock it), holding the panel-name lock, so
            # `POST genepanels/` waited behind it (30 s, then 503).
            official = cur.execute("SELECT official FROM genepanel WHERE name = %(n)s AND "
                                   "version = %(v)s FOR NO KEY UPDATE", params).fetchone()[0]
            if not official:
                # Made by a user (POST genepanels/): its analyses and groups keep it as made;
                # backing out with success would let the operator believe the official
                # files are in.
                raise GenepanelError([
                    f"gene panel {name} {version} exists as a panel made by a user in ELLA "
                    "(not official); deposit the files under another version"])
            if not replace:
                result["status"] = "exists"
                return result
            cur.execute("UPDATE genepanel SET genome_reference = %(r)s "
                        "WHERE name = %(n)s AND version = %(v)s", params)
        result["status"] = "replaced" if exists else "created"
        cur.execute(_TEMP_TABLES)

        say("genes")
        _copy(cur, "gp_gene", ("hgnc_id", "hgnc_symbol"), ["int4", "varchar"],
              sorted(panel.genes.items()))
        cur.execute(
            "SELECT n.hgnc_id, n.hgnc_symbol, g.hgnc_id FROM gp_gene n JOIN gene g "
            "ON lower(g.hgnc_symbol) = lower(n.hgnc_symbol) AND g.hgnc_id <> n.hgnc_id "
            "ORDER BY 1")
        clashes = cur.fetchall()
        if clashes:
            raise GenepanelError([
                f"HGNC symbol {sym!r} has HGNC id {gid} in the panel files but belongs to "
                f"HGNC id {other} in the database" for gid, sym, other in clashes])
        cur.execute("UPDATE gene g SET hgnc_symbol = n.hgnc_symbol FROM gp_gene n "
                    "WHERE g.hgnc_id = n.hgnc_id AND g.hgnc_symbol <> n.hgnc_symbol")
        result["genes_renamed"] = cur.rowcount
        cur.execute("INSERT INTO gene (hgnc_id, hgnc_symbol) SELECT hgnc_id, hgnc_symbol "
                    "FROM gp_gene n WHERE NOT EXISTS "
                    "(SELECT 1 FROM gene g WHERE g.hgnc_id = n.hgnc_id)")
        result["genes_new"] = cur.rowcount
        result["genes_reused"] = len(panel.genes) - cur.rowcount

        say("transcripts")
        _copy(cur, "gp_transcript", ("ord", "transcript_name", *_TRANSCRIPT_FIELDS,
                                     "inheritance"),
              ["int4", "varchar", "int4", "varchar", "int4", "int4", "varchar", "int4", "int4",
               "int4[]", "int4[]", "text[]", "text"],
              ((i, t["transcript_name"], *(t[f] for f in _TRANSCRIPT_FIELDS), t["inheritance"])
               for i, t in enumerate(panel.transcripts)))
        fields = ", ".join(_TRANSCRIPT_FIELDS)
        params = {"n": name, "v": version, "r": genome_reference}
        cur.execute(
            f"INSERT INTO transcript (transcript_name, type, genome_reference, {fields}) "
            f"SELECT transcript_name, 'RefSeq', %(r)s, {fields} FROM gp_transcript n "
            "WHERE NOT EXISTS (SELECT 1 FROM transcript t "
            "                  WHERE t.transcript_name = n.transcript_name) ORDER BY ord",
            params)
        result["transcripts_new"] = cur.rowcount
        result["transcripts_reused"] = len(panel.transcripts) - cur.rowcount
        if not replace:
            # A reused transcript of another gene is that gene's in this panel: the panel
            # got a gene its files do not list and lost one they do.
            cur.execute("SELECT n.transcript_name, t.gene_id, n.gene_id FROM gp_transcript n "
                        "JOIN transcript t USING (transcript_name) "
                        "WHERE t.gene_id <> n.gene_id ORDER BY n.ord")
            moved = cur.fetchall()
            if moved:
                raise GenepanelError([
                    f"transcript {tx} is on HGNC id {stored} in the database but on HGNC id "
                    f"{given} in the panel files (--replace moves it, for every panel that has "
                    "it)" for tx, stored, given in moved[:20]]
                    + ([f"... and {len(moved) - 20} more"] if len(moved) > 20 else []))
        differs = (f"(t.genome_reference, {', '.join('t.' + f for f in _TRANSCRIPT_FIELDS)}) "
                   f"IS DISTINCT FROM (%(r)s, {', '.join('n.' + f for f in _TRANSCRIPT_FIELDS)})")
        if replace:
            sets = ", ".join(f"{f} = n.{f}" for f in _TRANSCRIPT_FIELDS)
            cur.execute(f"UPDATE transcript t SET genome_reference = %(r)s, {sets} "
                        f"FROM gp_transcript n WHERE t.transcript_name = n.transcript_name "
                        f"AND {differs}", params)
            result["transcripts_updated"] = cur.rowcount
            result["transcripts_differing"] = 0
        else:
            cur.execute(f"SELECT count(*) FROM transcript t JOIN gp_transcript n "
                        f"ON t.transcript_name = n.transcript_name WHERE {differs}", params)
            result["transcripts_updated"] = 0
            result["transcripts_differing"] = cur.fetchone()[0]
        if exists:
            cur.execute("DELETE FROM genepanel_transcript "
                        "WHERE genepanel_name = %(n)s AND genepanel_version = %(v)s", params)
        cur.execute("INSERT INTO genepanel_transcript (genepanel_name, genepanel_version, "
                    "transcript_id, inheritance) SELECT %(n)s, %(v)s, t.id, n.inheritance "
                    "FROM gp_transcript n JOIN transcript t USING (transcript_name) "
                    "ORDER BY n.ord", params)
        result["transcript_links"] = cur.rowcount

        say("phenotypes")
        _copy(cur, "gp_phenotype", ("ord", "gene_id", "description", "inheritance", "omim_id"),
              ["int4", "int4", "varchar", "varchar", "int4"],
              ((i, p["gene_id"], p["description"], p["inheritance"], p["omim_id"])
               for i, p in enumerate(panel.phenotypes)))
        # An empty inheritance cell reads as N/A, and an export writes both N/A and the ''
        # of older data as an empty cell (import.md 4.6): a phenotype stored with '' is the
        # one such a cell names, unless one with N/A exists (an exported panel deposited
        # again linked new N/A copies of them).
        cur.execute("UPDATE gp_phenotype n SET inheritance = '' WHERE n.inheritance = 'N/A' "
                    "AND EXISTS (SELECT 1 FROM phenotype p WHERE p.gene_id = n.gene_id AND "
                    "p.description = n.description AND p.inheritance = '') AND NOT EXISTS ("
                    "SELECT 1 FROM phenotype p WHERE p.gene_id = n.gene_id AND "
                    "p.description = n.description AND p.inheritance = 'N/A')")
        same = ("p.gene_id = n.gene_id AND p.description = n.description "
                "AND p.inheritance = n.inheritance")
        cur.execute("INSERT INTO phenotype (gene_id, description, inheritance, omim_id) "
                    "SELECT gene_id, description, inheritance, omim_id FROM gp_phenotype n "
                    f"WHERE NOT EXISTS (SELECT 1 FROM phenotype p WHERE {same}) ORDER BY ord")
        result["phenotypes_new"] = cur.rowcount
        result["phenotypes_reused"] = len(panel.phenotypes) - cur.rowcount
        if replace:
            cur.execute(f"UPDATE phenotype p SET omim_id = n.omim_id FROM gp_phenotype n "
                        f"WHERE {same} AND p.omim_id IS DISTINCT FROM n.omim_id")
            result["phenotypes_differing"] = 0
        else:
            cur.execute(f"SELECT count(*) FROM phenotype p JOIN gp_phenotype n ON {same} "
                        "WHERE p.omim_id IS DISTINCT FROM n.omim_id")
            result["phenotypes_differing"] = cur.fetchone()[0]
        if exists:
            cur.execute("DELETE FROM genepanel_phenotype "
                        "WHERE genepanel_name = %(n)s AND genepanel_version = %(v)s", params)
        cur.execute("INSERT INTO genepanel_phenotype (genepanel_name, genepanel_version, "
                    f"phenotype_id) SELECT %(n)s, %(v)s, p.id FROM gp_phenotype n "
                    f"JOIN phenotype p ON {same} ORDER BY n.ord", params)
        result["phenotype_links"] = cur.rowcount
        cur.execute("DROP TABLE gp_gene, gp_transcript, gp_phenotype")
        say("committing")
    result["seconds"] = time.monotonic() - began
    return result


def summary_line(result):
    """The one line a deposit ends with."""
    name = f"{result['name']}_{result['version']}"
    if result["status"] == "exists":
        return f"Genepanel {name} exists in database, backing out"
    verb = "replaced" if result["status"] == "replaced" else "deposited"
    genes = f"genes {result['genes_new']} new / {result['genes_reused']} reused"
    if result["genes_renamed"]:
        genes += f" ({result['genes_renamed']} renamed)"
    transcripts = (f"transcripts {result['transcripts_new']} new / "
                   f"{result['transcripts_reused']} reused")
    if result["transcripts_updated"]:
        transcripts += f" ({result['transcripts_updated']} updated)"
    return (f"Genepanel {name} {verb}: {genes}, {transcripts}, phenotypes "
            f"{result['phenotypes_new']} new / {result['phenotypes_reused']} reused; "
            f"{result['transcript_links']} transcript and {result['phenotype_links']} "
            f"phenotype links ({result['seconds']:.2f} s)")
