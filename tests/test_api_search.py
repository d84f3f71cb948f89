"""GET search/ and search/options/ on the real ELLA database (api.md 2.7, 4.14)."""

import copy
from datetime import datetime

import psycopg
import pytest
from psycopg.types.json import Jsonb

from api_client import Client
from api_helpers import logged_in_client

URL = "/api/v1/search/"
OPTIONS = "/api/v1/search/options/"
DT = str
ALLELE_SHAPE = {"id": int, "genome_reference": str, "chromosome": str, "start_position": int,
                "open_end_position": int, "change_from": str, "change_to": str,
                "change_type": str, "vcf_pos": int, "vcf_ref": str, "vcf_alt": str,
                "length": int, "caller_type": str}
USER_KEYS = {"id", "username", "first_name", "last_name", "full_name", "abbrev_name",
             "active", "user_group_name"}
ALLELE_ROUND_KEYS = ["id", "status", "finalized", "workflow_status", "allele_id",
                     "genepanel_name", "genepanel_version", "date_last_update", "user_id", "user"]
ANALYSIS_ROUND_KEYS = ["id", "status", "analysis_id", "finalized", "workflow_status",
                       "date_last_update", "genepanel_name", "genepanel_version", "user_id",
                       "user"]
SAMPLE_KEYS = ["id", "identifier", "sample_type", "date_deposited", "affected", "proband",
               "family_id", "father_id", "mother_id", "sibling_id", "sex"]
GROUP1_ANALYSES = {1, 2, 4, 5, 6, 7}


def search(client, q, **extra):
    r = client.get(URL, query={"q": q, **extra})
    assert r.status == 200, r.body
    assert set(r.json) == {"alleles", "analyses"}
    return r


def allele_ids(result):
    return [item["allele"]["id"] for item in result.json["alleles"]]


def check_dt(value):
    assert isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None


def check_round(item, keys):
    assert list(item) == keys
    assert isinstance(item["id"], int) and isinstance(item["status"], str)
    assert item["finalized"] in (None, True, False)
    check_dt(item["date_last_update"])
    if item["user_id"] is None:
        assert item["user"] is None
    else:
        assert set(item["user"]) == USER_KEYS and item["user"]["id"] == item["user_id"]


def check_allele_item(item):
    assert list(item) == ["allele", "interpretations"]
    allele = item["allele"]
    for key, typ in ALLELE_SHAPE.items():
        assert isinstance(allele[key], typ) and not isinstance(allele[key], bool), key
    assert set(allele) - set(ALLELE_SHAPE) <= {"annotation", "allele_assessment", "tags",
                                               "warnings"}
    for absent in ("samples", "allele_report", "reference_assessments"):
        assert absent not in allele
    assert isinstance(allele["tags"], list) and allele["tags"] == sorted(allele["tags"])
    annotation = allele["annotation"]
    for key, typ in {"transcripts": list, "worst_consequence": list,
                     "filtered_transcripts": list, "references": list,
                     "annotation_id": int, "schema_version": int,
                     "annotation_config_id": int}.items():
        assert isinstance(annotation[key], typ), key
    assert annotation["filtered_transcripts"] == sorted(annotation["filtered_transcripts"])
    assert all(tx["transcript"].startswith("NM_") for tx in annotation["transcripts"])
    if annotation["references"]:
        assert "has_references" in allele["tags"]
    if "allele_assessment" in allele:
        assessment = allele["allele_assessment"]
        assert list(assessment) == ["id", "date_created", "classification"]
        check_dt(assessment["date_created"])
    if annotation["worst_consequence"] and allele["caller_type"] != "cnv":
        assert allele["warnings"]["worse_consequence"].startswith(
            "Worse consequences found in: " + annotation["worst_consequence"][0] + " (")
    dates = [r["date_last_update"] for r in item["interpretations"]]
    assert dates == sorted(dates)
    for interpretation in item["interpretations"]:
        check_round(interpretation, ALLELE_ROUND_KEYS)
        assert interpretation["allele_id"] == allele["id"]


def check_analysis(item):
    base = {"id", "name", "date_requested", "date_deposited", "genepanel", "interpretations",
            "samples", "report", "warnings", "attachments"}
    # JSON object key order carries no meaning; the key set is ELLA's OverviewAnalysis.
    assert base <= set(item)
    assert set(item) - base <= {"priority", "review_comment", "warning_cleared"}
    assert isinstance(item["priority"], int) and item["attachments"] == []
    assert set(item["genepanel"]) == {"name", "version", "official"}
    check_dt(item["date_deposited"])
    for sample in item["samples"]:
        assert list(sample) == SAMPLE_KEYS
    for interpretation in item["interpretations"]:
        check_round(interpretation, ANALYSIS_ROUND_KEYS)
        assert interpretation["analysis_id"] == item["id"]


def test_login_required(demo_api_app):
    anonymous = Client(demo_api_app)
    assert anonymous.get(URL, query={"q": {"type": "analyses", "freetext": "brca"}}).status == 403
    assert anonymous.get(OPTIONS, query={"q": {"gene": "BR"}}).status == 403


def test_search_group1(demo_api_app, demo_db_url):
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")

    # analyses by name (case-insensitive, literal), sorted by date requested/deposited desc
    r = search(client, {"type": "analyses", "freetext": "BRCA_SAMPLE"})
    ids = [a["id"] for a in r.json["analyses"]]
    assert sorted(ids) == [1, 2, 4, 5, 7] and r.json["alleles"] == []
    assert r.header("Total-Count") == "5"
    keys = [a["date_requested"] or a["date_deposited"] for a in r.json["analyses"]]
    assert keys == sorted(keys, reverse=True)
    for item in r.json["analyses"]:
        check_analysis(item)
    # paging: Total-Count is all matches, page holds per_page
    r = search(client, {"type": "analyses", "freetext": "brca_sample"}, per_page=2, page=3)
    assert len(r.json["analyses"]) == 1
    assert (r.header("Total-Count"), r.header("Total-Pages"), r.header("Page"),
            r.header("Per-Page")) == ("5", "3", "3", "2")
    r = search(client, {"type": "analyses", "freetext": "brca"}, limit=2)
    assert r.header("Total-Count") == "2"
    # % and _ are literal, not wildcards
    assert search(client, {"type": "analyses", "freetext": "brca%sample"}).json["analyses"] == []
    # analyses worked on by a user
    r = search(client, {"type": "analyses", "user": {"username": "testuser1"}})
    assert [a["id"] for a in r.json["analyses"]] == [2]

    # alleles by position range with gene (chromosome ordering, positions 1-based)
    r = search(client, {"type": "alleles", "gene": {"hgnc_id": 1101},
                        "freetext": "13:32890607-32890650"})
    assert allele_ids(r) == [3, 4] and r.header("Total-Count") == "2"
    for item in r.json["alleles"]:
        check_allele_item(item)
    first = r.json["alleles"][0]["allele"]
    assert first["allele_assessment"]["classification"] == "4"
    assert first["annotation"]["filtered_transcripts"] == ["NM_000059.3"]
    r1 = search(client, {"type": "alleles", "freetext": "NM_007297:c.4696"})
    assert r1.json["alleles"][0]["allele"]["annotation"]["filtered_transcripts"] == [
        "NM_007297.3"]
    assert first["warnings"] == {"worse_consequence":
                                 "Worse consequences found in: NM_000059.3 (stop_gained)"}
    assert "has_references" in first["tags"]
    # single positions, with and without chromosome, chr prefix, g. notation
    for text in ("13:32890607", "chr13:32890607", "32890607", "NC_000013.10:g.32890607G>T"):
        assert allele_ids(search(client, {"type": "alleles", "freetext": text})) == [3], text
    # a range without chromosome, or reversed, returns nothing
    for text in ("32890607-32890650", "13:32890650-32890607", "99:1", "13:99999999999"):
        r = search(client, {"type": "alleles", "freetext": text})
        assert r.json == {"alleles": [], "analyses": []} and r.header("Total-Count") == "0"

    # HGVS: needs a gene or transcript; prefix, case-insensitive; version ignored
    assert allele_ids(search(client, {"type": "alleles", "freetext": "c.12"})) == []
    r = search(client, {"type": "alleles", "gene": {"hgnc_id": 1101}, "freetext": "c.9"})
    assert allele_ids(r) == [7, 15, 20]
    assert allele_ids(search(client, {"type": "alleles",
                                      "freetext": "NM_000059:c.97g>T"})) == [7]
    assert allele_ids(search(client, {"type": "alleles",
                                      "freetext": "NM_000059.99:c.97"})) == [7, 15]
    # HGVS as reports often write it, `C.`/`P.` capitalised: found nothing.
    assert allele_ids(search(client, {"type": "alleles",
                                      "freetext": "NM_000059:C.97G>T"})) == [7]
    assert allele_ids(search(client, {"type": "alleles", "gene": {"hgnc_id": 1101},
                                      "freetext": "P.Glu33Ter"})) == [7]
    r = search(client, {"type": "alleles", "gene": {"hgnc_id": 1100}, "freetext": "p.Ser1613"})
    assert allele_ids(r) == [1]
    check_allele_item(r.json["alleles"][0])
    # As users also write it (ELLA finds nothing): the transcript in lower case, a gene
    # symbol for the transcript, ClinVar's title, a predicted protein change, `*` for Ter,
    # one-letter amino acids.
    for text in ("nm_000059.3:c.97G>T", "BRCA2:c.97G>T", "brca2:c.97G",
                 "NM_000059.3(BRCA2):c.97G>T (p.Glu33Ter)", "NM_000059:p.(Glu33Ter)",
                 "BRCA2:p.Glu33*", "BRCA2:p.(E33*)"):
        assert allele_ids(search(client, {"type": "alleles", "freetext": text})) == [7], text
    assert allele_ids(search(client, {"type": "alleles", "freetext": "BRCA1:c.97G>T"})) == []
    # ELLA's results stay: a ClinVar-style prefix is the transcript without version (the
    # symbol is not compared), the text runs from the first colon, and a synonymous change
    # is found by VEP's HGVSp as stored (`c.4308T>C(p.=)`).
    assert allele_ids(search(client, {"type": "alleles",
                                      "freetext": "NM_000059.3(BRCA1):c.97G>T"})) == [7]
    assert allele_ids(search(client, {"type": "alleles",
                                      "freetext": "NM_000059.3:c.1A>G:p.Glu33Ter"})) == []
    for text in ("NM_007294.3:c.4308T>C(p.=)", "NM_007294:c.4308T>C(p."):
        assert allele_ids(search(client, {"type": "alleles", "freetext": text})) == [2], text
    # ENST transcripts are outside transcripts.inclusion_regex
    assert allele_ids(search(client, {"type": "alleles",
                                      "freetext": "ENST00000309486:c.3949"})) == []
    # alleles worked on by a user, combined with a position
    r = search(client, {"type": "alleles", "user": {"username": "testuser1"}})
    assert allele_ids(r) == [3, 4, 5, 6, 7, 8]
    for item in r.json["alleles"]:
        check_allele_item(item)
    # the demo has no allele workflows: interpretations are []
    assert all(item["interpretations"] == [] for item in r.json["alleles"])
    assert all("allele_assessment" in item["allele"] for item in r.json["alleles"])
    r = search(client, {"type": "alleles", "user": {"username": "testuser1"},
                        "freetext": "13:32890607"})
    assert allele_ids(r) == [3]
    assert allele_ids(search(client, {"type": "alleles",
                                      "user": {"username": "nobody"}})) == []

    # incomplete queries: empty result, Total-Count 0
    for q in ({}, {"type": "alleles"}, {"type": "analyses", "freetext": "br"},
              {"freetext": "brca_sample"}, {"type": "alleles", "freetext": "  "}):
        r = search(client, q)
        assert r.json == {"alleles": [], "analyses": []} and r.header("Total-Count") == "0"
    assert client.get(URL).json == {"alleles": [], "analyses": []}

    # options: genes of the group's panels, users of the group
    r = client.get("/api/v1/search/options", query={"q": {"gene": "br", "user": "h"}})
    assert r.status == 200
    assert r.json == {"gene": [{"symbol": "BRCA1", "hgnc_id": 1100},
                               {"symbol": "BRCA2", "hgnc_id": 1101}],
                      "user": [{"username": "testuser1", "first_name": "Henrik",
                                "last_name": "Ibsen"}]}
    for q in ({"gene": ""}, {}, {"user": ""}):
        r = client.get(OPTIONS, query={"q": q})
        assert r.status == 200 and r.json == {}
    assert client.get(OPTIONS, query={"q": {"gene": "%"}}).json == {"gene": []}
    r = client.get(OPTIONS, query={"q": {"user": "test"}})
    assert r.json == {"user": []}  # names, not usernames


def test_analysis_results_list_their_rounds_by_last_update(demo_api_app, demo_db_url):
    """api.md 4.14 (ELLA's search orders them so); they came in id order, as in the plain
    Analysis object, which differs once an earlier round is updated after a later one."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE analysisinterpretation SET status = 'Done', "
                     "date_last_update = '2021-05-01T00:00:00+00' WHERE id = 2")
        newer = conn.execute(
            "INSERT INTO analysisinterpretation (genepanel_name, genepanel_version, status, "
            "date_last_update, date_created, analysis_id, workflow_status) VALUES "
            "('HBOCUTV', 'v01', 'Not started', '2021-01-01T00:00:00+00', "
            "'2021-01-01T00:00:00+00', 2, 'Interpretation') RETURNING id").fetchone()[0]
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    (analysis,) = search(client, {"type": "analyses",
                                  "freetext": "brca_sample_1.HBOCUTV"}).json["analyses"]
    assert [i["id"] for i in analysis["interpretations"]] == [newer, 2]


def test_search_group2_sees_no_hboc(demo_api_app, demo_db_url):
    client = logged_in_client(demo_api_app, demo_db_url, "testuser4")
    r = search(client, {"type": "analyses", "freetext": "brca"})
    assert r.json["analyses"] == [] and r.header("Total-Count") == "0"
    r = search(client, {"type": "analyses", "user": {"username": "testuser1"}})
    assert r.json["analyses"] == []
    # alleles are not group-restricted; filtered_transcripts follow the group's panels
    # (BRCA1: NM_007297.3 in HBOC/HBOCUTV of group 1, NM_007294.3 in Mendeliome of group 2)
    r = search(client, {"type": "alleles", "freetext": "17:41223094"})
    assert allele_ids(r) == [1]
    check_allele_item(r.json["alleles"][0])
    assert r.json["alleles"][0]["allele"]["annotation"]["filtered_transcripts"] == [
        "NM_007294.3"]
    # an HGVS search adds the transcripts containing the text when no panel one does
    r = search(client, {"type": "alleles", "freetext": "NM_007297:c.4696"})
    assert allele_ids(r) == [1]
    assert r.json["alleles"][0]["allele"]["annotation"]["filtered_transcripts"] == [
        "NM_007294.3", "NM_007297.3"]
    r = client.get(OPTIONS, query={"q": {"gene": "BR", "user": "h"}})
    assert r.status == 200 and isinstance(r.json["gene"], list)
    assert "testuser1" not in [u["username"] for u in r.json["user"]]
    for user in r.json["user"]:
        assert list(user) == ["username", "first_name", "last_name"]
    # group 3 sees all analyses
    client7 = logged_in_client(demo_api_app, demo_db_url, "testuser7")
    r = search(client7, {"type": "analyses", "freetext": "brca"})
    assert {a["id"] for a in r.json["analyses"]} == GROUP1_ANALYSES


def test_bad_input(demo_api_app, demo_db_url):
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    bad = ["{not json", "[1]", '"x"', '{"type": "genes", "freetext": "abc"}',
           '{"type": "alleles", "freetext": 5}', '{"type": "alleles", "gene": 1101}',
           '{"type": "alleles", "gene": {"hgnc_id": "x"}, "freetext": "c.1"}',
           '{"type": "alleles", "user": "testuser1"}',
           '{"type": "alleles", "user": {"username": 1}}',
           '{"type": "alleles", "freetext": "abc", "other": 1}']
    for q in bad:
        r = client.get(URL, query={"q": q})
        assert r.status == 400, (q, r.body)
        assert isinstance(r.json["message"], str)
    for extra in ({"page": "x"}, {"per_page": "0"}, {"limit": "-1"}):
        r = client.get(URL, query={"q": '{"type": "analyses", "freetext": "brca"}', **extra})
        assert r.status == 400, extra
    for q in (None, "{bad", "[]", '{"gene": 1}', '{"nope": "x"}'):
        r = client.get(OPTIONS, query={"q": q} if q is not None else None)
        assert r.status == 400, q
    # injection-looking text is plain text
    for text in ("'; DROP TABLE allele; --", "NM_000059:c.1' OR '1'='1", "brca%' OR 1=1 --"):
        for kind in ("alleles", "analyses"):
            r = search(client, {"type": kind, "freetext": text, "gene": {"hgnc_id": 1101}})
            assert r.json == {"alleles": [], "analyses": []}
        r = client.get(OPTIONS, query={"q": {"gene": text, "user": text}})
        assert r.status == 200 and r.json == {"gene": [], "user": []}
    assert allele_ids(search(client, {"type": "alleles", "freetext": "13:32890607"})) == [3]


def test_a_custom_annotation_of_any_shape_is_merged_as_the_other_reads_merge_it(
        demo_api_app, demo_db_url):
    """ELLA's `POST customannotations/` (api.md 4.19) stores any object as a custom
    annotation, so an adopted database may hold any; the search merged `external`,
    `prediction` and `references` without looking at their types, and a string, number,
    boolean or list there made every later search finding the variant a 500."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    found = {"type": "alleles", "freetext": "13:32890607"}
    before = search(client, found).json["alleles"][0]["allele"]["annotation"]
    for odd in ({"external": "x"}, {"external": [1]}, {"prediction": True},
                {"prediction": "abc"}, {"references": 5}):
        with psycopg.connect(demo_db_url) as conn:  # as ELLA stored it
            conn.execute("UPDATE customannotation SET date_superceeded = now() "
                         "WHERE allele_id = 3 AND date_superceeded IS NULL")
            conn.execute("INSERT INTO customannotation (annotations, allele_id, date_created) "
                         "VALUES (%s, 3, now())", (Jsonb(odd),))
        annotation = search(client, found).json["alleles"][0]["allele"]["annotation"]
        for key in ("external", "prediction", "references"):
            assert annotation.get(key) == before.get(key), (odd, key)
    with psycopg.connect(demo_db_url) as conn:
        reference_id = conn.execute("INSERT INTO reference (title, published) VALUES "
                                    "('by a user', true) RETURNING id").fetchone()[0]
    stored = client.post("/api/v1/customannotations/", {"allele_id": 3, "annotations": {
        "external": {"BRCA_Exchange-BRCA2": "benign"},
        "references": [{"id": reference_id, "source": "User"}]}})
    assert stored.status == 200, stored.body
    annotation = search(client, found).json["alleles"][0]["allele"]["annotation"]
    assert annotation["external"]["BRCA_Exchange-BRCA2"] == "benign"
    assert annotation["references"][-1] == {"id": reference_id, "source": "User"}


def test_filtered_transcripts_prefer_the_panels_version_as_the_other_reads(demo_api_app,
                                                                           demo_db_url):
    """A variant annotated on NM_000059.3 (HBOC v01's transcript) and NM_000059.4: search
    showed the .4 (its own matching always took the highest version), alleles/ the .3."""
    with psycopg.connect(demo_db_url) as conn:
        annotations, config_id, schema_version = conn.execute(
            "SELECT annotations, annotation_config_id, schema_version FROM annotation "
            "WHERE allele_id = 3 AND date_superceeded IS NULL").fetchone()
        annotations = copy.deepcopy(annotations)
        current = next(t for t in annotations["transcripts"]
                       if t["transcript"] == "NM_000059.3")
        annotations["transcripts"].append(dict(current, transcript="NM_000059.4",
                                               HGVSc="c.10G>T"))
        allele_id = conn.execute(
            "INSERT INTO allele (genome_reference, chromosome, start_position, "
            "open_end_position, change_from, change_to, change_type, vcf_pos, vcf_ref, "
            "vcf_alt, length, caller_type) VALUES ('GRCh37', '13', 32890999, 32891000, 'G', "
            "'T', 'SNP', 32891000, 'G', 'T', 1, 'snv') RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO annotation (allele_id, annotations, annotation_config_id, "
                     "schema_version, date_created) VALUES (%s, %s, %s, %s, now())",
                     (allele_id, Jsonb(annotations), config_id, schema_version))
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    found = search(client, {"type": "alleles", "freetext": "13:32891000"}).json
    shown = client.get("/api/v1/alleles/", query={"q": {"id": [allele_id]}, "gp_name": "HBOC",
                                                  "gp_version": "v01"}).json
    assert shown[0]["annotation"]["filtered_transcripts"] == ["NM_000059.3"]
    assert found["alleles"][0]["allele"]["annotation"]["filtered_transcripts"] == [
        "NM_000059.3"]


@pytest.mark.parametrize("typed, read", [
    ("p.G12D", "p.Gly12Asp"), ("p.(G12D)", "p.Gly12Asp"), ("p.R1443*", "p.Arg1443Ter"),
    ("p.K10fs*5", "p.Lys10fsTer5"), ("p.R97Gfs*23", "p.Arg97GlyfsTer23"),
    ("p.E33_K35del", "p.Glu33_Lys35del"), ("p.E33_K35delinsD", "p.Glu33_Lys35delinsAsp"),
    ("p.Glu33*", "p.Glu33Ter"), ("P.E33", "p.Glu33"), ("p.Arg97GlyfsTer23", "p.Arg97GlyfsTer23"),
    ("p.Ter3000Glu", "p.Ter3000Glu"), ("p.Met1?", "p.Met1?"), ("p.=", "p.="),
    ("p.R1443X", "p.Arg1443Ter"), ("p.(E33X)", "p.Glu33Ter"),
    # The older stop among three-letter residues (found nothing); Xaa is a residue.
    ("p.Trp194X", "p.Trp194Ter"), ("p.Arg18LeufsX12", "p.Arg18LeufsTer12"),
    ("p.Xaa12Gly", "p.Xaa12Gly"),
    ("p.B12D", "p.B12D")])
def test_protein_changes_are_read_in_veps_notation(typed, read):
    from ella.web.routes.search import _protein_text
    assert _protein_text(typed) == read



def test_a_genomic_hgvs_keeps_the_chromosome_and_build_it_names(demo_api_app, demo_db_url):
    """api.md 4.14 (and ELLA) search a `g.` position alone: `13:g.41223094` and
    `NC_000013.10:g.41223094` found BRCA1's variant on chromosome 17, and GRCh38's
    `NC_000017.11` the GRCh37 variant that sat at its number, with no word."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    for text, expected in (("NC_000017.10:g.41223094T>C", [1]), ("17:g.41223094", [1]),
                           ("chr17:g.41223094", [1]), ("NC_000017:g.41223094", [1]),
                           ("g.41223094T>C", [1]),
                           ("NC_000013.10:g.41223094T>C", []), ("13:g.41223094", []),
                           ("NC_000017.11:g.41223094T>C", []), ("NC_000099.1:g.41223094", []),
                           ("NC_012920.1:g.41223094", []), ("chrM:g.41223094", []),
                           ("M:g.41223094", []), ("NC_012920.2:g.41223094", [])):
        assert allele_ids(search(client, {"type": "alleles", "freetext": text})) == expected, \
            text


def test_names_match_in_any_unicode_form(demo_api_app, demo_db_url):
    """A name from a Mac's folder or file has `Å` decomposed (A and a combining ring); the
    `Å` a browser sends is one character: the analysis and the colleague were not found."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE analysis SET name = 'Diag-A\u030asen-1' WHERE id = 2")
        conn.execute("UPDATE \"user\" SET last_name = 'A\u030amot' WHERE username = 'testuser2'")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    found = search(client, {"type": "analyses", "freetext": "\u00e5sen"}).json["analyses"]
    assert [a["id"] for a in found] == [2]
    options = client.get(OPTIONS, query={"q": {"user": "\u00c5m"}})
    assert [u["username"] for u in options.json["user"]] == ["testuser2"]
