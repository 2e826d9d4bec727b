//! Evaluation from the command line: split a dataset, run the pipeline on the training drop,
//! evaluate against the held-out pairs; the JSON names scripts depend on.

use crate::util::ok;

#[test]
fn cold_split_then_eval_reports_every_method() {
    let tmp = tempfile::tempdir().unwrap();
    let split = tmp.path().join("split");
    let db = tmp.path().join("db");
    let dbs = db.to_str().unwrap();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/q1");
    ok(&[
        "split",
        "--mode",
        "cold",
        "--seed",
        "3",
        "--out",
        split.to_str().unwrap(),
        data,
    ]);
    let train = split.join("train");
    let heldout = split.join("heldout.tsv");
    ok(&["ingest", "--db", dbs, train.to_str().unwrap()]);
    ok(&["featurize", "--db", dbs]);
    ok(&["index", "--db", dbs]);
    let report = tmp.path().join("report.md");
    let out = ok(&[
        "eval",
        "--db",
        dbs,
        "--heldout",
        heldout.to_str().unwrap(),
        "--ablation",
        "--json",
        "--report",
        report.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["model"], "content");
    assert!(v["sellers"].as_u64().unwrap() > 20, "{v}");
    for k in [10, 20, 50, 100] {
        for m in ["recall", "ndcg", "hit", "coverage"] {
            let key = format!("{m}@{k}");
            let x = v["metrics"][&key].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&x), "{key} = {x}");
        }
    }
    for b in [
        "popularity",
        "views",
        "text_knn",
        "copurchase",
        "als",
        "als_copurchase",
    ] {
        assert!(
            v["baselines"][b]["recall@100"].is_number(),
            "{b} missing: {v}"
        );
    }
    // The content model ranks by text: far above popularity on planted categories.
    let model = v["metrics"]["recall@20"].as_f64().unwrap();
    let popularity = v["baselines"]["popularity"]["recall@20"].as_f64().unwrap();
    assert!(
        model > popularity,
        "model {model} vs popularity {popularity}"
    );
    let ablation = v["ablation"].as_array().unwrap();
    assert_eq!(ablation.len(), 4);
    // Every row is trained and ranked, the graph-model rows in memory.
    for row in ablation {
        assert_eq!(row["available"], true, "{row}");
        assert!(row["metrics"]["recall@100"].is_number(), "{row}");
    }
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("| MF baseline (ALS on listings) |"), "{md}");
    assert!(md.contains("| + stratified edge sampling |"), "{md}");
    let svg = std::fs::read_to_string(report.with_extension("svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{svg}"
    );
}
