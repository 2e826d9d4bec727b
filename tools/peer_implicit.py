#!/usr/bin/env python3
"""Peer check of DemandLink's ALS baselines against the Python library `implicit`.

Usage: tools/peer_implicit.py SPLIT_DIR [--factors 64 --alpha 1.0 --iterations 15
           --regularization 0.01 --k 20,100 --seed 0 --threads 2 --copurchase-weight 1.0 --json]

SPLIT_DIR is the output folder of `demandlink split` (SPLIT_DIR/train/ and SPLIT_DIR/heldout.tsv).
Run it through tools/peer_implicit.sh, which installs the pinned dependencies in a venv, runs our
pipeline on the same split and prints both sides in one table. It is never part of the Rust test
suite.

What it mirrors of `demandlink eval --baselines` (src/eval/harness.rs, als.rs, stack.rs):

* Data, as ingest stores it from SPLIT_DIR/train/:
  - sellers: the distinct `seller_id`s of listings.tsv (the store's only source of sellers);
  - products: every product named in listings.tsv, products.tsv, copurchases.tsv, views.tsv or
    high_demand.tsv (ingest interns all of them; products without listings get an empty item
    column, as in our matrix);
  - the listing matrix: sellers x products, value 1 per distinct (seller, product) pair
    (the store keys listings by pair, so repeated rows count once);
  - co-purchases: each row (a, b, count) adds `count` to both directions of the unordered pair
    (ingest merges a->b and b->a), rows with a == b are refused by ingest and skipped here.
* Candidates: the products of high_demand.tsv when the drop has one (cold split), otherwise every
  product (random split). The script prints the count; the shell wrapper checks it equals ours.
* Held-out pairs: SPLIT_DIR/heldout.tsv; a pair is kept when its seller is a training seller and
  its product a candidate (duplicates count once). Sellers evaluated = sellers with >= 1 kept pair.
* Ranking: every candidate is scored by user_factors[s] . item_factors[p] (float32), the seller's
  training listings are excluded, ties are broken by a fixed arbitrary order (a permutation drawn
  from --seed; ours uses a hash of the internal product id, i.e. equally arbitrary but a
  different order). Recall@K = |top-K & heldout| / |heldout|, averaged over the evaluated sellers;
  `_se` is the standard error (sample sd / sqrt(n)), as ours. `recall@K_ties` is the expectation of
  Recall@K over uniformly random tie orders, which removes the luck of a particular order (it
  equals recall@K when no tie straddles position K).
* ALS: `implicit.cpu.als.AlternatingLeastSquares` (the CPU class, so no GPU is ever picked; the
  generic `implicit.als.AlternatingLeastSquares(use_gpu=False)` would build the same object) with
  the same factors / regularization / alpha / iterations, its default conjugate-gradient solver
  (3 CG steps) and float32; `fit()` takes the users x items matrix (implicit >= 0.5). Its semantics
  are the ones our als.rs copies: confidence c = alpha * value, preference 1 on stored entries,
  lambda added to the diagonal unscaled, factors initialised uniform in [0, 0.01), users then
  items per sweep, empty rows set to zero. Only the random draw of the initial factors differs.
* Stacked co-purchase variant: the matrix has the seller rows on top, then one pseudo-user row per
  product holding its co-purchase partners (value weight * count, weight --copurchase-weight);
  the sellers' rows of the fitted user factors are used for scoring.
* Fit time: wall seconds of `fit()` alone (ours: `train_seconds`, the fit alone too).

Note on cold splits: the candidates (high-demand products) lost every listing, so plain ALS gives
them zero item factors and every candidate scores exactly 0: the plain-ALS ranking there is the
tie-break order and its Recall@K means nothing on either side (compare `recall@K_ties`, which is
the chance level). Plain ALS is only comparable on random splits; the stacked variant on both.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import sys
import time
from pathlib import Path

# One BLAS thread (set before numpy loads OpenBLAS): implicit parallelises over rows itself with
# --threads, and warns about a threaded BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

csv.field_size_limit(1 << 30)


def open_drop_file(train: Path, stem: str):
    """The plain or gzipped drop file `stem` of `train`, or None (both at once is refused, as
    ingest does)."""
    plain, gz = train / f"{stem}.tsv", train / f"{stem}.tsv.gz"
    if plain.is_file() and gz.is_file():
        sys.exit(f"peer_implicit: both {plain} and {gz} exist")
    if plain.is_file():
        return open(plain, newline="", encoding="utf-8")
    if gz.is_file():
        return gzip.open(gz, "rt", newline="", encoding="utf-8")
    return None


def rows(train: Path, stem: str, columns: list[str]):
    """Yields the named columns (stripped) of each non-blank data row of drop file `stem`."""
    f = open_drop_file(train, stem)
    if f is None:
        return
    with f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [h.strip() for h in next(reader)]
        missing = [c for c in columns if c not in header]
        if missing:
            sys.exit(f"peer_implicit: {stem}.tsv lacks column(s) {missing}: header {header}")
        at = [header.index(c) for c in columns]
        for row in reader:
            if not row or all(not x.strip() for x in row):
                continue
            yield [row[i].strip() for i in at]


class Index:
    """External id -> dense index, in order of first appearance."""

    def __init__(self):
        self.ids: dict[str, int] = {}

    def add(self, name: str) -> int:
        i = self.ids.get(name)
        if i is None:
            i = self.ids[name] = len(self.ids)
        return i

    def __len__(self):
        return len(self.ids)


def load(split: Path):
    train = split / "train"
    if not (train / "listings.tsv").is_file() and not (train / "listings.tsv.gz").is_file():
        sys.exit(f"peer_implicit: {train} has no listings.tsv: is {split} a `demandlink split` output?")
    sellers, products = Index(), Index()
    pairs = set()
    for s, p in rows(train, "listings", ["seller_id", "product_id"]):
        pairs.add((sellers.add(s), products.add(p)))
    for (p,) in rows(train, "products", ["product_id"]):
        products.add(p)
    copurchases = []
    for a, b, c in rows(train, "copurchases", ["product_a", "product_b", "count"]):
        if a == b:
            continue
        copurchases.append((products.add(a), products.add(b), float(c)))
    for (p,) in rows(train, "views", ["product_id"]):
        products.add(p)
    high_demand = None
    if open_drop_file(train, "high_demand") is not None:
        high_demand = []
        seen = set()
        for (p,) in rows(train, "high_demand", ["product_id"]):
            i = products.add(p)
            if i not in seen:
                seen.add(i)
                high_demand.append(i)
    candidates = np.array(high_demand if high_demand is not None else range(len(products)),
                          dtype=np.int64)
    candidate_set = set(candidates.tolist())

    heldout: dict[int, set[int]] = {}
    skipped = 0
    with open(split / "heldout.tsv", newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [h.strip() for h in next(reader)]
        if header != ["seller_id", "product_id"]:
            sys.exit(f"peer_implicit: heldout.tsv: expected header seller_id<TAB>product_id, got {header}")
        for row in reader:
            if not row or all(not x.strip() for x in row):
                continue
            s, p = sellers.ids.get(row[0].strip()), products.ids.get(row[1].strip())
            if s is not None and p is not None and p in candidate_set:
                heldout.setdefault(s, set()).add(p)
            else:
                skipped += 1

    n_s, n_p = len(sellers), len(products)
    if pairs:
        r, c = np.array(sorted(pairs), dtype=np.int64).T
    else:
        r = c = np.zeros(0, dtype=np.int64)
    listings = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(n_s, n_p))
    listings.sum_duplicates()
    return {
        "sellers": n_s,
        "products": n_p,
        "listings": listings,
        "copurchases": copurchases,
        "candidates": candidates,
        "heldout": heldout,
        "heldout_skipped": skipped,
        "cold": high_demand is not None,
    }


def stack(listings: sp.csr_matrix, copurchases, weight: float) -> sp.csr_matrix:
    """Seller rows on top, then row `sellers + p` with weight*count at every partner q of p."""
    n_s, n_p = listings.shape
    if copurchases:
        a, b, c = (np.array(x) for x in zip(*copurchases))
    else:
        a = b = np.zeros(0, dtype=np.int64)
        c = np.zeros(0)
    below = sp.coo_matrix(
        (np.concatenate([c, c]).astype(np.float32) * np.float32(weight),
         (np.concatenate([a, b]), np.concatenate([b, a]))),
        shape=(n_p, n_p),
    ).tocsr()  # tocsr() sums repeated pairs
    below.sum_duplicates()
    out = sp.vstack([listings, below], format="csr", dtype=np.float32)
    out.sort_indices()
    return out


def fit(matrix: sp.csr_matrix, args):
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(
        factors=args.factors,
        regularization=args.regularization,
        alpha=args.alpha,
        dtype=np.float32,
        use_native=True,
        use_cg=True,
        iterations=args.iterations,
        calculate_training_loss=False,
        num_threads=args.threads,
        random_state=args.seed,
    )
    started = time.perf_counter()
    model.fit(matrix, show_progress=False)
    seconds = time.perf_counter() - started
    return np.asarray(model.user_factors), np.asarray(model.item_factors), seconds


def evaluate(user_factors, item_factors, data, ks, seed, chunk=512):
    """Recall@K (and its tie-expectation) of the factor model under our protocol."""
    candidates = data["candidates"]
    listings = data["listings"]
    heldout = data["heldout"]
    sellers = sorted(s for s, h in heldout.items() if h)
    # Columns ordered by a fixed random permutation: a stable sort on the score then breaks ties
    # by that order.
    order = np.random.default_rng(seed).permutation(len(candidates))
    cand = candidates[order]
    col_of = {int(p): j for j, p in enumerate(cand)}
    V = item_factors[cand]  # candidates x d
    max_k = max(ks)
    recall = {k: [] for k in ks}
    ties = {k: [] for k in ks}
    for start in range(0, len(sellers), chunk):
        block = sellers[start:start + chunk]
        S = user_factors[block] @ V.T  # float32, sellers x candidates
        S = S.astype(np.float32, copy=False)
        for i, s in enumerate(block):
            row = S[i]
            listed = listings.indices[listings.indptr[s]:listings.indptr[s + 1]]
            excl = [col_of[p] for p in listed.tolist() if p in col_of]
            keep = np.ones(len(cand), dtype=bool)
            keep[excl] = False
            scores = row[keep]
            cols = np.flatnonzero(keep)
            top = cols[np.argsort(-scores, kind="stable")[:max_k]]
            truth = heldout[s]
            truth_cols = np.array([col_of[p] for p in truth])
            truth_scores = row[truth_cols]
            for k in ks:
                hits = len(truth & set(cand[top[:k]].tolist()))
                recall[k].append(hits / len(truth))
                above = (scores[None, :] > truth_scores[:, None]).sum(axis=1)
                tied = (scores[None, :] == truth_scores[:, None]).sum(axis=1)
                p_in = np.clip((k - above) / np.maximum(tied, 1), 0.0, 1.0)
                ties[k].append(float(p_in.sum()) / len(truth))
    out = {}
    for k in ks:
        v = np.array(recall[k])
        out[f"recall@{k}"] = float(v.mean()) if len(v) else 0.0
        out[f"recall@{k}_se"] = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
        out[f"recall@{k}_ties"] = float(np.mean(ties[k])) if ties[k] else 0.0
    return out, len(sellers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("split", type=Path, help="output folder of `demandlink split`")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--regularization", type=float, default=0.01)
    ap.add_argument("--copurchase-weight", type=float, default=1.0)
    ap.add_argument("--k", default="20,100", help="cut-offs, comma-separated")
    ap.add_argument("--seed", type=int, default=0, help="initial factors and tie order")
    ap.add_argument("--threads", type=int, default=2, help="implicit's num_threads")
    ap.add_argument("--methods", default="als,als_copurchase")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    ks = [int(k) for k in args.k.split(",") if k.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]

    from threadpoolctl import threadpool_limits

    import implicit
    import scipy

    data = load(args.split)
    result = {
        "split": str(args.split),
        "cold": data["cold"],
        "sellers": 0,
        "candidates": int(len(data["candidates"])),
        "users": data["sellers"],
        "items": data["products"],
        "listing_pairs": int(data["listings"].nnz),
        "copurchase_rows": len(data["copurchases"]),
        "heldout_pairs": sum(len(h) for h in data["heldout"].values()),
        "heldout_skipped": data["heldout_skipped"],
        "params": {
            "factors": args.factors, "alpha": args.alpha, "iterations": args.iterations,
            "regularization": args.regularization, "copurchase_weight": args.copurchase_weight,
            "seed": args.seed, "threads": args.threads,
        },
        "versions": {
            "implicit": implicit.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "python": sys.version.split()[0],
        },
        "methods": {},
    }
    with threadpool_limits(limits=1, user_api="blas"):
        for method in methods:
            if method == "als":
                matrix = data["listings"]
            elif method == "als_copurchase":
                matrix = stack(data["listings"], data["copurchases"], args.copurchase_weight)
            else:
                sys.exit(f"peer_implicit: unknown method {method} (als, als_copurchase)")
            users, items, seconds = fit(matrix, args)
            metrics, n = evaluate(users[: data["sellers"]], items, data, ks, args.seed)
            result["sellers"] = n
            result["methods"][method] = {"fit_seconds": seconds, **metrics}

    if args.json:
        print(json.dumps(result, sort_keys=True))
        return
    print(f"{args.split}: {result['sellers']} sellers, {result['candidates']} candidates, "
          f"implicit {implicit.__version__}")
    for method, m in result["methods"].items():
        cells = "  ".join(f"R@{k} {m[f'recall@{k}']:.4f} (ties {m[f'recall@{k}_ties']:.4f})"
                          for k in ks)
        print(f"  {method:15} {cells}  fit {m['fit_seconds']:.2f}s")


if __name__ == "__main__":
    main()
