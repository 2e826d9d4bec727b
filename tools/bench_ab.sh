#!/usr/bin/env bash
# A/B timing of two demandlink builds on the same command and database: each build runs the
# command ROUNDS times (alternating A, B) on its own copy of the database, and the script
# prints the wall time, CPU time (user + system) and peak RSS of every run and the ratios of the
# medians (B / A). CPU time is the figure to trust when something else shares the machine.
# Usage: [ROUNDS=1] [KEEP=DIR] tools/bench_ab.sh BIN_A BIN_B DB -- demandlink arguments (without --db)…
#   KEEP: keep each run's output (stdout and stderr) as DIR/<side><round>.out.
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
declare -a ta tb ca cb
for r in $(seq "$rounds"); do
  for side in a b; do
    bin=$a
    [ "$side" = b ] && bin=$b
    copy="$work/$side$r"
    cp -r "$db" "$copy"
    /usr/bin/time -f "%e %M %U %S" -o "$work/time" "$bin" "${@:1:1}" --db "$copy" "${@:2}" >"$work/out" 2>&1 ||
      { echo "run $side$r failed:" >&2; tail -n 5 "$work/out" >&2; exit 1; }
    [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$work/out" "$KEEP/$side$r.out"
    read -r wall rss user sys <"$work/time"
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    rm -rf "$copy"
    echo "$side round $r: ${wall} s wall, ${cpu} s CPU, peak RSS $((rss / 1024)) MiB"
    if [ "$side" = a ]; then ta+=("$wall") ca+=("$cpu"); else tb+=("$wall") cb+=("$cpu"); fi
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v w="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%s: median A %.2f s, B %.2f s: B / A = %.3f (%.2fx faster)\n", w, a, b, b / a, a / b }'; }
ratio wall "$(median "${ta[@]}")" "$(median "${tb[@]}")"
ratio CPU "$(median "${ca[@]}")" "$(median "${cb[@]}")"
