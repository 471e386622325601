"""bench/bench_ui.py still runs: a small version of the web UI benchmark (120 fake
workloads, one browser run) against this build. It checks that every
measurement is there and that the answers have the sizes paging implies; it
asserts no timing (the figures are for docs/benchmarks-ui.md, measured by hand)."""
import os
import re
import subprocess
import sys

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bench_ui_runs():
    n = 120
    # in a network namespace of its own with only loopback: Chromium aborts requests
    # (ERR_NETWORK_CHANGED) when its namespace's addresses change, as other tests'
    # bridges change the root namespace's
    bench = [sys.executable, os.path.join(ROOT, "bench", "bench_ui.py"), "--workloads", str(n), "--runs", "1",
             "--build", harness.BUILD_DIR]
    argv = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"'] + bench
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=600)
    assert r.returncode == 0, "bench_ui.py failed (exit %d):\n%s\n%s" % (r.returncode, r.stdout[-4000:],
                                                                         r.stderr[-4000:])
    out = r.stdout
    assert out.startswith("flyt web UI with %d fake workloads on 2 hosts" % n), out
    sizes = {}
    for label in ("first page of 50", "last page of 50", "search, first 50 matches", "one host, first 50",
                  "all %d in one answer (no paging)" % n):
        m = re.search(r"^\| %s \| ([0-9.]+) \| ([0-9,]+) \|$" % re.escape(label), out, re.M)
        assert m, "no line for %r in:\n%s" % (label, out)
        sizes[label] = int(m.group(2).replace(",", ""))
    # a page of 50 is a fraction of the whole list; the search (10 names match) less still
    assert sizes["first page of 50"] == sizes["last page of 50"], sizes
    assert sizes["search, first 50 matches"] < sizes["first page of 50"] < sizes["all %d in one answer (no paging)"
                                                                                 % n] / 2, sizes
    for label in ("open the workloads view until its 50 rows show", "next page", "search (includes the 250 ms",
                  "no paging: fetch all %d and draw every row" % n):
        assert re.search(r"^\| %s.*\| [0-9]+ \| [0-9]+ \|$" % re.escape(label), out, re.M), \
            "no browser line for %r in:\n%s" % (label, out)
