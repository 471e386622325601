"""VMs under the libvirt driver: a domain of each host's own libvirtd, adopted by
flyt and migrated by libvirt peer to peer.

Two libvirtd instances run on this one machine, one in each namespace host, each
in a private mount namespace over its own /run/libvirt, /var/lib/libvirt,
/var/cache/libvirt, /var/log/libvirt and /etc/libvirt (see PLATFORM.md), with
its own host UUID and its migration address on its host's namespace address.
flytd reaches its host's daemon through the socket's path
(qemu:///system?socket=...), and the other daemon reaches it the same way
(qemu+unix://...), the migration stream itself going between the namespace
addresses.

The guest is the tests' tiny VM (scripts/build-guest.sh); its serial console is
one file both hosts' QEMUs append to, so the counter must go on in that file
without a second boot line."""
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import uuid

import pytest

import harness
from harness import wait_for

GUEST_DIR = os.environ.get("FLYT_GUEST_DIR", "/var/cache/flyt/guest")
COUNT_RE = re.compile(r"FLYT-COUNT (\d+)")
BOOT_RE = re.compile(r"FLYT-BOOT (\S+)")

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline></os>
  <cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model></cpu>
  <devices>
    <serial type='file'><source path='{serial}' append='on'/><target port='0'/></serial>
  </devices>
</domain>
"""


@pytest.fixture
def lv(make_cluster):
    """A cluster whose hosts each have a libvirtd; yields (cluster, uri_of, base)."""
    with libvirt_cluster(make_cluster) as it:
        yield it


@contextlib.contextmanager
def libvirt_cluster(make_cluster, agent_args=()):
    """A cluster of two hosts, each with a libvirtd of its own; gives (cluster,
    uri_of, base): uri_of(host) is the URI of its libvirtd, base a directory
    removed at the end."""
    for prog in ("libvirtd", "virsh", "qemu-system-x86_64"):
        if not shutil.which(prog) and not os.path.exists("/usr/sbin/" + prog):
            pytest.skip("%s is not installed (scripts/setup.sh installs it)" % prog)
    subprocess.run([os.path.join(harness.SOURCE_ROOT, "scripts", "build-guest.sh"), GUEST_DIR], check=True,
                   timeout=600)
    base = tempfile.mkdtemp(prefix="flyt-lv-", dir="/tmp")
    sock = lambda h: "%s/%s/run/libvirt-sock" % (base, h)  # noqa: E731
    uri = lambda h: "qemu:///system?socket=%s" % sock(h)  # noqa: E731
    # flytd keeps each libvirtd's migration credentials (its own certificate):
    # libvirt's migration stream and disk copies go over TLS
    tls_dir = lambda h: "%s/%s/pki" % (base, h)  # noqa: E731
    host_args = {h: ["--libvirt-uri", uri(h), "--libvirt-migrate-uri", "qemu+unix:///system?socket=%s" % sock(h),
                     "--libvirt-tls-dir", tls_dir(h)]
                 for h in ("h1", "h2")}
    c = make_cluster(hosts=2, host_args=host_args, agent_args=list(agent_args))
    daemons = []
    try:
        for h in ("h1", "h2"):
            d = os.path.join(base, h)
            for sub in ("run", "lib", "cache", "log"):
                os.makedirs(os.path.join(d, sub))
            shutil.copytree("/etc/libvirt", os.path.join(d, "etc"))
            with open(os.path.join(d, "etc", "libvirtd.conf"), "w") as f:
                f.write('host_uuid = "%s"\nlisten_tcp = 0\nlisten_tls = 0\nunix_sock_rw_perms = "0700"\n'
                        % uuid.uuid4())
            ip = c.hosts[h].ip
            with open(os.path.join(d, "etc", "qemu.conf"), "w") as f:
                f.write('user = "root"\ngroup = "root"\nsecurity_driver = "none"\nstdio_handler = "file"\n'
                        'migration_address = "%s"\nmigration_host = "%s"\n'
                        'migrate_tls_x509_cert_dir = "%s"\nmigrate_tls_x509_verify = 1\n' % (ip, ip, tls_dir(h)))
            binds = [(d + "/run", "/run/libvirt"), (d + "/lib", "/var/lib/libvirt"),
                     (d + "/cache", "/var/cache/libvirt"), (d + "/log", "/var/log/libvirt"),
                     (d + "/etc", "/etc/libvirt")]
            for _, target in binds:
                os.makedirs(target, exist_ok=True)
            script = " && ".join("mount --bind %s %s" % b for b in binds) + " && exec libvirtd --pid-file %s/libvirtd.pid" % d
            log = open(os.path.join(c.logs, "libvirtd-%s.log" % h), "w")
            daemons.append(subprocess.Popen(
                ["nsenter", "--net=/run/netns/%s" % c.hosts[h].ns, "unshare", "-m", "--propagation", "private",
                 "sh", "-c", script], stdout=log, stderr=subprocess.STDOUT, env=c.env(), start_new_session=True))
        for h in ("h1", "h2"):
            wait_for(lambda: os.path.exists(sock(h)), 60, "libvirtd of %s to listen" % h)
        yield c, uri, base
    finally:
        for p in daemons:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in daemons:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


def virsh(uri, *args, check=True):
    r = subprocess.run(["virsh", "-c", uri] + list(args), capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError("virsh %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


def console(path):
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return [], []
    return BOOT_RE.findall(text), [int(n) for n in COUNT_RE.findall(text)]


def boot_domain(uri, base, name):
    """Defines and starts domain name (the tests' guest) on uri's libvirtd and
    waits for it to count; returns the path of its serial console."""
    serial = os.path.join(base, "%s-serial.log" % name)
    xml = os.path.join(base, "%s.xml" % name)
    with open(xml, "w") as f:
        f.write(DOMAIN_XML.format(name=name, kernel=os.path.join(GUEST_DIR, "vmlinuz"),
                                  initrd=os.path.join(GUEST_DIR, "initrd.img"), serial=serial))
    virsh(uri, "define", xml)
    virsh(uri, "start", name)
    wait_for(lambda: len(console(serial)[1]) >= 5, 180, "the domain to boot and count", interval=0.2)
    return serial


def test_adopt_migrate_and_cancel(lv):
    c, uri, base = lv
    serial = boot_domain(uri("h1"), base, "lvvm")

    # the old system's VM spec maps to the libvirt driver: a domain h1's libvirt
    # does not have is refused by that libvirt, named
    old = {"Identifier": "oldvm", "AccessIP": "198.18.0.9", "AccessPort": "22", "AutoMigrate": False,
           "Available": True, "SharedDir": "/mnt/shared", "Type": "VM",
           "VMProperties": {"DomainName": "nosuchdomain", "ConnectionURI": "qemu:///system"}}
    r = c.api("POST", "/api/v1/workloads?host=h1", old)
    assert r.status >= 400 and "nosuchdomain" in r.text, (r.status, r.text)
    assert c.api("GET", "/api/v1/workloads/oldvm").status == 404

    # a domain name is also a directory name on the hosts (their copies of its
    # disks): "..", hidden and slashed names are refused before any use
    for bad in ("..", ".lvvm", "a/../b"):
        r = c.api("POST", "/api/v1/workloads", {"name": "bad", "kind": "libvirt", "host": "h1",
                                                 "spec": {"domain": bad}})
        assert r.status == 400 and "bad domain name" in r.text, (bad, r.status, r.text)

    # the old system's VMs become flyt workloads
    r = c.cli("workload", "adopt", "--kind", "libvirt", "--host", "h1", "lvvm")
    assert "adopted domain lvvm" in r.stdout, r.stdout
    w = c.workload("lvvm")
    assert w["kind"] == "libvirt" and w["state"] == "running", w
    facts = c.host_facts("h2")["drivers"]["libvirt"]
    assert facts["available"] and facts["live"], facts

    # cancelled mid-way (1 MiB/s): libvirt aborts its job, the domain runs on h1
    r = c.start_migration("lvvm", "h2", "precopy", bandwidth_mbps=1)
    assert r.status == 202, r.text
    mid = r.json["id"]
    c.wait_migration(mid, 180, until=lambda m: m.get("state") == "transferring" and (m.get("bytes") or 0) > 0)
    c.api("POST", "/api/v1/migrations/%s/cancel" % mid, expect=202)
    m = c.wait_migration(mid, 180)
    assert m["state"] == "rolled_back", m
    assert "running" in virsh(uri("h1"), "domstate", "lvvm")
    before = console(serial)[1][-1]
    wait_for(lambda: console(serial)[1][-1] >= before + 5, 60, "the domain to count on after the cancel")
    assert "lvvm" not in virsh(uri("h2"), "list", "--all", "--name")

    # migrated for real
    before = console(serial)[1][-1]
    r = c.cli("migrate", "lvvm", "--to", "h2", "--mode", "precopy", "--wait", timeout=300)
    assert "committed" in r.stdout, r.stdout
    m = c.api("GET", "/api/v1/migrations?workload=lvvm&limit=1", expect=200).json["migrations"][0]
    assert m["state"] == "committed" and m["passes"] >= 1 and m["bytes"] > 1024 * 1024, m
    assert m["downtime_ms"] is not None and m["downtime_ms"] >= 0, m
    assert "running" in virsh(uri("h2"), "domstate", "lvvm")
    assert "lvvm" not in virsh(uri("h1"), "list", "--all", "--name"), "the source domain was not undefined"
    wait_for(lambda: console(serial)[1][-1] >= before + 10, 60, "the domain to count on h2")
    boots, counts = console(serial)
    assert len(boots) == 1, "the domain booted again: %s" % boots
    assert all(b == a + 1 for a, b in zip(counts, counts[1:])), "the counter skipped or repeated"
    w = c.workload("lvvm")
    assert w["host"] == "h2" and w["state"] == "running", w
    assert c.unfinished_migrations() == []

    # back in postcopy, switched at once, its copy at 4 MiB/s (the postcopy
    # phase too): the guest runs on h1 while its memory comes from h2
    before = console(serial)[1][-1]
    m = c.migrate("lvvm", "h1", "postcopy", bandwidth_mbps=4, postcopy_after=0)
    assert m["state"] == "committed" and m["mode"] == "postcopy", m
    assert "switched to postcopy after 1 pass" in (m.get("note") or ""), m
    assert "running" in virsh(uri("h1"), "domstate", "lvvm")
    assert "lvvm" not in virsh(uri("h2"), "list", "--all", "--name")
    wait_for(lambda: console(serial)[1][-1] >= before + 10, 60, "the domain to count on h1")
    boots, counts = console(serial)
    assert len(boots) == 1 and all(b == a + 1 for a, b in zip(counts, counts[1:])), (boots, counts[-20:])
    assert c.workload("lvvm")["host"] == "h1"

    # a target whose flytd keeps no credentials for its libvirtd: the source,
    # whose migrations go over TLS, sends nothing in clear text; the domain
    # runs on where it was
    h2 = c.hosts["h2"]
    c.kill_agent("h2", signal.SIGTERM)
    i = h2.extra_args.index("--libvirt-tls-dir")
    h2.extra_args[i:i + 2] = []
    c.start_agent("h2")
    assert c.host_facts("h2")["drivers"]["libvirt"]["tls"] is False
    m = c.migrate("lvvm", "h2", "precopy")
    assert m["state"] == "rolled_back" and "--libvirt-tls-dir" in (m.get("error") or ""), m
    assert "running" in virsh(uri("h1"), "domstate", "lvvm")
    assert "lvvm" not in virsh(uri("h2"), "list", "--all", "--name")
    before = console(serial)[1][-1]
    wait_for(lambda: console(serial)[1][-1] >= before + 5, 60, "the domain to count on on h1")

    # --libvirt-uri none turns the driver off, as without the option
    c.kill_agent("h2", signal.SIGTERM)
    i = h2.extra_args.index("--libvirt-uri")
    h2.extra_args[i + 1] = "none"
    c.start_agent("h2")
    facts = c.host_facts("h2")["drivers"]["libvirt"]
    assert not facts["available"] and "no libvirt connection" in facts["reason"], facts
    r = c.start_migration("lvvm", "h2", "precopy")
    assert r.status >= 400 or c.wait_migration(r.json["id"], 120)["state"] == "rolled_back", r.text
    assert "running" in virsh(uri("h1"), "domstate", "lvvm")


DISK_XML = """<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/><source file='{path}'/>
      <target dev='{dev}' bus='virtio'/></disk>
    """
COUNT_AT = 4096  # where the guest writes "count N" on its first disk (scripts/build-guest.sh)
MIB = 1024 * 1024


def guest_view(path, fmt, out):
    """What the guest sees of the image at path (no QEMU may have it open)."""
    if fmt == "qcow2":
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", path, out], check=True, timeout=60)
        path = out
    with open(path, "rb") as f:
        return f.read()


def file_sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_local_disks_are_copied(lv):
    """A domain whose disks are on no shared storage moves with them: libvirt
    copies them (NBD storage migration) into images flyt creates on the target,
    which the domain's definition there points at. A cancel during the copy
    leaves it running on the source and nothing on the target."""
    if not shutil.which("qemu-img"):
        pytest.skip("qemu-img is not installed (scripts/setup.sh installs qemu-utils)")
    c, uri, base = lv
    serial = os.path.join(base, "lvdisk-serial.log")
    # vda: qcow2, written by the guest, with enough random data that a copy at
    # 1 MiB/s lasts long enough to cancel it; vdb: raw, left alone by the guest
    magic = "FLYT-MAGIC-%s" % os.urandom(8).hex()
    vda_payload, vdb_payload = os.urandom(40 * MIB), os.urandom(2 * MIB)
    vda_raw, vda, vdb = (os.path.join(base, n) for n in ("vda.raw", "vda.qcow2", "vdb.img"))
    with open(vda_raw, "wb") as f:
        f.truncate(48 * MIB)
        f.write((magic + "\n").encode())
        f.seek(MIB)
        f.write(vda_payload)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", vda_raw, vda], check=True, timeout=60)
    os.unlink(vda_raw)
    with open(vdb, "wb") as f:
        f.truncate(8 * MIB)
        f.seek(MIB)
        f.write(vdb_payload)
    xml = DOMAIN_XML.format(name="lvdisk", kernel=os.path.join(GUEST_DIR, "vmlinuz"),
                            initrd=os.path.join(GUEST_DIR, "initrd.img"), serial=serial)
    disks = DISK_XML.format(fmt="qcow2", path=vda, dev="vda") + DISK_XML.format(fmt="raw", path=vdb, dev="vdb")
    xml = xml.replace("<serial ", disks + "<serial ", 1)
    with open(os.path.join(base, "lvdisk.xml"), "w") as f:
        f.write(xml)
    virsh(uri("h1"), "define", os.path.join(base, "lvdisk.xml"))
    virsh(uri("h1"), "start", "lvdisk")
    wait_for(lambda: len(console(serial)[1]) >= 5, 180, "the domain to boot and count", interval=0.2)
    with open(serial, errors="replace") as f:
        assert "FLYT-DISK %s" % magic in f.read(), "the guest does not see its disk"
    c.cli("workload", "adopt", "--kind", "libvirt", "--host", "h1", "lvdisk")
    copies = lambda h: os.path.join(c.hosts[h].state_dir, "libvirt-disks", "lvdisk")  # noqa: E731

    # cancelled while libvirt copies the disks (1 MiB/s): the domain runs on h1,
    # nothing is left on h2, not even the empty copies
    r = c.start_migration("lvdisk", "h2", "precopy", bandwidth_mbps=1)
    assert r.status == 202, r.text
    mid = r.json["id"]
    c.wait_migration(mid, 180, until=lambda m: m.get("state") == "transferring" and (m.get("bytes") or 0) > 0)
    job = virsh(uri("h1"), "domjobinfo", "lvdisk")
    assert "File processed" in job and "Memory processed" not in job, "not copying the disks any more:\n" + job
    assert os.path.exists(os.path.join(copies("h2"), "vda.qcow2"))
    c.api("POST", "/api/v1/migrations/%s/cancel" % mid, expect=202)
    m = c.wait_migration(mid, 180)
    assert m["state"] == "rolled_back", m
    assert "running" in virsh(uri("h1"), "domstate", "lvdisk")
    assert "lvdisk" not in virsh(uri("h2"), "list", "--all", "--name")
    wait_for(lambda: not os.path.exists(copies("h2")), 30, "h2's disk copies to be removed")
    before = console(serial)[1][-1]
    wait_for(lambda: console(serial)[1][-1] >= before + 5, 60, "the domain to count on after the cancel")

    # migrated with its disks, there and back (the second time from h2's copies);
    # the first time with a sniffer on h2's link: libvirt's memory stream and
    # the disk copies went over TLS (the flytd options of the fixture)
    assert c.host_facts("h1")["drivers"]["libvirt"]["tls"] is True
    before = console(serial)[1][-1]
    sniffer = harness.Sniffer(c.hosts["h2"].veth_root)
    sniffer.start()
    try:
        m = c.migrate("lvdisk", "h2", "precopy")
    finally:
        wire = sniffer.finish()
    assert m["state"] == "committed", m
    assert len(wire) > 40 * MIB, "the sniffer saw too little: %d bytes" % len(wire)
    # QEMU_VM_FILE_MAGIC and version 3; the disk's magic; 64-byte pieces of
    # its random payload: none of them may show on the wire
    assert b"QEVM\x00\x00\x00\x03" not in wire, "libvirt's migration stream went in clear text"
    assert magic.encode() not in wire, "the disk copy went in clear text"
    for k in range(16):
        at = k * len(vda_payload) // 16
        assert vda_payload[at:at + 64] not in wire, "the disk copy went in clear text"
    assert "copying 2 local disks (vda, vdb)" in (m.get("note") or ""), m
    assert m["bytes"] > 40 * MIB, m  # vda's data went over the wire
    assert "running" in virsh(uri("h2"), "domstate", "lvdisk")
    assert "lvdisk" not in virsh(uri("h1"), "list", "--all", "--name"), "the source domain was not undefined"
    src_sha = {p: file_sha(p) for p in (vda, vdb)}  # the source QEMU is gone: images of the switch-over
    src = guest_view(vda, "qcow2", os.path.join(base, "src-view.raw"))
    src_count = int(re.match(rb"count (\d+)\n", src[COUNT_AT:COUNT_AT + 64]).group(1))
    targets = lambda h: {"vda": os.path.join(copies(h), "vda.qcow2"),  # noqa: E731
                         "vdb": os.path.join(copies(h), "vdb.img")}
    for flags in ((), ("--inactive",)):  # where it runs, and its persistent definition
        dom = virsh(uri("h2"), "dumpxml", *flags, "lvdisk")
        assert all("<source file='%s'" % t in dom for t in targets("h2").values()), dom
    wait_for(lambda: console(serial)[1][-1] >= max(before, src_count) + 3, 60, "the domain to count on h2")
    m = c.migrate("lvdisk", "h1", "precopy")
    assert m["state"] == "committed" and "copying 2 local disks" in (m.get("note") or ""), m
    wait_for(lambda: not os.path.exists(copies("h2")), 30, "h2's stale disk copies to be removed")
    for flags in ((), ("--inactive",)):
        dom = virsh(uri("h1"), "dumpxml", *flags, "lvdisk")
        assert all("<source file='%s'" % t in dom for t in targets("h1").values()), dom
    wait_for(lambda: console(serial)[1][-1] >= src_count + 6, 60, "the domain to count on h1")
    boots, counts = console(serial)
    assert len(boots) == 1, "the domain booted again: %s" % boots
    assert all(b == a + 1 for a, b in zip(counts, counts[1:])), "the counter skipped or repeated"
    w = c.workload("lvdisk")
    assert w["host"] == "h1" and w["state"] == "running", w

    # what the guest sees now is what it saw before the first move, but for what
    # it wrote since
    c.cli("workload", "stop", "lvdisk")
    dst = guest_view(targets("h1")["vda"], "qcow2", os.path.join(base, "dst-view.raw"))
    assert len(src) == len(dst) == 48 * MIB
    assert src[:COUNT_AT] == dst[:COUNT_AT] and src[COUNT_AT + 512:] == dst[COUNT_AT + 512:], (
        "the copied vda differs from the source's outside the guest's counter")
    assert dst[MIB:MIB + len(vda_payload)] == vda_payload
    assert int(re.match(rb"count (\d+)\n", dst[COUNT_AT:COUNT_AT + 64]).group(1)) >= src_count + 5, (
        "the guest did not write on to its copies")
    assert guest_view(targets("h1")["vdb"], "raw", None) == guest_view(vdb, "raw", None)
    assert os.path.getsize(targets("h1")["vdb"]) == 8 * MIB
    assert {p: file_sha(p) for p in (vda, vdb)} == src_sha, "the original disks changed after the switch-over"
    assert c.unfinished_migrations() == []
