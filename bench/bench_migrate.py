#!/usr/bin/env python3
"""flyt against the tools a user would use instead: one run, side by side.

    sudo python3 bench/bench_migrate.py [--sizes 256,1024] [--repeat 3] [--json FILE]

Two network-namespace hosts (198.18.200.1 and .2, a bridge at .254 in the root
namespace) run a flyt controller and two agents (tests/integration/harness.py
builds them). For every workload size, a memhog that holds N MiB and keeps
rewriting 64 MiB moves from host A to host B, R times, with each method:

  flyt stop-copy      flyt migrate W --to B --mode stop-copy --wait --json
  flyt lazy           flyt migrate W --to B --mode lazy --wait --json
  raw CRIU stop-copy  criu dump; tar | nc through the veth; criu restore
  raw CRIU lazy       criu dump --lazy-pages (page server on A); tar | nc;
                      criu lazy-pages + criu restore --lazy-pages on B
  podman              podman container checkpoint --export; nc; podman
                      container restore --import (two Podman "hosts")

The workload sends a UDP heartbeat every millisecond to an observer on the
bridge address; the largest gap between arrivals (kernel receive timestamps)
around the move is the downtime as seen from outside, the same instrument for
every method. After each move the workload's memory checksum and counter are
checked, and everything of the method is removed before the next one.

Prints one table per size, the ratios against the reference methods with the
targets (PASS/MISS, shown, not asserted) and the machine's facts; --json writes
every raw sample. Exits 1 when something could not be measured (the reasons are
printed at the end), 2 for a usage or setup problem.

Python 3 standard library only; run as root. See bench/README.md.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True  # import harness without writing __pycache__ into tests/
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

NET = 200  # 198.18.200.0/24
SUBNET = "198.18.%d" % NET
IP_A = SUBNET + ".1"
IP_B = SUBNET + ".2"
BRIDGE_IP = SUBNET + ".254"
MEMHOG_PORT = 9100
MIB = 1024 * 1024
FILES_KEY = "flytfiles"
WORKLOAD_MOUNT = "/run/flyt/workload"
TMP_PREFIX = "flyt-bench-"
PODMAN_IMAGE = "localhost/flyt-bench-memhog:latest"
PODMAN_ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux, all architectures but a few: 35

PLAIN_HTTP = False  # --plain-http: the cluster without TLS (the default is TLS)
METHODS = ["flyt-stop-copy", "flyt-lazy", "raw-stop-copy", "raw-lazy", "podman"]
LABELS = {
    "flyt-stop-copy": "flyt stop-copy",
    "flyt-lazy": "flyt lazy",
    "raw-stop-copy": "raw CRIU stop-copy",
    "raw-lazy": "raw CRIU lazy",
    "podman": "podman export/import",
}
BENCH_PKGS = {"podman": "podman", "runc": "runc", "conmon": "conmon", "nc": "netcat-openbsd"}

# targets (shown next to the ratios, never asserted)
T_STOPCOPY_TOTAL = 1.2   # flyt stop-copy total <= 1.2x raw CRIU stop-copy total
T_LAZY_GAP = 1.2         # flyt lazy gap <= 1.2x raw CRIU lazy gap
T_LAZY_FLAT = 1.5        # flyt lazy gap at the largest size <= 1.5x at the smallest ("roughly independent")
T_PODMAN = 0.5           # flyt's best gap <= 0.5x podman's ("far below": at least twice as short)


class BenchError(Exception):
    """A step of one measurement failed: that sample is not measured."""


class SetupError(Exception):
    """The benchmark cannot run here at all."""


class Interrupted(BaseException):
    """SIGTERM/SIGHUP/SIGQUIT: unwind and clean up."""


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def tail(text, n=6):
    lines = [x for x in (text or "").strip().splitlines() if x.strip()]
    return " | ".join(lines[-n:])


def file_tail(path, n=6, grep=None):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    if grep:
        lines = [x for x in lines if re.search(grep, x)] or lines
    return " | ".join(lines[-n:])


def dir_bytes(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_size
            except OSError:
                pass
    return total


def ms(seconds):
    return round(seconds * 1000.0, 1)


# ---- the UDP heartbeat observer ---------------------------------------------------


class Observer:
    """Receives memhog's heartbeat datagrams ("COUNTER SEND_NS") on the bridge
    address and keeps (kernel receive time, counter, send time) per datagram, all
    CLOCK_REALTIME nanoseconds. Kernel timestamps (SO_TIMESTAMPNS) make the gaps
    independent of when this thread gets the CPU."""

    def __init__(self, addr):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * MIB)
        self.sock.bind((addr, 0))
        self.sock.settimeout(0.2)
        self.addr = "%s:%d" % (addr, self.sock.getsockname()[1])
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat-observer", daemon=True)
        self._thread.start()

    def _run(self):
        anc = socket.CMSG_SPACE(16)
        while not self._stop.is_set():
            try:
                data, cmsgs, _, _ = self.sock.recvmsg(128, anc)
            except socket.timeout:
                continue
            except OSError:
                return
            rx = None
            for level, typ, cdata in cmsgs:
                if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = struct.unpack("qq", cdata[:16])
                    rx = sec * 1000000000 + nsec
            if rx is None:
                rx = time.time_ns()
            try:
                c, sent = data.split()
                self.samples.append((rx, int(c), int(sent)))
            except ValueError:
                continue

    def count(self):
        return len(self.samples)

    def wait_heartbeats(self, n, timeout):
        deadline = time.monotonic() + timeout
        start = self.count()
        while self.count() - start < n:
            if time.monotonic() > deadline:
                raise BenchError("no heartbeat datagrams from the workload at %s (%d in %.0f s)" % (
                    self.addr, self.count() - start, timeout))
            time.sleep(0.01)

    def gap(self, t0_ns, t1_ns):
        """The largest gap between consecutive arrivals that overlaps [t0, t1]:
        {gap_ms, start_ms, end_ms (relative to t0), send_gap_ms, n}."""
        s = sorted(self.samples)
        best = None
        for i in range(1, len(s)):
            a, b = s[i - 1], s[i]
            if b[0] < t0_ns or a[0] > t1_ns:
                continue
            g = b[0] - a[0]
            if best is None or g > best[0]:
                best = (g, a, b)
        after = [x for x in s if x[0] > t1_ns - 300 * 1000000]
        if best is None:
            raise BenchError("no heartbeat arrived during the measurement window")
        if not after:
            raise BenchError("the workload sent no heartbeat after the move (last one %.0f ms after the start)" % (
                (s[-1][0] - t0_ns) / 1e6 if s else float("nan")))
        g, a, b = best
        return {
            "gap_ms": round(g / 1e6, 1),
            "start_ms": round((a[0] - t0_ns) / 1e6, 1),
            "end_ms": round((b[0] - t0_ns) / 1e6, 1),
            "send_gap_ms": round((b[2] - a[2]) / 1e6, 1),
            "counter_before": a[1],
            "counter_after": b[1],
            "datagrams": len(s),
        }

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


# ---- the benchmark ---------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.harness = None
        self.cluster = None
        self.tmp = None
        self.samples = []
        self.failures = []
        self.port_seq = 0
        self.pm = {}
        self.podman_ready = False
        self.criu = None
        self._children = []  # Popen objects of ours still possibly running
        self.run_seq = 0  # makes names of runs unique (a run may be measured again)

    # ---- set-up ----------------------------------------------------------------

    def preflight(self):
        if os.geteuid() != 0:
            raise SetupError("run as root: sudo python3 bench/bench_migrate.py")
        build = self.args.build_dir
        os.environ["FLYT_BUILD_DIR"] = build
        import harness  # noqa: E402 - after FLYT_BUILD_DIR
        self.harness = harness
        self.launch = os.path.join(build, "src", "flyt-launch")
        for p in (harness.FLYTD, harness.FLYT_CONTROLLER, harness.FLYT_CLI, harness.MEMHOG, self.launch):
            if not os.access(p, os.X_OK):
                raise SetupError("%s is missing: build flyt first (meson setup build && ninja -C build)" % p)
        reason = harness.skip_reason()
        if reason:
            raise SetupError(reason)
        self.criu = harness.find_criu()
        missing = []
        methods = self.args.methods
        need = []
        if any(m.startswith("raw") or m == "podman" for m in methods):
            need.append("nc")
        if "podman" in methods:
            need += ["podman", "runc", "conmon"]
        path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin:/usr/libexec/podman"
        for tool in need:
            if not shutil.which(tool, path=path):
                missing.append(BENCH_PKGS[tool])
        if "nc" in need and not missing:
            r = subprocess.run(["nc", "-h"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if "OpenBSD" not in r.stdout:
                missing.append("netcat-openbsd (nc is not OpenBSD's netcat)")
        if missing:
            raise SetupError("missing: %s; install them with: sudo scripts/setup.sh --bench" % ", ".join(
                sorted(set(missing))))
        if "podman" in methods and not os.path.exists("/usr/lib/x86_64-linux-gnu/libc.a") and not any(
                os.path.exists(p) for p in ("/usr/lib/libc.a", "/usr/lib64/libc.a")):
            raise SetupError("gcc cannot link statically (no libc.a): sudo scripts/setup.sh")
        with open("/proc/sys/fs/pipe-max-size") as f:
            if int(f.read()) < 4194304 and any(m.endswith("lazy") for m in methods):
                raise SetupError("fs.pipe-max-size < 4194304: lazy pages fail; run sudo scripts/setup.sh "
                                 "(or sysctl -w fs.pipe-max-size=4194304)")

    def janitor(self):
        """Removes what dead earlier runs of this benchmark left in /tmp (their
        owner file names a dead pid): Podman mounts first, then the directory."""
        for d in os.listdir("/tmp"):
            path = os.path.join("/tmp", d)
            owner = os.path.join(path, "owner")
            if not d.startswith(TMP_PREFIX) or not os.path.isfile(owner):
                continue
            try:
                with open(owner) as f:
                    pid = int(f.read())
            except (OSError, ValueError):
                continue
            if pid != os.getpid() and not self.harness.proc_alive(pid):
                log("removing what an earlier run (pid %d) left: %s" % (pid, path))
                unmount_below(path)
                shutil.rmtree(path, ignore_errors=True)

    def setup(self):
        h = self.harness
        self.janitor()

        def allocate_bench_subnet():
            lock = h._try_lock(NET)
            if not lock:
                raise h.HarnessError("%s.0/24 is in use by another flyt benchmark or test run" % SUBNET)
            if h._subnet_used_by_others(NET):
                lock.close()
                raise h.HarnessError("%s.0/24 is already routed on this machine by something else" % SUBNET)
            h._remove_stale(NET)
            h._held_locks[NET] = lock
            return NET
        h.allocate_subnet = allocate_bench_subnet

        self.tmp = tempfile.mkdtemp(prefix=TMP_PREFIX, dir="/tmp")  # the root disk here, like flytd's state
        os.chmod(self.tmp, 0o755)
        with open(os.path.join(self.tmp, "owner"), "w") as f:
            f.write("%d\n" % os.getpid())
        log("temporary directory %s" % self.tmp)
        log("starting the controller and two agents on %s.0/24" % SUBNET)
        self.cluster = h.Cluster(hosts=2, name="bench", tls=not PLAIN_HTTP)
        c = self.cluster
        self.A, self.B = c.hosts["h1"], c.hosts["h2"]
        assert self.A.ip == IP_A and self.B.ip == IP_B and c.bridge_ip == BRIDGE_IP, (self.A.ip, self.B.ip)
        self.veth_a = "/sys/class/net/%s/statistics/rx_bytes" % self.A.veth_root  # what A sends
        self.marker = "FLYT_TEST_ID=%s" % c.test_id
        if "podman" in self.args.methods:
            self.setup_podman()

    # ---- helpers ---------------------------------------------------------------

    def env(self, extra=None):
        return self.cluster.env(extra)

    def ns(self, host, argv):
        return ["nsenter", "--net=/run/netns/%s" % host.ns, "--"] + [str(a) for a in argv]

    def run(self, argv, timeout=300, what=None, env=None):
        """Runs argv; returns (stdout, seconds); BenchError with its stderr when it fails."""
        t = time.monotonic()
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env or self.env(), timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError("%s did not finish within %d s" % (what or argv[0], timeout)) from None
        dt = time.monotonic() - t
        if r.returncode != 0:
            raise BenchError("%s exited %d: %s" % (what or " ".join(argv[:6]), r.returncode,
                                                   tail(r.stderr or r.stdout)))
        return r.stdout, dt

    def popen(self, argv, log_path, env=None):
        f = open(log_path, "ab")
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                 env=env or self.env(), start_new_session=True)
        finally:
            f.close()
        self._children.append(p)
        return p

    def unique(self, fmt, *args):
        self.run_seq += 1
        return (fmt % args) + "-%d" % self.run_seq

    def next_port(self, base):
        self.port_seq += 1
        return base + (os.getpid() * 7 + self.port_seq) % 2000

    @staticmethod
    def listening(pid, port):
        """Whether a TCP socket listens on port in the network namespace of pid."""
        want = ":%04X" % port
        for name in ("tcp", "tcp6"):
            try:
                with open("/proc/%d/net/%s" % (pid, name)) as f:
                    next(f)
                    for line in f:
                        parts = line.split()
                        if parts[1].endswith(want) and parts[3] == "0A":
                            return True
            except (OSError, StopIteration):
                pass
        return False

    def wait_listening(self, proc, port, timeout, what):
        deadline = time.monotonic() + timeout
        while not self.listening(proc.pid, port):
            if proc.poll() is not None:
                raise BenchError("%s exited %s before listening on port %d" % (what, proc.returncode, port))
            if time.monotonic() > deadline:
                raise BenchError("%s did not listen on port %d within %d s" % (what, port, timeout))
            time.sleep(0.001)

    def wire_bytes(self):
        with open(self.veth_a) as f:
            return int(f.read())

    def status(self, ip, timeout=60):
        return self.harness.Cluster.memhog_status(ip, MEMHOG_PORT, timeout=timeout)

    def wait_counting(self, ip, timeout=120):
        """Until the memhog on ip answers and has counted for half a second."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                st = self.status(ip, timeout=30)
                if st["counter"] >= 50:
                    return st
                last = st
            except (OSError, self.harness.HarnessError) as e:
                last = e
            time.sleep(0.1)
        raise BenchError("the memhog on %s:%d did not answer and count within %d s (last: %s)" % (
            ip, MEMHOG_PORT, timeout, last))

    def memhog_args(self, size, observer, path):
        return [path, "--mib", size, "--dirty-mib", self.args.dirty_mib, "--heartbeat", observer.addr,
                "--port", MEMHOG_PORT]

    def before_move(self, ip, observer):
        """The workload's STATUS before the move; then lets it run undisturbed (the
        checksum of STATUS stops its loop for a moment) and returns (status,
        t0 realtime ns, t0 monotonic, wire bytes)."""
        st = self.status(ip)
        if st["checksum"] != st["expected"]:
            raise BenchError("memory damaged before the move: %s" % st)
        time.sleep(0.5)
        observer.wait_heartbeats(100, 10)
        self._psi0 = read_psi()
        return st, time.time_ns(), time.monotonic(), self.wire_bytes()

    def move_counters(self):
        """How long tasks of the whole machine waited for a CPU / for I/O during the
        move (PSI "some", ms): a measure of how contended the 2 CPUs were."""
        p1 = read_psi()
        return {k: round((p1[k] - self._psi0.get(k, 0)) / 1000.0, 1) for k in p1}

    def after_move(self, ip, before, observer, t0_ns, settle=1.0):
        """Lets the heartbeat settle, measures the gap, then checks the moved
        workload: memory intact, counter kept and advancing."""
        time.sleep(settle)
        t1_ns = time.time_ns()
        gap = observer.gap(t0_ns, t1_ns)
        st = self.status(ip)
        if not (st["checksum"] == st["expected"] == before["expected"]):
            raise BenchError("memory changed by the move: before %s, after %s" % (before, st))
        if st["counter"] < before["counter"]:
            raise BenchError("the counter went back from %d to %d: the workload restarted" % (
                before["counter"], st["counter"]))
        deadline = time.monotonic() + 20
        while True:
            st2 = self.status(ip)
            if st2["counter"] > st["counter"]:
                break
            if time.monotonic() > deadline:
                raise BenchError("the counter does not advance after the move (%d)" % st["counter"])
            time.sleep(0.05)
        return gap, {"counter_before": before["counter"], "counter_after": st2["counter"],
                     "checksum": st["checksum"], "intact": True}

    def marked_memhogs(self):
        out = []
        for pid in self.harness.pids_with_env(self.marker):
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().strip() == "memhog" and self.harness.proc_start_time(pid) is not None:
                        out.append(pid)
            except OSError:
                pass
        return out

    def kill_memhogs(self, pids=()):
        """Kills the given pids and every memhog of ours (marked by environment)."""
        deadline = time.monotonic() + 15
        while True:
            victims = [p for p in set(pids) | set(self.marked_memhogs()) if self.harness.proc_start_time(p)]
            if not victims:
                return
            for p in victims:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise BenchError("processes survive SIGKILL: %s" % victims)
            time.sleep(0.02)

    def reap_children(self):
        for p in self._children:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        self._children = []

    def nc_receiver(self, host, dest_dir, port, log_path, plain_file=None):
        """Starts `nc -l | tar -x` (or `> FILE`) in host's namespace; returns once it listens."""
        os.makedirs(dest_dir, exist_ok=True)
        if plain_file:
            sink = "cat > '%s'" % plain_file
        else:
            sink = "tar -C '%s' -xf -" % dest_dir
        argv = self.ns(host, ["bash", "-o", "pipefail", "-c", "nc -d -l %s %d | %s" % (host.ip, port, sink)])
        p = self.popen(argv, log_path)
        self.wait_listening(p, port, 10, "nc -l on %s" % host.name)
        return p

    def nc_send(self, src, dst, port, src_dir, entries, receiver, log_path, plain_file=None):
        """Sends entries of src_dir (or one file) from src's namespace to the waiting
        receiver; returns the seconds until the receiver has written everything."""
        if plain_file:
            cmd = "nc -N %s %d < '%s'" % (dst.ip, port, plain_file)
        else:
            cmd = "tar -C '%s' -cf - %s | nc -N %s %d" % (src_dir, " ".join("'%s'" % e for e in entries), dst.ip,
                                                           port)
        t = time.monotonic()
        self.run(self.ns(src, ["bash", "-o", "pipefail", "-c", cmd]), what="the copy (tar | nc) from %s" % src.name)
        try:
            rc = receiver.wait(60)
        except subprocess.TimeoutExpired:
            raise BenchError("the receiving nc on %s did not finish" % dst.name) from None
        if rc != 0:
            raise BenchError("the receiving nc | tar on %s exited %d: %s" % (dst.name, rc, file_tail(log_path)))
        return time.monotonic() - t

    # ---- flyt ------------------------------------------------------------------

    def run_flyt(self, size, mode, rep):
        c = self.cluster
        name = self.unique("bench-%s-%d-%d", mode.replace("-", ""), size, rep)
        obs = Observer(BRIDGE_IP)
        sample = {}
        try:
            c.create_workload(name, "h1", self.memhog_args(size, obs, self.harness.MEMHOG))
            self.wait_counting(IP_A)
            before, t0_ns, t0, w0 = self.before_move(IP_A, obs)
            argv = [self.harness.FLYT_CLI, "--controller", c.controller_url, "--token-file", c.token_file,
                    "--ca-file", c.ca_file, "--json", "migrate", name, "--to", "h2", "--mode", mode, "--wait"]
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=self.env(), timeout=600)
            wall = time.monotonic() - t0
            w1 = self.wire_bytes()
            counters = self.move_counters()
            try:
                m = json.loads(r.stdout)
            except ValueError:
                m = None
            if r.returncode != 0 or not isinstance(m, dict) or m.get("state") != "committed":
                err = (m or {}).get("error") if isinstance(m, dict) else None
                raise BenchError("flyt migrate --mode %s exited %d: %s" % (
                    mode, r.returncode, err or tail(r.stderr or r.stdout)))
            gap, check = self.after_move(IP_B, before, obs, t0_ns)
            sample.update({
                "downtime_ms": m.get("downtime_ms"), "total_ms": m.get("total_ms"), "wall_ms": ms(wall),
                "bytes": m.get("bytes"), "images_bytes": m.get("images_bytes"), "wire_bytes": w1 - w0,
                "stall_ms": counters, "dump_ms": m.get("dump_ms"), "transfer_ms": m.get("transfer_ms"),
                # flyt's transfer_ms is the sending of the images and files alone
                "copy_ms": m.get("transfer_ms") if isinstance(m.get("transfer_ms"), int) else None,
                "restore_ms": m.get("restore_ms"), "pages_ms": m.get("pages_ms"),
                "phase_ms": m.get("phase_ms"), "mode": m.get("mode"), "migration": m.get("id"),
                # CRIU's own statistics, from the agents' migration directories
                "criu": {"dump": criu_stats(os.path.join(self.A.state_dir, "migrations", str(m.get("id")),
                                                         "stats-dump")),
                         "restore": criu_stats(os.path.join(self.B.state_dir, "migrations", str(m.get("id")),
                                                            "stats-restore"))},
                "gap": gap, "gap_ms": gap["gap_ms"], "check": check,
            })
            return sample
        finally:
            obs.close()
            # remove the workload wherever it is (its agent stops it and deletes its files)
            try:
                rr = c.api("DELETE", "/api/v1/workloads/%s" % name, timeout=60)
                if rr.status not in (200, 202, 204, 404):
                    log("removing workload %s: HTTP %d %s" % (name, rr.status, rr.text.strip()[:300]))
            except Exception as e:  # noqa: BLE001 - the sweep below catches what is left
                log("removing workload %s: %s" % (name, e))
            self.kill_memhogs()

    # ---- raw CRIU --------------------------------------------------------------

    def raw_launch(self, work, size, obs):
        """memhog started the way flytd starts it: flyt-launch in A's namespace, PID 1
        of its own pid+mount namespaces, its files at /run/flyt/workload."""
        files = os.path.join(work, "a", "files")
        os.makedirs(files)
        out, _ = self.run(self.ns(self.A, [self.launch, "--files", files, "--"] +
                                  self.memhog_args(size, obs, self.harness.MEMHOG)), what="flyt-launch")
        try:
            pid = int(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError("flyt-launch printed no pid: %r" % out) from None
        return pid, files

    def criu_common(self, pid, images, workdir):
        return [self.criu, "dump", "-t", pid, "-D", images, "-W", workdir, "-o", "dump.log",
                "--tcp-established", "--external", "mnt[%s]:%s" % (WORKLOAD_MOUNT, FILES_KEY)]

    def criu_restore(self, images, workdir, files, lazy):
        argv = [self.criu, "restore", "-D", images, "-W", workdir, "-o", "restore.log", "--root", "/",
                "--restore-detached", "--tcp-close", "--pidfile", os.path.join(workdir, "restored.pid"),
                "--external", "mnt[%s]:%s" % (FILES_KEY, files)]
        if lazy:
            argv.append("--lazy-pages")
        return argv

    def restored_pid(self, workdir):
        try:
            with open(os.path.join(workdir, "restored.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def run_raw_stop_copy(self, size, rep):
        work = os.path.join(self.tmp, self.unique("raw-sc-%d-%d", size, rep))
        obs = Observer(BRIDGE_IP)
        pids = []
        try:
            pid, files = self.raw_launch(work, size, obs)
            pids.append(pid)
            self.wait_counting(IP_A)
            wa, wb = os.path.join(work, "a"), os.path.join(work, "b")
            os.makedirs(os.path.join(wa, "images"))
            os.makedirs(os.path.join(wa, "log"))
            os.makedirs(os.path.join(wb, "log"))
            port = self.next_port(21000)
            recv = self.nc_receiver(self.B, wb, port, os.path.join(wb, "log", "nc.log"))
            before, t0_ns, t0, w0 = self.before_move(IP_A, obs)
            _, t_dump = self.run(self.ns(self.A, self.criu_common(pid, os.path.join(wa, "images"),
                                                                  os.path.join(wa, "log"))),
                                 what="criu dump")
            t_copy = self.nc_send(self.A, self.B, port, wa, ["images", "files"], recv,
                                  os.path.join(wb, "log", "nc.log"))
            try:
                _, t_restore = self.run(self.ns(self.B, self.criu_restore(
                    os.path.join(wb, "images"), os.path.join(wb, "log"), os.path.join(wb, "files"), False)),
                    what="criu restore")
            finally:
                rp = self.restored_pid(os.path.join(wb, "log"))
                if rp:
                    pids.append(rp)
            total = time.monotonic() - t0
            w1 = self.wire_bytes()
            counters = self.move_counters()
            gap, check = self.after_move(IP_B, before, obs, t0_ns)
            return {
                "downtime_ms": ms(total), "total_ms": ms(total), "wall_ms": ms(total),
                "dump_ms": ms(t_dump), "transfer_ms": ms(t_copy), "copy_ms": ms(t_copy), "restore_ms": ms(t_restore),
                "criu": {"dump": criu_stats(os.path.join(wa, "log", "stats-dump")),
                         "restore": criu_stats(os.path.join(wb, "log", "stats-restore"))},
                "bytes": dir_bytes(os.path.join(wb, "images")) + dir_bytes(os.path.join(wb, "files")),
                "wire_bytes": w1 - w0, "stall_ms": counters, "gap": gap, "gap_ms": gap["gap_ms"], "check": check,
            }
        except BenchError as e:
            raise BenchError("%s (logs: %s)" % (e, self.criu_log_hint(work))) from None
        finally:
            obs.close()
            self.reap_children()
            self.kill_memhogs(pids)
            if not self.args.keep_tmp:
                shutil.rmtree(work, ignore_errors=True)

    def criu_log_hint(self, work):
        out = []
        for side in ("a", "b"):
            for name in ("dump.log", "restore.log", "lazy-pages.log"):
                p = os.path.join(work, side, "log", name)
                t = file_tail(p, 2, grep=r"Error|FAIL")
                if t and ("Error" in t or "FAIL" in t):
                    out.append("%s/%s: %s" % (side, name, t))
        return "; ".join(out) or work

    def run_raw_lazy(self, size, rep):
        work = os.path.join(self.tmp, self.unique("raw-lazy-%d-%d", size, rep))
        obs = Observer(BRIDGE_IP)
        pids = []
        try:
            pid, files = self.raw_launch(work, size, obs)
            pids.append(pid)
            self.wait_counting(IP_A)
            wa, wb = os.path.join(work, "a"), os.path.join(work, "b")
            os.makedirs(os.path.join(wa, "images"))
            os.makedirs(os.path.join(wa, "log"))
            os.makedirs(os.path.join(wb, "log"))
            port = self.next_port(23000)
            ps_port = self.next_port(25000)
            recv = self.nc_receiver(self.B, wb, port, os.path.join(wb, "log", "nc.log"))
            before, t0_ns, t0, w0 = self.before_move(IP_A, obs)
            dump = self.popen(self.ns(self.A, self.criu_common(pid, os.path.join(wa, "images"), os.path.join(
                wa, "log")) + ["--lazy-pages", "--address", IP_A, "--port", ps_port]),
                os.path.join(wa, "log", "criu-dump.out"))
            # the non-memory images are written when the page server listens
            self.wait_listening(dump, ps_port, 120, "criu dump --lazy-pages")
            t_dump = time.monotonic() - t0
            t_copy = self.nc_send(self.A, self.B, port, wa, ["images", "files"], recv,
                                  os.path.join(wb, "log", "nc.log"))
            t1 = time.monotonic()
            lazy = self.popen(self.ns(self.B, [self.criu, "lazy-pages", "--page-server", "--address", IP_A,
                                               "--port", ps_port, "-D", os.path.join(wb, "images"),
                                               "-W", os.path.join(wb, "log"), "-o", "lazy-pages.log"]),
                              os.path.join(wb, "log", "criu-lazy.out"))
            sock = os.path.join(wb, "log", "lazy-pages.socket")
            deadline = time.monotonic() + 30
            while not os.path.exists(sock):
                if lazy.poll() is not None:
                    raise BenchError("criu lazy-pages exited %s before it was ready" % lazy.returncode)
                if time.monotonic() > deadline:
                    raise BenchError("criu lazy-pages did not create %s within 30 s" % sock)
                time.sleep(0.001)
            t_lazyd = time.monotonic() - t1
            try:
                _, t_restore = self.run(self.ns(self.B, self.criu_restore(
                    os.path.join(wb, "images"), os.path.join(wb, "log"), os.path.join(wb, "files"), True)),
                    what="criu restore --lazy-pages")
            finally:
                rp = self.restored_pid(os.path.join(wb, "log"))
                if rp:
                    pids.append(rp)
            t_restored = time.monotonic()
            try:
                rc = lazy.wait(600)
            except subprocess.TimeoutExpired:
                raise BenchError("criu lazy-pages did not finish within 600 s") from None
            t_pages = time.monotonic()
            if rc != 0:
                raise BenchError("criu lazy-pages exited %d" % rc)
            try:
                rc = dump.wait(60)
            except subprocess.TimeoutExpired:
                raise BenchError("criu dump --lazy-pages did not exit after the pages were served") from None
            if rc != 0:
                raise BenchError("criu dump --lazy-pages exited %d" % rc)
            w1 = self.wire_bytes()
            counters = self.move_counters()
            gap, check = self.after_move(IP_B, before, obs, t0_ns)
            return {
                "downtime_ms": ms(t_restored - t0), "total_ms": ms(t_pages - t0), "wall_ms": ms(t_pages - t0),
                "dump_ms": ms(t_dump), "transfer_ms": ms(t_copy), "copy_ms": ms(t_copy),
                "lazyd_ms": ms(t_lazyd), "restore_ms": ms(t_restore), "pages_ms": ms(t_pages - t_restored),
                "criu": {"dump": criu_stats(os.path.join(wa, "log", "stats-dump")),
                         "restore": criu_stats(os.path.join(wb, "log", "stats-restore"))},
                "bytes": None, "images_bytes": dir_bytes(os.path.join(wb, "images")) + dir_bytes(
                    os.path.join(wb, "files")),
                "wire_bytes": w1 - w0, "stall_ms": counters, "gap": gap, "gap_ms": gap["gap_ms"], "check": check,
            }
        except BenchError as e:
            raise BenchError("%s (logs: %s)" % (e, self.criu_log_hint(work))) from None
        finally:
            obs.close()
            self.reap_children()
            self.kill_memhogs(pids)
            if not self.args.keep_tmp:
                shutil.rmtree(work, ignore_errors=True)

    # ---- Podman ----------------------------------------------------------------

    def podman_cmd(self, host, *args):
        p = self.pm[host.name]
        return self.ns(host, ["podman", "--root", p["root"], "--runroot", p["runroot"], "--tmpdir", p["tmpdir"],
                              "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                              "--network-config-dir", p["netconf"], "--storage-driver", "overlay"] + list(args))

    def podman_env(self, host):
        return self.env({"TMPDIR": self.pm[host.name]["bigtmp"]})

    def podman(self, host, *args, timeout=300, what=None):
        return self.run(self.podman_cmd(host, *args), timeout=timeout, env=self.podman_env(host),
                        what=what or "podman %s" % " ".join(str(a) for a in args[:3]))

    def setup_podman(self):
        """A rootfs holding a static memhog, imported as an image into two Podman
        "hosts" (own --root/--runroot each)."""
        log("building the Podman image (static memhog) and importing it on both hosts")
        base = os.path.join(self.tmp, "podman")
        rootfs = os.path.join(base, "rootfs")
        for d in ("", "tmp", "proc", "sys", "dev", "etc", "run"):
            os.makedirs(os.path.join(rootfs, d), exist_ok=True)
        os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
        src = os.path.join(ROOT, "tests", "integration", "memhog.c")
        self.run(["gcc", "-static", "-O2", "-o", os.path.join(rootfs, "memhog"), src], what="gcc -static memhog")
        tarball = os.path.join(base, "rootfs.tar")
        self.run(["tar", "-C", rootfs, "-cf", tarball, "."], what="tar rootfs")
        for h in (self.A, self.B):
            d = os.path.join(base, h.name)
            self.pm[h.name] = {k: os.path.join(d, k) for k in ("root", "runroot", "tmpdir", "netconf", "bigtmp")}
            for v in self.pm[h.name].values():
                os.makedirs(v, exist_ok=True)
            self.podman(h, "import", tarball, PODMAN_IMAGE, what="podman import on %s" % h.name)
        self.podman_ready = True

    def podman_cleanup(self, hosts=None):
        for h in hosts or (self.A, self.B):
            if h.name not in self.pm:
                continue
            try:
                self.podman(h, "rm", "--all", "--force", "--time", "0", timeout=120)
            except BenchError as e:
                log("podman rm on %s: %s" % (h.name, e))

    def run_podman(self, size, rep):
        name = self.unique("bench-%d-%d", size, rep)
        work = os.path.join(self.tmp, name)
        os.makedirs(work)
        obs = Observer(BRIDGE_IP)
        try:
            self.podman(self.A, "run", "-d", "--name", name, "--network", "host", *PODMAN_ULIMITS,
                        "--workdir", "/tmp", PODMAN_IMAGE, *self.memhog_args(size, obs, "/memhog"),
                        what="podman run")
            self.wait_counting(IP_A)
            export = os.path.join(work, "a.tar")
            imported = os.path.join(work, "b.tar")
            port = self.next_port(27000)
            recv = self.nc_receiver(self.B, work, port, os.path.join(work, "nc.log"), plain_file=imported)
            before, t0_ns, t0, w0 = self.before_move(IP_A, obs)
            ck = ["container", "checkpoint", "--export", export, "--tcp-established"]
            if self.args.podman_compress:
                ck += ["--compress", self.args.podman_compress]
            out_ck, t_ck = self.podman(self.A, *ck, "--print-stats", name,
                                       what="podman container checkpoint --export")
            t_copy = self.nc_send(self.A, self.B, port, work, None, recv, os.path.join(work, "nc.log"),
                                  plain_file=export)
            out_rs, t_rs = self.podman(self.B, "container", "restore", "--import", imported, "--print-stats",
                                       what="podman container restore --import")
            total = time.monotonic() - t0
            w1 = self.wire_bytes()
            counters = self.move_counters()
            gap, check = self.after_move(IP_B, before, obs, t0_ns)
            return {
                "downtime_ms": ms(total), "total_ms": ms(total), "wall_ms": ms(total),
                "dump_ms": ms(t_ck), "transfer_ms": ms(t_copy), "copy_ms": ms(t_copy), "restore_ms": ms(t_rs),
                "bytes": os.path.getsize(imported), "wire_bytes": w1 - w0, "stall_ms": counters,
                "criu": {"dump": podman_criu_stats(out_ck), "restore": podman_criu_stats(out_rs)},
                "gap": gap, "gap_ms": gap["gap_ms"], "check": check,
            }
        finally:
            obs.close()
            self.reap_children()
            self.podman_cleanup()
            self.kill_memhogs()
            if not self.args.keep_tmp:
                shutil.rmtree(work, ignore_errors=True)

    # ---- the run ---------------------------------------------------------------

    def busy(self):
        """The pids `pgrep -f --wait-for` finds (not this process or its ancestors)."""
        pat = self.args.wait_for
        if not pat:
            return []
        mine = set()
        pid = os.getpid()
        while pid > 1:
            mine.add(pid)
            try:
                with open("/proc/%d/stat" % pid) as f:
                    pid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                break
        r = subprocess.run(["pgrep", "-f", pat], stdout=subprocess.PIPE, text=True)
        return [int(p) for p in r.stdout.split() if int(p) not in mine]

    def wait_idle(self):
        said = False
        while True:
            pids = self.busy()
            if not pids:
                return
            if not said:
                log("waiting until nothing matches `pgrep -f %s` (pids %s), polling every 10 s" % (
                    self.args.wait_for, " ".join(map(str, pids))))
                said = True
            time.sleep(10)

    def measure(self, size, method, rep):
        """One run of one method; measured again (up to 3 times) when something
        matching --wait-for started meanwhile and shared the CPUs with it."""
        for attempt in range(3):
            self.wait_idle()
            n_failures = len(self.failures)
            sample = self.measure_once(size, method, rep)
            sample["attempt"] = attempt + 1
            self.samples.append(sample)
            if not self.busy():
                break
            if attempt < 2:
                log("    `pgrep -f %s` found something during this run: not counted, measuring it again" % (
                    self.args.wait_for))
                sample["disturbed"] = True
                sample["counted"] = False
                del self.failures[n_failures:]
            else:
                sample["disturbed"] = True
                log("    (disturbed again by `%s`; counted anyway)" % self.args.wait_for)

    def measure_once(self, size, method, rep):
        log("%-21s %5d MiB  run %d/%d" % (LABELS[method], size, rep + 1, self.args.repeat))
        t = time.monotonic()
        sample = {"size_mib": size, "method": method, "rep": rep, "ok": False}
        try:
            if method == "flyt-stop-copy":
                res = self.run_flyt(size, "stop-copy", rep)
            elif method == "flyt-lazy":
                res = self.run_flyt(size, "lazy", rep)
            elif method == "raw-stop-copy":
                res = self.run_raw_stop_copy(size, rep)
            elif method == "raw-lazy":
                res = self.run_raw_lazy(size, rep)
            elif method == "podman":
                if not self.podman_ready:
                    raise BenchError("Podman was not set up")
                res = self.run_podman(size, rep)
            sample.update(res)
            sample["ok"] = True
            log("    gap %.0f ms, total %.0f ms%s" % (res["gap_ms"], res["wall_ms"], (
                ", flyt downtime %s ms" % res["downtime_ms"]) if method.startswith("flyt") else ""))
        except (BenchError, self.harness.HarnessError, OSError, subprocess.SubprocessError) as e:
            sample["error"] = str(e)
            self.failures.append("%s, %d MiB, run %d: %s" % (LABELS[method], size, rep + 1, e))
            log("    FAILED: %s" % e)
        except Exception as e:  # noqa: BLE001 - a bug of the benchmark: report, go on
            sample["error"] = "%s: %s" % (type(e).__name__, e)
            self.failures.append("%s, %d MiB, run %d: %s\n%s" % (LABELS[method], size, rep + 1, sample["error"],
                                                                 traceback.format_exc()))
            log("    FAILED: %s" % sample["error"])
        sample["seconds"] = round(time.monotonic() - t, 1)
        # nothing of this method may be left for the next one
        left = self.marked_memhogs()
        if left:
            self.failures.append("after %s: memhog processes left: %s" % (LABELS[method], left))
            self.kill_memhogs()
        return sample

    def go(self):
        # The order rotates from one run to the next, so that every method comes
        # after every other as often: on this kind of VM the cost of memory depends
        # on what ran just before (see docs/benchmarks.md).
        n = len(self.args.methods)
        for size in self.args.sizes:
            for rep in range(self.args.repeat):
                k = rep % n
                for method in self.args.methods[k:] + self.args.methods[:k]:
                    self.measure(size, method, rep)

    def teardown(self):
        try:
            self.reap_children()
        except Exception as e:  # noqa: BLE001
            log("cleanup: %s" % e)
        if self.cluster is not None:
            try:
                self.podman_cleanup()
                for h in (self.A, self.B):
                    if h.name in self.pm:
                        # images and storage: reset removes everything below --root/--runroot
                        try:
                            self.podman(h, "system", "reset", "--force", timeout=120)
                        except BenchError as e:
                            log("podman system reset on %s: %s" % (h.name, e))
            except Exception as e:  # noqa: BLE001
                log("cleanup of Podman: %s" % e)
            try:
                self.kill_memhogs()
            except Exception as e:  # noqa: BLE001
                log("cleanup: %s" % e)
            self.cluster.failed = bool(self.args.keep_tmp)
            try:
                self.cluster.teardown(keep_tmp=bool(self.args.keep_tmp))
            except Exception as e:  # noqa: BLE001
                log("cluster teardown: %s" % e)
        if self.tmp:
            unmount_below(self.tmp)
            if self.args.keep_tmp:
                try:
                    os.unlink(os.path.join(self.tmp, "owner"))
                except OSError:
                    pass
                log("kept %s" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)


def _varint(b, i):
    r = shift = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7f) << shift
        shift += 7
        if not c & 0x80:
            return r, i


def _protobuf(b):
    """The scalar fields of a protobuf message: {field number: int or bytes}."""
    out, i = {}, 0
    while i < len(b):
        key, i = _varint(b, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(b, i)
        elif wire == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wire == 1:
            v, i = struct.unpack("<Q", b[i:i + 8])[0], i + 8
        elif wire == 5:
            v, i = struct.unpack("<I", b[i:i + 4])[0], i + 4
        else:
            raise ValueError("protobuf wire type %d" % wire)
        out[field] = v
    return out


CRIU_DUMP_STATS = {1: "freezing_us", 2: "frozen_us", 3: "memdump_us", 4: "memwrite_us", 5: "pages_scanned",
                   7: "pages_written", 9: "pages_lazy"}
CRIU_RESTORE_STATS = {3: "forking_us", 4: "restore_us", 5: "pages_restored"}


def criu_stats(path):
    """CRIU's stats-dump / stats-restore image (two magics, then one size-prefixed
    StatsEntry: 1 dump, 2 restore) as a dict, or None."""
    try:
        with open(path, "rb") as f:
            b = f.read()
        n = struct.unpack("<I", b[8:12])[0]
        top = _protobuf(b[12:12 + n])
        if 1 in top:
            return {CRIU_DUMP_STATS[k]: v for k, v in _protobuf(top[1]).items() if k in CRIU_DUMP_STATS}
        if 2 in top:
            return {CRIU_RESTORE_STATS[k]: v for k, v in _protobuf(top[2]).items() if k in CRIU_RESTORE_STATS}
    except (OSError, ValueError, IndexError, struct.error):
        pass
    return None


def podman_criu_stats(text):
    """CRIU's statistics from `podman container checkpoint/restore --print-stats`,
    in the names criu_stats() uses, plus podman's and the runtime's durations (us)."""
    try:
        doc = json.loads(text[text.index("{"):])
    except ValueError:
        return None
    out = {}
    for k, v in doc.items():
        if isinstance(v, (int, float)):
            out[k] = v
    for c in doc.get("container_statistics") or []:
        for k, v in c.items():
            if isinstance(v, (int, float)):
                out[k] = v
        for k, v in (c.get("criu_statistics") or {}).items():
            if isinstance(v, (int, float)):
                out[re.sub(r"_time$", "_us", k)] = v
    return out


def read_psi():
    """Cumulative PSI "some" stall times (us) for cpu and io, {} where unsupported."""
    out = {}
    for res in ("cpu", "io"):
        try:
            with open("/proc/pressure/%s" % res) as f:
                m = re.search(r"^some .*total=(\d+)", f.read(), re.M)
                if m:
                    out[res] = int(m.group(1))
        except OSError:
            pass
    return out


def unmount_below(path):
    """Unmounts every mount point at or below path, deepest first."""
    path = os.path.realpath(path)
    for _ in range(3):
        points = []
        try:
            with open("/proc/self/mountinfo") as f:
                for line in f:
                    mp = line.split()[4].encode().decode("unicode_escape")
                    if mp == path or mp.startswith(path + "/"):
                        points.append(mp)
        except OSError:
            return
        if not points:
            return
        for mp in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---- machine facts and the report ---------------------------------------------------


def machine_facts(criu):
    def out(argv):
        try:
            return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB" % (int(f.readline().split()[1]) / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    os_name = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    criu_v = re.search(r"Version:\s*(\S+)", out([criu, "--version"]))
    podman_v = out(["podman", "--version"])
    runc_v = out(["runc", "--version"]).splitlines()
    return {
        "kernel": platform.release(), "os": os_name, "cpu": cpu, "cpus": os.cpu_count(), "memory": mem,
        "criu": criu_v.group(1) if criu_v else "?", "criu_path": criu,
        "podman": podman_v.replace("podman version ", "") if podman_v else "-",
        "runc": runc_v[0].replace("runc version ", "") if runc_v else "-",
        "python": platform.python_version(),
    }


def stats(values):
    v = [x for x in values if isinstance(x, (int, float))]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def fmt_ms(s, width=20):
    if not s:
        return "-".ljust(width)
    if s["n"] == 1:
        return ("%.0f ms" % s["median"]).ljust(width)
    return ("%.0f [%.0f-%.0f]" % (s["median"], s["min"], s["max"])).ljust(width)


def fmt_bytes(s, width=12):
    if not s:
        return "-".ljust(width)
    return ("%.1f MiB" % (s["median"] / MIB)).ljust(width)


def summarize(samples, sizes, methods):
    samples = [s for s in samples if s.get("counted", True)]
    summary = {}
    for size in sizes:
        summary[size] = {}
        for m in methods:
            ok = [s for s in samples if s["size_mib"] == size and s["method"] == m and s["ok"]]
            summary[size][m] = {k: stats([s.get(k) for s in ok]) for k in (
                "downtime_ms", "gap_ms", "total_ms", "wall_ms", "dump_ms", "transfer_ms", "copy_ms", "lazyd_ms",
                "restore_ms", "pages_ms",
                "bytes", "images_bytes", "wire_bytes")}
            for key, part, field in (("criu_frozen_ms", "dump", "frozen_us"),
                                     ("criu_memdump_ms", "dump", "memdump_us"),
                                     ("criu_memwrite_ms", "dump", "memwrite_us"),
                                     ("criu_restore_ms", "restore", "restore_us")):
                vals = []
                for x in ok:
                    st = (x.get("criu") or {}).get(part) or {}
                    # a lazy dump writes no memory and leaves its times unset (garbage)
                    if st.get(field) is not None and not (part == "dump" and not st.get("pages_written")):
                        vals.append(st[field] / 1000.0)
                summary[size][m][key] = stats(vals)
            summary[size][m]["runs"] = len([s for s in samples if s["size_mib"] == size and s["method"] == m])
            summary[size][m]["ok"] = len(ok)
    return summary


def med(summary, size, method, key):
    s = summary.get(size, {}).get(method, {}).get(key)
    return s["median"] if s else None


def ratio_line(label, num, den, target=None, below=True):
    if num is None or den is None or den == 0 or num != num:
        return "  %-58s %s" % (label, "n/a (not measured)"), None
    r = num / den
    verdict = ""
    ok = None
    if target is not None:
        ok = r <= target if below else r >= target
        verdict = "   target <= %.1fx  %s" % (target, "PASS" if ok else "MISS")
    return "  %-58s %5.2fx%s" % (label, r, verdict), ok


def report(facts, args, samples, summary):
    lines = []
    p = lines.append
    p("")
    p("flyt migration benchmark: memhog --mib N --dirty-mib %d --heartbeat (1 datagram/ms), host A -> host B "
      "(network namespaces, veth + bridge)" % args.dirty_mib)
    p("machine: %s; kernel %s; %s x %d CPUs; %s RAM; CRIU %s; podman %s; runc %s" % (
        facts["os"], facts["kernel"], facts["cpu"], facts["cpus"], facts["memory"], facts["criu"], facts["podman"],
        facts["runc"]))
    p("figures: median [min-max] of %d run(s), milliseconds" % args.repeat)
    p("  downtime: flyt's own downtime_ms; for the others freeze -> restored by the clock "
      "(dump start to restore end)")
    p("  gap: largest gap between heartbeat datagrams seen by the observer (the same instrument for all)")
    p("  total: flyt: `flyt migrate --wait` wall time (flyt's total_ms beside it); raw lazy: until the "
      "lazy-pages daemon exited")
    p("  bytes: what the method moved (flyt: its bytes; raw: images+files copied; podman: the export file); "
      "wire: bytes A sent on its veth during the move")
    results = {}
    for size in args.sizes:
        p("")
        p("== %d MiB workload (memhog --mib %d --dirty-mib %d: %d MiB of memory, %d MiB of it rewritten "
          "continuously) ==" % (size, size, args.dirty_mib, size + args.dirty_mib, args.dirty_mib))
        p("%-22s %-20s %-20s %-20s %-12s %-12s %s" % ("method", "downtime", "gap (outside)", "total",
                                                     "bytes", "wire", "dump / copy / restore (/ pages)"))
        for m in args.methods:
            s = summary[size][m]
            if not s["ok"]:
                p("%-22s not measured (%d of %d runs failed)" % (LABELS[m], s["runs"] - s["ok"], s["runs"]))
                continue
            tot = fmt_ms(s["wall_ms"]).rstrip()
            if m.startswith("flyt") and s["total_ms"]:
                tot += " (%.0f)" % s["total_ms"]["median"]
            parts = []
            for k in ("dump_ms", "copy_ms", "restore_ms", "pages_ms"):
                if s[k]:
                    parts.append("%.0f" % s[k]["median"])
            if s["bytes"]:
                byt = fmt_bytes(s["bytes"])
            else:  # raw lazy: the images copied; the pages went through CRIU's page server (see wire)
                byt = ("%s+pages" % fmt_bytes(s["images_bytes"]).strip()).ljust(12)
            p("%-22s %s %s %-20s %s %s %s%s" % (
                LABELS[m], fmt_ms(s["downtime_ms"]), fmt_ms(s["gap_ms"]), tot, byt,
                fmt_bytes(s["wire_bytes"]), " / ".join(parts),
                "" if s["ok"] == s["runs"] else "   (%d of %d runs failed)" % (s["runs"] - s["ok"], s["runs"])))
        p("inside CRIU (its stats-dump/stats-restore, medians, ms): dump: memory dump, of it writing the images "
          "| restore")
        for m in args.methods:
            s = summary[size][m]
            if s["ok"] and (s["criu_memdump_ms"] or s["criu_restore_ms"]):
                f = ["%.0f" % s[k]["median"] if s[k] else "-" for k in (
                    "criu_memdump_ms", "criu_memwrite_ms", "criu_restore_ms")]
                p("  %-22s dump %s, writing %s  | restore %s" % (LABELS[m], f[0], f[1], f[2]))
        p("ratios (of medians):")
        res = results[size] = {}

        def ratio(label, num, den, target=None, key=None, num_value=None, sz=size):
            """num/den: (method, field); printed only when both methods ran."""
            if num_value is None:
                if num[0] not in args.methods:
                    return
                num_value = med(summary, sz, num[0], num[1])
            if den[0] not in args.methods:
                return
            line, ok = ratio_line(label, num_value, med(summary, sz, den[0], den[1]), target)
            p(line)
            if key:
                res[key] = ok
        ratio("flyt stop-copy / raw CRIU stop-copy, total", ("flyt-stop-copy", "wall_ms"),
              ("raw-stop-copy", "wall_ms"), T_STOPCOPY_TOTAL, "stopcopy_total")
        ratio("flyt stop-copy / raw CRIU stop-copy, total (flyt total_ms)", ("flyt-stop-copy", "total_ms"),
              ("raw-stop-copy", "wall_ms"))
        ratio("flyt stop-copy / raw CRIU stop-copy, gap", ("flyt-stop-copy", "gap_ms"), ("raw-stop-copy", "gap_ms"))
        ratio("flyt lazy / raw CRIU lazy, gap", ("flyt-lazy", "gap_ms"), ("raw-lazy", "gap_ms"), T_LAZY_GAP,
              "lazy_gap")
        ratio("flyt lazy downtime_ms / raw CRIU lazy gap", ("flyt-lazy", "downtime_ms"), ("raw-lazy", "gap_ms"))
        ratio("flyt lazy / raw CRIU lazy, total (all pages moved)", ("flyt-lazy", "wall_ms"), ("raw-lazy", "wall_ms"))
        flyt_gaps = [g for g in (med(summary, size, "flyt-stop-copy", "gap_ms"),
                                 med(summary, size, "flyt-lazy", "gap_ms")) if g is not None]
        if any(m.startswith("flyt") for m in args.methods):
            ratio("flyt best / podman, gap", None, ("podman", "gap_ms"), T_PODMAN, "podman_gap",
                  num_value=min(flyt_gaps) if flyt_gaps else float("nan"))
    if len(args.sizes) > 1:
        lo, hi = min(args.sizes), max(args.sizes)
        p("")
        p("memory-size independence (%d MiB vs %d MiB, medians):" % (hi, lo))
        for m, label, target, key in (("flyt-lazy", "flyt lazy gap", T_LAZY_FLAT, "lazy_flat"),
                                      ("raw-lazy", "raw CRIU lazy gap", None, None),
                                      ("flyt-stop-copy", "flyt stop-copy gap", None, None),
                                      ("raw-stop-copy", "raw CRIU stop-copy gap", None, None)):
            if m in args.methods:
                line, ok = ratio_line("%s %d MiB / %d MiB" % (label, hi, lo), med(summary, hi, m, "gap_ms"),
                                      med(summary, lo, m, "gap_ms"), target)
                p(line)
                if key:
                    results[key] = ok
    return "\n".join(lines), results


# ---- main -----------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(description="flyt against raw CRIU and Podman: downtime, total time, bytes.")
    ap.add_argument("--sizes", default="256,1024", help="workload sizes in MiB, comma-separated (default 256,1024)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per method and size (default 3)")
    ap.add_argument("--dirty-mib", type=int, default=64, help="MiB the workload keeps rewriting (default 64)")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="comma-separated subset of %s (default: all)" % ",".join(METHODS))
    ap.add_argument("--json", metavar="FILE", help="write machine facts, every raw sample and the summary here")
    ap.add_argument("--podman-compress", default="none", choices=["none", "gzip", "zstd", ""],
                    help="podman checkpoint --compress (default none: the memory is incompressible; "
                         "'' leaves podman's default, zstd)")
    ap.add_argument("--wait-for", default="pytest", metavar="PATTERN",
                    help="before each run, wait (polling every 10 s) until `pgrep -f PATTERN` finds nothing, "
                         "so that the runs do not share the CPUs with a test suite (default pytest; '' disables)")
    ap.add_argument("--build-dir", default=os.environ.get("FLYT_BUILD_DIR") or os.path.join(ROOT, "build"),
                    help="the flyt build directory (default build/)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temporary directories (logs, images)")
    ap.add_argument("--plain-http", action="store_true",
                    help="run flyt's cluster with --plain-http, to see what TLS on the data channel costs")
    a = ap.parse_args(argv)
    try:
        a.sizes = [int(x) for x in a.sizes.split(",") if x.strip()]
    except ValueError:
        ap.error("--sizes wants numbers of MiB, e.g. 256,1024")
    if not a.sizes or any(s < 8 for s in a.sizes):
        ap.error("--sizes: at least 8 MiB each")
    a.methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    bad = [m for m in a.methods if m not in METHODS]
    if bad or not a.methods:
        ap.error("--methods: unknown %s (choose from %s)" % (",".join(bad), ",".join(METHODS)))
    if a.repeat < 1:
        ap.error("--repeat must be >= 1")
    if a.dirty_mib < 0:
        ap.error("--dirty-mib must be >= 0")
    a.build_dir = os.path.abspath(a.build_dir)
    return a


def main(argv=None):
    global PLAIN_HTTP
    args = parse_args(sys.argv[1:] if argv is None else argv)
    PLAIN_HTTP = args.plain_http
    bench = Bench(args)
    try:
        bench.preflight()
    except SetupError as e:
        sys.stderr.write("bench_migrate: %s\n" % e)
        return 2

    interrupted = []

    def on_signal(sig, frame):
        if interrupted:
            return  # cleaning up already
        interrupted.append(sig)
        raise Interrupted(sig)

    bench.harness._install_handlers()  # its janitor and watchdog; then our handlers replace its ones
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, on_signal)

    facts = machine_facts(bench.criu)
    status = 0
    text = None
    try:
        bench.setup()
        bench.go()
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        status = 130
    except Interrupted as e:
        log("signal %s; cleaning up" % e.args[0])
        status = 128 + int(e.args[0])
    except (SetupError, BenchError, bench.harness.HarnessError, OSError, subprocess.SubprocessError) as e:
        bench.failures.append("set-up: %s" % e)
        log("set-up failed: %s" % e)
        status = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_IGN)  # let the cleanup finish
        log("cleaning up")
        bench.teardown()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)

    summary = summarize(bench.samples, args.sizes, args.methods)
    if bench.samples:
        text, results = report(facts, args, bench.samples, summary)
        print(text)
    else:
        results = {}
    for size in args.sizes:
        for m in args.methods:
            if bench.samples and not summary[size][m]["ok"] and status == 0:
                bench.failures.append("%s, %d MiB: no successful run" % (LABELS[m], size))
    if args.json:
        doc = {"command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]), "machine": facts,
               "args": {k: v for k, v in vars(args).items()}, "samples": bench.samples,
               "summary": {str(k): v for k, v in summary.items()},
               "targets": {str(k): v for k, v in results.items()}, "failures": bench.failures,
               "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
        log("raw samples written to %s" % args.json)
    if bench.failures:
        print("\nNOT MEASURED (%d):" % len(bench.failures))
        for f in bench.failures:
            print("  - %s" % f)
        return status or 1
    return status


if __name__ == "__main__":
    sys.exit(main())
