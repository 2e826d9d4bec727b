#!/usr/bin/env bash
# The whole GraphStorm loop on one machine (GraphStorm's standalone mode, CPU), on the cold
# split of a dataset in ../shared/data/ (never copied into the repository), next to the
# built-in graph model and the co-purchase neighbours baseline on the same split:
#
#   split → ingest → featurize → train (built-in) → eval → export → gconstruct →
#   gs_link_prediction → gs_gen_node_embedding (full graph) → import-embeddings → index →
#   recommend → eval
#
# Usage: tools/graphstorm/run.sh WORK_DIR [DATASET_DIR]
#   (default dataset ../shared/data/amazon_magazines_2018)
#   VENV=dir          the GraphStorm virtual environment (default WORK_DIR/venv; created with
#                     tools/graphstorm/install.sh when missing: 5.6 GB from PyPI)
#   EPOCHS=5          GraphStorm training epochs (its best epoch by validation MRR is kept)
#   TRAINERS=1        trainer processes on the one partition
#   SPLIT_SEED=0      which cold split
# Writes WORK_DIR/{steps.tsv,builtin.json,graphstorm.json,table.md} and prints table.md: the
# Recall@20/@100 of each model and the wall time and peak memory (max RSS) of each step.
set -euo pipefail
work=${1:?usage: run.sh WORK_DIR [DATASET_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dataset=${2:-$repo/../shared/data/amazon_magazines_2018}
dataset=$(cd "$dataset" && pwd)
mkdir -p "$work"
work=$(cd "$work" && pwd)
venv=${VENV:-$work/venv}
epochs=${EPOCHS:-5}
trainers=${TRAINERS:-1}
py=$venv/bin/python

"$here/install.sh" "$venv"
(cd "$repo" && cargo build --release --quiet --bin demandlink)
bin="$(cd "${CARGO_TARGET_DIR:-$repo/target}" && pwd)/release/demandlink"
cp "$bin" "$work/demandlink"
dl=$work/demandlink

steps=$work/steps.tsv
printf 'step\tseconds\tpeak_mib\n' >"$steps"
# step NAME COMMAND…: runs it with its output in WORK_DIR/NAME.log, recording wall time and
# peak resident memory (GNU time's maximum over the process and the children it waited for).
step() {
  local name=$1
  shift
  echo "== $name" >&2
  if ! /usr/bin/time -f '%e %M' -o "$work/$name.time" "$@" >"$work/$name.log" 2>&1; then
    tail -n 30 "$work/$name.log" >&2
    echo "step $name failed: see $work/$name.log" >&2
    exit 1
  fi
  read -r secs kib <"$work/$name.time"
  printf '%s\t%s\t%d\n' "$name" "$secs" "$((kib / 1024))" >>"$steps"
}

db=$work/db
rm -rf "$work/split" "$db" "$work/export" "$work/graph" "$work/models" "$work/emb" "$work/ws"
mkdir -p "$work/ws"
step split "$dl" split --mode cold --seed "${SPLIT_SEED:-0}" --views-from-listings --out "$work/split" "$dataset"
step ingest "$dl" ingest --db "$db" "$work/split/train"
step featurize "$dl" featurize --db "$db"
step train "$dl" train --db "$db"
step eval_builtin "$dl" eval --db "$db" --heldout "$work/split/heldout.tsv" --baselines --json
cp "$work/eval_builtin.log" "$work/builtin.json"

step export "$dl" export --db "$db" --out "$work/export"
# gconstruct reads the files the configuration names relative to the export folder.
step gconstruct bash -c "cd '$work/export' && '$py' -m graphstorm.gconstruct.construct_graph \
  --conf-file gconstruct.json --output-dir '$work/graph' --num-parts 1 --graph-name demandlink \
  --add-reverse-edges"
# Standalone mode: no --ip-config, one partition, the servers and trainers on this machine.
step gs_train "$py" -m graphstorm.run.gs_link_prediction --workspace "$work/ws" \
  --num-trainers "$trainers" --num-servers 1 --num-samplers 0 \
  --part-config "$work/graph/demandlink.json" --cf "$work/export/lp.yaml" \
  --num-epochs "$epochs" --save-model-path "$work/models"
best=$(sed -nE 's/.*best model path: (.*)$/\1/p' "$work/gs_train.log" | tail -n 1)
[ -n "$best" ] || best=$(ls -d "$work/models"/epoch-* | sort -V | tail -n 1)
echo "best GraphStorm model: $best" >&2
# Full-graph inference: no neighbour sampling, so the embeddings are reproducible.
step gs_embed "$py" -m graphstorm.run.gs_gen_node_embedding --workspace "$work/ws" \
  --num-trainers "$trainers" --num-servers 1 \
  --part-config "$work/graph/demandlink.json" --cf "$work/export/lp.yaml" \
  --restore-model-path "$best" --save-embed-path "$work/emb" --use-mini-batch-infer false
step import "$dl" import-embeddings --db "$db" --export "$work/export" "$work/emb"
step index "$dl" index --db "$db"
step recommend "$dl" recommend --db "$db"
step eval_graphstorm "$dl" eval --db "$db" --heldout "$work/split/heldout.tsv" --json
cp "$work/eval_graphstorm.log" "$work/graphstorm.json"

"$py" - "$work" "$epochs" "$trainers" <<'EOF' | tee "$work/table.md"
import csv, json, sys
work, epochs, trainers = sys.argv[1], sys.argv[2], sys.argv[3]
builtin = json.load(open(f"{work}/builtin.json"))
gs = json.load(open(f"{work}/graphstorm.json"))
def row(name, m):
    return f"| {name} | {m['recall@20']:.4f} | {m['recall@100']:.4f} |"
print(f"Cold split: {builtin['sellers']} sellers evaluated, {builtin['candidates']} candidates.\n")
print("| model | Recall@20 | Recall@100 |")
print("|---|---|---|")
print(row(f"GraphStorm RGCN ({epochs} epochs, {trainers} trainer), imported", gs["metrics"]))
print(row("built-in graph model", builtin["metrics"]))
print(row("co-purchase neighbours", builtin["baselines"]["copurchase"]))
print()
print("| step | wall s | peak MiB |")
print("|---|---|---|")
for r in csv.DictReader(open(f"{work}/steps.tsv"), delimiter="\t"):
    print(f"| {r['step']} | {float(r['seconds']):.1f} | {r['peak_mib']} |")
EOF
