"""ACMG edge cases from acmg.md that the shipped rules and configs do not reach: an empty
`$all`, and a gene override whose key has a leading zero."""

from ella.acmg.acmgconfig import commonness, frequency_config_problem, resolve_gene
from ella.acmg.engine import data_document, suggest_codes
from ella.acmg.rules import apply_rules, parse_rules
from test_acmg_api import annotated_snv


def test_all_with_empty_code_list_matches_vacuously():
    """acmg.md 2.3: `{"$all": [code...]}` passes when every listed code has passed, so an
    empty list always does (it never did)."""
    rules = parse_rules([{"code": "REQ_a", "rule": {"x": "1"}},
                         {"code": "C", "rule": {"$$aggregate": {"$all": []}}}])
    passed, notpassed = apply_rules(rules, {"x": "1"})
    assert [r.code for r in passed] == ["REQ_a", "C"], (
        f"passed={[r.code for r in passed]} notpassed={[r.code for r in notpassed]}")


ACMG = {
    "disease_mode": "ANY", "last_exon_important": "LEI",
    "frequency": {
        "groups": {"external": {"GNOMAD_EXOMES": ["G"]}, "internal": {"inDB": ["OUSWES"]}},
        "thresholds": {
            "AD": {"external": {"hi_freq_cutoff": 0.005, "lo_freq_cutoff": 0.001},
                   "internal": {"hi_freq_cutoff": 0.05, "lo_freq_cutoff": 1.0}},
            "default": {"external": {"hi_freq_cutoff": 0.01, "lo_freq_cutoff": 1.0},
                        "internal": {"hi_freq_cutoff": 0.05, "lo_freq_cutoff": 1.0}}},
    },
    "genes": {"01101": {
        "frequency": {"thresholds": {
            "external": {"hi_freq_cutoff": 0.5, "lo_freq_cutoff": 0.0005}}},
        "last_exon_important": "LENI"}},
}


def _allele(conn, hgnc_id, frequencies, consequences, in_last_exon):
    annotation = {"transcripts": [{"transcript": "NM_000059.3", "hgnc_id": hgnc_id,
                                   "symbol": "BRCA2", "consequences": consequences,
                                   "strand": 1, "in_last_exon": in_last_exon,
                                   "is_canonical": True}],
                  "frequencies": frequencies}
    return annotated_snv(conn, annotation), annotation


def test_leading_zero_gene_override_is_applied_consistently(db_conn):
    """acmg.md 3.2-3.3: one gene override sets both the frequency cut-offs and the gene
    settings. A key with a leading zero ("01101") is accepted by the config check and read as
    a number for the cut-offs; the gene settings looked it up as text and missed it, so the
    override's LENI was lost and PVS1 suggested."""
    assert frequency_config_problem(ACMG) is None          # accepted as a valid config
    freqs = {"GNOMAD_EXOMES": {"freq": {"G": 0.02}, "num": {"G": 10000}}}
    allele_id, ann = _allele(db_conn, 1101, freqs, ["stop_gained"], "yes")
    # commonness: 0.02 >= default hi 0.01 would be "common"; the override (hi 0.5, lo 0.0005)
    # makes it less_common -> the override IS applied here.
    got = commonness(db_conn, ACMG, {1101: None}, [allele_id])[allele_id]
    gp = resolve_gene(ACMG, {1101: None}, 1101)
    ann = {**ann, "filtered_transcripts": ["NM_000059.3"]}
    codes = [c["code"] for c in suggest_codes(data_document(ann, got, lambda g: gp))]
    assert (got, gp.get("last_exon_important"), "PVS1" in codes) == ("less_common", "LENI",
                                                                     False), (
        f"commonness={got!r} (override used), genepanel doc={gp} (override NOT used), "
        f"codes={codes}")
