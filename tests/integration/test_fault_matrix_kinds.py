"""The fault matrix for the other workload kinds and modes (test_fault_matrix.py
holds the process kind in stop-copy mode; the faults and the way they strike are
the same, see there):

  runc        a runc container (busybox shell with some MiB of random state in its
              memory, its checksum taken at its start, a counter appending to a file
              in its root file system, a file it wrote) migrated stop-copy h1 -> h2,
              the target paused on entering transferring, restoring, verifying;
              plus the target's disk full and one corrupted byte in the stream.
  lazy        a process workload (memhog, 64 MiB) migrated lazily (post-copy: CRIU
              lazy-pages through flyt's page tunnel) h1 -> h2, the target paused on
              entering transferring, restoring, switching, verifying; and "pages":
              the source's page tunnel paused after the first MiB of pages
              (FLYT_FAULT=pause:source:pages), so that the fault strikes while the
              target runs its copy without most of its memory; the tunnel is held
              so in every lazy cell until the fault has struck.

Every cell checks that the migration ends as its table says, that exactly one copy
of the workload runs, where it should (a container: no process of it in the other
host's cgroups, no runc state or bundle left there, runc says "running", not
"paused"), with its memory intact (the container checksums its memory again;
the memhog reports it) and its counter going on from where it was. The VM
kinds are in test_fault_matrix_vms.py. The outcomes are
printed as a table with a kind column (and written to BUILD/fault-matrix-kinds.txt,
see docs/reliability.md)."""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

import engines
import harness
from harness import MemhogSnapshot, agent_cgroup, assert_runs_on, proc_alive, proc_cgroups, proc_start_time, wait_for
from test_runc import assert_continuous, lazy_unavailable, log_numbers, memory_checksum, rootfs_of

IO_TIMEOUT_MS = 5000
PORT = 9400
MEMHOG_MIB = 64
FAULTS = ["controller", "source", "target", "link"]
RUNC_PHASES = ["transferring", "restoring", "verifying"]
LAZY_PHASES = ["transferring", "restoring", "switching", "verifying", "pages"]
# (a link cut while the target waits for "go" races that message: whether it
# arrived decides between two honest outcomes, so that cell is not in the matrix)
LAZY_CELLS = [(f, p) for f in FAULTS for p in LAZY_PHASES if (f, p) != ("link", "switching")]

# A shell with 6 MB of random state (base64: 8 MB) in its memory, its checksum in
# /tmp/sum1; a counter in /tmp/log; /tmp/check makes it checksum its memory again
# into /tmp/sum2 (as in test_runc.py)
MEMORY_COUNTER = ("x=$(busybox head -c 6000000 /dev/urandom | busybox base64); "
                  "echo \"$x\" | busybox md5sum > /tmp/sum1; echo made-here > /root/note; "
                  "i=0; while true; do i=$((i+1)); echo $i >> /tmp/log; "
                  "if [ -e /tmp/check ]; then echo \"$x\" | busybox md5sum > /tmp/sum.new; "
                  "mv /tmp/sum.new /tmp/sum2; rm /tmp/check; fi; sleep 0.05; done")

# (kind, fault, phase) -> (migration outcome, host running the workload, same process?)
EXPECTED = {
    ("runc", "controller", "transferring"): ("committed", "h2", False),
    ("runc", "controller", "restoring"): ("committed", "h2", False),
    ("runc", "controller", "verifying"): ("committed", "h2", False),
    ("runc", "source", "transferring"): ("rolled_back", "h1", True),
    ("runc", "source", "restoring"): ("rolled_back", "h1", True),
    ("runc", "source", "verifying"): ("committed", "h2", False),
    ("runc", "target", "transferring"): ("rolled_back", "h1", True),
    ("runc", "target", "restoring"): ("rolled_back", "h1", True),
    ("runc", "target", "verifying"): ("rolled_back", "h1", False),
    ("runc", "link", "transferring"): ("rolled_back", "h1", True),
    ("runc", "link", "restoring"): ("committed", "h2", False),
    ("runc", "link", "verifying"): ("committed", "h2", False),
    ("runc", "disk full", "-"): ("rolled_back", "h1", True),
    ("runc", "corrupted byte", "-"): ("rolled_back", "h1", True),
    ("lazy", "controller", "transferring"): ("committed", "h2", False),
    ("lazy", "controller", "restoring"): ("committed", "h2", False),
    ("lazy", "controller", "switching"): ("committed", "h2", False),
    ("lazy", "controller", "verifying"): ("committed", "h2", False),
    ("lazy", "controller", "pages"): ("committed", "h2", False),
    ("lazy", "source", "transferring"): ("rolled_back", "h1", True),
    ("lazy", "source", "restoring"): ("rolled_back", "h1", True),
    ("lazy", "source", "switching"): ("rolled_back", "h1", True),
    ("lazy", "source", "verifying"): ("rolled_back", "h1", True),
    ("lazy", "source", "pages"): ("rolled_back", "h1", True),
    ("lazy", "target", "transferring"): ("rolled_back", "h1", True),
    ("lazy", "target", "restoring"): ("rolled_back", "h1", True),
    ("lazy", "target", "switching"): ("rolled_back", "h1", True),
    ("lazy", "target", "verifying"): ("rolled_back", "h1", True),
    ("lazy", "target", "pages"): ("rolled_back", "h1", True),
    ("lazy", "link", "transferring"): ("rolled_back", "h1", True),
    # the restore needs CRIU's page server on the source (its first exchanges):
    # it fails, the source resumes
    ("lazy", "link", "restoring"): ("rolled_back", "h1", True),
    # the target runs its copy, whose pages cannot come: it discards it, the
    # source (frozen with every page) resumes
    ("lazy", "link", "verifying"): ("rolled_back", "h1", True),
    ("lazy", "link", "pages"): ("rolled_back", "h1", True),
    # carry on without the controller
}
RESULTS = {}


@pytest.fixture(scope="module", autouse=True)
def print_the_matrix():
    """After the module's cells: their table, also in BUILD/fault-matrix-kinds.txt."""
    yield
    harness.print_matrix("fault matrix (runc: container, stop-copy; lazy: process, %d MiB, lazy; h1 -> h2):"
                         % MEMHOG_MIB, EXPECTED, RESULTS, "fault-matrix-kinds.txt")


def persisted(c, host, mid, field="phase"):
    path = os.path.join(c.hosts[host].state_dir, "migrations", mid, "migration.json")
    try:
        with open(path) as f:
            return json.load(f).get(field)
    except (OSError, ValueError):
        return None


def matrix_cluster(make_cluster, envs):
    """A cluster whose agents time out a silent peer after IO_TIMEOUT_MS; envs:
    {"h2": {"FLYT_FAULT": ...}} restarts those agents with that environment."""
    c = make_cluster(agent_args=["--io-timeout", str(IO_TIMEOUT_MS)])
    for host, env in envs.items():
        c.kill_agent(host, signal.SIGTERM)
        c.start_agent(host, env=env)
    return c


# When a cut link may heal: once one side settled, or got as far as it can alone.
SETTLED = {
    "transferring": lambda c, mid: persisted(c, "h1", mid) in ("rolled_back", "failed"),
    "restoring": lambda c, mid: persisted(c, "h2", mid) in ("switching", "verifying", "committed", "rolled_back",
                                                             "failed"),
    "verifying": lambda c, mid: persisted(c, "h2", mid) in ("committed", "rolled_back", "failed"),
    "pages": lambda c, mid: persisted(c, "h2", mid) in ("committed", "rolled_back", "failed"),
}


def record(key, mig, c, name, t0, results=None):
    """Records a cell's outcome in results (default: this module's RESULTS, as
    it is when called)."""
    results = RESULTS if results is None else results
    results[key] = ("%s, runs on %s" % (mig["state"], c.workload(name)["host"]), time.monotonic() - t0)


def add_note(key, text, results=None):
    results = RESULTS if results is None else results
    outcome, secs = results[key]
    results[key] = (outcome + text, secs)


# ---- runc ------------------------------------------------------------------------

runc_missing = engines.engine_skip_reason("runc")


class Container:
    """What a runc container workload looks like before the migration."""

    def __init__(self, c, name):
        self.name = name
        w = c.workload(name)
        assert w["state"] == "running" and w["host"] == "h1" and w["pid"], w
        self.pid = w["pid"]
        self.start_time = proc_start_time(self.pid)
        self.log = log_numbers(os.path.join(rootfs_of(c, "h1", name), "tmp", "log"))
        with open(os.path.join(rootfs_of(c, "h1", name), "tmp", "sum1")) as f:
            self.sum1 = f.read()


def start_container(c, name="rc"):
    tar = engines.make_busybox_tarball(c.tmp)
    c.cli("workload", "create", "--kind", "runc", "--host", "h1", "--name", name, "--rootfs", tar, "--",
          "sh", "-c", MEMORY_COUNTER)
    log1 = os.path.join(rootfs_of(c, "h1", name), "tmp", "log")
    wait_for(lambda: os.path.exists(log1) and len(log_numbers(log1)) > 5, 60, "the container's counter to count")
    return Container(c, name)


def container_pids(c, host):
    """The processes in the cgroups of host's agent (its containers)."""
    prefix = agent_cgroup(host, c.hosts[host].state_dir) + "/"
    return [p for p in harness.all_pids()
            if proc_start_time(p) is not None and any(g.startswith(prefix) for g in proc_cgroups(p))]


def runc_status(c, host, name):
    r = subprocess.run(["runc", "--root", os.path.join(c.hosts[host].state_dir, "runc"), "state", name],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    return json.loads(r.stdout)["status"] if r.returncode == 0 else None


def check_container_cell(c, ct, mig, key):
    want_state, want_host, same = EXPECTED[key]
    other = "h2" if want_host == "h1" else "h1"
    assert mig["state"] == want_state, "%s: migration ended %s (%s), expected %s" % (
        key, mig["state"], mig.get("error") or mig.get("note"), want_state)
    wait_for(lambda: c.workload(ct.name)["host"] == want_host and c.workload(ct.name)["state"] == "running", 30,
             "the controller to show %s running on %s" % (ct.name, want_host))
    # the other side keeps nothing: no process, no runc state, no bundle
    wait_for(lambda: not container_pids(c, other), 60, "no process of the container left on %s" % other)
    wait_for(lambda: ct.name not in c.agent_workloads(other), 60, "%s to keep nothing of %s" % (other, ct.name))
    assert not os.path.exists(os.path.join(c.hosts[other].state_dir, "runc", ct.name)), "runc state left on " + other
    assert not os.path.exists(os.path.dirname(rootfs_of(c, other, ct.name))), "bundle left on " + other
    # one copy, running (not paused) where it should
    assert container_pids(c, want_host), "no process of the container on %s" % want_host
    assert runc_status(c, want_host, ct.name) == "running", runc_status(c, want_host, ct.name)
    w = c.workload(ct.name)
    if same:
        assert proc_alive(ct.pid, ct.start_time) and w["pid"] == ct.pid, (
            "the container's process %d should have gone on (now %s)" % (ct.pid, w["pid"]))
    else:
        assert not proc_alive(ct.pid, ct.start_time), "the source container's process %d still runs" % ct.pid
    # data intact: the counter goes on from where it was, the file it wrote, its memory
    rootfs = rootfs_of(c, want_host, ct.name)
    log = os.path.join(rootfs, "tmp", "log")
    wait_for(lambda: len(log_numbers(log)) > len(ct.log) + 5, 60, "the counter to go on on %s" % want_host)
    assert_continuous(log_numbers(log), ct.log)
    with open(os.path.join(rootfs, "root", "note")) as f:
        assert f.read() == "made-here\n"
    now, at_start = memory_checksum(rootfs)
    assert now == at_start == ct.sum1, (now, at_start, ct.sum1)
    assert c.unfinished_migrations() == []
    add_note(key, ", one copy, memory intact")


@pytest.mark.skipif(runc_missing is not None, reason=runc_missing or "")
@pytest.mark.parametrize("phase", RUNC_PHASES)
@pytest.mark.parametrize("fault", FAULTS)
def test_runc_fault_at_phase(make_cluster, fault, phase):
    c = matrix_cluster(make_cluster, {"h2": {"FLYT_FAULT": "pause:target:%s" % phase}})
    ct = start_container(c)
    t0 = time.monotonic()
    r = c.start_migration(ct.name, "h2", "stop-copy")
    assert r.status == 202, r.text
    mid = r.json["id"]
    paused = os.path.join(c.hosts["h2"].state_dir, "fault-paused")
    wait_for(lambda: os.path.exists(paused), 120, "the target to pause on entering %s" % phase)
    c.strike(fault, "h2", lambda: SETTLED[phase](c, mid))
    mig = c.wait_migration(mid, timeout=300)
    key = ("runc", fault, phase)
    record(key, mig, c, ct.name, t0)
    check_container_cell(c, ct, mig, key)


@pytest.mark.skipif(runc_missing is not None, reason=runc_missing or "")
def test_runc_target_disk_full(make_cluster):
    c = make_cluster(agent_args=["--io-timeout", str(IO_TIMEOUT_MS)])
    st = c.hosts["h2"].state_dir
    c.kill_agent("h2", signal.SIGTERM)
    # room for the agent's own records, not for the container's root file system
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "flyt-test-full", st], check=True)
    try:
        c.start_agent("h2")
        ct = start_container(c)
        t0 = time.monotonic()
        mig = c.migrate(ct.name, "h2", "stop-copy")
        key = ("runc", "disk full", "-")
        record(key, mig, c, ct.name, t0)
        assert "space" in (mig.get("error") or "").lower(), mig
        check_container_cell(c, ct, mig, key)
    finally:
        c.kill_agent("h2", signal.SIGTERM)
        subprocess.run(["umount", "-l", st], check=False)


@pytest.mark.skipif(runc_missing is not None, reason=runc_missing or "")
def test_runc_corrupted_byte_is_detected(make_cluster):
    c = matrix_cluster(make_cluster, {"h1": {"FLYT_FAULT": "corrupt:5"}})
    ct = start_container(c)
    t0 = time.monotonic()
    mig = c.migrate(ct.name, "h2", "stop-copy")
    key = ("runc", "corrupted byte", "-")
    record(key, mig, c, ct.name, t0)
    err = (mig.get("error") or "").lower()
    assert "checksum" in err or "corrupt" in err, mig
    check_container_cell(c, ct, mig, key)


# ---- lazy (process kind) -----------------------------------------------------------


def check_lazy_cell(c, snap, mig, key):
    want_state, want_host, same = EXPECTED[key]
    assert mig["state"] == want_state, "%s: migration ended %s (%s), expected %s" % (
        key, mig["state"], mig.get("error") or mig.get("note"), want_state)
    if want_state != "committed":
        assert mig.get("error"), "a migration that did not commit must say why: %s" % mig
    other = "h2" if want_host == "h1" else "h1"
    assert_runs_on(c, snap, want_host, same_process=same)
    wait_for(lambda: snap.name not in c.agent_workloads(other), 60, "%s to keep nothing of %s" % (other, snap.name))
    assert c.unfinished_migrations() == []
    add_note(key, ", one copy, memory intact")


class Releaser:
    """Lets the agent of host go on whenever it pauses (its fault-paused file
    appears), until the end of the with block."""

    def __init__(self, c, host):
        self.path = os.path.join(c.hosts[host].state_dir, "fault-paused")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.wait(0.02):
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


@pytest.mark.parametrize("fault,phase", LAZY_CELLS, ids=["%s-%s" % cell for cell in LAZY_CELLS])
def test_lazy_fault_at_phase(make_cluster, fault, phase):
    # The source's page tunnel always stops after the first MiB of pages (until
    # the fault has struck): otherwise the pages might all have arrived before it
    # strikes, or not, and the cell would test either
    envs = {"h1": {"FLYT_FAULT": "pause:source:pages"}}
    if phase != "pages":
        envs["h2"] = {"FLYT_FAULT": "pause:target:%s" % phase}
    paused_host = "h1" if phase == "pages" else "h2"
    c = matrix_cluster(make_cluster, envs)
    if lazy_unavailable(c):
        pytest.skip("lazy mode is not available here: %s" % lazy_unavailable(c))
    c.create_memhog("hog", "h1", mib=MEMHOG_MIB, port=PORT)
    snap = MemhogSnapshot(c, "hog", PORT)
    t0 = time.monotonic()
    r = c.start_migration("hog", "h2", "lazy")
    assert r.status == 202, r.text
    mid = r.json["id"]
    paused = os.path.join(c.hosts[paused_host].state_dir, "fault-paused")
    wait_for(lambda: os.path.exists(paused), 120, "the %s to pause at %s" % (paused_host, phase))
    if phase == "pages":
        # the target runs its copy, whose memory has not come yet
        wait_for(lambda: persisted(c, "h2", mid, "copy") == "running", 120, "the target to run its copy")
    c.strike(fault, paused_host, lambda: SETTLED[phase](c, mid))
    with Releaser(c, "h1"):
        mig = c.wait_migration(mid, timeout=300)
    key = ("lazy", fault, phase)
    record(key, mig, c, "hog", t0)
    check_lazy_cell(c, snap, mig, key)
