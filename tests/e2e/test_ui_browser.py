"""The web UI in Debian's Chromium (playwright-core), against a real controller and
real agents on harness hosts: sign in, add a workload through the form, migrate
it and watch it reach committed, cancel a migration, see a failure reported,
paste JSON, live updates, reconciliation shown live, the workloads view's paging
and filters, the automatic-migration policy (its settings, hosts' areas and
signals, a policy move and a drain with their decisions), every view at desktop
and phone width, and pasting the old system's workload spec. Each scenario is a
function of ui.mjs; these tests start it and then check through the REST API
that what the page showed really happened. Screenshots go to $FLYT_UI_ARTIFACTS
(meson: BUILD/tests/e2e/artifacts)."""
import json
import os
import re
import shutil
import signal
import subprocess

import pytest

import engines
import harness

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WEB_DIR = os.path.join(ROOT, "web")
ARTIFACTS = os.environ.get("FLYT_UI_ARTIFACTS") or os.path.join(harness.BUILD_DIR, "tests", "e2e", "artifacts")
CHROMIUM = os.environ.get("FLYT_CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node") or "/usr/bin/node"


def missing():
    if not os.access(CHROMIUM, os.X_OK):
        return "Chromium is not installed at %s (scripts/setup.sh installs Debian's chromium)" % CHROMIUM
    if not os.path.isdir(os.path.join(WEB_DIR, "node_modules", "playwright-core")):
        return "web/node_modules lacks playwright-core (run npm ci in web/; scripts/setup.sh does)"
    return None


@pytest.fixture(scope="module", autouse=True)
def browser_ready():
    why = missing()
    if why:
        pytest.fail("the browser tests cannot run: " + why, pytrace=False)
    os.makedirs(ARTIFACTS, exist_ok=True)


# The browser runs in the network namespace of h3 (whose agent the fixture
# stopped): Chromium aborts every request in flight with ERR_NETWORK_CHANGED when
# the addresses of its namespace change, which other tests on this machine do to
# the root namespace all the time (their bridges and veths). From h3 it reaches
# the controller and the agents over the cluster's bridge, like a client would.
BROWSER_NS_HOST = "h3"


def ui(cluster, scenario, timeout=300, **env):
    """Runs one scenario of ui.mjs; returns its RESULT object."""
    e = cluster.env({
        "FLYT_UI_URL": cluster.controller_url,
        "FLYT_TOKEN_FILE": cluster.token_file,
        "FLYT_ARTIFACTS": ARTIFACTS,
        "FLYT_WEB_DIR": WEB_DIR,
        "FLYT_CHROMIUM": CHROMIUM,
        # over TLS: Node's fetch trusts the cluster CA, Chromium the controller's key
        "NODE_EXTRA_CA_CERTS": cluster.ca_file,
        "FLYT_UI_CERT": os.path.join(cluster.tls_dir, "cert.pem"),
        "FLYT_CLIENT_CERT": os.path.join(cluster.tls_dir, "cert.pem"),
        "FLYT_CLIENT_KEY": os.path.join(cluster.tls_dir, "key.pem"),
    })
    e.pop("FLYT_TEST_ID", None)  # the browser is not a workload: the harness must not kill it as one
    e.update({k: str(v) for k, v in env.items()})
    argv = ["nsenter", "--net=/run/netns/%s" % cluster.hosts[BROWSER_NS_HOST].ns, "--", NODE,
            os.path.join(HERE, "ui.mjs"), scenario]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e, timeout=timeout)
    results = [line[len("RESULT "):] for line in r.stdout.splitlines() if line.startswith("RESULT ")]
    assert r.returncode == 0 and len(results) == 1, "scenario %s failed (exit %d):\n%s\n%s" % (
        scenario, r.returncode, r.stdout[-4000:], r.stderr[-8000:])
    return json.loads(results[0])


def fake(cluster, name, host="h1", **spec):
    return cluster.api("POST", "/api/v1/workloads", {"name": name, "kind": "fake", "host": host, "spec": spec},
                       expect=201).json


def migrations_of(cluster, name):
    return cluster.api("GET", "/api/v1/migrations?workload=%s" % name, expect=200).json["migrations"]


def test_sign_in(ui_cluster):
    r = ui(ui_cluster, "signin")
    assert r["cookie"] == {"httpOnly": True, "sameSite": "Strict", "path": "/"}, r


def test_add_workload_through_the_form_then_migrate_it(ui_cluster):
    c = ui_cluster
    payload = '<img src=x onerror="window.__flytXss=1"> & "quotes" </pre>'
    ui(c, "add-form", FLYT_WORKLOAD="web1", FLYT_SOURCE="h1", FLYT_PAYLOAD=payload)
    w = c.workload("web1")
    assert (w["kind"], w["host"], w["state"]) == ("fake", "h1", "running"), w
    assert w["spec"] == {"payload": payload, "delay_ms": 1500}, w["spec"]
    assert "web1" in c.agent_workloads("h1")

    r = ui(c, "migrate", FLYT_WORKLOAD="web1", FLYT_TARGET="h2", FLYT_OFFLINE_HOST="h3")
    # the page showed it running (a phase before committed), then committed
    assert r["during"] and not r["during"].startswith("committed"), r
    ms = migrations_of(c, "web1")
    assert len(ms) == 1 and ms[0]["state"] == "committed" and ms[0]["target"] == "h2", ms
    assert ms[0]["mode"] == "stop-copy" and ms[0]["mode_requested"] == "stop-copy", ms[0]
    assert c.workload("web1")["host"] == "h2"
    assert "web1" in c.agent_workloads("h2") and "web1" not in c.agent_workloads("h1")
    # the generation counter of the fake workload went up: its state travelled
    assert c.agent_workloads("h2")["web1"]["generation"] == 1
    assert r["row"][1] == "h1 → h2" and r["row"][3] == "committed", r["row"]


def test_cancel_a_migration(ui_cluster):
    c = ui_cluster
    fake(c, "slow", delay_ms=120000)
    r = ui(c, "cancel", FLYT_WORKLOAD="slow", FLYT_TARGET="h2")
    ms = migrations_of(c, "slow")
    assert len(ms) == 1 and ms[0]["state"] == "rolled_back", ms
    assert "cancel" in ms[0]["error"] and r["reason"] == ms[0]["error"], (r, ms[0])
    assert "cancel requested" in [j.get("note") for j in c.api("GET", "/api/v1/migrations/%s" % ms[0]["id"]).json[
        "journal"]]
    w = c.workload("slow")
    assert (w["host"], w["state"]) == ("h1", "running"), w
    assert "slow" in c.agent_workloads("h1") and "slow" not in c.agent_workloads("h2")


def test_a_failed_migration_is_reported(ui_cluster):
    c = ui_cluster
    fake(c, "broken", fail="restore")
    r = ui(c, "failure", FLYT_WORKLOAD="broken", FLYT_TARGET="h2", FLYT_SOURCE="h1")
    ms = migrations_of(c, "broken")
    assert len(ms) == 1 and ms[0]["state"] == "rolled_back" and "restore" in ms[0]["error"], ms
    assert r["reason"] == ms[0]["error"], r
    assert "broken runs on h1 again" in r["note"], r
    w = c.workload("broken")
    assert (w["host"], w["state"]) == ("h1", "running"), w


def test_paste_json(ui_cluster):
    c = ui_cluster
    ui(c, "paste-json", FLYT_WORKLOAD="pasted", FLYT_SOURCE="h2")
    w = c.workload("pasted")
    assert (w["kind"], w["host"], w["spec"]) == ("fake", "h2", {"payload": "pasted"}), w


def test_live_updates(ui_cluster):
    c = ui_cluster
    ui(c, "live", FLYT_WORKLOAD="live1", FLYT_SOURCE="h1")
    assert c.api("GET", "/api/v1/workloads/live1").status == 404


def test_reconciliation_shows_without_reload(ui_cluster):
    c = ui_cluster
    fake(c, "twin", host="h1")
    r = ui(c, "reconcile", FLYT_WORKLOAD="twin", FLYT_SOURCE="h1", FLYT_TARGET="h2",
           FLYT_TARGET_URL=c.hosts["h2"].url)
    assert "two copies" in r["error"], r
    w = c.workload("twin")
    assert (w["host"], w["state"]) == ("h1", "running") and not w.get("copies"), w
    assert "twin" in c.agent_workloads("h1") and "twin" not in c.agent_workloads("h2")
    c.api("DELETE", "/api/v1/workloads/twin", expect=(200, 204))


def test_workloads_view_pages_and_filters_on_the_server(ui_cluster):
    c = ui_cluster
    count = 120
    for i in range(count):
        fake(c, "pg%03d" % i, host="h1" if i % 2 == 0 else "h2")
    r = ui(c, "paging", FLYT_PREFIX="pg", FLYT_COUNT=count, FLYT_TARGET="h2")
    assert r["pages"] == ["1\u201350 of 120 workloads", "51\u2013100 of 120 workloads",
                          "101\u2013120 of 120 workloads"], r
    assert "host=h2" in r["url"] and "limit=100" in r["url"], r["url"]
    # what the view showed is what the controller holds
    assert c.api("GET", "/api/v1/workloads?q=pg&host=h2&limit=1").json["total"] == count // 2
    for i in range(count):
        c.api("DELETE", "/api/v1/workloads/pg%03d" % i, expect=(200, 204))


POLICY_DEFAULTS = {"policy": "none", "min_gain_pct": 10, "min_dwell_ms": 3600000, "max_concurrent": 1,
                   "max_per_hour": 6, "cpu_high_pct": 90, "mem_high_pct": 90, "idle_watts": 100, "max_watts": 250}


def test_energy_policy_through_the_ui(ui_cluster):
    """The conftest's controller replays signals where DK1 (200 g/kWh, 80 EUR/MWh)
    is dirtier and dearer than DK2 (50 g/kWh, 40 EUR/MWh), and SE3's data ended a
    day ago; the policy runs every second."""
    c = ui_cluster
    fake(c, "green1", host="h1")
    try:
        r = ui(c, "energy", FLYT_WORKLOAD="green1", FLYT_SOURCE="h1", FLYT_TARGET="h2", FLYT_OFFLINE_HOST="h3",
               FLYT_AREAS="h1=DK1,h2=DK2,h3=SE3")
        # settings: what the page showed after a reload is what the controller holds
        assert r["saved"] == {"policy": "greenest", "min_gain_pct": "20", "min_dwell": "30m",
                              "max_concurrent": "4"}, r["saved"]
        p = c.api("GET", "/api/v1/policy", expect=200).json
        assert (p["policy"], p["min_gain_pct"], p["min_dwell_ms"], p["max_concurrent"], p["max_per_hour"],
                p["cpu_high_pct"], p["mem_high_pct"]) == ("greenest", 20, 1800000, 4, 100, 100, 100), p
        assert (p["idle_watts"], p["max_watts"]) == (100, 250), p
        assert r["serverError"].endswith("max_watts (200) must not be below idle_watts (300)"), r["serverError"]
        # hosts: areas and the power model as set through their cards
        hosts = {h["name"]: h for h in c.api("GET", "/api/v1/hosts", expect=200).json["hosts"]}
        assert {n: (h["area"], h["area_source"]) for n, h in hosts.items()} == {
            "h1": ("DK1", "set"), "h2": ("DK2", "set"), "h3": ("SE3", "set")}, hosts
        assert hosts["h1"]["power"] == {"idle_watts": 90, "max_watts": 300}, hosts["h1"]["power"]
        assert hosts["h2"]["power"] == {"idle_watts": None, "max_watts": None}
        assert not hosts["h2"]["drain"], "h2 still drains after Undrain"
        # the signal of each host's area as the controller has it, stale marked
        assert "CO₂ 200 g/kWh" in r["signals"]["h1"] and "price 80.00 EUR/MWh" in r["signals"]["h1"], r["signals"]
        assert "CO₂ 50 g/kWh" in r["signals"]["h2"] and "price 40.00 EUR/MWh" in r["signals"]["h2"], r["signals"]
        assert "stale" in r["signals"]["h3"] and "ends at" in r["signals"]["h3"], r["signals"]
        sig = c.api("GET", "/api/v1/signals", expect=200).json["areas"]
        assert sig["SE3"]["co2"]["fresh"] is False and sig["DK1"]["co2"]["value"] == 200, sig
        energy = c.api("GET", "/api/v1/energy", expect=200).json
        for h in ("h1", "h2"):
            assert re.match(r"\d+(\.\d+)? [kM]?Wh · ", r["energy"][h]), r["energy"]
            assert energy["host"][h]["energy_wh"] > 0, energy["host"]
        # the greenest move, then the drain back: both decided, explained, committed
        assert r["greener"].startswith("DK2 is greener: 50 g/kWh there against 200 g/kWh here in DK1"), r
        moves = c.api("GET", "/api/v1/decisions?workload=green1&action=move", expect=200).json
        assert moves["total"] == 2 and [d["code"] for d in moves["decisions"]] == ["drain", "greener"], moves
        drain, greener = moves["decisions"]
        assert (drain["host"], drain["target"], drain["migration"]) == ("h2", "h1", r["migration"]), drain
        assert r["drain"] == drain["reason"] and "its host h2 is draining" in drain["reason"], (r["drain"], drain)
        assert (greener["host"], greener["target"], greener["reason"]) == ("h1", "h2", r["greener"]), greener
        assert r["alternative"][:3] == ["h1", "DK1", "yes"], r["alternative"]
        assert "drain" in r["startedBy"], r["startedBy"]
        ms = migrations_of(c, "green1")
        assert [(m["source"], m["target"], m["state"]) for m in ms] == [("h2", "h1", "committed"),
                                                                          ("h1", "h2", "committed")], ms
        assert ms[0]["id"] == drain["migration"] and ms[1]["id"] == greener["migration"]
        assert c.workload("green1")["host"] == "h1" and "green1" in c.agent_workloads("h1")
        assert "green1" not in c.agent_workloads("h2")
    finally:
        # the other tests of this module expect no policy and no drain
        c.api("PATCH", "/api/v1/policy", POLICY_DEFAULTS, expect=200)
        c.api("PATCH", "/api/v1/hosts/h2", {"drain": False}, expect=200)
        c.api("PATCH", "/api/v1/workloads/green1", {"auto_migrate": False}, expect=200)


def test_every_view_at_desktop_and_phone_width(ui_cluster):
    c = ui_cluster
    ms = migrations_of(c, "web1")
    if not ms:  # run alone: make a migration to show
        fake(c, "web1")
        c.migrate("web1", "h2")
        ms = migrations_of(c, "web1")
    r = ui(c, "views", FLYT_WORKLOAD="web1", FLYT_MIGRATION=ms[0]["id"], timeout=600)
    assert r["first"] == "Skip to content", r
    for view in ("hosts", "workloads", "workload", "add", "migrations", "migration", "decisions", "settings"):
        for size in ("1280x800", "phone"):
            path = os.path.join(ARTIFACTS, "view-%s-%s.png" % (view, size))
            assert os.path.getsize(path) > 5000, path


def docker_on(cluster, host):
    """A Docker engine on host, its agent restarted to use it (the module's
    cluster has none; only the next test needs one). The agent keeps its fake
    workloads across the restart; the cluster's teardown stops the engine."""
    h = cluster.hosts[host]
    if "docker" in h.engines:
        return h.engines["docker"]
    e = engines.DockerEngine(cluster, h)
    h.engines["docker"] = e
    flags = e.start()
    cluster.kill_agent(host, signal.SIGTERM)
    h.extra_args += flags
    cluster.start_agent(host)
    harness.wait_for(lambda: cluster.api("GET", "/api/v1/hosts/%s" % host).json["drivers"]["docker"]["available"], 60,
                     "the docker driver of %s" % host)
    return e


def test_paste_the_old_systems_spec(ui_cluster):
    why = engines.engine_skip_reason("docker")
    if why:
        pytest.skip(why)
    c = ui_cluster
    d = docker_on(c, "h1")
    d.cli("run", "-d", "--name", "oldbox", "busybox", "sleep", "1000000")
    engines.wait_running(c, d, "oldbox")
    r = ui(c, "paste-old", FLYT_WORKLOAD="oldbox", FLYT_SOURCE="h1", FLYT_TARGET="h2")
    assert r["noDocker"].startswith("on h2: the docker driver is not available"), r
    assert "oldbox-missing" in r["missing"], r
    w = c.workload("oldbox")
    assert (w["kind"], w["host"], w["state"]) == ("docker", "h1", "running"), w
    assert w["spec"]["container"] == "oldbox" and w["spec"]["image"] == "busybox", w["spec"]
    assert w["spec"]["legacy"]["Checkpoint"] is False and w["spec"]["legacy"]["AutoMigrate"] is False, w["spec"]
    assert c.api("GET", "/api/v1/workloads/oldbox-missing").status == 404
    c.api("DELETE", "/api/v1/workloads/oldbox", expect=(200, 204))
