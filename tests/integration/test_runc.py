"""runc containers migrate live: from a rootfs tarball flyt turns into a bundle
(the root file system travels, with what the container wrote), from a bundle on
shared storage (it stays where it is), and a failed restore on the target after
the switch-over brings the container back on the source from its checkpoint."""
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
    m = json.loads(c.cli("migrate", "rc", "--to", "h2", "--wait", json=True).stdout)
    assert m["state"] == "committed", m
    assert m["mode"] == "stop-copy" and m["downtime_ms"] > 0, m
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
