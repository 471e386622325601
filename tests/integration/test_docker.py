"""Docker containers migrate live between two namespace hosts, each with a real
dockerd of its own (engines.DockerEngine), on a busybox image built here.

What must hold: the container keeps its name, its in-memory state (a shell loop
counting; a variable set in an interactive shell), the files it wrote and
deleted, its named volume's contents and its configuration; the source
container is removed only once the target runs it; a failure rolls back to the
running source and leaves nothing on the target."""
import os
import pty
import select
import subprocess
import time

import pytest

import engines
from harness import wait_for

pytestmark = pytest.mark.skipif(engines.engine_skip_reason("docker") is not None,
                                reason=engines.engine_skip_reason("docker") or "")

# /data/count is replaced by a rename, so that a reader never sees it half written
COUNTER = ("i=0; while true; do i=$((i+1)); echo $i > /data/count.new; mv /data/count.new /data/count; "
           "echo $i >> /tmp/log; sleep 0.05; done")


def docker_cluster(make_cluster, **kw):
    return make_cluster(engines=[engines.DockerEngine], **kw)


def read_log(eng, name):
    """The counter's /tmp/log as a list of numbers (the last, maybe partial, line dropped)."""
    text = eng.cli("exec", name, "cat", "/tmp/log")
    return [int(x) for x in text.split()[:-1]]


def assert_continuous(nums, before):
    assert nums[0] == 1 and all(b == a + 1 for a, b in zip(nums, nums[1:])), (
        "the counter restarted or lost lines: %s ..." % nums[:20])
    assert nums[:len(before)] == before, "lines written before the migration were lost"
    assert len(nums) > len(before), "the counter does not go on after the migration"


def adopt(cluster, name, host="h1", container=None):
    r = cluster.api("POST", "/api/v1/workloads",
                    {"name": name, "kind": "docker", "host": host, "spec": {"container": container or name}})
    assert r.status == 201, r.text
    return r.json


def test_counter_container_moves_with_its_files_volume_and_config(make_cluster):
    c = docker_cluster(make_cluster)
    d1, d2 = c.hosts["h1"].engines["docker"], c.hosts["h2"].engines["docker"]
    d1.cli("run", "-d", "--name", "counter", "-v", "data:/data", "-e", "GREETING=hej", "-w", "/tmp",
           "--label", "app=counter", "--restart", "unless-stopped", "-p", "18080:80", "busybox", "sh", "-c", COUNTER)
    engines.wait_running(c, d1, "counter")
    # filesystem changes: a file written, one deleted from the image
    d1.cli("exec", "counter", "sh", "-c", "echo written-before > /root/note.txt; rm /etc/passwd")
    src = d1.api("GET", "/v1.41/containers/counter/json")[1]

    w = adopt(c, "counter")
    assert w["kind"] == "docker"
    wait_for(lambda: len(read_log(d1, "counter")) > 5, 30, "the counter to count")
    before = read_log(d1, "counter")

    m = c.migrate("counter", "h2", mode="auto")
    assert m["state"] == "committed", m
    assert m["mode"] == "stop-copy", m  # lazy and precopy are not Docker modes
    assert m["downtime_ms"] > 0 and m["bytes"] > 0
    assert m["restore_ms"] > 0, m  # docker start --checkpoint on h2

    dst = engines.wait_running(c, d2, "counter")
    wait_for(lambda: len(read_log(d2, "counter")) > len(before) + 3, 30, "the counter to go on on h2")
    assert_continuous(read_log(d2, "counter"), before)
    # the volume's file is the counter's latest value (it kept writing into it)
    assert int(d2.cli("exec", "counter", "cat", "/data/count")) >= len(before)
    assert d2.cli("exec", "counter", "cat", "/root/note.txt") == "written-before"
    assert d2.cli("exec", "counter", "sh", "-c", "test -e /etc/passwd && echo present || echo gone") == "gone"
    # configuration
    for key in ("Env", "Cmd", "WorkingDir", "Labels", "Image"):
        assert dst["Config"][key] == src["Config"][key], key
    for key in ("PortBindings", "RestartPolicy", "Binds"):
        assert dst["HostConfig"][key] == src["HostConfig"][key], key
    assert dst["Name"] == "/counter"
    # the source container is gone, the workload is on h2
    st, _ = d1.api("GET", "/v1.41/containers/counter/json")
    assert st == 404, "the source container still exists on h1"
    wl = c.workload("counter")
    assert wl["host"] == "h2" and wl["state"] == "running", wl

    # and back again: the image is there now, only the container state moves
    m2 = c.migrate("counter", "h1", mode="stop-copy")
    assert m2["state"] == "committed", m2
    engines.wait_running(c, d1, "counter")
    nums = read_log(d1, "counter")
    assert_continuous(nums, before)


def test_failed_restore_rolls_back_to_the_running_source(make_cluster):
    c = docker_cluster(make_cluster)
    d1, d2 = c.hosts["h1"].engines["docker"], c.hosts["h2"].engines["docker"]
    d1.cli("run", "-d", "--name", "counter", "-v", "data:/data", "busybox", "sh", "-c", COUNTER)
    engines.wait_running(c, d1, "counter")
    adopt(c, "counter")
    # h2 has a volume of that name already: flyt must not merge into it
    d2.cli("volume", "create", "data")
    d2.cli("run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo theirs > /data/mine")
    wait_for(lambda: len(read_log(d1, "counter")) > 5, 30, "the counter to count")
    before = read_log(d1, "counter")
    m = c.migrate("counter", "h2", mode="stop-copy")
    assert m["state"] == "rolled_back", m
    assert "volume" in m.get("error", ""), m
    engines.wait_running(c, d1, "counter")
    wait_for(lambda: len(read_log(d1, "counter")) > len(before) + 3, 30, "the counter to go on on h1")
    assert_continuous(read_log(d1, "counter"), before)
    # nothing of it on h2, and h2's own volume untouched
    assert d2.api("GET", "/v1.41/containers/counter/json")[0] == 404
    assert d2.cli("run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/mine") == "theirs"
    wl = c.workload("counter")
    assert wl["host"] == "h1" and wl["state"] == "running", wl


def test_source_agent_killed_while_the_container_is_paused(make_cluster):
    """The source's flytd dies (kill -9) while the container is paused for its
    checkpoint and the target holds before restoring: the restarted flytd, which
    had not decided to commit, unpauses it (no signal would: the cgroup freezer
    holds it) and the migration ends rolled back, the container counting on h1."""
    c = docker_cluster(make_cluster)
    d1, d2 = c.hosts["h1"].engines["docker"], c.hosts["h2"].engines["docker"]
    d1.cli("run", "-d", "--name", "counter", "-v", "data:/data", "busybox", "sh", "-c", COUNTER)
    engines.wait_running(c, d1, "counter")
    adopt(c, "counter")
    wait_for(lambda: len(read_log(d1, "counter")) > 5, 30, "the counter to count")
    before = read_log(d1, "counter")
    m = c.migrate_killing_the_source_agent("counter")
    assert m["state"] == "rolled_back", m
    engines.wait_running(c, d1, "counter")
    wait_for(lambda: len(read_log(d1, "counter")) > len(before) + 10, 60, "the counter to go on on h1")
    assert_continuous(read_log(d1, "counter"), before)
    wl = c.workload("counter")
    assert wl["host"] == "h1" and wl["state"] == "running", wl
    wait_for(lambda: d2.api("GET", "/v1.41/containers/counter/json")[0] == 404, 60,
             "h2 to keep no container of it")


class Attached:
    """docker attach to a -i -t container through a pseudo-terminal of ours."""

    def __init__(self, eng, name):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([engines.DOCKER_CLI, "-H", "unix://" + eng.socket, "attach", name],
                                     stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                     env=eng.cluster.env({"DOCKER_CONFIG": os.path.join(eng.dir, "cli")}))
        os.close(slave)
        self.out = b""

    def send(self, text):
        os.write(self.master, text.encode())

    def expect(self, needle, timeout=30):
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("did not see %r on the terminal; got %r" % (needle, self.out[-500:]))
            r, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if r:
                try:
                    self.out += os.read(self.master, 4096)
                except OSError:
                    pass

    def detach(self):
        os.write(self.master, b"\x10\x11")  # ctrl-p ctrl-q: detach, the shell runs on
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)


def test_interactive_shell_keeps_its_variable(make_cluster):
    c = docker_cluster(make_cluster)
    d1, d2 = c.hosts["h1"].engines["docker"], c.hosts["h2"].engines["docker"]
    d1.cli("run", "-d", "-i", "-t", "--name", "shell", "busybox", "/bin/sh")
    engines.wait_running(c, d1, "shell")
    t = Attached(d1, "shell")
    t.send("X=flyt-$((6*7)); echo set-$X\n")
    t.expect("set-flyt-42")
    t.detach()
    adopt(c, "shell")
    m = c.migrate("shell", "h2")
    assert m["state"] == "committed", m
    engines.wait_running(c, d2, "shell")
    t = Attached(d2, "shell")
    t.send("echo got-$X; echo $X > /tmp/x\n")
    t.expect("got-flyt-42")
    t.detach()
    assert d2.cli("exec", "shell", "cat", "/tmp/x") == "flyt-42"
