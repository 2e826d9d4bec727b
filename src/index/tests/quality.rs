//! Recall of the arroy index against exact search on planted data.

use super::{Planted, build, fresh_index};
use crate::index::{Ann, BuildOptions, ExactIndex, compare};

#[test]
fn arroy_recall_against_exact_is_at_least_95_percent_overall_and_per_category() {
    let mut planted = Planted::new(20_000, 10, 64, 7);
    let (_dir, index) = fresh_index();
    build(&index, 1, &planted, &BuildOptions::default());
    let reader = index.reader(1).unwrap();
    // Categories of ~2000 items are scanned with the default width (6400 candidates); a
    // factor of 1 (1600 candidates, duplicates across trees included) makes them walk their
    // trees: a check of that path, with a looser bound (measured 0.90–0.98).
    let narrow = index.reader(1).unwrap().with_search_k_factor(1);
    let exact = ExactIndex::new(planted.dims, planted.items.clone()).unwrap();
    let queries = planted.queries(200);

    for k in [100, 10] {
        let all = compare(&reader, &exact, &queries, None, k).unwrap();
        eprintln!("all categories, k={k}: {all:?}");
        assert!(all.recall >= 0.95, "recall@{k} over all: {all:?}");
        for category in planted.categories() {
            for (name, ann, min_recall) in [("scan", &reader, 0.95), ("trees", &narrow, 0.85)] {
                let c = compare(ann, &exact, &queries[..50], Some(&category), k).unwrap();
                eprintln!("{category} ({name}), k={k}: {c:?}");
                assert!(
                    c.recall >= min_recall,
                    "recall@{k} in {category} ({name}): {c:?}"
                );
            }
        }
    }
}

#[test]
fn similarities_are_cosines_best_first() {
    let mut planted = Planted::new(3_000, 3, 32, 11);
    let (_dir, index) = fresh_index();
    build(&index, 1, &planted, &BuildOptions::default());
    let reader = index.reader(1).unwrap();
    let exact = ExactIndex::new(planted.dims, planted.items.clone()).unwrap();
    for query in planted.queries(20) {
        let found = reader.nearest(None, &query, 10).unwrap();
        let truth = exact.nearest(None, &query, 10).unwrap();
        assert!(
            found.windows(2).all(|w| w[0].1 >= w[1].1),
            "not best first: {found:?}"
        );
        // Same items get the same cosine from both (up to f32 rounding).
        for (item, similarity) in &found {
            if let Some((_, expected)) = truth.iter().find(|(i, _)| i == item) {
                assert!(
                    (similarity - expected).abs() < 1e-4,
                    "{item}: {similarity} vs {expected}"
                );
            }
            assert!((-1.0..=1.0).contains(similarity));
        }
    }
    // A stored vector queried against itself has cosine 1 and comes first.
    let (item, category, vector) = &planted.items[42];
    let found = reader.nearest(Some(category), vector, 1).unwrap();
    assert_eq!(found[0].0, *item);
    assert!((found[0].1 - 1.0).abs() < 1e-5);
}

#[test]
fn nearest_above_is_nearest_without_the_less_similar_items() {
    let mut planted = Planted::new(2_000, 3, 16, 5);
    let exact = ExactIndex::new(planted.dims, planted.items.clone()).unwrap();
    let category = planted.items[0].1.clone();
    for query in planted.queries(20) {
        for min in [-1.0, 0.0, 0.3, 0.6, 2.0] {
            for scope in [None, Some(category.as_str())] {
                let mut truth = exact.nearest(scope, &query, 50).unwrap();
                truth.retain(|&(_, similarity)| similarity >= min);
                assert_eq!(exact.nearest_above(scope, &query, 50, min).unwrap(), truth);
            }
        }
    }
}

#[test]
fn nearest_above_many_equals_a_brute_force_scan_per_query() {
    // More items than one block of the matrix product, in three categories.
    let mut planted = Planted::new(20_000, 3, 24, 9);
    let exact = ExactIndex::new(planted.dims, planted.items.clone()).unwrap();
    let unit = |v: &[f32]| {
        let mut v = v.to_vec();
        crate::cosine::normalize(&mut v);
        v
    };
    let all_queries: Vec<Vec<f32>> = planted.queries(12).iter().map(|q| unit(q)).collect();
    let category = planted.items[0].1.clone();
    // Three queries take the dot-product path, twelve the matrix product.
    for queries in [&all_queries[..3], &all_queries[..]] {
        let query_refs: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
        let ks: Vec<usize> = (0..queries.len()).map(|i| [0, 1, 10, 100][i % 4]).collect();
        for scope in [None, Some(category.as_str())] {
            for min in [f32::NEG_INFINITY, 0.2] {
                let found = exact
                    .nearest_above_many(scope, &query_refs, &ks, min)
                    .unwrap();
                for ((query, &k), found) in queries.iter().zip(&ks).zip(&found) {
                    let mut truth: Vec<(u32, f32)> = planted
                        .items
                        .iter()
                        .filter(|(_, c, _)| scope.is_none_or(|s| s == c))
                        .map(|(id, _, v)| {
                            let cos: f32 = unit(v).iter().zip(query).map(|(a, b)| a * b).sum();
                            (*id, cos)
                        })
                        .filter(|&(_, cos)| cos >= min)
                        .collect();
                    truth.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    truth.truncate(k);
                    assert_eq!(found.len(), truth.len(), "k={k}, min={min}");
                    // Position by position the same similarity, and each item found has the
                    // similarity it claims (so only near-ties can swap places).
                    for (&(item, similarity), &(_, expected)) in found.iter().zip(&truth) {
                        assert!(
                            (similarity - expected).abs() < 1e-5,
                            "{similarity} vs {expected}"
                        );
                        let (_, _, v) = &planted.items.iter().find(|(i, _, _)| *i == item).unwrap();
                        let own: f32 = unit(v).iter().zip(query).map(|(a, b)| a * b).sum();
                        assert!(
                            (similarity - own).abs() < 1e-5,
                            "{item}: {similarity} vs {own}"
                        );
                    }
                }
            }
        }
    }
}
