"""Live migration of a 300 MiB process in every mode this machine offers.

Each migration must leave the workload running on the target as the continuation
of what ran on the source: the memory checksum unchanged, the counter further on
(not restarted), its open file (ticks.log in its files directory) continued line
for line, one process only, nothing left on the source; and the migration must
report its timings and volume. Besides: modes a host cannot do are refused up
front with the reason (precopy without soft-dirty tracking), "auto" picks the best
mode and says why, and once the API says "committed" it shows the workload on
its target (the last test, which catches a race in the controller).

The modes tests move a 300 MiB memhog; the last one many small ones."""
import json
import os
import threading
import time

import pytest

import harness
from harness import MIB, MemhogSnapshot, assert_moved, wait_for

MEMHOG_MIB = 300
PORT = 9100


def modes_available(cluster):
    """{mode: (available on every host, reason)}."""
    out = {}
    for h in cluster.hosts:
        for mode, info in cluster.host_facts(h)["modes"].items():
            ok, why = out.get(mode, (True, ""))
            if not info.get("available"):
                ok, why = False, info.get("reason", "")
            out[mode] = (ok, why)
    return out


def migrate_and_check(c, name, target, mode, **opts):
    snap = MemhogSnapshot(c, name, PORT)
    assert snap.host != target
    mig = c.migrate(name, target, mode, **opts)
    assert mig["mode"] == mode and mig["mode_requested"] == mode, mig
    assert_moved(c, snap, target, mig)
    if mode != "shared":
        assert mig["bytes"] >= MEMHOG_MIB * MIB, (
            "migration says it moved %d bytes, less than the workload's %d MiB" % (mig["bytes"], MEMHOG_MIB))
    assert c.unfinished_migrations() == []
    return mig


def test_stop_copy_there_and_back(cluster):
    c = cluster
    c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
    migrate_and_check(c, "hog", "h2", "stop-copy")
    migrate_and_check(c, "hog", "h1", "stop-copy")


def test_lazy(cluster):
    c = cluster
    with open("/proc/sys/fs/pipe-max-size") as f:
        assert int(f.read()) >= 4 * MIB, (
            "fs.pipe-max-size is below 4 MiB: CRIU lazy-pages fails so (scripts/setup.sh raises it)")
    if not modes_available(c)["lazy"][0]:
        pytest.skip("lazy mode is not available here: %s" % modes_available(c)["lazy"][1])
    c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
    mig = migrate_and_check(c, "hog", "h2", "lazy")
    assert isinstance(mig.get("pages_ms"), int) and mig["pages_ms"] >= 0, mig


def test_shared(make_cluster):
    c = make_cluster(shared_dir=True)
    for h in c.hosts:
        assert c.host_facts(h)["modes"]["shared"]["available"], c.host_facts(h)["modes"]
    c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
    migrate_and_check(c, "hog", "h2", "shared", shared_dir=c.shared_dir)
    # the checkpoint went through the shared directory and was cleaned up there
    assert os.listdir(c.shared_dir) == [], os.listdir(c.shared_dir)


def test_shared_needs_a_declared_directory(cluster):
    c = cluster
    c.create_memhog("hog", "h1", mib=16, port=PORT)
    before = MemhogSnapshot(c, "hog", PORT)
    r = c.start_migration("hog", "h2", "shared", shared_dir=c.tmp)
    assert r.status == 422, (r.status, r.text)
    assert "shared" in r.error_message(), r.text
    r = c.start_migration("hog", "h2", "shared")
    assert r.status == 400, (r.status, r.text)
    assert "shared_dir" in r.error_message(), r.text
    assert c.api("GET", "/api/v1/migrations?workload=hog", expect=200).json["migrations"] == []
    harness.assert_runs_on(c, before, "h1", same_process=True)


def test_precopy(cluster):
    c = cluster
    c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
    available, why = modes_available(c)["precopy"]
    if available:
        # a kernel with soft-dirty tracking: precopy must work like the others
        migrate_and_check(c, "hog", "h2", "precopy")
        return
    before = MemhogSnapshot(c, "hog", PORT)
    r = c.start_migration("hog", "h2", "precopy")
    assert r.status == 422, (r.status, r.text)
    assert r.json["error"]["code"] == "unsupported", r.json
    assert "soft-dirty" in r.error_message(), r.error_message()
    assert "precopy" in r.error_message(), r.error_message()
    # refused up front: nothing recorded, nothing touched
    assert c.api("GET", "/api/v1/migrations?workload=hog", expect=200).json["migrations"] == []
    harness.assert_runs_on(c, before, "h1", same_process=True)


def test_auto_picks_the_best_mode_and_says_why(cluster):
    c = cluster
    avail = modes_available(c)
    c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
    snap = MemhogSnapshot(c, "hog", PORT)
    r = c.start_migration("hog", "h2", "auto")
    assert r.status == 202, (r.status, r.text)
    planned = r.json
    expected = next(m for m in ("precopy", "lazy", "stop-copy") if avail[m][0])
    assert planned["mode_requested"] == "auto"
    assert planned["mode"] == expected, planned
    reason = planned["mode_reason"]
    assert reason.startswith("auto: %s" % expected), reason
    if expected == "lazy":
        # here: no soft-dirty tracking, so no precopy; the reason must say so
        assert "precopy" in reason and "soft-dirty" in reason, reason
    mig = c.wait_migration(planned["id"])
    assert mig["mode"] == expected and mig["mode_reason"] == reason, mig
    assert_moved(c, snap, "h2", mig)
    assert mig["bytes"] >= MEMHOG_MIB * MIB, mig


def test_committed_migration_has_moved_the_workload(cluster):
    """Once the API says a migration committed, it must say the workload is on the
    target. A race makes this fail now and then (not every time): the controller
    publishes the committed state (conclude() in src/controller/orchestrator.c
    journals it, which wakes long polls) before it moves the workload's record, so
    a client that reacts at once reads the old host, state "migrating" and the note
    "its host does not know it". Many quick migrations, each watched by several
    clients (long polls, which wake at the very change, and plain polls as fast as
    they go) give the race its chances; it showed in every run of this test here,
    though a race can never be caught for sure."""
    c = cluster
    c.create_memhog("tiny", "h1", mib=4, port=PORT)
    hdr = {"Authorization": "Bearer %s" % c.token}
    stale = []
    host = "h1"
    for i in range(30):
        target = "h2" if host == "h1" else "h1"
        r = c.start_migration("tiny", target, "stop-copy")
        assert r.status == 202, r.text
        mid = r.json["id"]
        errors = []

        def watch(long_poll):
            try:
                conn = c.connection(c.controller_url, 30)
                deadline = time.monotonic() + 60
                version = 0
                while time.monotonic() < deadline:
                    # long polls wake at the very change; plain polls hammer
                    query = "?since=%d&wait=10000" % version if long_poll else ""
                    conn.request("GET", "/api/v1/migrations/%s%s" % (mid, query), headers=hdr)
                    m = json.loads(conn.getresponse().read())
                    version = m["version"]
                    if m["state"] in harness.TERMINAL_STATES:
                        conn.request("GET", "/api/v1/workloads/tiny", headers=hdr)
                        w = json.loads(conn.getresponse().read())
                        if m["state"] == "committed" and w["host"] != target:
                            stale.append("migration %d to %s committed, workload: host %s, state %s, note %r" % (
                                i, target, w["host"], w["state"], w.get("note")))
                        return
                errors.append("migration %s did not end" % mid)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("%d: %r" % (i, e))

        watchers = [threading.Thread(target=watch, args=(k < 2,)) for k in range(6)]
        for t in watchers:
            t.start()
        for t in watchers:
            t.join(90)
        assert not errors, errors
        m = c.wait_migration(mid)
        assert m["state"] == "committed", m
        wait_for(lambda: c.workload("tiny")["host"] == target, 30, "the workload record to move to %s" % target)
        host = target
    assert not stale, "%d time(s) the API said committed while the workload was still on its source:\n%s" % (
        len(stale), "\n".join(stale))
