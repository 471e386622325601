#!/usr/bin/env python3
"""How the web UI's workloads view copes with many workloads, against the
alternative without server-side paging.

Starts a controller and two agents (fake driver only) on loopback ports of its
own, creates N fake workloads through the API, then measures:

- the API: one page of 50 (first, last, filtered by search and by host) against
  the whole list in one answer (limit=10000): time and size;
- the browser (Debian's Chromium via playwright-core, bench/ui_bench.mjs): opening
  the workloads view until its 50 rows are drawn, the next page, a search,
  against fetching every workload and drawing every row.

Prints a Markdown table (docs/benchmarks-ui.md holds a run). Needs no root.

    bench/bench_ui.py [--workloads 10000] [--runs 5] [--build build]
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, port, token, ca_file):
        self.port = port
        self.token = token
        self.ctx = ssl.create_default_context(cafile=ca_file)

    def call(self, method, path, body=None, timeout=120):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.ctx)
        h = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
        finally:
            conn.close()
        if r.status >= 300:
            raise RuntimeError("%s %s: HTTP %d %s" % (method, path, r.status, raw[:300]))
        return raw


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise RuntimeError("timed out waiting for " + what)


def timed(fn, runs):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        raw = fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out), len(raw)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="flyt-bench-ui-")
    procs = []
    try:
        token_file = os.path.join(tmp, "token")
        cport = free_port()
        log = open(os.path.join(tmp, "daemons.log"), "ab")
        tls = os.path.join(tmp, "tls")
        join = os.path.join(tmp, "join-token")
        procs.append(subprocess.Popen([os.path.join(a.build, "src", "controller", "flyt-controller"), "--listen",
                                       "127.0.0.1:%d" % cport, "--db", os.path.join(tmp, "db"), "--token-file",
                                       token_file, "--tls-dir", tls, "--join-token-out", join],
                                      stdout=log, stderr=log))
        wait(lambda: os.path.exists(join), 30, "the join token file")
        with open(token_file) as f:
            api = Api(cport, f.read().strip(), os.path.join(tls, "ca.pem"))
        wait(lambda: api.call("GET", "/api/v1/health"), 30, "the controller")
        for h in ("a", "b"):
            p = free_port()
            procs.append(subprocess.Popen([
                os.path.join(a.build, "src", "flytd"), "--name", h, "--listen", "127.0.0.1:%d" % p,
                "--data-listen", "127.0.0.1:%d" % free_port(), "--controller", "https://127.0.0.1:%d" % cport,
                "--state-dir", os.path.join(tmp, h), "--join-token-file", join, "--driver", "fake"],
                stdout=log, stderr=log))
        wait(lambda: len([x for x in json.loads(api.call("GET", "/api/v1/hosts"))["hosts"]
                          if x["state"] == "online"]) == 2, 60, "both agents")

        t0 = time.monotonic()

        def create(i):
            api.call("POST", "/api/v1/workloads", {"name": "w%05d" % i, "kind": "fake", "host": "ab"[i % 2],
                                                   "spec": {"payload": "x" * 64}})
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(a.workloads)))
        created_s = time.monotonic() - t0
        total = json.loads(api.call("GET", "/api/v1/workloads?limit=1"))["total"]
        assert total == a.workloads, total

        # a search that 10 names contain: the first 4 digits of the middle one
        query = ("w%05d" % (a.workloads // 2))[:5]
        runs = max(a.runs * 4, 10)
        rows = []
        for label, path in [
            ("first page of 50", "/api/v1/workloads?limit=50&offset=0"),
            ("last page of 50", "/api/v1/workloads?limit=50&offset=%d" % (a.workloads - 50)),
            ("search, first 50 matches", "/api/v1/workloads?q=%s&limit=50" % query),
            ("one host, first 50", "/api/v1/workloads?host=b&limit=50"),
            ("all %d in one answer (no paging)" % a.workloads, "/api/v1/workloads?limit=10000"),
        ]:
            ms, size = timed(lambda p=path: api.call("GET", p), runs)
            rows.append((label, ms, size))

        node = shutil.which("node") or "/usr/bin/node"
        env = dict(os.environ, FLYT_UI_URL="https://127.0.0.1:%d" % cport, FLYT_TOKEN_FILE=token_file,
                   NODE_EXTRA_CA_CERTS=os.path.join(tls, "ca.pem"), FLYT_UI_CERT=os.path.join(tls, "cert.pem"),
                   FLYT_WEB_DIR=os.path.join(ROOT, "web"), FLYT_RUNS=str(a.runs), FLYT_QUERY=query)
        r = subprocess.run([node, os.path.join(ROOT, "bench", "ui_bench.mjs")], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=1800)
        res = [line[7:] for line in r.stdout.splitlines() if line.startswith("RESULT ")]
        if r.returncode != 0 or not res:
            sys.exit("ui_bench.mjs failed:\n" + r.stdout + r.stderr)
        b = json.loads(res[0])

        print("flyt web UI with %d fake workloads on 2 hosts (created through the API in %.0f s, %.0f/s)\n"
              % (a.workloads, created_s, a.workloads / created_s))
        print("| API request | median ms (%d runs) | answer bytes |" % runs)
        print("|---|---:|---:|")
        for label, ms, size in rows:
            print("| %s | %.1f | %s |" % (label, ms, format(size, ",")))
        med = statistics.median
        print("\n| in the browser (Chromium, 1280x800) | median ms (%d runs) | all runs |" % a.runs)
        print("|---|---:|---|")
        for label, key in [("open the workloads view until its 50 rows show", "open"),
                           ("next page", "next_page"),
                           ("search (includes the 250 ms typing pause)", "search"),
                           ("no paging: fetch all %d and draw every row" % b.get("unpaged_rows", 0), "unpaged")]:
            print("| %s | %.0f | %s |" % (label, med(b[key]), ", ".join(str(x) for x in b[key])))
        print("\nJS heap after the paged view: %.1f MB; after drawing every row: %.1f MB" % (
            b["heap_paged"] / 1e6, b["heap_unpaged"] / 1e6))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        if a.keep:
            print("kept", tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
