"""The cells test_fault_matrix_containers.py leaves out to stay near five
minutes, run by hand (`meson test -C build integration-fault-matrix-containers-more`,
suite by-hand, not in CI). Made and checked by that file's functions, each on a
cluster of its own:

  docker      the controller killed at transferring and at verifying, the target
              killed at transferring, the link cut at restoring, and one
              corrupted byte in the stream (FLYT_FAULT=corrupt:5 on the source,
              as the process and runc cells do it).
  podman      the same.
  runc-lazy   transferring, switching and verifying, each struck by every fault
              but the link cut at switching (test_fault_matrix_kinds.py leaves it
              out for the process kind: the cut races the "go" that the target
              waits for there, and whether it arrived decides between two honest
              outcomes).

The outcomes are printed as a table (and written to
BUILD/fault-matrix-containers-more.txt, see docs/reliability.md).
"""
import time

import pytest

import engines
import harness
import test_fault_matrix_kinds as kinds
from test_fault_matrix_containers import (ENGINES, NAME, EngineContainer, check_engine_cell, engine_cluster,
                                          engine_fault_at_phase, record, runc_lazy_fault_at_phase)

# (kind, fault, phase) -> (migration outcome, host running the workload, same process?)
EXPECTED = {
    # the agents carry on without the controller whatever the phase
    ("docker", "controller", "transferring"): ("committed", "h2", False),
    ("docker", "controller", "verifying"): ("committed", "h2", False),
    # the target's copy is not begun: the source unpauses its own, which goes on
    ("docker", "target", "transferring"): ("rolled_back", "h1", True),
    # the cut heals before anyone times out, as for every kind
    ("docker", "link", "restoring"): ("committed", "h2", False),
    # the target refuses the damaged stream before restoring anything
    ("docker", "corrupted byte", "-"): ("rolled_back", "h1", True),
    ("podman", "controller", "transferring"): ("committed", "h2", False),
    ("podman", "controller", "verifying"): ("committed", "h2", False),
    # Podman stopped the container for its checkpoint: a rollback restores it
    # from the checkpoint Podman kept (a new process, carrying on)
    ("podman", "target", "transferring"): ("rolled_back", "h1", False),
    ("podman", "link", "restoring"): ("committed", "h2", False),
    ("podman", "corrupted byte", "-"): ("rolled_back", "h1", False),
    # lazy: the source copy stays frozen with every page until the target has
    # them all; only the controller's death lets the migration complete
    ("runc-lazy", "controller", "transferring"): ("committed", "h2", False),
    ("runc-lazy", "controller", "switching"): ("committed", "h2", False),
    ("runc-lazy", "controller", "verifying"): ("committed", "h2", False),
    ("runc-lazy", "source", "transferring"): ("rolled_back", "h1", True),
    ("runc-lazy", "source", "switching"): ("rolled_back", "h1", True),
    ("runc-lazy", "source", "verifying"): ("rolled_back", "h1", True),
    ("runc-lazy", "target", "transferring"): ("rolled_back", "h1", True),
    ("runc-lazy", "target", "switching"): ("rolled_back", "h1", True),
    # the target's copy ran without most of its pages: it goes with the
    # target, and the source, frozen with every page, resumes
    ("runc-lazy", "target", "verifying"): ("rolled_back", "h1", True),
    ("runc-lazy", "link", "transferring"): ("rolled_back", "h1", True),
    # the target runs its copy, whose pages cannot come: it discards it, the
    # source resumes
    ("runc-lazy", "link", "verifying"): ("rolled_back", "h1", True),
}
RESULTS = {}


@pytest.fixture(scope="module", autouse=True)
def print_the_matrix():
    """After the module's cells: their outcomes as a table, also in
    BUILD/fault-matrix-containers-more.txt."""
    yield
    harness.print_matrix("fault matrix, by hand (docker, podman: container, stop-copy; runc-lazy: container, lazy; "
                         "h1 -> h2):", EXPECTED, RESULTS, "fault-matrix-containers-more.txt")


ENGINE_CELLS = [key for key in EXPECTED if key[0] in ENGINES and key[2] != "-"]


@pytest.mark.parametrize("kind,fault,phase", ENGINE_CELLS, ids=["-".join(cell) for cell in ENGINE_CELLS])
def test_engine_fault_at_phase(make_cluster, kind, fault, phase):
    engine_fault_at_phase(make_cluster, kind, fault, phase, EXPECTED, RESULTS)


@pytest.mark.parametrize("kind", list(ENGINES))
def test_engine_corrupted_byte_is_detected(make_cluster, kind):
    if engines.engine_skip_reason(kind):
        pytest.skip(engines.engine_skip_reason(kind))
    c = engine_cluster(make_cluster, kind, {"h1": {"FLYT_FAULT": "corrupt:5"}})
    ct = EngineContainer(c, kind)
    t0 = time.monotonic()
    mig = c.migrate(NAME, "h2", "stop-copy")
    key = (kind, "corrupted byte", "-")
    record(key, mig, c, t0, RESULTS)
    err = (mig.get("error") or "").lower()
    assert "checksum" in err or "corrupt" in err, mig
    check_engine_cell(c, ct, mig, key, EXPECTED, RESULTS)


LAZY_CELLS = [key[1:] for key in EXPECTED if key[0] == "runc-lazy"]


@pytest.mark.skipif(kinds.runc_missing is not None, reason=kinds.runc_missing or "")
@pytest.mark.parametrize("fault,phase", LAZY_CELLS, ids=["%s-%s" % cell for cell in LAZY_CELLS])
def test_runc_lazy_fault_at_phase(make_cluster, monkeypatch, fault, phase):
    runc_lazy_fault_at_phase(make_cluster, monkeypatch, fault, phase, EXPECTED, RESULTS)
