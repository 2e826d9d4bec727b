#!/usr/bin/env bash
# A/B timing of two demandlink builds on the same command and database: each build runs the
# command ROUNDS times (alternating A, B) on its own copy of the database, and the script
# prints the wall time and peak RSS of every run and the ratio of the medians (B / A).
# Usage: [ROUNDS=1] tools/bench_ab.sh BIN_A BIN_B DB -- demandlink arguments (without --db)…
# Example: keep the current build as the baseline, change the code, rebuild, compare one
# training epoch:
#   cp "$CARGO_TARGET_DIR/release/demandlink" /tmp/before
#   …edit, cargo build --release…
#   tools/bench_ab.sh /tmp/before "$CARGO_TARGET_DIR/release/demandlink" /tmp/gro/db -- \
#     train --epochs 1 --seed 7
set -euo pipefail
a=$1 b=$2 db=$3
shift 3
[ "${1:-}" = "--" ] && shift
rounds=${ROUNDS:-1}
work=$(mktemp -d /tmp/demandlink-ab.XXXXXX)
trap 'rm -rf "$work"' EXIT
declare -a ta tb
for r in $(seq "$rounds"); do
  for side in a b; do
    bin=$a
    [ "$side" = b ] && bin=$b
    copy="$work/$side$r"
    cp -r "$db" "$copy"
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" "${@:1:1}" --db "$copy" "${@:2}" >"$work/out" 2>&1 ||
      { echo "run $side$r failed:" >&2; tail -n 5 "$work/out" >&2; exit 1; }
    read -r wall rss <"$work/time"
    rm -rf "$copy"
    echo "$side round $r: ${wall} s, peak RSS $((rss / 1024)) MiB"
    if [ "$side" = a ]; then ta+=("$wall"); else tb+=("$wall"); fi
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ma=$(median "${ta[@]}") mb=$(median "${tb[@]}")
awk -v a="$ma" -v b="$mb" 'BEGIN { printf "median A %.2f s, B %.2f s: B / A = %.3f (%.2fx faster)\n", a, b, b / a, a / b }'
