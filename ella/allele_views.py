"""Read models of alleles and their assessment entities as the API serves them (api.md 3.4, 3.5).

`load_alleles` builds the Allele shape (annotation with transcript selection, custom
annotation merged in, current or `link`-selected assessments, reports, reference assessments,
tags, warnings and, in an analysis context, samples with genotypes). The `*_shapes` functions
turn rows of the versioned tables into their JSON shapes. Everything runs in the caller's
transaction; all SQL is parameterised.
"""

import bisect
import re
from fractions import Fraction
from typing import NamedTuple, Optional

from ella.alleles import alt_depth
from ella.auth import users

ALLELE_COLUMNS = ("id", "genome_reference", "chromosome", "start_position", "open_end_position",
                  "change_from", "change_to", "change_type", "vcf_pos", "vcf_ref", "vcf_alt",
                  "length", "caller_type")

# q columns of GET alleles/ (name -> (SQL expression over alias a, type)).
ALLELE_Q_COLUMNS = {
    "id": ("a.id", "integer"), "genome_reference": ("a.genome_reference", "text"),
    "chromosome": ("a.chromosome", "text"), "start_position": ("a.start_position", "integer"),
    "open_end_position": ("a.open_end_position", "integer"),
    "change_from": ("a.change_from", "text"), "change_to": ("a.change_to", "text"),
    "change_type": ("a.change_type::text", "text"), "vcf_pos": ("a.vcf_pos", "integer"),
    "vcf_ref": ("a.vcf_ref", "text"), "vcf_alt": ("a.vcf_alt", "text"),
    "length": ("a.length", "integer"), "caller_type": ("a.caller_type::text", "text"),
}

LINK_KEYS = ("annotation_id", "customannotation_id", "alleleassessment_id",
             "referenceassessment_id", "allelereport_id")

NEARBY_DISTANCE = 2
# Every allele with a genotype (first or second allele) in a sample of the analysis
# %(analysis_id)s: two equality joins, so PostgreSQL can hash them (ELLA's schema has no index
# on the genotype's allele columns, and an OR of the two scans per allele).
ANALYSIS_ALLELE_IDS = (
    "SELECT g.allele_id FROM genotype g JOIN sample s ON s.id = g.sample_id "
    "WHERE s.analysis_id = %(analysis_id)s UNION "
    "SELECT g.secondallele_id FROM genotype g JOIN sample s ON s.id = g.sample_id "
    "WHERE s.analysis_id = %(analysis_id)s AND g.secondallele_id IS NOT NULL")


# By the database's clock, which dated the row: this host's clock may differ (a fresh
# assessment read minus seconds old when it ran behind).
SECONDS_SINCE_CREATED = ("EXTRACT(EPOCH FROM statement_timestamp() - x.date_created)::float8 "
                         "AS seconds_since_update")


def _users_by_id(conn, user_ids):
    ids = sorted({i for i in user_ids if i is not None})
    if not ids:
        return {}
    return {u["id"]: u for u in users(conn, "u.id = ANY(%s)", (ids,), full=False)}


def _groups_by_id(conn, group_ids):
    ids = sorted({i for i in group_ids if i is not None})
    if not ids:
        return {}
    return {gid: {"id": gid, "name": name} for gid, name in conn.execute(
        "SELECT id, name FROM usergroup WHERE id = ANY(%s)", (ids,))}


# --- assessment entity shapes (api.md 3.5) -----------------------------------------------

def _rows(conn, sql, params):
    cur = conn.execute(sql, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def alleleassessment_shapes(conn, where, params=(), suffix=""):
    rows = _rows(conn, "SELECT x.id, x.date_created, x.date_superceeded, x.allele_id, "
                 "x.analysis_id, x.genepanel_name, x.genepanel_version, x.annotation_id, "
                 "x.custom_annotation_id, x.previous_assessment_id, x.user_id, x.usergroup_id, "
                 "x.classification::text AS classification, x.evaluation, "
                 f"{SECONDS_SINCE_CREATED} FROM alleleassessment x WHERE {where} "
                 f"ORDER BY x.id {suffix}", params)
    user_map = _users_by_id(conn, [r["user_id"] for r in rows])
    group_map = _groups_by_id(conn, [r["usergroup_id"] for r in rows])
    attachments = {}
    if rows:
        for aa_id, att_id in conn.execute(
                "SELECT alleleassessment_id, attachment_id FROM alleleassessmentattachment "
                "WHERE alleleassessment_id = ANY(%s) AND attachment_id IS NOT NULL "
                "ORDER BY attachment_id", ([r["id"] for r in rows],)):
            attachments.setdefault(aa_id, []).append(att_id)
    result = []
    for r in rows:
        result.append({
            **{k: r[k] for k in ("id", "date_created", "date_superceeded", "allele_id",
                                 "analysis_id", "genepanel_name", "genepanel_version",
                                 "annotation_id", "custom_annotation_id",
                                 "previous_assessment_id", "user_id", "usergroup_id")},
            "usergroup": group_map.get(r["usergroup_id"]),
            "user": user_map.get(r["user_id"]),
            "classification": r["classification"],
            "seconds_since_update": r["seconds_since_update"],
            "evaluation": r["evaluation"],
            "attachment_ids": attachments.get(r["id"], []),
        })
    return result


def allelereport_shapes(conn, where, params=(), suffix=""):
    rows = _rows(conn, "SELECT x.id, x.date_created, x.date_superceeded, x.allele_id, "
                 "x.analysis_id, x.previous_report_id, x.user_id, x.usergroup_id, x.evaluation, "
                 f"{SECONDS_SINCE_CREATED} FROM allelereport x WHERE {where} "
                 f"ORDER BY x.id {suffix}", params)
    user_map = _users_by_id(conn, [r["user_id"] for r in rows])
    group_map = _groups_by_id(conn, [r["usergroup_id"] for r in rows])
    return [{
        **{k: r[k] for k in ("id", "date_created", "date_superceeded", "allele_id",
                             "analysis_id", "previous_report_id", "user_id", "usergroup_id")},
        "usergroup": group_map.get(r["usergroup_id"]),
        "user": user_map.get(r["user_id"]),
        "seconds_since_update": r["seconds_since_update"],
        "evaluation": r["evaluation"],
    } for r in rows]


def referenceassessment_shapes(conn, where, params=(), suffix=""):
    return _rows(conn, "SELECT x.id, x.allele_id, x.reference_id, x.analysis_id, "
                 "x.genepanel_name, x.genepanel_version, x.date_created, x.date_superceeded, "
                 f"x.user_id, x.evaluation FROM referenceassessment x WHERE {where} "
                 f"ORDER BY x.id {suffix}", params)


def geneassessment_shapes(conn, where, params=(), suffix=""):
    rows = _rows(conn, "SELECT x.id, x.date_created, x.date_superceeded, x.gene_id, "
                 "x.genepanel_name, x.genepanel_version, x.analysis_id, "
                 "x.previous_assessment_id, x.user_id, x.usergroup_id, x.evaluation, "
                 f"{SECONDS_SINCE_CREATED} FROM geneassessment x WHERE {where} "
                 f"ORDER BY x.id {suffix}", params)
    user_map = _users_by_id(conn, [r["user_id"] for r in rows])
    result = []
    for r in rows:
        evaluation, seconds = r.pop("evaluation"), r.pop("seconds_since_update")
        r["user"] = user_map.get(r["user_id"])
        r["seconds_since_update"] = seconds
        r["evaluation"] = evaluation
        result.append(r)
    return result


def customannotation_shapes(conn, where, params=(), suffix=""):
    return _rows(conn, "SELECT x.id, x.allele_id, x.user_id, x.annotations, "
                 f"x.date_superceeded, x.date_created FROM customannotation x WHERE {where} "
                 f"ORDER BY x.id {suffix}", params)


# q columns of the assessment lists (name -> (SQL expression over alias x, type)).
def _q(names, ints=(), enums=()):
    cols = {}
    for name in names:
        if name in ints:
            cols[name] = (f"x.{name}", "integer")
        elif name.startswith("date_"):
            cols[name] = (f"x.{name}", "timestamptz")  # compared as times, not as text
        elif name in enums:
            cols[name] = (f"x.{name}::text", "text")
        else:
            cols[name] = (f"x.{name}", "text")
    return cols


_IDS = ("id", "allele_id", "analysis_id", "annotation_id", "custom_annotation_id",
        "previous_assessment_id", "previous_report_id", "previous_annotation_id", "user_id",
        "usergroup_id", "reference_id", "gene_id", "alleleassessment_id")

Q_COLUMNS = {
    "alleleassessment": _q(("id", "classification", "user_id", "date_created",
                            "date_superceeded", "previous_assessment_id", "allele_id",
                            "genepanel_name", "genepanel_version", "analysis_id",
                            "annotation_id", "custom_annotation_id", "usergroup_id"),
                           _IDS, ("classification",)),
    "allelereport": _q(("id", "user_id", "date_created", "date_superceeded",
                        "previous_report_id", "allele_id", "analysis_id",
                        "alleleassessment_id", "usergroup_id"), _IDS),
    "referenceassessment": _q(("id", "reference_id", "user_id", "date_created",
                               "date_superceeded", "genepanel_name", "genepanel_version",
                               "allele_id", "previous_assessment_id", "analysis_id",
                               "usergroup_id"), _IDS),
    "geneassessment": _q(("id", "user_id", "usergroup_id", "date_created", "genepanel_name",
                          "genepanel_version", "date_superceeded", "previous_assessment_id",
                          "gene_id", "analysis_id"), _IDS),
    "customannotation": _q(("id", "allele_id", "user_id", "previous_annotation_id",
                            "date_superceeded", "date_created"), _IDS),
}

SHAPES = {
    "alleleassessment": alleleassessment_shapes,
    "allelereport": allelereport_shapes,
    "referenceassessment": referenceassessment_shapes,
    "geneassessment": geneassessment_shapes,
    "customannotation": customannotation_shapes,
}


# --- annotation processing (api.md 3.4) --------------------------------------------------

MAX_VERSION_DIGITS = 18


def _version(name):
    """filtering.md 2.9's version of a transcript name: the integer after the dot, minus 0.5
    when more follows (`NM_1.3b` -> 2.5); -1 without one."""
    _, dot, version = name.partition(".")
    digits = re.match(r"[0-9]+", version) if dot else None  # ASCII, as the SQL reads it
    if digits is None:
        return -1
    # Its first 18 digits, as the filters' SQL reads it: Python's int() refuses over 4,300
    # (a VCF's `NM_1.<5,000 digits>` made every view of its variant a 500).
    number = int(digits.group()[:MAX_VERSION_DIGITS])
    # Exact (a Fraction, not a float's 53 bits), as the SQL's numeric compares them.
    return number if digits.end() == len(version) else number - Fraction(1, 2)


def panel_transcripts(conn, name, version):
    """[(transcript_name, hgnc_id)] of a gene panel."""
    return [tuple(r) for r in conn.execute(
        "SELECT t.transcript_name, t.gene_id FROM genepanel_transcript gt "
        "JOIN transcript t ON t.id = gt.transcript_id "
        "WHERE gt.genepanel_name = %s AND gt.genepanel_version = %s", (name, version))]


def panel_index(panel):
    """{hgnc_id: [panel transcript names]} of a panel's [(transcript_name, hgnc_id)]: built
    once per request, so matching a variant's transcripts looks at its gene's few panel
    transcripts, not the whole panel (3,500 transcripts for Mendeliome)."""
    index = {}
    for name, gene_id in panel:
        index.setdefault(gene_id, []).append(name)
    return index


def filtered_transcript_names(transcripts, index):
    """Sorted annotation transcript names matching the panel's transcripts (`index` from
    `panel_index`), as filtering.md 2.9 matches them: the same HGNC id, and the panel name
    starting with the annotation's accession (its name before the dot); per panel transcript
    the annotation transcript of the exact name, else the highest version."""
    candidates = {}
    for t in transcripts:
        name = t.get("transcript")
        if not isinstance(name, str):
            continue
        accession = name.split(".")[0]
        gene = t.get("hgnc_id")
        for panel_name in index.get(gene, ()):
            if panel_name.startswith(accession):
                candidates.setdefault((gene, panel_name), []).append(name)
    return sorted({panel_name if panel_name in names else max(names, key=_version)
                   for (_, panel_name), names in candidates.items()})


class TranscriptRules(NamedTuple):
    """The config's `transcripts` settings, prepared once per request."""
    inclusion: Optional[re.Pattern]  # transcripts.inclusion_regex, compiled
    severity: dict  # consequence -> rank in transcripts.consequences (0 = most severe)

    @classmethod
    def of(cls, config):
        settings = config.get("transcripts") or {}
        regex = settings.get("inclusion_regex")
        return cls(re.compile(regex) if regex else None,
                   {c: i for i, c in enumerate(settings.get("consequences") or [])})


def process_annotation(annotation, rules, panel=None):
    """Transcript selection, `filtered_transcripts` and `worst_consequence` on a copy of the
    stored annotation document. `rules` is a `TranscriptRules`, `panel` a `panel_index` or
    None."""
    result = dict(annotation or {})
    transcripts = [t for t in result.get("transcripts") or [] if isinstance(t, dict)]
    filtered = filtered_transcript_names(transcripts, panel) if panel else []
    keep = set(filtered)
    inclusion = rules.inclusion
    kept = [t for t in transcripts
            if t.get("transcript") in keep
            or (inclusion and isinstance(t.get("transcript"), str)
                and inclusion.match(t["transcript"]))]
    if kept:
        transcripts = kept
    rank = rules.severity
    best, worst = None, []
    for t in transcripts:
        ranks = [rank[c] for c in t.get("consequences") or [] if c in rank]
        if not ranks:
            continue
        severity = min(ranks)
        if best is None or severity < best:
            best, worst = severity, [t["transcript"]]
        elif severity == best:
            worst.append(t["transcript"])
    result["transcripts"] = transcripts
    result["worst_consequence"] = worst
    result["filtered_transcripts"] = filtered
    return result


def merge_custom_annotation(annotation, custom):
    """Custom annotation `external`/`prediction` merged over the annotation's; references
    appended."""
    result = dict(annotation)
    data = custom or {}
    for key in ("external", "prediction"):
        if isinstance(data.get(key), dict):
            result[key] = {**(result.get(key) or {}), **data[key]}
    if isinstance(data.get("references"), list):
        result["references"] = list(result.get("references") or []) + data["references"]
    return result


def worse_consequence_warning(annotation):
    worst = annotation.get("worst_consequence") or []
    if not worst or set(worst) & set(annotation.get("filtered_transcripts") or []):
        return None
    parts = [f"{t['transcript']} ({', '.join(t.get('consequences') or [])})"
             for t in annotation.get("transcripts") or [] if t.get("transcript") in worst]
    return "Worse consequences found in: " + ", ".join(parts)


# --- samples and genotypes (analysis context) --------------------------------------------

SAMPLE_KEYS = ("id", "identifier", "sample_type", "date_deposited", "affected", "proband",
               "family_id", "father_id", "mother_id", "sibling_id", "sex")


def _allele_ratio(depth, vcf_ref, vcf_alt):
    if not isinstance(depth, dict) or len(depth) <= 1:
        return None
    count = alt_depth(depth, vcf_ref, vcf_alt)
    values = list(depth.values())
    if count is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    total = sum(values)
    if not any(v > 0 for v in values) or total == 0:
        return None
    return count / total


def _ref_alt(allele):
    """The allele's two sides as the genotype display writes them (insertions with their
    padding base, `A/ATT`; a deleted side as `-`)."""
    if allele["change_type"] == "ins":
        return allele["vcf_ref"], allele["vcf_alt"]
    return allele["change_from"] or "-", allele["change_to"] or "-"


def formatted_genotype(first, first_row, second=None, second_row=None):
    """ELLA's display genotype of one sample on one genotype: `first`/`second` are the
    genotype's first and second allele (the proband's two ALTs at a multiallelic site),
    `*_row` the sample's genotype sample data for each (`type`, `multiallelic`). Both rows
    decide, so a relative carrying both of the proband's alleles shows them (`T/G`); `?`
    stands for an allele the data does not name (a relative's allele that is neither of the
    proband's), `./.` for no coverage."""
    first_type = first_row["type"]
    if first_type == "No coverage":
        return "./."
    second_type = second_row["type"] if second_row else None
    ref1, alt1 = _ref_alt(first)
    if first_type == "Homozygous":
        return f"{alt1}/{alt1}"
    if second_type == "Homozygous":
        alt2 = _ref_alt(second)[1]
        return f"{alt2}/{alt2}"
    if not first_row["multiallelic"]:  # the row alone says it all
        return f"{ref1}/{alt1}" if first_type == "Heterozygous" else f"{ref1}/{ref1}"
    if second_row is not None and not second_row["multiallelic"]:
        ref2, alt2 = _ref_alt(second)
        return f"{ref2}/{alt2}" if second_type == "Heterozygous" else f"{ref2}/{ref2}"
    if second_type == "Heterozygous":
        alt2 = _ref_alt(second)[1]
        return f"{alt1}/{alt2}" if first_type == "Heterozygous" else f"{alt2}/?"
    return f"{alt1}/?" if first_type == "Heterozygous" else "?/?"


def _cnv_formatted(allele, gtype, copy_number):
    """api.md 3.4's CNV forms: a deletion by its alleles (`(Nnt)/-`, `-/-`, `Nnt/Nnt`), a
    duplication by its copy number (`CN: n (Nnt)`) where the caller gave one: by its
    genotype type alone a duplication read as a deletion, and one called without GT
    whose CN gave no type (`./.`, stored as Reference, import.md 2.9) as no variant."""
    if gtype == "No coverage":
        return "./."
    size = f"{allele['length']}nt"
    if allele["change_type"] in ("dup", "dup_tandem") and copy_number is not None:
        return f"CN: {copy_number} ({size})"
    return {"Heterozygous": f"({size})/-", "Homozygous": "-/-",
            "Reference": f"{size}/{size}"}.get(gtype, "?")


def _genotype(allele, gsd, genotype, sample_type, formatted):
    ratio = _allele_ratio(gsd["allele_depth"], allele["vcf_ref"], allele["vcf_alt"])
    gtype = gsd["type"]
    if gtype == "Homozygous":
        ratio_ok = ratio is not None and ratio > 0.9
    elif gtype == "Heterozygous":
        ratio_ok = ratio is not None and 0.3 < ratio < 0.7
    else:
        ratio_ok = gtype == "Reference"
    checks = {"snp": allele["change_type"] == "SNP",
              "pass": genotype["filter_status"] == "PASS",
              "dp": gsd["sequencing_depth"] is not None and gsd["sequencing_depth"] >= 20,
              "allele_ratio": ratio_ok,
              "hts": sample_type == "HTS"}
    result = {
        "id": gsd["id"], "variant_quality": genotype["variant_quality"],
        "filter_status": genotype["filter_status"], "type": gtype,
        "multiallelic": gsd["multiallelic"], "genotype_quality": gsd["genotype_quality"],
        "genotype_likelihood": gsd["genotype_likelihood"],
        "sequencing_depth": gsd["sequencing_depth"], "allele_depth": gsd["allele_depth"],
        "copy_number": gsd["copy_number"],
    }
    if ratio is not None:
        result["allele_ratio"] = ratio
    result["needs_verification_checks"] = checks
    result["needs_verification"] = checks["hts"] and not all(
        checks[k] for k in ("snp", "pass", "dp", "allele_ratio"))
    result["formatted"] = formatted
    return result


def analysis_samples(conn, analysis_id, alleles):
    """{allele_id: [SampleWithGenotype]} for the proband samples of the analysis carrying each
    allele."""
    ids = [a["id"] for a in alleles]
    by_id = {a["id"]: a for a in alleles}
    samples = {r["id"]: r for r in _rows(
        conn, "SELECT id, identifier, sample_type::text AS sample_type, date_deposited, "
        "affected, proband, family_id, father_id, mother_id, sibling_id, sex::text AS sex "
        "FROM sample WHERE analysis_id = %s ORDER BY id", (analysis_id,))}
    genotypes = _rows(conn, "SELECT g.id, g.allele_id, g.secondallele_id, g.sample_id, "
                      "g.variant_quality, g.filter_status FROM genotype g "
                      "JOIN sample s ON s.id = g.sample_id WHERE s.analysis_id = %s "
                      "AND (g.allele_id = ANY(%s) OR g.secondallele_id = ANY(%s)) ORDER BY g.id",
                      (analysis_id, ids, ids))
    if not genotypes:
        return {}
    data = _rows(conn, "SELECT id, genotype_id, secondallele, multiallelic, type::text AS type, "
                 "sample_id, genotype_quality, sequencing_depth, genotype_likelihood, "
                 "allele_depth, allele_ratio, copy_number FROM genotypesampledata "
                 "WHERE genotype_id = ANY(%s)", ([g["id"] for g in genotypes],))
    gsd = {(d["genotype_id"], d["sample_id"], d["secondallele"]): d for d in data}
    # Both alleles of every genotype, also one not asked for: the display names both.
    genotype_alleles = {r["id"]: r for r in _rows(
        conn, "SELECT id, change_type::text AS change_type, change_from, change_to, vcf_ref, "
        "vcf_alt FROM allele WHERE id = ANY(%s)",
        (sorted({i for g in genotypes for i in (g["allele_id"], g["secondallele_id"])
                 if i is not None}),))}
    result = {}
    for g in genotypes:
        for allele_id, second in ((g["allele_id"], False), (g["secondallele_id"], True)):
            if allele_id not in by_id:
                continue
            allele = by_id[allele_id]

            def with_genotype(sample_id):
                sample = samples.get(sample_id)
                row = gsd.get((g["id"], sample_id, second))
                if sample is None or row is None:
                    return None
                if allele["caller_type"] == "cnv":
                    formatted = _cnv_formatted(allele, row["type"], row["copy_number"])
                else:
                    first_row = gsd.get((g["id"], sample_id, False)) or row
                    second_row = gsd.get((g["id"], sample_id, True)) \
                        if g["secondallele_id"] is not None else None
                    formatted = formatted_genotype(
                        genotype_alleles[g["allele_id"]], first_row,
                        genotype_alleles.get(g["secondallele_id"]), second_row)
                shaped = {k: sample[k] for k in SAMPLE_KEYS}
                shaped["genotype"] = _genotype(allele, row, g, sample["sample_type"],
                                               formatted)
                return shaped

            proband = with_genotype(g["sample_id"])
            if proband is None:
                continue
            sample = samples[g["sample_id"]]
            for key, parent_key in (("father", "father_id"), ("mother", "mother_id")):
                if sample[parent_key] is not None:
                    parent = with_genotype(sample[parent_key])
                    if parent is not None:
                        proband[key] = parent
            siblings = [with_genotype(s["id"]) for s in samples.values()
                        if s["sibling_id"] == sample["id"]]
            siblings = [s for s in siblings if s is not None]
            if siblings:
                proband["siblings"] = siblings
            result.setdefault(allele_id, []).append(proband)
    return result


class AnalysisPositions:
    """The positions of an analysis' variants, read once, for the nearby warning: ids of the
    given alleles that have another variant of the analysis within 2 bp, one whose start or
    end lies between the allele's start - 2 and end + 2.

    Searched by bisection in Python: in SQL the self-join compared every requested variant
    with every variant of its chromosome, and collecting the analysis' variants joined
    genotypes to alleles per row (ELLA's schema has no index on the genotype's allele
    columns)."""

    def __init__(self, conn, analysis_id):
        self.starts, self.ends, self.own = {}, {}, set()
        for allele_id, chromosome, start, end in conn.execute(
                "SELECT x.id, x.chromosome, x.start_position, x.open_end_position FROM allele x "
                f"WHERE x.id IN ({ANALYSIS_ALLELE_IDS})", {"analysis_id": analysis_id}):
            self.own.add(allele_id)
            self.starts.setdefault(chromosome, []).append(start)
            self.ends.setdefault(chromosome, []).append(end)
        for values in (*self.starts.values(), *self.ends.values()):
            values.sort()

    def nearby(self, alleles):
        result = set()
        for allele in alleles:
            if allele["id"] not in self.own:
                continue
            low = allele["start_position"] - NEARBY_DISTANCE
            high = allele["open_end_position"] + NEARBY_DISTANCE
            chromosome = allele["chromosome"]
            # The allele itself lies in both ranges: another variant makes a count above one.
            for positions in (self.starts[chromosome], self.ends[chromosome]):
                if bisect.bisect_right(positions, high) - bisect.bisect_left(positions, low) > 1:
                    result.add(allele["id"])
                    break
        return result


def _selection(link, key, table, alleles_sql_ids, extra=""):
    """(where, params) choosing the rows of `table` to embed: linked ids or current rows."""
    if link is not None and key in link:
        return (f"x.id = ANY(%s) AND x.allele_id = ANY(%s){extra}",
                (link[key], alleles_sql_ids))
    return f"x.date_superceeded IS NULL AND x.allele_id = ANY(%s){extra}", (alleles_sql_ids,)


ALLELE_ORDER = "a.chromosome, a.start_position, a.id"


def load_alleles(conn, config, where="TRUE", params=(), genepanel=None, analysis_id=None,
                 link=None):
    """Allele shapes of the alleles matching `where` (over alias a), ordered by chromosome and
    start position. `genepanel` is (name, version) or None; `link` a validated dict of id
    lists (api.md 1.8) or None."""
    return AlleleLoader(conn, config, genepanel, analysis_id, link).load(where, params)


class AlleleLoader:
    """load_alleles in as many calls as the caller likes (a list of 20,000 variants is built
    a slice at a time, each turned into JSON before the next: the shapes of all at once took
    hundreds of MB); what every call needs is read once."""

    def __init__(self, conn, config, genepanel=None, analysis_id=None, link=None):
        self.conn, self.config = conn, config
        self.genepanel, self.analysis_id, self.link = genepanel, analysis_id, link
        self._panel = self._positions = None

    def load(self, where="TRUE", params=()):
        conn, analysis_id = self.conn, self.analysis_id
        cols = ", ".join(f"a.{c}::text" if c in ("change_type", "caller_type") else f"a.{c}"
                         for c in ALLELE_COLUMNS)
        alleles = _rows(conn, f"SELECT {cols} FROM allele a WHERE {where} "
                        f"ORDER BY {ALLELE_ORDER}", params)
        if not alleles:
            return []
        if self.genepanel and self._panel is None:
            self._panel = panel_index(panel_transcripts(conn, *self.genepanel))
        if analysis_id is not None and self._positions is None:
            self._positions = AnalysisPositions(conn, analysis_id)
        return self._shapes(alleles)

    def _shapes(self, alleles):
        conn, link, analysis_id = self.conn, self.link, self.analysis_id
        ids = [a["id"] for a in alleles]
        panel = self._panel
        rules = TranscriptRules.of(self.config)
        where_ann, p_ann = _selection(link, "annotation_id", "annotation", ids)
        annotations = {}
        for r in _rows(conn, "SELECT x.id, x.allele_id, x.annotations, x.schema_version, "
                       "x.annotation_config_id FROM annotation x "
                       f"WHERE {where_ann} ORDER BY x.id", p_ann):
            annotations[r["allele_id"]] = r
        where_ca, p_ca = _selection(link, "customannotation_id", "customannotation", ids)
        customs = {r["allele_id"]: r for r in customannotation_shapes(conn, where_ca, p_ca)}
        where_aa, p_aa = _selection(link, "alleleassessment_id", "alleleassessment", ids)
        assessments = {r["allele_id"]: r for r in alleleassessment_shapes(conn, where_aa, p_aa)}
        where_ar, p_ar = _selection(link, "allelereport_id", "allelereport", ids)
        reports = {r["allele_id"]: r for r in allelereport_shapes(conn, where_ar, p_ar)}
        where_ra, p_ra = _selection(link, "referenceassessment_id", "referenceassessment", ids)
        references = {}
        for r in referenceassessment_shapes(conn, where_ra, p_ra):
            references.setdefault(r["allele_id"], []).append(r)

        samples = nearby = None
        if analysis_id is not None:
            samples = analysis_samples(conn, analysis_id, alleles)
            nearby = self._positions.nearby(alleles)

        result = []
        for allele in alleles:
            item = dict(allele)
            warnings = {}
            tags = set()
            ann = annotations.get(allele["id"])
            if ann is not None:
                doc = process_annotation(ann["annotations"], rules, panel)
                custom = customs.get(allele["id"])
                if custom is not None:
                    doc = merge_custom_annotation(doc, custom["annotations"])
                doc["annotation_id"] = ann["id"]
                doc["schema_version"] = ann["schema_version"]
                doc["annotation_config_id"] = ann["annotation_config_id"]
                if custom is not None:
                    doc["custom_annotation_id"] = custom["id"]
                item["annotation"] = doc
                if doc.get("references"):
                    tags.add("has_references")
                if allele["caller_type"] == "snv":
                    text = worse_consequence_warning(doc)
                    if text:
                        warnings["worse_consequence"] = text
            if samples is not None:
                item["samples"] = samples.get(allele["id"], [])
                for sample in item["samples"]:
                    genotype = sample["genotype"]
                    if genotype["type"] == "Homozygous":
                        tags.add("homozygous")
                for sample in _all_samples(item["samples"]):
                    checks = sample["genotype"]["needs_verification_checks"]
                    if checks["hts"] and not (checks["pass"] and checks["dp"]
                                              and checks["allele_ratio"]):
                        tags.add("low_quality")
                if allele["id"] in nearby:
                    warnings["nearby_allele"] = "Another variant is within 2 bp of this variant"
            if allele["id"] in assessments:
                item["allele_assessment"] = assessments[allele["id"]]
            if allele["id"] in references:
                item["reference_assessments"] = references[allele["id"]]
            if allele["id"] in reports:
                item["allele_report"] = reports[allele["id"]]
            item["tags"] = sorted(tags)
            if warnings:
                item["warnings"] = warnings
            result.append(item)
        return result


def _all_samples(samples):
    for sample in samples:
        yield sample
        for key in ("father", "mother"):
            if key in sample:
                yield sample[key]
        yield from sample.get("siblings", [])


def genes_of_alleles(conn, config, allele_ids):
    """[{symbol, hgnc_id, allele_ids}] grouping the alleles by the genes of their current
    annotation's transcripts (those matching config transcripts.inclusion_regex), ordered by
    symbol."""
    regex = (config.get("transcripts") or {}).get("inclusion_regex") or ".*"
    rows = conn.execute(
        "SELECT s.symbol, s.hgnc_id, array_agg(DISTINCT s.allele_id ORDER BY s.allele_id) "
        "FROM annotationshadowtranscript s WHERE s.allele_id = ANY(%s) AND s.hgnc_id IS NOT NULL "
        "AND s.transcript ~ %s GROUP BY s.symbol, s.hgnc_id ORDER BY s.symbol, s.hgnc_id",
        (allele_ids, "^(?:" + regex + ")"))
    return [{"symbol": s, "hgnc_id": h, "allele_ids": list(ids)} for s, h, ids in rows]
