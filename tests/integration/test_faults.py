"""Migrations that go wrong: each must end rolled_back with an error saying what
failed, leave the workload running on its source (the same process, memory
intact, counter advancing), leave nothing behind on the target, and not get in
the way of a later migration of the same workload. Also: restarts of an agent
(its workloads carry on and stay its own) and of the controller in the middle of a
migration (it follows the migration again to its end).

The faults are injected mid-transfer of a 300 MiB checkpoint sent at 30 MiB/s
("bandwidth_mbps" is MiB per second), after 50 MiB went through.

(The case of the killed target agent comes last: with -x, the others still run
when it fails.)"""
import os
import signal
import subprocess
import time

from harness import MIB, MemhogSnapshot, PYTHON, assert_moved, assert_runs_on, wait_for

MEMHOG_MIB = 300
PORT = 9200
SLOW_MBPS = 30         # 300 MiB at this rate: about 10 s of transfer
FAULT_AFTER = 50 * MIB  # bytes on the wire before the fault is injected


def start_slow_migration(c, name, target):
    r = c.start_migration(name, target, "stop-copy", bandwidth_mbps=SLOW_MBPS)
    assert r.status == 202, (r.status, r.text)
    mid = r.json["id"]
    m = c.wait_migration(mid, timeout=120, until=lambda m: m["state"] == "transferring" and (m.get("bytes") or 0)
                         > FAULT_AFTER)
    assert m["bytes"] < MEMHOG_MIB * MIB, "the transfer was not slow enough to interrupt: %s" % m
    return mid


def check_nothing_left_on(c, host, mid, name):
    """The target forgot the incoming workload."""
    wait_for(lambda: name not in c.agent_workloads(host), 60, "%s to drop the incoming %s" % (host, name))
    r = c.agent_api(host, "GET", "/v1/migrations/%s" % mid)
    if r.status == 200:
        assert r.json["phase"] == "rolled_back", "target side of %s: %s" % (mid, r.json)
    st = c.hosts[host].state_dir
    assert not os.path.exists(os.path.join(st, "workloads", name)), "the target kept %s/workloads/%s" % (st, name)


def check_no_partial_checkpoint(c, host, mid):
    """The target removed what it had received of the failed migration's checkpoint
    (checked last, after everything else the test proves)."""
    recv = os.path.join(c.hosts[host].state_dir, "migrations", mid, "recv")
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(recv) for f in fs)
    assert not os.path.exists(recv), (
        "%s kept the partial checkpoint of the failed migration in %s (%d MiB)" % (host, recv, size // MIB))


def check_rolled_back(c, mig, snap, *words):
    assert mig["state"] == "rolled_back", "migration ended %s: %s" % (mig["state"], mig.get("error"))
    err = mig.get("error") or ""
    print("migration %s rolled back: %s" % (mig["id"], err))
    for w in words:
        assert w.lower() in err.lower(), "the error should mention %r: %r" % (w, err)
    assert c.unfinished_migrations() == []
    # the very process that was frozen for the dump runs again where it was
    assert_runs_on(c, snap, snap.host, same_process=True)
    assert c.agent_workloads(snap.host)[snap.name]["state"] == "running"


def later_migration_works(c, name, target):
    snap = MemhogSnapshot(c, name, PORT)
    mig = c.migrate(name, target, "stop-copy")
    assert_moved(c, snap, target, mig)


def test_link_cut_mid_transfer(make_cluster):
    c = make_cluster(agent_args=["--io-timeout", "5000"])
    c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
    snap = MemhogSnapshot(c, "hog", PORT)
    mid = start_slow_migration(c, "hog", "h2")
    c.link_down("h2")
    cut = time.monotonic()
    try:
        mig = c.wait_migration(mid, timeout=120)
    finally:
        c.link_up("h2")
    # a silent peer fails the migration after --io-timeout (5 s), not much later
    assert time.monotonic() - cut < 20, "the migration took %.0f s to notice the cut" % (time.monotonic() - cut)
    check_rolled_back(c, mig, snap, "h2", "send")
    # the target times out on its own (it cannot hear the source's abort)
    c.wait_ready(timeout=60)
    check_nothing_left_on(c, "h2", mid, "hog")
    later_migration_works(c, "hog", "h2")
    check_no_partial_checkpoint(c, "h2", mid)


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


def test_restore_fails_on_target(cluster):
    """The workload listens on PORT; on the target another process already does:
    CRIU cannot restore the listening socket there (Address already in use)."""
    c = cluster
    c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
    snap = MemhogSnapshot(c, "hog", PORT)
    squatter = c.ns_popen("h2", [PYTHON, "-c", LISTENER, str(PORT)], stdout=subprocess.PIPE, text=True)
    assert squatter.stdout.readline().strip() == "listening"
    ss = c.ns_run("h2", ["ss", "-Hltn", "sport = :%d" % PORT], check=True).stdout
    assert ":%d" % PORT in ss, "nothing listens on port %d in h2: %r" % (PORT, ss)
    mig = c.migrate("hog", "h2", "stop-copy")
    check_rolled_back(c, mig, snap, "restore")
    assert "in use" in mig["error"] or "EADDRINUSE" in mig["error"], (
        "the error should say the address is in use: %r" % mig["error"])
    check_nothing_left_on(c, "h2", mig["id"], "hog")
    squatter.kill()
    squatter.wait(10)
    later_migration_works(c, "hog", "h2")
    check_no_partial_checkpoint(c, "h2", mig["id"])


def test_agent_restart_keeps_workloads(cluster):
    c = cluster
    c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
    c.create_memhog("hog2", "h1", mib=32, port=PORT + 1)
    snaps = [MemhogSnapshot(c, "hog", PORT), MemhogSnapshot(c, "hog2", PORT + 1)]
    c.kill_agent("h1", signal.SIGKILL)
    # the workloads do not depend on their agent
    for s in snaps:
        st = c.memhog_status(s.ip, s.port)
        assert st["checksum"] == s.status["expected"] and st["counter"] > s.status["counter"]
    c.start_agent("h1")
    listed = c.agent_workloads("h1")
    for s in snaps:
        assert listed[s.name]["state"] == "running", listed[s.name]
        assert listed[s.name]["pid"] == s.pid, listed[s.name]
        assert_runs_on(c, s, "h1", same_process=True)
    ctl = {w["name"]: w for w in c.api("GET", "/api/v1/workloads?host=h1", expect=200).json["workloads"]}
    assert set(ctl) == {"hog", "hog2"}, ctl
    # and a migration of one of them still works, the other stays
    later_migration_works(c, "hog", "h2")
    assert_runs_on(c, snaps[1], "h1", same_process=True)
    # the controller keeps all this across its own restart
    c.restart_controller()
    ctl = {w["name"]: w["host"] for w in c.api("GET", "/api/v1/workloads", expect=200).json["workloads"]}
    assert ctl == {"hog": "h2", "hog2": "h1"}, ctl
    ms = c.api("GET", "/api/v1/migrations", expect=200).json["migrations"]
    assert [m["state"] for m in ms] == ["committed"], ms
    assert_runs_on(c, snaps[1], "h1", same_process=True)


def test_controller_restart_mid_transfer(cluster):
    """Not a failure of the migration: the controller restarting while the agents
    move the data. It must pick the migration up again and record its end."""
    c = cluster
    c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
    snap = MemhogSnapshot(c, "hog", PORT)
    mid = start_slow_migration(c, "hog", "h2")
    c.restart_controller()
    mig = c.wait_migration(mid, timeout=120)
    assert_moved(c, snap, "h2", mig)
    assert [j["phase"] for j in mig["journal"]][-1] == "committed", mig["journal"]
    assert c.unfinished_migrations() == []


def test_target_agent_killed_mid_transfer(cluster):
    c = cluster
    c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
    snap = MemhogSnapshot(c, "hog", PORT)
    mid = start_slow_migration(c, "hog", "h2")
    c.kill_agent("h2", signal.SIGKILL)
    mig = c.wait_migration(mid, timeout=120)
    check_rolled_back(c, mig, snap, "h2", "send")
    c.start_agent("h2")
    check_nothing_left_on(c, "h2", mid, "hog")
    later_migration_works(c, "hog", "h2")
    check_no_partial_checkpoint(c, "h2", mid)
