#!/usr/bin/env bash
# Reruns the simulations whose results docs/energy.md shows: the policies over
# the recorded DK1/DK2 spot prices of 2021-01 to 2024-03, for the fleets of
# docs/energy/, and writes the plots there. Prints one summary line per run.
#
# Usage: scripts/simulate-dk.sh [BUILD_DIR] [DATA_DIR]
#   (defaults: build, /work/shared/data/energy)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
data=${2:-/work/shared/data/energy}
flyt="$build/src/cli/flyt"
prices="$data/mbml_Elspotprices_DK1_DK2_2021-01_2024-03.csv"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

summary() {
	python3 -c '
import json, sys
j = json.load(sys.stdin)
f = j["fleet"]
print("%-44s moves %4d flaps %3d | workloads %7.2f vs %7.2f EUR (%4.1f%%) | fleet %7.2f vs %7.2f EUR (%4.2f%%)" % (
    sys.argv[1], j["moves"], j["flaps"], j["cost"], j["cost_stay"], 100 * (j["cost_stay"] - j["cost"]) / j["cost_stay"],
    f["cost"], f["cost_stay"], 100 * (f["cost_stay"] - f["cost"]) / f["cost_stay"]))' "$1"
}

oracle=(--set min_gain_pct=0 --set min_gain_abs=0 --set min_dwell_ms=0 --set max_per_hour=100)
for fleet in fleet-dk-one fleet-dk; do
	"$flyt" simulate --signals "$prices" --policy cheapest --fleet "docs/energy/$fleet.json" --json |
		summary "$fleet cheapest (default thresholds)"
	"$flyt" simulate --signals "$prices" --policy cheapest --fleet "docs/energy/$fleet.json" "${oracle[@]}" --json |
		summary "$fleet cheapest (no thresholds)"
	"$flyt" simulate --signals "$prices" --policy band --fleet "docs/energy/$fleet.json" --json |
		summary "$fleet band (5 % over 5 days)"
done

"$flyt" simulate --signals "$prices" --policy cheapest --fleet docs/energy/fleet-dk-one.json --out "$out/c" >/dev/null
cp "$out/c/signals.svg" docs/energy/cheapest-2021-2024-signals.svg
cp "$out/c/cumulative.svg" docs/energy/cheapest-2021-2024-cumulative.svg
"$flyt" simulate --signals "$prices" --policy cheapest --fleet docs/energy/fleet-dk-one.json \
	--from 2022-08-01 --to 2022-08-15 --out "$out/a" >/dev/null
cp "$out/a/signals.svg" docs/energy/cheapest-2022-08-signals.svg
"$flyt" simulate --signals "$prices" --policy band --fleet docs/energy/fleet-dk-one.json --out "$out/b" >/dev/null
cp "$out/b/cumulative.svg" docs/energy/band-2021-2024-cumulative.svg
echo "plots written to docs/energy/"
