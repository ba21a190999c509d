#!/usr/bin/env bash
# Reproduces the README's replay results table: ml-100k and Koubei (when ../shared/data has them) and the four
# synthetic profiles, every strategy at the model defaults (the continual-learning baselines lsp, replay_uniform and
# replay_inverse_degree included), plus GPT4Rec in the paper's strict form (old embeddings frozen, no temporal
# prompts, prompts trained from scratch in segment 0). Prints the table as Markdown on stdout, then the efficiency
# table (training seconds per incremental segment, peak resident memory during an update, whether the strategy
# reads old data); every run's results.json / results.csv / recall20.svg stay under out/replay/.
set -euo pipefail
BUILD_DIR=${1:-build}
BIN=$BUILD_DIR/bin
OUT=out/replay
ML100K=${ML100K:-../shared/data/ml-100k.inter}
KOUBEI=${KOUBEI:-../shared/data/koubei.inter}
# KOUBEI_MAX_SEGMENTS=N keeps Koubei's first N segments (0: all); its Retrain epochs on the growing graph make the
# whole run take hours on a shared 2-core machine. THREADS sets every run's torch threads (0: all cores).
KOUBEI_MAX_SEGMENTS=${KOUBEI_MAX_SEGMENTS:-0}
THREADS=${THREADS:-0}
mkdir -p "$OUT"

declare -a NAMES ARGS
if [ -f "$ML100K" ]; then
  NAMES+=("ml-100k"); ARGS+=("--format=recbole --input=$ML100K --unit=month")
else
  echo "replay-table: $ML100K absent, ml-100k row skipped" >&2
fi
if [ -f "$KOUBEI" ]; then  # ../shared/data/README.md: daily segments, 3-core (most users visit few stores)
  NAMES+=("koubei"); ARGS+=("--format=recbole --input=$KOUBEI --unit=day --user_core=3 --item_core=3 --max_segments=$KOUBEI_MAX_SEGMENTS")
else
  echo "replay-table: $KOUBEI absent, koubei row skipped" >&2
fi
# Scales chosen so that every incremental segment has at least ~170 test interactions (the earlier, smaller ones
# had ~60 and swung Recall@20 by +-0.1 from segment to segment, more than the gaps between strategies).
for spec in taobao2014:0.2:csv taobao2015:0.01:csv netflix:0.01:txt foursquare:0.05:txt; do
  IFS=: read -r profile scale ext <<<"$spec"
  file="$OUT/synth-$profile-$scale.$ext"
  [ -f "$file" ] || "$BIN/gpt4rec-synth" --profile="$profile" --scale="$scale" --out="$file" >/dev/null
  extra=""
  [ "$profile" = netflix ] && extra="--max_segments=24"
  NAMES+=("synthetic $profile ($scale)"); ARGS+=("--format=$profile --input=$file $extra")
done

summary() {  # results.json -> "strategy recall ndcg ndcg_degc" lines
  /usr/bin/python3 -c 'import json,sys
for k,v in json.load(open(sys.argv[1]))["summary"].items():
    print(k, "%.4f" % v["recall20_avg"], "%.4f" % v["ndcg20_avg"], "%.4f" % v["ndcg20_degc_avg"])' "$1"
}
efficiency() {  # results.json -> "strategy seconds_per_segment cpu_seconds peak_mib reads_old" lines
  /usr/bin/python3 -c 'import json,sys
for k,v in json.load(open(sys.argv[1]))["summary"].items():
    print(k, "%.1f" % v["train_s_incremental_avg"], "%.1f" % v["train_cpu_s_incremental_avg"], "%.0f" % v["peak_rss_mib"], "yes" if v["reads_old_data"] else "no")' "$1"
}
ALL=pop,static,finetune,retrain,gpt4rec,lsp,replay_uniform,replay_inverse_degree
EFF=""

STRICT="--old_embedding_lr=0 --recency_prompt=false --layer_prompt=false --prompts_in_segment0=true --row_phase_prompts=true --prompt_phase_epochs=0"
echo "| data | metric (avg t ≥ 1) | pop | static | finetune | retrain | lsp | replay_uniform | replay_inverse_degree | gpt4rec (defaults) | gpt4rec, paper-strict form |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for i in "${!NAMES[@]}"; do
  dir="$OUT/run$i"
  echo "replay-table: ${NAMES[$i]} ($(date -u +%H:%M:%S))" >&2
  # shellcheck disable=SC2086
  "$BIN/gpt4rec-replay" ${ARGS[$i]} --threads="$THREADS" --strategies=$ALL --out="$dir/base" >/dev/null 2>"$dir.log" || { echo "replay failed: see $dir.log" >&2; exit 1; }
  # shellcheck disable=SC2086
  "$BIN/gpt4rec-replay" ${ARGS[$i]} --threads="$THREADS" --strategies=gpt4rec $STRICT --out="$dir/strict" >/dev/null 2>>"$dir.log"
  declare -A V=()  # "metric:strategy" -> value, metric R (Recall@20), N (NDCG@20), D (NDCG@20 DEGC)
  while read -r s r n d; do V[R:$s]=$r; V[N:$s]=$n; V[D:$s]=$d; done < <(summary "$dir/base/results.json")
  while read -r _ r n d; do V[R:plus]=$r; V[N:plus]=$n; V[D:plus]=$d; done < <(summary "$dir/strict/results.json")
  for m in R N D; do
    case $m in R) label="Recall@20";; N) label="NDCG@20";; D) label="NDCG@20 (DEGC)";; esac
    row="| ${NAMES[$i]} | $label |"
    for s in pop static finetune retrain lsp replay_uniform replay_inverse_degree gpt4rec plus; do row+=" ${V[$m:$s]} |"; done
    echo "$row"
  done
  while read -r s sec cpu mib old; do EFF+="| ${NAMES[$i]} | $s | $sec | $cpu | $mib | $old |"$'\n'; done < <(efficiency "$dir/base/results.json")
done
echo
echo "| data | strategy | training s per incremental segment (wall) | (CPU) | peak resident MiB during an update | reads old data |"
echo "|---|---|---|---|---|---|"
printf "%s" "$EFF"
