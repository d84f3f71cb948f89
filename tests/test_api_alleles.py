"""GET alleles/ and alleles/by-gene/ (api.md 2.3, 3.4, 4.9, 1.8 link) on the real ELLA
database, through the WSGI app."""

import psycopg
from psycopg.types.json import Jsonb
import pytest

from api_client import Client
from api_helpers import logged_in_client

ALLELES = "/api/v1/alleles/"

ALLELE_KEYS = {"id": int, "genome_reference": str, "chromosome": str, "start_position": int,
               "open_end_position": int, "change_from": str, "change_to": str,
               "change_type": str, "vcf_pos": int, "vcf_ref": str, "vcf_alt": str,
               "length": int, "caller_type": str, "tags": list}
OPTIONAL_ALLELE_KEYS = {"annotation", "samples", "allele_assessment", "reference_assessments",
                        "allele_report", "warnings"}
AA_KEYS = {"id", "date_created", "date_superceeded", "allele_id", "analysis_id",
           "genepanel_name", "genepanel_version", "annotation_id", "custom_annotation_id",
           "previous_assessment_id", "user_id", "usergroup_id", "usergroup", "user",
           "classification", "seconds_since_update", "evaluation", "attachment_ids"}
AR_KEYS = {"id", "date_created", "date_superceeded", "allele_id", "analysis_id",
           "previous_report_id", "user_id", "usergroup_id", "usergroup", "user",
           "seconds_since_update", "evaluation"}
USER_KEYS = {"id", "username", "first_name", "last_name", "full_name", "abbrev_name", "active",
             "user_group_name"}
GENOTYPE_REQUIRED = {"id", "variant_quality", "filter_status", "type", "multiallelic",
                     "genotype_quality", "genotype_likelihood", "sequencing_depth",
                     "allele_depth", "copy_number", "needs_verification_checks",
                     "needs_verification", "formatted"}


def _allele_3(demo_db_url):
    with psycopg.connect(demo_db_url) as conn:
        return conn.execute("SELECT id FROM allele WHERE chromosome = '13' "
                            "AND vcf_pos = 32890607 AND vcf_ref = 'G' AND vcf_alt = 'T'"
                            ).fetchone()[0]


@pytest.fixture
def client(demo_api_app, demo_db_url):
    return logged_in_client(demo_api_app, demo_db_url, "testuser1")


def test_alleles_shape_headers_and_order(client, demo_db_url):
    result = client.get(ALLELES)
    assert result.status == 200
    alleles = result.json
    assert len(alleles) == 24
    assert result.header("Total-Count") == "24" and result.header("Per-Page") == "10000"
    assert result.header("Page") == "1" and result.header("Total-Pages") == "1"
    assert [(a["chromosome"], a["start_position"]) for a in alleles] == sorted(
        (a["chromosome"], a["start_position"]) for a in alleles)
    for allele in alleles:
        for key, typ in ALLELE_KEYS.items():
            assert isinstance(allele[key], typ), (key, allele)
        assert set(allele) - set(ALLELE_KEYS) <= OPTIONAL_ALLELE_KEYS
        assert "samples" not in allele and allele["tags"] == sorted(allele["tags"])
        annotation = allele["annotation"]
        assert isinstance(annotation["annotation_id"], int)
        assert isinstance(annotation["annotation_config_id"], int)
        assert isinstance(annotation["schema_version"], int)
        assert annotation["filtered_transcripts"] == []  # no panel
        assert isinstance(annotation["worst_consequence"], list)
        if allele["caller_type"] == "snv" and annotation["worst_consequence"]:
            # Without a panel filtered_transcripts is empty: every such SNV is warned.
            text = allele["warnings"]["worse_consequence"]
            assert text.startswith("Worse consequences found in: ")
            assert annotation["worst_consequence"][0] + " (" in text
        for transcript in annotation["transcripts"]:
            for key in ("HGVSc", "HGVSp", "exon", "intron"):
                assert transcript.get(key, "") is not None  # absent, never null
    with_assessment = [a for a in alleles if "allele_assessment" in a]
    assert len(with_assessment) == 6
    for allele in with_assessment:
        aa = allele["allele_assessment"]
        assert set(aa) == AA_KEYS and aa["allele_id"] == allele["id"]
        assert aa["date_superceeded"] is None and isinstance(aa["seconds_since_update"], float)
        assert set(aa["user"]) == USER_KEYS and aa["usergroup"] == {"id": 1,
                                                                    "name": "testgroup01"}
        assert isinstance(aa["classification"], str) and aa["attachment_ids"] == []
        assert aa["date_created"].endswith("+00:00")
    reports = [a["allele_report"] for a in alleles if "allele_report" in a]
    assert len(reports) == 6 and all(set(r) == AR_KEYS for r in reports)
    assert all(set(r["user"]) == USER_KEYS for r in reports)


def test_transcript_selection_with_panel(client, demo_db_url):
    allele_id = _allele_3(demo_db_url)
    plain = client.get(ALLELES, query={"q": {"id": [allele_id]}}).json[0]["annotation"]
    # Without a panel: only transcripts matching the inclusion regex NM_.*
    assert [t["transcript"] for t in plain["transcripts"]] == ["NM_000059.3", "NM_001136571.1"]
    assert plain["filtered_transcripts"] == [] and plain["worst_consequence"]
    result = client.get(ALLELES, query={"q": {"id": [allele_id]}, "gp_name": "HBOCUTV",
                                        "gp_version": "v01"})
    assert result.status == 200
    allele = result.json[0]
    annotation = allele["annotation"]
    assert annotation["filtered_transcripts"] == ["NM_000059.3"]
    names = [t["transcript"] for t in annotation["transcripts"]]
    assert "NM_000059.3" in names and not any(n.startswith("ENST") for n in names)
    assert annotation["worst_consequence"] == ["NM_000059.3"]
    assert "warnings" not in allele or "worse_consequence" not in allele["warnings"]
    assert annotation["references"][0]["pubmed_id"] == 17453335
    assert "has_references" in allele["tags"]
    assert allele["allele_assessment"]["classification"] == "4"


def test_q_filters_like_the_ui(client, demo_db_url):
    allele_id = _allele_3(demo_db_url)
    result = client.get(ALLELES, query={"q": {"chromosome": "13", "vcf_pos": "32890607",
                                              "vcf_ref": "G", "vcf_alt": "T"}})
    assert [a["id"] for a in result.json] == [allele_id]
    empty = client.get(ALLELES, query={"q": {"id": []}})
    assert empty.json == [] and empty.header("Total-Count") == "0"
    assert client.get(ALLELES, query="q=null").json.__len__() == 24
    snps = client.get(ALLELES, query={"q": {"change_type": "SNP"}}).json
    assert snps and all(a["change_type"] == "SNP" for a in snps)
    for bad in ('{"nope": 1}', '{"id": "x"}', "{bad json", '[1]', '{"id": {"$regex": 1}}'):
        assert client.get(ALLELES, query=f"q={bad}").status == 400, bad
    injected = client.get(ALLELES, query={"q": {"chromosome": "13' OR '1'='1"}})
    assert injected.status == 200 and injected.json == []


def test_link_selects_related_rows(client, demo_db_url):
    allele_id = _allele_3(demo_db_url)
    base = {"q": {"id": [allele_id]}}
    current = client.get(ALLELES, query=base).json[0]
    linked = client.get(ALLELES, query={**base, "link": {"alleleassessment_id": [],
                                                         "allelereport_id": []}}).json[0]
    assert "allele_assessment" not in linked and "allele_report" not in linked
    assert "annotation" in linked
    aa_id = current["allele_assessment"]["id"]
    again = client.get(ALLELES, query={**base, "link": {"alleleassessment_id": aa_id}}).json[0]
    assert again["allele_assessment"]["id"] == aa_id
    # A row of another allele is dropped.
    other = client.get(ALLELES, query={"q": {"id": [allele_id]},
                                       "link": {"alleleassessment_id": [aa_id + 1]}}).json[0]
    assert "allele_assessment" not in other
    no_ann = client.get(ALLELES, query={**base, "link": {"annotation_id": []}}).json[0]
    assert "annotation" not in no_ann
    for bad in ('{"foo_id": 1}', '{"annotation_id": "x"}', '[1]', '{"annotation_id": [true]}'):
        assert client.get(ALLELES, query=f"link={bad}").status == 400, bad


def test_analysis_context_samples_and_access(demo_api_app, demo_db_url, client):
    allele_id = _allele_3(demo_db_url)
    result = client.get(ALLELES, query={"q": {"id": [allele_id]}, "analysis_id": 2,
                                        "gp_name": "HBOCUTV", "gp_version": "v01"})
    assert result.status == 200
    allele = result.json[0]
    assert len(allele["samples"]) == 1
    sample = allele["samples"][0]
    assert sample["proband"] is True and sample["identifier"].startswith("brca_sample_1")
    assert {"id", "identifier", "sample_type", "date_deposited", "affected", "proband",
            "family_id", "father_id", "mother_id", "sibling_id", "sex"} <= set(sample)
    genotype = sample["genotype"]
    assert GENOTYPE_REQUIRED <= set(genotype)
    assert genotype["type"] == "Heterozygous" and genotype["formatted"] == "G/T"
    assert isinstance(genotype["allele_ratio"], float) and 0.3 < genotype["allele_ratio"] < 0.7
    assert set(genotype["needs_verification_checks"]) == {"snp", "pass", "dp",
                                                          "allele_ratio", "hts"}
    assert isinstance(genotype["needs_verification"], bool)
    # Another group's user: 403 on the analysis and on the panel; unknown ones 404.
    other = logged_in_client(demo_api_app, demo_db_url, "testuser4")
    assert other.get(ALLELES, query={"analysis_id": 2}).status == 403
    assert other.get(ALLELES, query={"gp_name": "HBOC", "gp_version": "v01"}).status == 403
    assert other.get(ALLELES).status == 200  # alleles themselves are not panel-bound
    assert client.get(ALLELES, query={"analysis_id": 999}).status == 404
    assert client.get(ALLELES, query={"gp_name": "X", "gp_version": "v1"}).status == 404
    assert client.get(ALLELES, query={"gp_name": "HBOC"}).status == 400
    assert client.get(ALLELES, query={"analysis_id": "abc"}).status == 400
    assert Client(demo_api_app).get(ALLELES).status == 403


def test_the_ratio_of_an_alt_its_block_shares(client, demo_db_url):
    """Two records of a decomposed site with the same ALT once trimmed (CAAAA>CAAA,CA gives
    CA>C and CAAA>C) have their depths under "<ALT> (<REF>><ALT>)" keys (import): the
    ratio shown is the allele's own, not missing."""
    allele_id = _allele_3(demo_db_url)  # 13-32890607-G-T
    with psycopg.connect(demo_db_url) as conn:
        conn.execute(
            "UPDATE genotypesampledata SET allele_depth = %s WHERE genotype_id IN "
            "(SELECT g.id FROM genotype g JOIN sample s ON s.id = g.sample_id "
            "WHERE g.allele_id = %s AND s.analysis_id = 2) "
            "AND NOT secondallele", (Jsonb({"REF": 10, "T (G>T)": 8, "T (GA>T)": 2}),
                                     allele_id))
    result = client.get(ALLELES, query={"q": {"id": [allele_id]}, "analysis_id": 2,
                                        "gp_name": "HBOCUTV", "gp_version": "v01"})
    genotype = result.json[0]["samples"][0]["genotype"]
    assert genotype["allele_ratio"] == 8 / 20 and genotype["needs_verification_checks"][
        "allele_ratio"] is True


def test_by_gene(client, demo_db_url, demo_api_app):
    allele_id = _allele_3(demo_db_url)
    with psycopg.connect(demo_db_url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM allele ORDER BY id LIMIT 5")]
    result = client.get(ALLELES + "by-gene/", query={"allele_ids": ",".join(map(str, ids))})
    assert result.status == 200
    genes = result.json
    assert genes and all(set(g) == {"symbol", "hgnc_id", "allele_ids"} for g in genes)
    assert all(isinstance(g["hgnc_id"], int) and isinstance(g["symbol"], str) for g in genes)
    assert {i for g in genes for i in g["allele_ids"]} <= set(ids)
    brca2 = client.get(ALLELES + "by-gene/", query={"allele_ids": str(allele_id)}).json
    assert {"symbol": "BRCA2", "hgnc_id": 1101, "allele_ids": [allele_id]} in brca2
    assert sorted(g["symbol"] for g in brca2) == ["BRCA2", "ZAR1L"]  # NM_ transcripts only
    assert client.get(ALLELES + "by-gene/").status == 400
    assert client.get(ALLELES + "by-gene/", query={"allele_ids": "1,x"}).status == 400
    assert Client(demo_api_app).get(ALLELES + "by-gene/", query={"allele_ids": "1"}).status == 403


def test_a_second_allele_of_a_genotype_is_part_of_its_analysis(demo_db_url):
    """At a multiallelic site (proband 1/2) the second ALT is a genotype's `secondallele_id`:
    it is in the analysis, so it may be assessed and finalized there (a check of
    `allele_id` alone answered 400 "not part of analysis")."""
    from ella.workflow.assessments import allele_in_analysis
    with psycopg.connect(demo_db_url) as conn:
        other = conn.execute(
            "SELECT a.id FROM allele a WHERE NOT EXISTS (SELECT 1 FROM genotype g JOIN sample s "
            "ON s.id = g.sample_id WHERE s.analysis_id = 2 AND a.id IN (g.allele_id, "
            "g.secondallele_id)) ORDER BY a.id LIMIT 1").fetchone()[0]
        assert not allele_in_analysis(conn, 2, other)
        conn.execute("UPDATE genotype SET secondallele_id = %s WHERE id = (SELECT min(g.id) "
                     "FROM genotype g JOIN sample s ON s.id = g.sample_id "
                     "WHERE s.analysis_id = 2)", (other,))
        assert allele_in_analysis(conn, 2, other)
