"""The deposit-time prefilter of a user group's deposit config (import.md 1.9).

A proband record is dropped when, for at least one inner list of `prefilters`, every
listed criterion holds (inner list = AND, outer list = OR). Records with INFO SVTYPE are
never prefiltered. Works on one batch of proband records at a time: batches are cut at
gaps (analysis.py, BATCH_GAP_BP), so "nearby" is exact in a VCF sorted by position; one
whose records go back past a cut is refused where `position_not_nearby` is configured.
"""

import bisect

NEARBY_BP = 3
CRITERIA = ("hi_frequency", "position_not_nearby", "no_classification", "non_multiallelic",
            "low_mapping_quality")


class PrefilterError(ValueError):
    pass


def check_prefilters(prefilters, where):
    if not isinstance(prefilters, list) or not all(isinstance(s, list) for s in prefilters):
        raise PrefilterError(f"{where}: prefilters must be a list of lists of criteria")
    for criteria in prefilters:
        if not criteria:
            # "All of no criteria" holds for every record: every SNV would be dropped.
            raise PrefilterError(f"{where}: an empty list of criteria in prefilters would "
                                 "drop every variant; list at least one criterion")
        for name in criteria:
            if name not in CRITERIA:
                raise PrefilterError(f"{where}: unknown prefilter {name!r} (known: "
                                     f"{', '.join(CRITERIA)})")


def _number(record, key, default, of_several):
    """INFO `key` of the record as a number, `default` when absent or given as a bare key
    (a Flag, or `MQ` without a value: no value, not 0 or 1). A Number=R list is [REF, ALT]
    after decomposition: the ALT's value counts. Any other list of several values (Number=.
    copied whole to each decomposed record) cannot say which is this ALT's: `of_several`
    (min or max) picks the one that keeps the record, as a dropped record is lost for good.
    A value the header did not type as a number (declared String, or no ##INFO line) is
    read as one; anything else is the record's error, with its line."""
    value = record.get_info(key)
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and getattr(record.info_def(key), "number", None) == "R":
            value = value[1]
        else:
            numbers = [n for n in (_one_number(record, key, v) for v in value) if n is not None]
            return of_several(numbers) if numbers else default
    number = _one_number(record, key, value)
    return default if number is None else number


def _one_number(record, key, value):
    if value is None or isinstance(value, bool) or value in ("", "."):
        return None  # VCF's missing value (left as text when untyped), a flag, a bare key
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        raise record.error(f"INFO {key} is {value!r}, not a number (the deposit config's "
                           "prefilters compare it)") from None


def _classified_keys(cur, records):
    """(chromosome, vcf_pos, vcf_ref, vcf_alt) of these records that have an assessment."""
    if not records:
        return set()
    keys = [(r.chrom, r.pos, r.ref, r.alt) for r in records]
    rows = cur.execute(
        "SELECT DISTINCT a.chromosome, a.vcf_pos, a.vcf_ref, a.vcf_alt FROM allele a "
        "JOIN alleleassessment aa ON aa.allele_id = a.id "
        "JOIN unnest(%s::varchar[], %s::integer[], %s::varchar[], %s::varchar[]) "
        "     AS k(chromosome, vcf_pos, vcf_ref, vcf_alt) "
        "  ON a.chromosome = k.chromosome AND a.vcf_pos = k.vcf_pos "
        " AND a.vcf_ref = k.vcf_ref AND a.vcf_alt = k.vcf_alt",
        ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
         [k[3] for k in keys])).fetchall()
    return set(rows)


def prefiltered(cur, prefilters, records, proband_index):
    """The set of id()s of `records` (proband records of one batch, file order) to drop."""
    if not prefilters or not records:
        return set()
    candidates = [r for r in records if r.get_info("SVTYPE") is None]
    if not candidates:
        return set()
    needs_classification = any("no_classification" in s for s in prefilters)
    classified = _classified_keys(cur, candidates) if needs_classification else set()
    positions = {}
    for r in records:
        positions.setdefault(r.chrom, []).append(r.pos)
    for sorted_positions in positions.values():
        sorted_positions.sort()  # searched by bisection: counting through all was quadratic
    dropped = set()
    for r in candidates:
        others = positions[r.chrom]
        within = (bisect.bisect_right(others, r.pos + NEARBY_BP)
                  - bisect.bisect_left(others, r.pos - NEARBY_BP))
        near = within > 1  # itself counts once
        gt = r.gts[proband_index] if r.gts else None
        if any(all(_holds(c, r, near, classified, gt) for c in criteria)
               for criteria in prefilters):
            dropped.add(id(r))
    return dropped


def _holds(criterion, record, near, classified, gt):
    """Whether the criterion holds for the record. Evaluated only when the config asks for
    it: an INFO value that is no number is an error only where the config compares it."""
    if criterion == "hi_frequency":
        return (_number(record, "GNOMAD_GENOMES__AF", 0, min) > 0.05
                and _number(record, "GNOMAD_GENOMES__AN", 0, min) > 5000)
    if criterion == "position_not_nearby":
        return not near
    if criterion == "no_classification":
        return (record.chrom, record.pos, record.ref, record.alt) not in classified
    if criterion == "non_multiallelic":
        return (record.get_info("OLD_MULTIALLELIC") is None
                or (gt is not None and all(a in (0, 1) for a in gt)))
    if criterion == "low_mapping_quality":
        return _number(record, "MQ", float("inf"), max) < 20
    raise PrefilterError(f"unknown prefilter {criterion!r}")  # (check_prefilters refuses it)
