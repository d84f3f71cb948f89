"""API load benchmark: a real gunicorn (bin/ella-api) on loopback with the demo data.

Prints requests/s for GET users/currentuser/ and GET config/ (stdlib threads as clients), and
median / p95 latency of one analysis' alleles with full annotation (GET alleles/ as the UI
asks for them). Uses a throwaway embedded PostgreSQL. Not a test: nothing is asserted.

    python bench/api/run.py [--seconds 10] [--threads 8] [--workers 2]
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psycopg  # noqa: E402

from common import ROOT, demo_database, free_port  # noqa: E402
from ella.demo import DEMO_PASSWORD  # noqa: E402


def login(base):
    request = urllib.request.Request(
        f"{base}/users/actions/login/", method="POST",
        data=json.dumps({"username": "testuser1", "password": DEMO_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        cookie = response.headers["Set-Cookie"].split(";")[0]
    return cookie


def hammer(url, cookie, seconds, threads):
    """(requests per second, latencies in ms) of GETs to url from `threads` threads."""
    latencies, errors, stop = [], [], time.monotonic() + seconds
    lock = threading.Lock()

    def worker():
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                request = urllib.request.Request(url, headers={"Cookie": cookie})
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
            except Exception as exc:  # counted, reported
                with lock:
                    errors.append(exc)
                continue
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    began = time.monotonic()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - began
    if errors:
        print(f"  {len(errors)} failed requests (first: {errors[0]})")
    return len(latencies) / elapsed, latencies


def main(argv=None):
    parser = argparse.ArgumentParser(description="API load benchmark")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with demo_database("ella-bench-api-") as (db_url, _, _):
        with psycopg.connect(db_url) as conn:
            analysis_id, panel, version = conn.execute(
                "SELECT id, genepanel_name, genepanel_version FROM analysis "
                "WHERE name = 'TestAnalysis-001'").fetchone()
            allele_ids = [r[0] for r in conn.execute(
                "SELECT DISTINCT g.allele_id FROM genotype g JOIN sample s ON s.id = g.sample_id "
                "WHERE s.analysis_id = %s ORDER BY 1", (analysis_id,))]
        serve_and_measure(args, db_url, analysis_id, panel, version, allele_ids)
    return 0


def serve_and_measure(args, db_url, analysis_id, panel, version, allele_ids):
    server = None
    try:
        port = free_port()
        env = dict(os.environ, DB_URL=db_url, PORT=str(port), NUM_WORKERS=str(args.workers))
        env.pop("ELLA_CONFIG", None)
        server = subprocess.Popen([str(ROOT / "bin" / "ella-api")], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}/api/v1"
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/health/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        cookie = login(base)
        print(f"gunicorn workers: {args.workers}, client threads: {args.threads}, "
              f"{args.seconds:.0f} s per endpoint")
        for name, path in (("currentuser", "/users/currentuser/"), ("config", "/config/")):
            rate, latencies = hammer(base + path, cookie, args.seconds, args.threads)
            print(f"GET {name:<12} {rate:8.0f} requests/s   median "
                  f"{statistics.median(latencies):6.1f} ms")
        q = quote(json.dumps({"id": allele_ids}))
        url = (f"{base}/alleles/?q={q}&gp_name={panel}&gp_version={version}"
               f"&analysis_id={analysis_id}")
        rate, latencies = hammer(url, cookie, args.seconds, 1)
        latencies.sort()
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        print(f"GET alleles ({len(allele_ids)} with annotation): median "
              f"{statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms (one client)")
    finally:
        if server:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
