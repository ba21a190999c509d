#!/usr/bin/env bash
# make run: starts gpt4rec-server in the foreground on a local address with its data under DATA_DIR, waits
# until it answers SERVING on grpc.health.v1, prints where it listens and what to try next; Ctrl-C stops it
# gracefully (drain in-flight calls, flush RocksDB).
#
# usage: scripts/run-server.sh BUILD_DIR DATA_DIR ADDR METRICS_PORT [extra gpt4rec-server flags...]
# Extra flags also come from $GPT4REC_FLAGS (space-separated), e.g. GPT4REC_FLAGS=--segment=day make run
set -euo pipefail
BUILD_DIR=${1:-build}
DATA_DIR=${2:-./var}
ADDR=${3:-127.0.0.1:50051}
METRICS_PORT=${4:-9464}
shift $(( $# < 4 ? $# : 4 ))

SERVER="$BUILD_DIR/bin/gpt4rec-server"
CLI="$BUILD_DIR/bin/gpt4rec-cli"
for b in "$SERVER" "$CLI"; do
  [ -x "$b" ] || { echo "run-server: $b not built (run: make build)" >&2; exit 1; }
done
mkdir -p "$DATA_DIR"

# shellcheck disable=SC2206  # word splitting of GPT4REC_FLAGS is intended
extra=(${GPT4REC_FLAGS:-} "$@")
# The server runs in its own session, so a Ctrl-C on the terminal reaches only this script, which forwards exactly
# one SIGTERM per Ctrl-C (the server drains on the first and exits at once on a second, as documented).
setsid "$SERVER" --addr="$ADDR" --data_dir="$DATA_DIR" --metrics_bind=127.0.0.1 --metrics_port="$METRICS_PORT" \
  "${extra[@]}" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM

ready=0
for _ in $(seq 1 600); do
  kill -0 "$pid" 2>/dev/null || break
  if "$CLI" health --addr="$ADDR" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
if [ "$ready" != 1 ]; then
  if kill -0 "$pid" 2>/dev/null; then
    echo "run-server: no SERVING answer from $ADDR after 120 s; stopping" >&2
    kill -TERM "$pid" 2>/dev/null || true
  fi
  wait "$pid" || true
  exit 1
fi

metrics="http://127.0.0.1:$METRICS_PORT/metrics"
dashboard="http://127.0.0.1:$METRICS_PORT/?user=u1"
[ "$METRICS_PORT" -ge 0 ] 2>/dev/null || { metrics="off"; dashboard="off"; }
cat <<EOF

  gpt4rec-server is SERVING (pid $pid)
    gRPC      $ADDR   (gpt4rec.v1.Recommender, grpc.health.v1, server reflection)
    metrics   $metrics
    dashboard $dashboard
    data      $DATA_DIR

  Next, in another terminal (the README's quickstart):
    $CLI health --addr=$ADDR
    $CLI ingest --addr=$ADDR deploy/quickstart/events.csv
    $CLI close-segment --addr=$ADDR
    $CLI stats --addr=$ADDR
    $CLI recommend --addr=$ADDR --user=u1 --k=5

  Ctrl-C stops the server (drains in-flight calls, flushes the store).

EOF
set +e
wait "$pid"
rc=$?
# wait returns early when a trapped signal arrives; wait again until the server has really exited.
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; rc=$?; done
exit "$rc"
