#!/usr/bin/env bash
# make bench: runs every registered benchmark with its defaults; each prints one JSON line last.
set -euo pipefail
BUILD_DIR=${1:-build}
BIN="$BUILD_DIR/bin/gpt4rec-bench"
mkdir -p out/bench
for name in $("$BIN" --help | awk '/^  [a-z]/{print $1}'); do
  echo "== gpt4rec-bench $name" >&2
  "$BIN" "$name" | tee "out/bench/$name.log" | tail -n 1
done
