//! The documented layout (`schema/`) and the code agree; readers open a database that lacks a
//! column family added within the version. (Databases of another version are refused in
//! `fixtures`.)

use crate::util::{Drop, ok};

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
