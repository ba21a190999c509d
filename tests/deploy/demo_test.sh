#!/usr/bin/env bash
# Runs `make demo`'s script on its synthetic stream (the test suite never needs the datasets) and checks the story
# it tells: segments close and train while streaming, the chosen user is served by the trained model, is folded in
# right after new events, and is served by the next model version after the next training.
#
# usage: demo_test.sh REPO_ROOT BUILD_DIR
set -euo pipefail
ROOT=$1
BUILD=$2
out=$(GPT4REC_DEMO_DATA=synthetic "$ROOT/scripts/demo.sh" "$BUILD" 2>&1) || { echo "$out"; echo "demo_test: FAIL: demo.sh exited non-zero"; exit 1; }
echo "$out"
fail() { echo "demo_test: FAIL: $*"; exit 1; }
grep -q "closed segments [1-9]" <<<"$out" || fail "no segment closed while streaming"
mapfile -t recs < <(grep -E "^user [^ ]+: 10 items, model_version [0-9]+, source " <<<"$out")
[ ${#recs[@]} = 3 ] || fail "expected 3 recommendation lists (before, after the update, after training), got ${#recs[@]}"
v() { sed -E 's/.*model_version ([0-9]+).*/\1/' <<<"$1"; }
[[ ${recs[0]} == *"source model" ]] || fail "before the update the user should be served by the model: ${recs[0]}"
[[ ${recs[1]} == *"source fold_in" ]] || fail "right after the update the user should be folded in: ${recs[1]}"
[ "$(v "${recs[1]}")" = "$(v "${recs[0]}")" ] || fail "fold-in must not need a new model version"
[[ ${recs[2]} == *"source model" ]] || fail "after training the user should be served by the model: ${recs[2]}"
[ "$(v "${recs[2]}")" -gt "$(v "${recs[1]}")" ] || fail "the training after the update did not publish a new version"
echo "demo_test: OK"
