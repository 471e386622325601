"""A throw-away flyt cluster on this machine, for the integration tests.

Each Cluster owns, for the time of one test:

- a subnet 198.18.N.0/24 (N allocated per cluster; an abstract unix socket named
  after N is held as the lock, so that two test processes never share one),
- a bridge ``flytbr<N>`` with the address 198.18.N.254, where the controller
  listens, and one network namespace ``flyt<N>h<i>`` per host, joined to the
  bridge by a veth pair (``flyt<N>h<i>r`` on the root side, ``flyt<N>h<i>n``
  inside) and addressed 198.18.N.<i>,
- a temporary directory under /tmp with the token, the controller's database,
  one state directory per agent and the logs of every daemon,
- the controller and one flytd per host (started with ``nsenter --net``).

Everything it starts is marked with the environment variable FLYT_TEST_ID (the
daemons directly, workloads through their process spec), so that teardown can find
and kill what the agents launched (workloads are not the agents' children, and
CRIU-restored copies are reparented); teardown also kills whatever still runs in
the cluster's network namespaces (workloads live there too, which catches programs
that overwrite their environment block, as redis-server does for its titles).

Teardown always runs: at the end of the test, from atexit, and from SIGTERM,
SIGHUP and SIGQUIT handlers (quickly: meson's timeout sends SIGKILL 0.5 s after
SIGTERM). A watchdog process of its own session, started with the first cluster,
notices when the test process is gone however it ended (even SIGKILL) and runs the
janitor, which removes whatever dead test processes left. The temporary directory
is kept (and its path printed) when the test failed; FLYT_KEEP_TMP=1 keeps it
always.

Only the standard library is used. Nothing here talks to any address outside
198.18.0.0/16 and loopback.
"""

import atexit
import http.client
import itertools
import json as jsonlib
import os
import re
import secrets
import shutil
import signal
import ssl
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("FLYT_BUILD_DIR") or os.path.join(SOURCE_ROOT, "build")


def _bin(env, *rel):
    return os.environ.get(env) or os.path.join(BUILD_DIR, *rel)


FLYTD = _bin("FLYT_FLYTD", "src", "flytd")
FLYT_CONTROLLER = _bin("FLYT_CONTROLLER_BIN", "src", "controller", "flyt-controller")
FLYT_CLI = _bin("FLYT_CLI", "src", "cli", "flyt")
MEMHOG = _bin("FLYT_MEMHOG", "tests", "integration", "memhog")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

TERMINAL_STATES = ("committed", "rolled_back", "failed")
MIB = 1024 * 1024


def find_criu():
    """The CRIU flyt will use, or None."""
    if os.access("/usr/local/sbin/criu", os.X_OK):
        return "/usr/local/sbin/criu"
    return shutil.which("criu", path=os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin")


def skip_reason():
    """Why these tests cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "integration tests need root (network namespaces, CRIU)"
    if not find_criu():
        return "CRIU is not installed (/usr/local/sbin/criu or criu on PATH); run scripts/setup.sh"
    for tool in ("ip", "nsenter"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"):
            return "%s is not installed" % tool
    return None


class HarnessError(AssertionError):
    """Something the harness waited for did not happen (fails the test)."""


class Abort(HarnessError):
    """Raised by a wait_for predicate: waiting longer is pointless (a daemon died)."""


def wait_for(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns a true value, which is returned. Raises
    HarnessError naming `what` (and the last exception or value) after timeout s."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = "last value: %r" % (value,)
        except Abort:
            raise
        except Exception as e:  # noqa: BLE001 - reported below
            last = "last error: %s: %s" % (type(e).__name__, e)
        if time.monotonic() >= deadline:
            raise HarnessError("timed out after %.0f s waiting for %s (%s)" % (timeout, what, last))
        time.sleep(interval)


def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    if check and r.returncode != 0:
        raise HarnessError("ip %s failed: %s" % (" ".join(args), r.stderr.strip()))
    return r


def _link_exists(name):
    return os.path.exists("/sys/class/net/%s" % name)


def _netns_exists(name):
    return os.path.exists("/run/netns/%s" % name)


def proc_start_time(pid):
    """The start time (clock ticks after boot) of pid, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command may contain spaces and parentheses: split after the last ')'
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] == b"Z":
        return None
    return int(fields[19])


def proc_alive(pid, start_time=None):
    st = proc_start_time(pid)
    return st is not None and (start_time is None or st == start_time)


def proc_environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def proc_netns(pid):
    try:
        return os.stat("/proc/%d/ns/net" % pid).st_ino
    except OSError:
        return None


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def pids_with_env(entry):
    """Processes whose environment holds the exact entry "K=V"."""
    want = entry.encode()
    me = os.getpid()
    return [p for p in all_pids() if p != me and want in proc_environ(p)]


def install_reporter(config):
    """Makes harness.report (what a test prints past pytest's capture) write to
    stderr with pytest's capture suspended; called by the conftests."""
    global report

    def write(text):
        capman = config.pluginmanager.getplugin("capturemanager")
        if capman:
            capman.suspend_global_capture(in_=False)
        sys.stderr.write(text)
        sys.stderr.flush()
    report = write


def print_matrix(title, expected, results, filename):
    """For the fault matrices: prints a table of cells (through report, past
    pytest's capture) and writes it to BUILD/filename. expected: {(kind, fault,
    phase): (outcome, host, ...)}; results: {same key: (what happened, seconds)},
    a cell without a result shows "not run"."""
    head = ("kind", "fault", "phase", "expected", "time", "outcome")
    rows = [head]
    for key, want in expected.items():
        outcome, secs = results.get(key, ("not run", None))
        rows.append(tuple(key) + ("%s/%s" % want[:2], "-" if secs is None else "%.0f s" % secs, outcome))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    text = "\n".join(["", title] + [" ".join(c.ljust(w) for c, w in zip(r, widths)) + " " + r[-1] for r in rows])
    text += "\n"
    (globals().get("report") or print)(text)
    out = os.environ.get("FLYT_BUILD_DIR")
    if out and os.path.isdir(out):
        with open(os.path.join(out, filename), "w") as f:
            f.write(text)


def fail_if_skipped(rep):
    """With FLYT_NO_SKIP=1 (scripts/test.sh sets it: it installs everything the
    suite needs) a skipped test fails: a skip there means it did not run."""
    if os.environ.get("FLYT_NO_SKIP") == "1" and rep.skipped and not hasattr(rep, "wasxfail"):
        rep.outcome = "failed"
        rep.longrepr = "skipped, which counts as failed here (FLYT_NO_SKIP=1): %s" % (rep.longrepr,)


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli) of bytes, as flyt's flyt_crc32c(0, ...)."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def agent_cgroup(name, state_dir):
    """The cgroup under which the agent named name with state_dir puts its runc
    containers (src/agent/drivers/runc.c: /flyt/NAME-CRC32C(STATE_DIR))."""
    return "/flyt/%s-%08x" % (name, crc32c(state_dir.encode()))


def proc_cgroups(pid):
    """The cgroup paths of a process, one per hierarchy."""
    try:
        with open("/proc/%d/cgroup" % pid) as f:
            return [line.rstrip("\n").split(":", 2)[2] for line in f if line.count(":") >= 2]
    except OSError:
        return []


def remove_cgroups(path):
    """Removes the (empty) cgroup path and those below it in every hierarchy."""
    root = "/sys/fs/cgroup"
    try:
        hierarchies = [os.path.join(root, d) for d in os.listdir(root)] + [root]
    except OSError:
        return
    for h in hierarchies:
        top = os.path.join(h, path.lstrip("/"))
        if not os.path.isdir(top):
            continue
        for d, _, _ in sorted(os.walk(top), key=lambda t: -len(t[0])):
            try:
                os.rmdir(d)
            except OSError:
                pass


def thaw_cgroups(path):
    """Thaws the cgroup path and those below it (a frozen process does not die
    of SIGKILL until it is thawed): cgroup v1's freezer, v2's cgroup.freeze."""
    for top, name, value in (("/sys/fs/cgroup/freezer", "freezer.state", "THAWED"),
                             ("/sys/fs/cgroup/unified", "cgroup.freeze", "0"),
                             ("/sys/fs/cgroup", "cgroup.freeze", "0")):
        base = os.path.join(top, path.lstrip("/"))
        if not os.path.isdir(base):
            continue
        for d, _, files in os.walk(base):
            if name in files:
                try:
                    with open(os.path.join(d, name), "w") as f:
                        f.write(value)
                except OSError:
                    pass


def _kill(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


# ---- subnet allocation -------------------------------------------------------

_counter = itertools.count()
_held_locks = {}


def _try_lock(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind("\0flyt-integration-net-%d" % n)
    except OSError:
        s.close()
        return None
    return s


def _subnet_used_by_others(n):
    """Whether 198.18.n.0/24 is routed through a device that is not ours."""
    r = _ip("-o", "-4", "addr", "show", check=False)
    for line in r.stdout.splitlines():
        m = re.search(r"^\d+:\s+(\S+)\s+inet\s+198\.18\.(\d+)\.", line)
        if m and int(m.group(2)) == n and m.group(1) != "flytbr%d" % n:
            return True
    return False


def _remove_stale(n):
    """Removes what a dead earlier run of ours left for subnet n (the caller holds
    its lock, so its owner is gone): processes in its namespaces, the namespaces,
    veths and bridge."""
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if re.fullmatch(r"flyt%dh\d+" % n, name):
            for _ in range(100):
                pids = [int(p) for p in _ip("netns", "pids", name, check=False).stdout.split()]
                if not pids:
                    break
                for pid in pids:
                    _kill(pid)
                time.sleep(0.05)
            _ip("netns", "del", name, check=False)
    for name in os.listdir("/sys/class/net"):
        if re.fullmatch(r"flyt%dh\d+[rn]" % n, name) or name == "flytbr%d" % n:
            _ip("link", "del", name, check=False)


def janitor():
    """Cleans up after test processes that died without tearing down (SIGKILL, a
    meson timeout): kills the processes marked with their FLYT_TEST_ID, removes
    their temporary directories (those still holding the owner file) and the
    networks whose lock nobody holds. Harmless to live test processes."""
    for pid in all_pids():
        for e in proc_environ(pid):
            if e.startswith(b"FLYT_TEST_ID="):
                try:
                    owner = int(e[len(b"FLYT_TEST_ID="):].split(b"-")[0])
                except ValueError:
                    break
                if owner != os.getpid() and not proc_alive(owner):
                    _kill(pid)
                break
    for d in os.listdir("/tmp"):
        owner_file = os.path.join("/tmp", d, "owner")
        if not d.startswith("flyt-it-") or not os.path.isfile(owner_file):
            continue
        try:
            with open(owner_file) as f:
                owner = int(f.read())
        except (OSError, ValueError):
            continue
        if owner != os.getpid() and not proc_alive(owner):
            # container engines leave overlay and namespace mounts: never delete
            # through them
            import engines
            if engines.unmount_below(os.path.join("/tmp", d)):
                shutil.rmtree(os.path.join("/tmp", d), ignore_errors=True)
    nets = set()
    for name in os.listdir("/sys/class/net") + (os.listdir("/run/netns") if os.path.isdir("/run/netns") else []):
        m = re.fullmatch(r"flytbr(\d+)|flyt(\d+)h\d+[rn]?", name)
        if m:
            nets.add(int(m.group(1) or m.group(2)))
    for n in sorted(nets):
        if n in _held_locks:
            continue
        lock = _try_lock(n)
        if lock:
            try:
                _remove_stale(n)
            finally:
                lock.close()


def allocate_subnet():
    start = (next(_counter) * 7 + os.getpid()) % 250
    for k in range(250):
        n = (start + k) % 250 + 1  # 1..250: 198.18.0.0/24 is left to people
        lock = _try_lock(n)
        if not lock:
            continue
        if _subnet_used_by_others(n):
            lock.close()
            continue
        _remove_stale(n)
        _held_locks[n] = lock
        return n
    raise HarnessError("no free subnet 198.18.N.0/24 for a test cluster")


def release_subnet(n):
    lock = _held_locks.pop(n, None)
    if lock:
        lock.close()


# ---- teardown on exit and on signals ----------------------------------------

_live_clusters = []
_live_lock = threading.RLock()


def _write_stderr(text):
    sys.stderr.write(text)
    sys.stderr.flush()


# How to reach the real stderr (conftest replaces it with one that gets past
# pytest's output capture, so that an interrupted run still tells what it had).
report = _write_stderr


def _cleanup_all(fast=False):
    with _live_lock:
        clusters = list(_live_clusters)
    for c in clusters:
        try:
            if fast:
                # interrupted: say what we know, then remove everything at once
                report("\nflyt harness: interrupted; tearing down\n%s\n" % c.describe())
            c.teardown(fast=fast)
        except Exception as e:  # noqa: BLE001 - best effort at exit
            sys.stderr.write("flyt harness: cleanup of %s: %s\n" % (c.tmp, e))


def _on_signal(sig, frame):
    # meson sends SIGTERM at a timeout and SIGKILL 0.5 s later: be quick (the
    # watchdog finishes the job if we do not make it)
    _cleanup_all(fast=True)
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)


WATCHDOG = r"""
import os, sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
while sys.stdin.buffer.read(65536):
    pass
# the test process is gone (however it ended): clean up what it left
import harness
harness.janitor()
"""

_handlers_installed = False
_watchdog_pipe = None


def _start_watchdog():
    """A process of its own session that outlives this one and runs the janitor
    when this process is gone, even after a SIGKILL."""
    global _watchdog_pipe
    r, w = os.pipe()
    try:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        subprocess.Popen([PYTHON, "-c", WATCHDOG, HERE], stdin=r, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True, env=env)
    finally:
        os.close(r)
    _watchdog_pipe = w  # never written; its closing at our death wakes the watchdog


def _install_handlers():
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    janitor()
    _start_watchdog()
    atexit.register(_cleanup_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, _on_signal)


# ---- the cluster ---------------------------------------------------------------


class Host:
    def __init__(self, cluster, index, extra_args):
        n = cluster.net
        self.cluster = cluster
        self.index = index
        self.name = "h%d" % index
        self.ns = "flyt%dh%d" % (n, index)
        self.veth_root = "flyt%dh%dr" % (n, index)
        self.veth_ns = "flyt%dh%dn" % (n, index)
        self.ip = "198.18.%d.%d" % (n, index)
        self.port = 7800
        self.url = "%s://%s:%d" % ("https" if cluster.tls else "http", self.ip, self.port)
        self.state_dir = os.path.join(cluster.tmp, "state-%s" % self.name)
        self.log = os.path.join(cluster.logs, "flytd-%s.log" % self.name)
        self.extra_args = list(extra_args)
        self.proc = None
        self.netns_inode = None
        self.engines = {}  # kind -> engines.Engine (Cluster(engines=[...]))

    def __repr__(self):
        return "<Host %s %s>" % (self.name, self.ip)


class Response:
    """The answer of an API call: status, parsed JSON (or None) and raw text."""

    def __init__(self, status, body, text, headers=None):
        self.status = status
        self.json = body
        self.text = text
        self.headers = headers or {}

    def __iter__(self):  # status, json = api(...)
        return iter((self.status, self.json))

    def error_message(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("message", "")
        return self.text


class Cluster:
    def __init__(self, hosts=2, agent_args=None, host_args=None, controller_args=None, shared_dir=False,
                 name="test", engines=(), tls=True):
        """hosts: number of hosts; agent_args: extra flytd arguments for every host;
        host_args: {"h2": [...]} extra arguments per host; shared_dir: create a
        directory (self.shared_dir) every agent declares with --shared-dir;
        engines: classes of engines.py (DockerEngine, PodmanEngine) to start on
        every host before its agent, which is told where they listen;
        tls: the default, TLS everywhere (the controller's CA in self.tls_dir,
        agents enrolled with the join token it writes); False runs every
        daemon with --plain-http."""
        reason = skip_reason()
        if reason:
            raise RuntimeError(reason)
        _install_handlers()
        self.name = name
        self.tls = tls
        self.nhosts = hosts
        self._extra_procs = []
        self.test_id = "%d-%s" % (os.getpid(), secrets.token_hex(6))
        self.tmp = tempfile.mkdtemp(prefix="flyt-it-", dir="/tmp")
        os.chmod(self.tmp, 0o755)
        with open(os.path.join(self.tmp, "owner"), "w") as f:
            f.write("%d\n" % os.getpid())  # the janitor removes it if we die (see janitor)
        self.logs = os.path.join(self.tmp, "logs")
        os.makedirs(self.logs)
        self.net = None
        self.hosts = {}
        self.controller = None
        self.controller_args = list(controller_args or [])
        self.failed = False
        self.sanitizer_errors = []
        self._torn_down = False
        self._teardown_lock = threading.RLock()
        self.criu = find_criu()
        self.token = secrets.token_hex(32)
        self.token_file = os.path.join(self.tmp, "token")
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.token + "\n")
        self.db = os.path.join(self.tmp, "controller.db")
        self.tls_dir = os.path.join(self.tmp, "tls")
        self.ca_file = os.path.join(self.tls_dir, "ca.pem")
        self.join_token_file = os.path.join(self.tmp, "join-token")
        self.shared_dir = None
        if shared_dir:
            self.shared_dir = os.path.join(self.tmp, "shared")
            os.makedirs(self.shared_dir)
            agent_args = list(agent_args or []) + ["--shared-dir", self.shared_dir]
        self.controller_log = os.path.join(self.logs, "controller.log")
        with _live_lock:
            _live_clusters.append(self)
        try:
            self.net = allocate_subnet()
            self.bridge = "flytbr%d" % self.net
            self.bridge_ip = "198.18.%d.254" % self.net
            self.controller_port = 17000 + self.net
            self.controller_url = "%s://%s:%d" % ("https" if tls else "http", self.bridge_ip, self.controller_port)
            for i in range(1, hosts + 1):
                h = Host(self, i, list(agent_args or []) + list((host_args or {}).get("h%d" % i, [])))
                self.hosts[h.name] = h
            self._make_network()
            for h in self.hosts.values():
                for cls in engines:
                    e = cls(self, h)
                    h.engines[e.kind] = e
                    h.extra_args += e.start()
            self.start_controller()
            for h in self.hosts.values():
                self.start_agent(h.name, wait=False)
            self.wait_ready()
        except BaseException:
            self.failed = True
            self.teardown()
            raise

    wait_for = staticmethod(wait_for)

    # ---- environment -----------------------------------------------------------

    def env(self, extra=None):
        """The environment of everything the harness starts: marked with the test id."""
        e = dict(os.environ)
        path = e.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        criu_dir = os.path.dirname(self.criu)  # flytd runs "criu" from PATH
        e["PATH"] = ":".join([criu_dir] + [p for p in path.split(":") if p != criu_dir] + ["/usr/sbin", "/sbin"])
        e["FLYT_TEST_ID"] = self.test_id
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            e.pop(k, None)
        e["NO_PROXY"] = e["no_proxy"] = "*"
        if extra:
            e.update(extra)
        return e

    def report_note(self, text):
        sys.stderr.write("flyt harness: %s\n" % text)

    def workload_env(self, name):
        """Entries for a process spec's "env" marking a workload of this test."""
        return ["FLYT_TEST_ID=%s" % self.test_id, "FLYT_TEST_WORKLOAD=%s" % name]

    # ---- network ---------------------------------------------------------------

    def _make_network(self):
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", "%s/24" % self.bridge_ip, "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for h in self.hosts.values():
            _ip("netns", "add", h.ns)
            _ip("link", "add", h.veth_root, "type", "veth", "peer", "name", h.veth_ns)
            _ip("link", "set", h.veth_ns, "netns", h.ns)
            _ip("link", "set", h.veth_root, "master", self.bridge, "up")
            _ip("-n", h.ns, "addr", "add", "%s/24" % h.ip, "dev", h.veth_ns)
            _ip("-n", h.ns, "link", "set", h.veth_ns, "up")
            _ip("-n", h.ns, "link", "set", "lo", "up")
            h.netns_inode = os.stat("/run/netns/%s" % h.ns).st_ino

    def link_down(self, host):
        _ip("link", "set", self.hosts[host].veth_root, "down")

    def link_up(self, host):
        _ip("link", "set", self.hosts[host].veth_root, "up")

    def host_of_netns(self, inode):
        for h in self.hosts.values():
            if h.netns_inode == inode:
                return h.name
        return None

    # ---- processes -----------------------------------------------------------

    def _daemon_argv(self, argv, name):
        """argv, under valgrind when FLYT_VALGRIND names the daemon ("controller",
        "flytd", or both, comma-separated): memory errors and definite leaks of
        the daemon, not of the programs it starts. The reports go to
        logs/valgrind-NAME-PID.log, which teardown reads."""
        wanted = [x.strip() for x in os.environ.get("FLYT_VALGRIND", "").split(",")]
        if name.split("-")[0] not in wanted:
            return list(argv)
        return ["valgrind", "--quiet", "--error-exitcode=99", "--trace-children=no", "--leak-check=full",
                "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite", "--num-callers=30",
                "--suppressions=%s" % os.path.join(os.path.dirname(os.path.abspath(__file__)), "valgrind.supp"),
                "--log-file=%s" % os.path.join(self.logs, "valgrind-%s-%%p.log" % name)] + list(argv)

    def _spawn(self, argv, log, ns=None, env=None):
        if ns:
            argv = ["nsenter", "--net=/run/netns/%s" % ns, "--"] + list(argv)
        f = open(log, "ab")
        f.write(("\n==== %s: %s\n" % (time.strftime("%H:%M:%S"), " ".join(argv))).encode())
        f.flush()
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                    env=self.env(env), start_new_session=True, close_fds=True)
        finally:
            f.close()

    @staticmethod
    def _stop(proc, timeout=10):
        if proc is None or proc.poll() is not None:
            return
        _kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def start_controller(self, wait=True):
        if self.controller and self.controller.poll() is None:
            raise HarnessError("the controller is running already")
        argv = [FLYT_CONTROLLER, "--listen", "%s:%d" % (self.bridge_ip, self.controller_port), "--db", self.db,
                "--token-file", self.token_file] + self.tls_args("controller") + self.controller_args
        self.controller = self._spawn(self._daemon_argv(argv, "controller"), self.controller_log)
        if wait:
            wait_for(self.controller_healthy, 30, "the controller to answer /api/v1/health")

    def stop_controller(self, sig=signal.SIGTERM):
        if sig == signal.SIGTERM:
            self._stop(self.controller)
        else:
            _kill(self.controller.pid, sig)
            self.controller.wait(30)

    def restart_controller(self):
        self.stop_controller()
        self.start_controller()
        self.wait_ready()

    def controller_healthy(self):
        if self.controller.poll() is not None:
            raise Abort("the controller exited with status %s; see %s" % (self.controller.returncode,
                                                                                 self.controller_log))
        r = self.api("GET", "/api/v1/health", token=None, timeout=2)
        return r.status == 200 and r.json.get("status") == "ok"

    def start_agent(self, host, extra_args=(), wait=True, env=None):
        """env: extra environment variables for this start (e.g. FLYT_FAULT)."""
        h = self.hosts[host]
        if h.proc and h.proc.poll() is None:
            raise HarnessError("the agent of %s is running already" % host)
        before = None
        if wait:
            r = self.api("GET", "/api/v1/hosts/%s" % host)
            before = r.json.get("last_seen") if r.status == 200 else None
        argv = [FLYTD, "--name", h.name, "--listen", "%s:%d" % (h.ip, h.port), "--state-dir", h.state_dir,
                "--controller", self.controller_url] + self.tls_args("agent") + h.extra_args + list(extra_args)
        h.proc = self._spawn(self._daemon_argv(argv, "flytd-" + host), h.log, ns=h.ns, env=env)
        if wait:
            def registered():
                if h.proc.poll() is not None:
                    raise Abort("the agent of %s exited with status %s; see %s" % (host, h.proc.returncode, h.log))
                if not self.agent_healthy(host):
                    return False
                r = self.api("GET", "/api/v1/hosts/%s" % host)
                return r.status == 200 and r.json.get("state") == "online" and r.json.get("last_seen") != before
            wait_for(registered, 30, "the agent of %s to answer and register again" % host)

    def kill_agent(self, host, sig=signal.SIGKILL):
        h = self.hosts[host]
        if sig == signal.SIGTERM:
            self._stop(h.proc)
        else:
            _kill(h.proc.pid, sig)
            h.proc.wait(30)

    def agent_healthy(self, host):
        h = self.hosts[host]
        r = self._request(h.url, "GET", "/v1/health", None, None, 2, client_cert=True)
        return r.status == 200

    def wait_ready(self, timeout=30):
        """Until the controller answers and every host whose agent runs is online."""
        wait_for(self.controller_healthy, timeout, "the controller to answer /api/v1/health")

        def all_online():
            for h in self.hosts.values():
                if h.proc is not None and h.proc.poll() is not None:
                    raise Abort("the agent of %s exited with status %s; see %s" % (h.name, h.proc.returncode,
                                                                                          h.log))
            r = self.api("GET", "/api/v1/hosts")
            if r.status != 200:
                return False
            states = {x["name"]: x.get("state") for x in r.json["hosts"]}
            running = [h.name for h in self.hosts.values() if h.proc is not None and h.proc.poll() is None]
            return all(states.get(n) == "online" for n in running)
        wait_for(all_online, timeout, "every host to register and be online")

    def ns_run(self, host, argv, timeout=60, check=False, **kw):
        """Runs argv inside host's network namespace; returns the CompletedProcess."""
        full = ["nsenter", "--net=/run/netns/%s" % self.hosts[host].ns, "--"] + list(argv)
        r = subprocess.run(full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=self.env(), timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise HarnessError("%s in %s failed (%d): %s" % (argv, host, r.returncode, r.stderr.strip()))
        return r

    def ns_popen(self, host, argv, **kw):
        """Starts argv inside host's network namespace (killed at teardown)."""
        full = ["nsenter", "--net=/run/netns/%s" % self.hosts[host].ns, "--"] + list(argv)
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(full, env=self.env(), **kw)
        self._extra_procs.append(p)
        return p

    # ---- HTTP ------------------------------------------------------------------

    def tls_args(self, daemon):
        """The TLS options of a daemon of this cluster."""
        if not self.tls:
            return ["--plain-http"] + (["--token-file", self.token_file] if daemon == "agent" else [])
        if daemon == "controller":
            return ["--tls-dir", self.tls_dir, "--join-token-out", self.join_token_file, "--join-ttl", "1440"]
        return ["--join-token-file", self.join_token_file]

    def connection(self, base_url, timeout, client_cert=False):
        """An http.client connection to base_url; over https it verifies the server
        with the cluster CA, and with client_cert presents the controller's
        certificate (what agents require)."""
        u = urllib.parse.urlsplit(base_url)
        if u.scheme != "https":
            return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if client_cert:
            ctx.load_cert_chain(os.path.join(self.tls_dir, "cert.pem"), os.path.join(self.tls_dir, "key.pem"))
        return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=ctx)

    def _request(self, base_url, method, path, body, token, timeout, headers=None, client_cert=False):
        conn = self.connection(base_url, timeout, client_cert)
        hdrs = {"Accept": "application/json"}
        if token:
            hdrs["Authorization"] = "Bearer %s" % token
        data = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = jsonlib.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        try:
            try:
                conn.request(method, path, body=data, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered before reading it all: read that answer
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        text = raw.decode("utf-8", "replace")
        parsed = None
        if raw:
            try:
                parsed = jsonlib.loads(text)
            except ValueError:
                parsed = None
        return Response(resp.status, parsed, text, dict(resp.getheaders()))

    _NO_TOKEN = object()

    def api(self, method, path, body=None, expect=None, token=_NO_TOKEN, timeout=30, headers=None):
        """Calls the controller; returns a Response (iterable as (status, json)).
        expect: a status (or tuple of them) that must come back, else HarnessError."""
        tok = self.token if token is Cluster._NO_TOKEN else token
        r = self._request(self.controller_url, method, path, body, tok, timeout, headers)
        if expect is not None:
            ok = r.status in expect if isinstance(expect, (tuple, list, set)) else r.status == expect
            if not ok:
                raise HarnessError("%s %s: expected HTTP %s, got %d: %s" % (method, path, expect, r.status,
                                                                             r.text.strip()[:2000]))
        return r

    def agent_api(self, host, method, path, body=None, expect=None, timeout=30):
        """Calls a host's agent directly (its /v1/ API)."""
        r = self._request(self.hosts[host].url, method, path, body, None if self.tls else self.token, timeout,
                          client_cert=True)
        if expect is not None and r.status != expect:
            raise HarnessError("agent %s: %s %s: expected HTTP %s, got %d: %s" % (host, method, path, expect,
                                                                                   r.status, r.text.strip()[:2000]))
        return r

    # ---- CLI -------------------------------------------------------------------

    def cli(self, *args, check=True, json=False, token_file=None, timeout=180):
        """Runs the flyt CLI against this cluster's controller."""
        argv = [FLYT_CLI, "--controller", self.controller_url, "--token-file", token_file or self.token_file,
                "--ca-file", self.ca_file]
        if json:
            argv.append("--json")
        argv += [str(a) for a in args]
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=self.env(), timeout=timeout)
        if check and r.returncode != 0:
            raise HarnessError("flyt %s exited %d\nstdout: %s\nstderr: %s" % (" ".join(argv[5:]), r.returncode,
                                                                             r.stdout, r.stderr))
        return r

    # ---- workloads and migrations ------------------------------------------------

    def create_workload(self, name, host, cmd, env=(), expect=201, start=True, cwd=None):
        spec = {"cmd": [str(c) for c in cmd], "env": self.workload_env(name) + list(env)}
        if cwd:
            spec["cwd"] = cwd
        body = {"name": name, "kind": "process", "host": host, "spec": spec}
        if not start:
            body["start"] = False
        return self.api("POST", "/api/v1/workloads", body, expect=expect).json

    def create_memhog(self, name, host, mib=64, port=9000, extra=()):
        w = self.create_workload(name, host, [MEMHOG, "--mib", mib, "--port", port] + list(extra))
        ip = self.hosts[host].ip
        # counting for half a second: a restart (counting from 0 again) shows
        wait_for(lambda: self.memhog_status(ip, port)["counter"] >= 50, 60,
                 "memhog %s to answer on %s:%d and count" % (name, ip, port))
        return w

    def workload(self, name):
        return self.api("GET", "/api/v1/workloads/%s" % name, expect=200).json

    def workload_pid(self, name):
        return self.workload(name).get("pid")

    def workload_procs(self, name, comm=None):
        """[(pid, host name)] of the processes of this test's workload `name`, found
        by the environment the harness gave it. Programs that overwrite their
        environment block (redis-server's process titles do) are found instead by
        their command name `comm` among the processes in this cluster's hosts."""
        out = []
        if comm is None:
            for pid in pids_with_env("FLYT_TEST_WORKLOAD=%s" % name):
                if ("FLYT_TEST_ID=%s" % self.test_id).encode() in proc_environ(pid):
                    out.append((pid, self.host_of_netns(proc_netns(pid))))
            return out
        for pid in all_pids():
            host = self.host_of_netns(proc_netns(pid))
            if host is None or proc_start_time(pid) is None:
                continue
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().strip() == comm:
                        out.append((pid, host))
            except OSError:
                pass
        return out

    def agent_workloads(self, host):
        """Names of the workloads the agent of host lists."""
        r = self.agent_api(host, "GET", "/v1/workloads", expect=200)
        return {w["name"]: w for w in r.json["workloads"]}

    def host_facts(self, host):
        return self.agent_api(host, "GET", "/v1/host", expect=200).json

    def start_migration(self, workload, target, mode="auto", **opts):
        body = {"workload": workload, "target": target}
        if mode is not None:
            body["mode"] = mode
        body.update(opts)
        return self.api("POST", "/api/v1/migrations", body)

    def wait_migration(self, mid, timeout=300, until=None):
        """Long-polls migration mid until it ends (or until(m) is true); returns it."""
        deadline = time.monotonic() + timeout
        version = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                m = self.api("GET", "/api/v1/migrations/%s" % mid, expect=200).json
                raise HarnessError("migration %s did not %s within %d s; last: %s" % (
                    mid, "reach the wanted condition" if until else "end", timeout, jsonlib.dumps(m)[:3000]))
            wait = int(min(10000, max(100, left * 1000)))
            m = self.api("GET", "/api/v1/migrations/%s?since=%d&wait=%d" % (mid, version, wait),
                         expect=200, timeout=wait / 1000 + 30).json
            version = m.get("version", version)
            if until is not None:
                if until(m):
                    return m
                if m.get("state") in TERMINAL_STATES:
                    raise HarnessError("migration %s ended (%s: %s) before the wanted condition" % (
                        mid, m.get("state"), m.get("error")))
            elif m.get("state") in TERMINAL_STATES:
                return m

    def strike(self, fault, paused_host, settled=None):
        """For the fault matrices: while the agent of paused_host holds a migration
        at a fault pause point (FLYT_FAULT=pause:..., its STATE/fault-paused
        exists), strikes fault and lets the migration go on. "controller",
        "source" (h1), "target" (h2): kill -9 of that daemon, started again (an
        agent without waiting for it; the paused one without the pause); "link":
        h2's link cut until settled() is true, then restored."""
        paused = os.path.join(self.hosts[paused_host].state_dir, "fault-paused")

        def go_on():
            if os.path.exists(paused):
                os.unlink(paused)

        if fault == "controller":
            self.stop_controller(signal.SIGKILL)
            self.start_controller()
            go_on()
        elif fault in ("source", "target"):
            host = "h1" if fault == "source" else "h2"
            self.kill_agent(host, signal.SIGKILL)
            if host == paused_host:
                go_on()  # started again without the pause
            self.start_agent(host, wait=False)
            go_on()
        elif fault == "link":
            self.link_down("h2")
            try:
                go_on()
                wait_for(settled, 120, "one side to settle while the link is cut")
            finally:
                self.link_up("h2")
        else:
            raise HarnessError("no such fault: %s" % fault)

    def migrate_killing_the_source_agent(self, workload):
        """Migrates workload h1 -> h2 (stop-copy) and kills -9 h1's agent once h1
        has checkpointed it and while h2 holds before restoring (h2's agent is
        restarted with FLYT_FAULT=pause:target:restoring for that); h1's agent is
        started again and the migration followed to its end, which is returned."""
        self.kill_agent("h2", signal.SIGTERM)
        self.start_agent("h2", env={"FLYT_FAULT": "pause:target:restoring"})
        paused = os.path.join(self.hosts["h2"].state_dir, "fault-paused")
        r = self.start_migration(workload, "h2", "stop-copy")
        if r.status != 202:
            raise HarnessError("migration of %s not started: %s" % (workload, r.text))
        mid = r.json["id"]
        self.wait_for(lambda: os.path.exists(paused), 120, "h2 to pause before restoring %s" % workload)
        self.kill_agent("h1", signal.SIGKILL)
        self.start_agent("h1", wait=False)
        os.unlink(paused)
        return self.wait_migration(mid, timeout=300)

    def migrate(self, workload, target, mode="auto", timeout=300, **opts):
        """Starts a migration and waits for its end; returns the final migration."""
        r = self.start_migration(workload, target, mode, **opts)
        if r.status != 202:
            raise HarnessError("migration of %s to %s (%s) refused: HTTP %d: %s" % (workload, target, mode, r.status,
                                                                                     r.text.strip()))
        return self.wait_migration(r.json["id"], timeout)

    def unfinished_migrations(self):
        r = self.api("GET", "/api/v1/migrations?limit=1000", expect=200)
        return [m for m in r.json["migrations"] if m.get("state") not in TERMINAL_STATES]

    @staticmethod
    def memhog_status(ip, port, timeout=5):
        """The STATUS line of a memhog as a dict (numbers as int, hashes as str)."""
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(b"STATUS\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        out = {}
        for kv in data.decode().split():
            k, _, v = kv.partition("=")
            out[k] = v if k in ("checksum", "expected") else int(v)
        if "counter" not in out:
            raise HarnessError("bad STATUS answer from %s:%d: %r" % (ip, port, data))
        return out

    def log_tail(self, path, lines=40):
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def describe(self):
        """Text for a failure report: where things are and the end of each log."""
        parts = ["flyt test cluster %s (subnet 198.18.%s.0/24), kept in %s" % (self.test_id, self.net, self.tmp)]
        for name in sorted(os.listdir(self.logs)) if os.path.isdir(self.logs) else []:
            parts.append("---- %s (last lines) ----\n%s" % (name, self.log_tail(os.path.join(self.logs, name), 25)))
        return "\n".join(parts)

    # ---- teardown --------------------------------------------------------------

    SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                         "ERROR: UndefinedBehaviorSanitizer", "WARNING: ThreadSanitizer",
                         # valgrind (FLYT_VALGRIND=1) with --quiet writes only what it found
                         "== Invalid ", "== Conditional jump", "== Use of uninitialised",
                         "== Syscall param", "definitely lost in", "== Mismatched free")

    def sanitizer_reports(self):
        """Reports of AddressSanitizer, LeakSanitizer, UBSan or TSan in the daemons'
        logs (a sanitizer build of flyt writes them there), as excerpts."""
        out = []
        for name in sorted(os.listdir(self.logs)) if os.path.isdir(self.logs) else []:
            try:
                with open(os.path.join(self.logs, name), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            for marker in self.SANITIZER_MARKERS:
                i = text.find(marker)
                if i >= 0:
                    start = text.rfind("\n", 0, max(0, i - 100)) + 1
                    out.append("%s:\n%s" % (name, text[start:i + 3000]))
                    break
        return out

    def _sweep(self, deadline_s=30):
        """Kills everything of this test: marked processes and whatever still runs in
        its namespaces. Repeats until nothing is left (CRIU may be restoring)."""
        marker = "FLYT_TEST_ID=%s" % self.test_id
        inodes = {h.netns_inode for h in self.hosts.values() if h.netns_inode}
        # runc containers have a network namespace and an environment of their
        # own: they are found by their agent's cgroup
        cgroups = tuple(agent_cgroup(h.name, h.state_dir) + "/" for h in self.hosts.values())
        deadline = time.monotonic() + deadline_s
        while True:
            victims = set(pids_with_env(marker))
            me = os.getpid()
            for pid in all_pids():
                if pid == me:
                    continue
                if proc_netns(pid) in inodes or any(g.startswith(cgroups) for g in proc_cgroups(pid)):
                    victims.add(pid)
            victims = {p for p in victims if proc_start_time(p) is not None}
            if not victims:
                return
            for p in victims:
                _kill(p, signal.SIGKILL)
            for g in cgroups:
                thaw_cgroups(g)
            if time.monotonic() > deadline:
                sys.stderr.write("flyt harness: processes survive SIGKILL: %s\n" % sorted(victims))
                return
            time.sleep(0.05)

    def teardown(self, keep_tmp=None, fast=False):
        """Stops and removes everything of this cluster. The temporary directory is
        kept when the test failed (keep_tmp overrides; FLYT_KEEP_TMP=1 keeps it
        always). fast: SIGKILL at once instead of stopping the daemons politely."""
        with self._teardown_lock:
            if self._torn_down:
                return
            self._torn_down = True
            try:
                procs = list(self._extra_procs) + [h.proc for h in self.hosts.values()] + [self.controller]
                for p in procs:
                    if p is not None and p.poll() is None:
                        if fast or p in self._extra_procs:
                            _kill(p.pid, signal.SIGKILL)
                        else:
                            _kill(p.pid, signal.SIGTERM)
                deadline = time.monotonic() + (1 if fast else 10)
                for p in procs:
                    if p is None:
                        continue
                    try:
                        p.wait(max(0.01, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        _kill(p.pid, signal.SIGKILL)
                        try:
                            p.wait(5)
                        except subprocess.TimeoutExpired:
                            pass
                for h in self.hosts.values():
                    for e in h.engines.values():
                        if fast and e.proc is not None:
                            _kill(e.proc.pid, signal.SIGKILL)
                        e.stop()
                self._sweep(deadline_s=5 if fast else 30)
                for h in self.hosts.values():
                    remove_cgroups(agent_cgroup(h.name, h.state_dir))
                for h in self.hosts.values():
                    for e in h.engines.values():
                        import engines
                        engines.unmount_below(e.dir)
                for h in self.hosts.values():
                    if _netns_exists(h.ns):
                        _ip("netns", "del", h.ns, check=False)
                    if _link_exists(h.veth_root):
                        _ip("link", "del", h.veth_root, check=False)
                if self.net is not None and _link_exists(self.bridge):
                    _ip("link", "del", self.bridge, check=False)
                # with the daemons stopped, their logs are complete
                self.sanitizer_errors = self.sanitizer_reports()
                if self.sanitizer_errors:
                    self.failed = True
            finally:
                if self.net is not None:
                    release_subnet(self.net)
                with _live_lock:
                    if self in _live_clusters:
                        _live_clusters.remove(self)
                keep = self.failed if keep_tmp is None else keep_tmp or self.failed
                if keep or os.environ.get("FLYT_KEEP_TMP"):
                    try:
                        os.unlink(os.path.join(self.tmp, "owner"))  # kept on purpose: not for the janitor
                    except OSError:
                        pass
                    sys.stderr.write("flyt harness: kept %s\n" % self.tmp)
                else:
                    shutil.rmtree(self.tmp, ignore_errors=True)


# ---- small helpers used by several tests ---------------------------------------


def read_ticks(path):
    """The tick numbers of a memhog's ticks.log (a last line still being written is
    left out)."""
    with open(path) as f:
        lines = f.read().split("\n")
    out = []
    for line in lines[:-1]:
        m = re.fullmatch(r"tick (\d+)", line)
        if not m:
            raise HarnessError("bad line in %s: %r" % (path, line))
        out.append(int(m.group(1)))
    return out


def check_ticks_continuous(ticks, before):
    """ticks must be 10, 20, 30, ... with no restart or gap, and extend `before`."""
    assert ticks, "ticks.log is empty"
    breaks = [(ticks[i - 1], ticks[i]) for i in range(1, len(ticks)) if ticks[i] != ticks[i - 1] + 10]
    assert ticks[0] == 10 and not breaks, (
        "ticks.log is not one unbroken sequence from 10 (first %s; breaks %s): the workload restarted or "
        "its file lost lines" % (ticks[0], breaks[:5]))
    assert ticks[:len(before)] == before, "ticks.log lost lines written before the migration"
    assert len(ticks) > len(before), "no new ticks after the migration (%d lines before, %d after)" % (
        len(before), len(ticks))


class Sniffer(threading.Thread):
    """Collects the TCP payloads to and from port (None: every port) on an
    interface of the root namespace (AF_PACKET: no tcpdump needed); the tests
    look for clear text in what went over the wire."""

    def __init__(self, ifname, port=None):
        super().__init__(daemon=True)
        self.port = port
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        # a migration sends its megabytes in a burst: room for all of them
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 256 * 1024 * 1024)  # SO_RCVBUFFORCE (root)
        self.sock.bind((ifname, 0))
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.payload = bytearray()
        self.packets = 0

    def run(self):
        while not self.stop.is_set():
            try:
                frame = self.sock.recv(262144)
            except socket.timeout:
                continue
            if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
            ihl = (ip[0] & 0x0F) * 4
            if ip[9] != 6:  # TCP
                continue
            total = struct.unpack("!H", ip[2:4])[0]
            tcp = ip[ihl:total] if total else ip[ihl:]  # 0: a segment offloaded whole
            if len(tcp) < 20:
                continue
            dport = struct.unpack("!H", tcp[2:4])[0]
            sport = struct.unpack("!H", tcp[0:2])[0]
            if self.port is not None and self.port not in (dport, sport):
                continue
            data = tcp[(tcp[12] >> 4) * 4:]
            if data:
                self.packets += 1
                self.payload += data

    def finish(self):
        self.stop.set()
        self.join(10)
        self.sock.close()
        return bytes(self.payload)


class MemhogSnapshot:
    """What a running memhog workload looks like at one moment."""

    def __init__(self, cluster, name, port):
        w = cluster.workload(name)
        assert w["state"] == "running", "workload %s is %s, not running: %s" % (name, w["state"], w)
        self.name = name
        self.port = port
        self.host = w["host"]
        self.ip = cluster.hosts[self.host].ip
        self.pid = w["pid"]
        assert self.pid, "workload %s has no pid: %s" % (name, w)
        self.start_time = proc_start_time(self.pid)
        assert self.start_time is not None, "pid %d of %s is not alive" % (self.pid, name)
        self.files_dir = w["files_dir"]
        self.status = cluster.memhog_status(self.ip, port)
        assert self.status["checksum"] == self.status["expected"], "memory of %s damaged already: %s" % (
            name, self.status)
        self.ticks = read_ticks(os.path.join(self.files_dir, "ticks.log"))


def assert_runs_on(cluster, snap, host, same_process):
    """The memhog of snap runs on host, exactly one copy, memory intact, its counter
    not reset and advancing past snap's; with same_process, as the very process of
    snap."""
    # The controller's record may trail a migration's end by a moment (see
    # test_committed_migration_has_moved_the_workload, which pins that race down):
    # other tests wait for it, so that they test what they are about.
    seen = {}

    def shown():
        seen["w"] = cluster.workload(snap.name)
        return seen["w"] if seen["w"]["host"] == host and seen["w"]["state"] == "running" else None
    try:
        w = wait_for(shown, 10, "the controller to show %s running on %s" % (snap.name, host))
    except HarnessError:
        raise AssertionError("workload %s should be running on %s; the controller shows %s" % (
            snap.name, host, seen.get("w"))) from None
    procs = cluster.workload_procs(snap.name)
    assert len(procs) == 1, "expected exactly one process of %s, found %s" % (snap.name, procs)
    assert procs[0][1] == host, "the process of %s runs in the namespace of %s, not %s" % (
        snap.name, procs[0][1], host)
    assert w["pid"] == procs[0][0], "the controller says pid %s, the process is %d" % (w["pid"], procs[0][0])
    if same_process:
        assert proc_alive(snap.pid, snap.start_time), "the original process %d of %s is gone" % (
            snap.pid, snap.name)
        assert w["pid"] == snap.pid, "pid of %s changed from %d to %s" % (snap.name, snap.pid, w["pid"])
    ip = cluster.hosts[host].ip
    st = cluster.memhog_status(ip, snap.port)
    assert st["checksum"] == st["expected"] == snap.status["expected"], (
        "memory of %s changed: before %s, now %s" % (snap.name, snap.status, st))
    assert st["mib"] == snap.status["mib"]
    assert st["counter"] >= snap.status["counter"], (
        "counter of %s went back from %d to %d: it restarted" % (snap.name, snap.status["counter"], st["counter"]))
    # it goes on counting from where it was (not frozen, not restarted)
    wait_for(lambda: cluster.memhog_status(ip, snap.port)["counter"] > max(st["counter"], snap.status["counter"]),
             20, "the counter of %s to advance on %s past %d" % (snap.name, host, snap.status["counter"]))
    return st


def assert_moved(cluster, snap, target, mig):
    """After a committed migration of snap's memhog to target: it runs there as a
    continuation (memory, counter, open file), and nothing of it is left on the
    source."""
    source = snap.host
    assert mig["state"] == "committed", "migration ended %s: %s" % (mig["state"], mig.get("error"))
    assert mig["source"] == source and mig["target"] == target, mig
    assert not mig.get("error"), mig
    st = assert_runs_on(cluster, snap, target, same_process=False)
    assert not proc_alive(snap.pid, snap.start_time), "the source process %d is still alive" % snap.pid
    assert snap.name not in cluster.agent_workloads(source), "the source agent %s still lists %s" % (
        source, snap.name)
    assert cluster.agent_workloads(target)[snap.name]["state"] == "running"
    assert not os.path.exists(snap.files_dir), "the source kept the files directory %s" % snap.files_dir
    try:
        cluster.memhog_status(snap.ip, snap.port, timeout=2)
    except OSError:
        pass  # refused: nothing listens there any more
    else:
        raise AssertionError("something still answers on the source address %s:%d" % (snap.ip, snap.port))
    w = cluster.workload(snap.name)
    assert w["files_dir"] != snap.files_dir and w["files_dir"].startswith(cluster.hosts[target].state_dir + "/")
    log = os.path.join(w["files_dir"], "ticks.log")
    wait_for(lambda: len(read_ticks(log)) > len(snap.ticks) + 1, 20, "new lines in %s" % log)
    check_ticks_continuous(read_ticks(log), snap.ticks)
    for k in ("total_ms", "downtime_ms", "bytes"):
        assert isinstance(mig.get(k), int) and mig[k] > 0, "migration field %s is %r" % (k, mig.get(k))
    assert mig["downtime_ms"] <= mig["total_ms"], mig
    return st
