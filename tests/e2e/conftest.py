"""pytest glue for the web UI tests: one harness cluster per test module (the
browser scenarios and the API checks share it; each test uses workloads of its
own), torn down at the end, kept with its logs when a test failed.

Fixtures:
    ui_cluster   a Cluster with hosts h1, h2 online and h3 offline (its agent
                 killed), controller with --offline-after 2000, the policy run
                 every second, and replayed energy signals around the present
                 (signal_files: constant values per area, see SIGNALS)
"""
import datetime
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

import pytest  # noqa: E402

import harness  # noqa: E402


def pytest_configure(config):
    harness.install_reporter(config)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    harness.fail_if_skipped(rep)
    c = getattr(item.module, "_flyt_cluster", None)
    if rep.failed and c is not None:
        c.failed = True
        rep.sections.append(("flyt cluster", c.describe()))


# The energy signals the UI tests' controller replays, constant per area: CO2
# in g/kWh, the price in EUR/MWh (DKK at 7.45). DK1 and DK2 have values from a
# day before the cluster starts to two days after; SE3's ended a day before it
# started, so SE3 is stale (no value now).
SIGNALS = {"DK1": {"co2": 200, "eur": 80.0}, "DK2": {"co2": 50, "eur": 40.0}, "SE3": {"co2": 20, "eur": 30.0}}
EUR_DKK = 7.45


def write_signal_files(directory):
    """CO2Emis (5 minutes) and Elspotprices (hourly) CSV files in the service's
    download form (';', decimal commas); returns their paths."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    spans = {"DK1": (now - datetime.timedelta(days=1), now + datetime.timedelta(days=2)),
             "DK2": (now - datetime.timedelta(days=1), now + datetime.timedelta(days=2)),
             "SE3": (now - datetime.timedelta(days=2), now - datetime.timedelta(days=1))}
    dk = datetime.timedelta(hours=1)  # the local-time column: any whole-hour offset
    fmt = "%Y-%m-%d %H:%M"
    co2 = ["Minutes5UTC;Minutes5DK;PriceArea;CO2Emission"]
    prices = ["HourUTC;HourDK;PriceArea;SpotPriceDKK;SpotPriceEUR"]
    for area, (start, end) in spans.items():
        v = SIGNALS[area]
        t = start
        while t < end:
            co2.append("%s;%s;%s;%s" % (t.strftime(fmt), (t + dk).strftime(fmt), area, ("%.6f" % v["co2"]).replace(
                ".", ",")))
            if t.minute == 0:
                prices.append("%s;%s;%s;%s;%s" % (t.strftime(fmt), (t + dk).strftime(fmt), area,
                                                  ("%.6f" % (v["eur"] * EUR_DKK)).replace(".", ","),
                                                  ("%.6f" % v["eur"]).replace(".", ",")))
            t += datetime.timedelta(minutes=5)
    paths = []
    for name, lines in (("co2.csv", co2), ("prices.csv", prices)):
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def ui_cluster(request):
    reason = harness.skip_reason()
    if reason:
        pytest.fail("the UI tests cannot run here: %s" % reason, pytrace=False)
    signals_dir = tempfile.mkdtemp(prefix="flyt-ui-signals-", dir="/tmp")
    os.chmod(signals_dir, 0o755)
    args = ["--offline-after", "2000", "--policy-interval", "1000"]
    for path in write_signal_files(signals_dir):
        args += ["--signals-file", path]
    try:
        c = harness.Cluster(hosts=3, name=request.module.__name__, controller_args=args)
    except BaseException:
        shutil.rmtree(signals_dir, ignore_errors=True)
        raise
    request.module._flyt_cluster = c
    try:
        c.kill_agent("h3")
        harness.wait_for(lambda: c.api("GET", "/api/v1/hosts/h3").json.get("state") == "offline", 60,
                         "h3 to be offline")
        yield c
    finally:
        c.teardown()
        shutil.rmtree(signals_dir, ignore_errors=True)
        if c.failed:
            sys.stderr.write("\nflyt: %s failed; its cluster directory is kept in %s\n" % (request.module.__name__,
                                                                                             c.tmp))
    if c.sanitizer_errors:
        pytest.fail("sanitizer reports in the logs of flyt's daemons:\n\n" + "\n\n".join(c.sanitizer_errors),
                    pytrace=False)
