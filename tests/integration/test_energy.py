"""Energy-aware automatic migration end to end: a replayed price signal changes,
and the controller's policy live-migrates a real workload (a memhog, with CRIU)
between two harness hosts in different electricity areas; then a drain empties
a host, live, whatever the prices say.

The controller replays a small Elspotprices CSV (the service's download form:
';' and decimal commas) on a replay clock: --clock-start 2024-01-01T00:00Z,
--clock-speed 360 (10 s of wall time are an hour of policy time). DK1 is the
cheaper area in the first hour, DK2 from 01:00 on. Nothing here waits for the
clock: the assertions are about what the controller decided and when (in policy
time), whatever the machine's speed."""
import json
import os

from harness import MemhogSnapshot, assert_moved, wait_for

PORT = 9610
FLIP = "2024-01-01T01:00:00Z"


def write_prices(path, hours=400):
    lines = ["HourUTC;HourDK;PriceArea;SpotPriceDKK;SpotPriceEUR"]
    for h in range(hours):
        day, hour = divmod(h, 24)
        utc = "2024-01-%02d %02d:00" % (1 + day, hour)
        dk = "2024-01-%02d %02d:00" % (1 + (h + 1) // 24, (h + 1) % 24)  # CET, UTC+1 in January
        dk1, dk2 = (10.0, 50.0) if h < 1 else (50.0, 10.0)
        for area, eur in (("DK1", dk1), ("DK2", dk2)):
            lines.append("%s;%s;%s;%s;%s" % (utc, dk, area, ("%.6f" % (eur * 7.45)).replace(".", ","),
                                             ("%.6f" % eur).replace(".", ",")))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def committed_migrations(c, name):
    return [m for m in c.api("GET", "/api/v1/migrations?workload=%s" % name, expect=200).json["migrations"]
            if m["state"] == "committed"]


def migration_ended(c, name, count):
    """The newest migration of name once `count` of them have ended (any way)."""
    ms = c.api("GET", "/api/v1/migrations?workload=%s" % name, expect=200).json["migrations"]
    ended = [m for m in ms if m["state"] in ("committed", "failed", "rolled_back", "cancelled")]
    return ended[0] if len(ended) >= count else None


def ticks(c):
    return c.api("GET", "/api/v1/policy", expect=200).json["ticks"]


def test_policy_follows_the_cheaper_area_then_drain(make_cluster, tmp_path):
    prices = str(tmp_path / "prices.csv")
    write_prices(prices)
    os.chmod(str(tmp_path), 0o755)
    c = make_cluster(controller_args=["--signals-file", prices, "--clock-start", "2024-01-01T00:00Z",
                                      "--clock-speed", "360", "--policy-interval", "300"])
    c.cli("host", "set", "h1", "--area", "DK1", "--idle-watts", "80", "--max-watts", "200")
    r = c.cli("host", "set", "h2", "--area", "dk2")
    assert "area DK2" in r.stdout, r.stdout
    # the machine's load and memory are other tests' too: no capacity limit here
    c.cli("policy", "set", "policy=cheapest", "cpu_high_pct=100", "mem_high_pct=100")
    pol = json.loads(c.cli("policy", "show", json=True).stdout)
    assert pol["policy"] == "cheapest" and pol["clock"]["speed"] == 360, pol

    c.create_memhog("app", "h1", port=PORT)
    plan = json.loads(c.cli("plan", "--all", json=True).stdout)
    d = [d for d in plan["decisions"] if d["workload"] == "app"]
    assert len(d) == 1 and d[0]["action"] == "stay" and d[0]["code"] == "auto_migrate_off", plan
    assert set(d[0]["inputs"]["areas"]) == {"DK1", "DK2"}, d[0]["inputs"]
    assert json.loads(c.cli("plan", json=True).stdout)["decisions"] == [], "plan without --all lists app"
    assert not committed_migrations(c, "app")

    snap = MemhogSnapshot(c, "app", PORT)
    r = c.cli("workload", "set", "app", "--auto-migrate", "on")
    assert "auto-migrate on" in r.stdout
    mig = None

    def moved():
        nonlocal mig
        mig = migration_ended(c, "app", 1)
        return mig
    wait_for(moved, 240, "the policy to migrate app")
    mig = c.api("GET", "/api/v1/migrations/%s" % mig["id"], expect=200).json
    assert_moved(c, snap, "h2", mig)
    origin = mig["options"]["origin"]
    assert origin["policy"] == "cheapest" and origin["code"] == "cheaper", origin

    # the stored decision explains it: DK1 dearer than DK2 at that time, after the flip
    moves = json.loads(c.cli("decision", "ls", "--workload", "app", "--action", "move", json=True).stdout)
    moves = moves["decisions"]
    assert len(moves) == 1, moves
    m = moves[0]
    assert m["migration"] == mig["id"] and m["host"] == "h1" and m["target"] == "h2", m
    assert m["area"] == "DK1" and m["target_area"] == "DK2", m
    assert m["value_here"] == 50 and m["value_there"] == 10 and m["gain"] == 40, m
    assert m["policy_time"][:19] >= FLIP[:19], "moved at %s, before DK2 became cheaper (%s)" % (m["policy_time"], FLIP)
    full = json.loads(c.cli("decision", "show", m["id"], json=True).stdout)
    alts = {a["host"]: a for a in full["detail"]["alternatives"]}
    assert alts["h2"]["eligible"] and alts["h2"]["value"] == 10, alts
    assert "cheaper" in m["reason"] or "DK2" in m["reason"], m["reason"]
    ev = c.cli("events").stdout
    assert "policy.move" in ev and "workload=app" in ev, ev[-3000:]

    # flyt host ls shows the areas; flyt simulate without --fleet uses the inventory
    rows = [l.split() for l in c.cli("host", "ls").stdout.splitlines()[1:]]
    assert {r[0]: r[-1] for r in rows} == {"h1": "DK1", "h2": "DK2"}, rows
    sim = json.loads(c.cli("simulate", "--signals", prices, "--policy", "cheapest", "--to", "2024-01-03",
                           json=True).stdout)
    assert sorted(sim["areas"]) == ["DK1", "DK2"] and sim["cost"] <= sim["cost_stay"], sim
    assert [w["name"] for w in sim["workloads"]] == ["app"], sim["workloads"]

    # it stays: a few more policy runs, no further move
    t0 = ticks(c)
    wait_for(lambda: ticks(c) >= t0 + 10, 120, "ten more policy runs")
    assert c.workload("app")["host"] == "h2"
    assert len(c.api("GET", "/api/v1/migrations?workload=app", expect=200).json["migrations"]) == 1

    # energy accounting: the workload used energy and cost money, all of it priced
    wait_for(lambda: c.api("GET", "/api/v1/energy", expect=200).json["workload"].get("app", {}).get(
        "energy_wh", 0) > 0, 60, "energy to be accounted")
    e = c.api("GET", "/api/v1/energy", expect=200).json
    app = e["workload"]["app"]
    assert app["cost"] > 0 and abs(app["cost_wh"] - app["energy_wh"]) < 1e-6, app
    assert e["power_w"]["workload"]["app"] > 0 and "h2" in e["power_w"]["host"], e["power_w"]
    assert "app" in c.cli("energy").stdout

    # drain h2: app goes back to h1 although DK1 is dearer, and h2 gets nothing
    snap = MemhogSnapshot(c, "app", PORT)
    r = c.cli("host", "set", "h2", "--drain")
    assert "draining" in r.stdout, r.stdout
    wait_for(lambda: migration_ended(c, "app", 2), 240, "the drain to move app")
    mig = c.api("GET", "/api/v1/migrations/%s" % migration_ended(c, "app", 2)["id"], expect=200).json
    assert_moved(c, snap, "h1", mig)
    assert mig["options"]["origin"]["code"] == "drain", mig["options"]
    assert c.api("GET", "/api/v1/workloads?host=h2", expect=200).json["workloads"] == []
    t0 = ticks(c)
    wait_for(lambda: ticks(c) >= t0 + 10, 120, "ten more policy runs")
    assert c.workload("app")["host"] == "h1", "a workload went back to the draining host"
    plan = json.loads(c.cli("plan", json=True).stdout)
    d = [d for d in plan["decisions"] if d["workload"] == "app"][0]
    assert d["action"] != "move", d
    alts = {a["host"]: a for a in d["alternatives"]}
    assert "h2" not in alts or not alts["h2"]["eligible"], alts


def test_failed_policy_migration_is_held(make_cluster, tmp_path):
    """A policy migration that fails holds its workload (failure_hold_ms): no
    retry in a loop. The workload is of the agents' fake driver, told to fail its
    dump."""
    prices = str(tmp_path / "prices.csv")
    write_prices(prices)
    c = make_cluster(controller_args=["--signals-file", prices, "--clock-start", "2024-01-01T02:00Z",
                                      "--clock-speed", "360", "--policy-interval", "300"])
    c.cli("host", "set", "h1", "--area", "DK1")
    c.cli("host", "set", "h2", "--area", "DK2")
    c.cli("policy", "set", "policy=cheapest", "failure_hold_ms=1d", "cpu_high_pct=100", "mem_high_pct=100")
    c.api("POST", "/api/v1/workloads", {"name": "flaky", "kind": "fake", "host": "h1",
                                        "spec": {"payload": "x", "fail": "dump"}}, expect=201)
    wait_for(lambda: c.workload("flaky")["state"] == "running", 30, "the fake workload to run")
    c.cli("workload", "set", "flaky", "--auto-migrate", "on")
    wait_for(lambda: migration_ended(c, "flaky", 1), 120, "the policy's migration of flaky to end")
    m = migration_ended(c, "flaky", 1)
    assert m["state"] in ("failed", "rolled_back"), m

    def held():
        return c.api("GET", "/api/v1/policy", expect=200).json["holds"].get("flaky")
    wait_for(held, 60, "flaky to be held")
    h = held()
    assert h["failures"] == 1 and m["id"] in h["reason"], h
    t0 = ticks(c)
    wait_for(lambda: ticks(c) >= t0 + 10, 120, "ten more policy runs")
    assert len(c.api("GET", "/api/v1/migrations?workload=flaky", expect=200).json["migrations"]) == 1, \
        "the policy tried the failing migration again"
    plan = json.loads(c.cli("plan", json=True).stdout)
    d = [d for d in plan["decisions"] if d["workload"] == "flaky"][0]
    assert d["action"] == "stay" and d["code"] == "hold", d
    assert "policy.hold" in c.cli("events").stdout
