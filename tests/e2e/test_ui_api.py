"""The controller's API as the web UI uses it: sign-in and sessions, the CSRF
check on every state-changing request made with the session cookie, every
endpoint the UI calls (with the cookie, as the browser does): the inventory,
migrations, the automatic-migration policy (settings, plans, decisions, signals,
energy, hosts' areas and drains, workloads' auto-migrate flag), the old
system's workload spec; the live events, and how the UI's files are served
(headers, caching, compression)."""
import gzip
import json
import re
import sqlite3
import threading
import time

import pytest

import harness


class Answer:
    def __init__(self, resp, raw):
        self.status = resp.status
        self.headers = resp.headers
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<HTTP %d %r>" % (self.status, self.raw[:300])


def call(c, method, path, body=None, cookie=None, csrf=None, token=None, headers=None, timeout=30):
    conn = c.connection(c.controller_url, timeout)
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = cookie
    if csrf:
        h["X-CSRF-Token"] = csrf
    if token:
        h["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        return Answer(resp, resp.read())
    finally:
        conn.close()


class Session:
    """A browser's view: the cookie and the CSRF token from signing in."""

    def __init__(self, c):
        r = call(c, "POST", "/api/v1/session", {"token": c.token}, headers={"User-Agent": "pytest <ua>"})
        assert r.status == 201, r
        # over TLS the cookie is Secure: browsers send it over HTTPS only
        m = re.fullmatch(r"flyt_session=([0-9a-f]{64}); Path=/; Max-Age=(\d+); HttpOnly; SameSite=Strict; Secure",
                         r.headers["Set-Cookie"])
        assert m, r.headers["Set-Cookie"]
        self.id = m.group(1)
        self.max_age = int(m.group(2))
        self.cookie = "other=1; flyt_session=%s; x=y" % self.id
        self.csrf = r.json["csrf"]
        self.body = r.json
        self.c = c

    def get(self, path, **kw):
        return call(self.c, "GET", path, cookie=self.cookie, **kw)

    def write(self, method, path, body=None, **kw):
        return call(self.c, method, path, body, cookie=self.cookie, csrf=self.csrf, **kw)


def fake(c, name, host="h1", **spec):
    return c.api("POST", "/api/v1/workloads", {"name": name, "kind": "fake", "host": host, "spec": spec},
                 expect=201).json


def test_sign_in_and_session(ui_cluster):
    c = ui_cluster
    assert call(c, "POST", "/api/v1/session", {"token": "0" * 64}).status == 401
    assert call(c, "POST", "/api/v1/session", {}).status == 400
    assert call(c, "POST", "/api/v1/session", {"token": c.token, "remember": True}).status == 400
    s = Session(c)
    assert s.max_age == 720 * 60
    assert set(s.body) == {"csrf", "created", "expires", "peer", "agent", "role"}, s.body  # never the session id
    assert s.body["role"] == "admin", s.body
    assert re.fullmatch(r"[0-9a-f]{64}", s.csrf) and s.csrf != s.id
    assert s.body["agent"] == "pytest <ua>" and s.body["peer"] == c.bridge_ip

    # who am I: nobody, the session (with its CSRF token again, for a reloaded page), the token
    r = call(c, "GET", "/api/v1/session")
    assert r.status == 200 and r.json == {"signed_in": False}, r
    r = s.get("/api/v1/session")
    assert r.status == 200 and r.json["signed_in"] and r.json["via"] == "session" and r.json["csrf"] == s.csrf, r
    r = call(c, "GET", "/api/v1/session", token=c.token)
    assert r.json == {"signed_in": True, "via": "token", "role": "admin"}, r
    assert call(c, "GET", "/api/v1/session", token="f" * 64).status == 401

    # sessions list: no ids or CSRF tokens, the caller's marked
    r = s.get("/api/v1/sessions")
    assert r.status == 200
    mine = [x for x in r.json["sessions"] if x["current"]]
    assert len(mine) == 1 and "csrf" not in mine[0] and "id" not in mine[0], r.json
    assert s.id not in r.raw.decode() and s.csrf not in r.raw.decode()

    # a made-up or malformed session id is nobody
    for cookie in ("flyt_session=" + "a" * 64, "flyt_session=" + s.id[:-1], "flyt_session=" + s.id.upper(),
                   "flyt_session=%s;" % ("../" * 21 + "x")):
        r = call(c, "GET", "/api/v1/hosts", cookie=cookie)
        assert r.status == 401, (cookie, r)

    # sign out: the cookie is cleared and no longer works
    r = s.write("DELETE", "/api/v1/session")
    assert r.status == 200 and "Max-Age=0" in r.headers["Set-Cookie"], r
    assert s.get("/api/v1/hosts").status == 401
    assert s.get("/api/v1/session").json == {"signed_in": False}
    assert call(c, "DELETE", "/api/v1/session", token=c.token).status == 400


def test_csrf_on_every_state_changing_request(ui_cluster):
    c = ui_cluster
    s = Session(c)
    other = Session(c)
    fake(c, "csrf1")
    writes = [
        ("POST", "/api/v1/workloads", {"name": "csrf2", "kind": "fake", "host": "h1", "spec": {}}),
        ("POST", "/api/v1/workloads/csrf1/stop", None),
        ("POST", "/api/v1/workloads/csrf1/start", None),
        ("POST", "/api/v1/migrations", {"workload": "csrf1", "target": "h2"}),
        ("POST", "/api/v1/migrations/%s/cancel" % ("0" * 32), None),
        ("DELETE", "/api/v1/workloads/csrf1", None),
        ("POST", "/api/v1/hosts", {"url": "http://198.18.0.1:1"}),
        ("DELETE", "/api/v1/hosts/h3", None),
        ("DELETE", "/api/v1/session", None),
        ("DELETE", "/api/v1/sessions", None),
        ("PATCH", "/api/v1/policy", {"min_gain_pct": 11}),
        ("PATCH", "/api/v1/hosts/h1", {"area": "DK1", "drain": True}),
        ("PATCH", "/api/v1/workloads/csrf1", {"auto_migrate": True}),
        ("POST", "/api/v1/workloads?host=h1", {"Identifier": "csrf4", "Type": "Container",
                                               "Containerproperties": {"ContainerID": "csrf4"}}),
    ]
    for method, path, body in writes:
        for csrf in (None, "", "0" * 64, other.csrf, s.csrf[:-1], s.csrf + "0"):
            r = call(c, method, path, body, cookie=s.cookie, csrf=csrf)
            assert r.status == 403 and r.json["error"]["code"] == "forbidden", (method, path, csrf, r)
            assert "X-CSRF-Token" in r.json["error"]["message"]
    # nothing happened
    assert c.api("GET", "/api/v1/workloads/csrf2").status == 404
    assert c.workload("csrf1")["state"] == "running"
    assert c.api("GET", "/api/v1/migrations?workload=csrf1", expect=200).json["migrations"] == []
    assert s.get("/api/v1/session").json["signed_in"]
    assert c.api("GET", "/api/v1/policy", expect=200).json["min_gain_pct"] == 10
    h1 = c.api("GET", "/api/v1/hosts/h1", expect=200).json
    assert h1["area"] is None and h1["drain"] is False, h1
    assert c.workload("csrf1")["auto_migrate"] is False
    # with the token of its own session each goes through to the handler
    r = s.write("POST", "/api/v1/workloads/csrf1/stop")
    assert r.status == 200 and r.json["state"] == "stopped", r
    r = s.write("POST", "/api/v1/workloads/csrf1/start")
    assert r.status == 200 and r.json["state"] == "running", r
    r = s.write("DELETE", "/api/v1/workloads/csrf1")
    assert r.status == 200, r
    # a bearer token needs no CSRF token (no browser sends it by itself)
    r = call(c, "POST", "/api/v1/workloads", {"name": "csrf3", "kind": "fake", "host": "h1", "spec": {}},
             token=c.token)
    assert r.status == 201, r
    # a wrong bearer token is not rescued by a good cookie
    r = call(c, "GET", "/api/v1/hosts", cookie=s.cookie, token="f" * 64)
    assert r.status == 401
    # reads need no CSRF token
    assert s.get("/api/v1/hosts").status == 200


def test_every_endpoint_the_ui_reads(ui_cluster):
    c = ui_cluster
    s = Session(c)
    for i in range(7):
        fake(c, "page%02d" % i, host="h1" if i % 2 else "h2", payload="p%d" % i)
    r = s.get("/api/v1/hosts")
    hosts = {h["name"]: h for h in r.json["hosts"]}
    assert r.status == 200 and hosts["h1"]["state"] == "online" and hosts["h3"]["state"] == "offline", r
    assert hosts["h1"]["drivers"]["fake"]["available"] is True
    assert s.get("/api/v1/hosts/h2").json["name"] == "h2"
    assert s.get("/api/v1/hosts/nope").status == 404

    # the workloads list filters and pages on the server
    r = s.get("/api/v1/workloads?q=page&limit=3&offset=0")
    assert r.json["total"] == 7 and [w["name"] for w in r.json["workloads"]] == ["page00", "page01", "page02"], r
    r = s.get("/api/v1/workloads?q=page&limit=3&offset=6")
    assert [w["name"] for w in r.json["workloads"]] == ["page06"] and r.json["total"] == 7
    r = s.get("/api/v1/workloads?q=page&host=h1&kind=fake&state=running")
    assert [w["name"] for w in r.json["workloads"]] == ["page01", "page03", "page05"] and r.json["total"] == 3
    assert s.get("/api/v1/workloads?q=page&state=stopped").json["total"] == 0
    assert s.get("/api/v1/workloads?q=page&kind=process").json["total"] == 0
    assert s.get("/api/v1/workloads?limit=10001").status == 400
    assert s.get("/api/v1/workloads?host=%3Cb%3E").status == 400

    w = s.get("/api/v1/workloads/page01").json
    assert w["spec"] == {"payload": "p1"} and w["host"] == "h1" and w["state"] == "running", w
    r = s.get("/api/v1/workloads/page01/logs?stream=stdout&tail=16384")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain"), r
    assert s.get("/api/v1/workloads/page01/logs?stream=both").status == 400

    # the migrate picker: every other host, whether it can take the workload and why not
    r = s.get("/api/v1/workloads/page01/targets")
    assert r.status == 200 and r.json["source"] == "h1" and r.json["kind"] == "fake", r
    t = {x["host"]: x for x in r.json["targets"]}
    assert set(t) == {"h2", "h3"}, t
    assert t["h2"]["compatible"] is True and t["h2"]["reason"] is None and t["h2"]["mode"] == "stop-copy", t
    assert t["h2"]["modes"]["lazy"]["available"] is True
    assert t["h3"]["compatible"] is False and t["h3"]["reason"] == "offline" and t["h3"]["state"] == "offline"
    assert s.get("/api/v1/workloads/nope/targets").status == 404

    r = s.get("/api/v1/info")
    assert r.status == 200 and r.json["session_ttl_min"] == 720 and r.json["token_file"] == c.token_file, r
    assert c.token not in r.raw.decode()

    # a migration as the UI starts it, with its record and the history filter
    r = s.write("POST", "/api/v1/migrations", {"workload": "page01", "target": "h2", "mode": "auto"})
    assert r.status == 202 and r.json["mode"] == "stop-copy", r
    m = c.wait_migration(r.json["id"])
    assert m["state"] == "committed", m
    r = s.get("/api/v1/migrations?workload=page01&limit=100")
    assert [x["id"] for x in r.json["migrations"]] == [m["id"]]
    r = s.get("/api/v1/migrations/%s" % m["id"])
    assert [j["phase"] for j in r.json["journal"]][0] == "planned" and r.json["journal"][-1]["phase"] == "committed"
    r = s.get("/api/v1/migrations?limit=500")
    assert m["id"] in [x["id"] for x in r.json["migrations"]]


def error_of(r):
    return r.json["error"]["message"] if r.json and "error" in r.json else r.raw.decode()


POLICY_DEFAULTS = {"policy": "none", "min_gain_pct": 10, "min_dwell_ms": 3600000, "max_concurrent": 1,
                   "max_per_hour": 6, "cpu_high_pct": 90, "mem_high_pct": 90, "idle_watts": 100, "max_watts": 250}


def test_policy_settings_as_the_settings_form_sends_them(ui_cluster):
    c = ui_cluster
    s = Session(c)
    r = s.get("/api/v1/policy")
    assert r.status == 200, r
    p = r.json
    assert p["policy"] == "none" and p["interval_ms"] == 1000 and p["holds"] == {}, p
    assert set(POLICY_DEFAULTS) | {"currency", "min_gain_abs", "horizon_ms", "band_pct", "band_window_ms",
                                   "failure_hold_ms", "clock", "ticks"} <= set(p), p
    assert {k: p[k] for k in POLICY_DEFAULTS} == POLICY_DEFAULTS, p
    # the refusals the form shows at their field: each message starts with the setting's name
    for body, field in [({"min_gain_pct": 1001}, "min_gain_pct"), ({"min_gain_pct": "ten"}, "min_gain_pct"),
                        ({"cpu_high_pct": 0}, "cpu_high_pct"), ({"mem_high_pct": 101}, "mem_high_pct"),
                        ({"min_dwell_ms": "1h"}, "min_dwell_ms"), ({"min_dwell_ms": 31 * 86400000}, "min_dwell_ms"),
                        ({"horizon_ms": 3 * 86400000}, "horizon_ms"), ({"band_window_ms": 1000}, "band_window_ms"),
                        ({"failure_hold_ms": 1000}, "failure_hold_ms"), ({"max_concurrent": 1.5}, "max_concurrent"),
                        ({"max_per_hour": 10001}, "max_per_hour"), ({"policy": "greediest"}, "policy"),
                        ({"currency": "USD"}, "currency"), ({"max_watts": 50}, "max_watts"),
                        ({"idle_watts": 300}, "max_watts"), ({"min_gain_abs": -1}, "min_gain_abs"),
                        ({"band_pct": 1e9}, "band_pct")]:
        r = s.write("PATCH", "/api/v1/policy", dict(body, min_gain_pct=body.get("min_gain_pct", 20)))
        assert r.status == 400 and error_of(r).startswith(field), (body, r)
    r = s.write("PATCH", "/api/v1/policy", {"colour": "green"})
    assert r.status == 400 and "colour" in error_of(r), r
    # none of it applied (min_gain_pct=20 came with every refused change)
    assert s.get("/api/v1/policy").json["min_gain_pct"] == 10
    # a change: only the fields sent, answered with every setting, kept, announced
    r = s.write("PATCH", "/api/v1/policy", {"policy": "band", "min_dwell_ms": 1800000, "band_pct": 7.5,
                                            "currency": "DKK"})
    assert r.status == 200 and (r.json["policy"], r.json["min_dwell_ms"], r.json["band_pct"], r.json["currency"]) == (
        "band", 1800000, 7.5, "DKK"), r
    assert r.json["min_gain_pct"] == 10 and r.json["max_watts"] == 250, r.json
    assert s.get("/api/v1/policy").json["policy"] == "band"
    ev = c.api("GET", "/api/v1/events/poll?since=0&limit=1000", expect=200).json["events"]
    assert any(e["type"] == "policy.changed" and e["policy"] == "band" for e in ev), ev[-5:]
    r = s.write("PATCH", "/api/v1/policy", dict(POLICY_DEFAULTS, currency="EUR", band_pct=5))
    assert r.status == 200 and r.json["policy"] == "none", r


def test_hosts_areas_power_models_drains_and_signals(ui_cluster):
    c = ui_cluster
    s = Session(c)
    r = s.write("PATCH", "/api/v1/hosts/h1", {"area": "dk1", "idle_watts": 90, "max_watts": 300})
    assert r.status == 200 and (r.json["area"], r.json["area_source"]) == ("DK1", "set"), r
    assert r.json["power"] == {"idle_watts": 90, "max_watts": 300} and r.json["drain"] is False, r.json
    assert s.write("PATCH", "/api/v1/hosts/h2", {"area": "DK2"}).json["area"] == "DK2"
    assert s.write("PATCH", "/api/v1/hosts/h3", {"area": "SE3"}).json["area"] == "SE3"  # offline: still settable
    for body, field in [({"area": "DK 1"}, "area"), ({"area": "A" * 16}, "area"), ({"area": 1}, "area"),
                        ({"idle_watts": -1}, "idle_watts"), ({"max_watts": "300"}, "max_watts"),
                        ({"max_watts": 2e6}, "max_watts"), ({"drain": "yes"}, "drain")]:
        r = s.write("PATCH", "/api/v1/hosts/h1", body)
        assert r.status == 400 and error_of(r).startswith(field), (body, r)
    assert s.write("PATCH", "/api/v1/hosts/h1", {"colour": "red"}).status == 400
    assert s.write("PATCH", "/api/v1/hosts/nope", {"area": "DK1"}).status == 404
    h1 = s.get("/api/v1/hosts/h1").json
    assert (h1["area"], h1["power"]["idle_watts"], h1["drain"]) == ("DK1", 90, False), h1
    # null goes back to the agent's area (none here) and the policy's power model
    r = s.write("PATCH", "/api/v1/hosts/h1", {"idle_watts": None, "max_watts": None})
    assert r.json["power"] == {"idle_watts": None, "max_watts": None} and r.json["area"] == "DK1", r.json
    r = s.write("PATCH", "/api/v1/hosts/h3", {"area": None})
    assert (r.json["area"], r.json["area_source"]) == (None, "none"), r.json
    r = s.write("PATCH", "/api/v1/hosts/h3", {"area": "SE3"})
    # drain and undrain (h3: it has no workload to move; the browser test drains one)
    r = s.write("PATCH", "/api/v1/hosts/h3", {"drain": True})
    assert r.status == 200 and r.json["drain"] is True, r
    assert [h["drain"] for h in s.get("/api/v1/hosts").json["hosts"] if h["name"] == "h3"] == [True]
    assert s.write("PATCH", "/api/v1/hosts/h3", {"drain": False}).json["drain"] is False
    # the signal of each area now, as the hosts view shows it (conftest.SIGNALS)
    r = s.get("/api/v1/signals")
    assert r.status == 200, r
    a = r.json["areas"]
    assert {k: (a["DK1"][k]["value"], a["DK1"][k]["unit"], a["DK1"][k]["fresh"]) for k in (
        "co2", "price_eur", "price_dkk")} == {"co2": (200, "g/kWh", True), "price_eur": (80, "EUR/MWh", True),
                                             "price_dkk": (596, "DKK/MWh", True)}, a["DK1"]
    assert (a["DK2"]["co2"]["value"], a["DK2"]["price_eur"]["value"]) == (50, 40), a["DK2"]
    assert a["DK1"]["hosts_here"] and a["DK2"]["hosts_here"] and a["SE3"]["hosts_here"]
    for k in ("co2", "price_eur"):
        assert a["SE3"][k]["fresh"] is False and a["SE3"][k]["value"] is None, a["SE3"]
        assert "SE3 ends at" in a["SE3"][k]["why"], a["SE3"]
    assert [x["dataset"] for x in r.json["sources"]] == ["CO2Emis", "Elspotprices"], r.json["sources"]


def test_a_policy_move_its_decision_plan_energy_and_events(ui_cluster):
    c = ui_cluster
    s = Session(c)
    for h, area in (("h1", "DK1"), ("h2", "DK2")):
        s.write("PATCH", "/api/v1/hosts/%s" % h, {"area": area})
    fake(c, "eco1", host="h1")
    try:
        for body in ({"auto_migrate": "on"}, {"auto_migrate": None}, {"colour": 1}):
            r = s.write("PATCH", "/api/v1/workloads/eco1", body)
            assert r.status == 400, (body, r)
        assert s.write("PATCH", "/api/v1/workloads/nope", {"auto_migrate": True}).status == 404
        # what the policy would do, without doing it: auto-migrate is off, so nothing
        r = s.get("/api/v1/plan?workload=eco1&all=true")
        assert r.status == 200 and r.json["policy"] == "none" and len(r.json["decisions"]) == 1, r
        d = r.json["decisions"][0]
        assert (d["workload"], d["action"], d["code"], d["host"]) == ("eco1", "stay", "auto_migrate_off", "h1"), d
        assert {"DK1", "DK2"} <= set(d["inputs"]["areas"]) and "limits" in d["inputs"], d["inputs"]
        assert s.get("/api/v1/plan?workload=nope").status == 404
        assert s.get("/api/v1/plan?workload=%3Cb%3E").status == 400
        assert all(x["workload"] != "eco1" for x in s.get("/api/v1/plan").json["decisions"])

        r = s.write("PATCH", "/api/v1/policy", {"policy": "greenest", "cpu_high_pct": 100, "mem_high_pct": 100,
                                                "max_concurrent": 4, "max_per_hour": 100})
        assert r.status == 200 and r.json["policy"] == "greenest", r
        r = s.get("/api/v1/plan?workload=eco1&all=true")
        assert r.json["decisions"][0]["code"] == "auto_migrate_off", r.json
        # auto-migrate on: the policy moves it to DK2 (50 g/kWh against 200), and says so live
        events = start_sse(c, s.cookie, lambda evs: any(
            e["type"] == "policy.move" and e["workload"] == "eco1" for e in evs))
        r = s.write("PATCH", "/api/v1/workloads/eco1", {"auto_migrate": True})
        assert r.status == 200 and r.json["auto_migrate"] is True and r.json["name"] == "eco1", r
        got = events()
        types = [e["type"] for e in got]
        assert "workload.changed" in types, types
        ev = [e for e in got if e["type"] == "policy.move"][0]
        assert (ev["workload"], ev["host"], ev["target"], ev["code"], ev["action"]) == (
            "eco1", "h1", "h2", "greener", "move"), ev
        m = c.wait_migration(ev["migration"])
        assert m["state"] == "committed" and m["options"]["origin"]["code"] == "greener", m
        assert c.workload("eco1")["host"] == "h2"

        # the stored decision, short and whole
        r = s.get("/api/v1/decisions?workload=eco1&action=move")
        assert r.status == 200 and r.json["total"] == 1, r
        d = r.json["decisions"][0]
        assert (d["id"], d["migration"], d["code"], d["host"], d["target"]) == (
            ev["decision"], m["id"], "greener", "h1", "h2"), d
        assert (d["area"], d["target_area"], d["value_here"], d["value_there"], d["gain"], d["unit"]) == (
            "DK1", "DK2", 200, 50, 150, "g/kWh"), d
        assert d["saving"]["co2_g_per_h"] > 0 and d["saving"]["cost_per_h"] > 0, d["saving"]
        assert d["reason"] == ev["reason"] and "inputs" not in d, d
        r = s.get("/api/v1/decisions/%s" % d["id"])
        assert r.status == 200 and r.json["reason"] == d["reason"], r
        detail = r.json["detail"]
        alts = {a["host"]: a for a in detail["alternatives"]}
        assert alts["h2"]["eligible"] is True and alts["h2"]["value"] == 50 and alts["h2"]["gain"] == 150, alts
        assert alts["h3"]["eligible"] is False and alts["h3"]["note"] == "offline", alts
        assert detail["inputs"]["areas"]["DK1"]["co2"]["now"] == 200 and detail["inputs"]["workload"][
            "auto_migrate"] is True, detail["inputs"]
        assert s.get("/api/v1/decisions/%s" % ("0" * 32)).status == 404
        assert s.get("/api/v1/decisions/nope").status == 400

        # the list pages on the controller: total, limit, offset; filters checked
        every = s.get("/api/v1/decisions?workload=eco1&limit=1000").json
        assert every["total"] == len(every["decisions"]) >= 2, every
        assert [x["workload"] for x in every["decisions"]] == ["eco1"] * every["total"]
        page = s.get("/api/v1/decisions?workload=eco1&limit=1&offset=1").json
        assert page["decisions"] == every["decisions"][1:2] and page["total"] == every["total"], page
        assert s.get("/api/v1/decisions?workload=eco1&limit=5&offset=1000").json["decisions"] == []
        moves = s.get("/api/v1/decisions?action=move&limit=1000").json
        assert d["id"] in [x["id"] for x in moves["decisions"]] and {x["action"] for x in moves["decisions"]} == {
            "move"}, moves
        assert s.get("/api/v1/decisions?action=").json["total"] >= every["total"]
        for q in ("action=jump", "limit=10001", "offset=-1", "offset=x", "workload=%3Cb%3E"):
            assert s.get("/api/v1/decisions?" + q).status == 400, q

        # energy: what it used, priced by its host's area, and the power now
        def accounted():
            e = s.get("/api/v1/energy").json
            w = e["workload"].get("eco1")
            return e if w and w["co2_wh"] > 0 and w["cost_wh"] > 0 else None
        e = c.wait_for(accounted, 60, "eco1's energy to be accounted")
        w = e["workload"]["eco1"]
        assert w["energy_wh"] > 0 and w["co2_g"] > 0 and w["cost"] > 0 and w["since"], w
        assert set(e["host"]["h2"]) == {"energy_wh", "co2_g", "cost", "co2_wh", "cost_wh", "since"}, e["host"]
        assert e["power_w"]["workload"]["eco1"] > 0 and e["power_w"]["host"]["h2"] >= e["power_w"]["workload"][
            "eco1"], e["power_w"]
    finally:
        c.api("PATCH", "/api/v1/policy", POLICY_DEFAULTS, expect=200)
        c.api("PATCH", "/api/v1/workloads/eco1", {"auto_migrate": False}, expect=200)


def test_the_old_systems_spec_as_the_add_view_sends_it(ui_cluster):
    """Its success (a container adopted) needs Docker: the browser test does it."""
    c = ui_cluster
    s = Session(c)
    old = {"Identifier": "oldapi", "AccessIP": "0", "AccessPort": "0", "AutoMigrate": False, "Available": True,
           "SharedDir": "", "Type": "Container",
           "Containerproperties": {"ContainerID": "oldapi", "Image": "busybox", "Checkpoint": False}}
    for path, body, status, text in [
            ("/api/v1/workloads", old, 400, "names no host"),
            ("/api/v1/workloads?host=h1", dict(old, Identifier="Old Api"), 400, '"Identifier"'),
            ("/api/v1/workloads?host=h1", dict(old, Type="Pod"), 400, '"Type"'),
            ("/api/v1/workloads?host=h1", dict(old, Colour="red"), 400, "Colour"),
            ("/api/v1/workloads?host=h1", dict(old, Containerproperties=None), 400, "Containerproperties"),
            ("/api/v1/workloads?host=nope", old, 404, "no host nope"),
            ("/api/v1/workloads?host=%3Cb%3E", old, 400, "host"),
            ("/api/v1/workloads?host=h3", old, 503, "offline"),
            ("/api/v1/workloads?host=h1", old, 422, "docker driver is not available"),
            ("/api/v1/workloads?host=h1", {"name": "x1", "kind": "fake", "host": "h1", "spec": {}}, 400,
             "?host= goes with the old system's spec")]:
        r = s.write("POST", path, body)
        assert r.status == status and text in error_of(r), (path, body, r)
    assert c.api("GET", "/api/v1/workloads/oldapi").status == 404


def read_sse(c, cookie, until, timeout=60, opened=None):
    """Reads the event stream with the cookie until until(events) is true; sets
    the threading.Event opened once the controller answered (from then on every
    event published reaches this stream)."""
    conn = c.connection(c.controller_url, timeout)
    conn.request("GET", "/api/v1/events", headers={"Cookie": cookie, "Accept": "text/event-stream"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream", resp.status
    if opened:
        opened.set()
    events = []
    deadline = time.monotonic() + timeout
    buf = b""
    try:
        while time.monotonic() < deadline:
            chunk = resp.fp.read1(65536) if hasattr(resp.fp, "read1") else resp.read(1)
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                data = [l[6:] for l in block.decode().split("\n") if l.startswith("data: ")]
                if data:
                    events.append(json.loads(data[0]))
            if until(events):
                return events
    finally:
        conn.close()
    raise AssertionError("the event stream ended or timed out before the wanted events: %s" % events[-10:])


def start_sse(c, cookie, until, timeout=120):
    """Reads the event stream in a thread and returns once it is open; what it
    returns waits for until(events) and gives the events."""
    opened = threading.Event()
    got = {}

    def reader():
        try:
            got["events"] = read_sse(c, cookie, until, timeout=timeout, opened=opened)
        except BaseException as e:  # noqa: BLE001 - raised by the caller
            got["error"] = e
        opened.set()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    assert opened.wait(timeout), "the event stream did not open"

    def events():
        t.join(timeout + 30)
        assert not t.is_alive(), "the event stream reader did not end"
        if "error" in got:
            raise got["error"]
        return got["events"]
    return events


def test_live_events_carry_progress(ui_cluster):
    c = ui_cluster
    s = Session(c)
    fake(c, "prog", delay_ms=2000)
    # events published before the stream opens are not replayed (no since)
    events = start_sse(c, s.cookie, lambda evs: any(
        e["type"] == "migration.finished" and e["workload"] == "prog" for e in evs))
    r = s.write("POST", "/api/v1/migrations", {"workload": "prog", "target": "h2"})
    assert r.status == 202, r
    mine = [e for e in events() if e.get("workload") == "prog"]
    types = [e["type"] for e in mine]
    assert types[0] == "migration.created" and types[-1] == "migration.finished", types
    phases = [e["state"] for e in mine if e["type"] == "migration.phase"]
    assert phases[0] == "preparing" and phases[-1] == "committed", phases
    progress = [e for e in mine if e["type"] == "migration.progress"]
    assert progress and all(e["migration"] == r.json["id"] and "bytes" in e for e in progress), progress
    assert {e["phase"] for e in progress} <= {"preparing", "transferring", "restoring", "switching", "verifying"}


def test_session_expiry_and_ending_them_all(ui_cluster):
    c = ui_cluster
    a, b = Session(c), Session(c)
    # expire a in the store (as time would): it is refused at once
    db = sqlite3.connect(c.db, timeout=30)
    try:
        with db:
            db.execute("UPDATE sessions SET expires_ms = 1 WHERE id = ?", (a.id,))
    finally:
        db.close()
    assert a.get("/api/v1/hosts").status == 401
    assert a.get("/api/v1/session").json == {"signed_in": False}
    assert b.get("/api/v1/hosts").status == 200
    r = b.write("DELETE", "/api/v1/sessions")
    assert r.status == 200 and r.json["ended"] >= 1 and "Max-Age=0" in r.headers["Set-Cookie"], r
    assert b.get("/api/v1/hosts").status == 401
    assert call(c, "GET", "/api/v1/sessions", token=c.token).json["sessions"] == []


def test_ui_files_and_their_headers(ui_cluster):
    c = ui_cluster
    r = call(c, "GET", "/")
    assert r.status == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8", r
    csp = r.headers["Content-Security-Policy"]
    for d in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
              "base-uri 'none'"):
        assert d in csp, csp
    assert "unsafe" not in csp
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer" and r.headers["Cache-Control"] == "no-cache"
    html = r.raw.decode()
    assert c.token not in html and "<script>" not in html and " style=" not in html
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)
    assert len(assets) == 2 and any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    # revalidation: the same ETag answers 304 without a body
    etag = r.headers["ETag"]
    r2 = call(c, "GET", "/", headers={"If-None-Match": etag})
    assert r2.status == 304 and r2.raw == b"", r2
    for a in assets:
        plain = call(c, "GET", a)
        assert plain.status == 200 and plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert plain.headers["Content-Type"].startswith("text/javascript" if a.endswith(".js") else "text/css")
        z = call(c, "GET", a, headers={"Accept-Encoding": "gzip, deflate"})
        assert z.headers["Content-Encoding"] == "gzip" and len(z.raw) < len(plain.raw) / 2, a
        assert gzip.decompress(z.raw) == plain.raw
        assert z.headers["ETag"] != plain.headers["ETag"] and z.headers["Vary"] == "Accept-Encoding"
        assert call(c, "GET", a, headers={"Accept-Encoding": "gzip;q=0"}).headers.get("Content-Encoding") is None
    assert call(c, "GET", "/favicon.svg").headers["Content-Type"] == "image/svg+xml"
    # unknown paths: a JSON 404, never the page or a file from disk
    for p in ("/nope", "/assets/../../etc/passwd", "/index.html/..", "/api/v1/nope", "/%2e%2e/etc/passwd"):
        r = call(c, "GET", p)
        assert r.status == 404 and r.json["error"]["code"] == "not_found", (p, r)
    # the API answers are never cached
    assert call(c, "GET", "/api/v1/hosts", token=c.token).headers["Cache-Control"] == "no-store"
