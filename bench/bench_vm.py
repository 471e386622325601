#!/usr/bin/env python3
"""flyt migrating a VM against raw QMP migration of the same VM: one run, side by side.

    sudo python3 bench/bench_vm.py [--memory 256] [--repeat 3] [--json FILE] [--no-libvirt]

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

  flyt libvirt    unless --no-libvirt: a libvirtd per host (private mount namespaces,
                  as the tests run them), the domain adopted (flyt workload adopt
                  --kind libvirt), flyt migrate --mode precopy --wait, back and forth
  virsh           the same domain, virsh migrate --live --p2p --persistent
                  --undefinesource, back and forth; downtime from virsh
                  domjobinfo --completed on the target

Python 3 standard library only; run as root.
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
import subprocess
import sys
import tempfile
import time
import uuid

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


def start_libvirtds(c, base):
    """A libvirtd in each host's namespace, in a private mount namespace (as
    tests/integration/test_vm_libvirt.py runs them). Returns (uri_of, processes)."""
    sock = lambda h: "%s/%s/run/libvirt-sock" % (base, h)  # noqa: E731
    procs = []
    for h in ("h1", "h2"):
        d = os.path.join(base, h)
        for sub in ("run", "lib", "cache", "log"):
            os.makedirs(os.path.join(d, sub))
        shutil.copytree("/etc/libvirt", os.path.join(d, "etc"))
        with open(os.path.join(d, "etc", "libvirtd.conf"), "w") as f:
            f.write('host_uuid = "%s"\nlisten_tcp = 0\nlisten_tls = 0\n' % uuid.uuid4())
        ip = c.hosts[h].ip
        with open(os.path.join(d, "etc", "qemu.conf"), "w") as f:
            f.write('user = "root"\ngroup = "root"\nsecurity_driver = "none"\nstdio_handler = "file"\n'
                    'migration_address = "%s"\nmigration_host = "%s"\n' % (ip, ip))
        binds = [(d + "/run", "/run/libvirt"), (d + "/lib", "/var/lib/libvirt"), (d + "/cache", "/var/cache/libvirt"),
                 (d + "/log", "/var/log/libvirt"), (d + "/etc", "/etc/libvirt")]
        for _, target in binds:
            os.makedirs(target, exist_ok=True)
        script = " && ".join("mount --bind %s %s" % b for b in binds) + " && exec libvirtd --pid-file %s/pid" % d
        procs.append(subprocess.Popen(["nsenter", "--net=/run/netns/%s" % c.hosts[h].ns, "unshare", "-m",
                                       "--propagation", "private", "sh", "-c", script],
                                      stdout=open(d + ".log", "w"), stderr=subprocess.STDOUT, env=c.env(),
                                      start_new_session=True))
    for h in ("h1", "h2"):
        harness.wait_for(lambda: os.path.exists(sock(h)), 60, "libvirtd of %s" % h)
    return (lambda h: "qemu:///system?socket=%s" % sock(h)), (lambda h: "qemu+unix:///system?socket=%s" % sock(h)), procs


def virsh(uri, *args):
    return subprocess.run(["virsh", "-c", uri] + list(args), check=True, capture_output=True, text=True,
                          timeout=300).stdout


DOMAIN_XML = """<domain type='qemu'><name>benchvm</name><memory unit='MiB'>{memory}</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
<cmdline>console=ttyS0 quiet panic=-1</cmdline></os>
<cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model></cpu>
<devices><serial type='file'><source path='{serial}' append='on'/><target port='0'/></serial></devices></domain>
"""


def libvirt_runs(guest, memory, repeat, results):
    """flyt's libvirt driver against virsh migrate, on the same domain."""
    base = tempfile.mkdtemp(prefix="flyt-bench-lv-", dir="/tmp")
    local = {}
    try:
        sock_uri = lambda h: "qemu:///system?socket=%s/%s/run/libvirt-sock" % (base, h)  # noqa: E731
        p2p_uri = lambda h: "qemu+unix:///system?socket=%s/%s/run/libvirt-sock" % (base, h)  # noqa: E731
        host_args = {h: ["--libvirt-uri", sock_uri(h), "--libvirt-migrate-uri", p2p_uri(h)] for h in ("h1", "h2")}
        c = harness.Cluster(hosts=2, name="bench-vm-libvirt", host_args=host_args)
        local["c"] = c
        uri, p2p, procs = start_libvirtds(c, base)
        local["procs"] = procs
        serial = os.path.join(base, "serial.log")
        xml = os.path.join(base, "dom.xml")
        with open(xml, "w") as f:
            f.write(DOMAIN_XML.format(memory=memory, serial=serial, **guest))
        virsh(uri("h1"), "define", xml)
        virsh(uri("h1"), "start", "benchvm")
        virsh(uri("h2"), "list")  # the first call to a daemon probes QEMU: not part of any run
        harness.wait_for(lambda: count_lines(serial) >= SETTLED, 180, "the domain to boot", interval=0.2)
        where = "h1"
        for _ in range(repeat):
            to = "h2" if where == "h1" else "h1"
            t0 = time.monotonic()
            virsh(uri(where), "migrate", "--live", "--p2p", "--persistent", "--undefinesource", "benchvm", p2p(to))
            total = (time.monotonic() - t0) * 1000
            info = virsh(uri(to), "domjobinfo", "--completed", "benchvm")
            # virsh pads the figure: "Total downtime:   389          ms"
            downtime = re.search(r"Total downtime:\s+(\d+)\s+ms", info)
            processed = re.search(r"Data processed:\s+([\d.]+)\s+(\w+)", info)
            scale = {"B": 1, "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30}
            results["virsh"].append({"total_ms": total, "downtime_ms": int(downtime.group(1)) if downtime else None,
                                     "bytes": float(processed.group(1)) * scale.get(processed.group(2), 1)
                                     if processed else None})
            where = to
            before = count_lines(serial)
            harness.wait_for(lambda: count_lines(serial) > before + 3, 60, "the domain to count after virsh")
        c.cli("workload", "adopt", "--kind", "libvirt", "--host", where, "benchvm")
        for _ in range(repeat):
            to = "h2" if where == "h1" else "h1"
            results["flyt-libvirt"].append(flyt_run(c, "benchvm", to, "precopy"))
            where = to
            before = count_lines(serial)
            harness.wait_for(lambda: count_lines(serial) > before + 3, 60, "the domain to count after flyt")
    finally:
        for p in local.get("procs", []):
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if "c" in local:
            local["c"].teardown()
        shutil.rmtree(base, ignore_errors=True)


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
    ap.add_argument("--no-libvirt", dest="libvirt", action="store_false",
                    help="leave out flyt's libvirt driver against virsh migrate (run when libvirtd and virsh "
                         "are installed)")
    args = ap.parse_args()
    if args.libvirt and not (shutil.which("virsh") and (shutil.which("libvirtd") or os.path.exists("/usr/sbin/libvirtd"))):
        print("bench_vm: libvirtd or virsh missing: virsh migrate not measured (sudo scripts/setup.sh)",
              file=sys.stderr)
        args.libvirt = False
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
    if args.libvirt:
        results.update({"flyt-libvirt": [], "virsh": []})
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
    if args.libvirt:
        libvirt_runs(guest, args.memory, args.repeat, results)

    table = {}
    for method, samples in results.items():
        table[method] = {k: summary(samples, k) for k in ("total_ms", "downtime_ms", "bytes")}
    raw_total = table["raw-qmp"]["total_ms"]["median"]
    print("VM of %d MiB, TCG, idle guest, %d run(s) each: median [min-max]" % (args.memory, args.repeat))
    print("%-14s %-26s %-26s %-26s %s" % ("method", "total", "downtime", "bytes", "total vs raw"))
    for method, t in table.items():
        ref = table["virsh"]["total_ms"]["median"] if method == "flyt-libvirt" else raw_total
        ratio = t["total_ms"]["median"] / ref if ref else float("nan")
        print("%-14s %-26s %-26s %-26s %.2fx%s" % (method, fmt(t["total_ms"]), fmt(t["downtime_ms"]),
                                                     fmt(t["bytes"], "B"), ratio,
                                                     " (vs virsh)" if method == "flyt-libvirt" else ""))
    if not args.libvirt:
        print("virsh migrate --live: not measured (--no-libvirt, or libvirt missing)")
    print("machine: %s, %d CPUs, kernel %s" % (platform.node(), os.cpu_count(), platform.release()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"memory_mib": args.memory, "repeat": args.repeat, "samples": results, "summary": table,
                       "cpus": os.cpu_count(), "kernel": platform.release()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
