"""Import benchmark: a full analysis deposit of synthetic exomes (5,000 and 50,000 variants,
1 and 3 samples) into a real PostgreSQL. Prints variants/s and the peak memory of the process
that ran the deposit (a new one for each).

    python bench/import/run.py [--sizes 5000 50000] [--samples 1 3] [--trigger-path]

--sql-profile adds where the database time goes (sql_profile.py).
--again deposits each VCF a second time, as another analysis (a re-delivery, a sample
sequenced again: every variant and its annotation already stored), printed as "again".
--trigger-path measures the fallback in which the database's triggers validate and shadow
each annotation row (what a deposit does when `ella-db refresh` is due, and how ELLA itself
writes):
the deposit runs with a frequency group the shadow table does not have.

Uses DB_URL when set (an EMPTY database: the schema is created), else a throwaway embedded
cluster in a temp dir. Not a test: nothing is asserted.
"""

import argparse
import contextlib
import copy
import logging
import multiprocessing
import os
import platform
import resource
import signal
import socket
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


from ella.config import load_config  # noqa: E402
from ella.db import connect  # noqa: E402
from ella.deposit.analysis import deposit_analysis  # noqa: E402
from ella.deposit.analysis_config import resolve_analysis_config  # noqa: E402
from ella.deposit.genepanel import deposit_genepanel, folder_files, read_panel_files  # noqa: E402
from ella.devdb import Cluster  # noqa: E402
from ella.migrate import migrate  # noqa: E402
from generate import generate  # noqa: E402
from sql_profile import profiled, report  # noqa: E402

PANEL = ("Mendeliome", "v01")
PANEL_DIR = ROOT / "genepanels" / "ella-demo" / "Mendeliome_v01"


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def bench_database(workdir):
    """(db_url, cluster): DB_URL when set (an EMPTY database), else a database in a throwaway
    embedded cluster under `workdir` (the caller stops the cluster)."""
    if os.environ.get("DB_URL"):
        return os.environ["DB_URL"], None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = Cluster(workdir / "pg", port=port)
    cluster.start()
    cluster.create_database("bench")
    return cluster.url("bench"), cluster


def create_schema_with_panel(conn, config):
    """ELLA's schema and the Mendeliome panel the synthetic exomes are generated over."""
    migrate(conn, config, echo=lambda *_: None)
    deposit_genepanel(conn, *PANEL, read_panel_files(*folder_files(PANEL_DIR)))


def deposit_in_a_new_process(db_url, config, folder, sql_profile, trigger_path):
    """(stats, seconds, CPU seconds, peak MB, statement times or None) of one deposit, run in
    a new interpreter: a process' peak memory is the high-water mark of its whole life, so in
    this one it counted the schema's creation, the VCF's generation and every row before."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_deposit, (db_url, config, str(folder), sql_profile, trigger_path))


def _deposit(db_url, config, folder, sql_profile, trigger_path):
    if trigger_path:  # (a warning per batch that the shadow table lacks the group)
        logging.getLogger("ella.deposit.variants").setLevel(logging.ERROR)
    analysis = resolve_analysis_config(Path(folder))
    with connect(db_url) as conn, \
            (profiled() if sql_profile else contextlib.nullcontext()) as sql_times:
        started, cpu_started = time.perf_counter(), time.process_time()
        with conn.transaction():
            stats = deposit_analysis(conn, config, analysis)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    return stats, seconds, cpu_seconds, peak_rss_mb(), sql_times


def main(argv=None):
    parser = argparse.ArgumentParser(description="analysis deposit benchmark")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--samples", type=int, nargs="+", default=[1, 3], choices=(1, 3))
    parser.add_argument("--trigger-path", action="store_true",
                        help="annotations validated and shadowed row by row by the triggers")
    parser.add_argument("--again", action="store_true",
                        help="deposit each VCF a second time as another analysis (its "
                             "variants and annotations then known)")
    parser.add_argument("--sql-profile", action="store_true",
                        help="time the deposit's statements by kind (batches are then written "
                             "serially; see sql_profile.py)")
    args = parser.parse_args(argv)
    # Stopped with SIGTERM: still run the clean-up below (stop the throwaway cluster).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    workdir = Path(tempfile.mkdtemp(prefix="ella-bench-import-"))
    cluster = None
    try:
        db_url, cluster = bench_database(workdir)
        config = load_config(environ={})
        with connect(db_url) as conn:
            create_schema_with_panel(conn, config)
            conn.commit()
        if args.trigger_path:
            config = copy.deepcopy(config)
            config["frequencies"]["groups"]["external"]["GNOMAD_EXOMES"].append("NOT_SHADOWED")
        print(f"machine: {machine()}")
        # "python s": CPU time of the deposit's process (both threads). "writing s": time
        # the deposit's writer thread spent storing batches, mostly waiting for PostgreSQL;
        # it overlaps the conversion of the next batch. "peak MB": the deposit's process
        # (a new one for each row).
        print(f"{'variants':>9} {'samples':>7} {'seconds':>8} {'python s':>8} "
              f"{'writing s':>9} {'variants/s':>11} {'peak MB':>8}")
        for seed, (size, samples) in enumerate(
                ((s, n) for s in args.sizes for n in args.samples), start=1):
            folder = workdir / f"bench{seed}-{size}-{samples}.Mendeliome_v01"
            folder.mkdir()
            vcf = folder / f"bench{seed}.vcf"
            generate(vcf, size, samples, seed)
            runs = [folder]
            if args.again:
                again = workdir / f"bench{seed}-{size}-{samples}-again.Mendeliome_v01"
                again.mkdir()
                os.link(vcf, again / vcf.name)
                runs.append(again)
            for run in runs:
                stats, seconds, cpu_seconds, peak_mb, sql_times = deposit_in_a_new_process(
                    db_url, config, run, args.sql_profile, args.trigger_path)
                print(f"{stats['records']:>9} {samples:>7} {seconds:>8.1f} "
                      f"{cpu_seconds:>8.1f} {stats['write_seconds']:>9.1f} "
                      f"{stats['records'] / seconds:>11.0f} {peak_mb:>8.0f}"
                      + ("  again" if run != folder else ""), flush=True)
                if sql_times is not None:
                    report(sql_times, stats["records"])
                shutil.rmtree(run)
    finally:
        if cluster:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
