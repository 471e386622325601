#!/bin/sh
# Runs one libFuzzer target for a fixed number of inputs from a fixed seed,
# starting from the committed corpus. New inputs go to a scratch directory that
# is removed afterwards (the committed corpus is only read); a crash leaves its
# input as crash-* in the current directory and fails the test.
# usage: run.sh TARGET CORPUS_DIR RUNS [LIBFUZZER_OPTION...]
set -eu
target=$1 corpus=$2 runs=$3
shift 3
scratch=$(mktemp -d /tmp/flyt-fuzz-corpus-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
# libFuzzer's default exit status for a crash or a timeout is 77, which meson
# reads as "skipped": make every finding a failure
"$target" -seed=1 -runs="$runs" -max_len=65536 -timeout=30 -rss_limit_mb=4096 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-print_final_stats=1 "$@" "$scratch" "$corpus"
