"""Family (trio) analyses end to end: real deposits of a VCF + .ped on the Mendeliome v01
demo panel, read through the WSGI app as testuser3 (testgroup02, whose first filter config
is the demo TrioDefault with a segregation filter)."""

import json
import re

import psycopg
import pytest
import trio_helpers as t
from api_helpers import logged_in_client
from ella.deposit.variants import DepositError
from helpers import run_cli, table_snapshot

S = t.sample_col
REF_AD, HET_AD, HOM_AD = (40, 0), (20, 20), (0, 40)
TRIO_PED = [("FAM", "P", "F", "M", 1, 2, 1), ("FAM", "F", 0, 0, 1, 1, 0),
            ("FAM", "M", 0, 0, 2, 1, 0)]


@pytest.fixture
def db_url(demo_data_db_url):
    """Every test here starts from the demo data (its panel, users and TrioDefault)."""
    return demo_data_db_url


def _setup(api_app, db_url, ella_config, tmp_path, name, samples, ped, records):
    folder = t.write_analysis(tmp_path, name, samples, ped, records)
    analysis_id = t.deposit_folder(db_url, ella_config, folder)
    client = logged_in_client(api_app, db_url, "testuser3")
    return client, analysis_id


def _filtered(client, db_url, analysis_id, fc_id):
    iid = t.round_id(db_url, analysis_id)
    r = client.get(f"/api/v1/workflows/analyses/{analysis_id}/interpretations/{iid}/"
                   "filteredalleles/", query={"filterconfig_id": str(fc_id)})
    assert r.status == 200, r.body
    excluded = {}
    for by_name in r.json["excluded_alleles_by_caller_type"].values():
        for name, ids in by_name.items():
            excluded.setdefault(name, set()).update(ids)
    return set(r.json["allele_ids"]), excluded


# --- 1. X-linked de novo for a proband whose sex is unknown ----------------------------------

def test_xlinked_het_in_proband_of_unknown_sex_is_not_denovo(api_app, db_url, ella_config,
                                                             tmp_path):
    """filtering.md 2.8 denovo: X-linked (outside PAR) de novo has one rule for a *male*
    proband (P = Hom, F = Ref, M = Ref) and one for a *female* proband; a proband whose sex
    the .ped leaves unknown (column 5 = 0 -> sex NULL, import.md 1.4) meets neither (ELLA
    compares sex = 'Female'). A heterozygous X call (in a male an artefact: "a male Het call
    on X is never de novo") is not tagged `denovo`, and TrioDefault's segregation filter
    removes it."""
    _, (x_pos, _) = t.coding_positions("ARSE")  # X:2.85 Mb, outside PAR1
    _, (auto_pos, _) = t.coding_positions("DVL1")
    ped = [("FAM", "P", "F", "M", 0, 2, 1), ("FAM", "F", 0, 0, 1, 1, 0),
           ("FAM", "M", 0, 0, 2, 1, 0)]
    records = [
        ("DVL1", "1", auto_pos, "C", "T", [S("0/1", HET_AD), S("0/0", REF_AD), S("0/0", REF_AD)]),
        ("ARSE", "X", x_pos, "C", "T", [S("0/1", HET_AD), S("0", REF_AD), S("0/0", REF_AD)]),
    ]
    client, analysis_id = _setup(api_app, db_url, ella_config, tmp_path, "UnknownSex",
                                 ["P", "F", "M"], ped, records)
    samples = t.samples_of(db_url, analysis_id)
    assert samples["P"]["sex"] is None and samples["P"]["father_id"] == samples["F"]["id"]
    x_allele = t.allele_id(db_url, "X", x_pos, "T")
    auto_allele = t.allele_id(db_url, "1", auto_pos, "T")
    fc_id = t.filterconfig_id(db_url)
    alleles = t.workflow_alleles(client, db_url, analysis_id, [x_allele, auto_allele], fc_id)
    assert "denovo" in alleles[auto_allele]["tags"]  # the autosomal de novo is one
    assert "denovo" not in alleles[x_allele]["tags"]
    kept, excluded = _filtered(client, db_url, analysis_id, fc_id)
    assert x_allele in excluded["segregation"] and x_allele not in kept
    # ELLA imports such a trio silently; the analysis' page says it (its warnings).
    warnings = client.get(f"/api/v1/analyses/{analysis_id}/").json["warnings"]
    assert warnings == (
        "The sex of the proband P is unknown (UnknownSex.ped): the segregation filter calls "
        "no variant on chromosome X outside the pseudoautosomal regions de novo, and removes "
        "one (heterozygous or homozygous) whose parents are both homozygous reference. Check "
        "chromosome X without the segregation filter.")


def test_the_unknown_sex_line_follows_the_labs_warnings_once(db_url, ella_config, tmp_path):
    """After the lab's own warnings.txt, and once for an analysis of two VCFs of the trio
    (each VCF makes its samples)."""
    _, (pos, _) = t.coding_positions("DVL1")
    ped = [("FAM", "P", "F", "M", 0, 2, 1), ("FAM", "F", 0, 0, 1, 1, 0),
           ("FAM", "M", 0, 0, 2, 1, 0)]
    folder = t.write_analysis(tmp_path, "TwoVcfs", ["P", "F", "M"], ped, [
        ("DVL1", "1", pos, "C", "T", [S("0/1", HET_AD), S("0/0", REF_AD), S("0/0", REF_AD)])])
    vcf = next(folder.glob("*.vcf"))
    (folder / "second.vcf").write_text(vcf.read_text().replace(f"\t{pos}\t", f"\t{pos + 3}\t"))
    (folder / "TwoVcfs.analysis").write_text(json.dumps({
        "name": folder.name, "genepanel_name": "Mendeliome", "genepanel_version": "v01",
        "data": [{"vcf": vcf.name, "ped": "TwoVcfs.ped"},
                 {"vcf": "second.vcf", "ped": "TwoVcfs.ped"}]}))
    (folder / "warnings.txt").write_text("Low coverage in BRCA2 exon 11\n")
    t.deposit_folder(db_url, ella_config, folder)
    with psycopg.connect(db_url) as conn:
        warnings = conn.execute("SELECT warnings FROM analysis WHERE name = %s",
                                (folder.name,)).fetchone()[0]
    assert warnings.startswith("Low coverage in BRCA2 exon 11\nThe sex of the proband P is "
                               "unknown (TwoVcfs.ped)")
    assert warnings.count("The sex of the proband") == 1 and warnings.count("\n") == 1


@pytest.mark.parametrize("father, mother, expected", [
    (1, 2, "The proband's parent M is marked affected (Dominant.ped): the segregation filter "
           "assumes healthy parents and removes a variant inherited from an affected one (a "
           "dominant disease). Check without the segregation filter."),
    (2, 2, "The proband's parents F and M are marked affected (Dominant.ped)"),
    (1, 1, None),
])
def test_an_affected_parent_is_named_in_the_warnings(api_app, db_url, ella_config, tmp_path,
                                                     father, mother, expected):
    """filtering.md 2.8 reads no parent's phenotype: a variant the proband inherited from an
    affected mother (a dominant disease) was removed by the trio's segregation filter with no
    hint on the analysis. The analysis now says so, as for a proband of unknown sex."""
    ped = [("FAM", "P", "F", "M", 1, 2, 1), ("FAM", "F", 0, 0, 1, father, 0),
           ("FAM", "M", 0, 0, 2, mother, 0)]
    _, (pos, _) = t.coding_positions("DVL1")
    client, analysis_id = _setup(api_app, db_url, ella_config, tmp_path, "Dominant",
                                 ["P", "F", "M"], ped, [
        ("DVL1", "1", pos, "C", "T", [S("0/1", HET_AD), S("0/0", REF_AD), S("0/1", HET_AD)])])
    warnings = client.get(f"/api/v1/analyses/{analysis_id}/").json["warnings"]
    if expected is None:
        assert not warnings
    else:
        assert warnings.startswith(expected) and warnings.count("\n") == 0


def test_a_trio_in_two_vcfs_is_filtered_as_one_family(api_app, db_url, ella_config,
                                                       tmp_path):
    """A trio delivered as two VCFs (split by chromosome, or its SNV and CNV calls) has one
    sample row per person per VCF: the segregation filter counted two affected probands and
    every variant list of the analysis' own trio filter config answered 400. Each person is
    now one, across the VCFs: a compound heterozygote whose two variants came in different
    files is found too."""
    _, (a1, a2, a3) = t.coding_positions("DVL1", 3)
    _, (c1, _) = t.coding_positions("CFTR")
    het, ref = S("0/1", HET_AD), S("0/0", REF_AD, pl="0,100,1000")
    folder = t.write_multi_vcf_analysis(tmp_path, "SplitTrio", [
        dict(file="first", samples=["P", "F", "M"], ped=TRIO_PED, records=[
            ("DVL1", "1", a1, "C", "T", [het, ref, ref]),     # de novo: kept
            ("DVL1", "1", a2, "C", "T", [het, het, ref])]),   # from the father ...
        dict(file="second", samples=["P", "F", "M"], ped=TRIO_PED, records=[
            ("DVL1", "1", a3, "C", "T", [het, ref, het]),     # ... and the mother: compound
            ("CFTR", "7", c1, "C", "T", [het, het, ref])])])  # from the father alone: removed
    analysis_id = t.deposit_folder(db_url, ella_config, folder)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM sample WHERE analysis_id = %s AND proband",
                            (analysis_id,)).fetchone()[0] == 2
    client = logged_in_client(api_app, db_url, "testuser3")
    kept, excluded = _filtered(client, db_url, analysis_id, t.filterconfig_id(db_url))
    ids = {pos: t.allele_id(db_url, chrom, pos, "T")
           for chrom, pos in (("1", a1), ("1", a2), ("1", a3), ("7", c1))}
    assert {ids[a1], ids[a2], ids[a3]} <= kept
    assert ids[c1] in excluded["segregation"]


def test_a_variant_of_a_vcf_without_the_parents_is_judged_as_a_singles(
        api_app, db_url, ella_config, tmp_path):
    """A trio's VCF and the proband's own VCF (its CNV calls, say, with a .ped row without
    parents): taken as one family, the parents of the trio VCF had no genotype for the
    second VCF's variants, which failed every rule that keeps one and were removed without a
    word. filtering.md 2.8: without both parents only the siblings' rule removes a variant.
    And a heterozygous variant of the proband-only file pairs as compound heterozygous with
    one the proband has from a parent (its phase unknown, the pair is kept)."""
    _, (a1, a3) = t.coding_positions("DVL1", 2)
    _, (c1, c2) = t.coding_positions("CFTR", 2)
    het, ref = S("0/1", HET_AD), S("0/0", REF_AD, pl="0,100,1000")
    folder = t.write_multi_vcf_analysis(tmp_path, "SplitNoParents", [
        dict(file="trio", samples=["P", "F", "M"], ped=TRIO_PED, records=[
            ("DVL1", "1", a1, "C", "T", [het, ref, ref]),     # de novo: kept
            ("DVL1", "1", a3, "C", "T", [het, het, ref]),     # from the father alone: removed
            ("CFTR", "7", c2, "C", "T", [het, het, ref])]),   # from the father, paired: kept
        dict(file="proband", samples=["P"], ped=[("FAM", "P", 0, 0, 1, 2, 1)], records=[
            ("CFTR", "7", c1, "C", "T", [het])])])
    analysis_id = t.deposit_folder(db_url, ella_config, folder)
    client = logged_in_client(api_app, db_url, "testuser3")
    kept, excluded = _filtered(client, db_url, analysis_id, t.filterconfig_id(db_url))
    ids = {pos: t.allele_id(db_url, chrom, pos, "T")
           for chrom, pos in (("1", a1), ("1", a3), ("7", c1), ("7", c2))}
    assert {ids[a1], ids[c1], ids[c2]} <= kept
    assert ids[a3] in excluded["segregation"]


@pytest.mark.parametrize("samples, ped, message", [
    # The proband's own VCF under another family id, or named as its CNV caller names it:
    # every variant list of the trio's own filter config answered 400.
    (["P"], [("FAM2", "P", 0, 0, 1, 2, 1)], "sample P has family 'FAM2', but 'FAM'"),
    (["P_cnv"], [("FAM", "P_cnv", 0, 0, 1, 2, 1)], "the probands P, P_cnv of one family"),
    # One person given two ways: the X-linked rules, the segregation filter and the IGV
    # track depended on the file a variant came in.
    (["P", "F", "M"], [("FAM", "P", "F", "M", 2, 2, 1)] + TRIO_PED[1:],
     "sample P has sex 'Female', but 'Male'"),
    (["P"], [("FAM", "P", 0, 0, 1, 1, 1)], "sample P is not affected, but affected"),
    (["F"], None, "sample F is the proband in"),
], ids=["family", "proband-name", "sex", "affected", "role"])
def test_vcfs_of_one_analysis_must_agree_on_who_is_who(db_url, ella_config, tmp_path,
                                                      samples, ped, message):
    _, (a1, a2) = t.coding_positions("DVL1", 2)
    het, ref = S("0/1", HET_AD), S("0/0", REF_AD)
    folder = t.write_multi_vcf_analysis(tmp_path, "Disagree", [
        dict(file="trio", samples=["P", "F", "M"], ped=TRIO_PED,
             records=[("DVL1", "1", a1, "C", "T", [het, ref, ref])]),
        dict(file="second", samples=samples, ped=ped,
             records=[("DVL1", "1", a2, "C", "T", [het] + [ref] * (len(samples) - 1))])])
    before = table_snapshot(db_url)
    with pytest.raises(DepositError, match=re.escape(message)):
        t.deposit_folder(db_url, ella_config, folder)
    assert table_snapshot(db_url) == before


def test_p_denovo_only_where_the_genotypes_own_trio_is_de_novo(api_app, db_url, ella_config,
                                                               tmp_path):
    """A trio's exome and its re-sequencing (Sanger) both hold the variant: de novo in the
    first, inherited from the father in the second. The variant is tagged de novo, and the
    second's proband genotype showed a `p_denovo` too: its inherited calls' posterior."""
    _, (pos, _) = t.coding_positions("DVL1")
    het, ref = S("0/1", HET_AD, pl="100,0,100"), S("0/0", REF_AD, pl="0,100,1000")
    folder = t.write_multi_vcf_analysis(tmp_path, "TwoTrios", [
        dict(file="exome", samples=["P", "F", "M"], ped=TRIO_PED,
             records=[("DVL1", "1", pos, "C", "T", [het, ref, ref])]),
        dict(file="reseq", samples=["P", "F", "M"], ped=TRIO_PED, technology="Sanger",
             records=[("DVL1", "1", pos, "C", "T", [het, het, ref])])])
    analysis_id = t.deposit_folder(db_url, ella_config, folder)
    allele_id = t.allele_id(db_url, "1", pos, "T")
    client = logged_in_client(api_app, db_url, "testuser3")
    shown = t.workflow_alleles(client, db_url, analysis_id, [allele_id],
                               t.filterconfig_id(db_url))[allele_id]
    assert "denovo" in shown["tags"]
    by_type = {s["sample_type"]: s for s in shown["samples"]}
    assert "p_denovo" in by_type["HTS"]["genotype"]
    assert by_type["Sanger"]["father"]["genotype"]["type"] == "Heterozygous"
    assert "p_denovo" not in by_type["Sanger"]["genotype"]


@pytest.mark.parametrize("items, message", [
    # A relative's own file first: it was refused as "two probands" (one person, the lab
    # read).
    ([("father", ["F"], None), ("trio", ["P", "F", "M"], TRIO_PED)],
     "sample F is the proband in"),
    # The phenotype given two ways after a file without .ped: accepted.
    ([("cnv", ["P"], None), ("reseq", ["P"], [("FAM", "P", 0, 0, 1, 1, 1)]),
      ("trio", ["P", "F", "M"], TRIO_PED)], "sample P is affected, but not affected in"),
    # The sex given two ways after a file without .ped: the message named the file
    # without .ped.
    ([("cnv", ["P"], None), ("exome", ["P"], [("FAM", "P", 0, 0, 1, 2, 1)]),
      ("genome", ["P"], [("FAM", "P", 0, 0, 2, 2, 1)])], "exome.ped"),
])
def test_who_is_who_in_any_order_of_the_files(db_url, ella_config, tmp_path, items,
                                              message):
    positions = t.coding_positions("DVL1", len(items))[1]
    het, ref = S("0/1", HET_AD), S("0/0", REF_AD)
    folder = t.write_multi_vcf_analysis(tmp_path, "Order", [
        dict(file=name, samples=samples, ped=ped,
             records=[("DVL1", "1", pos, "C", "T", [het] + [ref] * (len(samples) - 1))])
        for (name, samples, ped), pos in zip(items, positions)])
    before = table_snapshot(db_url)
    with pytest.raises(DepositError, match=re.escape(message)):
        t.deposit_folder(db_url, ella_config, folder)
    assert table_snapshot(db_url) == before


@pytest.mark.parametrize("own_first", [False, True], ids=["trio-first", "own-first"])
def test_a_sex_one_ped_gives_is_the_sex_in_every_vcf(api_app, db_url, ella_config, tmp_path,
                                                    own_first):
    """The trio's .ped leaves the proband's sex unknown (0), the proband's own file's .ped
    says male. The trio's sample rows kept sex unknown: the segregation filter removed the
    trio's hemizygous de novo X variant (a male's rule) and the analysis said the proband's
    sex was unknown. Whatever the files' order, every row of P is male now."""
    _, (x_pos, _) = t.coding_positions("ARSE")  # outside PAR1
    _, (a1, _) = t.coding_positions("DVL1")
    trio_ped = [("FAM", "P", "F", "M", 0, 2, 1)] + TRIO_PED[1:]
    ref = S("0/0", REF_AD, pl="0,100,1000")
    items = [
        dict(file="trio", samples=["P", "F", "M"], ped=trio_ped, records=[
            ("ARSE", "X", x_pos, "C", "T", [S("1", HOM_AD), S("0", REF_AD), ref])]),
        dict(file="own", samples=["P"], ped=[("FAM", "P", 0, 0, 1, 2, 1)], records=[
            ("DVL1", "1", a1, "C", "T", [S("0/1", HET_AD)])])]
    folder = t.write_multi_vcf_analysis(tmp_path, "SexOnce", items[::-1] if own_first else items)
    analysis_id = t.deposit_folder(db_url, ella_config, folder)
    with psycopg.connect(db_url) as conn:
        sexes = conn.execute("SELECT identifier, sex::text FROM sample WHERE analysis_id = %s "
                             "ORDER BY identifier", (analysis_id,)).fetchall()
        warnings = conn.execute("SELECT warnings FROM analysis WHERE id = %s",
                                (analysis_id,)).fetchone()[0]
    assert [sex for name, sex in sexes if name == "P"] == ["Male", "Male"]
    assert not warnings
    client = logged_in_client(api_app, db_url, "testuser3")
    x_allele = t.allele_id(db_url, "X", x_pos, "T")
    kept, _ = _filtered(client, db_url, analysis_id, t.filterconfig_id(db_url))
    assert x_allele in kept
    shown = t.workflow_alleles(client, db_url, analysis_id, [x_allele],
                               t.filterconfig_id(db_url))[x_allele]
    assert "denovo" in shown["tags"]


def test_an_append_must_agree_with_the_samples_stored(db_url, ella_config, tmp_path):
    """An import job's append adds a VCF to the analysis: one of the proband under another
    family id went in, and every variant list of the trio config answered 400."""
    from ella.db import connect
    from ella.deposit.analysis import deposit_analysis
    from ella.deposit.analysis_config import resolve_analysis_config
    _, (a1, a2) = t.coding_positions("DVL1", 2)
    het = S("0/1", HET_AD)
    first = t.write_analysis(tmp_path / "a", "Base", ["P"], [("FAM", "P", 0, 0, 1, 2, 1)],
                             [("DVL1", "1", a1, "C", "T", [het])])
    t.deposit_folder(db_url, ella_config, first)
    more = t.write_analysis(tmp_path / "b", "More", ["P"], [("FAM2", "P", 0, 0, 1, 2, 1)],
                            [("DVL1", "1", a2, "C", "T", [het])])
    config = dict(resolve_analysis_config(more), name=first.name)
    before = table_snapshot(db_url)
    with connect(db_url) as conn, pytest.raises(DepositError, match="has family 'FAM2', but "
                                                "'FAM' in the analysis' samples"):
        with conn.transaction():
            deposit_analysis(conn, ella_config, config, append=True)
    assert table_snapshot(db_url) == before


@pytest.mark.parametrize("stored_sex, appended_sex, expected", [
    (2, 0, ["Female", "Female"]),   # the appended file's unknown sex is the stored one's
    (0, 2, [None, "Female"]),       # the stored row keeps its own: its calls were typed so
])
def test_an_append_takes_the_sex_of_the_stored_samples(db_url, ella_config, tmp_path,
                                                        stored_sex, appended_sex, expected):
    """The appended VCF's .ped leaves the proband's sex unknown: its rows kept it unknown.
    A stored sample keeps its own (a GT-less CNV call of it was typed with it; updating only
    the sample made the two disagree)."""
    from ella.db import connect
    from ella.deposit.analysis import deposit_analysis
    from ella.deposit.analysis_config import resolve_analysis_config
    _, (a1, a2) = t.coding_positions("DVL1", 2)
    het = S("0/1", HET_AD)
    first = t.write_analysis(tmp_path / "a", "Base", ["P"],
                             [("FAM", "P", 0, 0, stored_sex, 2, 1)],
                             [("DVL1", "1", a1, "C", "T", [het])])
    analysis_id = t.deposit_folder(db_url, ella_config, first)
    more = t.write_analysis(tmp_path / "b", "More", ["P"],
                            [("FAM", "P", 0, 0, appended_sex, 2, 1)],
                            [("DVL1", "1", a2, "C", "T", [het])])
    with connect(db_url) as conn:
        with conn.transaction():
            deposit_analysis(conn, ella_config,
                             dict(resolve_analysis_config(more), name=first.name), append=True)
        assert [sex for (sex,) in conn.execute(
            "SELECT sex::text FROM sample WHERE analysis_id = %s ORDER BY id",
            (analysis_id,))] == expected


def test_a_vcf_rewritten_during_the_deposit_is_refused(db_url, ella_config, tmp_path,
                                                       monkeypatch):
    """Every file's samples are read before the first is imported: a VCF rewritten in
    between (its columns in another order) had its columns paired with the first read's
    .ped rows, and the proband's calls were the father's."""
    import ella.deposit.analysis as analysis
    _, (a1, a2) = t.coding_positions("DVL1", 2)
    het, ref = S("0/1", HET_AD), S("0/0", REF_AD)
    folder = t.write_multi_vcf_analysis(tmp_path, "Rewritten", [
        dict(file="first", samples=["P", "F", "M"], ped=TRIO_PED,
             records=[("DVL1", "1", a1, "C", "T", [het, ref, ref])]),
        dict(file="second", samples=["P", "F", "M"], ped=TRIO_PED,
             records=[("DVL1", "1", a2, "C", "T", [het, ref, ref])])])
    second = folder / "second.vcf"
    swapped = second.read_text().replace("\tP\tF\tM", "\tF\tP\tM")
    real_create = analysis.create_samples
    def create_then_rewrite(*args, **kwargs):
        second.write_text(swapped)  # while the first file is imported
        return real_create(*args, **kwargs)
    monkeypatch.setattr(analysis, "create_samples", create_then_rewrite)
    before = table_snapshot(db_url)
    with pytest.raises(DepositError, match=r"second\.vcf: the VCF changed while the analysis "
                       "was imported"):
        t.deposit_folder(db_url, ella_config, folder)
    assert table_snapshot(db_url) == before


def test_two_variants_of_the_proband_only_file_do_not_pair(api_app, db_url, ella_config,
                                                           tmp_path):
    """No relative has a genotype for either: they were tagged compound heterozygous, and
    only when the list asked for also held a variant of the trio's file."""
    _, (a1, _) = t.coding_positions("DVL1", 2)
    _, (c1, c2) = t.coding_positions("CFTR", 2)
    het, ref = S("0/1", HET_AD), S("0/0", REF_AD)
    folder = t.write_multi_vcf_analysis(tmp_path, "LonePair", [
        dict(file="trio", samples=["P", "F", "M"], ped=TRIO_PED,
             records=[("DVL1", "1", a1, "C", "T", [het, het, ref])]),
        dict(file="own", samples=["P"], ped=[("FAM", "P", 0, 0, 1, 2, 1)],
             records=[("CFTR", "7", c1, "C", "T", [het]), ("CFTR", "7", c2, "C", "T", [het])])])
    analysis_id = t.deposit_folder(db_url, ella_config, folder)
    client = logged_in_client(api_app, db_url, "testuser3")
    lone = [t.allele_id(db_url, "7", c1, "T"), t.allele_id(db_url, "7", c2, "T")]
    for asked in (lone, lone + [t.allele_id(db_url, "1", a1, "T")]):
        shown = t.workflow_alleles(client, db_url, analysis_id, asked,
                                   t.filterconfig_id(db_url))
        assert all("compound_heterozygous" not in shown[i]["tags"] for i in lone), asked


def test_a_patients_snv_and_cnv_files_without_ped_still_import(db_url, ella_config, tmp_path):
    """A single's two files (no .ped: family, sex unknown) are no contradiction."""
    _, (a1, a2) = t.coding_positions("DVL1", 2)
    folder = t.write_multi_vcf_analysis(tmp_path, "Single", [
        dict(file="snv", samples=["P"], ped=None,
             records=[("DVL1", "1", a1, "C", "T", [S("0/1", HET_AD)])]),
        dict(file="more", samples=["P"], ped=None,
             records=[("DVL1", "1", a2, "C", "T", [S("0/1", HET_AD)])])])
    t.deposit_folder(db_url, ella_config, folder)


def test_a_duplication_called_without_gt_segregates_by_its_copy_numbers(
        api_app, db_url, ella_config, tmp_path):
    """CNV callers often give a copy number and no GT. Such a duplication counts as present
    in the proband (import.md 2.7), but `./.` made every sample's type Reference (2.9), so
    the trio's segregation filter removed every one, de novo or inherited, while the page
    showed the proband's CN 3. The copy numbers now give the types."""
    _, (lo, _) = t.coding_positions("NOTCH2")
    ped = [("FAM", "P", "F", "M", 1, 2, 1), ("FAM", "F", 0, 0, 1, 1, 0),
           ("FAM", "M", 0, 0, 2, 1, 0)]
    folder = t.write_analysis(tmp_path, "CnvTrio", ["P", "F", "M"], ped, [])
    vcf = next(folder.glob("*.vcf"))
    header, chrom_line = vcf.read_text().rstrip("\n").rsplit("\n", 1)
    header += ('\n##INFO=<ID=SVTYPE,Number=1,Type=String,Description="t">'
               '\n##INFO=<ID=SVLEN,Number=.,Type=Integer,Description="t">'
               '\n##INFO=<ID=END,Number=1,Type=Integer,Description="t">'
               '\n##FORMAT=<ID=CN,Number=1,Type=Integer,Description="t">')
    lines = [f"1\t{pos}\t.\tN\t<DUP>\t100\tPASS\tSVTYPE=DUP;SVLEN=5000;END={pos + 5000}\t"
             f"GT:CN\t{samples}" for pos, samples in (
                 (lo, "./.:3\t./.:2\t./.:2"),              # de novo
                 (lo + 20000, "./.:3\t./.:3\t./.:2"))]     # from the father
    vcf.write_text(header + "\n" + chrom_line + "\n" + "\n".join(lines) + "\n")
    result = run_cli("ella-deposit", "analysis", str(folder), db_url=db_url,
                     env={"ENABLE_CNV": "True"})
    assert result.returncode == 0, result.stdout + result.stderr
    with psycopg.connect(db_url) as conn:
        analysis_id = conn.execute("SELECT id FROM analysis WHERE name = %s",
                                   (folder.name,)).fetchone()[0]
    denovo, inherited = t.allele_id(db_url, "1", lo, "<DUP>"), \
        t.allele_id(db_url, "1", lo + 20000, "<DUP>")
    client = logged_in_client(api_app, db_url, "testuser3")
    fc_id = t.filterconfig_id(db_url)
    kept, excluded = _filtered(client, db_url, analysis_id, fc_id)
    assert denovo in kept and inherited in excluded["segregation"]
    shown = t.workflow_alleles(client, db_url, analysis_id, [denovo], fc_id)[denovo]
    assert "denovo" in shown["tags"]
    assert shown["samples"][0]["genotype"]["formatted"] == "CN: 3 (5000nt)"


# --- 2./3. formatted genotypes of relatives at a multiallelic site ---------------------------

def _multiallelic_family(api_app, db_url, ella_config, tmp_path):
    """Proband 1/2 at a decomposed site C>T,G (two proband alleles, import.md 2.8); father
    0/2, mother 0/1, an affected sibling 1/2 like the proband."""
    _, (pos, _) = t.coding_positions("ATAD3A")
    om = f"OLD_MULTIALLELIC=1:{pos}:C/T/G"
    records = [
        ("ATAD3A", "1", pos, "C", "T", [S("1/.", (0, 20)), S("0/.", (20, 0)),
                                        S("0/1", (20, 20)), S("1/.", (0, 20))], om),
        ("ATAD3A", "1", pos, "C", "G", [S("./1", (0, 20)), S("0/1", (20, 20)),
                                        S("0/.", (20, 0)), S("./1", (0, 20))], om),
    ]
    ped = [("FAM", "P", "F", "M", 1, 2, 1), ("FAM", "F", 0, 0, 1, 1, 0),
           ("FAM", "M", 0, 0, 2, 1, 0), ("FAM", "SIB", "F", "M", 2, 2, 0)]
    client, analysis_id = _setup(api_app, db_url, ella_config, tmp_path, "Multi",
                                 ["P", "F", "M", "SIB"], ped, records)
    t_allele = t.allele_id(db_url, "1", pos, "T")
    g_allele = t.allele_id(db_url, "1", pos, "G")
    alleles = t.workflow_alleles(client, db_url, analysis_id, [t_allele, g_allele])
    return alleles, t_allele, g_allele


def test_sibling_carrying_both_alleles_is_not_shown_with_unknown_allele(api_app, db_url,
                                                                      ella_config, tmp_path):
    """api.md 3.4 Genotype.formatted: `?` stands for an *unknown* allele at multi-allelic
    sites. The sibling is T/G, and both T and G are stored (the proband's genotype has both
    alleles); ELLA formats a sample's genotype from both of its rows of that genotype
    (first and second allele) and shows `T/G` on both variants (formatting each allele row on
    its own gave `?/T` and `?/G`, as if the sibling's second allele were unknown)."""
    alleles, t_allele, g_allele = _multiallelic_family(api_app, db_url, ella_config, tmp_path)
    for allele_id in (t_allele, g_allele):
        (proband,) = alleles[allele_id]["samples"]
        (sibling,) = proband["siblings"]
        assert sibling["identifier"] == "SIB"
        shown = sibling["genotype"]["formatted"]
        assert "?" not in shown and sorted(shown.split("/")) == ["G", "T"], (allele_id, shown)


def test_parent_genotype_at_multiallelic_site_shows_its_known_other_allele(api_app, db_url,
                                                                           ella_config,
                                                                           tmp_path):
    """api.md 3.4 Genotype.formatted (`?` only for an unknown allele): the father is C/G
    (0/2). On the proband's T variant his row is `0/.` (Reference, multiallelic) and on the
    G variant `0/1`; both rows belong to the same genotype, so his genotype is known: ELLA
    shows `C/G` (it was `C/?` on the T variant, and the mother, 0/1, `C/?` on the G
    variant)."""
    alleles, t_allele, g_allele = _multiallelic_family(api_app, db_url, ella_config, tmp_path)
    (proband_t,) = alleles[t_allele]["samples"]
    (proband_g,) = alleles[g_allele]["samples"]
    assert proband_t["father"]["genotype"]["formatted"] == "C/G"
    assert proband_g["mother"]["genotype"]["formatted"] == "C/T"


# --- 4. p_denovo on the proband genotype of a de novo variant --------------------------------

def test_p_denovo_of_denovo_variants(api_app, db_url, ella_config, tmp_path):
    """api.md 3.4 Genotype.p_denovo: only on the proband genotype of a variant tagged
    `denovo` (so only with a filter config that has a segregation filter), computed from the
    trio's PLs (tests/test_denovo_probability.py derives the closed form); left out when a PL
    is missing."""
    from test_denovo_probability import _autosomal_expected

    _, (pos1, pos2) = t.coding_positions("DVL1")
    _, (pos3, _) = t.coding_positions("ATAD3A")
    certain_het, certain_ref = "10000,0,10000", "0,10000,10000"
    records = [
        # de novo; the father might be a carrier (het PL 60)
        ("DVL1", "1", pos1, "C", "T", [S("0/1", HET_AD, pl=certain_het),
                                       S("0/0", REF_AD, pl="0,60,10000"),
                                       S("0/0", REF_AD, pl=certain_ref)]),
        # de novo, but the mother's PL is missing
        ("DVL1", "1", pos2, "C", "T", [S("0/1", HET_AD, pl=certain_het),
                                       S("0/0", REF_AD, pl=certain_ref),
                                       S("0/0", REF_AD, pl=".")]),
        # inherited from the father
        ("ATAD3A", "1", pos3, "C", "T", [S("0/1", HET_AD, pl=certain_het),
                                         S("0/1", HET_AD, pl=certain_het),
                                         S("0/0", REF_AD, pl=certain_ref)]),
    ]
    ped = [("FAM", "P", "F", "M", 1, 2, 1), ("FAM", "F", 0, 0, 1, 1, 0),
           ("FAM", "M", 0, 0, 2, 1, 0)]
    client, analysis_id = _setup(api_app, db_url, ella_config, tmp_path, "PDenovo",
                                 ["P", "F", "M"], ped, records)
    ids = [t.allele_id(db_url, "1", p, "T") for p in (pos1, pos2, pos3)]
    fc_id = t.filterconfig_id(db_url)
    alleles = t.workflow_alleles(client, db_url, analysis_id, ids, fc_id)
    assert ["denovo" in alleles[i]["tags"] for i in ids] == [True, True, False]

    (proband,) = alleles[ids[0]]["samples"]
    assert proband["genotype"]["p_denovo"] == pytest.approx(_autosomal_expected(60), rel=1e-9)
    assert "p_denovo" not in proband["father"]["genotype"]
    assert "p_denovo" not in proband["mother"]["genotype"]
    for allele_id in ids[1:]:
        (proband,) = alleles[allele_id]["samples"]
        assert "p_denovo" not in proband["genotype"], allele_id

    without_filterconfig = t.workflow_alleles(client, db_url, analysis_id, ids)
    (proband,) = without_filterconfig[ids[0]]["samples"]
    assert "denovo" not in without_filterconfig[ids[0]]["tags"]
    assert "p_denovo" not in proband["genotype"]


# --- 5. a relative's unreadable GT ----------------------------------------------------------

def test_a_relatives_gt_naming_a_missing_alt_matters_only_where_the_proband_has_the_variant(
        db_url, ella_config, tmp_path):
    """import.md 2.7: an undecomposed GT such as `1/2` on a one-ALT line is an error for a
    relative inside an imported block; on a record the proband lacks (never stored) it is
    not (the whole VCF was refused)."""
    from deposit_helpers import deposit
    from ella.vcf import VcfError
    _, (pos1, pos2) = t.coding_positions("DVL1")
    ped = [("FAM", "P", "F", "M", 1, 2, 1), ("FAM", "F", 0, 0, 1, 1, 0),
           ("FAM", "M", 0, 0, 2, 1, 0)]
    lacking = ("DVL1", "1", pos1, "C", "T", [S("0/0", REF_AD), S("1/2", HET_AD),
                                              S("0/0", REF_AD)])
    carried = ("DVL1", "1", pos2, "C", "T", [S("0/1", HET_AD), S("1/2", HET_AD),
                                              S("0/0", REF_AD)])
    fine = t.write_analysis(tmp_path / "a", "Fine", ["P", "F", "M"], ped, [lacking])
    t.deposit_folder(db_url, ella_config, fine)
    bad = t.write_analysis(tmp_path / "b", "Bad", ["P", "F", "M"], ped, [lacking, carried])
    with pytest.raises(VcfError, match="GT '1/2' of sample F refers to an allele"):
        deposit(db_url, ella_config, bad)


# --- pedigrees as editors and pipelines write them ------------------------------------------

TRIO_PED = [("FAM", "P", "F", "M", 1, 2, 1), ("FAM", "F", 0, 0, 1, 1, 0),
            ("FAM", "M", 0, 0, 2, 1, 0)]


def _dvl1_site():
    tx, (pos, _) = t.coding_positions("DVL1")
    return tx["chrom"], pos, "C", "T"


def _trio(tmp_path, name, ped_rows):
    return t.write_analysis(tmp_path, name, ["P", "F", "M"], ped_rows,
                            [("DVL1", *_dvl1_site(),
                              [S("0/1", HET_AD), S("0/1", HET_AD), S("0/0", REF_AD)])])


def test_a_ped_with_a_byte_order_mark_deposits_as_without(db_url, ella_config, tmp_path):
    """A Windows editor's byte-order mark made the first family id "\\ufeffFAM": the trio was
    refused as two families "FAM, FAM" (or the BOM was stored in sample.family_id)."""
    folder = _trio(tmp_path, "Bom", TRIO_PED)
    ped = folder / "Bom.ped"
    ped.write_bytes(b"\xef\xbb\xbf# family P\n" + ped.read_bytes())
    analysis_id = t.deposit_folder(db_url, ella_config, folder)
    assert {s["family_id"] for s in t.samples_of(db_url, analysis_id).values()} == {"FAM"}


@pytest.mark.parametrize("phenotype", [0, -9, 1])
def test_a_family_whose_proband_is_not_marked_affected_is_refused(db_url, ella_config,
                                                                  tmp_path, phenotype):
    """Imported, its own trio filter config could never run (the segregation filter needs an
    affected proband: filtering.md 2.8): every variant list of it answered 400."""
    from deposit_helpers import deposit
    from ella.deposit.variants import DepositError
    from helpers import table_snapshot
    ped = [TRIO_PED[0][:5] + (phenotype, 1)] + TRIO_PED[1:]
    folder = _trio(tmp_path, f"Unaffected{phenotype}".replace("-", "m"), ped)
    before = table_snapshot(db_url)
    with pytest.raises(DepositError) as refused:
        deposit(db_url, ella_config, folder)
    assert str(refused.value).endswith(
        ".ped, line 1: the proband P of a trio is not marked affected (phenotype 2); the "
        "segregation filters need an affected proband")
    assert table_snapshot(db_url) == before
    # A duo has no segregation filter to run: imported as the .ped says.
    duo = t.write_analysis(tmp_path / "duo", f"Duo{phenotype}".replace("-", "m"), ["P", "M"],
                           [("FAM", "P", 0, "M", 1, phenotype, 1), TRIO_PED[2]],
                           [("DVL1", *_dvl1_site(), [S("0/1", HET_AD), S("0/0", REF_AD)])])
    analysis_id = t.deposit_folder(db_url, ella_config, duo)
    assert t.samples_of(db_url, analysis_id)["P"]["affected"] is False


def test_a_pedigree_with_grandparents_names_the_parents_it_counts(db_url, ella_config,
                                                                   tmp_path):
    """At most one father and one mother per analysis: the message named neither the lines
    nor the samples (F, and the mother's unsequenced father GF)."""
    from deposit_helpers import deposit
    from ella.deposit.variants import DepositError
    ped = TRIO_PED[:2] + [("FAM", "M", "GF", "GM", 2, 1, 0)]
    folder = _trio(tmp_path, "ThreeGen", ped)
    with pytest.raises(DepositError, match=r"ThreeGen\.ped: at most one father and one mother "
                                           r"per analysis; fathers F \(line 1\), GF \(line 3\)"):
        deposit(db_url, ella_config, folder)
