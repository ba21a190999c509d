#!/usr/bin/env bash
# Runs the README's quickstart as written, so the README cannot drift from what works.
#
# usage: quickstart_test.sh REPO_ROOT BUILD_DIR
#
# 1. Starts the server the way `make run` does (scripts/run-server.sh BUILD_DIR DATA_DIR ADDR METRICS_PORT), with a
#    fresh data directory and free ports instead of ./var, 50051 and 9464 (so it cannot collide with a server
#    someone is running), and waits for SERVING through `gpt4rec-cli health`.
# 2. Takes the command lines between <!-- quickstart:begin --> and <!-- quickstart:end --> in README.md and runs
#    each one, replacing only `build/` with BUILD_DIR and 127.0.0.1:50051 with the chosen address. Every line must
#    exit 0. As the README says, a `stats` line is repeated until it shows model version 1.
# 3. Checks what the README promises of their output: health says SERVING; ingest acknowledges every event of the
#    file; the segment closes with them; stats counts them; recommend returns k items from the trained model, none
#    of which the user has already seen in the file; /metrics counts the events and exposes exactly the metric
#    families the README's metrics table lists.
# 4. Checks that run-server.sh's "next commands" are the README's block, stops the server with SIGTERM (as Ctrl-C
#    would), and requires a clean exit and that the server no longer answers.
set -euo pipefail
ROOT=$(realpath "$1")
BUILD=$(realpath "$2")
cd "$ROOT"
CLI="$BUILD/bin/gpt4rec-cli"
fail() { echo "quickstart_test: FAIL: $*" >&2; [ -f "${log:-}" ] && { echo "--- server log:" >&2; tail -n 30 "$log" >&2; }; exit 1; }

# --- the README block ---
mapfile -t lines < <(awk '/<!-- quickstart:begin -->/{on=1; next} /<!-- quickstart:end -->/{on=0} on' README.md |
                     grep -v '^```' | sed -e 's/[[:space:]]*#.*$//' | grep -v '^[[:space:]]*$')
[ ${#lines[@]} -ge 3 ] || fail "README.md has no quickstart block with commands (<!-- quickstart:begin --> ... end)"
for sub in health ingest recommend; do
  printf '%s\n' "${lines[@]}" | grep -q "gpt4rec-cli $sub" || fail "the README quickstart does not run 'gpt4rec-cli $sub'"
done

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
metrics_port=$(free_port)
addr="127.0.0.1:$port"
tmp=$(mktemp -d)
log="$tmp/server.log"
server_pid=
cleanup() {  # on failure: stop run-server.sh and the server it started in its own session (pid from its banner)
  local spid; spid=$(grep -o 'is SERVING (pid [0-9]*' "$log" 2>/dev/null | grep -o '[0-9]*$' || true)
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -TERM "$server_pid"; sleep 2; kill -KILL "$server_pid" 2>/dev/null || true; fi
  if [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null; then kill -KILL "$spid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- 1. start as `make run` does ---
scripts/run-server.sh "$BUILD" "$tmp/var" "$addr" "$metrics_port" >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q "is SERVING" "$log" && break
  kill -0 "$server_pid" 2>/dev/null || fail "run-server.sh exited before SERVING"
  sleep 0.2
done
grep -q "is SERVING" "$log" || fail "no SERVING banner from run-server.sh within 60 s"
"$CLI" health --addr="$addr" | grep -qx SERVING || fail "gpt4rec-cli health does not say SERVING"

# --- 2 + 3. run the block ---
run_line() {  # the README line, with only the build dir and the address replaced
  local cmd=${1//127.0.0.1:50051/$addr}
  cmd=$(sed -E "s#(^|[[:space:]])build/#\\1$BUILD/#g" <<<"$cmd")
  bash -c "$cmd"
}
csv=
for line in "${lines[@]}"; do
  echo "\$ $line"
  out=$(run_line "$line" 2>"$tmp/stderr") || fail "'$line' exited non-zero: $(cat "$tmp/stderr")"
  if [[ $line == *"gpt4rec-cli stats"* ]]; then
    for _ in $(seq 1 120); do
      grep -q "model version [1-9]" <<<"$out" && break
      sleep 1
      out=$(run_line "$line" 2>"$tmp/stderr") || fail "'$line' exited non-zero: $(cat "$tmp/stderr")"
    done
  fi
  echo "$out"
  case "$line" in
    *"gpt4rec-cli health"*)
      grep -qx SERVING <<<"$out" || fail "health: expected SERVING, got: $out" ;;
    *"gpt4rec-cli ingest"*)
      csv=$(awk '{print $NF}' <<<"$line")
      [ -f "$csv" ] || fail "ingest: the README's file $csv does not exist"
      events=$(( $(wc -l <"$csv") - 1 ))
      grep -q "^ingested $events events (0 duplicates)" <<<"$out" || fail "ingest: expected $events events acknowledged, got: $out" ;;
    *"gpt4rec-cli close-segment"*)
      grep -q "^closed segment 0 ($events events)" <<<"$out" || fail "close-segment: expected segment 0 with $events events, got: $out" ;;
    *"gpt4rec-cli stats"*)
      grep -q "model version 1," <<<"$out" || fail "stats: no model version 1 within 120 s: $out"
      grep -q "events $events\$" <<<"$out" || fail "stats: expected $events events: $out" ;;
    *"gpt4rec-cli recommend"*)
      user=$(grep -o -- '--user=[^ ]*' <<<"$line" | cut -d= -f2)
      k=$(grep -o -- '--k=[0-9]*' <<<"$line" | cut -d= -f2)
      grep -q "^user $user: $k items, model_version 1, source model" <<<"$out" || fail "recommend: expected $k items from model version 1: $out"
      [ "$(grep -cE '^ +[0-9]+  ' <<<"$out")" = "$k" ] || fail "recommend: expected $k ranked lines: $out"
      # Seen items are excluded by default: none of the user's items in the file may come back.
      while read -r item; do
        awk -F, -v u="$user" -v i="$item" '$1==u && $2==i {found=1} END {exit !found}' "$csv" &&
          fail "recommend: returned $item, which $user already interacted with in $csv"
      done < <(awk '/^ +[0-9]+  /{print $2}' <<<"$out") ;;
  esac
done
[ -n "$csv" ] || fail "the quickstart ingests no file"

# /metrics (make run serves it) counts what was ingested.
metrics=$(/usr/bin/python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:$metrics_port/metrics', timeout=10).read().decode())") ||
  fail "GET http://127.0.0.1:$metrics_port/metrics failed"
grep -Eq "^gpt4rec_ingest_events_total(\{[^}]*\})? $events(\.0+)?\$" <<<"$metrics" || fail "/metrics: gpt4rec_ingest_events_total is not $events"
grep -Eq "^gpt4rec_model_version(\{[^}]*\})? 1(\.0+)?\$" <<<"$metrics" || fail "/metrics: gpt4rec_model_version is not 1"
# The README's metrics table and the live endpoint name the same metric families.
documented=$(awk '/^### Metrics/{on=1; next} /^### /{on=0} on' README.md | grep -o 'gpt4rec_[a-z0-9_]*' | sort -u)
exposed=$(grep -o '^# TYPE gpt4rec_[a-z0-9_]*' <<<"$metrics" | awk '{print $3}' | sort -u)
[ -n "$documented" ] || fail "README.md has no metrics under '### Metrics'"
[ "$documented" = "$exposed" ] || fail "README's metrics table differs from /metrics:
$(diff <(echo "$documented") <(echo "$exposed") | grep '^[<>]' | sed 's/^</README only:/; s/^>/\/metrics only:/')"

# --- 4. the banner matches the README; stop like Ctrl-C ---
banner=$(awk '/Next, in another terminal/{on=1; next} on && /^ *$/{exit} on' "$log" | sed 's/^ *//')
expected=$(printf '%s\n' "${lines[@]}" | sed -e "s#127.0.0.1:50051#$addr#g" -E -e "s#(^|[[:space:]])build/#\\1$BUILD/#g")
[ "$banner" = "$expected" ] || fail "run-server.sh's next commands differ from the README's quickstart:
--- run-server.sh:
$banner
--- README.md:
$expected"

kill -TERM "$server_pid"
for _ in $(seq 1 300); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$server_pid" 2>/dev/null && fail "the server did not stop within 30 s of SIGTERM"
rc=0; wait "$server_pid" || rc=$?
server_pid=
[ "$rc" = 0 ] || fail "run-server.sh exited with $rc after SIGTERM"
grep -q "storage flushed" "$log" || fail "no graceful shutdown in the log (expected 'storage flushed')"
"$CLI" health --addr="$addr" --timeout_s=2 >/dev/null 2>&1 && fail "the server still answers after stopping"
echo "quickstart_test: OK (${#lines[@]} README commands, $events events, clean SIGTERM stop)"
