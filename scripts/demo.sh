#!/usr/bin/env bash
# make demo: a server on a free local port with a throw-away data directory; MovieLens-100K (or, when it is absent,
# a generated synthetic stream) streamed through `gpt4rec-cli ingest` in event-time order with monthly segments,
# so segments close and train as the stream passes each month boundary; then one user's recommendations before
# and after an update: new events of that user (fold-in, visible at once), then the next segment's training.
#
# usage: scripts/demo.sh [BUILD_DIR]      env: GPT4REC_DEMO_DATA=FILE (a RecBole .inter or CSV file to stream;
#                                         "synthetic" forces the generated stream), GPT4REC_DEMO_KEEP=1 keeps the data
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$(cd "${1:-build}" && pwd)
SERVER="$BUILD_DIR/bin/gpt4rec-server"
CLI="$BUILD_DIR/bin/gpt4rec-cli"
for b in "$SERVER" "$CLI"; do [ -x "$b" ] || { echo "demo: $b not built (run: make build)" >&2; exit 1; }; done
PY=/usr/bin/python3

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
tmp=$(mktemp -d -t gpt4rec-demo.XXXXXX)
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true
  fi
  if [ "${GPT4REC_DEMO_KEEP:-0}" = 1 ]; then echo "demo: data kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# --- the stream, in event-time order (segments are cut by event time; late events would stay in the open one) ---
source_file=${GPT4REC_DEMO_DATA:-$ROOT/../shared/data/ml-100k.inter}
stream="$tmp/stream.csv"
if [ "$source_file" != synthetic ] && [ -f "$source_file" ]; then
  say "Streaming $(basename "$source_file") ($(($(wc -l <"$source_file") - 1)) events), sorted by time"
  $PY - "$source_file" "$stream" <<'EOF'
import sys
src, dst = sys.argv[1], sys.argv[2]
with open(src) as f:
    header = f.readline().rstrip("\n")
    sep = "\t" if "\t" in header else ","
    cols = [c.split(":")[0] for c in header.split(sep)]
    u, i = cols.index("user_id") if "user_id" in cols else cols.index("user"), \
           cols.index("item_id") if "item_id" in cols else cols.index("item")
    t = next(cols.index(c) for c in ("timestamp", "time", "ts") if c in cols)
    rows = [l.rstrip("\n").split(sep) for l in f if l.strip()]
rows.sort(key=lambda r: float(r[t]))
with open(dst, "w") as out:
    out.write("user_id,item_id,timestamp\n")
    for r in rows:
        out.write("%s,%s,%d\n" % (r[u], r[i], int(float(r[t]))))
EOF
else
  [ "$source_file" = synthetic ] || echo "demo: $source_file not found; using a generated synthetic stream instead"
  say "Streaming a synthetic stream: 600 users, 400 items, 6 months, tastes drifting month by month"
  $PY - "$stream" <<'EOF'
import random, sys
rng = random.Random(7)
users, items, groups, months = 600, 400, 8, 6
t0 = 1704067200  # 2024-01-01 UTC
month = 30 * 86400
with open(sys.argv[1], "w") as out:
    out.write("user_id,item_id,timestamp\n")
    events = []
    for m in range(months):
        for u in range(users if m else users // 2):      # half the users are new after the first month
            if m and rng.random() < 0.3:                    # not everyone comes back every month
                continue
            g = (u + m // 2) % groups                       # every two months each user's taste moves on
            for _ in range(rng.randint(3, 9)):
                own = rng.random() < 0.8
                grp = g if own else rng.randrange(groups)
                item = grp * (items // groups) + int(rng.paretovariate(1.2)) % (items // groups)
                events.append((t0 + m * month + rng.randrange(month), "u%d" % u, "i%d" % item))
    for t, u, i in sorted(events):
        out.write("%s,%s,%d\n" % (u, i, t))
EOF
fi
events=$(($(wc -l <"$stream") - 1))

# --- server ---
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
addr="127.0.0.1:$port"
"$SERVER" --addr="$addr" --data_dir="$tmp/var" --metrics_port=-1 --segment=month --log_level=warn \
  >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  "$CLI" health --addr="$addr" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
  sleep 0.2
done
echo "server on $addr (--segment=month), data in $tmp/var"
cli() { "$CLI" --addr="$addr" "$@"; }

wait_for_training() {
  local last="" t0=$SECONDS
  while :; do
    local s; s=$(cli stats)
    local line; line=$(grep "^model version" <<<"$s")
    [ "$line" != "$last" ] && echo "   $line" && last=$line
    grep -q "training queue 0$" <<<"$line" && break
    sleep 2
  done
  grep "^last training" <<<"$s" | sed 's/^/   /'
  echo "   (waited $((SECONDS - t0)) s)"
}

say "Ingesting $events events; each month boundary closes a segment and queues it for training"
cli ingest "$stream"
cli stats | sed 's/^/   /'
say "Waiting for the background training of the closed segments"
wait_for_training

# --- one user, before and after an update ---
# A typical user (about 20 events) with nothing in the open segment, so the trained model serves them; and,
# for contrast, the most active user of the open segment, whose list lends the items of the update.
read -r user other < <($PY - "$stream" <<'EOF'
import collections, datetime, sys
rows = [l.rstrip("\n").split(",") for l in open(sys.argv[1])][1:]
month = lambda t: datetime.datetime.utcfromtimestamp(int(t)).strftime("%Y-%m")
open_month = month(rows[-1][2])
count = collections.Counter(r[0] for r in rows)
in_open = collections.Counter(r[0] for r in rows if month(r[2]) == open_month)
closed_only = [u for u in count if u not in in_open]
user = min(closed_only, key=lambda u: (abs(count[u] - 20), u)) if closed_only else rows[-1][0]
other = max((u for u in in_open if u != user), key=lambda u: (in_open[u], u))
print(user, other)
EOF
)
seen_before=$(awk -F, -v u="$user" '$1==u' "$stream" | wc -l)
say "Recommendations for user $user ($seen_before events, none in the open segment)"
cli recommend --user="$user" --k=10 | tee "$tmp/before.txt"

# The update: ten items the user never touched, from the other user's list, one minute after the stream.
new_items=$(cli recommend --user="$other" --k=100 | awk 'NR>1 {print $2}' |
            grep -vxF -f <(awk -F, -v u="$user" '$1==u {print $2}' "$stream") -f <(awk 'NR>1 {print $2}' "$tmp/before.txt") |
            head -n 10)
last_t=$(tail -n 1 "$stream" | cut -d, -f3)
{ echo "user_id,item_id,timestamp"; for it in $new_items; do echo "$user,$it,$((last_t + 60))"; done; } >"$tmp/update.csv"
say "Update: user $user interacts with $(paste -sd, <<<"$new_items") (from user $other's list)"
cli ingest --quiet "$tmp/update.csv"
say "Right after the update (no training: the user is folded in from the items they touched)"
cli recommend --user="$user" --k=10 | tee "$tmp/after.txt"
changed=$(comm -13 <(awk 'NR>1 {print $2}' "$tmp/before.txt" | sort) <(awk 'NR>1 {print $2}' "$tmp/after.txt" | sort) | wc -l)
echo "   $changed of 10 items are new in the list"

say "Closing the open segment and training it (prompt tuning)"
cli close-segment
wait_for_training
say "After the training"
cli recommend --user="$user" --k=10

say "Done"
echo "The server stops now; the README's quickstart shows how to run one yourself (make run)."
