#!/usr/bin/env bash
# Installs what is missing, builds flyt and runs the whole test suite:
#   1. formatting (clang-format) and shell scripts (shellcheck),
#   2. a build with warnings as errors, unit, integration and web UI (e2e) tests,
#   3. the same tests in an AddressSanitizer + UndefinedBehaviorSanitizer build,
#      but for the longest ones (suite 'long': the fault matrix, Podman, the VM
#      suites, the browser scenarios and the UI benchmark), which run in step 2
#      only, to keep the whole run near 30 minutes,
#   4. the controller under valgrind through the API, CLI and reconciliation tests,
#   5. a short, reproducible run of each libFuzzer target (clang, sanitizers).
# Needs root (CRIU, namespaces). Build directories: build-test/, build-asan/,
# build-fuzz/.
#
# Usage: scripts/test.sh [--quick]   (--quick: skip the sanitizer, valgrind and fuzz runs)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

step() { printf '\n==> %s\n' "$*"; }

step "setup"
scripts/setup.sh

step "format and shell checks"
scripts/check-style.sh

configure() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}

# Runs meson test in build directory $1 with the rest as arguments; a test that
# reports itself skipped (exit status 77), or a pytest test that skips
# (FLYT_NO_SKIP, see tests/integration/harness.py), fails the run: this script
# installs everything the suite needs, so a skip here means a test did not run.
run_tests() {
	local dir=$1
	shift
	FLYT_NO_SKIP=1 meson test -C "$dir" --print-errorlogs --no-rebuild "$@"
	python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
skipped = [t["name"] for t in map(json.loads, open(sys.argv[1])) if t.get("result") == "SKIP"]
if skipped:
    sys.exit("test.sh: skipped, which counts as failed here: " + ", ".join(skipped))
PY
}

step "build (warnings are errors)"
configure build-test -Dwerror=true -Dbuildtype=debugoptimized -Db_sanitize=none -Dui=enabled
ninja -C build-test

step "unit, integration and web UI tests"
run_tests build-test --suite unit --suite integration --suite e2e

if [ "$quick" = 0 ]; then
	step "build with AddressSanitizer and UndefinedBehaviorSanitizer"
	configure build-asan -Dwerror=true -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dui=enabled
	ninja -C build-asan
	step "unit, integration and web UI tests under the sanitizers"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run_tests build-asan --suite unit --suite integration --suite e2e --no-suite long
	step "the controller under valgrind (memory errors, definite leaks)"
	FLYT_VALGRIND=controller run_tests build-test integration-cli integration-reconcile
	step "fuzz targets: a fixed number of inputs each, from a fixed seed"
	if [ ! -f build-fuzz/build.ninja ]; then
		CC=clang meson setup build-fuzz -Dfuzz=true -Dintegration=false -Dwerror=true -Dbuildtype=debug \
			-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	fi
	ninja -C build-fuzz
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run_tests build-fuzz --suite fuzz
fi
step "all tests passed"
