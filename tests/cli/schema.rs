//! The documented layout (`schema/`) and the code agree; databases of another version are
//! refused.

use crate::util::{Drop, fails, ok};

#[test]
fn store_md_lists_exactly_the_column_families() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/store.md")).unwrap();
    let section = doc
        .split("## Column families")
        .nth(1)
        .expect("schema/store.md has a `## Column families` section");
    let documented: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    assert_eq!(documented, demandlink::store::column_family_names());
    assert!(
        doc.contains(&format!(
            "schema version {}",
            demandlink::store::SCHEMA_VERSION
        )),
        "schema/store.md names another version"
    );
}

#[test]
fn another_schema_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let d = Drop::new(tmp.path(), "q1");
    d.file("views.tsv", &["product_id\tviews", "p1\t3"]);
    ok(&["ingest", "--db", db.to_str().unwrap(), d.path()]);
    {
        // Rewrite the version the way a future build would, through RocksDB directly.
        let mut opts = rocksdb::Options::default();
        opts.create_missing_column_families(true);
        let names = rocksdb::DB::list_cf(&opts, db.join("store")).unwrap();
        let raw = rocksdb::DB::open_cf(&opts, db.join("store"), &names).unwrap();
        let meta = raw.cf_handle("meta").unwrap();
        raw.put_cf(meta, b"schema_version", 99u64.to_le_bytes())
            .unwrap();
    }
    for args in [
        vec!["stats", "--db", db.to_str().unwrap()],
        vec!["ingest", "--db", db.to_str().unwrap(), d.path()],
    ] {
        let e = fails(&args);
        assert!(
            e.contains("database schema version 99, but this demandlink reads version 2"),
            "{e}"
        );
    }
}

#[test]
fn readers_open_a_database_written_before_the_newest_column_family() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let dbs = db.to_str().unwrap();
    let d = Drop::new(tmp.path(), "q1");
    d.file("views.tsv", &["product_id\tviews", "p1\t3"]);
    ok(&["ingest", "--db", dbs, d.path()]);
    {
        // What an older build left: no `tokens` column family.
        let opts = rocksdb::Options::default();
        let names = rocksdb::DB::list_cf(&opts, db.join("store")).unwrap();
        let mut raw = rocksdb::DB::open_cf(&opts, db.join("store"), &names).unwrap();
        raw.drop_cf("tokens").unwrap();
    }
    // Read-only commands read it as empty; a writer creates it.
    assert!(ok(&["stats", "--db", dbs]).contains("sellers"));
    assert_eq!(ok(&["tokens", "list", "--db", dbs]), "");
    ok(&["tokens", "issue", "--db", dbs, "--operator"]);
    assert!(ok(&["tokens", "list", "--db", dbs]).contains("operator"));
}
