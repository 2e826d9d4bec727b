//! Ingesting good drops: counts match hand-counted expectations, re-ingest is a no-op, the
//! sample data in `data/` ingests cleanly.

use serde_json::json;

use crate::util::{Drop, dump, fails, ok, stats};

/// Two small drops whose every count is known by hand.
fn two_drops(tmp: &std::path::Path) -> (Drop, Drop) {
    let q1 = Drop::new(tmp, "2024Q1");
    q1.file(
        "products.tsv",
        &[
            "product_id\tcategory\ttitle",
            "p1\tHome > Kitchen\tSteel chef knife",
            "p2\tHome > Kitchen\tWooden cutting board",
            "p3\tGarden > Tools\tPruning shears",
            "p4\tHome > Kitchen\tCast iron pan",
        ],
    )
    .file(
        "sellers.tsv",
        &["seller_id\tname\tprimary_category", "s1\tAcme\tHome"],
    )
    .file(
        "listings.tsv",
        &[
            "seller_id\tproduct_id\tts",
            "s1\tp1\t100",
            "s1\tp2\t101",
            "s2\tp2\t102",
            "s2\tp5\t103",
        ],
    )
    .file(
        "copurchases.tsv",
        &[
            "product_a\tproduct_b\tcount",
            "p1\tp2\t3",
            "p2\tp4\t1",
            "p1\tp4\t2",
        ],
    )
    .file("views.tsv", &["product_id\tviews", "p1\t10", "p2\t5"])
    .file("high_demand.tsv", &["product_id", "p4"])
    .file("_READY", &[]);
    let q2 = Drop::new(tmp, "2024Q2");
    q2.bytes(
        "listings.tsv.gz",
        b"seller_id\tproduct_id\tts\ns3\tp1\t200\ns1\tp1\t201\ns3\tp3\t202\ns1\tp3\t203\n",
    )
    .file(
        "copurchases.tsv",
        &["product_a\tproduct_b\tcount", "p2\tp1\t1"],
    )
    .file("views.tsv", &["product_id\tviews", "p1\t7"])
    .file("high_demand.tsv", &["product_id", "p3"]);
    (q1, q2)
}

#[test]
fn two_drops_match_hand_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let (q1, q2) = two_drops(tmp.path());
    let out = ok(&["ingest", "--db", db.to_str().unwrap(), q1.path(), q2.path()]);
    assert!(out.contains("2024Q1: applied drop #1"), "{out}");
    assert!(out.contains("2024Q2: applied drop #2"), "{out}");
    assert!(
        out.contains("(1 without text)"),
        "p5 is listed but never described: {out}"
    );

    let s = stats(&db);
    // s1, s2, s3; p1..p5.
    assert_eq!(s["sellers"], 3);
    assert_eq!(
        s["products"],
        json!({"total": 5, "listed": 4, "high_demand": 1, "auxiliary": 1, "without_text": 1})
    );
    // s1p1 s1p2 s2p2 s2p5 | s3p1 s3p3 s1p3 (s1p1 again is the same edge).
    assert_eq!(s["listings"], 7);
    // p1p2 = 3 + 1, p2p4 = 1, p1p4 = 2: two pairs reach the default threshold 2.
    assert_eq!(s["copurchase_pairs"], 3);
    assert_eq!(s["copurchase_pairs_above_threshold"], 2);
    assert_eq!(
        s["views"],
        json!({"periods": 2, "products_with_views": 2, "total": 22})
    );
    let sparsity = s["sparsity"].as_f64().unwrap();
    assert!((sparsity - (1.0 - 7.0 / 15.0)).abs() < 1e-12, "{sparsity}");
    // Listings per seller: s1 3, s2 2, s3 2.
    assert_eq!(
        s["listings_per_seller"],
        json!({"median": 2, "p90": 3, "max": 3})
    );
    let drops = s["drops"].as_array().unwrap();
    assert_eq!(drops.len(), 2);
    assert_eq!(drops[1]["name"], "2024Q2");
    assert_eq!(drops[1]["state"], "applied");
    assert_eq!(drops[1]["files"][0]["name"], "listings.tsv.gz");
    assert_eq!(drops[1]["files"][0]["applied"], 4);

    // The listing seen twice keeps the drop and timestamp it first appeared with.
    let d = dump(&db);
    assert!(
        d.contains("listings_by_seller 0 0 Listing { drop: 1, ts: Some(100) }"),
        "{d}"
    );
    assert!(d.contains("copurchase 0 1 = 4"), "{d}");
    // The text stats view agrees.
    let text = ok(&["stats", "--db", db.to_str().unwrap()]);
    assert!(text.contains("listing edges           7"), "{text}");
}

#[test]
fn reingest_is_a_noop_that_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let (q1, q2) = two_drops(tmp.path());
    let dbs = db.to_str().unwrap();
    ok(&["ingest", "--db", dbs, q1.path(), q2.path()]);
    let before = dump(&db);
    let out = ok(&["ingest", "--db", dbs, q1.path()]);
    assert!(out.contains("already applied as drop #1"), "{out}");
    // The same content under another folder name is recognised too.
    let copy = tmp.path().join("copy-of-q2");
    std::fs::create_dir(&copy).unwrap();
    for f in std::fs::read_dir(&q2.dir).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
    }
    let out = ok(&["ingest", "--db", dbs, copy.to_str().unwrap()]);
    assert!(out.contains("already applied as drop #2 `2024Q2`"), "{out}");
    assert_eq!(dump(&db), before);
}

#[test]
fn same_name_with_other_content_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let (q1, _) = two_drops(tmp.path());
    let dbs = db.to_str().unwrap();
    ok(&["ingest", "--db", dbs, q1.path()]);
    let before = dump(&db);
    q1.file("views.tsv", &["product_id\tviews", "p1\t11"]);
    let e = fails(&["ingest", "--db", dbs, q1.path()]);
    assert!(
        e.contains("already applied as #1 with different content"),
        "{e}"
    );
    assert_eq!(dump(&db), before);
}

#[test]
fn sample_data_ingests_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let q1 = format!("{data}/q1");
    let q2 = format!("{data}/q2");
    ok(&["ingest", "--db", db.to_str().unwrap(), &q1, &q2]);
    let s = stats(&db);
    assert!(s["sellers"].as_u64().unwrap() >= 100, "{s}");
    assert!(s["listings"].as_u64().unwrap() >= 2000, "{s}");
    assert!(s["products"]["high_demand"].as_u64().unwrap() > 0, "{s}");
    assert!(s["copurchase_pairs"].as_u64().unwrap() > 0, "{s}");
    for d in s["drops"].as_array().unwrap() {
        assert_eq!(d["state"], "applied");
        for f in d["files"].as_array().unwrap() {
            assert_eq!(f["rejected"], 0, "{f}");
            assert_eq!(f["rows"], f["applied"], "{f}");
        }
    }
}
