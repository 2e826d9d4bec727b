//! Content retrieval: text and seller vectors, the index, recommendations and `inspect`, on
//! hand-made drops and on the sample data.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use demandlink::cosine::cosine;
use demandlink::features::text::{Text, TextConfig, project, terms};
use demandlink::store::{Namespace, OpenMode, Store};

use crate::util::{Drop, assert_printed_list_is_stored, fails, ok};

pub(crate) fn sample_db(tmp: &Path) -> PathBuf {
    let db = tmp.join("db");
    let dbs = db.to_str().unwrap();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    ok(&[
        "ingest",
        "--db",
        dbs,
        &format!("{data}/q1"),
        &format!("{data}/q2"),
    ]);
    ok(&["featurize", "--db", dbs]);
    ok(&["index", "--db", dbs]);
    ok(&["recommend", "--db", dbs]);
    db
}

#[test]
fn similar_sample_titles_are_closer_than_unrelated_ones() {
    let products =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/q1/products.tsv"))
            .unwrap();
    let cfg = TextConfig::default();
    // Titles only (no category features): the text itself must carry the similarity.
    let rows: Vec<(String, Vec<f32>)> = products
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let t = terms(
                Text {
                    category: "",
                    title: f[2],
                    attributes: "",
                },
                &cfg,
            );
            (f[1].to_string(), project(&t, |_| 1.0, &cfg))
        })
        .collect();
    let (mut same, mut other) = ((0f64, 0u32), (0f64, 0u32));
    for (i, (ci, vi)) in rows.iter().enumerate().take(300) {
        for (cj, vj) in rows.iter().skip(i + 1).take(300) {
            let c = f64::from(cosine(vi, vj));
            if ci == cj {
                same = (same.0 + c, same.1 + 1);
            } else if ci.split(" > ").next() != cj.split(" > ").next() {
                other = (other.0 + c, other.1 + 1);
            }
        }
    }
    let (same, other) = (same.0 / f64::from(same.1), other.0 / f64::from(other.1));
    assert!(
        same > other + 0.1,
        "same sub-category {same:.3} vs other category {other:.3}"
    );
}

/// A drop with imported 2-d vectors and views over three periods, for hand computation.
fn vectors_db(tmp: &Path) -> PathBuf {
    let db = tmp.join("db");
    let dbs = db.to_str().unwrap().to_string();
    let q1 = Drop::new(tmp, "q1");
    q1.file(
        "products.tsv",
        &[
            "product_id\tcategory\ttitle",
            "p1\tHome > Kitchen\tchef knife",
            "p2\tHome > Kitchen\tcutting board",
            "p3\tGarden > Tools\tpruning shears",
        ],
    )
    .file(
        "vectors.tsv",
        &["product_id\tv1\tv2", "p1\t3\t4", "p2\t0\t2", "p3\t1\t0"],
    )
    .file(
        "listings.tsv",
        &[
            "seller_id\tproduct_id",
            "s1\tp1",
            "s1\tp2",
            "s2\tp3",
            "s2\tp1",
        ],
    )
    .file("views.tsv", &["product_id\tviews", "p1\t1000"]);
    let q2 = Drop::new(tmp, "q2");
    q2.file("views.tsv", &["product_id\tviews", "p1\t10", "p2\t30"]);
    let q3 = Drop::new(tmp, "q3");
    q3.file("views.tsv", &["product_id\tviews", "p2\t0"]);
    ok(&["ingest", "--db", &dbs, q1.path(), q2.path(), q3.path()]);
    db
}

#[test]
fn imported_vectors_override_text_and_seller_vectors_match_the_formula() {
    let tmp = tempfile::tempdir().unwrap();
    let db = vectors_db(tmp.path());
    let dbs = db.to_str().unwrap();
    let e = fails(&["featurize", "--db", dbs, "--dim", "8"]);
    assert!(
        e.contains("imported vectors (vectors.tsv) have dimension 2, but --dim 8 was asked"),
        "{e}"
    );
    let out = ok(&["featurize", "--db", dbs]);
    assert!(
        out.contains("3 product vectors of dimension 2 (3 recomputed, 3 imported"),
        "{out}"
    );

    let store = Store::open(&db, OpenMode::ReadOnly).unwrap();
    let id = |ns, ext: &str| store.lookup(ns, ext).unwrap().unwrap();
    let p1 = store
        .feature(id(Namespace::Product, "p1"))
        .unwrap()
        .unwrap();
    assert_eq!(p1.vector, vec![0.6, 0.8], "imported vector, L2-normalised");
    // Window = the last 2 periods (drops 2 and 3): p1 has 10 views, p2 30; drop 1's 1000 views
    // of p1 fall outside. S1 = (10·(0.6, 0.8) + 30·(0, 1)) / 40.
    let s1 = store
        .embedding(0, Namespace::Seller, id(Namespace::Seller, "s1"))
        .unwrap()
        .unwrap();
    let expected = [10.0 * 0.6 / 40.0, (10.0 * 0.8 + 30.0) / 40.0];
    for (got, want) in s1.iter().zip(expected) {
        assert!((got - want).abs() < 1e-6, "{s1:?} vs {expected:?}");
    }
    // s2 lists p3 (no views in the window) and p1 (10): only p1 weighs.
    let s2 = store
        .embedding(0, Namespace::Seller, id(Namespace::Seller, "s2"))
        .unwrap()
        .unwrap();
    assert!(
        (s2[0] - 0.6).abs() < 1e-6 && (s2[1] - 0.8).abs() < 1e-6,
        "{s2:?}"
    );
    let profile = store.profile(id(Namespace::Seller, "s2")).unwrap().unwrap();
    // One listing in each category; ties go to views (p1: Home).
    assert_eq!(profile.primary_category, "Home");
    drop(store);

    // A rerun with nothing new recomputes nothing.
    let out = ok(&["featurize", "--db", dbs]);
    assert!(out.contains("(0 recomputed"), "{out}");
    assert!(out.contains("(0 recomputed)"), "{out}");
}

#[test]
fn equal_weights_when_no_product_has_views() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let q = Drop::new(tmp.path(), "q");
    q.file(
        "vectors.tsv",
        &["product_id\tv1\tv2", "p1\t1\t0", "p2\t0\t1"],
    )
    .file(
        "listings.tsv",
        &["seller_id\tproduct_id", "s1\tp1", "s1\tp2"],
    );
    ok(&["ingest", "--db", db.to_str().unwrap(), q.path()]);
    ok(&["featurize", "--db", db.to_str().unwrap()]);
    let store = Store::open(&db, OpenMode::ReadOnly).unwrap();
    let s1 = store.lookup(Namespace::Seller, "s1").unwrap().unwrap();
    assert_eq!(
        store.embedding(0, Namespace::Seller, s1).unwrap().unwrap(),
        vec![0.5, 0.5]
    );
}

#[test]
fn recommendations_respect_listings_threshold_and_category() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample_db(tmp.path());
    let store = Store::open(&db, OpenMode::ReadOnly).unwrap();
    let mut checked = 0;
    let mut nonempty = Vec::new();
    let mut sellers = Vec::new();
    store
        .for_each_seller(|id, r| sellers.push((id, r.external)))
        .unwrap();
    for (seller, external) in &sellers {
        let listed: HashSet<u32> = store
            .listings_of(*seller)
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        for (category, list) in store.recommendations(*seller).unwrap() {
            assert_eq!(list.k, 100);
            for rec in &list.items {
                assert!(
                    !listed.contains(&rec.product),
                    "{external} already lists {}",
                    rec.product
                );
                assert!(rec.score >= 0.5 && rec.score <= 1.0, "score {}", rec.score);
                let text = store.product_text(rec.product).unwrap().unwrap();
                assert_eq!(text.category.split(" > ").next().unwrap(), category);
            }
            let scores: Vec<f32> = list.items.iter().map(|r| r.score).collect();
            assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first");
            checked += 1;
            if !list.items.is_empty() {
                nonempty.push((external.clone(), list.items.clone()));
            }
        }
    }
    assert!(checked >= 100, "{checked} lists");
    assert!(
        nonempty.len() >= 50,
        "only {} non-empty lists",
        nonempty.len()
    );

    // `--seller` computes the same list as the full run stored.
    let dbs = db.to_str().unwrap();
    for (external, items) in nonempty.iter().take(5) {
        assert_printed_list_is_stored(&db, &store, external, items);
    }

    // Another category on request: every item is from it.
    let (external, _) = &nonempty[0];
    let out = ok(&[
        "recommend",
        "--db",
        dbs,
        "--seller",
        external,
        "--category",
        "Toys",
    ]);
    assert!(out.starts_with(&format!("{external} — Toys")), "{out}");
    let e = fails(&[
        "recommend",
        "--db",
        dbs,
        "--seller",
        external,
        "--category",
        "Cars",
    ]);
    assert!(
        e.contains("no candidates in category `Cars`; categories with candidates: Beauty"),
        "{e}"
    );
    let e = fails(&["inspect", "--db", dbs, "nobody"]);
    assert!(e.contains("unknown seller `nobody`"), "{e}");
}

#[test]
fn a_cancelled_index_build_leaves_the_previous_generation_in_use() {
    use demandlink::index::{BuildOptions, stage};
    use demandlink::progress::NoProgress;
    use std::sync::atomic::AtomicBool;

    let tmp = tempfile::tempdir().unwrap();
    let db = sample_db(tmp.path());
    let store = Store::open(&db, OpenMode::ReadWrite).unwrap();
    let before = store.active_index().unwrap().unwrap();
    let err = stage::build_index(
        &store,
        &BuildOptions::default(),
        1,
        &NoProgress,
        &AtomicBool::new(true),
    );
    assert!(err.is_err());
    assert_eq!(store.active_index().unwrap().unwrap(), before);
    // Only the active generation's folder is left (the cancelled build's was removed or
    // never made; a rerun removes it).
    let left: Vec<String> = std::fs::read_dir(store.index_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != &(before.0 + 1).to_string())
        .collect();
    assert_eq!(left, vec![before.0.to_string()]);
    drop(store);
    // The previous generation still serves.
    let out = ok(&["recommend", "--db", db.to_str().unwrap()]);
    assert!(out.contains("recommend: 150 sellers"), "{out}");
}

#[test]
fn inspect_snapshot_on_sample_data() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample_db(tmp.path());
    let dbs = db.to_str().unwrap();
    let text = ok(&["inspect", "--db", dbs, "s000005"]);
    let masked: String = text
        .lines()
        .map(|l| match l.find("computed at unix ") {
            Some(at) => format!("{}computed at unix <time>", &l[..at]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/inspect_s000005.txt"
    );
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &masked).unwrap();
    }
    let expected = std::fs::read_to_string(path)
        .expect("snapshot missing: run the tests with UPDATE_SNAPSHOTS=1 once");
    assert_eq!(
        masked, expected,
        "inspect output changed (UPDATE_SNAPSHOTS=1 to accept)"
    );

    let json: serde_json::Value =
        serde_json::from_str(&ok(&["inspect", "--db", dbs, "s000005", "--json"])).unwrap();
    assert_eq!(json["seller"], "s000005");
    let recs = json["recommendations"].as_array().unwrap();
    let by_id: HashMap<&str, &serde_json::Value> = recs
        .iter()
        .map(|r| (r["product"].as_str().unwrap(), r))
        .collect();
    assert_eq!(by_id.len(), recs.len());
    for r in recs {
        let why = &r["why"];
        assert!(
            why["similar_listed"].as_array().unwrap().len() <= 3,
            "{why}"
        );
        let bought = why["copurchased_with"].as_array().unwrap().len();
        assert!(
            bought == 3 || (bought < 3 && why["copurchased_more"] == 0),
            "{why}"
        );
        assert!(
            why["category"]["name"]
                .as_str()
                .unwrap()
                .starts_with("Toys > ")
        );
    }
}
