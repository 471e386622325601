#!/usr/bin/env python3
"""The controller's REST API under many concurrent clients.

    sudo python3 bench/bench_api.py [--workloads 2000] [--duration 10] [--json FILE]
                                    [--endpoints "workload show,hosts"] [--connections 8,64]

A controller and two agents on network-namespace hosts (tests/integration/
harness.py); --workloads fake-driver workloads created through the API (the
fake driver keeps them in the agents' memory, so the controller's inventory is
the real one); then wrk (HTTP/1.1 keep-alive, 2 threads) against the list and
show endpoints at several connection counts, each for --duration seconds, all
from one client address. For each run: requests per second, latency (mean,
p99), responses other than 2xx, socket errors; the controller's resident memory
is sampled every 100 ms throughout.

The controller admits at most 64 connections per client address (and 256 in
all): the runs above 64 connections show what the clients beyond the limit see
(refused connections, counted as socket errors) and that the others are served
unharmed. After the last run the controller must still answer, and its memory
must have come back down; both are printed, not asserted.

Exits 1 when something could not be measured, 2 for a usage or setup problem.
Needs root and wrk (sudo scripts/setup.sh --bench). See bench/README.md.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

ENDPOINTS = [
    ("hosts", "/api/v1/hosts"),
    ("workloads page", "/api/v1/workloads?limit=50"),
    ("workloads filtered", "/api/v1/workloads?host=h2&q=w-1&limit=50"),
    ("workload show", "/api/v1/workloads/w-1"),
]
CONNECTIONS = [8, 64, 200]


def log(msg):
    print("bench_api: %s" % msg, file=sys.stderr, flush=True)


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Sampler(threading.Thread):
    """Samples a process's resident memory every 100 ms until stopped."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            v = rss_kib(self.pid)
            if v is not None:
                self.samples.append(v)
            self.stop.wait(0.1)


def parse_wrk(out):
    """Figures from wrk's output with --latency."""
    def unit_ms(v, u):
        return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[u]
    r = {"rps": None, "lat_mean_ms": None, "lat_p99_ms": None, "requests": 0, "non2xx": 0, "socket_errors": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s|m)\b", out)
    if m:
        r["lat_mean_ms"] = unit_ms(m.group(1), m.group(2))
    m = re.search(r"\b99%\s+([\d.]+)(us|ms|s|m)\b", out)
    if m:
        r["lat_p99_ms"] = unit_ms(m.group(1), m.group(2))
    m = re.search(r"(\d+) requests in", out)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["socket_errors"] = sum(int(x) for x in m.groups())
        r["errors"] = dict(zip(("connect", "read", "write", "timeout"), (int(x) for x in m.groups())))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", type=int, default=2000)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--build-dir", default=os.environ.get("FLYT_BUILD_DIR", os.path.join(ROOT, "build")))
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--plain-http", action="store_true",
                    help="run the cluster with --plain-http (to see what TLS costs; the default is TLS)")
    ap.add_argument("--endpoints", help="comma-separated labels of the endpoints to run (default all: %s)" %
                    ", ".join(label for label, _ in ENDPOINTS))
    ap.add_argument("--connections", help="comma-separated connection counts (default %s)" %
                    ",".join(str(n) for n in CONNECTIONS))
    args = ap.parse_args()
    endpoints = ENDPOINTS
    if args.endpoints:
        wanted = [e.strip() for e in args.endpoints.split(",")]
        endpoints = [(label, path) for label, path in ENDPOINTS if label in wanted]
        if len(endpoints) != len(wanted):
            log("--endpoints: choose among %s" % ", ".join(label for label, _ in ENDPOINTS))
            return 2
    connections = CONNECTIONS
    if args.connections:
        try:
            connections = [int(n) for n in args.connections.split(",")]
        except ValueError:
            connections = []
        if not connections or min(connections) < 1:
            log("--connections: a comma-separated list of positive numbers")
            return 2
    if os.geteuid() != 0:
        log("run as root: sudo python3 bench/bench_api.py")
        return 2
    if not shutil.which("wrk"):
        log("wrk is missing: sudo scripts/setup.sh --bench")
        return 2
    os.environ["FLYT_BUILD_DIR"] = os.path.abspath(args.build_dir)
    import harness  # noqa: E402 - after FLYT_BUILD_DIR
    reason = harness.skip_reason()
    if reason:
        log(reason)
        return 2

    results = {"workloads": args.workloads, "duration_s": args.duration, "runs": [],
               "tls": not args.plain_http}
    c = harness.Cluster(hosts=2, name="bench-api", tls=not args.plain_http)
    log("cluster over %s" % ("plain HTTP (--plain-http)" if args.plain_http else "TLS"))
    try:
        pid = c.controller.pid
        results["rss_start_kib"] = rss_kib(pid)
        log("creating %d fake workloads" % args.workloads)
        t0 = time.monotonic()
        for i in range(args.workloads):
            c.api("POST", "/api/v1/workloads", {"name": "w-%d" % i, "kind": "fake", "host": "h%d" % (1 + i % 2),
                                                "spec": {"payload": "x" * 64}}, expect=201)
        created_s = time.monotonic() - t0
        results["create_per_s"] = args.workloads / created_s
        results["rss_loaded_kib"] = rss_kib(pid)
        log("created in %.1f s (%.0f/s); controller RSS %d KiB" % (created_s, results["create_per_s"],
                                                                 results["rss_loaded_kib"]))
        sampler = Sampler(pid)
        sampler.start()
        auth = "Authorization: Bearer %s" % c.token
        for label, path in endpoints:
            for conns in connections:
                url = c.controller_url + path
                argv = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % args.duration, "--latency", "-H", auth, url]
                p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   timeout=args.duration + 120)
                r = parse_wrk(p.stdout)
                r.update({"endpoint": label, "path": path, "connections": conns})
                if r["rps"] is None:
                    log("wrk gave no figures for %s at %d connections:\n%s" % (path, conns, p.stdout))
                    results.setdefault("problems", []).append("%s c=%d" % (path, conns))
                results["runs"].append(r)
                log("%-18s c=%-3d %8.0f req/s  p99 %s ms  non-2xx %d  socket errors %s" % (
                    label, conns, r["rps"] or 0, r["lat_p99_ms"], r["non2xx"], r.get("errors")))
        sampler.stop.set()
        sampler.join()
        results["rss_peak_kib"] = max(sampler.samples) if sampler.samples else None
        # the controller closes idle keep-alive connections; give it their timeout to settle
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and rss_kib(pid) and results["rss_peak_kib"] and \
                rss_kib(pid) > results["rss_loaded_kib"] * 1.5:
            time.sleep(0.5)
        results["rss_after_kib"] = rss_kib(pid)
        results["healthy_after"] = c.controller_healthy()
        st, body = c.api("GET", "/api/v1/workloads?limit=1")
        results["inventory_after"] = body.get("total") if st == 200 else None
    finally:
        c.teardown()

    print()
    print("controller API under load: %d workloads, wrk -t2 -dN --latency, %d s per run, one client address" % (
        args.workloads, args.duration))
    print("%-20s %6s %10s %10s %10s %10s %10s %8s" % ("endpoint", "conns", "req/s", "mean ms", "p99 ms",
                                                    "requests", "non-2xx", "sockerr"))
    for r in results["runs"]:
        print("%-20s %6d %10.0f %10.2f %10.2f %10d %10d %8d" % (
            r["endpoint"], r["connections"], r["rps"] or 0, r["lat_mean_ms"] or 0, r["lat_p99_ms"] or 0,
            r["requests"], r["non2xx"], r["socket_errors"]))
    print("controller resident memory (KiB): start %s, with the inventory %s, peak under load %s, after %s" % (
        results["rss_start_kib"], results["rss_loaded_kib"], results["rss_peak_kib"], results["rss_after_kib"]))
    print("after the runs: controller answers: %s; workloads in the inventory: %s" % (
        results["healthy_after"], results["inventory_after"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if results.get("problems") or not results["healthy_after"] else 0


if __name__ == "__main__":
    sys.exit(main())
