#!/usr/bin/env bash
# Peer check of our ALS baselines against the Python library `implicit`: for each dataset and
# split mode, runs our pipeline (split, ingest, featurize, index, eval --baselines) and
# tools/peer_implicit.py on the same split with the same hyper-parameters, then prints one
# Markdown table of Recall@20 / Recall@100 and fit seconds of both, for plain ALS (`als`) and ALS
# with stacked co-purchase rows (`als_copurchase`). Target: ours within 10 % relative of
# implicit's Recall@100 (on cold splits only for als_copurchase: see the note under the table).
# Never part of the Rust test suite.
#
# Usage: tools/peer_implicit.sh [DATASET ...]
#   DATASET: dataset folders in drop format (default: ../shared/data/amazon_magazines_2018 and
#   ../shared/data/amazon_grocery_2014, relative to the repository).
# Environment:
#   PEER_VENV      venv for the pinned Python dependencies (default: /tmp/demandlink-peer-venv)
#   PYTHON         interpreter that creates the venv (default: python3; CPython 3.9-3.12)
#   DEMANDLINK_BIN our binary (default: $CARGO_TARGET_DIR or $DEMANDLINK_TARGET_DIR or
#                  /var/cache/demandlink/target, then release/demandlink; built when missing)
#   PEER_BUILD=1   `cargo build --release` first even when the binary exists
#   PEER_MODES     split modes (default: "cold random")
#   PEER_SEED      split seed and implicit's random_state (default: 0)
#   PEER_THREADS   threads of both fits: RAYON_NUM_THREADS for ours, num_threads for implicit;
#                  BLAS is held to 1 thread (default: 2, the machine's cores)
#   PEER_FACTORS, PEER_ALPHA, PEER_ITERATIONS   ALS hyper-parameters of both (64, 1.0, 15;
#                  regularization is 0.01 on both, ours has no flag for it)
#   PEER_WORK      keep splits, databases and JSON results here (default: a temporary folder,
#                  removed afterwards)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PEER_VENV:-/tmp/demandlink-peer-venv}"
python="${PYTHON:-python3}"
modes="${PEER_MODES:-cold random}"
seed="${PEER_SEED:-0}"
threads="${PEER_THREADS:-2}"
factors="${PEER_FACTORS:-64}"
alpha="${PEER_ALPHA:-1.0}"
iterations="${PEER_ITERATIONS:-15}"
target="${CARGO_TARGET_DIR:-${DEMANDLINK_TARGET_DIR:-/var/cache/demandlink/target}}"
bin="${DEMANDLINK_BIN:-$target/release/demandlink}"

# Pinned: wheels exist for CPython 3.9-3.12 on linux x86_64. implicit 0.7.2's wheel is built
# against numpy 1.x, hence numpy < 2.
pins=(implicit==0.7.2 numpy==1.26.4 scipy==1.13.1 threadpoolctl==3.5.0 tqdm==4.67.1)

if [[ $# -ge 1 ]]; then
    datasets=("$@")
else
    datasets=("$repo/../shared/data/amazon_magazines_2018" "$repo/../shared/data/amazon_grocery_2014")
fi
for d in "${datasets[@]}"; do
    [[ -f "$d/listings.tsv" || -f "$d/listings.tsv.gz" ]] || {
        echo "peer_implicit: $d is not a dataset folder (no listings.tsv)" >&2
        exit 1
    }
done

# Python side: a venv with the pinned versions (reinstalled only when the pins change).
stamp="$venv/.demandlink-pins"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "${pins[*]}" ]]; then
    echo "peer_implicit: installing ${pins[*]} into $venv" >&2
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "${pins[@]}"
    echo "${pins[*]}" >"$stamp"
fi
vpy="$venv/bin/python"

# Our side.
if [[ "${PEER_BUILD:-0}" == 1 || ! -x "$bin" ]]; then
    (cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --release --bin demandlink)
    bin="$target/release/demandlink"
fi
echo "peer_implicit: ours is $bin" >&2

if [[ -n "${PEER_WORK:-}" ]]; then
    work="$PEER_WORK"
    mkdir -p "$work"
else
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi

# Comparable threads: both fits on $threads threads, BLAS single-threaded (OPENBLAS_CORETYPE,
# if the machine sets it, is left alone).
export RAYON_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

results=()
for d in "${datasets[@]}"; do
    name="$(basename "$(cd "$d" && pwd)")"
    for mode in $modes; do
        out="$work/$name-$mode"
        rm -rf "$out"
        mkdir -p "$out"
        echo "peer_implicit: $name $mode: ours" >&2
        "$bin" split --mode "$mode" --seed "$seed" --views-from-listings --out "$out/split" "$d" >"$out/split.log" 2>&1
        "$bin" ingest --db "$out/db" "$out/split/train" >"$out/ingest.log" 2>&1
        "$bin" featurize --db "$out/db" >"$out/featurize.log" 2>&1
        "$bin" index --db "$out/db" >"$out/index.log" 2>&1
        "$bin" eval --db "$out/db" --heldout "$out/split/heldout.tsv" --baselines --json --k 20,100 \
            --als-factors "$factors" --als-alpha "$alpha" --als-iterations "$iterations" \
            >"$out/ours.json" 2>"$out/eval.log"
        echo "peer_implicit: $name $mode: implicit" >&2
        "$vpy" "$repo/tools/peer_implicit.py" "$out/split" --json --k 20,100 --seed "$seed" \
            --threads "$threads" --factors "$factors" --alpha "$alpha" --iterations "$iterations" \
            --regularization 0.01 --copurchase-weight 1.0 >"$out/implicit.json"
        results+=("$name" "$mode" "$out/ours.json" "$out/implicit.json")
    done
done

"$vpy" - "${results[@]}" <<'EOF'
import json
import sys

args = sys.argv[1:]
lines = [
    "| dataset | split | method | ours R@20 | implicit R@20 | ours R@100 | implicit R@100 "
    "| rel. diff @100 | ours fit (s) | implicit fit (s) |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
]
notes = []
versions = params = None
chance = []
flagged = False
for i in range(0, len(args), 4):
    name, mode, ours_path, peer_path = args[i:i + 4]
    ours = json.load(open(ours_path))
    peer = json.load(open(peer_path))
    versions, params = peer["versions"], peer["params"]
    if (ours["sellers"], ours["candidates"]) != (peer["sellers"], peer["candidates"]):
        notes.append(
            f"**{name} {mode}: populations differ** (ours {ours['sellers']} sellers / "
            f"{ours['candidates']} candidates, implicit {peer['sellers']} / {peer['candidates']})"
        )
    for method in ("als", "als_copurchase"):
        o, p = ours["baselines"][method], peer["methods"][method]
        rel = (o["recall@100"] - p["recall@100"]) / p["recall@100"] if p["recall@100"] else float("nan")
        flag = "" if abs(rel) <= 0.10 else " ⚠"
        label = method
        if peer["cold"] and method == "als":
            label += " †"
            flag = ""
            chance.append(
                f"{name} {mode}: R@20 {p['recall@20_ties']:.4f}, R@100 {p['recall@100_ties']:.4f}"
            )
        flagged |= bool(flag)
        lines.append(
            f"| {name} | {mode} | {label} | {o['recall@20']:.4f} | {p['recall@20']:.4f} "
            f"| {o['recall@100']:.4f} | {p['recall@100']:.4f} | {rel:+.1%}{flag} "
            f"| {ours['timings'][method]['train_seconds']:.2f} | {p['fit_seconds']:.2f} |"
        )
print("\n".join(lines))
print()
if chance:
    print(
        "† cold split: the candidates lost every listing, so plain ALS gives them zero factors and "
        "ranks them in tie-break order on both sides (ours: a hash of the internal id; implicit's "
        "column: a seeded permutation). Not comparable. Chance level (expectation over tie "
        "orders): " + "; ".join(chance) + "."
    )
if flagged:
    print("⚠ more than 10 % relative apart at Recall@100.")
for n in notes:
    print(n)
if params:
    print(
        f"ALS: {params['factors']} factors, alpha {params['alpha']}, {params['iterations']} "
        f"iterations, regularization {params['regularization']}, CG solver; co-purchase weight "
        f"{params['copurchase_weight']}; seed {params['seed']}; {params['threads']} threads each"
    )
if versions:
    print(
        "implicit " + versions["implicit"] + ", numpy " + versions["numpy"] + ", scipy "
        + versions["scipy"] + ", Python " + versions["python"]
    )
EOF
