#!/usr/bin/env bash
# Quarterly replay (issue 6): cuts a dataset into quarterly drops by listing time, replays them
# through `demandlink refresh` twice — incrementally (one database, one drop per quarter) and as
# a full rebuild (a fresh database with every drop so far, each quarter) — and after each quarter
# evaluates both on the next quarter's new listings (the temporal protocol). Prints one row per
# quarter: refresh time of both, Recall@20/100 of both, and the time ratio incremental / full.
#
# Usage: tools/replay.sh [DATASET] [FIRST_QUARTER]
#   DATASET        a dataset folder with timestamped listings (default ../shared/data/amazon_magazines_2018)
#   FIRST_QUARTER  the last quarter of the first drop, which holds everything up to it (default 2016Q1)
# Environment: MODEL, SEED, INCREMENTAL_ARGS, REBUILD (below), WORK (scratch folder, default a new
#              temporary one; removed unless KEEP=1), CARGO_TARGET_DIR (where the release build is),
#              BIN (a demandlink binary to run instead of building one).
# The dataset is only read; drops and databases live in WORK.
set -euo pipefail
# MODEL=graph replays with the graph model (fine-tuned each quarter; the rebuild trains from
# scratch); the default is the content model, as in docs/measurements.md (quarterly replay).
MODEL=${MODEL:-content}
# SEED sets the training seed of both chains (`refresh --seed`), to tell a real gap between the
# incremental chain and the rebuild from the spread between two training seeds.
SEED_ARGS=()
[[ -z ${SEED:-} ]] || SEED_ARGS=(--seed "$SEED")
# INCREMENTAL_ARGS adds options to the incremental chain's refreshes only (a fine-tuning option
# such as `--replay-share 0.1`); REBUILD=0 skips the rebuilds (their columns print `-`), to
# compare incremental chains under several options at the cost of the incremental ones alone.
read -r -a INCREMENTAL_ARGS <<<"${INCREMENTAL_ARGS:-}"
REBUILD=${REBUILD:-1}

cd "$(dirname "$0")/.."
DATASET=${1:-../shared/data/amazon_magazines_2018}
FROM=${2:-2016Q1}
WORK=${WORK:-$(mktemp -d /tmp/demandlink-replay.XXXXXX)}
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$WORK"' EXIT

mkdir -p "$WORK"
if [[ -z ${BIN:-} ]]; then
  cargo build --release --quiet
  # A copy: a rebuild while the replay runs (it takes minutes) must not change the binary midway.
  cp "${CARGO_TARGET_DIR:-target}/release/demandlink" "$WORK/demandlink"
  BIN=$WORK/demandlink
fi

"$BIN" split --mode quarterly --from "$FROM" --out "$WORK/cut" "$DATASET" >/dev/null
mapfile -t DROPS < <(ls "$WORK/cut/drops")

now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# Recall@K of the model from `eval --json` (the model's metrics come first; no baselines run).
recall() { grep -m1 "\"recall@$2\"" "$1" | sed 's/.*: *\([0-9.e-]*\).*/\1/' | awk '{ printf "%.4f", $1 }'; }

printf '| quarter | new listings | incremental s | full s | ratio | R@20 incr | R@20 full | R@100 incr | R@100 full |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
SO_FAR=()
for q in "${DROPS[@]}"; do
  SO_FAR+=("$WORK/cut/drops/$q")
  start=$(now)
  "$BIN" refresh --model "$MODEL" "${SEED_ARGS[@]}" "${INCREMENTAL_ARGS[@]}" --db "$WORK/incremental" "$WORK/cut/drops/$q" >"$WORK/incremental.log"
  incremental=$(seconds "$start" "$(now)")
  full=- ratio=-
  if [[ $REBUILD != 0 ]]; then
    rm -rf "$WORK/full"
    start=$(now)
    "$BIN" refresh --model "$MODEL" "${SEED_ARGS[@]}" --full --db "$WORK/full" "${SO_FAR[@]}" >"$WORK/full.log"
    full=$(seconds "$start" "$(now)")
    ratio=$(awk -v a="$incremental" -v b="$full" 'BEGIN { printf "%.2f", a / b }')
  fi
  listings=$(($(wc -l <"$WORK/cut/drops/$q/listings.tsv") - 1))
  heldout="$WORK/cut/heldout/$q.tsv"
  if [[ -f $heldout && $(wc -l <"$heldout") -gt 1 ]]; then
    "$BIN" eval --db "$WORK/incremental" --heldout "$heldout" --k 20,100 --json >"$WORK/incremental.json"
    r20i=$(recall "$WORK/incremental.json" 20); r100i=$(recall "$WORK/incremental.json" 100)
    r20f=- r100f=-
    if [[ $REBUILD != 0 ]]; then
      "$BIN" eval --db "$WORK/full" --heldout "$heldout" --k 20,100 --json >"$WORK/full.json"
      r20f=$(recall "$WORK/full.json" 20); r100f=$(recall "$WORK/full.json" 100)
    fi
  else
    r20i=-; r20f=-; r100i=-; r100f=-
  fi
  printf '| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n' \
    "$q" "$listings" "$incremental" "$full" "$ratio" "$r20i" "$r20f" "$r100i" "$r100f"
done
