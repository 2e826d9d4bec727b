#!/usr/bin/env bash
# Whole-pipeline benchmark on a generated preset: per stage wall time, CPU time, peak RSS and
# throughput, the whole cycle's sums (ingest → recommend; peak RSS is the largest stage's), plus
# database and index size, as a Markdown table and a JSON file.
# Usage: [EPOCHS=N] tools/bench.sh [small|medium|reference] [WORKDIR]
#   EPOCHS: training epochs (default: train's own default, the full cycle; 1 for a quick look).
#   WORKDIR keeps the generated drops between runs (default: a temporary folder, removed after).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-medium}
work=${2:-}
cleanup=false
if [ -z "$work" ]; then
  work=$(mktemp -d)
  cleanup=true
fi
mkdir -p "$work"
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin demandlink --example generate
bin="$target/release/demandlink"
gen="$target/release/examples/generate"
if [ ! -d "$work/drops/q1" ]; then
  "$gen" --preset "$preset" --out "$work/drops" --seed 1 >&2
fi
drops=$(ls -d "$work"/drops/q* | sort -V)
last=$(basename "$(echo "$drops" | tail -n 1)")
db="$work/db"
rm -rf "$db" "$work"/out.* "$work"/time.*

rows=()
json=()
cycle_wall=0 cycle_cpu=0 cycle_mib=0
# stage NAME UNITS COUNT_COMMAND -- demandlink arguments…
stage() {
  local name=$1 unit=$2 count_cmd=$3
  shift 4
  /usr/bin/time -f "%e %U %S %M" -o "$work/time.$name" "$bin" "$@" >"$work/out.$name"
  read -r wall user sys rss <"$work/time.$name"
  local count
  count=$(eval "$count_cmd")
  local cpu rate mib
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
  rate=$(awk -v c="$count" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0 ? c / w : 0) }')
  mib=$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')
  rows+=("| $name | $wall s | $cpu s | $mib MiB | $rate $unit/s ($count) |")
  cycle_wall=$(awk -v a="$cycle_wall" -v b="$wall" 'BEGIN { printf "%.2f", a + b }')
  cycle_cpu=$(awk -v a="$cycle_cpu" -v b="$cpu" 'BEGIN { printf "%.1f", a + b }')
  if [ "$mib" -gt "$cycle_mib" ]; then cycle_mib=$mib; fi
  json+=("\"$name\": {\"wall_s\": $wall, \"cpu_s\": $cpu, \"peak_rss_mib\": $mib, \"count\": $count, \"per_s\": $rate, \"unit\": \"$unit\"}")
  echo "$name: $wall s" >&2
}
stat() { "$bin" stats --db "$db" --json | grep -m1 "\"$1\"" | tr -dc '0-9'; }
applied() { "$bin" stats --db "$db" --json | grep '"applied"' | awk '{ s += $2 } END { print s }'; }

# shellcheck disable=SC2086
stage ingest rows applied -- ingest --db "$db" $drops
stage featurize products "stat total" -- featurize --db "$db"
# The graph model with train's defaults (EPOCHS to change), then inference over every node; the
# count is the root edges trained (per epoch × epochs).
epochs=()
if [ -n "${EPOCHS:-}" ]; then epochs=(--epochs "$EPOCHS"); fi
stage train "root edges" "grep -o '[0-9]* epochs over [0-9]* root edges' $work/out.train | awk '{ print \$1 * \$4 }'" -- train --db "$db" "${epochs[@]}"
stage index candidates "grep -o 'with [0-9]* candidates' $work/out.index | tr -dc '0-9'" -- index --db "$db"
stage recommend sellers "stat sellers" -- recommend --db "$db"
rows+=("| **cycle** | **$cycle_wall s** | $cycle_cpu s | $cycle_mib MiB | ingest → recommend |")
json+=("\"cycle\": {\"wall_s\": $cycle_wall, \"cpu_s\": $cycle_cpu, \"peak_rss_mib\": $cycle_mib}")
# The first seller of the first drop (the reference preset writes its drops gzipped).
sellers=$(ls "$work"/drops/q1/sellers.tsv* | head -n 1)
case $sellers in
  *.gz) seller=$(zcat "$sellers" | sed -n 2p | cut -f1) ;;
  *) seller=$(sed -n 2p "$sellers" | cut -f1) ;;
esac
start=$(date +%s%N)
for _ in $(seq 10); do "$bin" inspect --db "$db" "$seller" >/dev/null; done
inspect_ms=$(( ($(date +%s%N) - start) / 10000000 ))
# Evaluation ranks every candidate for every seller: minutes at medium size, hours at the
# reference size, so it is skipped there unless BENCH_EVAL=1.
if [ "${BENCH_EVAL:-$([ "$preset" = reference ] && echo 0 || echo 1)}" = 1 ]; then
  stage eval sellers "grep -o '^eval: [0-9]*' $work/out.eval | tr -dc '0-9'" -- \
    eval --db "$db" --heldout "$work/drops/truth_$last.tsv"
fi
store_size=$(du -sm "$db/store" | cut -f1)
index_size=$(du -sm "$db/index" | cut -f1)

echo
echo "preset \`$preset\` on $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB; $(date -u +%Y-%m-%d)"
echo
echo "| stage | wall | CPU | peak RSS | throughput |"
echo "|---|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
echo
echo "inspect: $inspect_ms ms per call (process start included); database $store_size MiB, index $index_size MiB"
[ -f "$work/out.eval" ] && echo "quality: $(grep '^Recall' "$work/out.eval")"
{
  echo "{\"preset\": \"$preset\", \"inspect_ms\": $inspect_ms, \"store_mib\": $store_size, \"index_mib\": $index_size, \"stages\": {"
  (IFS=,; echo "${json[*]}")
  echo "}}"
} >"$work/bench.json"
echo "JSON: $work/bench.json"
if $cleanup; then rm -rf "$work"; fi
