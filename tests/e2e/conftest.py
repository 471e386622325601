"""pytest glue for the web UI tests: one harness cluster per test module (the
browser scenarios and the API checks share it; each test uses workloads of its
own), torn down at the end, kept with its logs when a test failed.

Fixtures:
    ui_cluster   a Cluster with hosts h1, h2 online and h3 offline (its agent
                 killed), controller with --offline-after 2000
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

import pytest  # noqa: E402

import harness  # noqa: E402


def pytest_configure(config):
    def report(text):
        capman = config.pluginmanager.getplugin("capturemanager")
        if capman:
            capman.suspend_global_capture(in_=False)
        sys.stderr.write(text)
        sys.stderr.flush()
    harness.report = report


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    c = getattr(item.module, "_flyt_cluster", None)
    if rep.failed and c is not None:
        c.failed = True
        rep.sections.append(("flyt cluster", c.describe()))


@pytest.fixture(scope="module")
def ui_cluster(request):
    reason = harness.skip_reason()
    if reason:
        pytest.fail("the UI tests cannot run here: %s" % reason, pytrace=False)
    c = harness.Cluster(hosts=3, name=request.module.__name__, controller_args=["--offline-after", "2000"])
    request.module._flyt_cluster = c
    try:
        c.kill_agent("h3")
        harness.wait_for(lambda: c.api("GET", "/api/v1/hosts/h3").json.get("state") == "offline", 60,
                         "h3 to be offline")
        yield c
    finally:
        c.teardown()
        if c.failed:
            sys.stderr.write("\nflyt: %s failed; its cluster directory is kept in %s\n" % (request.module.__name__,
                                                                                             c.tmp))
    if c.sanitizer_errors:
        pytest.fail("sanitizer reports in the logs of flyt's daemons:\n\n" + "\n\n".join(c.sanitizer_errors),
                    pytrace=False)
