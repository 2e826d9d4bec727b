#!/usr/bin/env bash
# The quality study of docs/quality.md: the graph model against every built-in baseline on
# five cold splits of each real dataset in ../shared/data/ (never copied into the repository),
# plus the ablation rows (counts off: --link-strength presence; selection off:
# --score-select off), then one table per dataset (mean ± standard error over the splits).
#
# Usage: tools/quality.sh OUT_DIR [DATASET…]
#   SEEDS="0 1 2 3 4"   split seeds
#   VARIANTS="default counts_off selection_off"   which rows to train
# Each run is tools/model_eval.sh with ABLATION=0 into OUT_DIR/DATASET/VARIANT-SEED; a run whose
# eval.json exists is kept, so a killed study continues where it stopped. One binary is built
# first and used throughout, so editing the sources meanwhile does not mix builds.
set -euo pipefail
out=$1
shift
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(completejourney_grocery_2017 amazon_magazines_2018 amazon_grocery_2014)
seeds=${SEEDS:-0 1 2 3 4}
variants=${VARIANTS:-default counts_off selection_off}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin demandlink --example quality_table
target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
# A stable copy: later builds do not change a running study.
[ -x "$out/demandlink" ] || cp "$target/demandlink" "$out/demandlink"
export DEMANDLINK="$out/demandlink"

options() {
  case $1 in
    default) ;;
    counts_off) echo --link-strength presence ;;
    selection_off) echo --score-select off ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
}

for ds in "${datasets[@]}"; do
  for variant in $variants; do
    for seed in $seeds; do
      run="$out/$ds/$variant-$seed"
      [ -f "$run/eval.json" ] && continue
      echo "== $ds $variant split $seed" >&2
      # shellcheck disable=SC2046
      ABLATION=0 SPLIT_SEED=$seed tools/model_eval.sh "../shared/data/$ds" "$run" $(options "$variant") >&2
    done
  done
done

# One table per dataset and variant: the model row is the variant's, the baselines are the
# same in every variant (same splits, same database).
for ds in "${datasets[@]}"; do
  for variant in $variants; do
    files=$(ls "$out/$ds"/"$variant"-*/eval.json 2>/dev/null | paste -sd, -)
    [ -n "$files" ] && "$target/examples/quality_table" "$ds ($variant)=$files"
  done
done

# The ablation: each variant's model against the default's, paired by split.
ablation=()
for ds in "${datasets[@]}"; do
  base=$(ls "$out/$ds"/default-*/eval.json 2>/dev/null | paste -sd, -)
  for variant in $variants; do
    [ "$variant" = default ] && continue
    files=$(ls "$out/$ds"/"$variant"-*/eval.json 2>/dev/null | paste -sd, -)
    [ -n "$files" ] && [ -n "$base" ] && ablation+=("$ds, $variant=$files|$base")
  done
done
[ ${#ablation[@]} -eq 0 ] || "$target/examples/quality_table" --ablation "${ablation[@]}" || echo "(ablation incomplete)"

# What each run chose on its validation products (the `*` row of train's table).
echo "### Structures chosen on validation"
echo
echo "| dataset | variant | split | validation Recall@100 / @20 | structure | epochs: best / trained |"
echo "|---|---|---|---|---|---|"
for ds in "${datasets[@]}"; do
  for variant in $variants; do
    for seed in $seeds; do
      f="$out/$ds/$variant-$seed/train.txt"
      [ -f "$f" ] || continue
      # Early stopping's line names the epoch kept and the epochs trained; without it all ran.
      epochs=$(sed -nE 's/.*the weights of epoch ([0-9]+) of ([0-9]+) trained.*/\1 \/ \2/p' "$f")
      [ -n "$epochs" ] || epochs=$(sed -nE 's/.*model generation [0-9]+: ([0-9]+) epochs.*/all \1/p' "$f" | head -n 1)
      grep -m1 '^  \* ' "$f" | sed -E "s/^  \* ([0-9.]+) \/ ([0-9.]+)  (.*)$/| $ds | $variant | $seed | \1 \/ \2 | \3 | ${epochs//\//\\/} |/"
    done
  done
done

