"""Filter benchmark: the real filter configs (demo/filterconfigs.json) on a synthetic
50,000-variant exome with the Mendeliome panel (filtering.md 1.3, target < 1 s per chain).

    python bench/filter/run.py [--variants 50000] [--repeat 3]

Deposits, as bench/import/run.py does (its functions are reused), one single-sample analysis
and one trio, creates the user groups testgroup01-03 with the panel, deposits the filter
configs, then runs "Default" on both analyses and "TrioDefault" on the trio. Prints the
seconds per filter (exceptions included) and the whole chain (including reading the
analysis' allele ids): the median over --repeat runs, and the first (cold) run's total.

Uses DB_URL when set (an EMPTY database: the schema is created), else a throwaway embedded
cluster in a temp dir. Not a test: nothing is asserted.
"""

import argparse
import importlib.util
import json
import signal
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))


def _load_import_bench():
    """bench/import/run.py under its own module name (this file is also called run.py)."""
    spec = importlib.util.spec_from_file_location("bench_import_run",
                                                  ROOT / "bench" / "import" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


imp = _load_import_bench()

from ella.db import connect  # noqa: E402
from ella.deposit.filterconfigs import deposit_filterconfigs  # noqa: E402
from ella.filters import FilterContext  # noqa: E402
from ella.filters.chain import analysis_allele_ids, load_filterconfig, run_filters  # noqa: E402

FILTERCONFIGS = ROOT / "demo" / "filterconfigs.json"
GROUPS = ("testgroup01", "testgroup02", "testgroup03")
# (filter config name, samples of the analysis it runs on)
RUNS = (("Default", 1), ("Default", 3), ("TrioDefault", 3))
# The seeds bench/import/run.py's default run gives its 50,000-variant exomes, so both benchmarks
# see the same data (samples -> seed).
SEEDS = {1: 3, 3: 4}


def setup_groups(conn, panel):
    for name in GROUPS:
        group_id = conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}') "
                                "RETURNING id", (name,)).fetchone()[0]
        conn.execute("INSERT INTO usergroupgenepanel VALUES (%s, %s, %s)", (group_id,) + panel)


def run_chain(conn, config, analysis_id, filterconfig):
    """(total seconds, [(filter, seconds)], result) of one chain run."""
    started = time.perf_counter()
    panel = conn.execute("SELECT genepanel_name, genepanel_version FROM analysis WHERE id = %s",
                         (analysis_id,)).fetchone()
    ids = analysis_allele_ids(conn, analysis_id)
    timings = []
    result = run_filters(FilterContext(conn, config, tuple(panel), analysis_id), ids,
                         filterconfig, timings)
    return time.perf_counter() - started, timings, result


def main(argv=None):
    parser = argparse.ArgumentParser(description="filter chain benchmark")
    parser.add_argument("--variants", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    workdir = Path(tempfile.mkdtemp(prefix="ella-bench-filter-"))
    cluster = None
    try:
        db_url, cluster = imp.bench_database(workdir)
        config = imp.load_config(environ={})
        with connect(db_url) as conn:
            imp.create_schema_with_panel(conn, config)
            setup_groups(conn, imp.PANEL)
            conn.commit()
            result = deposit_filterconfigs(conn, config, json.loads(FILTERCONFIGS.read_text()))
            fc_ids = {c["name"]: c["id"] for c in result["configs"]}
        analyses = {}
        for samples in sorted({n for _, n in RUNS}):
            seed = SEEDS[samples]
            folder = workdir / f"bench{seed}-{args.variants}-{samples}.Mendeliome_v01"
            folder.mkdir()
            imp.generate(folder / f"bench{seed}.vcf", args.variants, samples, seed)
            with connect(db_url) as conn:
                with conn.transaction():
                    imp.deposit_analysis(conn, config, imp.resolve_analysis_config(folder))
                analyses[samples] = conn.execute("SELECT max(id) FROM analysis").fetchone()[0]
                conn.execute("ANALYZE")
        print(f"machine: {imp.machine()}")
        print(f"{'config':<12} {'samples':>7} {'filter':<14} {'alleles in':>10} "
              f"{'removed':>8} {'seconds':>8}")
        with connect(db_url, autocommit=True) as conn:
            for name, samples in RUNS:
                filterconfig = load_filterconfig(conn, fc_ids[name])
                runs = [run_chain(conn, config, analyses[samples], filterconfig)
                        for _ in range(max(args.repeat, 1))]
                _, _, result = runs[0]
                n_in = len(result["allele_ids"]) + sum(
                    len(v) for v in result["excluded_allele_ids"].values())
                for index, entry in enumerate(filterconfig["filters"]):
                    seconds = statistics.median(r[1][index][1] for r in runs)
                    removed = len(result["excluded_allele_ids"][entry["name"]])
                    print(f"{name:<12} {samples:>7} {entry['name']:<14} {n_in:>10} "
                          f"{removed:>8} {seconds:>8.3f}")
                    n_in -= removed
                total = statistics.median(r[0] for r in runs)
                print(f"{name:<12} {samples:>7} {'TOTAL':<14} "
                      f"{len(runs[0][2]['allele_ids']):>10} {'kept':>8} {total:>8.3f}"
                      f"   (cold {runs[0][0]:.3f})", flush=True)
    finally:
        if cluster:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
