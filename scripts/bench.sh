#!/usr/bin/env bash
# make bench: runs every registered benchmark with its defaults; each prints one JSON line last.
set -euo pipefail
BUILD_DIR=${1:-build}
BIN="$BUILD_DIR/bin/gpt4rec-bench"
mkdir -p out/bench
for name in $("$BIN" --help | awk '/^  [a-z]/{print $1}'); do
  [ "$name" = cluster ] && continue  # needs a NATS cluster and replicas: scripts/cluster-bench.sh, below
  echo "== gpt4rec-bench $name" >&2
  "$BIN" "$name" | tee "out/bench/$name.log" | tail -n 1
done
# The storage benchmark once more at the size issue 13 sets its goals for (20 M events, 12.7 M edges; minutes and
# ~5 GB of RAM).
echo "== gpt4rec-bench storage --events=20000000 --users=2000000 --items=500000" >&2
"$BIN" storage --events=20000000 --users=2000000 --items=500000 | tee out/bench/storage-20m.log | tail -n 1
echo "== gpt4rec-bench cluster (scripts/cluster-bench.sh: 3 NATS nodes, 3 replicas on 127.0.0.1)" >&2
scripts/cluster-bench.sh "$BUILD_DIR" | tee out/bench/cluster.log | tail -n 1
