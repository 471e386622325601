"""The fault matrix: a process workload (memhog, 64 MiB with a known checksum and a
counter) migrated stop-copy from h1 to h2 while a fault strikes at a chosen
phase. The target agent is started with FLYT_FAULT=pause:target:PHASE (see
src/agent/fault.c): its migration thread stops on entering PHASE, the test
strikes, and lets it go on. Faults:

  controller  kill -9 of the controller, started again at once
  source      kill -9 of the source agent, started again
  target      kill -9 of the target agent, started again (without the pause)
  link        the target's link cut; restored once one side has settled (the
              source gave up, or the target got as far as it can alone)

plus two cells without a pause: the target's disk full (its state directory on a
32 MiB tmpfs) and one bit flipped in a frame of the checkpoint stream
(FLYT_FAULT=corrupt:N on the source).

Every cell checks that the migration ends as the table below says, that exactly
one copy of the workload runs, where it should, with its memory intact and its
counter going on from where it was, and that the other side kept nothing. The
outcomes are printed as a table at the end (and in docs/reliability.md); the
other kinds and lazy mode are in test_fault_matrix_kinds.py."""
import json
import os
import signal
import subprocess

import pytest

import harness
from harness import MemhogSnapshot, assert_runs_on, wait_for

PORT = 9300
MEMHOG_MIB = 64
IO_TIMEOUT_MS = 5000
PHASES = ["transferring", "restoring", "verifying"]
FAULTS = ["controller", "source", "target", "link"]

# (fault, phase) -> (migration outcome, host running the workload, same process?)
EXPECTED = {
    ("controller", "transferring"): ("committed", "h2", False),
    ("controller", "restoring"): ("committed", "h2", False),
    ("controller", "verifying"): ("committed", "h2", False),
    ("source", "transferring"): ("rolled_back", "h1", True),
    ("source", "restoring"): ("rolled_back", "h1", True),
    # the source had decided to commit and ended its copy: the target runs it
    ("source", "verifying"): ("committed", "h2", False),
    ("target", "transferring"): ("rolled_back", "h1", True),
    ("target", "restoring"): ("rolled_back", "h1", True),
    # the target died before running its copy; restarted, it asks the source,
    # which had decided to commit, and runs its copy
    ("target", "verifying"): ("committed", "h2", False),
    ("link", "transferring"): ("rolled_back", "h1", True),
    # a cut that heals before anyone times out: the migration completes
    ("link", "restoring"): ("committed", "h2", False),
    ("link", "verifying"): ("committed", "h2", False),
    ("disk full", "-"): ("rolled_back", "h1", True),
    ("corrupted byte", "-"): ("rolled_back", "h1", True),
}
RESULTS = {}


@pytest.fixture(scope="module", autouse=True)
def print_the_matrix():
    """After the module's cells: prints their outcomes as a table (through the
    harness's reporter, past pytest's capture) and writes it to
    BUILD/fault-matrix.txt."""
    yield
    lines = ["", "fault matrix (process workload, %d MiB, stop-copy h1 -> h2):" % MEMHOG_MIB,
             "%-8s %-15s %-13s %-15s %s" % ("kind", "fault", "phase", "expected", "outcome")]
    for key, (state, host, _) in EXPECTED.items():
        lines.append("%-8s %-15s %-13s %-15s %s" % ("process", key[0], key[1], "%s/%s" % (state, host),
                                                    RESULTS.get(key, "not run")))
    text = "\n".join(lines) + "\n"
    report = getattr(harness, "report", None)
    (report or print)(text)
    out = os.environ.get("FLYT_BUILD_DIR")
    if out and os.path.isdir(out):
        with open(os.path.join(out, "fault-matrix.txt"), "w") as f:
            f.write(text)


def persisted_phase(c, host, mid):
    path = os.path.join(c.hosts[host].state_dir, "migrations", mid, "migration.json")
    try:
        with open(path) as f:
            return json.load(f).get("phase")
    except (OSError, ValueError):
        return None


def make_matrix_cluster(make_cluster, source_env=None, target_env=None):
    c = make_cluster(agent_args=["--io-timeout", str(IO_TIMEOUT_MS)])
    for host, env in (("h1", source_env), ("h2", target_env)):
        if env:
            c.kill_agent(host, signal.SIGTERM)
            c.start_agent(host, env=env)
    c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
    return c, MemhogSnapshot(c, "hog", PORT)


def check_cell(c, snap, mig, key):
    want_state, want_host, same = EXPECTED[key]
    RESULTS[key] = "%s, runs on %s" % (mig["state"], c.workload(snap.name)["host"])
    assert mig["state"] == want_state, "%s: migration ended %s (%s), expected %s" % (
        key, mig["state"], mig.get("error") or mig.get("note"), want_state)
    other = "h2" if want_host == "h1" else "h1"
    assert_runs_on(c, snap, want_host, same_process=same)
    wait_for(lambda: snap.name not in c.agent_workloads(other), 60,
             "%s to keep nothing of %s" % (other, snap.name))
    assert c.unfinished_migrations() == []
    RESULTS[key] += ", one copy, memory intact"


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("fault", FAULTS)
def test_fault_at_phase(make_cluster, fault, phase):
    c, snap = make_matrix_cluster(make_cluster, target_env={"FLYT_FAULT": "pause:target:%s" % phase})
    paused = os.path.join(c.hosts["h2"].state_dir, "fault-paused")
    r = c.start_migration("hog", "h2", "stop-copy")
    assert r.status == 202, r.text
    mid = r.json["id"]
    wait_for(lambda: os.path.exists(paused), 120, "the target to pause on entering %s" % phase)

    settled = {"transferring": lambda: persisted_phase(c, "h1", mid) in ("rolled_back", "failed"),
               "restoring": lambda: persisted_phase(c, "h2", mid) in ("switching", "verifying"),
               "verifying": lambda: persisted_phase(c, "h2", mid) == "committed"}[phase]
    c.strike(fault, "h2", settled)
    mig = c.wait_migration(mid, timeout=300)
    check_cell(c, snap, mig, (fault, phase))


def test_target_disk_full(make_cluster):
    c = make_cluster(agent_args=["--io-timeout", str(IO_TIMEOUT_MS)])
    st = c.hosts["h2"].state_dir
    c.kill_agent("h2", signal.SIGTERM)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m,mode=0700", "flyt-test-full", st], check=True)
    try:
        c.start_agent("h2")
        c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
        snap = MemhogSnapshot(c, "hog", PORT)
        mig = c.migrate("hog", "h2", "stop-copy")
        assert "space" in (mig.get("error") or "").lower(), mig
        check_cell(c, snap, mig, ("disk full", "-"))
    finally:
        c.kill_agent("h2", signal.SIGTERM)
        subprocess.run(["umount", "-l", st], check=False)


def test_corrupted_byte_is_detected(make_cluster):
    c, snap = make_matrix_cluster(make_cluster, source_env={"FLYT_FAULT": "corrupt:5"})
    mig = c.migrate("hog", "h2", "stop-copy")
    err = (mig.get("error") or "").lower()
    assert "checksum" in err or "corrupt" in err, mig
    check_cell(c, snap, mig, ("corrupted byte", "-"))
