"""pytest glue for the flyt integration tests: the cluster fixtures, skipping where
they cannot run, and keeping a failed test's cluster directory for debugging.

Fixtures:
    cluster        a Cluster with two hosts (h1, h2)
    make_cluster   make_cluster(hosts=2, agent_args=[...], host_args={"h2": [...]}) for
                   tests that need another shape; every cluster made is torn down
    guest          the tests' tiny VM (scripts/build-guest.sh), built once:
                   {"kernel": PATH, "initrd": PATH}
See harness.py for what a Cluster offers."""
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import pytest  # noqa: E402

import harness  # noqa: E402


def pytest_configure(config):
    harness.install_reporter(config)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    harness.fail_if_skipped(rep)
    if rep.failed:
        for c in getattr(item, "_flyt_clusters", []):
            c.failed = True
            rep.sections.append(("flyt cluster", c.describe()))


@pytest.fixture
def make_cluster(request):
    reason = harness.skip_reason()
    if reason:
        pytest.skip(reason)
    made = []
    request.node._flyt_clusters = made

    def make(**kw):
        kw.setdefault("name", request.node.nodeid)
        c = harness.Cluster(**kw)
        made.append(c)
        return c

    yield make
    reports = []
    for c in reversed(made):
        c.teardown()
        reports += c.sanitizer_errors
        if c.failed:
            capman = request.config.pluginmanager.getplugin("capturemanager")
            msg = "\nflyt: %s failed; its cluster directory (logs, state) is kept in %s\n" % (request.node.nodeid,
                                                                                          c.tmp)
            if capman:
                with capman.global_and_fixture_disabled():
                    sys.stderr.write(msg)
            else:
                sys.stderr.write(msg)
    if reports:
        pytest.fail("sanitizer reports in the logs of flyt's daemons:\n\n" + "\n\n".join(reports), pytrace=False)


@pytest.fixture
def cluster(make_cluster):
    return make_cluster()


@pytest.fixture(scope="session")
def guest():
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed (scripts/setup.sh installs it)")
    guest_dir = os.environ.get("FLYT_GUEST_DIR", "/var/cache/flyt/guest")
    subprocess.run([os.path.join(harness.SOURCE_ROOT, "scripts", "build-guest.sh"), guest_dir], check=True,
                   timeout=600)
    return {"kernel": os.path.join(guest_dir, "vmlinuz"), "initrd": os.path.join(guest_dir, "initrd.img")}
