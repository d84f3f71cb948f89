"""A gene panel written out as files (import.md 4.6): what the annotation service gets with a
sample re-analysis (the regions file, and from the pre-import script the transcripts,
phenotypes and exon regions).

The transcripts and phenotypes exports use the deposit format of import.md 4.2/4.3, so an
exported panel deposits again unchanged.
"""

from datetime import date

CHROMOSOME_ORDER = {str(i): i for i in range(1, 23)} | {"X": 23, "Y": 24, "MT": 25}

TRANSCRIPT_HEADER = ("chromosome", "read start", "read end", "name", "score", "strand", "tags",
                     "HGNC id", "HGNC symbol", "inheritance", "coding start", "coding end",
                     "exon starts", "exon ends", "metadata")
PHENOTYPE_HEADER = ("HGNC id", "HGNC symbol", "inheritance", "phenotype MIM number",
                    "phenotype", "PMID", "inheritance info", "comment")


class PanelNotFound(LookupError):
    pass


def _by_position(chromosome, start, end):
    return (CHROMOSOME_ORDER.get(chromosome, 99), chromosome, start, end)


def _text(lines):
    return ("\n".join(lines) + "\n").encode("utf-8")


def _cell(value):
    """A TSV cell: no value is empty; tabs and line breaks (never in ELLA's panels) would break
    the row, so they become spaces."""
    if value is None:
        return ""
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _transcripts(conn, name, version, must_exist=True):
    if must_exist and conn.execute("SELECT 1 FROM genepanel WHERE name = %s AND version = %s",
                    (name, version)).fetchone() is None:
        raise PanelNotFound(f"No gene panel {name} {version}")
    rows = conn.execute(
        "SELECT t.chromosome, t.tx_start, t.tx_end, t.transcript_name, t.strand, t.tags, "
        "g.hgnc_id, g.hgnc_symbol, gt.inheritance, t.cds_start, t.cds_end, t.exon_starts, "
        "t.exon_ends FROM genepanel_transcript gt JOIN transcript t ON t.id = gt.transcript_id "
        "JOIN gene g ON g.hgnc_id = t.gene_id "
        "WHERE gt.genepanel_name = %s AND gt.genepanel_version = %s",
        (name, version)).fetchall()
    return sorted(rows, key=lambda r: _by_position(r[0], r[1], r[2]) + (r[3],))


def _comment(name, version, today):
    return f"# Gene panel: {name}-{version} -- Date: {today.isoformat()} -- exported from ELLA"


def transcripts_tsv(conn, name, version, today=None):
    """The panel's transcripts in the deposit format (score 0.0, metadata {})."""
    lines = [_comment(name, version, today or date.today()), "#" + "\t".join(TRANSCRIPT_HEADER)]
    for (chrom, start, end, tname, strand, tags, hgnc_id, symbol, inheritance, cds_start,
         cds_end, exon_starts, exon_ends) in _transcripts(conn, name, version):
        lines.append("\t".join(_cell(v) for v in (
            chrom, start, end, tname, "0.0", strand, ",".join(tags or []), hgnc_id, symbol,
            inheritance, cds_start, cds_end, ",".join(map(str, exon_starts or [])),
            ",".join(map(str, exon_ends or [])), "{}")))
    return _text(lines)


def phenotypes_tsv(conn, name, version, today=None):
    """The panel's phenotypes in the deposit format (an `N/A` inheritance is left empty)."""
    _transcripts(conn, name, version)  # the panel must exist
    rows = conn.execute(
        "SELECT g.hgnc_id, g.hgnc_symbol, p.inheritance, p.omim_id, p.description "
        "FROM genepanel_phenotype gp JOIN phenotype p ON p.id = gp.phenotype_id "
        "JOIN gene g ON g.hgnc_id = p.gene_id "
        "WHERE gp.genepanel_name = %s AND gp.genepanel_version = %s "
        "ORDER BY g.hgnc_symbol, p.description, p.id", (name, version)).fetchall()
    lines = [_comment(name, version, today or date.today()), "\t".join(PHENOTYPE_HEADER)]
    for hgnc_id, symbol, inheritance, omim_id, description in rows:
        lines.append("\t".join(_cell(v) for v in (
            hgnc_id, symbol, "" if inheritance == "N/A" else inheritance, omim_id, description,
            "", "", "")))
    return _text(lines)


def exon_regions_bed(conn, name, version):
    """One BED row per exon clipped to the coding region (exons outside it left out; a
    non-coding transcript's exons whole), named `<symbol>__<hgnc id>__<transcript>__exon<N>`,
    N in the transcript's direction (on `-` exon 1 is the one with the highest position)."""
    lines = ["#chromosome\tread start\tread end\tname\tscore\tstrand"]
    rows = []
    for (chrom, _, _, tname, strand, _, hgnc_id, symbol, _, cds_start, cds_end, exon_starts,
         exon_ends) in _transcripts(conn, name, version):
        exons = sorted(zip(exon_starts or [], exon_ends or []))
        numbered = list(enumerate(reversed(exons) if strand == "-" else exons, 1))
        for number, (start, end) in numbered:
            if cds_start is not None and cds_end is not None:
                start, end = max(start, cds_start), min(end, cds_end)
                if start >= end:
                    continue
            rows.append((chrom, start, end, f"{symbol}__{hgnc_id}__{tname}__exon{number}",
                         strand))
    for chrom, start, end, label, strand in sorted(
            rows, key=lambda r: _by_position(r[0], r[1], r[2]) + (r[3],)):
        lines.append(f"{chrom}\t{start}\t{end}\t{_cell(label)}\t0\t{strand}")
    return _text(lines)


def regions_bed(conn, name, version):
    """The panel's transcript regions for the annotation service (`#chromosome txStart
    txEnd`)."""
    lines = ["#chromosome\ttxStart\ttxEnd"]
    for chrom, start, end, *_ in _transcripts(conn, name, version, must_exist=False):
        lines.append(f"{chrom}\t{start}\t{end}")
    return _text(lines)
