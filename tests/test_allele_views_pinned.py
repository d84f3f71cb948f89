"""The Allele shape (api.md 3.4) pinned on the rules the spec states: custom annotation merged
over the annotation, `has_references`, transcript selection and `worse_consequence`, the
genotype checks and `needs_verification`, the analysis tags, parents and siblings, the CNV
display genotypes, the `nearby_allele` warning, and GET alleles/ parameters (api.md 1.7, 2.3)."""

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ella.allele_views import load_alleles

from api_helpers import logged_in_client
from filter_helpers import PANEL, World

HET, HOM, REF, NOCOV = "Heterozygous", "Homozygous", "Reference", "No coverage"
ALLELES = "/api/v1/alleles/"


def _annotation(conn, allele_id, doc):
    conn.execute("INSERT INTO annotation (allele_id, annotations, date_created, "
                 "annotation_config_id) VALUES (%s, %s, now(), 1)", (allele_id, Jsonb(doc)))


def _one(conn, config, allele_id, **kwargs):
    [allele] = load_alleles(conn, config, "a.id = %s", (allele_id,), **kwargs)
    return allele


def _gsd(conn, genotype_id, sample_id, gtype, depth=None, allele_depth=None,
         copy_number=None, second=False, multiallelic=False):
    conn.execute("INSERT INTO genotypesampledata (genotype_id, secondallele, multiallelic, "
                 "type, sample_id, sequencing_depth, allele_depth, copy_number) "
                 "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                 (genotype_id, second, multiallelic, gtype, sample_id, depth,
                  Jsonb(allele_depth) if allele_depth is not None else None, copy_number))


def _genotype(conn, allele_id, sample_id, filter_status="PASS", second_id=None):
    return conn.execute("INSERT INTO genotype (allele_id, secondallele_id, sample_id, "
                        "filter_status) VALUES (%s, %s, %s, %s) RETURNING id",
                        (allele_id, second_id, sample_id, filter_status)).fetchone()[0]


def _depth(ref, alt):
    """An allele_depth of a World allele (ALT `G`)."""
    return {"REF (A)": ref, "G": alt}


# --- annotation ------------------------------------------------------------------------------

def test_custom_annotation_is_merged_over_and_its_references_appended(db_conn, ella_config):
    """api.md 3.4 Annotation: `external`/`prediction` have the custom annotation's merged
    over them; custom-annotation references are appended."""
    world = World(db_conn, ella_config)
    allele = world.allele()
    clinvar = {"variant_id": 1}
    _annotation(db_conn, allele, {
        "transcripts": [], "external": {"CLINVAR": clinvar, "LOVD": {"x": 1}},
        "prediction": {"domain": "no", "repeat": "no"},
        "references": [{"pubmed_id": 1, "source": "VEP", "source_info": ""}]})
    db_conn.execute("INSERT INTO customannotation (annotations, allele_id, user_id, "
                    "date_created) VALUES (%s, %s, NULL, now())",
                    (Jsonb({"external": {"LOVD": "pathogenic", "BIC": "benign"},
                            "prediction": {"domain": "yes"},
                            "references": [{"pubmed_id": 2, "source": "User"}]}), allele))
    annotation = _one(db_conn, ella_config, allele)["annotation"]
    assert annotation["external"] == {"CLINVAR": clinvar, "LOVD": "pathogenic",
                                      "BIC": "benign"}
    assert annotation["prediction"] == {"domain": "yes", "repeat": "no"}
    assert [r["pubmed_id"] for r in annotation["references"]] == [1, 2]


def test_has_references_only_with_references(db_conn, ella_config):
    """api.md 3.4 tags: `has_references` when the annotation has references (an empty list
    is none)."""
    world = World(db_conn, ella_config)
    empty, one = world.allele(), world.allele()
    _annotation(db_conn, empty, {"transcripts": [], "references": []})
    _annotation(db_conn, one, {"transcripts": [], "references": [
        {"pubmed_id": 3, "source": "VEP", "source_info": ""}]})
    assert "has_references" not in _one(db_conn, ella_config, empty)["tags"]
    assert "has_references" in _one(db_conn, ella_config, one)["tags"]


def _tx(name, hgnc_id, consequence):
    return {"transcript": name, "hgnc_id": hgnc_id, "consequences": [consequence],
            "strand": 1, "is_canonical": True, "in_last_exon": "no"}


def test_worst_consequence_ties_and_the_worse_consequence_warning(db_conn, ella_config):
    """api.md 3.4: `worst_consequence` names every kept transcript with the most severe
    consequence; `worse_consequence` warns SNVs whose worst transcripts do not intersect
    `filtered_transcripts` (one in the panel is enough to not warn)."""
    world = World(db_conn, ella_config)
    world.transcript("NM_1.1", 1)
    world.transcript("NM_2.1", 2)
    warned, quiet = world.allele(), world.allele()
    _annotation(db_conn, warned, {"transcripts": [
        _tx("NM_1.1", 1, "missense_variant"), _tx("NM_3.1", 3, "stop_gained"),
        _tx("NM_4.1", 4, "stop_gained")]})
    _annotation(db_conn, quiet, {"transcripts": [
        _tx("NM_2.1", 2, "stop_gained"), _tx("NM_3.1", 3, "stop_gained")]})
    shown = _one(db_conn, ella_config, warned, genepanel=PANEL)
    assert shown["annotation"]["filtered_transcripts"] == ["NM_1.1"]
    assert shown["annotation"]["worst_consequence"] == ["NM_3.1", "NM_4.1"]
    assert shown["warnings"]["worse_consequence"] == (
        "Worse consequences found in: NM_3.1 (stop_gained), NM_4.1 (stop_gained)")
    other = _one(db_conn, ella_config, quiet, genepanel=PANEL)
    assert other["annotation"]["worst_consequence"] == ["NM_2.1", "NM_3.1"]
    assert "warnings" not in other


def test_no_worse_consequence_warning_for_a_cnv(db_conn, ella_config):
    """api.md 3.4 warnings: `worse_consequence` is for SNVs only."""
    world = World(db_conn, ella_config)
    cnv = world.allele(start=5000, end=9000, change_type="del", change_from="",
                       change_to="", caller_type="cnv")
    _annotation(db_conn, cnv, {"transcripts": [_tx("NM_3.1", 3, "transcript_ablation")]})
    shown = _one(db_conn, ella_config, cnv)
    assert shown["annotation"]["worst_consequence"] == ["NM_3.1"]
    assert "warnings" not in shown


def test_transcripts_unchanged_when_none_is_kept(db_conn, ella_config):
    """api.md 3.4 Annotation.transcripts: restricted to the panel's and the inclusion regex'
    transcripts, unchanged if that union is empty."""
    world = World(db_conn, ella_config)
    allele = world.allele()
    _annotation(db_conn, allele, {"transcripts": [_tx("ENST1", 3, "intron_variant")]})
    annotation = _one(db_conn, ella_config, allele)["annotation"]
    assert [t["transcript"] for t in annotation["transcripts"]] == ["ENST1"]
    assert annotation["worst_consequence"] == ["ENST1"]


# --- genotypes and tags (analysis context) ----------------------------------------------------

def _checks(conn, config, allele, analysis_id):
    [sample] = _one(conn, config, allele, analysis_id=analysis_id)["samples"]
    return sample["genotype"]


def test_genotype_checks_at_their_limits(db_conn, ella_config):
    """api.md 3.4 Genotype: dp = sequencing_depth >= 20; allele_ratio Het 0.3 < r < 0.7,
    Hom r > 0.9, Reference true, no ratio otherwise false; the ratio only with more than one
    depth entry, all of them integers; snp = change_type SNP; needs_verification = HTS and
    not all of snp/pass/dp/allele_ratio."""
    world = World(db_conn, ella_config)
    cases = [  # (change_type, type, depth, allele_depth, ratio, checks, needs_verification)
        ("SNP", HET, 20, _depth(7, 3), 0.3, {"dp": True, "allele_ratio": False}, True),
        ("SNP", HET, 19, _depth(3, 7), 0.7, {"dp": False, "allele_ratio": False}, True),
        ("SNP", HET, 30, _depth(6, 4), 0.4, {"dp": True, "allele_ratio": True}, False),
        ("SNP", HOM, 30, _depth(1, 9), 0.9, {"allele_ratio": False}, True),
        ("SNP", HOM, 30, _depth(0, 10), 1.0, {"allele_ratio": True}, False),
        ("SNP", NOCOV, 30, None, None, {"allele_ratio": False}, True),
        ("SNP", REF, 30, None, None, {"allele_ratio": True}, False),
        ("SNP", HET, 30, {"G": 10}, None, {"allele_ratio": False}, True),
        ("SNP", HET, 30, {"REF (A)": 5, "G": "5"}, None, {"allele_ratio": False}, True),
        ("del", HET, 30, _depth(5, 5), 0.5, {"snp": False, "allele_ratio": True}, True),
    ]
    for n, (change_type, gtype, depth, allele_depth, ratio, checks, verify) in \
            enumerate(cases):
        world.analysis(f"Limits{n}")
        proband = world.sample(f"P{n}")
        allele = world.allele(change_type=change_type)
        _gsd(db_conn, _genotype(db_conn, allele, proband), proband, gtype, depth,
             allele_depth)
        genotype = _checks(db_conn, ella_config, allele, world.analysis_id)
        assert genotype.get("allele_ratio") == ratio, (n, genotype)
        assert {k: genotype["needs_verification_checks"][k] for k in checks} == checks, n
        assert genotype["needs_verification"] is verify, n


def test_a_sanger_sample_never_needs_verification_nor_is_low_quality(db_conn, ella_config):
    """api.md 3.4: needs_verification only for HTS samples; `low_quality` when some HTS
    sample fails pass, dp or allele_ratio."""
    world = World(db_conn, ella_config)
    proband = world.sample("P")
    db_conn.execute("UPDATE sample SET sample_type = 'Sanger' WHERE id = %s", (proband,))
    allele = world.allele()
    _gsd(db_conn, _genotype(db_conn, allele, proband, filter_status="FAIL"), proband, HET, 3)
    shown = _one(db_conn, ella_config, allele, analysis_id=world.analysis_id)
    genotype = shown["samples"][0]["genotype"]
    assert genotype["needs_verification_checks"]["hts"] is False
    assert genotype["needs_verification"] is False
    assert "low_quality" not in shown["tags"]


def test_low_quality_on_depth_and_on_a_parent(db_conn, ella_config):
    """api.md 3.4 tags: `low_quality` when some HTS sample (a parent too) fails the `pass`,
    `dp` or `allele_ratio` check."""
    world = World(db_conn, ella_config)
    fam = world.family()
    shallow, parent_shallow, fine = world.allele(), world.allele(), world.allele()
    for allele, proband_depth, father_depth in ((shallow, 10, 30), (parent_shallow, 30, 5),
                                                (fine, 30, 30)):
        genotype = _genotype(db_conn, allele, fam["P"])
        _gsd(db_conn, genotype, fam["P"], HET, proband_depth, _depth(5, 5))
        _gsd(db_conn, genotype, fam["F"], HET, father_depth, _depth(5, 5))
        _gsd(db_conn, genotype, fam["M"], REF, 30, _depth(10, 0))
    tags = {a["id"]: a["tags"] for a in load_alleles(
        db_conn, ella_config, "a.id = ANY(%s)", ([shallow, parent_shallow, fine],),
        analysis_id=world.analysis_id)}
    assert "low_quality" in tags[shallow]
    assert "low_quality" in tags[parent_shallow]
    assert "low_quality" not in tags[fine]


def test_homozygous_tag_from_the_proband_only(db_conn, ella_config):
    """api.md 3.4 tags: `homozygous` when a proband genotype is Homozygous (not a parent's,
    not a proband without the variant)."""
    world = World(db_conn, ella_config)
    fam = world.family()
    cases = {}
    for name, proband_type, father_type in (("hom", HOM, HET), ("father_hom", HET, HOM),
                                            ("nocov", NOCOV, HET), ("ref", REF, HET)):
        allele = world.allele()
        genotype = _genotype(db_conn, allele, fam["P"])
        _gsd(db_conn, genotype, fam["P"], proband_type, 30, _depth(5, 5))
        _gsd(db_conn, genotype, fam["F"], father_type, 30, _depth(5, 5))
        cases[name] = allele
    tags = {a["id"]: a["tags"] for a in load_alleles(
        db_conn, ella_config, "a.id = ANY(%s)", (list(cases.values()),),
        analysis_id=world.analysis_id)}
    assert "homozygous" in tags[cases["hom"]]
    for name in ("father_hom", "nocov", "ref"):
        assert "homozygous" not in tags[cases[name]], name


def test_parents_and_siblings_of_the_proband(db_conn, ella_config):
    """api.md 3.4 SampleWithGenotype: the proband with `father`, `mother` (if linked) and
    `siblings` (only if any), each with its own genotype."""
    world = World(db_conn, ella_config)
    fam = world.family(siblings=(True,))
    allele = world.allele()
    genotype = _genotype(db_conn, allele, fam["P"])
    for key, gtype in (("P", HET), ("F", HOM), ("M", REF), ("S0", HET)):
        _gsd(db_conn, genotype, fam[key], gtype, 30, _depth(5, 5))
    [proband] = _one(db_conn, ella_config, allele, analysis_id=world.analysis_id)["samples"]
    assert proband["id"] == fam["P"]
    assert (proband["father"]["id"], proband["father"]["genotype"]["type"]) == (fam["F"], HOM)
    assert (proband["mother"]["id"], proband["mother"]["genotype"]["type"]) == (fam["M"], REF)
    assert [s["id"] for s in proband["siblings"]] == [fam["S0"]]

    world.analysis("Trio")
    trio = world.family()
    other = world.allele()
    genotype = _genotype(db_conn, other, trio["P"])
    for key in ("P", "F", "M"):
        _gsd(db_conn, genotype, trio[key], HET, 30, _depth(5, 5))
    [proband] = _one(db_conn, ella_config, other, analysis_id=world.analysis_id)["samples"]
    assert "siblings" not in proband
    assert proband["father"]["id"] == trio["F"] and proband["mother"]["id"] == trio["M"]


@pytest.mark.parametrize("change_type, gtype, copy_number, shown", [
    ("del", HET, None, "(4000nt)/-"),
    ("del", HOM, None, "-/-"),
    ("del", NOCOV, None, "./."),
    ("dup", HET, 3, "CN: 3 (4000nt)"),
    ("dup_tandem", HET, 4, "CN: 4 (4000nt)"),
    ("dup_tandem", NOCOV, 4, "./."),
])
def test_cnv_display_genotypes(db_conn, ella_config, change_type, gtype, copy_number, shown):
    """api.md 3.4 Genotype.formatted, CNV forms: `(Nnt)/-`, `-/-`, `CN: n (Nnt)` for a
    duplication with a copy number, `./.` for no coverage."""
    world = World(db_conn, ella_config)
    proband = world.sample("P")
    cnv = world.allele(start=5000, end=9000, change_type=change_type, change_from="",
                       change_to="", caller_type="cnv")
    _gsd(db_conn, _genotype(db_conn, cnv, proband), proband, gtype, 30,
         copy_number=copy_number)
    assert _checks(db_conn, ella_config, cnv, world.analysis_id)["formatted"] == shown


def test_nearby_within_two_bp_also_as_a_second_allele(db_conn, ella_config):
    """api.md 3.4 warnings: `nearby_allele` when another variant of the analysis (one of a
    genotype's two alleles) starts or ends within 2 bp; not at 3 bp."""
    world = World(db_conn, ella_config)
    proband = world.sample("P")
    first = world.allele(start=1000)           # [1000, 1001)
    second = world.allele(start=1003)          # starts 2 bp after the first's end
    far = world.allele(start=2000)             # [2000, 2001)
    farther = world.allele(start=2004)         # 3 bp after
    genotype = _genotype(db_conn, first, proband, second_id=second)
    _gsd(db_conn, genotype, proband, HET, 30, multiallelic=True)
    _gsd(db_conn, genotype, proband, HET, 30, second=True, multiallelic=True)
    for allele in (far, farther):
        _gsd(db_conn, _genotype(db_conn, allele, proband), proband, HET, 30)
    shown = {a["id"]: "nearby_allele" in a.get("warnings", {}) for a in load_alleles(
        db_conn, ella_config, "a.id = ANY(%s)", ([first, second, far, farther],),
        analysis_id=world.analysis_id)}
    assert shown == {first: True, second: True, far: False, farther: False}


# --- GET alleles/ parameters -----------------------------------------------------------------

@pytest.fixture
def client(demo_api_app, demo_db_url):
    return logged_in_client(demo_api_app, demo_db_url, "testuser1")


def test_gp_version_without_gp_name_is_refused(client):
    """api.md 2.3: the panel is given by `gp_name`+`gp_version` together."""
    assert client.get(ALLELES, query={"gp_version": "v01"}).status == 400


def test_alleles_are_not_sliced_by_per_page(client, demo_db_url):
    """api.md 1.7: `alleles/` has the pagination headers but no slicing."""
    with psycopg.connect(demo_db_url) as conn:
        total = conn.execute("SELECT count(*) FROM allele").fetchone()[0]
    result = client.get(ALLELES, query={"per_page": 5, "page": 2})
    assert result.status == 200
    assert len(result.json) == total and result.header("Per-Page") == "5"


def test_by_gene_with_only_empty_ids_is_an_empty_list(client):
    """api.md 2.3 `alleles/by-gene/` answers a list; 1.8: empty items of `allele_ids` are
    ignored."""
    result = client.get(ALLELES + "by-gene/", query={"allele_ids": ","})
    assert result.status == 200 and result.json == []
