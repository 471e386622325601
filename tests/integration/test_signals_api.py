"""The controller's Energi Data Service client against a stand-in of the service:
a local HTTP server on loopback, started by the test, that answers the service's
query form (/dataset/NAME?start=..&end=..&filter={"PriceArea":[..]}&limit=..
&timezone=UTC) with the service's JSON envelope holding the real recorded rows
of the DK1/DK2 spot prices (shared data, option energy_data), and that the test
can switch to HTTP 429 (with Retry-After), HTTP 500 or a malformed body.

Checked: the query form; the values the controller then holds equal the file's;
a 429 or a malformed answer marks the signal stale (with the reason, an event,
and plans that move nothing on it) without stopping the fetcher; the next request
after a 429 waits at least its Retry-After; recovery makes the signal fresh again;
no 10-second window holds more than 40 requests.

Needs no root: one controller on 127.0.0.1, no agents (a host is registered
through the API with an area)."""
import csv
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import http.client

import pytest

from harness import wait_for

CONTROLLER = os.environ.get("FLYT_CONTROLLER_BIN") or os.path.join(
    os.environ.get("FLYT_BUILD_DIR", "build"), "src", "controller", "flyt-controller")
DATA = os.environ.get("FLYT_ENERGY_DATA", "/work/shared/data/energy")
PRICES = os.path.join(DATA, "mbml_Elspotprices_DK1_DK2_2021-01_2024-03.csv")
CLOCK_START = "2023-06-01T12:30:00Z"


def load_rows():
    """The recorded rows, as the service's JSON records (decimal comma to numbers)."""
    rows = []
    with open(PRICES, newline="") as f:
        sample = f.readline()
        f.seek(0)
        sep = ";" if sample.count(";") > sample.count(",") else ","
        for r in csv.DictReader(f, delimiter=sep):
            rec = {"HourUTC": r["HourUTC"].replace(" ", "T")[:16] + ":00", "HourDK": r["HourDK"].replace(" ", "T")[:16] + ":00",
                   "PriceArea": r["PriceArea"]}
            for k in ("SpotPriceDKK", "SpotPriceEUR"):
                v = (r.get(k) or "").strip()
                rec[k] = float(v.replace(",", ".")) if v else None
            rows.append(rec)
    return rows


class FakeService:
    """The stand-in: serves the rows in the query form; mode "ok", "429", "500", "garbage"."""

    def __init__(self, rows):
        self.rows = rows
        self.mode = "ok"
        self.retry_after = 2
        self.requests = []  # (monotonic time, path, status)
        self.lock = threading.Lock()
        svc = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                status, body, headers = svc.answer(self.path)
                with svc.lock:
                    svc.requests.append((time.monotonic(), self.path, status))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, path):
        u = urllib.parse.urlsplit(path)
        q = urllib.parse.parse_qs(u.query)
        if not u.path.startswith("/dataset/"):
            return 404, json.dumps({"error": "no such path"}), {}
        if self.mode == "429":
            return 429, json.dumps({"statusCode": 429, "message": "Rate limit is exceeded."}), \
                {"Retry-After": str(self.retry_after)}
        if self.mode == "500":
            return 500, "internal error", {}
        if self.mode == "garbage":
            return 200, '{"total": 3, "records": [{"HourUTC": "yesterday", ', {}
        dataset = u.path[len("/dataset/"):]
        if dataset != "Elspotprices":
            return 400, json.dumps({"error": "unknown dataset"}), {}
        start, end = q["start"][0], q["end"][0]
        areas = json.loads(q["filter"][0])["PriceArea"]
        limit = int(q["limit"][0])
        recs = [r for r in self.rows if start <= r["HourUTC"][:16] < end and r["PriceArea"] in areas]
        recs.sort(key=lambda r: r["HourUTC"], reverse=True)  # the service answers newest first
        return 200, json.dumps({"total": len(recs), "filters": q["filter"][0], "dataset": dataset,
                                "records": recs[:limit]}), {}

    def count(self):
        with self.lock:
            return len(self.requests)

    def since(self, n):
        with self.lock:
            return list(self.requests[n:])

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Controller:
    def __init__(self, tmp, args):
        self.port = free_port()
        self.token_file = os.path.join(tmp, "token")
        self.log = open(os.path.join(tmp, "controller.log"), "w")
        self.ca_file = os.path.join(tmp, "tls", "ca.pem")
        self.proc = subprocess.Popen([CONTROLLER, "--listen", "127.0.0.1:%d" % self.port, "--db",
                                      os.path.join(tmp, "db"), "--token-file", self.token_file] + args,
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.token_file) and self.get("/api/v1/health")[0] == 200, 30,
                 "the controller to answer")

    def request(self, method, path, body=None):
        conn = None
        try:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=ctx)
            with open(self.token_file) as f:
                token = f.read().strip()
            hdrs = {"Authorization": "Bearer " + token}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            text = r.read().decode()
            return r.status, (json.loads(text) if text else None)
        except (ConnectionError, OSError):
            return 0, None
        finally:
            if conn:
                conn.close()

    def get(self, path):
        return self.request("GET", path)

    def stop(self):
        """Stops it (SIGTERM); fails when it did not exit cleanly or a sanitizer
        reported anything in its log."""
        if self.log.closed:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("the controller did not stop within 30 s of SIGTERM")
        self.log.close()
        with open(self.log.name, errors="replace") as f:
            text = f.read()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in text, "sanitizer report in %s:\n%s" % (self.log.name, text[-4000:])
        assert self.proc.returncode == 0, "the controller exited %d:\n%s" % (self.proc.returncode, text[-2000:])


@pytest.fixture
def setup():
    if not os.path.exists(PRICES):
        pytest.fail("the recorded prices are missing: %s (meson option energy_data)" % PRICES)
    tmp = tempfile.mkdtemp(prefix="flyt-signals-")
    svc = FakeService(load_rows())
    ctl = None
    try:
        ctl = Controller(tmp, ["--signals-url", svc.url, "--signals-dataset", "Elspotprices", "--signals-interval",
                               "1000", "--clock-start", CLOCK_START, "--policy-interval", "200"])
        yield svc, ctl, tmp
    finally:
        if ctl:
            ctl.stop()
        svc.close()
        shutil.rmtree(tmp, ignore_errors=True)


def area_signal(ctl, area, kind="price_eur"):
    st, j = ctl.get("/api/v1/signals")
    assert st == 200, j
    return j["areas"].get(area, {}).get(kind)


def source(ctl):
    st, j = ctl.get("/api/v1/signals")
    return [s for s in j["sources"] if s["type"] == "api"][0]


def test_fetch_stale_and_recover(setup):
    svc, ctl, tmp = setup
    # no host has an area yet: nothing is asked
    assert svc.count() == 0, "the fetcher asked for data before any host had an area"
    st, _ = ctl.request("POST", "/api/v1/agents/register",
                        {"name": "h1", "url": "https://127.0.0.1:9", "facts": {}})
    assert st == 200
    st, _ = ctl.request("POST", "/api/v1/agents/register",
                        {"name": "h2", "url": "https://127.0.0.1:9", "facts": {}})
    assert st == 200
    for h, a in (("h1", "dk1"), ("h2", "DK2")):
        st, j = ctl.request("PATCH", "/api/v1/hosts/" + h, {"area": a})
        assert st == 200 and j["area"] == a.upper(), j
    st, j = ctl.request("PATCH", "/api/v1/hosts/h1", {"area": "no spaces allowed"})
    assert st == 400, j

    # the query form
    wait_for(lambda: svc.count() >= 1, 30, "the first request")
    _, path, status = svc.since(0)[0]
    u = urllib.parse.urlsplit(path)
    q = urllib.parse.parse_qs(u.query)
    assert u.path == "/dataset/Elspotprices", path
    assert q["timezone"] == ["UTC"], path
    assert json.loads(q["filter"][0]) == {"PriceArea": ["DK1", "DK2"]}, path
    assert q["start"][0] <= "2023-06-01T12:00" < q["end"][0], path
    assert int(q["limit"][0]) > 0

    # the values held are the file's, at the policy clock's hour
    wait_for(lambda: (area_signal(ctl, "DK1") or {}).get("fresh"), 30, "DK1's price to be fresh")
    st, sig = ctl.get("/api/v1/signals")
    hour = sig["time"][:13]
    want = {r["PriceArea"]: r["SpotPriceEUR"] for r in svc.rows if r["HourUTC"][:13] == hour}
    assert set(want) == {"DK1", "DK2"}, (hour, want)
    for a in ("DK1", "DK2"):
        got = sig["areas"][a]["price_eur"]["value"]
        assert abs(got - want[a]) < 1e-6, (a, got, want[a])
    assert source(ctl)["state"] == "ok"

    # HTTP 429: stale, with the reason, an event, and the next request waits
    st, ev = ctl.get("/api/v1/events/poll?since=0&limit=1000")
    last = ev["last"]
    n429 = svc.count()
    svc.mode = "429"
    wait_for(lambda: source(ctl)["state"] == "failing", 30, "the source to be failing after HTTP 429")
    s = source(ctl)
    assert "429" in s["why"], s
    dk1 = area_signal(ctl, "DK1")
    assert dk1["fresh"] is False and dk1.get("why"), dk1
    st, ev = ctl.get("/api/v1/events/poll?since=%d&limit=1000" % last)
    assert any(e["type"] == "signal.stale" for e in ev["events"]), ev
    # a stale signal moves nothing: the plan says so for every workload (none here),
    # and the policy loop still runs
    st, pol = ctl.get("/api/v1/policy")
    ticks = pol["ticks"]
    wait_for(lambda: ctl.get("/api/v1/policy")[1]["ticks"] > ticks + 2, 30, "the policy loop to keep running")
    # wait for at least two requests answered 429, then check their spacing
    wait_for(lambda: sum(1 for r in svc.since(n429) if r[2] == 429) >= 2, 60, "a retry after the 429")
    reqs = [r for r in svc.since(n429) if r[2] == 429]
    gap = reqs[1][0] - reqs[0][0]
    assert gap >= svc.retry_after - 0.05, "the retry came %.2f s after a 429 with Retry-After %d" % (
        gap, svc.retry_after)

    # a malformed answer: failing, and why says what was wrong
    svc.mode = "garbage"
    nbad = svc.count()
    wait_for(lambda: any(r[2] == 200 for r in svc.since(nbad)), 60, "a request answered with garbage")
    wait_for(lambda: "429" not in (source(ctl)["why"] or ""), 30, "the reason to change")
    s = source(ctl)
    assert s["state"] == "failing" and "Elspotprices" in s["why"], s
    assert area_signal(ctl, "DK2")["fresh"] is False

    # recovery
    st, ev = ctl.get("/api/v1/events/poll?since=0&limit=1000")
    last = ev["last"]
    svc.mode = "ok"
    wait_for(lambda: source(ctl)["state"] == "ok", 60, "the source to recover")
    assert area_signal(ctl, "DK1")["fresh"] is True
    st, ev = ctl.get("/api/v1/events/poll?since=%d&limit=1000" % last)
    assert any(e["type"] == "signal.fresh" for e in ev["events"]), ev

    # the pace: never more than 40 requests in 10 s
    times = [r[0] for r in svc.since(0)]
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + 10) <= 40

    # the cache: a restarted controller without the service still has the samples
    ctl.stop()
    svc.mode = "500"
    os.rename(os.path.join(tmp, "controller.log"), os.path.join(tmp, "controller-1.log"))
    ctl2 = Controller(tmp, ["--clock-start", CLOCK_START])
    try:
        dk1 = area_signal(ctl2, "DK1")
        assert dk1 and dk1["value"] is not None and abs(dk1["value"] - want["DK1"]) < 1e-6, dk1
    finally:
        ctl2.stop()
