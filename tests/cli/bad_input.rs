//! Bad input: every case gives one clear error (or a reported reject), and a refused drop
//! writes nothing.

use std::path::Path;

use crate::util::{Drop, dump, fails, ok, stats};

/// A database with one good drop applied, to check that refused drops leave it unchanged.
fn seeded(tmp: &Path) -> (String, String) {
    let db = tmp.join("db");
    let good = Drop::new(tmp, "good");
    good.file(
        "listings.tsv",
        &["seller_id\tproduct_id", "s1\tp1", "s2\tp1"],
    );
    let dbs = db.to_str().unwrap().to_string();
    ok(&["ingest", "--db", &dbs, good.path()]);
    let before = dump(&db);
    (dbs, before)
}

/// Asserts that ingesting `drop` fails with a message containing every `needle`, and that
/// the database did not change.
fn refused(tmp: &Path, drop: &Drop, needles: &[&str]) {
    let (db, before) = seeded(tmp);
    let e = fails(&["ingest", "--db", &db, drop.path()]);
    for n in needles {
        assert!(e.contains(n), "expected `{n}` in: {e}");
    }
    assert_eq!(
        dump(Path::new(&db)),
        before,
        "a refused drop wrote something"
    );
}

#[test]
fn rows_over_the_bad_fraction_refuse_the_drop() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "listings.tsv",
            &["seller_id\tproduct_id\tts", "s1\tp1\t5", "s2\tp2"],
            "listings.tsv:3: wrong column count: expected 3, found 2",
        ),
        (
            "views.tsv",
            &["product_id\tviews", "p1\t12", "p2\tmany"],
            "views.tsv:3: bad number in `views`: `many`",
        ),
        (
            "listings.tsv",
            &["seller_id\tproduct_id", "\tp1", "s1\tp2"],
            "listings.tsv:2: empty seller_id",
        ),
        (
            "copurchases.tsv",
            &["product_a\tproduct_b\tcount", "p1\tp1\t2"],
            "copurchases.tsv:2: product `p1` paired with itself",
        ),
        (
            "orders.tsv",
            &[
                "customer_id\tproduct_id\tts",
                "c1\tp1\t5",
                "c1\tp2\tyesterday",
            ],
            "orders.tsv:3: bad number in `ts`: `yesterday` (expected unix seconds)",
        ),
        (
            "orders.tsv",
            &["customer_id\tproduct_id\tts", "\tp1\t5"],
            "orders.tsv:2: empty customer_id",
        ),
        (
            "vectors.tsv",
            &[
                "product_id\tv1\tv2\tv3",
                "p1\t0.1\t0.2\t0.3",
                "p2\t0.1\t0.2",
            ],
            "vectors.tsv:3: wrong column count: expected 4, found 3",
        ),
    ];
    for (i, (file, lines, reason)) in cases.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let drop = Drop::new(tmp.path(), &format!("bad{i}"));
        drop.file(file, lines);
        refused(
            tmp.path(),
            &drop,
            &[file, "rows rejected", "nothing of drop", reason],
        );
        // The rejects file names file, line and reason.
        let rejects =
            std::fs::read_to_string(tmp.path().join(format!("db/rejects/bad{i}.tsv"))).unwrap();
        let (loc, why) = reason.split_once(": ").unwrap();
        let (f, line) = loc.split_once(':').unwrap();
        assert!(
            rejects.contains(&format!("{f}\t{line}\t{why}")),
            "{rejects}"
        );
    }
}

#[test]
fn invalid_utf8_is_rejected_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let drop = Drop::new(tmp.path(), "latin1");
    drop.bytes(
        "products.tsv",
        b"product_id\tcategory\ttitle\np1\tHome\tCaf\xe9 table\n",
    );
    refused(
        tmp.path(),
        &drop,
        &["products.tsv:2: invalid UTF-8 at byte 12"],
    );
}

#[test]
fn few_bad_rows_are_reported_and_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let drop = Drop::new(tmp.path(), "mostly-good");
    let mut lines = vec!["seller_id\tproduct_id".to_string()];
    lines.extend((0..3000).map(|i| format!("s{}\tp{}", i % 100, i)));
    lines.insert(7, "s1".into());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    drop.file("listings.tsv", &lines);
    let out = ok(&["ingest", "--db", db.to_str().unwrap(), drop.path()]);
    assert!(
        out.contains("rejected listings.tsv:8: wrong column count: expected 2, found 1"),
        "{out}"
    );
    assert!(out.contains("listings.tsv 3000 (1 rejected)"), "{out}");
    let s = stats(&db);
    assert_eq!(s["listings"], 3000);
    assert_eq!(s["drops"][0]["files"][0]["rejected"], 1);
}

#[test]
fn whole_file_problems_refuse_the_drop() {
    // Unknown header column.
    let tmp = tempfile::tempdir().unwrap();
    let d = Drop::new(tmp.path(), "hdr");
    d.file("views.tsv", &["product_id\tclicks", "p1\t3"]);
    refused(
        tmp.path(),
        &d,
        &["views.tsv", "line 1: unknown column `clicks`"],
    );

    // Empty file.
    let tmp = tempfile::tempdir().unwrap();
    let d = Drop::new(tmp.path(), "empty-file");
    d.bytes("listings.tsv", b"");
    refused(tmp.path(), &d, &["listings.tsv", "file is empty"]);

    // A corrupt gzip file.
    let tmp = tempfile::tempdir().unwrap();
    let d = Drop::new(tmp.path(), "corrupt-gz");
    d.bytes("views.tsv.gz", b"product_id\tviews\np1\t3\n");
    let gz = d.dir.join("views.tsv.gz");
    let mut bytes = std::fs::read(&gz).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&gz, bytes).unwrap();
    refused(tmp.path(), &d, &["views.tsv.gz"]);

    // No drop file at all.
    let tmp = tempfile::tempdir().unwrap();
    let d = Drop::new(tmp.path(), "nothing");
    d.file("README.md", &["hello"]);
    refused(tmp.path(), &d, &["empty drop: no drop files found"]);

    // Vectors of another dimension than the database's.
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let v3 = Drop::new(tmp.path(), "v3");
    v3.file("vectors.tsv", &["product_id\tv1\tv2\tv3", "p1\t1\t0\t0"]);
    ok(&["ingest", "--db", db.to_str().unwrap(), v3.path()]);
    let before = dump(&db);
    let v2 = Drop::new(tmp.path(), "v2");
    v2.file("vectors.tsv", &["product_id\tv1\tv2", "p2\t1\t0"]);
    let e = fails(&["ingest", "--db", db.to_str().unwrap(), v2.path()]);
    assert!(
        e.contains("vectors have dimension 2, but this database holds vectors of dimension 3"),
        "{e}"
    );
    assert_eq!(dump(&db), before);
}

#[test]
fn missing_paths_and_files_give_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let dbs = db.to_str().unwrap();
    let missing = tmp.path().join("no-such-drop");
    let e = fails(&["ingest", "--db", dbs, missing.to_str().unwrap()]);
    assert!(
        e.contains("no-such-drop: drop folder does not exist"),
        "{e}"
    );

    let file_db = tmp.path().join("a-file");
    std::fs::write(&file_db, "x").unwrap();
    let d = Drop::new(tmp.path(), "q");
    d.file("views.tsv", &["product_id\tviews", "p1\t3"]);
    let e = fails(&["ingest", "--db", file_db.to_str().unwrap(), d.path()]);
    assert!(
        e.contains("a-file: is a file, not a DemandLink database folder"),
        "{e}"
    );

    let e = fails(&[
        "stats",
        "--db",
        tmp.path().join("nowhere").to_str().unwrap(),
    ]);
    assert!(e.contains("no DemandLink database here"), "{e}");
}
