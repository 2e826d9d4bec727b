#!/usr/bin/env bash
# Ingest throughput benchmark: generates the `ingest-bench` drop (one plain-TSV quarter with
# exactly 5 M listings and 2 M co-purchases), ingests it into a fresh database under GNU time and
# prints rows, wall time, rows/s, peak RSS and database size as a Markdown table.
# With ORDERS=N the drop is instead one orders.tsv of N orders (N/10 customers, 200 k products
# with a skewed popularity, timestamps over 90 days, file order unrelated to customers).
#
# Usage: tools/bench_ingest.sh [WORKDIR] [-- INGEST OPTIONS...]
#   WORKDIR keeps the drop (reused by later runs) and the database; without it a temporary
#   directory is used and removed afterwards.
# Environment: CARGO_TARGET_DIR (default: target), SEED (default: 1), ORDERS (unset).
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
seed="${SEED:-1}"

if [[ ! -x /usr/bin/time ]]; then
    echo "bench_ingest: GNU time is needed for peak RSS: apt-get install time" >&2
    exit 1
fi

if [[ $# -ge 1 && "$1" != "--" ]]; then
    work="$1"
    shift
    mkdir -p "$work"
else
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi

[[ "${1:-}" == "--" ]] && shift
cargo build --release --bin demandlink --example generate

if [[ -n "${ORDERS:-}" ]]; then
    drop="$work/orders-$ORDERS/q1"
    if [[ -f "$drop/_READY" ]]; then
        echo "bench_ingest: reusing $drop" >&2
    else
        mkdir -p "$drop"
        awk -v n="$ORDERS" -v seed="$seed" 'BEGIN {
            srand(seed); print "customer_id\tproduct_id\tts"
            for (i = 0; i < n; i++) {
                r = rand()
                printf "c%07d\tp%06d\t%d\n", int(rand() * n / 10), int(200000 * r * r),
                    1700000000 + int(rand() * 90 * 86400)
            }
        }' >"$drop/orders.tsv"
        touch "$drop/_READY"
    fi
else
    drop="$work/drop/q1"
    if [[ -f "$drop/_READY" ]]; then
        echo "bench_ingest: reusing $drop" >&2
    else
        "$target/release/examples/generate" --preset ingest-bench --seed "$seed" --out "$work/drop"
    fi
fi

# Data rows in the drop: every line but the header of each file.
rows=0
for file in "$drop"/*.tsv; do
    rows=$((rows + $(wc -l <"$file") - 1))
done

db="$work/db"
rm -rf "$db"
timing="$work/time.txt"
/usr/bin/time -v -o "$timing" "$target/release/demandlink" ingest --db "$db" "$@" "$drop"

# GNU time prints wall time as h:mm:ss or m:ss.ss.
wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {
    n = split($2, t, ":"); s = 0
    for (i = 1; i <= n; i++) s = s * 60 + t[i]
    print s
}' "$timing")"
rss_kib="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$timing")"
db_size="$(du -sh "$db" | cut -f1)"

echo
echo "| rows ingested | wall (s) | rows/s | peak RSS (MiB) | DB size |"
echo "|---:|---:|---:|---:|---:|"
awk -v rows="$rows" -v wall="$wall" -v rss="$rss_kib" -v size="$db_size" 'BEGIN {
    printf "| %d | %.1f | %.0f | %.0f | %s |\n", rows, wall, (wall > 0 ? rows / wall : 0), rss / 1024, size
}'
