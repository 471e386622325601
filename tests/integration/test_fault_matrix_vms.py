"""The fault matrix for virtual machines (test_fault_matrix.py holds the process
kind and explains the faults; they strike the same way here):

  qemu        a VM of the qemu driver (the guest of test_vm_qemu.py, counting on
              its serial console) migrated h1 -> h2:
              - "transferring": precopy at 4 MiB/s, the fault striking while
                QEMU copies the guest's memory (the guest runs on h1 meanwhile);
              - "restoring", "verifying": the target agent paused on entering
                that phase (FLYT_FAULT=pause:target:PHASE): QEMU has moved the
                whole guest, both QEMUs hold it paused, and the source has not
                decided yet (restoring) or has decided to commit and told the
                target (verifying);
              - "postcopy": switched to postcopy at once, its copy at 4 MiB/s:
                the fault strikes while the guest runs on h2 and most of its
                memory is still on h1;
              - "disk full": a VM with a local disk, the target's state
                directory (where its copy goes) on a 2 MiB tmpfs;
              - "corrupted byte": one bit of QEMU's stream flipped 8 MiB in
                (FLYT_FAULT=corrupt-live:N on the target: the stream passes a
                relay that damages it).
  libvirt     a domain of each host's own libvirtd (test_vm_libvirt.py), migrated
              by libvirt peer to peer at 4 MiB/s over TLS: the fault strikes
              while libvirt copies the guest (transferring), while the domain
              runs on h2 in postcopy, or with the target agent paused on
              entering restoring or verifying (libvirt has switched over).

Every cell checks that the migration ends as its table says (and says why when
it did not commit), that exactly one copy of the VM exists, running, where it
should (one QEMU process of it; for libvirt: the domain on that host's libvirtd
only, running, and not even defined on the other), and that the guest's console
counts on from where it was without a second boot. The table is printed and
written to BUILD/fault-matrix-vms.txt (see docs/reliability.md)."""
import os
import signal
import subprocess
import time

import pytest

import harness
from harness import wait_for
from test_fault_matrix_kinds import SETTLED, add_note, matrix_cluster, persisted, record
from test_vm_libvirt import boot_domain, libvirt_cluster, virsh
from test_vm_libvirt import console as lv_console
from test_vm_qemu import MEMORY_MIB, assert_continues, console, create_vm, last_count, qemu_pid, qemus_of

FAULTS = ["controller", "source", "target", "link"]
QEMU_PHASES = ["restoring", "verifying"]
# precopy slowly enough (the guest's used memory at 4 MiB/s: several seconds)
# that the fault strikes while QEMU transfers
QEMU_BANDWIDTH_MBPS = 4
LIBVIRT_BANDWIDTH_MBPS = QEMU_BANDWIDTH_MBPS

# (kind, fault, phase) -> (migration outcome, host running the VM, same QEMU?)
EXPECTED = {
    # QEMU keeps the guest running on the source while it copies: the agents
    # carry on without the controller; any other fault and the source goes on
    ("qemu", "controller", "transferring"): ("committed", "h2", False),
    ("qemu", "source", "transferring"): ("rolled_back", "h1", True),
    ("qemu", "target", "transferring"): ("rolled_back", "h1", True),
    ("qemu", "link", "transferring"): ("rolled_back", "h1", True),
    # the guest moved, the source has not decided: its QEMU continues unless
    # the target can go on by itself (the controller's death changes nothing;
    # a cut that heals lets "restored" and "go" through)
    ("qemu", "controller", "restoring"): ("committed", "h2", False),
    ("qemu", "source", "restoring"): ("rolled_back", "h1", True),
    ("qemu", "target", "restoring"): ("rolled_back", "h1", True),
    ("qemu", "link", "restoring"): ("committed", "h2", False),
    # the source decided to commit: the target's QEMU runs the guest
    ("qemu", "controller", "verifying"): ("committed", "h2", False),
    ("qemu", "source", "verifying"): ("committed", "h2", False),
    ("qemu", "target", "verifying"): ("committed", "h2", False),
    ("qemu", "link", "verifying"): ("committed", "h2", False),
    # the target's disk full (its copy of the VM's local disk cannot be
    # written), a bit flipped in QEMU's stream: the source goes on
    ("qemu", "disk full", "-"): ("rolled_back", "h1", True),
    ("qemu", "corrupted byte", "-"): ("rolled_back", "h1", True),
    # postcopy: the guest runs on h2 and faults in the memory h1's QEMU still
    # holds; whichever agent dies, the QEMUs go on, and flyt must not undo it
    ("qemu", "controller", "postcopy"): ("committed", "h2", False),
    ("qemu", "source", "postcopy"): ("committed", "h2", False),
    ("qemu", "target", "postcopy"): ("committed", "h2", False),
    ("qemu", "link", "postcopy"): ("committed", "h2", False),
    # libvirtd migrates the domain by itself: the controller's death changes
    # nothing; a restarted source agent aborts libvirt's job (the domain stays);
    # the target's agent is not needed for libvirt's migration, and its
    # restarted flytd finds the domain arriving and asks the source
    ("libvirt", "controller", "transferring"): ("committed", "h2", False),
    ("libvirt", "source", "transferring"): ("rolled_back", "h1", True),
    ("libvirt", "target", "transferring"): ("committed", "h2", False),
    ("libvirt", "link", "transferring"): ("rolled_back", "h1", True),
    # postcopy: as for qemu, libvirt goes on whoever dies; flyt must not undo it
    ("libvirt", "controller", "postcopy"): ("committed", "h2", False),
    ("libvirt", "source", "postcopy"): ("committed", "h2", False),
    ("libvirt", "target", "postcopy"): ("committed", "h2", False),
    ("libvirt", "link", "postcopy"): ("committed", "h2", False),
    # libvirt switches over by itself at the end of its migration: by the time
    # the target's flytd restores (the domain arrived) the domain runs on h2,
    # and nothing can take it back
    ("libvirt", "controller", "restoring"): ("committed", "h2", False),
    ("libvirt", "source", "restoring"): ("committed", "h2", False),
    ("libvirt", "target", "restoring"): ("committed", "h2", False),
    ("libvirt", "link", "restoring"): ("committed", "h2", False),
    ("libvirt", "controller", "verifying"): ("committed", "h2", False),
    ("libvirt", "source", "verifying"): ("committed", "h2", False),
    ("libvirt", "target", "verifying"): ("committed", "h2", False),
    ("libvirt", "link", "verifying"): ("committed", "h2", False),
}
RESULTS = {}


@pytest.fixture(scope="module", autouse=True)
def print_the_matrix():
    """After the module's cells: their table, also in BUILD/fault-matrix-vms.txt."""
    yield
    harness.print_matrix("fault matrix (VMs h1 -> h2: precopy; postcopy in the postcopy cells):", EXPECTED, RESULTS, "fault-matrix-vms.txt")


def check_outcome(mig, key):
    want_state = EXPECTED[key][0]
    assert mig["state"] == want_state, "%s: migration ended %s (%s), expected %s" % (
        key, mig["state"], mig.get("error") or mig.get("note"), want_state)
    if want_state != "committed":
        assert mig.get("error"), "a migration that did not commit must say why: %s" % mig


def wait_running_on(c, name, host):
    wait_for(lambda: c.workload(name)["host"] == host and c.workload(name)["state"] == "running", 60,
             "the controller to show %s running on %s" % (name, host))


# ---- qemu ----------------------------------------------------------------------


def check_qemu_cell(c, name, boot, before, mig, key):
    check_outcome(mig, key)
    _, want_host, same = EXPECTED[key]
    other = "h2" if want_host == "h1" else "h1"
    wait_running_on(c, name, want_host)
    # exactly one QEMU runs the VM, where it should (the other's is gone)
    wait_for(lambda: qemus_of(c, name) == [qemu_pid(c, want_host, name)] and qemu_pid(c, other, name) is None, 60,
             "one QEMU of %s, on %s (found %s)" % (name, want_host, qemus_of(c, name)))
    if same:
        assert qemu_pid(c, want_host, name) == before["pid"], "the source QEMU changed"
    wait_for(lambda: name not in c.agent_workloads(other), 60, "%s to keep nothing of %s" % (other, name))
    # the guest runs on from where it was: no new boot, the counter continuous
    if want_host == "h1":
        count = last_count(c, "h1", name)
        wait_for(lambda: last_count(c, "h1", name) >= count + 5, 120, "the VM to count on on h1", interval=0.2)
        boots, counts = console(c, "h1", name)
        assert boots == [boot], "the VM booted again on h1: %s" % boots
        assert all(b == a + 1 for a, b in zip(counts, counts[1:])), "the counter skipped or repeated"
    else:
        assert_continues(c, name, "h1", "h2", before["count"], boot)
    assert c.unfinished_migrations() == []
    add_note(key, ", one QEMU, guest counting on", RESULTS)


def start_vm(c, guest, name="vm"):
    boot = create_vm(c, guest, name, "h1")
    before = {"pid": qemu_pid(c, "h1", name), "count": last_count(c, "h1", name)}
    assert before["pid"]
    return boot, before


@pytest.mark.parametrize("fault", FAULTS)
def test_qemu_fault_while_transferring(make_cluster, guest, fault):
    c = matrix_cluster(make_cluster, {})
    boot, before = start_vm(c, guest)
    t0 = time.monotonic()
    r = c.start_migration("vm", "h2", "precopy", bandwidth_mbps=QEMU_BANDWIDTH_MBPS)
    assert r.status == 202, r.text
    mid = r.json["id"]
    c.wait_migration(mid, 120, until=lambda m: m.get("state") == "transferring" and (m.get("bytes") or 0) > 0)
    # QEMU copies the guest's memory: the target's incoming QEMU is there
    wait_for(lambda: qemu_pid(c, "h2", "vm"), 60, "the target's incoming QEMU")
    strike_unpaused(c, fault, mid)
    mig = c.wait_migration(mid, timeout=300)
    key = ("qemu", fault, "transferring")
    record(key, mig, c, "vm", t0, RESULTS)
    check_qemu_cell(c, "vm", boot, before, mig, key)


def test_qemu_target_disk_full(make_cluster, guest):
    c = matrix_cluster(make_cluster, {})
    st = c.hosts["h2"].state_dir
    c.kill_agent("h2", signal.SIGTERM)
    # room for the agent's records and QEMU's files, not for the disk's copy
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "flyt-test-full", st], check=True)
    try:
        c.start_agent("h2")
        disk = os.path.join(c.tmp, "vm-disk.img")
        with open(disk, "wb") as f:
            f.truncate(16 << 20)
            f.seek(1 << 20)
            f.write(os.urandom(6 << 20))
        c.cli("workload", "create", "--kind", "qemu", "--host", "h1", "--name", "vm", "--memory", MEMORY_MIB,
              "--kernel", guest["kernel"], "--initrd", guest["initrd"], "--append", "console=ttyS0 quiet panic=-1",
              "--disk", "%s:raw" % disk)
        wait_for(lambda: last_count(c, "h1", "vm") >= 5, 180, "the VM to boot and count", interval=0.2)
        boot = console(c, "h1", "vm")[0][0]
        before = {"pid": qemu_pid(c, "h1", "vm"), "count": last_count(c, "h1", "vm")}
        t0 = time.monotonic()
        mig = c.migrate("vm", "h2", "precopy")
        key = ("qemu", "disk full", "-")
        record(key, mig, c, "vm", t0, RESULTS)
        assert "space" in (mig.get("error") or "").lower(), mig
        check_qemu_cell(c, "vm", boot, before, mig, key)
    finally:
        c.kill_agent("h2", signal.SIGTERM)
        subprocess.run(["umount", "-l", st], check=False)


def test_qemu_corrupted_byte(make_cluster, guest):
    # a bit of QEMU's stream flipped 8 MiB in, amid the guest's memory: TLS
    # (flyt's default) refuses the damaged record, and the target's QEMU fails
    c = matrix_cluster(make_cluster, {"h2": {"FLYT_FAULT": "corrupt-live:%d" % (8 << 20)}})
    boot, before = start_vm(c, guest)
    t0 = time.monotonic()
    mig = c.migrate("vm", "h2", "precopy")
    key = ("qemu", "corrupted byte", "-")
    record(key, mig, c, "vm", t0, RESULTS)
    with open(c.hosts["h2"].log) as f:
        assert "flipped a bit of byte %d" % (8 << 20) in f.read(), "the relay did not damage the stream"
    check_qemu_cell(c, "vm", boot, before, mig, key)


@pytest.mark.parametrize("fault", FAULTS)
def test_qemu_fault_in_postcopy(make_cluster, guest, fault):
    c = matrix_cluster(make_cluster, {})
    boot, before = start_vm(c, guest)
    t0 = time.monotonic()
    # postcopy at once, its copy at 4 MiB/s too: the guest runs on h2 for
    # seconds while h1's QEMU still holds most of its memory
    r = c.start_migration("vm", "h2", "postcopy", bandwidth_mbps=QEMU_BANDWIDTH_MBPS, postcopy_after=0)
    assert r.status == 202, r.text
    mid = r.json["id"]
    wait_for(lambda: last_count(c, "h2", "vm") > before["count"], 120, "the guest to run on h2", interval=0.1)
    mig = c.api("GET", "/api/v1/migrations/" + mid).json
    # (at 4 MiB/s the guest runs on h2 for seconds before its memory is all there)
    assert mig["state"] == "transferring" and mig["remaining_bytes"] > 1 << 20, mig
    # a cut link: the QEMUs' own connection stalls and goes on once healed;
    # healed once the target's flytd has lost the source's (and waits for QEMU)
    strike_unpaused(c, fault, mid, lambda c, mid: persisted(c, "h2", mid) != "transferring")
    mig = c.wait_migration(mid, timeout=300)
    key = ("qemu", fault, "postcopy")
    record(key, mig, c, "vm", t0, RESULTS)
    check_qemu_cell(c, "vm", boot, before, mig, key)


def strike_unpaused(c, fault, mid, settled=SETTLED["transferring"]):
    """Strikes fault while nobody is paused (the engine's own transfer runs); a
    cut link is healed once settled(c, mid)."""
    if fault == "controller":
        c.stop_controller(signal.SIGKILL)
        c.start_controller()
    elif fault in ("source", "target"):
        host = "h1" if fault == "source" else "h2"
        c.kill_agent(host, signal.SIGKILL)
        c.start_agent(host, wait=False)
    else:
        c.link_down("h2")
        try:
            wait_for(lambda: settled(c, mid), 120, "one side to settle while the link is cut")
        finally:
            c.link_up("h2")


@pytest.mark.parametrize("phase", QEMU_PHASES)
@pytest.mark.parametrize("fault", FAULTS)
def test_qemu_fault_at_phase(make_cluster, guest, fault, phase):
    c = matrix_cluster(make_cluster, {"h2": {"FLYT_FAULT": "pause:target:%s" % phase}})
    boot, before = start_vm(c, guest)
    t0 = time.monotonic()
    r = c.start_migration("vm", "h2", "precopy")
    assert r.status == 202, r.text
    mid = r.json["id"]
    paused = os.path.join(c.hosts["h2"].state_dir, "fault-paused")
    wait_for(lambda: os.path.exists(paused), 120, "the target to pause on entering %s" % phase)
    c.strike(fault, "h2", lambda: SETTLED[phase](c, mid))
    mig = c.wait_migration(mid, timeout=300)
    key = ("qemu", fault, phase)
    record(key, mig, c, "vm", t0, RESULTS)
    check_qemu_cell(c, "vm", boot, before, mig, key)


# ---- libvirt -------------------------------------------------------------------


def domains(uri):
    """Names of the domains libvirtd at uri has, running or only defined."""
    return virsh(uri, "list", "--all", "--name").split()


LIBVIRT_CELLS = [key[1:] for key in EXPECTED if key[0] == "libvirt"]


@pytest.mark.parametrize("fault,phase", LIBVIRT_CELLS, ids=["%s-%s" % cell for cell in LIBVIRT_CELLS])
def test_libvirt_fault(make_cluster, fault, phase):
    with libvirt_cluster(make_cluster, agent_args=["--io-timeout", "5000"]) as (c, uri, base):
        if phase in ("restoring", "verifying"):
            c.kill_agent("h2", signal.SIGTERM)
            c.start_agent("h2", env={"FLYT_FAULT": "pause:target:%s" % phase})
        serial = boot_domain(uri("h1"), base, "mx")
        c.cli("workload", "adopt", "--kind", "libvirt", "--host", "h1", "mx")
        t0 = time.monotonic()
        if phase == "postcopy":
            r = c.start_migration("mx", "h2", "postcopy", bandwidth_mbps=LIBVIRT_BANDWIDTH_MBPS, postcopy_after=0)
        else:
            r = c.start_migration("mx", "h2", "precopy", bandwidth_mbps=LIBVIRT_BANDWIDTH_MBPS)
        assert r.status == 202, r.text
        mid = r.json["id"]
        if phase == "transferring":
            c.wait_migration(mid, 180, until=lambda m: m.get("state") == "transferring" and (m.get("bytes") or 0) > 0)
            strike_unpaused(c, fault, mid)
        elif phase == "postcopy":
            # the domain runs on h2 while libvirt still brings its memory
            wait_for(lambda: "mx" in domains(uri("h2")) and "running" in virsh(uri("h2"), "domstate", "mx"), 180,
                     "the domain to run on h2 in postcopy", interval=0.1)
            mig = c.api("GET", "/api/v1/migrations/" + mid).json
            assert mig["state"] == "transferring" and mig["remaining_bytes"] > 1 << 20, mig
            strike_unpaused(c, fault, mid, lambda c, mid: persisted(c, "h2", mid) != "transferring")
        else:
            paused = os.path.join(c.hosts["h2"].state_dir, "fault-paused")
            wait_for(lambda: os.path.exists(paused), 180, "the target to pause on entering %s" % phase)
            c.strike(fault, "h2", lambda: SETTLED[phase](c, mid))
        mig = c.wait_migration(mid, timeout=300)
        key = ("libvirt", fault, phase)
        record(key, mig, c, "mx", t0, RESULTS)
        check_outcome(mig, key)
        want_host = EXPECTED[key][1]
        other = "h2" if want_host == "h1" else "h1"
        wait_running_on(c, "mx", want_host)
        # one copy: running where it should, not even defined on the other host
        wait_for(lambda: "mx" not in domains(uri(other)), 60, "%s's libvirtd to keep nothing of mx" % other)
        assert "running" in virsh(uri(want_host), "domstate", "mx")
        wait_for(lambda: "mx" not in c.agent_workloads(other), 60, "%s to keep nothing of mx" % other)
        count = lv_console(serial)[1][-1]
        try:
            wait_for(lambda: lv_console(serial)[1][-1] >= count + 5, 120, "the domain to count on", interval=0.2)
        except harness.HarnessError:
            # what the guest said last (an oops of QEMU's TCG precopy shows here)
            with open(serial, errors="replace") as f:
                raise AssertionError("the domain stopped counting at %d; its console ends:\n%s"
                                     % (lv_console(serial)[1][-1], f.read()[-1500:]))
        boots, counts = lv_console(serial)
        assert len(boots) == 1, "the domain booted again: %s" % boots
        assert all(b == a + 1 for a, b in zip(counts, counts[1:])), "the counter skipped or repeated"
        assert c.unfinished_migrations() == []
        add_note(key, ", one domain, guest counting on", RESULTS)
