"""`flyt simulate` as a user runs it, on the recorded Energi Data Service files
(shared data, option energy_data): the JSON contract, the plots and CSV of
--out, every input format read by itself (the service's ';'/decimal-comma CSV,
older ','-separated exports, and its JSON answers, which this test writes from
the CSV rows), and its usage errors. Needs no root and no controller (--fleet)."""
import csv
import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

CLI = os.environ.get("FLYT_CLI") or os.path.join(os.environ.get("FLYT_BUILD_DIR", "build"), "src", "cli", "flyt")
DATA = os.environ.get("FLYT_ENERGY_DATA", "/work/shared/data/energy")
PRICES = os.path.join(DATA, "mbml_Elspotprices_DK1_DK2_2021-01_2024-03.csv")
CO2 = os.path.join(DATA, "evgeniiavak_CO2EmisProg_DK1_DK2_2019-11-14.csv")
PRICES_2019 = os.path.join(DATA, "evgeniiavak_Elspotprices_multiarea_2019-11-14.csv")

FLEET = {
    "hosts": [{"name": "dk1", "area": "DK1", "idle_watts": 100, "max_watts": 300, "cpus": 8},
              {"name": "dk2", "area": "DK2", "idle_watts": 100, "max_watts": 300, "cpus": 8}],
    "workloads": [{"name": "app", "host": "dk1", "cpu_cores": 4}, {"name": "db", "host": "dk2", "cpu_cores": 2}],
}


def simulate(*args, check=True):
    r = subprocess.run([CLI, "simulate"] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, stdin=subprocess.DEVNULL, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError("flyt simulate exited %d: %s" % (r.returncode, r.stderr))
    return r


@pytest.fixture
def fleet(tmp_path):
    for f in (PRICES, CO2, PRICES_2019):
        if not os.path.exists(f):
            pytest.fail("recorded data missing: %s (meson option energy_data)" % f)
    p = tmp_path / "fleet.json"
    p.write_text(json.dumps(FLEET))
    return str(p)


def test_cheapest_month_contract_and_plots(fleet, tmp_path):
    out = tmp_path / "out"
    r = simulate("--signals", PRICES, "--from", "2022-08-01", "--to", "2022-09-01", "--policy", "cheapest",
                 "--fleet", fleet, "--out", out, "--json")
    j = json.loads(r.stdout)
    for k in ("moves", "flaps", "co2_kg", "co2_kg_stay", "cost", "cost_stay", "areas", "from", "to"):
        assert k in j, k
    assert j["from"] == "2022-08-01T00:00:00Z" and j["to"] == "2022-09-01T00:00:00Z", j
    assert sorted(j["areas"]) == ["DK1", "DK2"], j["areas"]
    assert j["co2_kg"] is None and j["co2_kg_stay"] is None, "CO2 without a CO2 signal"
    assert j["moves"] > 0 and j["cost"] <= j["cost_stay"], (j["moves"], j["cost"], j["cost_stay"])
    assert j["flaps"] <= j["moves"]
    for name in ("result.json", "moves.csv", "signals.svg", "cumulative.svg"):
        assert (out / name).stat().st_size > 0, name
    for name in ("signals.svg", "cumulative.svg"):
        root = ET.parse(str(out / name)).getroot()
        assert root.tag.endswith("svg"), root.tag
    rows = list(csv.reader(open(str(out / "moves.csv")), delimiter=";"))
    assert len(rows) == j["moves"] + 1, "one CSV row per move plus the header"
    assert json.loads((out / "result.json").read_text())["moves"] == j["moves"]

    # the text report says the same
    r = simulate("--signals", PRICES, "--from", "2022-08-01", "--to", "2022-09-01", "--policy", "cheapest",
                 "--fleet", fleet)
    assert "moves: %d " % j["moves"] in r.stdout, r.stdout


def test_every_format(fleet, tmp_path):
    # the service's JSON answer of the same rows gives the same result as its CSV
    records = []
    with open(PRICES, newline="") as f:
        for row in csv.DictReader(f, delimiter=";"):
            if "2023-02-01" <= row["HourUTC"] < "2023-02-08":
                records.append({"HourUTC": row["HourUTC"].replace(" ", "T") + ":00",
                                "HourDK": row["HourDK"].replace(" ", "T") + ":00", "PriceArea": row["PriceArea"],
                                "SpotPriceDKK": float(row["SpotPriceDKK"].replace(",", ".")),
                                "SpotPriceEUR": float(row["SpotPriceEUR"].replace(",", "."))})
    assert len(records) == 7 * 24 * 2
    jf = tmp_path / "answer.json"
    jf.write_text(json.dumps({"total": len(records), "limit": 1000, "dataset": "Elspotprices", "records": records}))
    args = ["--from", "2023-02-01", "--to", "2023-02-08", "--policy", "cheapest", "--fleet", fleet, "--json"]
    a = json.loads(simulate("--signals", PRICES, *args).stdout)
    b = json.loads(simulate("--signals", str(jf), *args).stdout)
    for k in ("moves", "flaps", "cost", "cost_stay"):
        assert a[k] == b[k], (k, a[k], b[k])

    # the 2019 exports (',' and decimal points): CO2 forecast and prices together
    j = json.loads(simulate("--signals", CO2, "--signals", PRICES_2019, "--policy", "greenest", "--fleet", fleet,
                            "--json").stdout)
    assert j["co2_kg"] is not None and j["co2_kg_stay"] is not None, j
    # DK1 and DK2 have the same forecast at every time in this file: nothing to gain
    assert j["moves"] == 0 and j["co2_kg"] == j["co2_kg_stay"], j
    assert j["cost"] is not None


def test_errors(fleet, tmp_path):
    r = simulate("--signals", PRICES, "--policy", "greenest", "--fleet", fleet, check=False)
    assert r.returncode == 1 and "co2" in r.stderr, r.stderr
    r = simulate("--signals", PRICES, "--policy", "fastest", "--fleet", fleet, check=False)
    assert r.returncode == 2 and "policy" in r.stderr, r.stderr
    r = simulate("--policy", "cheapest", "--fleet", fleet, check=False)
    assert r.returncode == 2 and "--signals" in r.stderr, r.stderr
    r = simulate("--signals", PRICES, "--policy", "cheapest", "--fleet", fleet, "--from", "2022-02-30", check=False)
    assert r.returncode == 2 and "--from" in r.stderr, r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("HourUTC;HourDK;PriceArea;SpotPriceDKK;SpotPriceEUR\n2022-01-01 00:00;2022-01-01 01:00;DK1;x;1\n")
    r = simulate("--signals", str(bad), "--policy", "cheapest", "--fleet", fleet, check=False)
    assert r.returncode == 1 and "bad.csv" in r.stderr, r.stderr
