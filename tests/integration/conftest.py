"""pytest glue for the flyt integration tests: the cluster fixtures, skipping where
they cannot run, and keeping a failed test's cluster directory for debugging.

Fixtures:
    cluster        a Cluster with two hosts (h1, h2)
    make_cluster   make_cluster(hosts=2, agent_args=[...], host_args={"h2": [...]}) for
                   tests that need another shape; every cluster made is torn down
See harness.py for what a Cluster offers."""
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
