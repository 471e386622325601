#!/usr/bin/env python3
"""Container migration with flyt against the same done by hand, in one run.

Two namespace hosts (the integration tests' harness, tests/integration), each
with its own dockerd and its own `podman system service` (engines.py: own data
roots, runc, CRIU >= 4.2 on PATH), a flyt controller and an agent per host.
Each method moves a busybox container that holds --mib MiB in a shell variable
and appends /proc/uptime to /tmp/log every 10 ms, from h1 to h2:

  flyt-docker   flyt workload adopt --kind docker; flyt migrate --wait --json
  docker        docker checkpoint create; tar of the checkpoint | nc h2;
                docker create (same image and command) on h2, the checkpoint
                put into its checkpoints directory; docker start --checkpoint
  flyt-podman   flyt workload adopt --kind podman; flyt migrate --wait --json
  podman        podman container checkpoint --export F; nc h2;
                podman container restore --import F on h2
  flyt-runc-lazy  flyt workload create --kind runc --rootfs TAR; flyt migrate
                --mode lazy --wait --json (post-copy through flyt's page tunnel)
  runc-lazy     runc checkpoint --lazy-pages --page-server H1:PORT --status-fd
                on h1; tar of the images | nc h2; criu lazy-pages --page-server
                --address H1 --port PORT and runc restore --lazy-pages on h2 (the
                bundle, without the container's writes, on h2 beforehand)

The image is on both hosts beforehand (the same id: saved on h1, loaded on h2),
so no method moves it (runc: the root file system is on both hosts; flyt moves
the container's copy of it, by hand uses h2's). Figures per run: total (wall time
of the migration command(s); lazy: until the container runs on h2, its memory
still arriving; "pages" is how long that took after), gap (the largest gap between two uptime lines the container wrote,
over its log on h1 and h2: the downtime seen from inside) and, for flyt, its
downtime_ms and bytes. "by hand" does not carry the container's filesystem
changes (its /tmp/log starts empty on h2; the gap is taken across both logs);
flyt does.

Usage (root, flyt built in build/, scripts/setup.sh run):
    sudo python3 bench/bench_containers.py [--mib 64] [--repeat 3] [--methods ...] [--json FILE]
Exit status: 0 when every run was measured, 1 otherwise, 2 when it cannot run.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
os.environ.setdefault("FLYT_BUILD_DIR", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import engines  # noqa: E402
import harness  # noqa: E402

METHODS = ["flyt-docker", "docker", "flyt-podman", "podman", "flyt-runc-lazy", "runc-lazy"]
IMAGE = "localhost/flyt-bench:latest"
EXTRA_APPLETS = ("tr", "usleep", "head", "stat")
NC_PORT = 9555
PS_PORT = 9556  # the by-hand lazy checkpoint's page server on h1


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def ms_since(t0):
    return (time.monotonic() - t0) * 1000.0


def criu_errors(work, log_name):
    """The Error lines of a CRIU log (but the harmless RLIMIT_NOFILE one)."""
    try:
        with open(os.path.join(work, log_name)) as f:
            lines = [ln.strip() for ln in f if "Error (" in ln and "RLIMIT_NOFILE" not in ln]
    except OSError as e:
        return "no CRIU log: %s" % e
    return "; ".join(lines[-4:]) or "no error in the CRIU log"


class Bench:
    def __init__(self, args):
        self.args = args
        self.c = None
        self.samples = {m: [] for m in args.methods}
        self.failures = []

    # ---- set-up ----------------------------------------------------------------

    def setup(self):
        kinds = [k for k in ("docker", "podman") if any(m.endswith(k) for m in self.args.methods)]
        classes = [engines.DockerEngine if k == "docker" else engines.PodmanEngine for k in kinds]
        self.c = harness.Cluster(hosts=2, name="bench-containers", engines=classes)
        root = os.path.join(self.c.tmp, "bench-rootfs")
        engines.make_busybox_rootfs(root)
        for a in EXTRA_APPLETS:
            if not os.path.lexists(os.path.join(root, "bin", a)):
                os.symlink("busybox", os.path.join(root, "bin", a))
        tar = os.path.join(self.c.tmp, "bench-rootfs.tar")
        subprocess.run(["tar", "-C", root, "--numeric-owner", "-cf", tar, "."], check=True, timeout=60)
        self.rootfs, self.rootfs_tar = root, tar
        for kind in kinds:
            e1, e2 = (self.c.hosts[h].engines[kind] for h in ("h1", "h2"))
            saved = os.path.join(self.c.tmp, "bench-image-%s.tar" % kind)
            e1.cli("import", tar, IMAGE)
            e1.cli("save", "-o", saved, IMAGE)
            e2.cli("load", "-i", saved)

    def cmd(self):
        # the wall clock through a file's modification time: CRIU restores into a
        # time namespace that hides the freeze from the monotonic clocks (and
        # /proc/uptime), and busybox's date has no sub-second format
        return ["sh", "-c", "v=$(head -c %d /dev/zero | tr '\\0' a); while true; do touch /tmp/t; "
                "stat -c %%y /tmp/t >> /tmp/log; usleep 10000; done" % (self.args.mib * 1024 * 1024)]

    def start(self, eng, name):
        eng.cli("run", "-d", "--name", name, IMAGE, *self.cmd())
        engines.wait_running(self.c, eng, name, timeout=60)
        self.c.wait_for(lambda: len(self.read_log(eng, name)) > 50, 60, "the container to count")

    @staticmethod
    def parse_log(text):
        """The times (s since the epoch) of complete lines "YYYY-MM-DD HH:MM:SS.N +0000"."""
        out = []
        for line in text.splitlines():
            try:
                day, clock, _ = line.split()
                hms, frac = clock.split(".")
                t = datetime.datetime.strptime(day + " " + hms, "%Y-%m-%d %H:%M:%S")
                out.append(t.replace(tzinfo=datetime.timezone.utc).timestamp() + float("0." + frac))
            except ValueError:
                continue
        return out

    def read_log(self, eng, name):
        return self.parse_log(eng.cli("exec", name, "cat", "/tmp/log", check=False))

    def stopped_log(self, eng, name, tmp):
        out = os.path.join(tmp, "stopped-log")
        if os.path.exists(out):
            os.unlink(out)
        eng.cli("cp", "%s:/tmp/log" % name, out)
        with open(out) as f:
            return self.parse_log(f.read())

    @staticmethod
    def gap_ms(lines):
        lines = sorted(set(lines))
        return max((b - a for a, b in zip(lines, lines[1:])), default=0.0) * 1000.0

    def nc_copy(self, src_path, dst_path):
        """src_path (a file or directory, tarred) from h1 to h2 over their veths."""
        h2 = self.c.hosts["h2"]
        recv = subprocess.Popen(["nsenter", "--net=/run/netns/" + h2.ns, "sh", "-c",
                                 'nc -d -l "$1" "$2" > "$3"', "nc", h2.ip, str(NC_PORT), dst_path])
        h1 = self.c.hosts["h1"]
        deadline = time.monotonic() + 30
        while True:
            r = subprocess.run(["nsenter", "--net=/run/netns/" + h1.ns, "sh", "-c", 'nc -N "$1" "$2" < "$3"', "nc",
                                h2.ip, str(NC_PORT), src_path], stderr=subprocess.PIPE, text=True)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                recv.kill()
                raise RuntimeError("nc to h2: %s" % r.stderr.strip())
            time.sleep(0.05)  # the listener is not up yet
        if recv.wait(120) != 0:
            raise RuntimeError("nc on h2 exited %d" % recv.returncode)

    # ---- methods ------------------------------------------------------------------

    def run_flyt(self, kind, rep):
        e1, e2 = (self.c.hosts[h].engines[kind] for h in ("h1", "h2"))
        name = "f%s%d" % (kind[0], rep)
        self.start(e1, name)
        self.c.cli("workload", "adopt", "--kind", kind, "--host", "h1", name)
        t0 = time.monotonic()
        out = self.c.cli("migrate", name, "--to", "h2", "--wait", json=True, timeout=600).stdout
        total = ms_since(t0)
        m = json.loads(out)
        if m.get("state") != "committed":
            raise RuntimeError("flyt migrate: %s: %s" % (m.get("state"), m.get("error")))
        engines.wait_running(self.c, e2, name, timeout=60)
        n0 = len(self.read_log(e2, name))
        self.c.wait_for(lambda: len(self.read_log(e2, name)) > n0 + 3, 30, "the log to go on")
        lines = self.read_log(e2, name)
        self.c.cli("workload", "rm", name)
        return {"total_ms": total, "gap_ms": self.gap_ms(lines), "downtime_ms": m.get("downtime_ms"),
                # flyt's transfer_ms: sending what the dump wrote, after the dump
                "dump_ms": m.get("dump_ms"), "copy_ms": m.get("transfer_ms"),
                "restore_ms": m.get("restore_ms"),
                "bytes": m.get("bytes"), "flyt_total_ms": m.get("total_ms"), "phase_ms": m.get("phase_ms")}

    def run_docker(self, rep):
        e1, e2 = (self.c.hosts[h].engines["docker"] for h in ("h1", "h2"))
        name = "hd%d" % rep
        self.start(e1, name)
        id1 = e1.api("GET", "/v1.41/containers/%s/json" % name)[1]["Id"]
        ck1 = os.path.join(e1.dir, "data", "containers", id1, "checkpoints")
        tar = os.path.join(self.c.tmp, "ck-docker.tar")
        tar2 = os.path.join(self.c.tmp, "ck-docker-h2.tar")
        t0 = time.monotonic()
        e1.cli("checkpoint", "create", name, "cp1", timeout=600)
        t_dump = ms_since(t0)
        subprocess.run(["tar", "-C", ck1, "-cf", tar, "cp1"], check=True)
        self.nc_copy(tar, tar2)
        t_copy = ms_since(t0) - t_dump
        e2.cli("create", "--name", name, IMAGE, *self.cmd())
        id2 = e2.api("GET", "/v1.41/containers/%s/json" % name)[1]["Id"]
        ck2 = os.path.join(e2.dir, "data", "containers", id2, "checkpoints")
        os.makedirs(ck2, exist_ok=True)
        subprocess.run(["tar", "-C", ck2, "-xf", tar2], check=True)
        t1 = time.monotonic()
        e2.cli("start", "--checkpoint", "cp1", name, timeout=600)
        total = ms_since(t0)
        restore = ms_since(t1)
        engines.wait_running(self.c, e2, name, timeout=60)
        self.c.wait_for(lambda: len(self.read_log(e2, name)) > 3, 30, "the log to go on")
        lines = self.stopped_log(e1, name, self.c.tmp) + self.read_log(e2, name)
        for e in (e1, e2):
            e.cli("rm", "-f", name)
        size = os.path.getsize(tar2)
        os.unlink(tar)
        os.unlink(tar2)
        return {"total_ms": total, "gap_ms": self.gap_ms(lines), "dump_ms": t_dump, "copy_ms": t_copy,
                "restore_ms": restore, "bytes": size}

    def run_podman(self, rep):
        e1, e2 = (self.c.hosts[h].engines["podman"] for h in ("h1", "h2"))
        name = "hp%d" % rep
        self.start(e1, name)
        exp = os.path.join(self.c.tmp, "ck-podman.tar")
        exp2 = os.path.join(self.c.tmp, "ck-podman-h2.tar")
        t0 = time.monotonic()
        e1.cli("container", "checkpoint", "--export", exp, "--compress", "none", name, timeout=600)
        t_dump = ms_since(t0)
        size = os.path.getsize(exp)
        self.nc_copy(exp, exp2)
        t_copy = ms_since(t0) - t_dump
        t1 = time.monotonic()
        e2.cli("container", "restore", "--import", exp2, timeout=600)
        restore = ms_since(t1)
        total = ms_since(t0)
        engines.wait_running(self.c, e2, name, timeout=60)
        self.c.wait_for(lambda: len(self.read_log(e2, name)) > 3, 30, "the log to go on")
        lines = self.read_log(e2, name)  # the export carries the filesystem changes
        for e in (e1, e2):
            e.cli("rm", "-f", name)
        os.unlink(exp)
        os.unlink(exp2)
        return {"total_ms": total, "gap_ms": self.gap_ms(lines), "dump_ms": t_dump, "copy_ms": t_copy,
                "restore_ms": restore, "bytes": size}

    def run_flyt_runc_lazy(self, rep):
        name = "fr%d" % rep
        self.c.cli("workload", "create", "--kind", "runc", "--host", "h1", "--name", name, "--rootfs",
                   self.rootfs_tar, "--", *self.cmd())
        logs = [os.path.join(self.c.hosts[h].state_dir, "workloads", name, "bundle", "rootfs", "tmp", "log")
                for h in ("h1", "h2")]
        self.c.wait_for(lambda: len(self.file_log(logs[0])) > 50, 60, "the container to count")
        t0 = time.monotonic()
        out = self.c.cli("migrate", name, "--to", "h2", "--mode", "lazy", "--wait", json=True, timeout=600).stdout
        m = json.loads(out)
        if m.get("state") != "committed":
            raise RuntimeError("flyt migrate: %s: %s" % (m.get("state"), m.get("error")))
        # the container runs on h2 at the end of "verifying"; pages_ms after it
        total = (m["total_ms"] - (m.get("pages_ms") or 0)) if m.get("total_ms") is not None else ms_since(t0)
        n0 = len(self.file_log(logs[1]))
        self.c.wait_for(lambda: len(self.file_log(logs[1])) > n0 + 3, 30, "the log to go on")
        lines = self.file_log(logs[1])
        self.c.cli("workload", "rm", name)
        return {"total_ms": total, "gap_ms": self.gap_ms(lines), "downtime_ms": m.get("downtime_ms"),
                "dump_ms": m.get("dump_ms"), "copy_ms": m.get("transfer_ms"),
                "restore_ms": m.get("restore_ms"), "pages_ms": m.get("pages_ms"), "bytes": m.get("bytes"),
                "flyt_total_ms": m.get("total_ms"), "phase_ms": m.get("phase_ms")}

    def file_log(self, path):
        try:
            with open(path) as f:
                return self.parse_log(f.read())
        except FileNotFoundError:
            return []

    def hand_bundle(self, host, name):
        """A bundle of the benchmark's rootfs on host (a directory of its own)."""
        b = os.path.join(self.c.tmp, "hand-%s-%s" % (host, name))
        os.makedirs(b)
        subprocess.run(["cp", "-a", self.rootfs, os.path.join(b, "rootfs")], check=True, timeout=60)
        subprocess.run(["runc", "spec"], cwd=b, check=True, timeout=30)
        with open(os.path.join(b, "config.json")) as f:
            cfg = json.load(f)
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = self.cmd()
        cfg["root"]["readonly"] = False
        cfg["linux"]["cgroupsPath"] = "/flyt-bench/%s-%s" % (host, name)
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(cfg, f)
        return b

    def in_ns(self, host, argv):
        return ["nsenter", "--net=/run/netns/" + self.c.hosts[host].ns] + argv

    def run_runc_lazy(self, rep):
        name = "hr%d" % rep
        tmp = os.path.join(self.c.tmp, "hand-runc-%d" % rep)
        roots = {h: os.path.join(tmp, "runc-" + h) for h in ("h1", "h2")}
        img1, img2, work1, work2 = (os.path.join(tmp, d) for d in ("img-h1", "img-h2", "work-h1", "work-h2"))
        for d in list(roots.values()) + [img1, img2, work1, work2]:
            os.makedirs(d)
        b1, b2 = self.hand_bundle("h1", name), self.hand_bundle("h2", name)
        logs = [os.path.join(b, "rootfs", "tmp", "log") for b in (b1, b2)]
        runc = {h: ["runc", "--root", roots[h]] for h in roots}
        procs = []
        try:
            # stdio on /dev/null, as flyt's: CRIU cannot dump a descriptor of a
            # file outside the container (the benchmark's own stderr, say)
            subprocess.run(self.in_ns("h1", runc["h1"] + ["run", "-d", "--bundle", b1, name]), check=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=60)
            self.c.wait_for(lambda: len(self.file_log(logs[0])) > 50, 60, "the container to count")
            r, w = os.pipe()
            t0 = time.monotonic()
            ck = subprocess.Popen(self.in_ns("h1", runc["h1"] + [
                "checkpoint", "--lazy-pages", "--page-server", "%s:%d" % (self.c.hosts["h1"].ip, PS_PORT),
                "--status-fd", str(w), "--image-path", img1, "--work-path", work1, name]), pass_fds=(w,),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            procs.append(ck)
            os.close(w)
            ready = os.read(r, 1)
            os.close(r)
            if ready != b"\0":
                raise RuntimeError("runc checkpoint --lazy-pages failed: %s" % criu_errors(work1, "dump.log"))
            t_dump = ms_since(t0)
            tar, tar2 = os.path.join(tmp, "img.tar"), os.path.join(tmp, "img-h2.tar")
            subprocess.run(["tar", "-C", img1, "-cf", tar, "."], check=True)
            self.nc_copy(tar, tar2)
            subprocess.run(["tar", "-C", img2, "-xf", tar2], check=True)
            t_copy = ms_since(t0) - t_dump
            t1 = time.monotonic()
            lp = subprocess.Popen(self.in_ns("h2", [
                "criu", "lazy-pages", "--page-server", "--address", self.c.hosts["h1"].ip, "--port",
                str(PS_PORT), "-D", img2, "-W", work2]), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            procs.append(lp)
            sock = os.path.join(work2, "lazy-pages.socket")
            self.c.wait_for(lambda: os.path.exists(sock) or lp.poll() is not None, 30, "criu lazy-pages")
            subprocess.run(self.in_ns("h2", runc["h2"] + [
                "restore", "-d", "--lazy-pages", "--bundle", b2, "--image-path", img2, "--work-path", work2,
                name]), check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=600)
            restore = ms_since(t1)
            total = ms_since(t0)
            t2 = time.monotonic()
            if lp.wait(600) != 0:
                raise RuntimeError("criu lazy-pages exited %d (see %s)" % (lp.returncode, work2))
            pages = ms_since(t2)
            if ck.wait(120) != 0:
                raise RuntimeError("runc checkpoint exited %d: %s" % (ck.returncode, criu_errors(work1, "dump.log")))
            self.c.wait_for(lambda: len(self.file_log(logs[1])) > 3, 30, "the log to go on")
            lines = self.file_log(logs[0]) + self.file_log(logs[1])
            return {"total_ms": total, "gap_ms": self.gap_ms(lines), "dump_ms": t_dump, "copy_ms": t_copy,
                    "restore_ms": restore, "pages_ms": pages, "bytes": os.path.getsize(tar2)}
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            for h in roots:
                subprocess.run(runc[h] + ["delete", "--force", name], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            subprocess.run(["rm", "-rf", tmp, b1, b2])

    def run(self):
        for rep in range(self.args.repeat):
            order = self.args.methods[rep % len(self.args.methods):] + self.args.methods[:rep % len(self.args.methods)]
            for method in order:
                log("run %d/%d: %s" % (rep + 1, self.args.repeat, method))
                try:
                    if method == "flyt-runc-lazy":
                        s = self.run_flyt_runc_lazy(rep)
                    elif method == "runc-lazy":
                        s = self.run_runc_lazy(rep)
                    elif method.startswith("flyt-"):
                        s = self.run_flyt(method[5:], rep)
                    elif method == "docker":
                        s = self.run_docker(rep)
                    else:
                        s = self.run_podman(rep)
                except (RuntimeError, AssertionError, harness.HarnessError, subprocess.SubprocessError,
                        OSError, KeyError, ValueError) as e:
                    log("%s run %d NOT MEASURED: %s" % (method, rep + 1, e))
                    self.failures.append({"method": method, "run": rep + 1, "error": str(e)})
                    continue
                log("  " + ", ".join("%s %s" % (k, "%.0f" % v if isinstance(v, float) else v) for k, v in s.items()))
                self.samples[method].append(s)

    # ---- report -------------------------------------------------------------------

    @staticmethod
    def fmt(vals):
        vals = [v for v in vals if v is not None]
        if not vals:
            return "-"
        if len(vals) == 1:
            return "%.0f" % vals[0]
        return "%.0f [%.0f-%.0f]" % (statistics.median(vals), min(vals), max(vals))

    def median(self, method, key):
        vals = [s.get(key) for s in self.samples.get(method, []) if s.get(key) is not None]
        return statistics.median(vals) if vals else None

    def report(self):
        print("\nbusybox container holding %d MiB, %d run(s) each, median [min-max], ms\n" % (self.args.mib,
                                                                                           self.args.repeat))
        print("| method | total | gap (inside) | downtime (flyt) | dump | copy | restore | pages | bytes |")
        print("|---|---|---|---|---|---|---|---|---|")
        for m in self.args.methods:
            ss = self.samples[m]
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                m, self.fmt([s["total_ms"] for s in ss]), self.fmt([s["gap_ms"] for s in ss]),
                self.fmt([s.get("downtime_ms") for s in ss]), self.fmt([s.get("dump_ms") for s in ss]),
                self.fmt([s.get("copy_ms") for s in ss]), self.fmt([s.get("restore_ms") for s in ss]),
                self.fmt([s.get("pages_ms") for s in ss]), self.fmt([s.get("bytes") for s in ss])))
        print("\nratios (flyt / by hand, medians):\n")
        print("| engine | total | gap |")
        print("|---|---|---|")
        for kind in ("docker", "podman", "runc-lazy"):
            f, h = "flyt-" + kind, kind
            if f in self.samples and h in self.samples:
                cells = []
                for key in ("total_ms", "gap_ms"):
                    a, b = self.median(f, key), self.median(h, key)
                    cells.append("%.2f" % (a / b) if a is not None and b else "-")
                print("| %s | %s | %s |" % (kind, cells[0], cells[1]))
        if self.failures:
            print("\nNOT MEASURED:")
            for f in self.failures:
                print("  %s run %d: %s" % (f["method"], f["run"], f["error"]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mib", type=int, default=64, help="memory the container holds (default 64)")
    p.add_argument("--repeat", type=int, default=3, help="runs per method (default 3)")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated, of " + ",".join(METHODS))
    p.add_argument("--json", help="write every sample to this file")
    p.add_argument("--keep-tmp", action="store_true", help="keep the cluster directory")
    args = p.parse_args()
    args.methods = [m for m in args.methods.split(",") if m]
    bad = [m for m in args.methods if m not in METHODS]
    if bad or not 1 <= args.mib <= 4096 or not 1 <= args.repeat <= 50:
        p.error("bad --methods %s, --mib or --repeat" % bad if bad else "--mib 1-4096, --repeat 1-50")
    kinds = {k for k in ("docker", "podman", "runc") if any(k in m for m in args.methods)}
    reason = harness.skip_reason() or next(filter(None, (engines.engine_skip_reason(k) for k in sorted(kinds))), None)
    if os.geteuid() != 0 or reason:
        log("cannot run here: %s" % (reason or "not root"))
        return 2
    b = Bench(args)
    try:
        b.setup()
        b.run()
    finally:
        if b.c is not None:
            b.c.teardown(keep_tmp=args.keep_tmp)
    b.report()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "samples": b.samples, "failures": b.failures}, f, indent=1)
    return 1 if b.failures else 0


if __name__ == "__main__":
    sys.exit(main())
