//! `orders.tsv` becomes co-purchase counts: hand-computed pairs (window edges, repeats, self
//! pairs), windows spanning drops, accumulation, the window flag, and the external sort giving
//! the same counts whatever its run size.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::{Drop, copurchase_counts, dump, large_orders, ok, stats};

const T: i64 = 1_700_000_000;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

fn orders(drop: &Drop, rows: &[(&str, &str, i64)]) {
    let mut lines = vec!["customer_id\tproduct_id\tts".to_string()];
    lines.extend(rows.iter().map(|(c, p, t)| format!("{c}\t{p}\t{t}")));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    drop.file("orders.tsv", &lines);
}

fn counts(pairs: &[(&str, &str, u64)]) -> BTreeMap<(String, String), u64> {
    pairs
        .iter()
        .map(|&(a, b, n)| ((a.to_string(), b.to_string()), n))
        .collect()
}

fn ingest(db: &Path, args: &[&str]) -> String {
    ok(&[&["ingest", "--db", db.to_str().unwrap()][..], args].concat())
}

#[test]
fn one_drop_matches_hand_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let q = Drop::new(tmp.path(), "q1");
    orders(
        &q,
        &[
            // c1: p1–p2 exactly a week apart (counts); p3 a week + 1 s after p1 (not with p1);
            // p2 and p3 bought twice (one pair).
            ("c1", "p1", T),
            ("c1", "p3", T + WEEK + 1),
            ("c1", "p2", T + WEEK),
            ("c1", "p2", T + WEEK + 2),
            ("c1", "p3", T + WEEK + 1),
            // c2: p1–p2 again (a second customer), p4 twice (never a self pair).
            ("c2", "p2", T + 100),
            ("c2", "p1", T),
            ("c2", "p4", T + 30 * DAY),
            ("c2", "p4", T + 30 * DAY + 5),
            // c3: a single order.
            ("c3", "p9", T),
        ],
    );
    // Pre-aggregated pairs land in the same counts.
    q.file(
        "copurchases.tsv",
        &["product_a\tproduct_b\tcount", "p2\tp1\t5"],
    );
    let out = ingest(&db, &[q.path()]);
    assert!(out.contains("orders.tsv 10"), "{out}");
    assert_eq!(
        copurchase_counts(&db),
        counts(&[("p1", "p2", 7), ("p2", "p3", 1)])
    );
    let s = stats(&db);
    assert_eq!(s["copurchase_pairs"], 2);
    assert_eq!(s["copurchase_pairs_above_threshold"], 1);
    assert_eq!(s["products"]["total"], 5);
    // The sort runs are scratch: gone once the drop is applied.
    assert_eq!(std::fs::read_dir(db.join("tmp")).unwrap().count(), 0);
}

#[test]
fn windows_span_drops_and_counts_accumulate() {
    let tmp = tempfile::tempdir().unwrap();
    let (q1, q2, q3) = (
        Drop::new(tmp.path(), "q1"),
        Drop::new(tmp.path(), "q2"),
        Drop::new(tmp.path(), "q3"),
    );
    // c1 buys a at the end of q1 and b three days later, in q2: +1 in q2.
    // c2 buys a and b in q1 (+1), and again in q3 (+1: once per customer per drop).
    // c3 bought x ten days before q1 ended: too old to pair with y at the start of q2, and
    // dropped from the stored tails. c4 orders only in q1: their tail expires in q3, which
    // ends three months later.
    orders(
        &q1,
        &[
            ("c1", "a", T),
            ("c2", "a", T - DAY),
            ("c2", "b", T - DAY),
            ("c3", "x", T - 10 * DAY),
            ("c4", "z", T),
        ],
    );
    orders(&q2, &[("c1", "b", T + 3 * DAY), ("c3", "y", T + 1)]);
    orders(&q3, &[("c2", "b", T + 90 * DAY), ("c2", "a", T + 91 * DAY)]);

    let db = tmp.path().join("db");
    ingest(&db, &[q1.path()]);
    assert_eq!(copurchase_counts(&db), counts(&[("a", "b", 1)]));
    let d = dump(&db);
    assert!(d.contains("customer_tails customer:c1 "), "{d}");
    assert!(
        !d.contains("customer:c3"),
        "c3's only order is older than the window: {d}"
    );

    ingest(&db, &[q2.path()]);
    assert_eq!(copurchase_counts(&db), counts(&[("a", "b", 2)]));
    assert!(dump(&db).contains("customer_tails customer:c4 "));
    ingest(&db, &[q3.path()]);
    assert_eq!(copurchase_counts(&db), counts(&[("a", "b", 3)]));
    let tails: Vec<String> = dump(&db)
        .lines()
        .filter_map(|l| l.strip_prefix("customer_tails customer:"))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(
        tails,
        ["c2"],
        "only q3's customer is within the window of q3's end"
    );
    // One customer per commit: the same state (tails of absent customers expire between
    // chunks as well as after the last one).
    let chunked = tmp.path().join("chunked");
    ingest(
        &chunked,
        &["--batch-rows", "1", q1.path(), q2.path(), q3.path()],
    );
    assert_eq!(dump(&chunked), dump(&db));

    // A one-day window: c1's pair across the drops no longer counts.
    let narrow = tmp.path().join("narrow");
    ingest(
        &narrow,
        &[
            "--copurchase-window-days",
            "1",
            q1.path(),
            q2.path(),
            q3.path(),
        ],
    );
    assert_eq!(copurchase_counts(&narrow), counts(&[("a", "b", 2)]));
}

#[test]
fn the_external_sort_gives_the_same_counts_whatever_the_run_size() {
    let tmp = tempfile::tempdir().unwrap();
    let drop = large_orders(tmp.path(), "big", 300_000, 20_000, T);
    let small = tmp.path().join("small-runs");
    let large = tmp.path().join("large-runs");
    ingest(&small, &["--sort-run-rows", "1000", drop.path()]);
    ingest(&large, &[drop.path()]);
    let s = stats(&small);
    assert!(
        s["copurchase_pairs"].as_u64().unwrap() > 100_000,
        "{}",
        s["copurchase_pairs"]
    );
    assert!(dump(&small) == dump(&large), "run size changed the result");
}
