#!/usr/bin/env bash
# The graph model on the cold split of a real dataset in ../shared/data/ (never copied into the
# repository): split (seed 0 or SPLIT_SEED, views from training listings), ingest, featurize, train (timed,
# peak memory), then `eval --ablation`: every baseline and the published ablation rows.
# Usage: [SPLIT_SEED=N] [ABLATION=0] [DEMANDLINK=binary] tools/model_eval.sh DATASET_DIR OUT_DIR [train options…]
# SPLIT_SEED draws another cold split (which products are high-demand); ABLATION=0 evaluates
# the trained model and the baselines only; DEMANDLINK runs that binary instead of building one.
# Prints the training line and writes OUT_DIR/{eval.json,eval.md,train.txt}.
set -euo pipefail
dataset=$1 out=$2
shift 2
cd "$(dirname "$0")/.."
if [ -n "${DEMANDLINK:-}" ]; then
  bin=$DEMANDLINK
else
  cargo build --release --quiet --bin demandlink
  bin="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/demandlink"
fi
rm -rf "$out"
mkdir -p "$out"
"$bin" split --mode cold --seed "${SPLIT_SEED:-0}" --views-from-listings --out "$out/split" "$dataset" >/dev/null
"$bin" ingest --db "$out/db" "$out/split/train" >/dev/null
"$bin" featurize --db "$out/db" >/dev/null
/usr/bin/time -v "$bin" train --db "$out/db" "$@" >"$out/train.txt" 2>"$out/train.time"
grep '^train:' "$out/train.txt"
grep -E 'Maximum resident' "$out/train.time"
ablation=(--ablation)
[ "${ABLATION:-1}" = 0 ] && ablation=(--baselines)
# One run writes both: the baselines (ALS among them) are trained once.
"$bin" eval --db "$out/db" --heldout "$out/split/heldout.tsv" "${ablation[@]}" --json \
  --report "$out/eval.md" >"$out/eval.json"
echo "wrote $out/eval.json and $out/eval.md"
