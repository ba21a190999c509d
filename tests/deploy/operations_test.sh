#!/usr/bin/env bash
# Checks what the README's Operations section and the deployment files rely on, against a real server:
#   * tokens from GPT4REC_AUTH_TOKEN / GPT4REC_ADMIN_TOKEN (how systemd and Kubernetes pass them) are enforced:
#     no token -> UNAUTHENTICATED, the auth token on an admin RPC -> PERMISSION_DENIED, the admin token works;
#   * grpc.health.v1 answers SERVING WITHOUT a token (Docker HEALTHCHECK and the kubelet's gRPC probes send none);
#   * snapshot while running; a second snapshot into the same directory -> ALREADY_EXISTS;
#   * delete-user: the user becomes unknown (POPULAR);
#   * restore: a server started with --data_dir=<snapshot> is SERVING with the snapshot's model version at once
#     (no training), its counts, and the deleted user still in it (the snapshot predates the deletion).
#
# usage: operations_test.sh REPO_ROOT BUILD_DIR
set -euo pipefail
ROOT=$(realpath "$1")
BUILD=$(realpath "$2")
SERVER="$BUILD/bin/gpt4rec-server"
CLI="$BUILD/bin/gpt4rec-cli"
EVENTS="$ROOT/deploy/quickstart/events.csv"
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "operations_test: FAIL: $*"; [ -f "$tmp/server.log" ] && tail -n 20 "$tmp/server.log"; exit 1; }
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
addr="127.0.0.1:$port"

start() {  # start DATA_DIR: tokens from the environment, as the deployments pass them
  GPT4REC_AUTH_TOKEN=user-secret GPT4REC_ADMIN_TOKEN=admin-secret \
    "$SERVER" --addr="$addr" --data_dir="$1" --metrics_port=-1 >>"$tmp/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    "$CLI" health --addr="$addr" >/dev/null 2>&1 && return 0   # no token: probes must work like this
    kill -0 "$pid" 2>/dev/null || fail "server exited during start"
    sleep 0.2
  done
  fail "no SERVING within 60 s (health without a token)"
}
stop() {
  kill -TERM "$pid"; local rc=0; wait "$pid" || rc=$?; pid=
  [ "$rc" = 0 ] || fail "server exited with $rc on SIGTERM"
}
# cli EXPECTED_EXIT TOKEN_ENV... -- ARGS: runs gpt4rec-cli with exactly the given token variables.
cli() {
  local want=$1; shift
  local env=()
  while [ "$1" != -- ]; do env+=("$1"); shift; done; shift
  local rc=0
  out=$(env -u GPT4REC_AUTH_TOKEN -u GPT4REC_ADMIN_TOKEN "${env[@]}" "$CLI" --addr="$addr" "$@" 2>&1) || rc=$?
  [ "$rc" = "$want" ] || fail "gpt4rec-cli $* (${env[*]}): exit $rc, expected $want: $out"
}
USER_T=GPT4REC_AUTH_TOKEN=user-secret
ADMIN_T=GPT4REC_ADMIN_TOKEN=admin-secret

start "$tmp/var"
cli 1 -- stats;                          grep -q "code 16:" <<<"$out" || fail "no token: expected UNAUTHENTICATED (16): $out"
cli 1 GPT4REC_AUTH_TOKEN=wrong -- stats; grep -q "code 16:" <<<"$out" || fail "wrong token: expected UNAUTHENTICATED (16): $out"
cli 0 "$USER_T" -- ingest --quiet "$EVENTS"
cli 1 "$USER_T" -- close-segment;        grep -q "code 7:" <<<"$out" || fail "admin RPC with the auth token: expected PERMISSION_DENIED (7): $out"
cli 0 "$USER_T" "$ADMIN_T" -- close-segment
for _ in $(seq 1 120); do
  cli 0 "$USER_T" -- stats
  grep -q "model version 1," <<<"$out" && break
  sleep 1
done
grep -q "model version 1," <<<"$out" || fail "no model version 1 within 120 s: $out"
cli 0 "$USER_T" -- recommend --user=u1 --k=5
grep -q "source model" <<<"$out" || fail "u1 should be served by the model: $out"

cli 0 "$USER_T" "$ADMIN_T" -- snapshot --dir="$tmp/snap"
grep -q "^snapshot $tmp/snap (450 events, model version 1)" <<<"$out" || fail "snapshot reply: $out"
{ [ -d "$tmp/snap/graph" ] && [ -f "$tmp/snap/model/serving.bin" ]; } || fail "snapshot directory lacks graph/ or model/serving.bin"
cli 1 "$USER_T" "$ADMIN_T" -- snapshot --dir="$tmp/snap"
grep -q "code 6:" <<<"$out" || fail "snapshot into an existing directory: expected ALREADY_EXISTS (6): $out"

cli 0 "$USER_T" "$ADMIN_T" -- delete-user --user=u1
grep -q "^deleted u1 (15 edges removed)" <<<"$out" || fail "delete-user reply: $out"
cli 0 "$USER_T" -- recommend --user=u1 --k=5
grep -q "source popular" <<<"$out" || fail "a deleted user must be unknown (popular): $out"
cli 0 "$USER_T" -- stats
grep -q "users 29 " <<<"$out" || fail "stats after delete-user should count 29 users: $out"
stop

# Restore: the snapshot is a data directory.
start "$tmp/snap"
cli 0 "$USER_T" -- stats
grep -q "model version 1," <<<"$out" || fail "restored server should serve model version 1 at once: $out"
grep -q "users 30 .* events 450$" <<<"$out" || fail "restored counts: $out"
cli 0 "$USER_T" -- recommend --user=u1 --k=5
grep -q "model_version 1, source model" <<<"$out" || fail "restored u1 (snapshot predates the deletion): $out"
stop
echo "operations_test: OK (tokens from the environment, health without a token, snapshot, delete-user, restore)"
