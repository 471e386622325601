"""Reconciliation: the controller's inventory against what the agents really run,
when no migration explains the difference, and a migration whose source agent is
gone for good. Fake-driver workloads (the agents' own fake driver: state in the
agent, no CRIU) on real agents and a real controller.

- a controller restarted on an older copy of its database follows the host that
  runs the workload;
- two hosts running the same workload: both copies are kept, the workload is
  marked failed with both hosts and the reason, and recovers when one is deleted;
- a host that lost a workload: marked failed with the reason, nothing invented;
- a migration that committed while the controller was down, whose source agent
  is then gone: the restarted controller concludes it from the target.
"""
import os
import shutil
import signal

import harness

DEADLINE = 90  # reconciliation waits out a 10 s grace period and heartbeats every 2 s


def create_fake(c, name, host, **spec):
    spec.setdefault("payload", "state of %s" % name)
    return c.api("POST", "/api/v1/workloads", {"name": name, "kind": "fake", "host": host, "spec": spec},
                 expect=201).json


def wait_record(c, name, what, pred):
    box = {}

    def ok():
        box["w"] = c.api("GET", "/api/v1/workloads/%s" % name, expect=200).json
        return pred(box["w"])
    try:
        c.wait_for(ok, DEADLINE, what)
    except harness.HarnessError as e:
        raise harness.HarnessError("%s; last record: %s" % (e, box.get("w")))
    return box["w"]


def db_files(c):
    return [c.db + sfx for sfx in ("", "-wal", "-shm") if os.path.exists(c.db + sfx)]


def test_older_database_follows_the_host_that_runs_it(cluster):
    c = cluster
    create_fake(c, "w", "h1")
    c.stop_controller()
    saved = os.path.join(c.tmp, "db-before")
    os.makedirs(saved)
    for f in db_files(c):
        shutil.copy2(f, saved)
    c.start_controller()
    c.wait_ready()
    m = c.migrate("w", "h2", mode="stop-copy")
    assert m["state"] == "committed", m
    assert set(c.agent_workloads("h2")) == {"w"} and c.agent_workloads("h1") == {}

    # back to the copy taken before the migration: the inventory says h1
    c.stop_controller()
    for f in db_files(c):
        os.unlink(f)
    for f in os.listdir(saved):
        shutil.copy2(os.path.join(saved, f), os.path.dirname(c.db))
    c.start_controller()
    c.wait_ready()
    w = wait_record(c, "w", "the inventory to follow w to h2",
                    lambda w: w["host"] == "h2" and w["state"] == "running")
    assert not w.get("error"), w
    # nothing was stopped or started on the agents to get there
    assert set(c.agent_workloads("h2")) == {"w"} and c.agent_workloads("h1") == {}
    ev = c.cli("events", "--since", "0", json=True).stdout
    assert "workload.reconciled" in ev, ev[-3000:]


def test_two_copies_are_kept_and_reported(cluster):
    c = cluster
    create_fake(c, "w", "h1")
    # a second copy, made behind the controller's back on h2
    c.agent_api("h2", "POST", "/v1/workloads", {"name": "w", "kind": "fake", "spec": {"payload": "other"}},
                expect=201)
    w = wait_record(c, "w", "the controller to notice the two copies", lambda w: w["state"] == "failed")
    assert sorted(w.get("copies", [])) == ["h1", "h2"], w
    assert "two copies" in w.get("error", ""), w
    # flyt stopped neither
    assert "w" in c.agent_workloads("h1") and "w" in c.agent_workloads("h2")
    assert c.agent_workloads("h1")["w"]["state"] == "running"
    assert c.agent_workloads("h2")["w"]["state"] == "running"

    # the operator deletes the stale copy: the workload is whole again
    c.agent_api("h2", "DELETE", "/v1/workloads/w", expect=200)
    w = wait_record(c, "w", "the workload to recover once one copy is gone",
                    lambda w: w["state"] == "running")
    assert w["host"] == "h1", w


def test_a_lost_workload_is_reported_not_invented(cluster):
    c = cluster
    create_fake(c, "w", "h1")
    create_fake(c, "keep", "h1")
    c.agent_api("h1", "DELETE", "/v1/workloads/w", expect=200)  # lost behind the controller's back
    w = wait_record(c, "w", "the controller to notice that h1 lost w", lambda w: w["state"] == "failed")
    assert "h1 no longer has this workload" in w.get("error", ""), w
    assert w["host"] == "h1"
    assert c.workload("keep")["state"] == "running"
    assert "w" not in c.agent_workloads("h2")


def test_source_gone_after_commit_is_concluded_from_the_target(cluster):
    c = cluster
    create_fake(c, "w", "h1", delay_ms=3000)
    r = c.start_migration("w", "h2", mode="stop-copy")
    assert r.status == 202, r.text
    mid = r.json["id"]
    # the agents have it: the controller is not needed for the move itself
    c.wait_for(lambda: c.agent_api("h1", "GET", "/v1/migrations/%s" % mid).status == 200, 30,
               "the source agent to start the migration")
    c.stop_controller(signal.SIGKILL)
    c.wait_for(lambda: c.agent_api("h2", "GET", "/v1/incoming/%s" % mid).json.get("phase") == "committed", 60,
               "the target to commit while the controller is down")
    c.kill_agent("h1", signal.SIGTERM)  # the source is gone for good
    c.start_controller()
    m = c.wait_migration(mid, timeout=120)
    assert m["state"] == "committed", m
    assert "concluded from the target" in (m.get("note") or ""), m
    assert c.workload("w")["host"] == "h2"
    assert set(c.agent_workloads("h2")) == {"w"}
