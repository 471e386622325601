"""The old system's files: its README's scenario end to end (guests.json imported,
`docker run -d -i -t --name busybox_container busybox /bin/sh`, the workload
added from its JSON spec, migrated while a variable set in the shell survives),
and clear errors for specs and guest files that are wrong."""
import json
import os

import pytest

import engines
from test_docker import Attached

pytestmark = pytest.mark.skipif(engines.engine_skip_reason("docker") is not None,
                                reason=engines.engine_skip_reason("docker") or "")


# The workload spec exactly as the old README gives it (SharedDir to be set, as it says).
README_SPEC = {
    "Identifier": "busybox_container",
    "AccessIP": "0",
    "AccessPort": "0",
    "AutoMigrate": False,
    "Available": True,
    "SharedDir": "FILEPATH TO SHARED DIR",
    "Type": "Container",
    "Containerproperties": {
        "ContainerID": "busybox_container",
        "Image": "busybox",
        "Checkpoint": False,
    },
}


def write_json(cluster, name, obj):
    path = os.path.join(cluster.tmp, name)
    with open(path, "w") as f:
        json.dump(obj, f, indent=4)
    return path


def test_old_readme_scenario(make_cluster):
    c = make_cluster(engines=[engines.DockerEngine])
    d1, d2 = c.hosts["h1"].engines["docker"], c.hosts["h2"].engines["docker"]
    # steps 6-7: the guests file lists each host's address and port
    guests = write_json(c, "guests.json", {"Guests": [
        {"Ip": h.ip, "Port": str(h.port), "LibvirtURI": ""} for h in c.hosts.values()]})
    out = c.cli("import", "guests", guests).stdout
    assert "h1" in out and "h2" in out, out
    ans = json.loads(c.cli("import", "guests", guests, json=True).stdout)
    assert ans["added"] == 2 and ans["failed"] == 0, ans
    # step 8: the sample workload
    d1.cli("run", "-d", "-i", "-t", "--name", "busybox_container", "busybox", "/bin/sh")
    engines.wait_running(c, d1, "busybox_container")
    t = Attached(d1, "busybox_container")
    t.send("STATE=kept-$((40+2)); echo ready-$STATE\n")
    t.expect("ready-kept-42")
    t.detach()
    # step 9-10: the JSON spec (SharedDir changed, as the README says), on VM1
    spec = dict(README_SPEC, SharedDir=os.path.join(c.tmp, "shared"))
    path = write_json(c, "workload.json", spec)
    c.cli("workload", "create", "-f", path, "--host", "h1")
    w = c.workload("busybox_container")
    assert w["kind"] == "docker" and w["host"] == "h1" and w["state"] == "running", w
    assert w["spec"]["legacy"]["SharedDir"] == spec["SharedDir"]
    # step 11: migrate it to the other guest, state preserved
    r = c.cli("migrate", "busybox_container", "--to", "h2", "--wait", json=True)
    m = json.loads(r.stdout)
    assert m["state"] == "committed", m
    engines.wait_running(c, d2, "busybox_container")
    t = Attached(d2, "busybox_container")
    t.send("echo still-$STATE\n")
    t.expect("still-kept-42")
    t.detach()
    assert d1.api("GET", "/v1.41/containers/busybox_container/json")[0] == 404
    assert c.workload("busybox_container")["host"] == "h2"


def test_old_files_with_mistakes_get_clear_errors(make_cluster):
    c = make_cluster(engines=[engines.DockerEngine])

    def create_error(obj, host="h1"):
        r = c.api("POST", "/api/v1/workloads?host=%s" % host, obj)
        assert r.status in (400, 404, 422), (r.status, r.text)
        return r.error_message()

    # the README's placeholder is not a path: refused, and never used as one
    assert "SharedDir" in create_error(README_SPEC)
    ok = dict(README_SPEC, SharedDir="/srv/shared")
    assert "Colour" in create_error(dict(ok, Colour="blue"))
    assert "Type" in create_error(dict(ok, Type="Toaster"))
    assert "AccessPort" in create_error(dict(ok, AccessPort="99999"))
    assert "AutoMigrate" in create_error(dict(ok, AutoMigrate="yes"))
    assert "ContainerID" in create_error(dict(ok, Containerproperties={"Image": "busybox"}))
    assert "Extra" in create_error(dict(ok, Containerproperties=dict(ok["Containerproperties"], Extra=1)))
    assert "SharedDir" in create_error(dict(ok, SharedDir="/srv/../etc"))
    assert "Identifier" in create_error(dict(ok, Identifier="Busybox Container"))
    vm = dict(ok, Type="vm", Containerproperties=None,
              VMProperties={"DomainName": "guest1", "ConnectionURI": "qemu:///system"})
    assert "libvirt" in create_error(vm)
    # the old spec needs a host
    r = c.api("POST", "/api/v1/workloads", ok)
    assert r.status == 400 and "host" in r.error_message(), r.text
    # "type" in either case is fine; the container must exist on that host
    r = c.api("POST", "/api/v1/workloads?host=h1", dict(ok, Type="container"))
    assert r.status == 404 and "busybox_container" in r.error_message(), r.text
    # nothing was recorded by any of these
    assert c.api("GET", "/api/v1/workloads").json["workloads"] == []

    def import_error(obj):
        r = c.api("POST", "/api/v1/import/guests", obj)
        assert r.status == 400, (r.status, r.text)
        return r.error_message()
    assert "Guests" in import_error({"guests": []})
    assert "Port" in import_error({"Guests": [{"Ip": "198.18.0.9", "Port": "eighty"}]})
    assert "Ip" in import_error({"Guests": [{"Ip": "198.18.0.9; rm -rf /", "Port": 7800}]})
    assert "Name" in import_error({"Guests": [{"Ip": "198.18.0.9", "Port": 7800, "Name": "x"}]})
    # a guest nobody answers at: reported per guest, the CLI fails
    path = write_json(c, "guests.json", {"Guests": [{"Ip": c.hosts["h1"].ip, "Port": 7800},
                                                    {"Ip": c.hosts["h1"].ip, "Port": 1}]})
    r = c.cli("import", "guests", path, check=False)
    assert r.returncode != 0 and "1 of 2" in r.stderr, (r.stdout, r.stderr)
