"""The flyt CLI end to end against a real cluster: hosts, the life of a workload,
migrations with --wait (and --json), their listing, and the event log."""
import json
import re
import subprocess

from harness import MEMHOG, PYTHON, MemhogSnapshot, assert_moved, proc_alive, proc_environ, wait_for

PORT = 9400


def table(text):
    """A CLI table as a list of dicts keyed by its header."""
    lines = [l for l in text.splitlines() if l.strip()]
    assert lines, "empty table"
    header = lines[0].split()
    return [dict(zip(header, l.split())) for l in lines[1:]]


def show(text):
    """"key: value" lines as a dict (first occurrence of each key)."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(": ")
        if sep and not line.startswith(" "):
            out.setdefault(k.strip(), v.strip())
    return out


def create_hog(c, name="hog", host="h1", port=PORT, mib=64, *extra):
    env = []
    for e in c.workload_env(name) + ["HOG_COLOR=blue"]:
        env += ["--env", e]
    return c.cli("workload", "create", "--kind", "process", "--host", host, "--name", name, *env, *extra,
                 "--", MEMHOG, "--mib", mib, "--port", port)


def test_hosts_and_workload_lifecycle(cluster):
    c = cluster
    r = c.cli("host", "ls")
    rows = {row["NAME"]: row for row in table(r.stdout)}
    assert set(rows) == {"h1", "h2"}, r.stdout
    for h in ("h1", "h2"):
        assert rows[h]["STATE"] == "online" and rows[h]["URL"] == c.hosts[h].url, rows[h]
    hosts = json.loads(c.cli("host", "ls", json=True).stdout)["hosts"]
    assert sorted(h["name"] for h in hosts) == ["h1", "h2"]
    assert show(c.cli("host", "show", "h2").stdout)["name"] == "h2"

    r = create_hog(c)
    assert "hog" in r.stdout and "h1" in r.stdout, r.stdout
    ip = c.hosts["h1"].ip
    wait_for(lambda: c.memhog_status(ip, PORT), 30, "the memhog to answer")
    pid = c.workload_pid("hog")
    assert b"HOG_COLOR=blue" in proc_environ(pid), "--env did not reach the process"

    rows = {row["NAME"]: row for row in table(c.cli("workload", "ls").stdout)}
    assert rows["hog"]["HOST"] == "h1" and rows["hog"]["STATE"] == "running" and rows["hog"]["PID"] == str(pid)
    assert "hog" in {row["NAME"] for row in table(c.cli("workload", "ls", "--host", "h1").stdout)}
    assert "hog" not in {row["NAME"] for row in table(c.cli("workload", "ls", "--host", "h2").stdout)}
    s = show(c.cli("workload", "show", "hog").stdout)
    assert s["name"] == "hog" and s["host"] == "h1" and s["state"] == "running" and s["pid"] == str(pid), s
    w = json.loads(c.cli("workload", "show", "hog", json=True).stdout)
    assert "HOG_COLOR=blue" in w["spec"]["env"] and w["spec"]["cmd"][0] == MEMHOG, w
    assert "memhog: pid 1, 64 MiB" in c.cli("workload", "logs", "hog").stdout

    r = c.cli("workload", "stop", "hog")
    assert "stopped" in r.stdout
    assert c.workload("hog")["state"] == "stopped"
    wait_for(lambda: not proc_alive(pid), 20, "the stopped workload's process to be gone")
    assert c.workload_procs("hog") == []

    c.cli("workload", "start", "hog")
    st = wait_for(lambda: c.memhog_status(ip, PORT), 30, "the restarted memhog to answer")
    pid2 = c.workload_pid("hog")
    assert pid2 and pid2 != pid and c.workload("hog")["state"] == "running"
    assert st["checksum"] == st["expected"]

    r = c.cli("workload", "rm", "hog")
    assert "removed" in r.stdout
    wait_for(lambda: not proc_alive(pid2), 20, "the removed workload's process to be gone")
    assert "hog" not in {row.get("NAME") for row in table(c.cli("workload", "ls").stdout)}
    assert c.agent_workloads("h1") == {}
    assert c.api("GET", "/api/v1/workloads/hog").status == 404
    r = c.cli("workload", "show", "hog", check=False)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "hog" in r.stderr, (r.returncode, r.stderr)


REQUIRED = ("id", "workload", "source", "target", "mode", "state", "total_ms", "downtime_ms", "bytes")

LISTENER = r"""
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT leftovers, not past a listener
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(8)
print("listening", flush=True)
while True:
    time.sleep(3600)
"""


def test_migrate_wait(cluster):
    c = cluster
    create_hog(c, mib=128)
    wait_for(lambda: c.memhog_status(c.hosts["h1"].ip, PORT)["counter"] >= 50, 30, "the memhog to answer and count")

    # --wait --json: exactly one JSON object on stdout, exit status 0
    snap = MemhogSnapshot(c, "hog", PORT)
    r = c.cli("migrate", "hog", "--to", "h2", "--mode", "stop-copy", "--wait", json=True)
    m = json.loads(r.stdout)  # the whole of stdout is one JSON value
    assert isinstance(m, dict), r.stdout
    assert r.stdout.strip().startswith("{") and r.stdout.strip().endswith("}") and r.stdout.count("\n{") == 0
    for k in REQUIRED:
        assert k in m, "the JSON lacks %s: %s" % (k, m)
    assert m["workload"] == "hog" and m["source"] == "h1" and m["target"] == "h2" and m["mode"] == "stop-copy"
    assert m["state"] == "committed", m
    assert m["total_ms"] > 0 and m["downtime_ms"] > 0 and m["bytes"] >= 128 << 20, m
    assert_moved(c, snap, "h2", m)
    first = m["id"]

    # --wait without --json: one summary line
    r = c.cli("migrate", "hog", "--to", "h1", "--wait")
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and "committed" in lines[0] and "h2 -> h1" in lines[0], r.stdout
    assert c.workload("hog")["host"] == "h1"

    # a migration that fails (restore refused on the target: its port is taken there)
    squatter = c.ns_popen("h2", [PYTHON, "-c", LISTENER, str(PORT)], stdout=subprocess.PIPE, text=True)
    assert squatter.stdout.readline().strip() == "listening"
    pid = c.workload_pid("hog")
    r = c.cli("migrate", "hog", "--to", "h2", "--mode", "stop-copy", "--wait", check=False)
    assert r.returncode != 0, (r.stdout, r.stderr)
    reason = [l for l in r.stderr.splitlines() if l.startswith("flyt: ")]
    assert len(reason) == 1, "expected one error line on stderr: %r" % r.stderr
    assert "rolled_back" in reason[0] and "restore" in reason[0], reason
    others = [l for l in r.stderr.splitlines() if not l.startswith("flyt: ")]
    assert all(re.fullmatch(r"[a-z_]+", l) for l in others), "unexpected stderr lines: %r" % others
    assert c.workload("hog")["host"] == "h1" and c.workload_pid("hog") == pid
    # the same with --json: the object on stdout says how it ended
    r = c.cli("migrate", "hog", "--to", "h2", "--mode", "stop-copy", "--wait", json=True, check=False)
    assert r.returncode != 0
    failed = json.loads(r.stdout)
    assert failed["state"] == "rolled_back" and failed["error"], failed
    assert len([l for l in r.stderr.splitlines() if l.startswith("flyt: ")]) == 1, r.stderr
    squatter.kill()
    squatter.wait(10)

    # without --wait: the id, at once
    r = c.cli("migrate", "hog", "--to", "h2", "--mode", "lazy")
    mid = r.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", mid), r.stdout
    r = c.cli("migration", "watch", mid[:8])
    assert "committed" in r.stdout, r.stdout
    assert c.workload("hog")["host"] == "h2"

    # migration ls / show
    rows = table(c.cli("migration", "ls").stdout)
    assert len(rows) == 5, rows
    assert [row["ID"] for row in rows][-1] == first[:8], "not newest first: %s" % rows
    states = sorted(row["STATE"] for row in rows)
    assert states == ["committed"] * 3 + ["rolled_back"] * 2, rows
    assert len(table(c.cli("migration", "ls", "--state", "rolled_back").stdout)) == 2
    assert len(table(c.cli("migration", "ls", "--limit", "1").stdout)) == 1
    listed = json.loads(c.cli("migration", "ls", "--workload", "hog", json=True).stdout)["migrations"]
    assert listed[0]["id"] == mid and len(listed) == 5
    s = show(c.cli("migration", "show", first).stdout)
    assert s["id"] == first and s["state"] == "committed" and s["source"] == "h1" and s["target"] == "h2", s
    text = c.cli("migration", "show", first[:8]).stdout
    for phase in ("planned", "transferring", "restoring", "committed"):
        assert phase in text, "the journal lacks %s:\n%s" % (phase, text)
    full = json.loads(c.cli("migration", "show", first, json=True).stdout)
    assert [j["phase"] for j in full["journal"]][-1] == "committed"
    assert c.unfinished_migrations() == []


def test_events(cluster):
    c = cluster
    out = c.cli("events").stdout
    lines = out.splitlines()
    assert lines, "no events at all"
    seqs = []
    for line in lines:
        m = re.match(r"(\d+) (\S+) ([a-z]+\.[a-z]+)( |$)", line)
        assert m, "bad event line %r" % line
        seqs.append(int(m.group(1)))
    assert seqs == sorted(seqs)
    assert sum(" host.registered " in l + " " for l in lines) == 2, out
    last = seqs[-1]

    create_hog(c, mib=16)
    wait_for(lambda: c.memhog_status(c.hosts["h1"].ip, PORT), 30, "the memhog to answer")
    r = c.cli("migrate", "hog", "--to", "h2", "--wait", json=True)
    mid = json.loads(r.stdout)["id"]
    new = c.cli("events", "--since", last).stdout.splitlines()
    assert new and all(int(l.split()[0]) > last for l in new), new
    types = [l.split()[2] for l in new]
    for t in ("workload.created", "migration.created", "migration.phase", "migration.finished", "workload.moved"):
        assert t in types, "no %s event after %d: %s" % (t, last, new)
    fin = [l for l in new if " migration.finished " in l][0]
    assert "migration=%s" % mid in fin and "state=committed" in fin, fin
    moved = [l for l in new if " workload.moved " in l][0]
    assert "workload=hog" in moved and "from=h1" in moved and "to=h2" in moved, moved
    evs = [json.loads(l) for l in c.cli("events", "--since", last, json=True).stdout.splitlines()]
    assert [e["type"] for e in evs] == types
    assert all(isinstance(e.get("seq"), int) and e.get("time") for e in evs), evs
