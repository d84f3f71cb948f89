"""A lab adopts its ELLA database and opens everything in it: every GET route of the route
table over every object of the real ELLA database (adopted), as a user of each of its three
groups, after adding rows the demo dump lacks in the shapes ELLA writes them (an ended round
with its snapshots, a finalized and an open variant round, references and reference
assessments with only the keys ELLA's form set, a custom annotation in an older UI's shape, an
attachment row, an import job, a sparse annotation document ELLA's schema accepts) and NULLs
in the columns ELLA's schema leaves nullable (older rows have them).

The rule: no answer is a server error (5xx); the assessment, report, reference, round and
snapshot shapes carry the values of their rows. A GET route the sweep does not reach fails the
coverage test, so a new read route is swept too.

testuser1 is in testgroup01 (HBOC, HBOCUTV), testuser4 in testgroup02 (Mendeliome,
Ciliopati), testuser7 in testgroup03 (all four panels)."""

import copy
import json
import re
from datetime import datetime

import psycopg
import pytest

from ella.web import routes  # noqa: F401  (registers the routes)
from ella.web.router import router
from api_helpers import logged_in_client

API = "/api/v1"
USERS = ("testuser1", "testuser4", "testuser7")
# testuser7's group has every panel: it makes every read. The others make those whose answer
# depends on the group (lists, overviews, search, each analysis and its rounds), not every
# read of each round, variant and assessment, which testuser7's cover (seconds less).
EVERY_READ = "testuser7"
PER_OBJECT = re.compile(r"^/workflows/alleles/|^/alleles/[0-9]+/analyses/|/interpretations/[0-9]"
                        r"|/filteredalleles/|/collisions/|^/workflows/analyses/[0-9]+/genepanels/"
                        r"|^/igv/|/similar_alleles/|^/(?!analyses/)[a-z]+/[0-9]+/$"
                        r"|^/attachments/[0-9]")
# GET routes that serve files (IGV data and tracks on disk): nothing of the database is
# behind them.
FILE_ROUTES = re.compile(r"/igv/<filename>|/igv/tracks/static/|/igv/tracks/analyses/")
# GET routes that ask the annotation service (not part of this database) for their answer,
# within timeouts of their own.
SERVICE_ROUTES = ("/api/v1/import/service/samples/", "/api/v1/import/service/running/")

# Rows ELLA writes, added to its demo database (ids far above the dump's).
ELLA_SHAPED_ROWS = r"""
-- Round 2 (testuser1's Ongoing round) ended by "mark review" as ELLA ends it: Done, not
-- finalized, a snapshot per variant shown, the next round Not started in Review with the
-- state copied.
UPDATE analysisinterpretation SET status = 'Done', finalized = false,
       date_last_update = '2020-10-19 11:00:00+00' WHERE id = 2;
INSERT INTO analysisinterpretation (id, genepanel_name, genepanel_version, user_state, state,
       status, date_last_update, date_created, analysis_id, user_id, finalized, workflow_status)
SELECT 100, genepanel_name, genepanel_version, '{}', state, 'Not started',
       '2020-10-19 11:00:00+00', '2020-10-19 11:00:00+00', 2, NULL, NULL, 'Review'
  FROM analysisinterpretation WHERE id = 2;
INSERT INTO analysisinterpretationsnapshot (id, date_created, filtered, analysisinterpretation_id,
       allele_id, annotation_id, customannotation_id, alleleassessment_id, allelereport_id)
SELECT 100 + aa.allele_id, '2020-10-19 11:00:00+00', NULL, 2, aa.allele_id, an.id, NULL, aa.id,
       ar.id
  FROM alleleassessment aa JOIN annotation an ON an.allele_id = aa.allele_id
  JOIN allelereport ar ON ar.allele_id = aa.allele_id WHERE aa.analysis_id = 2;

-- A variant workflow ELLA finalized (an older assessment without group and annotation, a
-- report outside any analysis) and one left open with NULL states.
INSERT INTO alleleinterpretation (id, genepanel_name, genepanel_version, user_state, state,
       status, date_last_update, date_created, allele_id, user_id, finalized, workflow_status)
VALUES (100, 'HBOC', 'v01', '{}', '{}', 'Done', '2020-10-20 10:00:00+00',
        '2020-10-20 09:00:00+00', 9, 1, true, 'Interpretation'),
       (101, 'HBOC', 'v01', NULL, NULL, 'Ongoing', '2020-10-20 10:00:00+00',
        '2020-10-20 09:00:00+00', 10, 2, NULL, 'Interpretation');
INSERT INTO alleleassessment (id, classification, evaluation, user_id, date_created, allele_id,
       genepanel_name, genepanel_version, analysis_id, annotation_id, custom_annotation_id,
       usergroup_id)
VALUES (100, '3', '{"acmg": {"included": [], "suggested": []}, "classification": {"comment": ""}}',
        1, '2020-10-20 09:30:00+00', 9, 'HBOC', 'v01', NULL, NULL, NULL, NULL);
INSERT INTO allelereport (id, evaluation, user_id, date_created, allele_id, analysis_id,
       alleleassessment_id, usergroup_id)
VALUES (100, '{"comment": "report"}', 1, '2020-10-20 09:30:00+00', 9, NULL, 100, NULL);
INSERT INTO alleleinterpretationsnapshot (id, date_created, filtered, alleleinterpretation_id,
       allele_id, annotation_id, customannotation_id, alleleassessment_id, allelereport_id)
VALUES (100, '2020-10-20 10:00:00+00', NULL, 100, 9, 9, NULL, 100, 100);
INSERT INTO interpretationlog (id, alleleinterpretation_id, user_id, date_created, message,
       priority, alleleassessment_id, allelereport_id)
VALUES (100, 100, 1, '2020-10-20 09:30:00+00', NULL, NULL, 100, 100),
       (101, 101, 2, '2020-10-20 09:40:00+00', 'Looking at it', 2, NULL, NULL);

-- References (a manual unpublished one without PubMed id, one with nothing but its id) and
-- reference assessments holding only the keys ELLA's form set, linked to a classification.
INSERT INTO reference (id, authors, title, journal, abstract, year, pubmed_id, published) VALUES
  (100, 'Ptok M & Morlot S', 'A title', 'J Med: 7, 35', 'An abstract', '2005', 17453335, true),
  (101, 'Doe J', 'Lab notes', 'Internal', NULL, '2019', NULL, false),
  (102, NULL, NULL, NULL, NULL, NULL, 8589730, true);
INSERT INTO referenceassessment (id, reference_id, evaluation, user_id, date_created,
       genepanel_name, genepanel_version, allele_id, analysis_id, usergroup_id) VALUES
  (100, 100, '{"comment": "<p>ok</p>", "sources": ["Abstract"], "relevance": "Yes",
               "ref_quality": "good", "ref_auth_classification": "pathogenic"}',
   1, '2020-10-19 10:49:00+00', 'HBOCUTV', 'v01', 3, 2, 1),
  (101, 101, '{"relevance": "Ignore"}', 1, '2020-10-19 10:49:00+00', 'HBOCUTV', 'v01', 3, NULL,
   NULL),
  (102, 102, NULL, 1, '2020-10-19 10:49:00+00', 'HBOCUTV', 'v01', 4, 2, 1);
INSERT INTO alleleassessmentreferenceassessment VALUES (1, 100), (1, 101), (2, 102);

-- A custom annotation without user (a deposit) in an older UI's reference shape; a gene
-- comment without group; an attachment row an older ELLA stored without hash, size or type;
-- an import job with the NULLs its table allows.
INSERT INTO customannotation (id, annotations, allele_id, user_id, date_created) VALUES
  (100, '{"external": {"LOVD": "pathogenic"}, "prediction": {"domain": "critical_domain"},
          "references": [{"id": 101, "sources": ["User"]}]}', 3, NULL, '2020-10-19 10:48:00+00');
INSERT INTO geneassessment (id, evaluation, user_id, usergroup_id, date_created, genepanel_name,
       genepanel_version, gene_id, analysis_id)
VALUES (100, '{"comment": "Gene comment"}', 1, NULL, '2020-10-19 10:48:00+00', 'HBOCUTV', 'v01',
        1101, NULL);
INSERT INTO attachment (id, sha256, filename, size, date_created, mimetype, extension, user_id)
VALUES (100, NULL, 'scan.pdf', NULL, '2020-10-19 10:48:00+00', NULL, NULL, 1);
INSERT INTO alleleassessmentattachment VALUES (1, 100);
INSERT INTO annotationjob (id, task_id, status, status_history, mode, data, message, user_id,
       date_submitted, date_last_update, genepanel_name, genepanel_version, properties, sample_id)
VALUES (100, NULL, 'FAILED (ANNOTATION)', NULL, NULL, '13-32890607-G-T', NULL, 1,
        '2020-10-19 10:48:00+00', '2020-10-19 10:48:00+00', 'HBOC', 'v01', NULL, NULL);

-- NULLs ELLA's schema allows: a VCF without QUAL, FILTER, GQ, DP, PL or AD (analysis 4), a
-- user without e-mail, a phenotype without OMIM id, a non-coding transcript, a group config.
UPDATE genotype SET variant_quality = NULL, filter_status = NULL
 WHERE sample_id IN (SELECT id FROM sample WHERE analysis_id = 4);
UPDATE genotypesampledata SET genotype_quality = NULL, sequencing_depth = NULL,
       genotype_likelihood = NULL, allele_depth = NULL, allele_ratio = NULL
 WHERE sample_id IN (SELECT id FROM sample WHERE analysis_id = 4);
UPDATE "user" SET email = NULL, config = NULL WHERE username = 'testuser3';
UPDATE phenotype SET omim_id = NULL WHERE id IN (SELECT id FROM phenotype WHERE gene_id = 1101);
UPDATE transcript SET cds_start = NULL, cds_end = NULL, tags = '{MANE Select}'
 WHERE transcript_name = 'NM_000059.3';
UPDATE analysis SET warnings = 'Low coverage', report = 'Report', date_requested = '2020-10-18'
 WHERE id = 6;
UPDATE analysisinterpretation SET state = NULL, user_state = NULL WHERE id = 7;
"""

# Annotation documents ELLA's annotation schema accepts (transcripts, references and
# frequencies optional; hgnc_id and symbol not required), as new current versions.
SPARSE_DOCUMENTS = {
    15: {},
    16: {"transcripts": [{"transcript": "NM_000059.3", "strand": 1, "is_canonical": True,
                          "in_last_exon": "no", "consequences": ["missense_variant"]}]},
    17: {"transcripts": [{"transcript": "NM_000059", "strand": 1, "is_canonical": True,
                          "in_last_exon": "yes", "consequences": [], "hgnc_id": 1101,
                          "symbol": "BRCA2", "exon_distance": None,
                          "coding_region_distance": None}],
         "frequencies": {"ExAC": {"freq": {"G": 0.01}, "num": {"G": 1000}}}},
}


@pytest.fixture(scope="module")
def lab(shared_demo_api, ella_config, tmp_path_factory):
    """{url, app, clients}: the adopted real ELLA database with the rows above, served with an
    attachment storage (empty: a stored row's file is missing)."""
    from ella.web.app import create_app
    _, url = shared_demo_api
    with psycopg.connect(url) as conn:
        conn.execute(ELLA_SHAPED_ROWS)
        for allele_id, doc in SPARSE_DOCUMENTS.items():
            old = conn.execute("UPDATE annotation SET date_superceeded = now() "
                               "WHERE allele_id = %s AND date_superceeded IS NULL "
                               "RETURNING id, annotation_config_id", (allele_id,)).fetchone()
            conn.execute("INSERT INTO annotation (allele_id, annotations, previous_annotation_id, "
                         "date_created, schema_version, annotation_config_id) "
                         "VALUES (%s, %s, %s, now(), 1, %s)",
                         (allele_id, json.dumps(doc), old[0], old[1]))
    config = copy.deepcopy(ella_config)
    config["app"]["attachment_storage"] = str(tmp_path_factory.mktemp("attachments"))
    app = create_app(config, {"DB_URL": url, "COOKIE_SECURE": False})
    yield {"url": url, "app": app,
           "clients": {u: logged_in_client(app, url, u) for u in USERS}}
    app._drop_connection()


def _rows(url, sql_text, params=()):
    with psycopg.connect(url) as conn:
        cur = conn.execute(sql_text, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def _ids(url, table):
    return [r["id"] for r in _rows(url, f'SELECT id FROM "{table}" ORDER BY id')]


def _requests(url):
    """(path, query) of every read the sweep makes, over every object of the database."""
    analyses = _ids(url, "analysis")
    alleles = _ids(url, "allele")
    all_ids = ",".join(map(str, alleles))
    panels = [(r["name"], r["version"]) for r in _rows(
        url, "SELECT name, version FROM genepanel ORDER BY name, version")]
    filterconfigs = _ids(url, "filterconfig")
    yield from ((p, None) for p in (
        "/config/", "/users/currentuser/", "/users/", "/analyses/", "/genepanels/",
        "/alleleassessments/", "/allelereports/", "/referenceassessments/",
        "/customannotations/", "/geneassessments/", "/attachments/", "/references/",
        "/overviews/analyses/", "/overviews/alleles/", "/overviews/userstats/",
        "/import/service/jobs/", "/broadcasts/", "/health/",
        "/specs/", "/docs/", "/igv/tracks/dynamic/classifications/"))
    for page in (1, 2):
        yield "/overviews/analyses/finalized/", f"per_page=1&page={page}"
        yield "/overviews/alleles/finalized/", f"per_page=1&page={page}"
    yield "/annotationconfigs/", "annotation_config_ids=" + ",".join(
        map(str, _ids(url, "annotationconfig")))
    for table, route in (("user", "users"), ("alleleassessment", "alleleassessments"),
                         ("allelereport", "allelereports"),
                         ("referenceassessment", "referenceassessments"),
                         ("geneassessment", "geneassessments")):
        for i in _ids(url, table):
            yield f"/{route}/{i}/", None
    for i in _ids(url, "attachment"):
        yield f"/attachments/{i}", None
    for i in filterconfigs:
        yield f"/filterconfigs/{i}", None
    yield "/references/", {"q": {"id": _ids(url, "reference")}}
    yield "/references/", {"s": {"search_string": "Ptok"}}
    yield "/igv/search/", "q=BRCA2"
    yield "/alleles/", {"q": {"id": alleles}}
    yield "/alleles/", {"q": {"id": alleles}, "link": {"alleleassessment_id": _ids(
        url, "alleleassessment"), "annotation_id": _ids(url, "annotation")}}
    yield "/alleles/by-gene/", f"allele_ids={all_ids}"
    yield "/acmg/classifications/", "codes=PVS1,PPxPM2"
    for name, version in panels:
        yield f"/genepanels/{name}/{version}/", None
        yield f"/genepanels/{name}/{version}/stats/", None
        yield f"/igv/tracks/dynamic/genepanel/{name}/{version}/", None
        yield f"/workflows/similar_alleles/{name}/{version}/", f"allele_ids={all_ids}"
        yield "/alleles/", {"q": {"id": alleles}, "gp_name": name, "gp_version": version}
    for allele_id in alleles:
        base = f"/workflows/alleles/{allele_id}"
        yield f"/alleles/{allele_id}/analyses/", None
        for suffix in ("interpretations/", "genepanels/", "logs/", "snapshots/",
                       "actions/finalize/"):
            yield f"{base}/{suffix}", None
        yield f"{base}/collisions/", f"allele_ids={allele_id}"
        for name, version in (("HBOC", "v01"), ("Mendeliome", "v01")):
            yield f"{base}/genepanels/{name}/{version}/", None
        for r in _rows(url, "SELECT id FROM alleleinterpretation WHERE allele_id = %s",
                       (allele_id,)):
            yield f"{base}/interpretations/{r['id']}/", None
            for current in ("true", "false"):
                yield (f"{base}/interpretations/{r['id']}/alleles/",
                       f"allele_ids={allele_id}&current={current}")
    for analysis_id in analyses:
        base = f"/workflows/analyses/{analysis_id}"
        ids = ",".join(str(r["allele_id"]) for r in _rows(
            url, "SELECT DISTINCT g.allele_id FROM genotype g JOIN sample s "
            "ON s.id = g.sample_id WHERE s.analysis_id = %s ORDER BY 1", (analysis_id,)))
        samples = [r["id"] for r in _rows(
            url, "SELECT id FROM sample WHERE analysis_id = %s ORDER BY id", (analysis_id,))]
        panel = _rows(url, "SELECT genepanel_name, genepanel_version FROM analysis "
                      "WHERE id = %s", (analysis_id,))[0]
        yield f"/analyses/{analysis_id}/", None
        for suffix in ("stats/", "interpretations/", "filterconfigs/", "logs/", "snapshots/",
                       "actions/finalize/"):
            yield f"{base}/{suffix}", None
        yield f"/igv/tracks/{analysis_id}/", None
        yield f"/igv/tracks/dynamic/variants/{analysis_id}/", f"allele_ids={ids}"
        yield f"/igv/tracks/dynamic/regions_of_interest/{analysis_id}/", f"allele_ids={ids}"
        yield f"/attachments/analyses/{analysis_id}/0/", None
        yield f"{base}/collisions/", f"allele_ids={ids}"
        yield (f"{base}/genepanels/{panel['genepanel_name']}/{panel['genepanel_version']}/",
               f"allele_ids={ids}")
        yield "/alleles/", {"q": {"id": [int(i) for i in ids.split(",")]},
                            "analysis_id": analysis_id, "gp_name": panel["genepanel_name"],
                            "gp_version": panel["genepanel_version"]}
        for fc in filterconfigs:
            yield f"{base}/filteredalleles/", f"filterconfig_id={fc}"
        for r in _rows(url, "SELECT id, status::text FROM analysisinterpretation "
                       "WHERE analysis_id = %s ORDER BY id", (analysis_id,)):
            rid = f"{base}/interpretations/{r['id']}"
            yield f"{rid}/", None
            yield f"{rid}/finishallowed", {"q": {"sample_ids": samples}}
            if r["status"] == "Done":
                yield f"{rid}/filteredalleles/", None
            for fc in filterconfigs:
                yield f"{rid}/filteredalleles/", f"filterconfig_id={fc}"
            for current in ("true", "false"):
                yield f"{rid}/alleles/", f"allele_ids={ids}&current={current}&filterconfig_id=1"
    for q in ({"type": "alleles", "freetext": "NM_000059.3:c.10G>T"},
              {"type": "alleles", "freetext": "13:32890607-32890700"},
              {"type": "alleles", "freetext": "c.10G", "gene": {"hgnc_id": 1101}},
              {"type": "alleles", "user": {"username": "testuser1"}},
              {"type": "analyses", "freetext": "brca"},
              {"type": "analyses", "user": {"username": "testuser1"}}):
        yield "/search/", {"q": q}
    yield "/search/options/", {"q": {"gene": "BR", "user": "He"}}


@pytest.fixture(scope="module")
def sweep(lab):
    """{(user, path, query): (status, body)} of every read, as each user."""
    results = {}
    reads = list(_requests(lab["url"]))
    for user, client in lab["clients"].items():
        for path, query in reads:
            if user != EVERY_READ and PER_OBJECT.search(path):
                continue
            answer = client.get(API + path, query=query)
            try:
                body = answer.json
            except ValueError:
                body = None
            key = (user, path, json.dumps(query, sort_keys=True))
            results[key] = (answer.status, body)
    return results


def test_no_read_of_an_adopted_database_is_a_server_error(sweep):
    """Every read of every object, as each group's user: refused (403/404) or answered, never a
    5xx. (How long reads take is measured by bench/api, not here.)"""
    failures = [(user, path, query, status, str(body)[:200])
                for (user, path, query), (status, body) in sweep.items() if status >= 500]
    assert not failures, failures[:10]
    # The sweep reached the objects: each group's user got answers, not only refusals.
    for user in USERS:
        assert sum(1 for (u, _, _), (s, _) in sweep.items() if u == user and s == 200) > 30


def test_the_sweep_reaches_every_get_route(sweep):
    """A GET route added to the router without a read in `_requests` fails here."""
    requested = {path for _, path, _ in sweep}
    missing = []
    for route in router.routes:
        if route.method != "GET" or FILE_ROUTES.search(route.pattern) \
                or route.pattern in SERVICE_ROUTES:
            continue
        pattern = "^" + re.sub(r"<(?:int:)?[a-z_]+>", "[^/]+",
                               route.pattern[len(API):]) + "$"
        if not any(re.match(pattern, path) for path in requested):
            missing.append(route.pattern)
    assert not missing


def _same(api_value, db_value):
    if isinstance(db_value, datetime):
        return api_value is not None and datetime.fromisoformat(api_value) == db_value
    return api_value == db_value


def test_what_the_reads_show_is_what_the_rows_hold(lab, sweep):
    """Every column the shapes of api.md 3 show, for every row (older ones with their NULLs
    included), as testuser7 (whose group has every panel) reads it."""
    url = lab["url"]
    differences = []

    def compare(what, row, shown):
        if shown is None:
            differences.append((what, "not shown"))
            return
        for column, value in row.items():
            if column not in shown or not _same(shown[column], value):
                differences.append((what, column, shown.get(column), value))

    def body(path, query=None):
        status, answer = sweep[("testuser7", path, json.dumps(query, sort_keys=True))]
        return answer if status == 200 else None

    for table, route, columns in (
            ("alleleassessment", "alleleassessments",
             "id, date_created, date_superceeded, allele_id, analysis_id, genepanel_name, "
             "genepanel_version, annotation_id, custom_annotation_id, previous_assessment_id, "
             "user_id, usergroup_id, classification::text AS classification, evaluation"),
            ("allelereport", "allelereports",
             "id, date_created, date_superceeded, allele_id, analysis_id, previous_report_id, "
             "user_id, usergroup_id, evaluation"),
            ("referenceassessment", "referenceassessments",
             "id, allele_id, reference_id, analysis_id, genepanel_name, genepanel_version, "
             "date_created, date_superceeded, user_id, evaluation"),
            ("geneassessment", "geneassessments",
             "id, date_created, date_superceeded, gene_id, genepanel_name, genepanel_version, "
             "analysis_id, previous_assessment_id, user_id, usergroup_id, evaluation")):
        for row in _rows(url, f"SELECT {columns} FROM {table}"):
            compare(f"{table} {row['id']}", row, body(f"/{route}/{row['id']}/"))
    # (A variant round's shape has its date_created too.)
    for label, parent, kind, extra in (("round", "analysis", "analyses", ""),
                                       ("variant round", "allele", "alleles", ", date_created")):
        for row in _rows(url, f"SELECT id, {parent}_id, status::text AS status, finalized, "
                         "workflow_status::text AS workflow_status, user_id, genepanel_name, "
                         "genepanel_version, coalesce(state, '{}') AS state, "
                         "coalesce(user_state, '{}') AS user_state, date_last_update"
                         f"{extra} FROM {parent}interpretation"):
            parent_id = row.pop(f"{parent}_id")
            compare(f"{label} {row['id']}", row, body(
                f"/workflows/{kind}/{parent_id}/interpretations/{row['id']}/"))
    for row in _rows(url, "SELECT s.id, s.date_created, s.allele_id, "
                     "s.analysisinterpretation_id, s.annotation_id, s.customannotation_id, "
                     "s.alleleassessment_id, s.allelereport_id, i.analysis_id "
                     "FROM analysisinterpretationsnapshot s "
                     "JOIN analysisinterpretation i ON i.id = s.analysisinterpretation_id"):
        shown = {x["id"]: x for x in body(f"/workflows/analyses/{row.pop('analysis_id')}/"
                                          "snapshots/")}
        compare(f"snapshot {row['id']}", row, shown.get(row["id"]))
    references = {x["id"]: x for x in body("/references/",
                                             {"q": {"id": _ids(url, "reference")}})}
    for row in _rows(url, "SELECT id, authors, title, journal, abstract, year, pubmed_id, "
                     "published FROM reference"):
        compare(f"reference {row['id']}", row, references.get(row["id"]))
    assert not differences, differences[:10]


def test_a_done_round_shows_what_its_snapshot_recorded(lab, sweep):
    """The round ELLA ended shows the classifications, reports and annotation its snapshot
    names, with the reference assessments linked to those classifications."""
    url = lab["url"]
    snapshot = {r["allele_id"]: r for r in _rows(
        url, "SELECT allele_id, annotation_id, alleleassessment_id, allelereport_id "
        "FROM analysisinterpretationsnapshot WHERE analysisinterpretation_id = 2")}
    ids = ",".join(map(str, sorted(snapshot)))
    status, shown = sweep[(EVERY_READ, "/workflows/analyses/2/interpretations/2/alleles/",
                              json.dumps(f"allele_ids={ids}&current=false&filterconfig_id=1"))]
    assert status == 200
    linked = {}
    for r in _rows(url, "SELECT aa.allele_id, l.referenceassessment_id FROM "
                   "alleleassessmentreferenceassessment l JOIN alleleassessment aa "
                   "ON aa.id = l.alleleassessment_id"):
        linked.setdefault(r["allele_id"], set()).add(r["referenceassessment_id"])
    for allele in shown:
        row = snapshot[allele["id"]]
        assert allele["annotation"]["annotation_id"] == row["annotation_id"]
        assert allele["allele_assessment"]["id"] == row["alleleassessment_id"]
        assert allele["allele_report"]["id"] == row["allelereport_id"]
        assert {x["id"] for x in allele.get("reference_assessments", [])} == \
            linked.get(allele["id"], set())
