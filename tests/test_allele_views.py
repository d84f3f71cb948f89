"""Parts of the Allele shape checked against the rule stated plainly: the `nearby_allele`
warning (another variant of the analysis within 2 bp), the panel's transcripts among a
variant's annotation transcripts (`filtered_transcripts`), and the display genotype
(`formatted`, ELLA's rules for one sample on a genotype's first and second allele)."""

import random
from fractions import Fraction

import pytest

from ella.allele_views import (NEARBY_DISTANCE, AnalysisPositions, _version,
                               filtered_transcript_names,
                               formatted_genotype, panel_index)
from ella.filters import TRANSCRIPT_VERSION


def _analysis(conn, name):
    analysis_id = conn.execute(
        "INSERT INTO analysis (name, genepanel_name, genepanel_version, date_deposited) "
        "VALUES (%s, 'P', 'v1', now()) RETURNING id", (name,)).fetchone()[0]
    sample_id = conn.execute(
        "INSERT INTO sample (identifier, analysis_id, sample_type, date_deposited, affected, "
        "proband) VALUES (%s, %s, 'HTS', now(), true, true) RETURNING id",
        (f"{name}-S", analysis_id)).fetchone()[0]
    return analysis_id, sample_id


def _allele(conn, chromosome, start, length):
    return conn.execute(
        "INSERT INTO allele (genome_reference, chromosome, start_position, open_end_position, "
        "change_from, change_to, change_type, vcf_pos, vcf_ref, vcf_alt, length, caller_type) "
        "VALUES ('GRCh37', %s, %s, %s, 'A', 'G', 'SNP', %s, 'A', 'G', %s, 'snv') "
        "ON CONFLICT DO NOTHING RETURNING id",
        (chromosome, start, start + length, start + 1, length)).fetchone()


def _oracle(own):
    """Ids of `own` alleles with another own allele whose start or end lies within
    [start - 2, end + 2] of theirs."""
    result = set()
    for a in own:
        low = a["start_position"] - NEARBY_DISTANCE
        high = a["open_end_position"] + NEARBY_DISTANCE
        if any(b["id"] != a["id"] and b["chromosome"] == a["chromosome"]
               and (low <= b["start_position"] <= high or low <= b["open_end_position"] <= high)
               for b in own):
            result.add(a["id"])
    return result


@pytest.mark.parametrize("seed", range(3))
def test_nearby_alleles_match_the_rule(db_conn, seed):
    rng = random.Random(seed)
    db_conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                    "date_created) VALUES ('P', 'v1', 'GRCh37', true, now())")
    analysis_id, sample_id = _analysis(db_conn, "A")
    _, other_sample = _analysis(db_conn, "B")
    alleles = {}
    for _ in range(400):
        # Dense positions on two chromosomes, lengths from SNVs to deletions of 40 bp (which
        # can cover a variant without either end near it).
        chromosome = rng.choice(["1", "X"])
        length = rng.choice([1, 1, 1, 2, 5, 40])
        row = _allele(db_conn, chromosome, rng.randrange(1000, 3000), length)
        if row is None:
            continue
        alleles[row[0]] = {"id": row[0], "chromosome": chromosome}
    positions = db_conn.execute("SELECT id, start_position, open_end_position FROM allele "
                                "WHERE id = ANY(%s)", (list(alleles),)).fetchall()
    for allele_id, start, end in positions:
        alleles[allele_id].update(start_position=start, open_end_position=end)
    ids = sorted(alleles)
    own, others = ids[:250], ids[250:]  # the others belong to analysis B only
    for n, allele_id in enumerate(own):
        # Some own variants only as a genotype's second allele.
        second = own[n - 1] if n % 7 == 0 and n else None
        db_conn.execute("INSERT INTO genotype (allele_id, secondallele_id, sample_id) "
                        "VALUES (%s, %s, %s)", (allele_id, second, sample_id))
    for allele_id in others:
        db_conn.execute("INSERT INTO genotype (allele_id, sample_id) VALUES (%s, %s)",
                        (allele_id, other_sample))
    # Asked for all of them (own and others, as load_alleles might be).
    asked = [alleles[i] for i in ids]
    expected = _oracle([alleles[i] for i in own])
    assert AnalysisPositions(db_conn, analysis_id).nearby(asked) == expected
    assert 0 < len(expected) < len(own)


def _spec_version(name):
    """filtering.md 2.9: the integer after the dot; a non-integer suffix counts as -0.5."""
    if "." not in name:
        return -1
    version = name.split(".", 1)[1]
    digits = ""
    for char in version:
        if not char.isdigit():
            break
        digits += char
    if not digits:
        return -1
    return int(digits) - (0.5 if len(digits) < len(version) else 0)


def _spec_rule(transcripts, panel):
    """filtering.md 2.9's SQL, panel transcript by panel transcript: `t.transcript_name LIKE
    split_part(a.transcript, '.', 1) || '%'` and the same gene; the exact name, else the
    highest version."""
    chosen = set()
    for panel_name, gene_id in panel:
        candidates = [t["transcript"] for t in transcripts
                      if t.get("hgnc_id") == gene_id and isinstance(t.get("transcript"), str)
                      and panel_name.startswith(t["transcript"].split(".")[0])]
        if candidates:
            chosen.add(panel_name if panel_name in candidates
                       else max(candidates, key=_spec_version))
    return sorted(chosen)


@pytest.mark.parametrize("seed", range(5))
def test_filtered_transcripts_match_the_rule(seed):
    rng = random.Random(seed)
    # NM_1 is a prefix of NM_10 and NM_12: the rule's LIKE matches those too.
    accessions = [f"NM_{n:06d}" for n in range(8)] + ["NM_1", "NM_10", "NM_12"]

    def name():
        accession = rng.choice(accessions)
        return rng.choice([accession, f"{accession}.{rng.randrange(1, 4)}", f"{accession}.x",
                           f"{accession}.{rng.randrange(1, 4)}b"])

    panel = [(name(), rng.choice([1, 2, 3])) for _ in range(8)]
    for _ in range(200):
        transcripts = [{"transcript": name(), "hgnc_id": rng.choice([1, 2, 3, None])}
                       for _ in range(rng.randrange(0, 7))]
        transcripts.append({"hgnc_id": 1})  # no name: never matches
        assert filtered_transcript_names(transcripts, panel_index(panel)) == \
            _spec_rule(transcripts, panel)


def test_filtered_transcripts_prefix_and_lettered_versions():
    """The two cases where matching accessions exactly differed from filtering.md 2.9."""
    index = panel_index([("NM_10.1", 1), ("NM_5.5", 2)])
    assert filtered_transcript_names([{"transcript": "NM_1.1", "hgnc_id": 1}], index) == \
        ["NM_1.1"]
    two = [{"transcript": "NM_5.2", "hgnc_id": 2}, {"transcript": "NM_5.3b", "hgnc_id": 2}]
    assert filtered_transcript_names(two, index) == ["NM_5.3b"]


def test_a_version_of_thousands_of_digits_is_read_by_its_first_18(db_conn):
    """A VCF's `NM_5.<5,000 digits>` was stored, and int() (over 4,300 digits) made every
    view of its variant a 500. The views and the filters' SQL read a version alike: its
    first 18 digits."""
    names = ["NM_5", "NM_5.", "NM_5.x", "NM_5.3", "NM_5.3b", "NM_5.03", "NM_5.4.1", "NM_5.\u0663",
             "NM_5." + "2" * 5000, "NM_5." + "2" * 5000 + "b", "NM_5." + "1" * 18 + "9"]
    names += ["NM_5.222222222222222220", "NM_5.222222222222222222b"]  # beyond a float
    in_sql = [Fraction(v) for (v,) in db_conn.execute(
        f"SELECT {TRANSCRIPT_VERSION.format(name='n')} FROM unnest(%s::text[]) "
        "WITH ORDINALITY AS x(n, i) ORDER BY i", (names,))]
    assert in_sql == [_version(name) for name in names]
    assert _version("NM_5." + "2" * 5000) == int("2" * 18)
    index = panel_index([("NM_5.1", 2)])
    huge, long_ = "NM_5." + "2" * 5000, "NM_5." + "1" * 18 + "9"
    assert filtered_transcript_names([{"transcript": huge, "hgnc_id": 2},
                                      {"transcript": long_, "hgnc_id": 2}], index) == [huge]


# --- the display genotype (api.md 3.4 `formatted`) ------------------------------------------

C_T = {"change_type": "SNP", "change_from": "C", "change_to": "T", "vcf_ref": "C", "vcf_alt": "T"}
C_G = {"change_type": "SNP", "change_from": "C", "change_to": "G", "vcf_ref": "C", "vcf_alt": "G"}
INS = {"change_type": "ins", "change_from": "", "change_to": "TT", "vcf_ref": "A",
       "vcf_alt": "ATT"}
DEL = {"change_type": "del", "change_from": "AAT", "change_to": "", "vcf_ref": "GAAT",
       "vcf_alt": "G"}
HET, HOM, REF, NOCOV = "Heterozygous", "Homozygous", "Reference", "No coverage"


def _row(gtype, multiallelic=False):
    return {"type": gtype, "multiallelic": multiallelic}


@pytest.mark.parametrize("first, first_row, second, second_row, shown", [
    # One allele, taken at face value.
    (C_T, _row(HET), None, None, "C/T"),
    (C_T, _row(HOM), None, None, "T/T"),
    (C_T, _row(REF), None, None, "C/C"),
    (C_T, _row(NOCOV), None, None, "./."),
    (INS, _row(HET), None, None, "A/ATT"),
    (DEL, _row(HET), None, None, "AAT/-"),
    # A multiallelic site: the proband (or a relative) carrying both of the proband's ALTs.
    (C_T, _row(HET, True), C_G, _row(HET, True), "T/G"),
    # A relative: 0/2 (Ref on the first, multiallelic; Het on the second, not).
    (C_T, _row(REF, True), C_G, _row(HET), "C/G"),
    # 0/1 (Het on the first, not multiallelic).
    (C_T, _row(HET), C_G, _row(REF, True), "C/T"),
    # Homozygous on either.
    (C_T, _row(REF, True), C_G, _row(HOM), "G/G"),
    (C_T, _row(HOM), C_G, _row(REF), "T/T"),
    # An allele neither of the proband's: unknown.
    (C_T, _row(HET, True), C_G, _row(REF, True), "T/?"),
    (C_T, _row(REF, True), C_G, _row(HET, True), "G/?"),
    (C_T, _row(REF, True), C_G, _row(REF, True), "?/?"),
    (C_T, _row(HET, True), None, None, "T/?"),
    (C_T, _row(REF, True), None, None, "?/?"),
])
def test_formatted_genotype(first, first_row, second, second_row, shown):
    assert formatted_genotype(first, first_row, second, second_row) == shown
