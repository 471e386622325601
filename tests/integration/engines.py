"""Container engines for the integration tests: a real dockerd and a real
``podman system service`` per test host, each with its own directories under
the cluster's temporary directory, started in the host's network namespace with
``nsenter --net`` (``ip netns exec`` would hide the cgroup mounts, see
PLATFORM.md), and busybox images built from Debian's busybox-static (no registry
is reachable).

Use: ``Cluster(engines=[DockerEngine])`` (or PodmanEngine, or both). Each host then
has ``host.engines["docker"]`` with ``.socket``, ``.cli(...)`` and ``.api(...)``,
and its flytd gets ``--docker-socket`` / ``--podman-socket``. Teardown (part of
the cluster's) removes every container, stops the daemon and unmounts whatever
is still mounted below its directory (overlay layers, netns and shm mounts)
before the directory is deleted; the janitor does the same for dead test runs.
"""

import http.client
import json as jsonlib
import os
import shutil
import socket
import subprocess
import time

BUSYBOX = "/bin/busybox"
DOCKER_CLI = "/usr/bin/docker"  # Debian's docker.io client (not /usr/local/bin's)
# The address range of the Docker bridge inside each host namespace: unused by
# the harness's subnets (198.18.1-250.0/24) and private to each namespace.
DOCKER_BIP = "198.18.251.1/24"
APPLETS = ("sh", "ls", "cat", "echo", "sleep", "mkdir", "touch", "rm", "mv", "wc", "seq", "ps", "head", "tail",
           "grep", "nc", "httpd", "env", "true", "false", "date", "kill", "test", "[")


def engine_skip_reason(kind):
    """Why engine `kind` (docker, podman, runc) cannot be tested here, or None."""
    if not os.access(BUSYBOX, os.X_OK):
        return "busybox-static is not installed (scripts/setup.sh)"
    if kind == "docker":
        for tool in ("dockerd", "containerd", "runc"):
            if not shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin"):
                return "%s is not installed (scripts/setup.sh installs docker.io)" % tool
        if not os.access(DOCKER_CLI, os.X_OK):
            return "Debian's docker client %s is missing" % DOCKER_CLI
    elif kind == "podman":
        for tool in ("podman", "conmon", "runc"):
            if not shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin:/usr/libexec/podman"):
                return "%s is not installed (scripts/setup.sh)" % tool
    elif kind == "runc":
        if not shutil.which("runc", path="/usr/sbin:/usr/bin:/sbin:/bin"):
            return "runc is not installed (scripts/setup.sh)"
    return None


def make_busybox_rootfs(directory):
    """A minimal root file system: busybox-static and links to some applets."""
    for d in ("bin", "tmp", "proc", "sys", "dev", "etc", "root", "data"):
        os.makedirs(os.path.join(directory, d), exist_ok=True)
    os.chmod(os.path.join(directory, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(directory, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(directory, "bin", a))
    with open(os.path.join(directory, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")


def make_busybox_tarball(workdir, name="busybox-rootfs.tar"):
    """A tarball of make_busybox_rootfs (for `docker import`, podman and runc)."""
    root = os.path.join(workdir, "busybox-rootfs")
    if not os.path.isdir(root):
        make_busybox_rootfs(root)
    tar = os.path.join(workdir, name)
    if not os.path.exists(tar):
        subprocess.run(["tar", "-C", root, "--numeric-owner", "-cf", tar, "."], check=True, timeout=60)
    return tar


# ---- mounts ------------------------------------------------------------------


def mounts_below(path):
    """Mount points at or below path, deepest first."""
    path = os.path.realpath(path)
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].encode().decode("unicode_escape")
                if mp == path or mp.startswith(path + "/"):
                    out.append(mp)
    except OSError:
        pass
    return sorted(set(out), key=lambda p: -p.count("/"))


def unmount_below(path):
    """Unmounts (lazily, deepest first) everything mounted at or below path."""
    for _ in range(5):
        mps = mounts_below(path)
        if not mps:
            return True
        for mp in mps:
            subprocess.run(["umount", "-l", mp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    return not mounts_below(path)


# ---- a tiny HTTP client over a unix socket --------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


def unix_http(sock_path, method, path, body=None, timeout=60, raw=None):
    """(status, parsed JSON or text) of an HTTP request on a unix socket."""
    c = _UnixConnection(sock_path, timeout)
    try:
        headers = {}
        data = None
        if raw is not None:
            data = raw
            headers["Content-Type"] = "application/x-tar"
        elif body is not None:
            data = jsonlib.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        try:
            return r.status, jsonlib.loads(text) if text else None
        except ValueError:
            return r.status, text
    finally:
        c.close()


# ---- engines --------------------------------------------------------------------


class Engine:
    """One daemon of one test host. Subclasses set kind, flag and implement
    _argv, ping, _import_busybox and _remove_all."""

    kind = None
    flag = None

    def __init__(self, cluster, host):
        self.cluster = cluster
        self.host = host
        self.dir = os.path.join(cluster.tmp, "%s-%s" % (self.kind, host.name))
        os.makedirs(self.dir, exist_ok=True)
        self.socket = os.path.join(self.dir, "api.sock")
        self.log = os.path.join(cluster.logs, "%s-%s.log" % (self.kind, host.name))
        self.proc = None

    def start(self):
        self.proc = self.cluster._spawn(self._argv(), self.log, ns=self.host.ns)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("%s of %s exited (%s); see %s" % (self.kind, self.host.name,
                                                                     self.proc.returncode, self.log))
            return self.ping()
        self.cluster.wait_for(up, 90, "%s of %s to answer on %s" % (self.kind, self.host.name, self.socket),
                              interval=0.2)
        self._import_busybox()
        return [self.flag, self.socket]

    def api(self, method, path, body=None, timeout=60, raw=None):
        return unix_http(self.socket, method, path, body, timeout, raw)

    def stop(self):
        """Removes every container, stops the daemon, unmounts what it left."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self._remove_all()
            except Exception as e:  # noqa: BLE001 - best effort, the sweep follows
                self.cluster.report_note("%s of %s: removing containers: %s" % (self.kind, self.host.name, e))
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        unmount_below(self.dir)


class DockerEngine(Engine):
    kind = "docker"
    flag = "--docker-socket"

    def _argv(self):
        return ["dockerd", "--experimental", "--data-root", os.path.join(self.dir, "data"),
                "--exec-root", os.path.join(self.dir, "exec"), "-H", "unix://" + self.socket,
                "-p", os.path.join(self.dir, "dockerd.pid"), "--bip", DOCKER_BIP, "--iptables=false",
                "--ip-masq=false", "--storage-driver", "overlay2"]

    def ping(self):
        return os.path.exists(self.socket) and self.api("GET", "/_ping", timeout=5)[0] == 200

    def cli(self, *args, check=True, timeout=120, input=None):
        r = subprocess.run([DOCKER_CLI, "-H", "unix://" + self.socket] + list(args), input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                           env=self.cluster.env({"DOCKER_CONFIG": os.path.join(self.dir, "cli")}))
        if check and r.returncode != 0:
            raise AssertionError("docker %s on %s failed: %s" % (" ".join(args), self.host.name, r.stderr.strip()))
        return r.stdout.strip()

    def _import_busybox(self):
        tar = make_busybox_tarball(self.cluster.tmp)
        self.cli("import", tar, "busybox:latest")

    def _remove_all(self):
        st, lst = self.api("GET", "/v1.41/containers/json?all=1", timeout=20)
        for c in lst if st == 200 else []:
            self.api("DELETE", "/v1.41/containers/%s?force=1" % c["Id"], timeout=60)


class PodmanEngine(Engine):
    kind = "podman"
    flag = "--podman-socket"

    def __init__(self, cluster, host):
        super().__init__(cluster, host)
        # what PLATFORM.md says Podman needs here: runc (crun has no CRIU) and
        # ulimits it can set without CAP_SYS_RESOURCE; the host's network
        self.conf = os.path.join(self.dir, "containers.conf")
        with open(self.conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
                    'netns = "host"\n[engine]\nruntime = "runc"\n')
        self.base = ["podman", "--root", os.path.join(self.dir, "root"), "--runroot",
                     os.path.join(self.dir, "run"), "--tmpdir", os.path.join(self.dir, "tmp"), "--runtime", "runc", "--storage-driver", "overlay",
                     "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def _argv(self):
        return ["env", "CONTAINERS_CONF=" + self.conf] + self.base + ["system", "service", "--time", "0",
                                                                      "unix://" + self.socket]

    def ping(self):
        return os.path.exists(self.socket) and self.api("GET", "/v4.0.0/libpod/_ping", timeout=5)[0] == 200

    def cli(self, *args, check=True, timeout=120, input=None):
        """podman-remote against this host's service."""
        r = subprocess.run(["podman", "--remote", "--url", "unix://" + self.socket] + list(args), input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                           env=self.cluster.env({"CONTAINERS_CONF": self.conf}))
        if check and r.returncode != 0:
            raise AssertionError("podman %s on %s failed: %s" % (" ".join(args), self.host.name, r.stderr.strip()))
        return r.stdout.strip()

    def _import_busybox(self):
        tar = make_busybox_tarball(self.cluster.tmp)
        with open(tar, "rb") as f:
            st, ans = self.api("POST", "/v4.0.0/libpod/images/import?reference=localhost/busybox:latest",
                               raw=f.read(), timeout=120)
        if st != 200:
            raise AssertionError("podman import on %s: %s %s" % (self.host.name, st, ans))

    def _remove_all(self):
        st, lst = self.api("GET", "/v4.0.0/libpod/containers/json?all=true", timeout=20)
        for c in lst if st == 200 else []:
            # a forced removal sends SIGTERM and waits 10 s for it: a shell as
            # PID 1 ignores it (docker rm -f kills at once)
            self.api("POST", "/v4.0.0/libpod/containers/%s/kill?signal=KILL" % c["Id"], timeout=30)
            self.api("DELETE", "/v4.0.0/libpod/containers/%s?force=true" % c["Id"], timeout=60)


def wait_running(cluster, engine, name, timeout=30):
    """The inspect record of container name once it runs."""
    path = ("/v1.41/containers/%s/json" if engine.kind == "docker" else "/v4.0.0/libpod/containers/%s/json") % name

    def running():
        st, ins = engine.api("GET", path, timeout=10)
        return ins if st == 200 and ins["State"]["Running"] and not ins["State"].get("Paused") else None
    return cluster.wait_for(running, timeout, "container %s to run on %s" % (name, engine.host.name))


def time_ms():
    return int(time.monotonic() * 1000)
