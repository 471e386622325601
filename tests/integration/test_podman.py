"""Podman containers migrate live between two namespace hosts, each with its own
`podman system service` (own --root and --runroot, runc, the ulimits PLATFORM.md
lists), on a busybox image built here: the image travels when the target lacks
it, the container keeps its name, its counter, its files and its volume; a
failed import on the target restores the source from its kept checkpoint."""
import json

import pytest

import engines
from harness import wait_for

pytestmark = pytest.mark.skipif(engines.engine_skip_reason("podman") is not None,
                                reason=engines.engine_skip_reason("podman") or "")

# /data/count is replaced by a rename, so that a reader never sees it half written
COUNTER = ("i=0; while true; do i=$((i+1)); echo $i > /data/count.new; mv /data/count.new /data/count; "
           "echo $i >> /tmp/log; sleep 0.05; done")
INSPECT = "/v4.0.0/libpod/containers/%s/json"


def read_log(eng, name):
    text = eng.cli("exec", name, "cat", "/tmp/log")
    return [int(x) for x in text.split()[:-1]]


def assert_continuous(nums, before):
    assert nums[0] == 1 and all(b == a + 1 for a, b in zip(nums, nums[1:])), (
        "the counter restarted or lost lines: %s ..." % nums[:20])
    assert nums[:len(before)] == before
    assert len(nums) > len(before)


def start_counter(c, eng):
    eng.cli("run", "-d", "--name", "counter", "-v", "data:/data", "-e", "GREETING=hej", "--label", "app=counter",
            "localhost/busybox:latest", "sh", "-c", COUNTER)
    engines.wait_running(c, eng, "counter")
    eng.cli("exec", "counter", "sh", "-c", "echo written-before > /root/note.txt")
    wait_for(lambda: len(read_log(eng, "counter")) > 5, 30, "the counter to count")


def test_counter_container_moves(make_cluster):
    c = make_cluster(engines=[engines.PodmanEngine])
    p1, p2 = c.hosts["h1"].engines["podman"], c.hosts["h2"].engines["podman"]
    start_counter(c, p1)
    # the image is not on h2 (a differently built one under the same name would
    # not do): remove it so that it has to travel
    p2.cli("rmi", "localhost/busybox:latest")
    out = c.cli("workload", "adopt", "--kind", "podman", "--host", "h1", "counter").stdout
    assert "adopted podman container counter" in out, out
    src = p1.api("GET", INSPECT % "counter")[1]
    # the host says what the driver can do; a mode it cannot do is refused at once
    drv = c.api("GET", "/api/v1/hosts/h2", expect=200).json["drivers"]["podman"]
    assert drv["available"] is True and drv["modes"] == ["stop-copy", "shared"], drv
    r = c.cli("migrate", "counter", "--to", "h2", "--mode", "lazy", check=False)
    assert r.returncode == 1 and "the podman driver cannot migrate in mode lazy" in r.stderr, r.stderr
    before = read_log(p1, "counter")
    m = json.loads(c.cli("migrate", "counter", "--to", "h2", "--wait", json=True).stdout)
    assert m["state"] == "committed", m
    assert m["restore_ms"] > 0, m  # podman container restore --import on h2
    dst = engines.wait_running(c, p2, "counter")
    wait_for(lambda: len(read_log(p2, "counter")) > len(before) + 3, 30, "the counter to go on on h2")
    assert_continuous(read_log(p2, "counter"), before)
    assert p2.cli("exec", "counter", "cat", "/root/note.txt") == "written-before"
    assert int(p2.cli("exec", "counter", "cat", "/data/count")) >= len(before)
    assert "count" in p2.cli("exec", "counter", "ls", "/data").split()
    # Podman's import would bind-mount h1's directories (its archive names them):
    # flyt rewrote them to h2's storage
    data = [mt for mt in dst["Mounts"] if mt["Destination"] == "/data"]
    assert data and data[0]["Source"].startswith(p2.dir + "/"), dst["Mounts"]
    paths = {k: v for k, v in dst.items() if k != "Config"}  # Config.CreateCommand names h1's socket
    assert p1.dir not in json.dumps(paths), "h2's container still refers to h1's Podman storage"
    assert dst["Config"]["Labels"].get("app") == "counter"
    assert "GREETING=hej" in dst["Config"]["Env"]
    assert dst["ImageName"] == src["ImageName"]
    assert p1.api("GET", INSPECT % "counter")[0] == 404, "the source container is still on h1"
    assert p1.api("GET", "/v4.0.0/libpod/volumes/data/json")[0] == 404, "the source kept the moved volume"
    assert c.workload("counter")["host"] == "h2"


def test_failed_import_restores_the_source(make_cluster):
    c = make_cluster(engines=[engines.PodmanEngine])
    p1, p2 = c.hosts["h1"].engines["podman"], c.hosts["h2"].engines["podman"]
    start_counter(c, p1)
    c.cli("workload", "adopt", "--kind", "podman", "--host", "h1", "--name", "pc", "counter")
    # h2 has a volume of that name already, with data of its own
    p2.cli("volume", "create", "data")
    p2.cli("run", "--rm", "-v", "data:/data", "localhost/busybox:latest", "sh", "-c", "echo theirs > /data/mine")
    before = read_log(p1, "counter")
    m = c.migrate("pc", "h2", mode="stop-copy")
    assert m["state"] == "rolled_back", m
    assert "a Podman volume named data exists already on the target" in m["error"], m
    engines.wait_running(c, p1, "counter")
    wait_for(lambda: len(read_log(p1, "counter")) > len(before) + 3, 30, "the counter to go on on h1")
    assert_continuous(read_log(p1, "counter"), before)
    assert c.workload("pc")["host"] == "h1"
    assert p2.api("GET", INSPECT % "counter")[0] == 404
    assert p2.cli("run", "--rm", "-v", "data:/data", "localhost/busybox:latest", "cat", "/data/mine") == "theirs"


def test_source_agent_killed_while_the_container_is_stopped(make_cluster):
    """The source's flytd dies (kill -9) after Podman checkpointed and stopped the
    container, while the target holds before restoring: the restarted flytd,
    which had not decided to commit, restores it from the checkpoint Podman
    kept, and the migration ends rolled back, the counter going on on h1."""
    c = make_cluster(engines=[engines.PodmanEngine])
    p1, p2 = c.hosts["h1"].engines["podman"], c.hosts["h2"].engines["podman"]
    start_counter(c, p1)
    c.cli("workload", "adopt", "--kind", "podman", "--host", "h1", "--name", "pc", "counter")
    before = read_log(p1, "counter")
    m = c.migrate_killing_the_source_agent("pc")
    assert m["state"] == "rolled_back", m
    engines.wait_running(c, p1, "counter")
    wait_for(lambda: len(read_log(p1, "counter")) > len(before) + 10, 60, "the counter to go on on h1")
    assert_continuous(read_log(p1, "counter"), before)
    w = c.workload("pc")
    assert w["host"] == "h1" and w["state"] == "running", w
    wait_for(lambda: p2.api("GET", INSPECT % "counter")[0] == 404, 60, "h2 to keep no container of it")


def test_process_workload_keeps_no_container_mounts(make_cluster):
    """A process workload started while a container runs on its host must not
    keep that container's mounts (overlay root, shm) in its mount table: on
    another host their mount points do not exist, and its restore there would fail
    (`mnt-v2: Can't stat mountpoint .../merged`)."""
    c = make_cluster(engines=[engines.PodmanEngine])
    p1 = c.hosts["h1"].engines["podman"]
    p1.cli("run", "-d", "--name", "passerby", "localhost/busybox:latest", "sleep", "1000")
    engines.wait_running(c, p1, "passerby")
    with open("/proc/self/mountinfo") as f:
        host_mounts = [line.split()[4] for line in f if p1.dir in line]
    assert any(mp.endswith("/merged") for mp in host_mounts), host_mounts  # the container's root
    c.create_memhog("hog", "h1", mib=16, port=9300)
    with open("/proc/%d/mountinfo" % c.workload_pid("hog")) as f:
        kept = [line.split()[4] for line in f if p1.dir in line]
    assert not [mp for mp in kept if mp.endswith("/merged") or mp.endswith("/shm")], kept
    before = c.memhog_status(c.hosts["h1"].ip, 9300)["counter"]
    m = c.migrate("hog", "h2", mode="stop-copy")
    assert m["state"] == "committed", m
    assert c.memhog_status(c.hosts["h2"].ip, 9300)["counter"] >= before
