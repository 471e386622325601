#!/usr/bin/env bash
# Fails when a C file is not formatted as .clang-format says, or when shellcheck
# finds a problem in the scripts. Fix formatting with: scripts/check-style.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t c_files < <(git ls-files '*.c' '*.h' 2>/dev/null || find src tests bench -name '*.[ch]')
if [ "${1:-}" = "--fix" ]; then
	clang-format -i "${c_files[@]}"
	exit 0
fi
clang-format --dry-run --Werror "${c_files[@]}"
mapfile -t sh_files < <(git ls-files '*.sh' .ci/run 2>/dev/null || find scripts -name '*.sh')
shellcheck -x "${sh_files[@]}"
echo "style: ${#c_files[@]} C files formatted, ${#sh_files[@]} scripts clean"
