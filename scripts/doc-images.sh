#!/usr/bin/env bash
# Copies the screenshots the web UI's browser tests wrote (tests/e2e/ui.mjs) into
# docs/img/ for the user guide, made smaller with pngquant (lossy palette
# reduction; the UI's flat colours survive it). Run the browser tests first:
#   meson test -C build --suite e2e
#   scripts/doc-images.sh [ARTIFACTS_DIR]    (default: build/tests/e2e/artifacts)
# Needs pngquant (scripts/setup.sh installs it with the test packages).
set -euo pipefail
cd "$(dirname "$0")/.."

src=${1:-build/tests/e2e/artifacts}
out=docs/img
# the screenshots the guide shows, by the name ui.mjs gives them
images=(
	signin
	workloads-paged
	workload-migrating
	add-form-errors
	add-json-errors
	migrations-running
	migration-failed
	view-workload-phone
	hosts-energy
	workload-policy
	add-old-spec-errors
	decisions
	settings-policy-server-error
)

if ! command -v pngquant >/dev/null 2>&1; then
	echo "doc-images: pngquant is missing (apt-get install pngquant, or scripts/setup.sh)" >&2
	exit 1
fi
mkdir -p "$out"
for name in "${images[@]}"; do
	if [ ! -f "$src/$name.png" ]; then
		echo "doc-images: $src/$name.png is missing: run the browser tests first (meson test -C build --suite e2e)" >&2
		exit 1
	fi
	pngquant --quality 60-85 --speed 1 --strip --force --output "$out/ui-$name.png" "$src/$name.png"
	printf 'doc-images: %s (%d bytes)\n' "$out/ui-$name.png" "$(stat -c %s "$out/ui-$name.png")"
done
