#!/usr/bin/env bash
# The main job on the sample data in data/, end to end: ingest the two quarterly drops, compute
# product and seller vectors, build the index, write every seller's recommendations, show one
# seller's list, and measure Recall@K against the generator's held-out truth.
# Usage: tools/run-sample.sh [DB_FOLDER]   (default: a fresh sample-db/ in the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sample-db}
cargo build --release --quiet --bin demandlink
bin="${CARGO_TARGET_DIR:-target}/release/demandlink"
rm -rf "$db"
run() {
  echo "\$ demandlink $*" >&2
  "$bin" "$@"
}
run ingest --db "$db" data/q1 data/q2
run stats --db "$db"
run featurize --db "$db"
run train --db "$db"
run index --db "$db"
run recommend --db "$db"
run inspect --db "$db" s000005 --limit 3
run eval --db "$db" --heldout data/truth_q2.tsv --baselines
