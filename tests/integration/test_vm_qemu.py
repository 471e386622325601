"""Virtual machines under the qemu driver, migrated live by QEMU between two hosts.

The guest (scripts/build-guest.sh: a Debian kernel and a busybox initramfs) prints
"FLYT-BOOT <uuid>" once at boot, then "FLYT-COUNT n" five times a second on its
serial console, which QEMU writes to serial.log in the workload's directory. A
migration is right when the target's console carries on counting from where the
source stopped (no restart at 1) and shows no new boot, the source QEMU is gone,
and exactly one QEMU runs the VM. A cancelled migration, and one whose target
QEMU dies, must leave the VM running on the source, the same QEMU process, still
counting, and nothing on the target.

TCG only (see PLATFORM.md): the guest is idle, so precopy is safe under QEMU 7.2."""
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess

import pytest

import harness
from harness import wait_for

GUEST_DIR = os.environ.get("FLYT_GUEST_DIR", "/var/cache/flyt/guest")
MEMORY_MIB = 128
COUNT_RE = re.compile(r"FLYT-COUNT (\d+)")
BOOT_RE = re.compile(r"FLYT-BOOT (\S+)")


def serial_path(c, host, name):
    return os.path.join(c.hosts[host].state_dir, "workloads", name, "serial.log")


def console(c, host, name):
    """(boot ids, counters) printed so far on the VM's console on host."""
    try:
        with open(serial_path(c, host, name), errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return [], []
    return BOOT_RE.findall(text), [int(n) for n in COUNT_RE.findall(text)]


def last_count(c, host, name):
    counts = console(c, host, name)[1]
    return counts[-1] if counts else 0


def qemu_pid(c, host, name):
    """The pid of the VM's QEMU on host, or None when none runs there."""
    path = os.path.join(c.hosts[host].state_dir, "workloads", name, "qemu.pid")
    try:
        with open(path) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if harness.proc_alive(pid) else None


def qemus_of(c, name):
    """Pids of every QEMU running this VM, on any host (by its -name)."""
    out = []
    for pid in harness.all_pids():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"flyt-%s" % name.encode() in argv and any(b"qemu-system" in a for a in argv[:1]):
            if ("FLYT_TEST_ID=%s" % c.test_id).encode() in harness.proc_environ(pid):
                out.append(pid)
    return out


def create_vm(c, guest, name, host):
    c.cli("workload", "create", "--kind", "qemu", "--host", host, "--name", name, "--memory", MEMORY_MIB,
          "--kernel", guest["kernel"], "--initrd", guest["initrd"], "--append", "console=ttyS0 quiet panic=-1")
    # booted and counting (TCG: ~6 s on an idle machine; the machine may be busy)
    wait_for(lambda: last_count(c, host, name) >= 5, 180, "VM %s to boot and count on %s" % (name, host),
             interval=0.2)
    boots = console(c, host, name)[0]
    assert len(boots) == 1, boots
    return boots[0]


def assert_continues(c, name, source, target, before, boot_id):
    """The VM counts on target from where it was on source, without a new boot."""
    wait_for(lambda: last_count(c, target, name) >= before + 5, 120,
             "VM %s to count on %s (it had reached %d on %s)" % (name, target, before, source), interval=0.2)
    boots, counts = console(c, target, name)
    assert boots == [], "the VM booted again on %s: %s" % (target, boots)
    assert counts[0] > before - 5, "the counter restarted on %s: %s... after %d" % (target, counts[:5], before)
    assert counts[0] <= last_count(c, source, name) + 1 or not os.path.exists(serial_path(c, source, name))
    assert all(b == a + 1 for a, b in zip(counts, counts[1:])), "the counter skipped or repeated: %s" % counts
    assert boot_id  # the one boot id, seen on the source
    pids = qemus_of(c, name)
    assert len(pids) == 1 and qemu_pid(c, target, name) == pids[0], (
        "expected one QEMU on %s, found %s" % (target, pids))
    w = c.workload(name)
    assert w["host"] == target and w["state"] == "running", w


def test_precopy_then_postcopy_back(cluster, guest):
    c = cluster
    boot = create_vm(c, guest, "vm1", "h1")
    facts = c.host_facts("h1")["drivers"]["qemu"]
    assert facts["available"] and facts["live"] and "precopy" in facts["modes"], facts

    # precopy through the CLI, with its options
    before = last_count(c, "h1", "vm1")
    r = c.cli("migrate", "vm1", "--to", "h2", "--mode", "precopy", "--max-downtime", "300", "--auto-converge",
              "--wait", json=True)
    mig = json.loads(r.stdout)
    assert mig["state"] == "committed" and mig["mode"] == "precopy", mig
    assert mig["passes"] >= 1 and mig["downtime_ms"] is not None and mig["downtime_ms"] >= 0, mig
    assert mig["bytes"] > 1024 * 1024, mig  # the guest's used memory went over the wire
    assert_continues(c, "vm1", "h1", "h2", before, boot)

    # and back in postcopy, slowly enough that the switch happens mid-way
    before = last_count(c, "h2", "vm1")
    mig = c.migrate("vm1", "h1", "postcopy", bandwidth_mbps=8, postcopy_after=0)
    assert mig["state"] == "committed" and mig["mode"] == "postcopy", mig
    assert "switched to postcopy" in (mig.get("note") or ""), mig
    assert_continues(c, "vm1", "h2", "h1", before, boot)

    # precopy over parallel connections, with XBZRLE
    before = last_count(c, "h1", "vm1")
    mig = c.migrate("vm1", "h2", "precopy", multifd=2, xbzrle=True)
    assert mig["state"] == "committed" and mig["options"] == {"multifd": 2, "xbzrle": True}, mig
    assert_continues(c, "vm1", "h1", "h2", before, boot)

    # postcopy on demand: no switch by passes, the user asks for it mid-way
    before = last_count(c, "h2", "vm1")
    r = c.start_migration("vm1", "h1", "postcopy", bandwidth_mbps=4, postcopy_after=1000)
    assert r.status == 202, r.text
    mid = r.json["id"]
    c.wait_migration(mid, 120, until=lambda m: m.get("state") == "transferring" and (m.get("bytes") or 0) > 0)
    c.cli("migration", "postcopy", mid)
    mig = c.wait_migration(mid, 120)
    assert mig["state"] == "committed", mig
    assert "switched to postcopy" in (mig.get("note") or ""), mig
    assert any(e.get("note") == "switch to postcopy requested" for e in mig["journal"]), mig["journal"]
    assert_continues(c, "vm1", "h2", "h1", before, boot)
    # once it has ended, there is nothing to switch
    r = c.cli("migration", "postcopy", mid, check=False)
    assert r.returncode != 0 and "ended" in r.stderr, r.stderr
    assert c.unfinished_migrations() == []


def test_cancel_and_killed_target_leave_it_on_the_source(cluster, guest):
    c = cluster
    boot = create_vm(c, guest, "vm2", "h1")
    pid = qemu_pid(c, "h1", "vm2")
    assert pid

    # 1 MiB/s: the copy takes long enough to cancel it mid-way
    r = c.start_migration("vm2", "h2", "precopy", bandwidth_mbps=1)
    assert r.status == 202, r.text
    mid = r.json["id"]
    c.wait_migration(mid, 120, until=lambda m: m.get("state") == "transferring" and (m.get("bytes") or 0) > 0)
    c.api("POST", "/api/v1/migrations/%s/cancel" % mid, expect=202)
    m = c.wait_migration(mid, 120)
    assert m["state"] == "rolled_back", m
    assert qemu_pid(c, "h1", "vm2") == pid, "the source QEMU changed"
    before = last_count(c, "h1", "vm2")
    wait_for(lambda: last_count(c, "h1", "vm2") >= before + 5, 60, "VM to count on after the cancel")
    assert console(c, "h1", "vm2")[0] == [boot]
    wait_for(lambda: qemus_of(c, "vm2") == [pid], 30, "the target's QEMU to be gone")
    assert c.workload("vm2")["host"] == "h1" and c.workload("vm2")["state"] == "running"

    # the target's QEMU dies mid-way: QEMU's migration fails, the source runs on
    r = c.start_migration("vm2", "h2", "precopy", bandwidth_mbps=1)
    assert r.status == 202, r.text
    mid = r.json["id"]
    c.wait_migration(mid, 120, until=lambda m: m.get("state") == "transferring" and (m.get("bytes") or 0) > 0)
    target_pid = qemu_pid(c, "h2", "vm2")
    assert target_pid and target_pid != pid
    os.kill(target_pid, signal.SIGKILL)
    m = c.wait_migration(mid, 120)
    assert m["state"] == "rolled_back", m
    assert "QEMU" in (m.get("error") or ""), m
    assert qemu_pid(c, "h1", "vm2") == pid
    before = last_count(c, "h1", "vm2")
    wait_for(lambda: last_count(c, "h1", "vm2") >= before + 5, 60, "VM to count on after the failed target")
    assert console(c, "h1", "vm2")[0] == [boot]
    assert qemus_of(c, "vm2") == [pid]

    # the source agent dies mid-way (its QEMU goes on migrating alone); restarted,
    # it stops QEMU's migration and the VM runs on, on the source
    r = c.start_migration("vm2", "h2", "precopy", bandwidth_mbps=1)
    assert r.status == 202, r.text
    mid = r.json["id"]
    c.wait_migration(mid, 120, until=lambda m: m.get("state") == "transferring" and (m.get("bytes") or 0) > 0)
    c.kill_agent("h1")
    c.start_agent("h1")
    m = c.wait_migration(mid, 120)
    assert m["state"] == "rolled_back", m
    assert qemu_pid(c, "h1", "vm2") == pid
    before = last_count(c, "h1", "vm2")
    wait_for(lambda: last_count(c, "h1", "vm2") >= before + 5, 60, "VM to count on after the agent's restart")
    assert console(c, "h1", "vm2")[0] == [boot]
    wait_for(lambda: qemus_of(c, "vm2") == [pid], 30, "the target's QEMU to be gone")
    wait_for(lambda: c.workload("vm2")["state"] == "running", 30, "the VM to be running on h1")
    assert c.unfinished_migrations() == []


DISK_MIB = 16
COUNT_AT = 4096  # where the guest writes "count N" on its disk (scripts/build-guest.sh)


def disk_count(path):
    with open(path, "rb") as f:
        f.seek(COUNT_AT)
        m = re.match(rb"count (\d+)\n", f.read(64))
    return int(m.group(1)) if m else None


def guest_view(path, fmt, out):
    """What the guest sees of the image at path: its bytes, through qemu-img for
    qcow2 (read only while no QEMU has the image open)."""
    if fmt == "qcow2":
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", path, out], check=True, timeout=60)
        path = out
    with open(path, "rb") as f:
        return f.read()


def file_sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_local_disk_is_copied(cluster, guest, fmt):
    """A VM with a disk only its host has (raw or qcow2, not shared) moves with it:
    QEMU mirrors the disk to the target while the guest writes to it, into an
    image of the same format and virtual size, and what the guest sees of the
    target's copy is the source's, byte for byte, at the switch-over."""
    if fmt == "qcow2" and not shutil.which("qemu-img"):
        pytest.skip("qemu-img is not installed (scripts/setup.sh installs qemu-utils)")
    c = cluster
    name = "vm3" if fmt == "raw" else "vm4"
    disk = os.path.join(c.tmp, "%s-disk.img" % name)
    magic = "FLYT-MAGIC-%s" % os.urandom(8).hex()
    payload = os.urandom(4 * 1024 * 1024)
    with open(disk, "wb") as f:
        f.truncate(DISK_MIB * 1024 * 1024)
        f.write((magic + "\n").encode())
        f.seek(1024 * 1024)
        f.write(payload)
    if fmt == "qcow2":
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", disk, disk + ".qcow2"], check=True,
                       timeout=60)
        disk += ".qcow2"
    c.cli("workload", "create", "--kind", "qemu", "--host", "h1", "--name", name, "--memory", MEMORY_MIB,
          "--kernel", guest["kernel"], "--initrd", guest["initrd"], "--append", "console=ttyS0 quiet panic=-1",
          "--disk", "%s:%s" % (disk, fmt))
    wait_for(lambda: last_count(c, "h1", name) >= 5, 180, "VM %s to boot and count" % name, interval=0.2)
    with open(serial_path(c, "h1", name), errors="replace") as f:
        assert "FLYT-DISK %s" % magic in f.read(), "the guest does not see its disk"
    if fmt == "raw":
        wait_for(lambda: (disk_count(disk) or 0) >= 3, 60, "the guest to write to its disk")
    boot = console(c, "h1", name)[0][0]

    before = last_count(c, "h1", name)
    # everything that reaches h2 meanwhile: QEMU's stream and the disk copy go in TLS
    sniffer = harness.Sniffer(c.hosts["h2"].veth_root)
    sniffer.start()
    try:
        mig = c.migrate(name, "h2", "precopy")
    finally:
        wire = sniffer.finish()
    assert mig["state"] == "committed", mig
    assert len(wire) > DISK_MIB * 1024 * 1024 // 4, "the sniffer saw too little: %d bytes" % len(wire)
    # QEMU_VM_FILE_MAGIC and version 3: eight bytes that random data would not hold
    assert b"QEVM\x00\x00\x00\x03" not in wire, "QEMU's migration stream went in clear text"
    for h in ("h1", "h2"):
        left = glob.glob(os.path.join(c.hosts[h].state_dir, "migrations", "*", "qemu-tls"))
        assert not left, "copies of an agent's key outlived the migration: %s" % left
    needles = [magic.encode()] + [payload[k * 65536:k * 65536 + 64] for k in range(16)]
    assert not any(n in wire for n in needles), "the disk went over the wire in clear text"
    assert mig["bytes"] > DISK_MIB * 1024 * 1024 // 4, mig  # the payload at least went over the wire
    assert_continues(c, name, "h1", "h2", before, boot)
    source_sha = file_sha(disk)  # the source QEMU has quit: the image is the switch-over's

    copy = os.path.join(c.hosts["h2"].state_dir, "workloads", name, "disk0.img" if fmt == "raw" else "disk0.qcow2")
    if fmt == "qcow2":
        info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", copy], check=True,
                                         capture_output=True, text=True, timeout=60).stdout)
        assert info["format"] == "qcow2" and info["virtual-size"] == DISK_MIB * 1024 * 1024, info
        src = guest_view(disk, fmt, os.path.join(c.tmp, "source-view.raw"))
        src_count = int(re.match(rb"count (\d+)\n", src[COUNT_AT:COUNT_AT + 64]).group(1))
        # the guest goes on writing to its new disk; then it stops there, cleanly
        wait_for(lambda: last_count(c, "h2", name) >= src_count + 6, 60, "the guest to count on on h2")
        c.cli("workload", "stop", name)
        dst = guest_view(copy, fmt, os.path.join(c.tmp, "target-view.raw"))
        assert int(re.match(rb"count (\d+)\n", dst[COUNT_AT:COUNT_AT + 64]).group(1)) >= src_count + 5, (
            "the guest did not write on to the copy")
    else:
        assert os.path.getsize(copy) == os.path.getsize(disk)
        src_count = disk_count(disk)
        wait_for(lambda: disk_count(copy) >= src_count + 5, 60, "the guest to write on to the copy")
        src, dst = guest_view(disk, fmt, None), guest_view(copy, fmt, None)
    # the copy is the source's disk; only what the guest wrote since differs
    assert len(src) == len(dst) == DISK_MIB * 1024 * 1024
    assert src[:COUNT_AT] == dst[:COUNT_AT] and src[COUNT_AT + 512:] == dst[COUNT_AT + 512:], (
        "the target's disk differs from the source's outside the guest's counter")
    assert dst[1024 * 1024:1024 * 1024 + len(payload)] == payload
    assert file_sha(disk) == source_sha, "the source's disk changed after the switch-over"
