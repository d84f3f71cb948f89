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


class Kin:
    """One VCF's samples of the family around its proband: import.md 2.6 links a VCF's
    samples among themselves (father_id, mother_id, sibling_id), and a variant's genotype
    data lies in the samples of the one VCF it came from."""

    def __init__(self, proband, father, mother, sex, affected_siblings, unaffected_siblings):
        self.proband, self.father, self.mother, self.sex = proband, father, mother, sex
        self.affected_siblings = affected_siblings
        self.unaffected_siblings = unaffected_siblings

    @property
    def has_parents(self):
        return self.father is not None and self.mother is not None


class Family:
    """The analysis' family: one Kin per VCF. An analysis of several VCFs (a trio split by
    chromosome, its SNV and CNV calls) has a proband sample row per VCF, all of one affected
    person; a variant is judged with the samples of its own VCF, so a VCF without the
    parents (a proband's own CNV calls) has its variants judged as a single's."""

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
        siblings = conn.execute(
            "SELECT id, sibling_id, affected FROM sample WHERE analysis_id = %s "
            "AND sibling_id = ANY(%s) ORDER BY id",
            (analysis_id, [r[0] for r in probands])).fetchall()
        self.kin = {}
        for proband, _, father, mother, sex in probands:
            own = [(s, affected) for s, of, affected in siblings if of == proband]
            self.kin[proband] = Kin(proband, father, mother, sex,
                                    [s for s, affected in own if affected],
                                    [s for s, affected in own if not affected])
        self.samples = [s for kin in self.kin.values()
                        for s in (kin.proband, kin.father, kin.mother) if s is not None] \
            + [s for s, _, _ in siblings]


class Row:
    """One family allele as one VCF has it: per sample (type, allele ratio, GQ), its locus,
    and that VCF's Kin."""

    def __init__(self, allele_id, locus, data, kin):
        self.allele_id = allele_id
        self.xlinked = is_xlinked(*locus)
        self.data = data
        self.kin = kin

    def type(self, sample):
        return self.data.get(sample, (None, None, None))[0]

    def ar(self, sample):
        return self.data.get(sample, (None, None, None))[1]

    def gq(self, sample):
        return self.data.get(sample, (None, None, None))[2]

    @property
    def p(self):
        return self.type(self.kin.proband)

    @property
    def fa(self):
        return self.type(self.kin.father)

    @property
    def mo(self):
        return self.type(self.kin.mother)

    def siblings_ok(self):
        return (all((self.type(s) or REF) != HOM for s in self.kin.unaffected_siblings)
                and all(self.type(s) == HOM for s in self.kin.affected_siblings))


GQ_THRESHOLD_KEYS = ("proband", "mother", "father")


def denovo_calls(p, fa, mo, xlinked, sex):
    """Whether the proband's, father's and mother's genotype types are a de novo pattern
    (filtering.md 2.8, without the GQ thresholds)."""
    if fa in (None, NOCOV) or mo in (None, NOCOV):
        return False
    if not xlinked:
        return ((p in (HET, HOM) and fa == REF and mo == REF)
                or (p == HOM and ((fa == HET and mo == REF) or (fa == REF and mo == HET))))
    if sex == "Male":
        return p == HOM and fa == REF and mo == REF
    if sex == "Female":
        return (p in (HET, HOM) and fa == REF and mo == REF) or (p == HOM and fa == REF
                                                                  and mo == HET)
    # A proband of unknown sex meets neither X rule (filtering.md 2.8): a Het call on X
    # could be a male's artefact, so it is not called de novo.
    return False


def denovo(row, gq_threshold):
    ok = denovo_calls(row.p, row.fa, row.mo, row.xlinked, row.kin.sex)
    if ok and gq_threshold:
        for sample, key in ((row.kin.proband, "proband"), (row.kin.mother, "mother"),
                            (row.kin.father, "father")):
            gq = row.gq(sample)
            if gq is not None and gq < gq_threshold[key]:
                return False
    return ok


def parental_mosaicism(row):
    if row.fa in (None, NOCOV) or row.mo in (None, NOCOV):
        return False
    p_ar, f_ar, m_ar = row.ar(row.kin.proband), row.ar(row.kin.father), row.ar(row.kin.mother)
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


def _relatives(kin):
    return [s for s in (kin.father, kin.mother) if s is not None] \
        + kin.affected_siblings + kin.unaffected_siblings


def compound_heterozygous(ctx, rows, family):
    """Ids of the alleles that pair up as compound heterozygous (filtering.md 2.8); `rows` a
    list of Row. Each variant is judged with its own VCF's samples; two of a gene from a
    VCF with the parents and one without are paired as in a family without parents."""
    # A family of one cannot tell compound heterozygosity; a proband-only VCF (the proband's
    # CNV calls) in a family with relatives elsewhere offers its heterozygous variants for
    # pairing with those of the files that have them (not with each other).
    if not any(_relatives(kin) for kin in family.kin.values()):
        return set()
    candidates = {}
    for row in rows:
        kin = row.kin
        affected = [kin.proband] + kin.affected_siblings
        unaffected = [s for s in (kin.father, kin.mother) if s is not None] \
            + kin.unaffected_siblings
        if not all(row.type(s) == HET for s in affected):
            continue
        if not all((row.type(s) or REF) != HOM for s in unaffected):
            continue
        if kin.has_parents and sorted([row.fa or "", row.mo or ""]) != [HET, REF]:
            continue
        candidates.setdefault(row.allele_id, []).append(row)
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
        group = [row for allele_id in alleles for row in candidates[allele_id]]
        if not any(_relatives(row.kin) for row in group):
            continue  # only the proband's own file: no relative to judge the pair by
        if all(row.kin.has_parents for row in group) and not (
                any(row.fa == HET for row in group) and any(row.mo == HET for row in group)):
            continue
        result |= alleles
    return result


def _rows(ctx, allele_ids, family):
    """[Row] of the given alleles the family has: one per allele and VCF holding it."""
    probands = list(family.kin)
    params = {"ids": ids_param(allele_ids), "analysis_id": ctx.analysis_id,
              "samples": family.samples, "probands": probands}
    data = {}
    for allele_id, sample, typ, ar, gq in ctx.conn.execute(
            "SELECT r.allele_id, r.sample_id, r.type, r.allele_ratio, r.genotype_quality "
            f"FROM ({GENOTYPE_ROWS.format(samples='s.id = ANY(%(samples)s)')}) r",
            params).fetchall():
        data.setdefault(allele_id, {})[sample] = (typ, ar, gq)
    held = ctx.conn.execute(
        "SELECT allele_id, sample_id FROM genotype WHERE allele_id = ANY(%(ids)s) "
        "AND sample_id = ANY(%(probands)s) UNION "
        "SELECT secondallele_id, sample_id FROM genotype WHERE secondallele_id = ANY(%(ids)s) "
        "AND sample_id = ANY(%(probands)s) ORDER BY 1, 2", params).fetchall()
    loci = {}
    for allele_id, chromosome, start, open_end, reference in ctx.conn.execute(
            "SELECT id, chromosome, start_position, open_end_position, genome_reference "
            "FROM allele WHERE id = ANY(%s)", (ids_param({a for a, _ in held}),)).fetchall():
        if reference != "GRCh37":
            raise FilterError(f"segregation filter: allele {allele_id} is on {reference}; only "
                              "GRCh37 is supported")
        loci[allele_id] = (chromosome, start, open_end)
    return [Row(allele_id, loci[allele_id], data.get(allele_id, {}), family.kin[proband])
            for allele_id, proband in held]


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
    gq_threshold = config["denovo"].get("gq_threshold")
    for row in rows:
        if not row.kin.has_parents:  # the other rules compare the proband with both parents
            continue
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
    compound = compound_heterozygous(ctx, rows, family) \
        if enabled["compound_heterozygous"] else set()
    gq_threshold = config["denovo"].get("gq_threshold")
    removed, kept = set(), set()
    for row in rows:
        # Without both parents in its VCF only the unaffected siblings' rule can remove a
        # variant (filtering.md 2.8).
        out = row.kin.has_parents and not (
            (enabled["denovo"] and denovo(row, gq_threshold))
            or (enabled["parental_mosaicism"] and parental_mosaicism(row))
            or (enabled["recessive_homozygous"] and recessive_homozygous(row))
            or (enabled["no_coverage_parents"] and NOCOV in (row.fa, row.mo))
            or row.allele_id in compound)
        if (enabled["recessive_homozygous"] and row.kin.unaffected_siblings and row.p == HOM
                and all(row.type(s) == HOM for s in row.kin.unaffected_siblings)):
            out = True
        (removed if out else kept).add(row.allele_id)
    # Alleles outside the family ("segregation not applicable") are never matched; one in
    # two VCFs of the family is removed only if neither keeps it.
    return removed - kept
