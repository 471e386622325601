"""runc containers migrate live: from a rootfs tarball flyt turns into a bundle
(the root file system travels, with what the container wrote), from a bundle on
shared storage (it stays where it is), lazily (post-copy: the container runs on
the target while its memory arrives through flyt's page tunnel), and a failed
restore on the target after the switch-over brings the container back on the
source: from its checkpoint in stop-copy mode, its frozen copy in lazy mode."""
import json
import os
import shutil
import subprocess

import pytest

import engines
from harness import wait_for

pytestmark = pytest.mark.skipif(engines.engine_skip_reason("runc") is not None,
                                reason=engines.engine_skip_reason("runc") or "")

COUNTER = ("i=0; while true; do i=$((i+1)); echo $i >> /tmp/log; sleep 0.05; done")
# Some MiB of random state in the shell's memory, its checksum in /tmp/sum1; when
# /tmp/check appears, the checksum of what the memory holds then goes to /tmp/sum2.
MEMORY_COUNTER = ("x=$(busybox head -c 6000000 /dev/urandom | busybox base64); "
                  "echo \"$x\" | busybox md5sum > /tmp/sum1; echo made-here > /root/note; "
                  "i=0; while true; do i=$((i+1)); echo $i >> /tmp/log; "
                  "if [ -e /tmp/check ]; then echo \"$x\" | busybox md5sum > /tmp/sum.new; "
                  "mv /tmp/sum.new /tmp/sum2; rm /tmp/check; fi; sleep 0.05; done")


def log_numbers(path):
    with open(path) as f:
        return [int(x) for x in f.read().split("\n")[:-1]]


def rootfs_of(cluster, host, name):
    return os.path.join(cluster.hosts[host].state_dir, "workloads", name, "bundle", "rootfs")


def assert_continuous(nums, before):
    assert nums[0] == 1 and all(b == a + 1 for a, b in zip(nums, nums[1:])), (
        "the counter restarted or lost lines: %s ..." % nums[:20])
    assert nums[:len(before)] == before
    assert len(nums) > len(before)


def test_rootfs_tarball_container_moves_with_its_files(make_cluster):
    c = make_cluster()
    tar = engines.make_busybox_tarball(c.tmp)
    c.cli("workload", "create", "--kind", "runc", "--host", "h1", "--name", "rc", "--rootfs", tar, "--",
          "sh", "-c", "echo made-here > /root/note; " + COUNTER)
    w = c.workload("rc")
    assert w["kind"] == "runc" and w["state"] == "running" and w["pid"], w
    log1 = os.path.join(rootfs_of(c, "h1", "rc"), "tmp", "log")
    wait_for(lambda: os.path.exists(log1) and len(log_numbers(log1)) > 5, 30, "the counter to count")
    before = log_numbers(log1)
    m = json.loads(c.cli("migrate", "rc", "--to", "h2", "--mode", "stop-copy", "--wait", json=True).stdout)
    assert m["state"] == "committed", m
    assert m["mode"] == "stop-copy" and m["downtime_ms"] > 0, m
    assert m["restore_ms"] > 0, m  # runc restore on h2
    log2 = os.path.join(rootfs_of(c, "h2", "rc"), "tmp", "log")
    wait_for(lambda: len(log_numbers(log2)) > len(before) + 3, 30, "the counter to go on on h2")
    assert_continuous(log_numbers(log2), before)
    with open(os.path.join(rootfs_of(c, "h2", "rc"), "root", "note")) as f:
        assert f.read() == "made-here\n"
    w = c.workload("rc")
    assert w["host"] == "h2" and w["state"] == "running", w
    assert not os.path.exists(os.path.dirname(rootfs_of(c, "h1", "rc"))), "the source kept the bundle"
    # one copy only: the source's pid is gone
    assert c.cli("workload", "rm", "rc").returncode == 0
    assert not os.path.exists(os.path.dirname(rootfs_of(c, "h2", "rc")))


def make_bundle(directory, args):
    os.makedirs(directory)
    engines.make_busybox_rootfs(os.path.join(directory, "rootfs"))
    subprocess.run(["runc", "spec"], cwd=directory, check=True, timeout=30)
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args
    cfg["root"]["readonly"] = False
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f)


def test_bundle_on_shared_storage_stays_put(make_cluster):
    c = make_cluster(shared_dir=True)
    bundle = os.path.join(c.shared_dir, "bundle")
    make_bundle(bundle, ["sh", "-c", COUNTER])
    c.cli("workload", "create", "--kind", "runc", "--host", "h1", "--name", "shared-rc", "--bundle", bundle)
    log = os.path.join(bundle, "rootfs", "tmp", "log")
    wait_for(lambda: os.path.exists(log) and len(log_numbers(log)) > 5, 30, "the counter to count")
    before = log_numbers(log)
    m = c.migrate("shared-rc", "h2", mode="stop-copy")
    assert m["state"] == "committed", m
    assert m["restore_ms"] > 0, m
    wait_for(lambda: len(log_numbers(log)) > len(before) + 3, 30, "the counter to go on on h2")
    assert_continuous(log_numbers(log), before)
    # the root file system did not travel (it is on shared storage): a few hundred KiB of
    # images, not the 2 MiB busybox
    rootfs_bytes = os.path.getsize(os.path.join(bundle, "rootfs", "bin", "busybox"))
    assert m["bytes"] < rootfs_bytes, m
    assert c.workload("shared-rc")["host"] == "h2"


def test_restore_failing_after_the_switch_over_restores_the_source(make_cluster, tmp_path):
    # h2's runc fails to restore (and only that)
    wrapper = str(tmp_path / "runc-failing-restore")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = restore ] && { echo 'injected restore failure' >&2; "
                "exit 1; }; done\nexec %s \"$@\"\n" % shutil.which("runc"))
    os.chmod(wrapper, 0o755)
    c = make_cluster(host_args={"h2": ["--runc", wrapper]})
    tar = engines.make_busybox_tarball(c.tmp)
    c.cli("workload", "create", "--kind", "runc", "--host", "h1", "--name", "rc", "--rootfs", tar, "--",
          "sh", "-c", COUNTER)
    log1 = os.path.join(rootfs_of(c, "h1", "rc"), "tmp", "log")
    wait_for(lambda: os.path.exists(log1) and len(log_numbers(log1)) > 5, 30, "the counter to count")
    before = log_numbers(log1)
    m = c.migrate("rc", "h2", mode="stop-copy")
    assert m["state"] == "rolled_back", m
    assert "restored here from the checkpoint" in m.get("error", ""), m
    wait_for(lambda: len(log_numbers(log1)) > len(before) + 3, 30, "the counter to go on on h1")
    assert_continuous(log_numbers(log1), before)
    w = c.workload("rc")
    assert w["host"] == "h1" and w["state"] == "running", w
    assert not os.path.exists(os.path.dirname(rootfs_of(c, "h2", "rc"))), "h2 kept the arriving bundle"


def memory_checksum(rootfs):
    """Has the container's shell checksum the state in its memory now; returns the
    checksum and the one it computed when it started."""
    tmp = os.path.join(rootfs, "tmp")
    if os.path.exists(os.path.join(tmp, "sum2")):
        os.unlink(os.path.join(tmp, "sum2"))
    open(os.path.join(tmp, "check"), "w").close()
    wait_for(lambda: os.path.exists(os.path.join(tmp, "sum2")), 30, "the container to checksum its memory")
    with open(os.path.join(tmp, "sum1")) as f1, open(os.path.join(tmp, "sum2")) as f2:
        return f2.read(), f1.read()


def start_memory_counter(c, name):
    tar = engines.make_busybox_tarball(c.tmp)
    c.cli("workload", "create", "--kind", "runc", "--host", "h1", "--name", name, "--rootfs", tar, "--",
          "sh", "-c", MEMORY_COUNTER)
    log1 = os.path.join(rootfs_of(c, "h1", name), "tmp", "log")
    wait_for(lambda: os.path.exists(log1) and len(log_numbers(log1)) > 5, 60, "the counter to count")
    return log1


def lazy_unavailable(c):
    """Why a host of c cannot migrate lazily (None when all can)."""
    for h in c.hosts:
        info = c.host_facts(h)["modes"]["lazy"]
        if not info.get("available"):
            return "%s: %s" % (h, info.get("reason", ""))
    return None


def test_lazy_migration_carries_memory_counter_and_files(make_cluster):
    c = make_cluster()
    drv = c.api("GET", "/api/v1/hosts/h2", expect=200).json["drivers"]["runc"]
    assert "lazy" in drv["modes"], drv
    if lazy_unavailable(c):
        pytest.skip("lazy mode is not available here: %s" % lazy_unavailable(c))
    start_memory_counter(c, "lazy-rc")
    log1 = os.path.join(rootfs_of(c, "h1", "lazy-rc"), "tmp", "log")
    before = log_numbers(log1)
    w = c.workload("lazy-rc")
    assert w["rss_bytes"] > 6 * 1024 * 1024, w  # the state is in memory, to move
    # auto picks lazy for runc when both hosts can (no soft-dirty here: no precopy)
    m = c.migrate("lazy-rc", "h2")
    assert m["state"] == "committed", m
    assert m["mode"] == "lazy", m
    assert m["restore_ms"] > 0 and m["downtime_ms"] > 0, m
    assert isinstance(m.get("pages_ms"), int) and m["pages_ms"] >= 0, m
    rootfs2 = rootfs_of(c, "h2", "lazy-rc")
    log2 = os.path.join(rootfs2, "tmp", "log")
    wait_for(lambda: len(log_numbers(log2)) > len(before) + 3, 30, "the counter to go on on h2")
    assert_continuous(log_numbers(log2), before)
    with open(os.path.join(rootfs2, "root", "note")) as f:
        assert f.read() == "made-here\n"
    # the memory arrived whole: the shell's random state checksums as it did at its start
    now, at_start = memory_checksum(rootfs2)
    assert now == at_start and len(now.split()[0]) == 32, (now, at_start)
    w = c.workload("lazy-rc")
    assert w["host"] == "h2" and w["state"] == "running", w
    assert not os.path.exists(os.path.dirname(rootfs_of(c, "h1", "lazy-rc"))), "the source kept the bundle"
    # one copy only: h1's runc forgot the container
    assert not os.path.exists(os.path.join(c.hosts["h1"].state_dir, "runc", "lazy-rc")), "the source copy remains"


def test_lazy_failures_roll_back(make_cluster, tmp_path):
    # h2's runc fails to restore (and only that): the target never runs the container
    wrapper = str(tmp_path / "runc-failing-restore")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = restore ] && { echo 'injected restore failure' >&2; "
                "exit 1; }; done\nexec %s \"$@\"\n" % shutil.which("runc"))
    os.chmod(wrapper, 0o755)
    c = make_cluster(host_args={"h2": ["--runc", wrapper]})
    if lazy_unavailable(c):
        pytest.skip("lazy mode is not available here: %s" % lazy_unavailable(c))
    log1 = start_memory_counter(c, "rc")
    before = log_numbers(log1)
    m = c.migrate("rc", "h2", mode="lazy")
    assert m["state"] == "rolled_back", m
    assert "the target could not run the workload" in m.get("error", ""), m
    assert "runc restore exited with status 1" in m.get("error", ""), m
    wait_for(lambda: len(log_numbers(log1)) > len(before) + 3, 30, "the counter to go on on h1")
    assert_continuous(log_numbers(log1), before)
    now, at_start = memory_checksum(rootfs_of(c, "h1", "rc"))
    assert now == at_start, (now, at_start)
    w = c.workload("rc")
    assert w["host"] == "h1" and w["state"] == "running", w
    assert not os.path.exists(os.path.dirname(rootfs_of(c, "h2", "rc"))), "h2 kept the arriving bundle"

    # a bundle that names a CRIU configuration of its own keeps it, so CRIU's lazy
    # page server would listen on every address: refused, before any freeze
    bundle = str(tmp_path / "own-criu-config")
    make_bundle(bundle, ["sh", "-c", COUNTER])
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    cfg.setdefault("annotations", {})["org.criu.config"] = str(tmp_path / "theirs.conf")
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    c.cli("workload", "create", "--kind", "runc", "--host", "h1", "--name", "own", "--bundle", bundle)
    log = os.path.join(bundle, "rootfs", "tmp", "log")
    wait_for(lambda: os.path.exists(log) and len(log_numbers(log)) > 5, 30, "the counter to count")
    m = c.migrate("own", "h2", mode="lazy")
    assert m["state"] == "rolled_back", m
    assert "runs without flyt's CRIU configuration" in m.get("error", ""), m
    assert m.get("downtime_ms") is None, m  # never frozen
    n = len(log_numbers(log))
    wait_for(lambda: len(log_numbers(log)) > n + 3, 30, "the counter to go on on h1")
    assert c.workload("own")["host"] == "h1"


def test_source_agent_killed_while_the_container_is_paused(make_cluster):
    """The source's flytd dies (kill -9) while its container is paused for the
    checkpoint and the target holds before restoring: the restarted flytd, which
    had not decided to commit, resumes the container (runc resume, not a signal:
    the cgroup freezer holds it) and the migration ends rolled back, the counter
    going on on h1 only."""
    c = make_cluster()
    tar = engines.make_busybox_tarball(c.tmp)
    c.cli("workload", "create", "--kind", "runc", "--host", "h1", "--name", "rc", "--rootfs", tar, "--",
          "sh", "-c", COUNTER)
    log1 = os.path.join(rootfs_of(c, "h1", "rc"), "tmp", "log")
    wait_for(lambda: os.path.exists(log1) and len(log_numbers(log1)) > 5, 30, "the counter to count")
    before = log_numbers(log1)
    m = c.migrate_killing_the_source_agent("rc")
    assert m["state"] == "rolled_back", m
    wait_for(lambda: len(log_numbers(log1)) > len(before) + 10, 60, "the counter to go on on h1")
    assert_continuous(log_numbers(log1), before)
    w = c.workload("rc")
    assert w["host"] == "h1" and w["state"] == "running", w
    wait_for(lambda: "rc" not in c.agent_workloads("h2"), 60, "h2 to keep nothing of rc")
