#!/usr/bin/env python3
"""flyt migrating a VM against raw QMP migration of the same VM: one run, side by side.

    sudo python3 bench/bench_vm.py [--memory 256] [--repeat 3] [--json FILE]

Two network-namespace hosts (tests/integration/harness.py builds them with a
controller and two agents). The guest is the tests' tiny VM (scripts/build-guest.sh:
Debian kernel, busybox initramfs counting on its serial console), TCG, idle.

  flyt precopy    flyt migrate VM --to B --mode precopy --wait --json (VM made by
                  flyt workload create --kind qemu), there and back
  flyt postcopy   the same with --mode postcopy (switch at once)
  raw QMP         what a user does by hand: the same QEMU command line started on
                  A (in A's namespace), the target on B with -incoming defer,
                  migrate-incoming tcp:B:PORT, then migrate and poll query-migrate
                  every 10 ms until completed, then poll the target until it runs

Figures per method: total (flyt: the CLI's wall time from the request to the
commit; raw: from the `migrate` command to the target running, which leaves out
starting the target QEMU, so it favours raw), downtime (flyt: its own measure,
from the source's pause to the target's `cont`, including its switch-over
handshake; raw: QEMU's `downtime` figure), bytes (QEMU's ram.transferred, plus
flyt's control traffic), and flyt's overhead as a ratio to raw QMP.

virsh migrate --live is not measured: flyt's libvirt driver is not done yet, and
this benchmark does not set up libvirtd (see docs/benchmarks.md).

Python 3 standard library only; run as root.
"""

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import harness  # noqa: E402

GUEST_DIR = os.environ.get("FLYT_GUEST_DIR", "/var/cache/flyt/guest")
# migrate a booted guest once it has settled (5 s of counting), the same for every method
SETTLED = 25


class Qmp:
    """A minimal QMP client over a unix socket."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.settimeout(timeout)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.f = self.s.makefile("rb")
        self._read()  # greeting
        self.call("qmp_capabilities")

    def _read(self):
        while True:
            msg = json.loads(self.f.readline())
            if "event" not in msg:
                return msg

    def call(self, cmd, **args):
        req = {"execute": cmd}
        if args:
            req["arguments"] = args
        self.s.sendall(json.dumps(req).encode() + b"\n")
        msg = self._read()
        if "error" in msg:
            raise RuntimeError("QMP %s: %s" % (cmd, msg["error"].get("desc")))
        return msg.get("return")

    def close(self):
        self.s.close()


def qemu_argv(guest, memory, workdir, incoming):
    argv = ["qemu-system-x86_64", "-name", "bench-raw", "-accel", "tcg", "-machine", "q35", "-cpu", "qemu64",
            "-m", str(memory), "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
            "-chardev", "file,id=serial0,path=%s/serial.log,append=on" % workdir, "-serial", "chardev:serial0",
            "-qmp", "unix:%s/qmp.sock,server=on,wait=off" % workdir, "-daemonize", "-pidfile",
            "%s/qemu.pid" % workdir, "-kernel", guest["kernel"], "-initrd", guest["initrd"],
            "-append", "console=ttyS0 quiet panic=-1"]
    if incoming:
        argv += ["-incoming", "defer"]
    return argv


def count_lines(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().count("FLYT-COUNT")
    except FileNotFoundError:
        return 0


def raw_qmp_run(c, guest, memory, tmp):
    """One raw QMP migration of a freshly booted VM from h1 to h2."""
    a, b = os.path.join(tmp, "raw-a"), os.path.join(tmp, "raw-b")
    for d in (a, b):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    env = c.env()
    subprocess.run(["nsenter", "--net=/run/netns/%s" % c.hosts["h1"].ns] + qemu_argv(guest, memory, a, False),
                   check=True, env=env)
    harness.wait_for(lambda: count_lines(a + "/serial.log") >= SETTLED, 180, "raw VM to boot", interval=0.2)
    subprocess.run(["nsenter", "--net=/run/netns/%s" % c.hosts["h2"].ns] + qemu_argv(guest, memory, b, True),
                   check=True, env=env)
    src, dst = Qmp(a + "/qmp.sock"), Qmp(b + "/qmp.sock")
    try:
        ip_b = c.hosts["h2"].ip
        dst.call("migrate-incoming", uri="tcp:%s:0" % ip_b)
        port = dst.call("query-migrate")["socket-address"][0]["port"]
        src.call("migrate-set-parameters", **{"max-bandwidth": 1 << 40})
        t0 = time.monotonic()
        src.call("migrate", uri="tcp:%s:%s" % (ip_b, port))
        while True:
            st = src.call("query-migrate")
            if st["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.01)
        if st["status"] != "completed":
            raise RuntimeError("raw migration %s: %s" % (st["status"], st.get("error-desc")))
        while dst.call("query-status")["status"] != "running":
            time.sleep(0.005)
        total = (time.monotonic() - t0) * 1000
        src.call("quit")
        before = count_lines(b + "/serial.log")
        harness.wait_for(lambda: count_lines(b + "/serial.log") > before + 3, 60, "raw VM to count on B")
        return {"total_ms": total, "downtime_ms": st.get("downtime"), "bytes": st["ram"]["transferred"],
                "passes": st["ram"].get("dirty-sync-count")}
    finally:
        for q in (src, dst):
            try:
                q.call("quit")
            except Exception:
                pass
            q.close()


def flyt_run(c, name, target, mode):
    t0 = time.monotonic()
    r = c.cli("migrate", name, "--to", target, "--mode", mode, "--wait", json=True)
    total = (time.monotonic() - t0) * 1000
    m = json.loads(r.stdout)
    return {"total_ms": total, "downtime_ms": m["downtime_ms"], "bytes": m["bytes"], "passes": m.get("passes"),
            "controller_total_ms": m["total_ms"]}


def summary(samples, key):
    vals = [s[key] for s in samples if s.get(key) is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}


def fmt(s, unit=""):
    if s is None:
        return "-"
    if unit == "B":
        return "%.1f MB [%.1f-%.1f]" % (s["median"] / 1e6, s["min"] / 1e6, s["max"] / 1e6)
    return "%.0f ms [%.0f-%.0f]" % (s["median"], s["min"], s["max"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memory", type=int, default=256, help="guest memory, MiB (default 256)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write every sample and the summary here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_vm: run as root", file=sys.stderr)
        return 2
    if not shutil.which("qemu-system-x86_64"):
        print("bench_vm: qemu-system-x86_64 missing: run sudo scripts/setup.sh", file=sys.stderr)
        return 2
    subprocess.run([os.path.join(ROOT, "scripts", "build-guest.sh"), GUEST_DIR], check=True)
    guest = {"kernel": os.path.join(GUEST_DIR, "vmlinuz"), "initrd": os.path.join(GUEST_DIR, "initrd.img")}

    c = harness.Cluster(hosts=2, name="bench-vm")
    results = {"flyt-precopy": [], "flyt-postcopy": [], "raw-qmp": []}
    try:
        c.cli("workload", "create", "--kind", "qemu", "--host", "h1", "--name", "vm", "--memory", args.memory,
              "--kernel", guest["kernel"], "--initrd", guest["initrd"], "--append", "console=ttyS0 quiet panic=-1")
        serial = lambda h: os.path.join(c.hosts[h].state_dir, "workloads", "vm", "serial.log")  # noqa: E731
        harness.wait_for(lambda: count_lines(serial("h1")) >= SETTLED, 180, "VM to boot", interval=0.2)
        where = "h1"
        for mode in ("precopy", "postcopy"):
            for _ in range(args.repeat):
                to = "h2" if where == "h1" else "h1"
                results["flyt-" + mode].append(flyt_run(c, "vm", to, mode))
                where = to
                harness.wait_for(lambda: count_lines(serial(where)) >= 3, 60, "VM to count after the move")
        c.cli("workload", "rm", "vm", "--force")
        for _ in range(args.repeat):
            results["raw-qmp"].append(raw_qmp_run(c, guest, args.memory, c.tmp))
    finally:
        c.teardown()

    table = {}
    for method, samples in results.items():
        table[method] = {k: summary(samples, k) for k in ("total_ms", "downtime_ms", "bytes")}
    raw_total = table["raw-qmp"]["total_ms"]["median"]
    print("VM of %d MiB, TCG, idle guest, %d run(s) each: median [min-max]" % (args.memory, args.repeat))
    print("%-14s %-26s %-26s %-26s %s" % ("method", "total", "downtime", "bytes", "total vs raw"))
    for method, t in table.items():
        ratio = t["total_ms"]["median"] / raw_total if raw_total else float("nan")
        print("%-14s %-26s %-26s %-26s %.2fx" % (method, fmt(t["total_ms"]), fmt(t["downtime_ms"]),
                                                   fmt(t["bytes"], "B"), ratio))
    print("virsh migrate --live: not measured (no libvirt driver yet; libvirtd not set up by this benchmark)")
    print("machine: %s, %d CPUs, kernel %s" % (platform.node(), os.cpu_count(), platform.release()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"memory_mib": args.memory, "repeat": args.repeat, "samples": results, "summary": table,
                       "cpus": os.cpu_count(), "kernel": platform.release()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
