"""`segregation` (filtering.md 2.8): in a family analysis, remove what does not segregate.

One SQL query pivots the family's genotype data per allele; the sub-rules (de novo, parental
mosaicism, compound heterozygous, recessive homozygous, no-coverage parents) are evaluated in
Python on those rows, as filtering.md section 4 recommends."""

from ella.alleles import is_xlinked
from ella.filters import GENOTYPE_ROWS, FilterError, ids_param, is_int, require

NAME = "segregation"
KIND = "analysis"

HET, HOM, REF, NOCOV = "Heterozygous", "Homozygous", "Reference", "No coverage"
RULES = ("denovo", "compound_heterozygous", "recessive_homozygous", "no_coverage_parents",
         "parental_mosaicism")


class Family:
    """The analysis' family, person by person. An analysis of several VCFs (a trio split
    by chromosome, its SNV and CNV calls) has one sample row per person per VCF, each VCF's
    linked among themselves (import.md 2.6): a person here is the tuple of their sample ids,
    one identifier, and a variant's genotype is read from whichever of them has it."""

    def __init__(self, conn, analysis_id):
        families = [r[0] for r in conn.execute(
            "SELECT DISTINCT family_id FROM sample WHERE analysis_id = %s AND proband "
            "AND family_id IS NOT NULL", (analysis_id,))]
        self.present = bool(families)
        if not families:
            return
        if len(families) > 1:
            raise FilterError("segregation filter: analyses with more than one family are not "
                              "supported")
        probands = conn.execute(
            "SELECT id, identifier, father_id, mother_id, sex::text FROM sample "
            "WHERE analysis_id = %s AND family_id = %s AND proband AND affected ORDER BY id",
            (analysis_id, families[0])).fetchall()
        if len({identifier for _, identifier, _, _, _ in probands}) != 1:
            raise FilterError("segregation filter: the family needs exactly one affected "
                              "proband")
        self.proband = tuple(r[0] for r in probands)
        self.father = tuple(r[2] for r in probands if r[2] is not None) or None
        self.mother = tuple(r[3] for r in probands if r[3] is not None) or None
        self.sex = probands[0][4]
        siblings = conn.execute(
            "SELECT id, identifier, affected FROM sample WHERE analysis_id = %s "
            "AND sibling_id = ANY(%s) ORDER BY id", (analysis_id, list(self.proband))).fetchall()
        people = {}
        for sample, identifier, affected in siblings:
            people.setdefault((identifier, affected), []).append(sample)
        self.affected_siblings = [tuple(ids) for (_, affected), ids in people.items() if affected]
        self.unaffected_siblings = [tuple(ids) for (_, affected), ids in people.items()
                                    if not affected]
        self.samples = [s for person in (self.proband, self.father, self.mother) if person
                        for s in person] + [s for s, _, _ in siblings]

    @property
    def has_parents(self):
        return self.father is not None and self.mother is not None


class Row:
    """One family allele: per sample (type, allele ratio, GQ) and its locus; read per
    person (a tuple of sample ids, see Family)."""

    def __init__(self, allele_id, locus, data, family):
        self.allele_id = allele_id
        self.xlinked = is_xlinked(*locus)
        self.data = data
        self.f = family

    def _values(self, person):
        for sample in person or ():
            if sample in self.data:
                return self.data[sample]
        return (None, None, None)

    def type(self, person):
        return self._values(person)[0]

    def ar(self, person):
        return self._values(person)[1]

    def gq(self, person):
        return self._values(person)[2]

    @property
    def p(self):
        return self.type(self.f.proband)

    @property
    def fa(self):
        return self.type(self.f.father)

    @property
    def mo(self):
        return self.type(self.f.mother)

    def siblings_ok(self):
        return (all((self.type(s) or REF) != HOM for s in self.f.unaffected_siblings)
                and all(self.type(s) == HOM for s in self.f.affected_siblings))


GQ_THRESHOLD_KEYS = ("proband", "mother", "father")


def denovo(row, gq_threshold):
    p, fa, mo = row.p, row.fa, row.mo
    if fa in (None, NOCOV) or mo in (None, NOCOV):
        return False
    if not row.xlinked:
        ok = ((p in (HET, HOM) and fa == REF and mo == REF)
              or (p == HOM and ((fa == HET and mo == REF) or (fa == REF and mo == HET))))
    elif row.f.sex == "Male":
        ok = p == HOM and fa == REF and mo == REF
    elif row.f.sex == "Female":
        ok = (p in (HET, HOM) and fa == REF and mo == REF) or (p == HOM and fa == REF
                                                                and mo == HET)
    else:
        # A proband of unknown sex meets neither X rule (filtering.md 2.8): a Het call on X
        # could be a male's artefact, so it is not called de novo.
        ok = False
    if ok and gq_threshold:
        for sample, key in ((row.f.proband, "proband"), (row.f.mother, "mother"),
                            (row.f.father, "father")):
            gq = row.gq(sample)
            if gq is not None and gq < gq_threshold[key]:
                return False
    return ok


def parental_mosaicism(row):
    if row.fa in (None, NOCOV) or row.mo in (None, NOCOV):
        return False
    p_ar, f_ar, m_ar = row.ar(row.f.proband), row.ar(row.f.father), row.ar(row.f.mother)
    if p_ar is None or f_ar is None or m_ar is None or p_ar <= 0.3:
        return False
    if not row.xlinked:
        return row.p == HET and ((0 < f_ar <= 0.3 and m_ar <= 0.3)
                                 or (0 < m_ar <= 0.3 and f_ar <= 0.3))
    return row.p in (HET, HOM) and ((0 < f_ar <= 0.8 and m_ar <= 0.3)
                                    or (0 < m_ar <= 0.3 and f_ar <= 0.8))


def recessive_homozygous(row):
    if row.p != HOM or not row.siblings_ok():
        return False
    if not row.xlinked:
        return row.fa == HET and row.mo == HET
    return row.fa == REF and row.mo == HET


def compound_heterozygous(ctx, rows, family):
    affected = [family.proband] + family.affected_siblings
    unaffected = [s for s in (family.father, family.mother) if s is not None] \
        + family.unaffected_siblings
    if len(affected) + len(unaffected) < 2:
        return set()
    candidates = {}
    for row in rows.values():
        if not all(row.type(s) == HET for s in affected):
            continue
        if not all((row.type(s) or REF) != HOM for s in unaffected):
            continue
        if family.has_parents and sorted([row.fa or "", row.mo or ""]) != [HET, REF]:
            continue
        candidates[row.allele_id] = row
    if not candidates:
        return set()
    by_symbol = {}
    for allele_id, symbol in ctx.conn.execute(
            "SELECT DISTINCT allele_id, symbol FROM annotationshadowtranscript "
            "WHERE allele_id = ANY(%(ids)s) AND symbol IS NOT NULL "
            "AND (%(regex)s::text IS NULL OR transcript ~ %(regex)s::text)",
            {"ids": ids_param(candidates), "regex": ctx.inclusion_regex}).fetchall():
        by_symbol.setdefault(symbol, set()).add(allele_id)
    result = set()
    for alleles in by_symbol.values():
        if len(alleles) < 2:
            continue
        if family.has_parents and not (any(candidates[a].fa == HET for a in alleles)
                                       and any(candidates[a].mo == HET for a in alleles)):
            continue
        result |= alleles
    return result


def _rows(ctx, allele_ids, family):
    params = {"ids": ids_param(allele_ids), "analysis_id": ctx.analysis_id,
              "samples": family.samples}
    data = {}
    for allele_id, sample, typ, ar, gq in ctx.conn.execute(
            "SELECT r.allele_id, r.sample_id, r.type, r.allele_ratio, r.genotype_quality "
            f"FROM ({GENOTYPE_ROWS.format(samples='s.id = ANY(%(samples)s)')}) r",
            params).fetchall():
        data.setdefault(allele_id, {})[sample] = (typ, ar, gq)
    family_alleles = {r[0] for r in ctx.conn.execute(
        "SELECT allele_id FROM genotype WHERE allele_id = ANY(%(ids)s) "
        "AND sample_id = ANY(%(samples)s) UNION "
        "SELECT secondallele_id FROM genotype WHERE secondallele_id = ANY(%(ids)s) "
        "AND sample_id = ANY(%(samples)s)", params)}
    rows = {}
    for allele_id, chromosome, start, open_end, reference in ctx.conn.execute(
            "SELECT id, chromosome, start_position, open_end_position, genome_reference "
            "FROM allele WHERE id = ANY(%s)", (ids_param(family_alleles),)).fetchall():
        if reference != "GRCh37":
            raise FilterError(f"segregation filter: allele {allele_id} is on {reference}; only "
                              "GRCh37 is supported")
        rows[allele_id] = Row(allele_id, (chromosome, start, open_end),
                              data.get(allele_id, {}), family)
    return rows


# The variant tags the rules give (api.md 3.4), in the order they are listed.
TAGS = ("denovo", "parental_mosaicism", "compound_heterozygous",
        "autosomal_recessive_homozygous", "xlinked_recessive_homozygous")


def tags(ctx, allele_ids, config):
    """{allele_id: [tag, ...]}: which segregation rules each variant of the family meets,
    whether the config enables them or not; the config gives denovo's gq_threshold."""
    check_config(config)
    family = Family(ctx.conn, ctx.analysis_id)
    if not allele_ids or not family.present:
        return {}
    rows = _rows(ctx, allele_ids, family)
    found = {tag: set() for tag in TAGS}
    found["compound_heterozygous"] = compound_heterozygous(ctx, rows, family)
    if family.has_parents:  # the other rules compare the proband with both parents
        gq_threshold = config["denovo"].get("gq_threshold")
        for row in rows.values():
            if denovo(row, gq_threshold):
                found["denovo"].add(row.allele_id)
            if parental_mosaicism(row):
                found["parental_mosaicism"].add(row.allele_id)
            if recessive_homozygous(row):
                found["xlinked_recessive_homozygous" if row.xlinked
                      else "autosomal_recessive_homozygous"].add(row.allele_id)
    result = {}
    for tag in TAGS:
        for allele_id in found[tag]:
            result.setdefault(allele_id, []).append(tag)
    return result


def check_config(config):
    missing = [r for r in RULES if not isinstance(config.get(r), dict)
               or not isinstance(config[r].get("enable"), bool)]
    require(not missing, f"segregation filter: {', '.join(missing)} must each be "
                         "{\"enable\": true or false}")
    gq_threshold = config["denovo"].get("gq_threshold")
    if gq_threshold is not None:
        require(isinstance(gq_threshold, dict)
                and all(is_int(gq_threshold.get(k), 0) for k in GQ_THRESHOLD_KEYS),
                "segregation filter: denovo.gq_threshold must be {\"proband\", \"mother\", "
                "\"father\"}, each an integer >= 0")


def run(ctx, allele_ids, config):
    check_config(config)
    enabled = {r: bool(config[r]["enable"]) for r in RULES}
    if not allele_ids:
        return set()
    family = Family(ctx.conn, ctx.analysis_id)
    if not family.present:
        return set()
    rows = _rows(ctx, allele_ids, family)
    match = set()
    if family.has_parents:
        keep = set()
        gq_threshold = config["denovo"].get("gq_threshold")
        for row in rows.values():
            if ((enabled["denovo"] and denovo(row, gq_threshold))
                    or (enabled["parental_mosaicism"] and parental_mosaicism(row))
                    or (enabled["recessive_homozygous"] and recessive_homozygous(row))
                    or (enabled["no_coverage_parents"] and NOCOV in (row.fa, row.mo))):
                keep.add(row.allele_id)
        if enabled["compound_heterozygous"]:
            keep |= compound_heterozygous(ctx, rows, family)
        match = set(allele_ids) - keep
    if enabled["recessive_homozygous"] and family.unaffected_siblings:
        match |= {r.allele_id for r in rows.values()
                  if r.p == HOM and all(r.type(s) == HOM for s in family.unaffected_siblings)}
    # Alleles outside the family ("segregation not applicable") are never matched.
    return match & set(rows)
