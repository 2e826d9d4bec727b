//! Measurements behind the defaults, run by hand:
//! `cargo test --release --lib index::tests::bench -- --ignored --nocapture --test-threads=1`.

use std::time::Instant;

use arroy::Reader;
use arroy::distances::Cosine;

use super::{Planted, build, fresh_index};
use crate::index::{BuildOptions, ExactIndex, compare};

#[test]
#[ignore = "measurement"]
fn sweep_trees_and_search_k_factor() {
    for (items, dims) in [(20_000, 64), (100_000, 128)] {
        let mut planted = Planted::new(items, 10, dims, 7);
        let exact = ExactIndex::new(dims, planted.items.clone()).unwrap();
        let queries = planted.queries(200);
        for n_trees in [8, 16, 32] {
            let (_dir, index) = fresh_index();
            let start = Instant::now();
            build(
                &index,
                1,
                &planted,
                &BuildOptions {
                    n_trees: Some(n_trees),
                    ..Default::default()
                },
            );
            let build_s = start.elapsed().as_secs_f64();
            for factor in [1, 2, 4, 8, 15] {
                let reader = index.reader(1).unwrap().with_search_k_factor(factor);
                for k in [10, 100] {
                    let c = compare(&reader, &exact, &queries, None, k).unwrap();
                    eprintln!(
                        "items={items} dims={dims} n_trees={n_trees} build={build_s:.1}s factor={factor} k={k}: \
                         recall={:.4} ann={:.3}ms exact={:.3}ms",
                        c.recall, c.ann_ms_per_query, c.exact_ms_per_query
                    );
                }
            }
        }
    }
}

#[test]
#[ignore = "measurement"]
fn crossover_with_exact_search() {
    for dims in [64, 128] {
        for items in [2_000, 10_000, 50_000, 100_000, 200_000] {
            let mut planted = Planted::new(items, 10, dims, 3);
            let exact = ExactIndex::new(dims, planted.items.clone()).unwrap();
            let queries = planted.queries(200);
            let (_dir, index) = fresh_index();
            let start = Instant::now();
            build(&index, 1, &planted, &BuildOptions::default());
            let build_s = start.elapsed().as_secs_f64();
            let reader = index.reader(1).unwrap();
            for k in [10, 100] {
                let c = compare(&reader, &exact, &queries, None, k).unwrap();
                eprintln!(
                    "dims={dims} items={items} build={build_s:.2}s k={k}: recall={:.4} ann={:.3}ms exact={:.3}ms",
                    c.recall, c.ann_ms_per_query, c.exact_ms_per_query
                );
            }
        }
    }
}

#[test]
#[ignore = "measurement"]
fn per_query_transaction_cost() {
    let planted = Planted::new(100_000, 10, 64, 3);
    let (_dir, index) = fresh_index();
    build(&index, 1, &planted, &BuildOptions::default());
    let id = index.manifest(1).unwrap().all.id;
    let rounds = 100_000;
    let start = Instant::now();
    for _ in 0..rounds {
        drop(index.env.read_txn().unwrap());
    }
    let txn_us = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    let start = Instant::now();
    for _ in 0..rounds {
        let rtxn = index.env.read_txn().unwrap();
        Reader::<Cosine>::open(&rtxn, id, index.vectors).unwrap();
    }
    let open_us = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    eprintln!(
        "read txn: {txn_us:.2} us; read txn + arroy Reader::open (100k items): {open_us:.2} us"
    );
}

#[test]
#[ignore = "measurement"]
fn scan_versus_tree_cost() {
    use crate::cosine::usable_norm;
    use crate::index::reader::scan;
    use std::num::NonZeroUsize;

    for dims in [64, 128] {
        let mut planted = Planted::new(50_000, 1, dims, 3);
        let queries = planted.queries(50);
        let (_dir, index) = fresh_index();
        build(&index, 1, &planted, &BuildOptions::default());
        let id = index.manifest(1).unwrap().all.id;
        let rtxn = index.env.read_txn().unwrap();
        let reader = Reader::<Cosine>::open(&rtxn, id, index.vectors).unwrap();
        let start = Instant::now();
        for q in &queries {
            scan(&reader, &rtxn, q, usable_norm(q).unwrap(), 100).unwrap();
        }
        let scan_ns = start.elapsed().as_secs_f64() * 1e9 / (queries.len() * 50_000) as f64;
        eprintln!("dims={dims}: scan {scan_ns:.1} ns per item");
        for search_k in [1_600, 6_400, 25_600] {
            let start = Instant::now();
            for q in &queries {
                reader
                    .nns(100)
                    .search_k(NonZeroUsize::new(search_k).unwrap())
                    .by_vector(&rtxn, q)
                    .unwrap();
            }
            let ns = start.elapsed().as_secs_f64() * 1e9 / (queries.len() * search_k) as f64;
            eprintln!("dims={dims}: trees, search_k={search_k}: {ns:.1} ns per candidate");
        }
    }
}
