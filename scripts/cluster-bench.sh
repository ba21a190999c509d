#!/usr/bin/env bash
# gpt4rec-bench cluster on one machine: starts a 3-node NATS cluster (JetStream) and 3 cluster-mode replicas on
# 127.0.0.1 (free ports, data in a temporary directory), runs the benchmark against them, stops everything.
#   scripts/cluster-bench.sh [BUILD_DIR] [benchmark flags, e.g. --events=300000 --threads=8]
# KEEP_DIR=1 keeps the temporary directory (NATS and replica logs); LOG_LEVEL=info makes the replicas talk.
# MODEL_FLAGS: the replicas' training flags (default one epoch: the bench measures propagation, not training).
set -euo pipefail
BUILD_DIR=${1:-build}
shift || true
BIN="$BUILD_DIR/bin/gpt4rec-bench"
[ -x "$BUILD_DIR/bin/gpt4rec-cluster-bench" ] && BIN="$BUILD_DIR/bin/gpt4rec-cluster-bench"
SERVER="$BUILD_DIR/bin/gpt4rec-server"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP_DIR:-}" ]; then echo "cluster-bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
free_ports() {  # N ports the kernel hands out now
  /usr/bin/python3 -c 'import socket,sys
s=[socket.socket() for _ in range(int(sys.argv[1]))]
[x.bind(("127.0.0.1",0)) for x in s]; print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"
}
read -r -a ports <<<"$(free_ports 9)"
routes="nats://127.0.0.1:${ports[3]},nats://127.0.0.1:${ports[4]},nats://127.0.0.1:${ports[5]}"
log="nats://127.0.0.1:${ports[0]},nats://127.0.0.1:${ports[1]},nats://127.0.0.1:${ports[2]}"
for i in 0 1 2; do
  nats-server -a 127.0.0.1 -p "${ports[$i]}" -n "n$i" -js -sd "$tmp/n$i" --cluster_name bench \
    --cluster "nats://127.0.0.1:${ports[$((i + 3))]}" --routes "$routes" -l "$tmp/n$i.log" &
  pids+=($!)
done
read -r -a model_flags <<<"${MODEL_FLAGS---max_epochs=1 --min_epochs=1}"
replicas=""
for r in 0 1 2; do
  addr="127.0.0.1:${ports[$((r + 6))]}"
  "$SERVER" --addr="$addr" --data_dir="$tmp/replica$r" --metrics_port=-1 --log_level="${LOG_LEVEL:-warn}" --log="$log" \
    --log_stream=GPT4REC_BENCH "${model_flags[@]}" >"$tmp/replica$r.out" 2>"$tmp/replica$r.log" &
  pids+=($!)
  replicas="${replicas:+$replicas,}$addr"
done
# Ready when one write is acknowledged (stream created, its RAFT group has a leader).
for _ in $(seq 1 300); do
  if "$BUILD_DIR/bin/gpt4rec-cli" ingest --addr="${replicas%%,*}" deploy/quickstart/events.csv >/dev/null 2>&1; then
    break
  fi
  sleep 0.2
done
"$BIN" cluster --replicas="$replicas" --nats="$log" "$@"
