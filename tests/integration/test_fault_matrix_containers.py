"""The fault matrix for container engines and runc in lazy mode: the faults
and the way they strike are test_fault_matrix.py's, the cells are made as in
test_fault_matrix_kinds.py, each on a cluster of its own:

  docker      a Docker container (the busybox shell of test_fault_matrix_kinds.py:
              6 MB of random state in its memory, its checksum taken at its start,
              a counter appending to /tmp/log, a file it wrote) adopted on h1 and
              migrated stop-copy h1 -> h2, the target paused on entering a phase;
              in transferring, the fault strikes once the source's engine holds
              the container for its checkpoint (it saves the image first). Plus
              the target's disk full (its state directory on a 1 MiB tmpfs).
  podman      the same with a Podman container.
  runc-lazy   the runc container of test_fault_matrix_kinds.py migrated lazily
              (post-copy through flyt's page tunnel), the target paused on
              entering restoring, and "pages": the source's page tunnel held
              after the first MiB of pages, the target running its copy without
              most of its memory (held so in every cell until the fault struck).

Every cell checks that the migration ends as its table says and that exactly one
copy of the container runs, where it should: for Docker and Podman one shell of
this cluster's container on the whole machine, the one the expected host's engine
names, which says running, not paused, and no container of that name, running or
not, on the other host; for runc, as test_fault_matrix_kinds.py checks (no process
in the other agent's cgroups, no runc state, no bundle there, runc says
"running"). The counter goes on without a gap, the file is there, and the shell
checksums its memory again and finds the checksum of its start. The outcomes are
printed as a table (and written to BUILD/fault-matrix-containers.txt, see
docs/reliability.md).

Left out, to keep the file near five minutes on two vCPUs (each Docker and
Podman cell starts two engines; the source and link cells wait out the I/O
timeout), and run by hand in test_fault_matrix_containers_more.py with this
file's functions: for Docker and Podman, the controller's death at transferring
and verifying, the target's death in transferring, the link cut in restoring
and the corrupted byte; for runc in lazy mode, transferring, switching and
verifying.
"""
import functools
import os
import signal
import subprocess
import time

import pytest

import engines
import harness
import test_fault_matrix_kinds as kinds
from harness import proc_alive, proc_start_time, wait_for
from test_docker import read_log
from test_fault_matrix_kinds import SETTLED, Releaser, matrix_cluster, persisted, start_container
from test_runc import MEMORY_COUNTER, assert_continuous, lazy_unavailable

IO_TIMEOUT_MS = kinds.IO_TIMEOUT_MS
NAME = "ct"

# (kind, fault, phase) -> (migration outcome, host running the workload, same process?)
EXPECTED = {
    ("docker", "controller", "restoring"): ("committed", "h2", False),
    # the source copy was paused (frozen) for its checkpoint: unpaused, it goes on
    ("docker", "source", "transferring"): ("rolled_back", "h1", True),
    ("docker", "source", "restoring"): ("rolled_back", "h1", True),
    # the source had decided to commit and ended its copy: the target runs it;
    # the restarted source removes its stopped container
    ("docker", "source", "verifying"): ("committed", "h2", False),
    ("docker", "target", "restoring"): ("rolled_back", "h1", True),
    # the target had created the container but not started it (its copy runs
    # only at resume): restarted, it removes it, and the source, which had
    # ended its copy, starts its own from its checkpoint (as runc does)
    ("docker", "target", "verifying"): ("rolled_back", "h1", False),
    ("docker", "link", "transferring"): ("rolled_back", "h1", True),
    ("docker", "link", "verifying"): ("committed", "h2", False),
    ("docker", "disk full", "-"): ("rolled_back", "h1", True),
    # Podman stops the container for its checkpoint: a rollback restores it
    # from the checkpoint Podman kept (a new process, carrying on)
    ("podman", "controller", "restoring"): ("committed", "h2", False),
    ("podman", "source", "transferring"): ("rolled_back", "h1", False),
    ("podman", "source", "restoring"): ("rolled_back", "h1", False),
    ("podman", "source", "verifying"): ("committed", "h2", False),
    ("podman", "target", "restoring"): ("rolled_back", "h1", False),
    ("podman", "target", "verifying"): ("rolled_back", "h1", False),
    ("podman", "link", "transferring"): ("rolled_back", "h1", False),
    ("podman", "link", "verifying"): ("committed", "h2", False),
    ("podman", "disk full", "-"): ("rolled_back", "h1", False),
    # lazy: the source copy stays frozen with every page until the target has
    # them all; only the controller's death lets the migration complete
    ("runc-lazy", "controller", "restoring"): ("committed", "h2", False),
    ("runc-lazy", "controller", "pages"): ("committed", "h2", False),
    ("runc-lazy", "source", "restoring"): ("rolled_back", "h1", True),
    ("runc-lazy", "source", "pages"): ("rolled_back", "h1", True),
    ("runc-lazy", "target", "restoring"): ("rolled_back", "h1", True),
    ("runc-lazy", "target", "pages"): ("rolled_back", "h1", True),
    # unlike the process kind's, runc's restore does not wait for CRIU's page
    # server (the lazy-pages daemon fetches the pages once the copy runs): the
    # cut heals as the target reaches switching, before anyone times out
    ("runc-lazy", "link", "restoring"): ("committed", "h2", False),
    ("runc-lazy", "link", "pages"): ("rolled_back", "h1", True),
}
RESULTS = {}


@pytest.fixture(scope="module", autouse=True)
def print_the_matrix():
    """After the module's cells: their outcomes as a table, also in
    BUILD/fault-matrix-containers.txt."""
    yield
    harness.print_matrix("fault matrix (docker, podman: container, stop-copy; runc-lazy: container, lazy; h1 -> h2):",
                         EXPECTED, RESULTS, "fault-matrix-containers.txt")


def record(key, mig, c, t0, results=None):
    """Records a cell's outcome in results (default: this module's RESULTS)."""
    results = RESULTS if results is None else results
    results[key] = ("%s, runs on %s" % (mig["state"], c.workload(NAME)["host"]), time.monotonic() - t0)


# ---- Docker and Podman ---------------------------------------------------------

ENGINES = {"docker": engines.DockerEngine, "podman": engines.PodmanEngine}
IMAGE = {"docker": "busybox", "podman": "localhost/busybox:latest"}
INSPECT = {"docker": "/v1.41/containers/%s/json", "podman": "/v4.0.0/libpod/containers/%s/json"}


def engine_cluster(make_cluster, kind, envs):
    return matrix_cluster(functools.partial(make_cluster, engines=[ENGINES[kind]]), envs)


def inspect(eng, name):
    st, ins = eng.api("GET", INSPECT[eng.kind] % name, timeout=30)
    return ins if st == 200 else None


def held(eng):
    """Whether eng holds container NAME for its checkpoint (paused or stopped)."""
    state = (inspect(eng, NAME) or {}).get("State", {})
    return state.get("Paused") or state.get("Running") is False


def shells(mark):
    """The container shells of this cluster on the whole machine (their command
    line carries mark), without the subshells they fork."""
    found = {}
    for p in harness.all_pids():
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%d/stat" % p) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if any(mark.encode() in a for a in argv):
            found[p] = ppid
    return sorted(p for p, ppid in found.items() if ppid not in found)


def engine_checksum(eng, name):
    """Has the container's shell checksum its memory now (see MEMORY_COUNTER);
    returns that checksum and the one of its start."""
    eng.cli("exec", name, "sh", "-c", "rm -f /tmp/sum2; touch /tmp/check")
    wait_for(lambda: eng.cli("exec", name, "cat", "/tmp/sum2", check=False), 30,
             "the container to checksum its memory")
    return eng.cli("exec", name, "cat", "/tmp/sum2"), eng.cli("exec", name, "cat", "/tmp/sum1")


class EngineContainer:
    """A container of kind (docker, podman) running the memory counter on h1,
    adopted by flyt as workload NAME, and how it looks before the migration."""

    def __init__(self, c, kind):
        self.kind = kind
        self.mark = "flyt-matrix-%s" % c.test_id
        eng = c.hosts["h1"].engines[kind]
        eng.cli("run", "-d", "--name", NAME, IMAGE[kind], "sh", "-c", ": %s; %s" % (self.mark, MEMORY_COUNTER))
        engines.wait_running(c, eng, NAME)
        wait_for(lambda: len(read_log(eng, NAME)) > 5 and eng.cli("exec", NAME, "cat", "/tmp/sum1", check=False),
                 60, "the container's counter to count")
        out = c.cli("workload", "adopt", "--kind", kind, "--host", "h1", "--name", NAME, NAME).stdout
        assert "adopted %s container %s" % (kind, NAME) in out, out
        self.pid = inspect(eng, NAME)["State"]["Pid"]
        self.start_time = proc_start_time(self.pid)
        assert shells(self.mark) == [self.pid], (shells(self.mark), self.pid)
        self.sum1 = eng.cli("exec", NAME, "cat", "/tmp/sum1")
        self.log = read_log(eng, NAME)


def check_engine_cell(c, ct, mig, key, expected=None, results=None):
    """Checks a cell against expected (default: this module's EXPECTED) and
    notes it in results (default: RESULTS)."""
    expected = EXPECTED if expected is None else expected
    results = RESULTS if results is None else results
    want_state, want_host, same = expected[key]
    other = "h2" if want_host == "h1" else "h1"
    here, there = c.hosts[want_host].engines[ct.kind], c.hosts[other].engines[ct.kind]
    assert mig["state"] == want_state, "%s: migration ended %s (%s), expected %s" % (
        key, mig["state"], mig.get("error") or mig.get("note"), want_state)
    if want_state != "committed":
        assert mig.get("error"), "a migration that did not commit must say why: %s" % mig
    wait_for(lambda: c.workload(NAME)["host"] == want_host and c.workload(NAME)["state"] == "running", 30,
             "the controller to show %s running on %s" % (NAME, want_host))
    # the other side keeps nothing: no container of that name, running or not
    wait_for(lambda: inspect(there, NAME) is None, 60, "%s's %s to keep no container %s" % (other, ct.kind, NAME))
    wait_for(lambda: NAME not in c.agent_workloads(other), 60, "%s to keep nothing of %s" % (other, NAME))
    # one copy, running (not paused) where it should: the one shell of this
    # cluster's container on the machine is the one that engine names
    ins = inspect(here, NAME)
    assert ins, "no container %s on %s" % (NAME, want_host)
    state = ins["State"]
    assert state["Running"] and not state["Paused"] and state["Status"] == "running", state
    wait_for(lambda: shells(ct.mark) == [state["Pid"]], 60,
             "one shell of the container, pid %d on %s (found %s)" % (state["Pid"], want_host, shells(ct.mark)))
    assert c.workload(NAME)["pid"] == state["Pid"], (c.workload(NAME), state["Pid"])
    if same:
        assert proc_alive(ct.pid, ct.start_time) and state["Pid"] == ct.pid, (
            "the container's process %d should have gone on (now %s)" % (ct.pid, state["Pid"]))
    else:
        assert not proc_alive(ct.pid, ct.start_time), "the source container's process %d still runs" % ct.pid
    # data intact: the counter goes on from where it was, the file it wrote, its memory
    wait_for(lambda: len(read_log(here, NAME)) > len(ct.log) + 5, 60, "the counter to go on on %s" % want_host)
    assert_continuous(read_log(here, NAME), ct.log)
    assert here.cli("exec", NAME, "cat", "/root/note") == "made-here"
    now, at_start = engine_checksum(here, NAME)
    assert now == at_start == ct.sum1, (now, at_start, ct.sum1)
    assert c.unfinished_migrations() == []
    results[key] = (results[key][0] + ", one copy, memory intact", results[key][1])


ENGINE_CELLS = [key for key in EXPECTED if key[0] in ENGINES and key[2] != "-"]


def engine_fault_at_phase(make_cluster, kind, fault, phase, expected=None, results=None):
    """A Docker or Podman cell: the fault strikes while the target is paused on
    entering phase; checked against expected, noted in results (defaults: this
    module's)."""
    if engines.engine_skip_reason(kind):
        pytest.skip(engines.engine_skip_reason(kind))
    c = engine_cluster(make_cluster, kind, {"h2": {"FLYT_FAULT": "pause:target:%s" % phase}})
    ct = EngineContainer(c, kind)
    t0 = time.monotonic()
    r = c.start_migration(NAME, "h2", "stop-copy")
    assert r.status == 202, r.text
    mid = r.json["id"]
    paused = os.path.join(c.hosts["h2"].state_dir, "fault-paused")
    wait_for(lambda: os.path.exists(paused), 120, "the target to pause on entering %s" % phase)
    if phase == "transferring":
        # the source saves the image before it checkpoints: strike once its
        # engine holds the container (Docker: paused; Podman: stopped)
        wait_for(lambda: held(c.hosts["h1"].engines[kind]), 120, "h1's %s to hold the container" % kind)
    c.strike(fault, "h2", lambda: SETTLED[phase](c, mid))
    mig = c.wait_migration(mid, timeout=300)
    key = (kind, fault, phase)
    record(key, mig, c, t0, results)
    check_engine_cell(c, ct, mig, key, expected, results)


@pytest.mark.parametrize("kind,fault,phase", ENGINE_CELLS, ids=["-".join(cell) for cell in ENGINE_CELLS])
def test_engine_fault_at_phase(make_cluster, kind, fault, phase):
    engine_fault_at_phase(make_cluster, kind, fault, phase)


@pytest.mark.parametrize("kind", list(ENGINES))
def test_engine_target_disk_full(make_cluster, kind):
    if engines.engine_skip_reason(kind):
        pytest.skip(engines.engine_skip_reason(kind))
    c = make_cluster(agent_args=["--io-timeout", str(IO_TIMEOUT_MS)], engines=[ENGINES[kind]])
    st = c.hosts["h2"].state_dir
    c.kill_agent("h2", signal.SIGTERM)
    # room for the agent's own records, not for the container's checkpoint
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "flyt-test-full", st], check=True)
    try:
        c.start_agent("h2")
        ct = EngineContainer(c, kind)
        t0 = time.monotonic()
        mig = c.migrate(NAME, "h2", "stop-copy")
        key = (kind, "disk full", "-")
        record(key, mig, c, t0)
        assert "space" in (mig.get("error") or "").lower(), mig
        check_engine_cell(c, ct, mig, key)
    finally:
        c.kill_agent("h2", signal.SIGTERM)
        subprocess.run(["umount", "-l", st], check=False)


# ---- runc in lazy mode ------------------------------------------------------------

LAZY_CELLS = [key[1:] for key in EXPECTED if key[0] == "runc-lazy"]


def runc_lazy_fault_at_phase(make_cluster, monkeypatch, fault, phase, expected=None, results=None):
    """A runc-lazy cell: the fault strikes while the target is paused on
    entering phase ("pages": while the source holds its page tunnel); checked
    against expected, noted in results (defaults: this module's)."""
    expected = EXPECTED if expected is None else expected
    results = RESULTS if results is None else results
    # test_fault_matrix_kinds's checks (check_container_cell), on these tables
    monkeypatch.setattr(kinds, "EXPECTED", expected)
    monkeypatch.setattr(kinds, "RESULTS", results)
    # as the process kind's lazy cells: the source's page tunnel stops after the
    # first MiB of pages until the fault has struck
    envs = {"h1": {"FLYT_FAULT": "pause:source:pages"}}
    if phase != "pages":
        envs["h2"] = {"FLYT_FAULT": "pause:target:%s" % phase}
    paused_host = "h1" if phase == "pages" else "h2"
    c = matrix_cluster(make_cluster, envs)
    drv = c.api("GET", "/api/v1/hosts/h2", expect=200).json["drivers"]["runc"]
    assert "lazy" in drv["modes"], drv
    if lazy_unavailable(c):
        pytest.skip("lazy mode is not available here: %s" % lazy_unavailable(c))
    ct = start_container(c, NAME)
    t0 = time.monotonic()
    r = c.start_migration(NAME, "h2", "lazy")
    assert r.status == 202, r.text
    mid = r.json["id"]
    paused = os.path.join(c.hosts[paused_host].state_dir, "fault-paused")
    wait_for(lambda: os.path.exists(paused), 120, "the %s to pause at %s" % (paused_host, phase))
    if phase == "pages":
        wait_for(lambda: persisted(c, "h2", mid, "copy") == "running", 120, "the target to run its copy")
    c.strike(fault, paused_host, lambda: SETTLED[phase](c, mid))
    with Releaser(c, "h1"):
        mig = c.wait_migration(mid, timeout=300)
    key = ("runc-lazy", fault, phase)
    record(key, mig, c, t0, results)
    if expected[key][0] != "committed":
        assert mig.get("error"), "a migration that did not commit must say why: %s" % mig
    kinds.check_container_cell(c, ct, mig, key)


@pytest.mark.skipif(kinds.runc_missing is not None, reason=kinds.runc_missing or "")
@pytest.mark.parametrize("fault,phase", LAZY_CELLS, ids=["%s-%s" % cell for cell in LAZY_CELLS])
def test_runc_lazy_fault_at_phase(make_cluster, monkeypatch, fault, phase):
    runc_lazy_fault_at_phase(make_cluster, monkeypatch, fault, phase)
