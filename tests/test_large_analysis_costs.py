"""Routes the UI calls for a large analysis must do work linear in the number of
variants. A synthetic exome (bench/import/generate.py, Mendeliome v01, trio) of N variants is
deposited with the demo data; each request's SELECT statements are re-run under
EXPLAIN (ANALYZE, FORMAT JSON) and the rows every plan node handled (rows out plus rows
removed by filters, times loops) are summed. A plan that compares every requested id with
every genotype of the analysis handles ~N^2 rows (N=600: ~360,000); a linear one a small
multiple of N. (The IGV variant tracks of an analysis were such a plan: 75 s for an exome's
50,000 variants.)"""

import sys

import psycopg
import pytest

from api_helpers import logged_in_client
from ella.deposit.analysis import deposit_analysis
from ella.deposit.analysis_config import resolve_analysis_config
from helpers import ROOT, recorded_statements

sys.path.insert(0, str(ROOT / "bench" / "import"))  # the benchmark's exome generator
from generate import generate  # noqa: E402

API = "/api/v1"
N = 600
ROWS_PER_VARIANT = 60  # generous for a linear plan


def _rows_handled(node):
    loops = node.get("Actual Loops", 1)
    own = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
           + node.get("Rows Removed by Join Filter", 0)) * loops
    return own + sum(_rows_handled(child) for child in node.get("Plans", []))


def worst_statement(db_url, calls):
    """(rows handled, statement) of the costliest SELECT."""
    worst = (0, None)
    with psycopg.connect(db_url) as conn:
        for text, params in calls:
            if not text.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            try:
                plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + text, params).fetchone()[0]
            except psycopg.Error:
                conn.rollback()
                continue
            conn.rollback()
            rows = _rows_handled(plan[0]["Plan"])
            if rows > worst[0]:
                worst = (rows, text)
    return worst


@pytest.fixture
def db_url(demo_data_db_url):
    """The demo data (its Mendeliome panel and users) under the generated exome."""
    return demo_data_db_url


@pytest.fixture
def exome(api_app, db_url, ella_config, tmp_path):
    folder = tmp_path / "Exome.Mendeliome_v01"
    folder.mkdir()
    generate(folder / "Exome.vcf", N, 3, 7)
    with psycopg.connect(db_url) as conn:
        with conn.transaction():
            stats = deposit_analysis(conn, ella_config, resolve_analysis_config(folder))
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("ANALYZE")
        ids = [r[0] for r in conn.execute(
            "SELECT g.allele_id FROM genotype g JOIN sample s ON s.id = g.sample_id "
            "WHERE s.analysis_id = %s AND s.proband ORDER BY 1", (stats["analysis_id"],))]
    client = logged_in_client(api_app, db_url, "testuser4")
    return client, stats["analysis_id"], ids


@pytest.mark.parametrize("track", ["variants", "regions_of_interest"])
def test_igv_track_of_an_analysis_is_linear_in_the_variants(exome, db_url, track):
    client, analysis_id, ids = exome
    assert len(ids) >= N - 5
    with recorded_statements() as calls:
        result = client.get(f"{API}/igv/tracks/dynamic/{track}/{analysis_id}/",
                            query={"allele_ids": ",".join(map(str, ids))})
    assert result.status == 200, result.body[:300]
    assert result.body.count(b"\n") >= len(ids)
    rows, statement = worst_statement(db_url, calls)
    assert rows < ROWS_PER_VARIANT * len(ids), (rows, statement)


def _get_routes(client, analysis_id, ids):
    wf = f"{API}/workflows/analyses/{analysis_id}"
    joined = ",".join(map(str, ids))
    fcs = client.get(f"{wf}/filterconfigs/").json
    assert client.post(f"{wf}/actions/start/", {}).status == 200
    rid = client.get(f"{wf}/interpretations/").json[-1]["id"]
    # filteredalleles/ is left out: its region query handles rows in proportion to the
    # panel's transcripts (~2 million row visits for Mendeliome whatever N), not N^2; at
    # 50,000 variants it answers in 0.5-1.3 s.
    routes = [
        (f"{wf}/interpretations/{rid}/alleles/", {"allele_ids": joined}),
        (f"{wf}/interpretations/{rid}/alleles/", {"allele_ids": joined,
                                                  "filterconfig_id": fcs[-1]["id"]}),
        (f"{wf}/collisions/", {"allele_ids": joined}),
        (f"{wf}/stats/", None),
        (f"{wf}/genepanels/Mendeliome/v01/", {"allele_ids": joined}),
        (f"{API}/workflows/similar_alleles/Mendeliome/v01/", {"allele_ids": joined}),
        (f"{API}/alleles/", {"q": {"id": ids}, "analysis_id": analysis_id,
                             "gp_name": "Mendeliome", "gp_version": "v01"}),
    ]
    return routes


def test_the_ui_reads_of_a_large_analysis_are_linear(exome, db_url):
    """Control for the measure above: the other reads the UI sends for the analysis."""
    client, analysis_id, ids = exome
    failures = []
    for path, query in _get_routes(client, analysis_id, ids):
        with recorded_statements() as calls:
            result = client.get(path, query=query)
        assert result.status == 200, (path, result.body[:300])
        rows, statement = worst_statement(db_url, calls)
        if rows >= ROWS_PER_VARIANT * len(ids):
            failures.append((path, rows, statement[:300]))
    assert not failures, failures


def test_similar_alleles_of_a_large_analysis_with_classifications_are_linear(exome, db_url):
    """With classifications in the database, each variant's similar ones were looked for
    among all alleles of its chromosome, each checked for an assessment: 12 ms a variant,
    203 s for an exome (without classifications the search ended at once, so the control
    above saw nothing)."""
    client, analysis_id, ids = exome
    copy = ("INSERT INTO allele (genome_reference, chromosome, start_position, "
            "open_end_position, change_from, change_to, change_type, vcf_pos, vcf_ref, "
            "vcf_alt, length, caller_type) SELECT genome_reference, chromosome, "
            "start_position + {shift}, open_end_position + {shift}, change_from, change_to, "
            "change_type, vcf_pos + {shift}, vcf_ref, vcf_alt, length, caller_type "
            "FROM allele a{more} WHERE a.id = ANY(%s){where} RETURNING id")
    with psycopg.connect(db_url) as conn:
        # A lab's database: many more variants than one analysis (30 unclassified ones per
        # variant of it, far away), and classified ones, here 7 bases from every tenth.
        conn.execute(copy.format(shift="1000 * g", more=" CROSS JOIN generate_series(1, 30) g",
                                 where=""), (ids,))
        classified = [r[0] for r in conn.execute(
            copy.format(shift="7", more="", where=" AND a.id %% 10 = 0"), (ids,))]
        conn.execute(
            "INSERT INTO alleleassessment (allele_id, classification, evaluation, user_id, "
            "date_created, genepanel_name, genepanel_version) SELECT a, '3', '{}', "
            "(SELECT min(id) FROM \"user\"), now(), 'Mendeliome', 'v01' "
            "FROM unnest(%s::int[]) a", (classified,))
        conn.commit()
        conn.execute("ANALYZE")
    with recorded_statements() as calls:
        result = client.get(f"{API}/workflows/similar_alleles/Mendeliome/v01/",
                            query={"allele_ids": ",".join(map(str, ids))})
    assert result.status == 200, result.body[:300]
    assert sum(map(len, result.json.values())) >= len(ids) // 10  # (the neighbours)
    rows, statement = worst_statement(db_url, calls)
    assert rows < ROWS_PER_VARIANT * len(ids), (rows, statement[:300])
