#!/usr/bin/env bash
# Load benchmark of the seller portal's recommendations endpoint on the sample database:
# `wrk` on loopback (random seller tokens and categories, k=20), first alone, then while
# another process refreshes the database (index + recommend --all-categories in a loop, niced).
# Prints throughput, p50 and p99 latency of both runs as a Markdown table.
#
# Usage: tools/bench_serve.sh   Environment: CARGO_TARGET_DIR (default: target),
#   DURATION (seconds per run, default 15), CONNECTIONS (default 4), SELLERS (tokens, default 40).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${DURATION:-15}"
connections="${CONNECTIONS:-4}"
sellers="${SELLERS:-40}"

if ! command -v wrk >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
cargo build --release --quiet --bin demandlink
bin="${CARGO_TARGET_DIR:-target}/release/demandlink"
work=$(mktemp -d)
refresher=
source tools/lib/portal.sh
trap 'stop_server; touch "$work/stop"; [ -z "$refresher" ] || wait "$refresher"; rm -rf "$work"' EXIT

db="$work/db"
portal_db "$db"
for i in $(seq 1 "$sellers"); do
  "$bin" tokens issue --db "$db" --seller "$(printf 's%06d' "$i")" 2>/dev/null
done >"$work/tokens"
start_server "$db"

load() {
  TOKENS="$work/tokens" wrk -t1 -c"$connections" -d"${duration}s" \
    -s tools/bench_serve.lua "http://$addr/" | sed -n 's/^RESULT //p'
}
row() { # LABEL RESULT
  local r="$2"
  field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$r"; }
  echo "| $1 | $(field requests) | $(field errors) | $(field rps) | $(field p50_ms) | $(field p99_ms) |"
}

idle=$(load)
# The refresh: a new index generation and every list rewritten, again and again — at the
# lowest CPU priority, as a batch refresh beside a live portal should run (`nice`).
(
  while [ ! -e "$work/stop" ]; do
    nice -n 19 "$bin" index --db "$db" >/dev/null &&
      nice -n 19 "$bin" recommend --db "$db" --all-categories >/dev/null
    echo x >>"$work/refreshes"
  done
) &
refresher=$!
busy=$(load)
# Let the running refresh finish (a killed loop would leave its stage writing).
touch "$work/stop"
wait "$refresher"
refresher=

echo "| run ($connections connections, $(nproc) cores) | requests | errors | requests/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
row "alone" "$idle"
row "during refresh ($(wc -l <"$work/refreshes") index + recommend runs)" "$busy"
