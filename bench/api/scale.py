"""Work lists at a lab's scale: how the overview, search and listing endpoints behave when the
database holds years of analyses and variant workflows, not the demo's handful.

Builds, in a throwaway embedded PostgreSQL, the demo data plus `--analyses` synthetic analyses
(spread over the five demo panels; one proband sample each; finalized ones have two rounds, the
`--open` newest ones a latest round in each work-list category; every third has a log entry with
a priority; `--genotypes` proband genotypes each, spread over all variants) and `--alleles`
variant workflows (copies of the demo's annotated variants at shifted
positions, each with one allele round and, when finalized, a classification). Then times each
request in-process (the WSGI app called directly: no network, no gunicorn) as testuser3, whose
group has two of the five panels, and prints the median of `--repeat` calls and the response
size. Not a test: nothing is asserted.

    python bench/api/scale.py [--analyses 20000] [--open 1000] [--alleles 3000]
                              [--genotypes 100] [--repeat 5]
"""

import argparse
import json
import signal
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psycopg  # noqa: E402

from common import call, demo_database, logged_in_app  # noqa: E402

USER = "testuser3"
# Latest round of an open analysis: (status, workflow_status), one per work-list category.
OPEN_ANALYSIS_ROUNDS = (("Not started", "Not ready"), ("Not started", "Interpretation"),
                        ("Not started", "Review"), ("Not started", "Medical review"),
                        ("Ongoing", "Interpretation"))
OPEN_ALLELE_ROUNDS = (("Not started", "Interpretation"), ("Not started", "Review"),
                      ("Ongoing", "Interpretation"))


def add_analyses(conn, count, open_count):
    """`count` analyses over every panel; the `open_count` newest ones are not finalized."""
    user_id = conn.execute('SELECT id FROM "user" WHERE username = %s', (USER,)).fetchone()[0]
    panels = conn.execute("SELECT name, version FROM genepanel ORDER BY name, version").fetchall()
    conn.execute("CREATE TEMP TABLE bench_panel (n int, name text, version text)")
    with conn.cursor().copy("COPY bench_panel FROM STDIN") as copy:
        for n, (name, version) in enumerate(panels):
            copy.write_row((n, name, version))
    conn.execute(
        "INSERT INTO analysis (name, genepanel_name, genepanel_version, warnings, report, "
        "date_deposited, properties, date_requested) "
        "SELECT 'Scale-' || lpad(g::text, 6, '0'), p.name, p.version, NULL, NULL, "
        "now() - (%(count)s - g) * interval '10 minutes', '{}', "
        "now() - (%(count)s - g) * interval '10 minutes' "
        "FROM generate_series(1, %(count)s) g JOIN bench_panel p ON p.n = g %% %(panels)s",
        {"count": count, "panels": len(panels)})
    conn.execute(
        "INSERT INTO sample (identifier, analysis_id, sample_type, date_deposited, affected, "
        "proband, sex) SELECT a.name || '-P', a.id, 'HTS', a.date_deposited, true, true, "
        "'Female' FROM analysis a WHERE a.name LIKE 'Scale-%'")
    # Rounds: finalized analyses have an ended round and a finalized one; open ones an ended
    # round and a latest round in one of the categories.
    conn.execute(
        "INSERT INTO analysisinterpretation (analysis_id, genepanel_name, genepanel_version, "
        "status, workflow_status, finalized, date_created, date_last_update, user_id, state, "
        "user_state) SELECT a.id, a.genepanel_name, a.genepanel_version, 'Done', "
        "'Interpretation', false, a.date_deposited, a.date_deposited + interval '1 hour', "
        "%s, '{}', '{}' FROM analysis a WHERE a.name LIKE 'Scale-%%'", (user_id,))
    ranked = ("SELECT a.*, row_number() OVER (ORDER BY a.date_deposited DESC) AS rank "
              "FROM analysis a WHERE a.name LIKE 'Scale-%%'")
    conn.execute(
        "INSERT INTO analysisinterpretation (analysis_id, genepanel_name, genepanel_version, "
        "status, workflow_status, finalized, date_created, date_last_update, user_id, state, "
        "user_state) SELECT a.id, a.genepanel_name, a.genepanel_version, 'Done', 'Review', "
        "true, a.date_deposited + interval '2 hours', a.date_deposited + interval '3 hours', "
        f"%s, '{{}}', '{{}}' FROM ({ranked}) a WHERE a.rank > %s", (user_id, open_count))
    for n, (status, workflow_status) in enumerate(OPEN_ANALYSIS_ROUNDS):
        conn.execute(
            "INSERT INTO analysisinterpretation (analysis_id, genepanel_name, "
            "genepanel_version, status, workflow_status, finalized, date_created, "
            "date_last_update, user_id, state, user_state) SELECT a.id, a.genepanel_name, "
            "a.genepanel_version, %s, %s, NULL, a.date_deposited + interval '2 hours', "
            "a.date_deposited + interval '2 hours', CASE WHEN %s = 'Ongoing' THEN %s END, "
            f"'{{}}', '{{}}' FROM ({ranked}) a WHERE a.rank <= %s AND a.rank %% %s = %s",
            (status, workflow_status, status, user_id, open_count,
             len(OPEN_ANALYSIS_ROUNDS), n))
    conn.execute(
        "INSERT INTO interpretationlog (analysisinterpretation_id, user_id, date_created, "
        "message, priority) SELECT ai.id, ai.user_id, ai.date_last_update, 'Checked', "
        "1 + ai.id % 3 FROM analysisinterpretation ai JOIN analysis a ON a.id = ai.analysis_id "
        "WHERE a.name LIKE 'Scale-%' AND ai.id % 3 = 0")


def add_allele_workflows(conn, count, open_count):
    """`count` annotated variants (copies of the demo's, shifted by 10 kb steps) with one allele
    round each; all but `open_count` finalized with a class 3 classification."""
    user_id, group_id = conn.execute('SELECT id, group_id FROM "user" WHERE username = %s',
                                     (USER,)).fetchone()
    panel = conn.execute(
        "SELECT genepanel_name, genepanel_version FROM usergroupgenepanel WHERE usergroup_id = %s "
        "ORDER BY 1, 2 LIMIT 1", (group_id,)).fetchone()
    bases = conn.execute(
        "SELECT a.id FROM allele a JOIN annotation an ON an.allele_id = a.id "
        "AND an.date_superceeded IS NULL ORDER BY a.id").fetchall()
    conn.execute("CREATE TEMP TABLE bench_copy (base int, k int, new_id int)")
    conn.execute(
        "INSERT INTO bench_copy SELECT b.id, g, nextval('allele_id_seq') FROM "
        "generate_series(1, %s) g JOIN unnest(%s::int[]) WITH ORDINALITY b(id, n) "
        "ON b.n = 1 + g %% %s", (count, [b[0] for b in bases], len(bases)))
    conn.execute(
        "INSERT INTO allele (id, genome_reference, chromosome, start_position, "
        "open_end_position, change_from, change_to, change_type, vcf_pos, vcf_ref, vcf_alt, "
        "length, caller_type) SELECT c.new_id, a.genome_reference, a.chromosome, "
        "a.start_position + c.k * 10000, a.open_end_position + c.k * 10000, a.change_from, "
        "a.change_to, a.change_type, a.vcf_pos + c.k * 10000, a.vcf_ref, a.vcf_alt, a.length, "
        "a.caller_type FROM bench_copy c JOIN allele a ON a.id = c.base")
    # Through the per-row triggers (validation, shadow rows), as any other writer.
    conn.execute(
        "INSERT INTO annotation (allele_id, annotations, date_created, schema_version, "
        "annotation_config_id) SELECT c.new_id, an.annotations, now(), an.schema_version, "
        "an.annotation_config_id FROM bench_copy c JOIN annotation an ON an.allele_id = c.base "
        "AND an.date_superceeded IS NULL")
    conn.execute(
        "INSERT INTO alleleinterpretation (allele_id, genepanel_name, genepanel_version, status, "
        "workflow_status, finalized, date_created, date_last_update, user_id, state, user_state) "
        "SELECT c.new_id, %s, %s, 'Done', 'Interpretation', true, "
        "now() - c.k * interval '1 hour', now() - c.k * interval '1 hour', %s, '{}', '{}' "
        "FROM bench_copy c WHERE c.k > %s", (*panel, user_id, open_count))
    for n, (status, workflow_status) in enumerate(OPEN_ALLELE_ROUNDS):
        conn.execute(
            "INSERT INTO alleleinterpretation (allele_id, genepanel_name, genepanel_version, "
            "status, workflow_status, finalized, date_created, date_last_update, user_id, "
            "state, user_state) SELECT c.new_id, %s, %s, %s, %s, NULL, now(), now(), "
            "CASE WHEN %s = 'Ongoing' THEN %s END, '{}', '{}' FROM bench_copy c "
            "WHERE c.k <= %s AND c.k %% %s = %s",
            (*panel, status, workflow_status, status, user_id, open_count,
             len(OPEN_ALLELE_ROUNDS), n))
    conn.execute(
        "INSERT INTO alleleassessment (classification, evaluation, user_id, date_created, "
        "allele_id, genepanel_name, genepanel_version, usergroup_id) SELECT '3', '{}', %s, "
        "now() - c.k * interval '1 hour', c.new_id, %s, %s, %s FROM bench_copy c "
        "WHERE c.k > %s", (user_id, *panel, group_id, open_count))


def add_genotypes(conn, per_analysis):
    """`per_analysis` proband genotypes for each synthetic analysis, spread over every variant
    of the database (so each variant is in many analyses, as common variants are)."""
    conn.execute(
        "INSERT INTO genotype (allele_id, sample_id, variant_quality, filter_status) "
        "SELECT v.ids[1 + (s.id * 7919 + g * 104729) %% v.n], s.id, 100, 'PASS' "
        "FROM sample s CROSS JOIN generate_series(1, %s) g "
        "CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids, count(*)::int AS n "
        "FROM allele) v WHERE s.identifier LIKE 'Scale-%%'", (per_analysis,))


def main(argv=None):
    parser = argparse.ArgumentParser(description="work lists at scale")
    parser.add_argument("--analyses", type=int, default=20000)
    parser.add_argument("--open", type=int, default=1000)
    parser.add_argument("--alleles", type=int, default=3000)
    parser.add_argument("--open-alleles", type=int, default=300)
    parser.add_argument("--genotypes", type=int, default=100,
                        help="proband genotypes per synthetic analysis (default 100)")
    parser.add_argument("--genotype-indexes", action="store_true",
                        help="create the README's optional indexes on genotype.allele_id and "
                             "genotype.secondallele_id first")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with demo_database("ella-bench-scale-") as (db_url, config, _):
        began = time.monotonic()
        with psycopg.connect(db_url) as conn:
            with conn.transaction():
                add_analyses(conn, args.analyses, args.open)
                add_allele_workflows(conn, args.alleles, args.open_alleles)
                add_genotypes(conn, args.genotypes)
                if args.genotype_indexes:
                    for column in ("allele_id", "secondallele_id"):
                        conn.execute(f"CREATE INDEX ix_genotype_{column} ON genotype ({column})")
            conn.execute("ANALYZE")
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM analysis), (SELECT count(*) FROM "
                "analysisinterpretation), (SELECT count(*) FROM allele), (SELECT count(*) "
                "FROM alleleinterpretation), (SELECT count(*) FROM interpretationlog), "
                "(SELECT count(*) FROM genotype)").fetchone()
            variant_paths = variant_requests(conn)
        print(f"database: {counts[0]:,} analyses, {counts[1]:,} analysis rounds, "
              f"{counts[2]:,} variants, {counts[3]:,} allele rounds, {counts[4]:,} log entries, "
              f"{counts[5]:,} genotypes (built in {time.monotonic() - began:.0f} s)")
        with logged_in_app(db_url, config, USER) as (app, cookie):
            measure(app, cookie, args.repeat, variant_paths)
    return 0


def variant_requests(conn):
    """The reads that find a variant's genotypes across analyses (ELLA's schema has no index
    on genotype.allele_id): the analyses of one variant, and the collisions of 50 variants of
    an analysis of the user's panels with the other analyses' open rounds."""
    allele_id = conn.execute("SELECT allele_id FROM genotype GROUP BY allele_id "
                             "ORDER BY count(*) DESC, allele_id LIMIT 1").fetchone()[0]
    analysis_id = conn.execute(
        "SELECT a.id FROM analysis a JOIN usergroupgenepanel p ON p.genepanel_name = "
        "a.genepanel_name AND p.genepanel_version = a.genepanel_version JOIN \"user\" u "
        "ON u.group_id = p.usergroup_id AND u.username = %s WHERE a.name LIKE 'Scale-%%' "
        "ORDER BY a.id LIMIT 1", (USER,)).fetchone()[0]
    ids = [r[0] for r in conn.execute(
        "SELECT DISTINCT g.allele_id FROM genotype g JOIN sample s ON s.id = g.sample_id "
        "WHERE s.analysis_id = %s ORDER BY 1 LIMIT 50", (analysis_id,))]
    return (
        ("alleles/<id>/analyses/ (a common variant)", f"/api/v1/alleles/{allele_id}/analyses/"),
        ("collisions/ of 50 variants",
         f"/api/v1/workflows/analyses/{analysis_id}/collisions/"
         f"?allele_ids={','.join(map(str, ids))}"),
    )


def measure(app, cookie, repeat, variant_paths=()):
    search = quote(json.dumps({"freetext": "Scale-0001", "type": "analyses"}))
    listing = quote(json.dumps({"name": {"$like": "%Scale-0001%"}}))
    requests = (
        ("overviews/analyses/", "/api/v1/overviews/analyses/"),
        ("overviews/analyses/finalized/ page 1",
         "/api/v1/overviews/analyses/finalized/?page=1&per_page=10"),
        ("overviews/analyses/finalized/ page 500",
         "/api/v1/overviews/analyses/finalized/?page=500&per_page=10"),
        ("overviews/alleles/", "/api/v1/overviews/alleles/"),
        ("overviews/alleles/finalized/ page 1",
         "/api/v1/overviews/alleles/finalized/?page=1&per_page=10"),
        ("overviews/userstats/", "/api/v1/overviews/userstats/"),
        ("search/ (analysis name)", f"/api/v1/search/?q={search}"),
        ("analyses/?q= name like, page 1", f"/api/v1/analyses/?q={listing}&per_page=10"),
        *variant_paths,
    )
    print(f"as {USER} (two of the five panels); median of {repeat} calls, in-process")
    print(f"{'request':<42} {'ms':>8} {'items':>7} {'KiB':>8}")
    for name, path in requests:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            status, payload, _ = call(app, "GET", path, cookie)
            times.append((time.perf_counter() - started) * 1000)
        assert status == 200, (path, status, payload[:300])
        document = json.loads(payload)
        items = (sum(len(v) for v in document.values()) if isinstance(document, dict)
                 and all(isinstance(v, list) for v in document.values())
                 else len(document) if isinstance(document, list) else 1)
        print(f"{name:<42} {statistics.median(times):8.1f} {items:7d} "
              f"{len(payload) / 1024:8.0f}")


if __name__ == "__main__":
    sys.exit(main())
