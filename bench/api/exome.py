"""One exome through the interpretation workflow: what the UI asks for and the actions it
sends for a synthetic exome of `--variants` variants (bench/import/generate.py, Mendeliome v01,
one sample), in a throwaway embedded PostgreSQL with the demo data. Requests are timed
in-process (the WSGI app called directly) as testuser3, with the group's first filter config.
Prints the time of each request or action (median of `--repeat` for reads), the response
size and the process' peak memory so far. Not a test: nothing is asserted beyond each request
succeeding.

    python bench/api/exome.py [--variants 50000] [--repeat 3] [--classified 0]

`--classified N` first gives N of the exome's variants, spread over it, a current
classification (as a lab's database holds thousands): the similar variants' search reads
them.
"""

import argparse
import json
import resource
import signal
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.append(str(HERE.parent / "import"))  # after bench/api: both have a run.py

import psycopg  # noqa: E402

from common import call, demo_database, logged_in_app  # noqa: E402
from ella.deposit.analysis import deposit_analysis  # noqa: E402
from ella.deposit.analysis_config import resolve_analysis_config  # noqa: E402
from generate import generate  # noqa: E402

API = "/api/v1"
USER = "testuser3"
EVALUATION = {"acmg": {"included": [], "suggested": []}, "external": {"comment": ""},
              "frequency": {"comment": ""}, "reference": {"comment": ""},
              "prediction": {"comment": ""}, "classification": {"comment": "bench"}}


class Session:
    def __init__(self, app, cookie, repeat):
        self.app, self.cookie, self.repeat = app, cookie, repeat

    def _once(self, method, path, body=None):
        started = time.perf_counter()
        status, payload, _ = call(self.app, method, path, self.cookie, body)
        assert status == 200, (method, path[:120], status, payload[:300])
        return (time.perf_counter() - started) * 1000, payload

    def read(self, name, path):
        times = []
        for _ in range(self.repeat):
            payload = None  # one answer held at a time
            ms, payload = self._once("GET", path)
            times.append(ms)
        # The process' peak so far, read before this script parses the answer: the server
        # side's memory and one copy of its answer (the deposit's peak comes before).
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name:<52} {statistics.median(times):9.0f} ms "
              f"{len(payload) / 1024:9.0f} KiB  peak {peak:,.0f} MB", flush=True)
        return json.loads(payload)

    def act(self, name, path, body):
        ms, payload = self._once("POST", path, body)
        print(f"{name:<52} {ms:9.0f} ms", flush=True)
        return json.loads(payload) if payload else None


def deposit_exome(db_url, config, workdir, variants, classified=0):
    folder = workdir / "Exome.Mendeliome_v01"
    folder.mkdir()
    generate(folder / "Exome.vcf", variants, 1, 7)
    with psycopg.connect(db_url) as conn, conn.transaction():
        stats = deposit_analysis(conn, config, resolve_analysis_config(folder))
        if classified:
            conn.execute(
                "INSERT INTO alleleassessment (allele_id, classification, evaluation, "
                "user_id, date_created, genepanel_name, genepanel_version) "
                "SELECT allele_id, '3', '{}', (SELECT min(id) FROM \"user\"), now(), "
                "'Mendeliome', 'v01' FROM (SELECT DISTINCT g.allele_id FROM genotype g "
                "JOIN sample s ON s.id = g.sample_id WHERE s.analysis_id = %s) own "
                "ORDER BY (allele_id * 7919) %% 100003 LIMIT %s",
                (stats["analysis_id"], classified))
    # Statistics as a lab's database has them: in this new one, the first reads depended on
    # whether autovacuum had analyzed the new rows yet (filteredalleles: 3.3 s or 0.8 s).
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return stats["analysis_id"], stats["records"]


def run(session, analysis_id):
    wf = f"{API}/workflows/analyses/{analysis_id}"
    analysis = session.read("GET analyses/<id>/", f"{API}/analyses/{analysis_id}/")
    panel = analysis["genepanel"]
    filterconfig = session.read("GET filterconfigs/", f"{wf}/filterconfigs/")[0]["id"]
    session.act("POST start", f"{wf}/actions/start/", {})
    round_id = session.read("GET interpretations/", f"{wf}/interpretations/")[-1]["id"]
    filtered = session.read("GET filteredalleles/",
                            f"{wf}/filteredalleles/?filterconfig_id={filterconfig}")
    shown = filtered["allele_ids"]
    excluded = {}
    for by_filter in filtered["excluded_alleles_by_caller_type"].values():
        for name, ids in by_filter.items():
            excluded.setdefault(name, []).extend(ids)
    ids = ",".join(map(str, shown))
    loaded = session.read(f"GET round alleles/ ({len(shown):,} not filtered out)",
                          f"{wf}/interpretations/{round_id}/alleles/?allele_ids={ids}")
    page = quote(json.dumps({"id": shown[:50]}))
    session.read("GET alleles/?q= (a page of 50, analysis context)",
                 f"{API}/alleles/?q={page}&analysis_id={analysis_id}"
                 f"&gp_name={panel['name']}&gp_version={panel['version']}")
    session.read("GET collisions/", f"{wf}/collisions/?allele_ids={ids}")
    session.read("GET similar_alleles/", f"{API}/workflows/similar_alleles/{panel['name']}/"
                                         f"{panel['version']}/?allele_ids={ids}")
    session.read("GET stats/", f"{wf}/stats/")
    target = next(a for a in loaded if not a.get("allele_assessment"))  # (a new one)
    result = session.act("POST finalizeallele (one variant)", f"{wf}/actions/finalizeallele/", {
        "allele_id": target["id"], "annotation_id": target["annotation"]["annotation_id"],
        "custom_annotation_id": None, "referenceassessments": [],
        "alleleassessment": {"reuse": False, "allele_id": target["id"], "attachment_ids": [],
                             "classification": "3", "evaluation": EVALUATION},
        "allelereport": {"reuse": False, "allele_id": target["id"],
                         "evaluation": {"comment": "bench"}}})
    every = len(shown) + sum(len(v) for v in excluded.values())
    mark = {"allele_ids": shown, "excluded_allele_ids": excluded,
            "annotation_ids": [a["annotation"]["annotation_id"] for a in loaded],
            "custom_annotation_ids": [],
            "alleleassessment_ids": [result["alleleassessment"]["id"]],
            "allelereport_ids": [result["allelereport"]["id"]],
            "technical_allele_ids": [], "notrelevant_allele_ids": shown}
    session.act(f"POST markreview ({every:,} snapshots)", f"{wf}/actions/markreview/", mark)
    session.act("POST start (review)", f"{wf}/actions/start/", {})
    session.act(f"POST finalize ({every:,} snapshots)", f"{wf}/actions/finalize/", mark)


def main(argv=None):
    parser = argparse.ArgumentParser(description="one exome through the workflow")
    parser.add_argument("--variants", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--classified", type=int, default=0,
                        help="variants of the exome given a classification first")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with demo_database("ella-bench-exome-") as (db_url, config, workdir):
        analysis_id, records = deposit_exome(db_url, config, workdir, args.variants,
                                             args.classified)
        print(f"exome of {records:,} variants ({args.classified:,} classified), {USER}; "
              f"reads: median of {args.repeat}")
        with logged_in_app(db_url, config, USER) as (app, cookie):
            run(Session(app, cookie, args.repeat), analysis_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
