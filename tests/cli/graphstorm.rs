//! `export` and `import-embeddings`, the hand-off to GraphStorm and back, without GraphStorm:
//! the export of the sample is deterministic, restartable and matches `schema/export.md`;
//! hand-made embedding folders (written here with the `parquet` crate, as GraphStorm lays them
//! out) become the active model and drive the recommendations; bad folders are refused with
//! the file, row and reason and nothing written. (The interrupted import is in `interrupt`.)

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use demandlink::store::{Namespace, OpenMode, Store};
use parquet::basic::{ConvertedType, Type as Physical};
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::util::{dump, fails, ok, sample, seeded_embeddings, stats, write_embeddings};

/// The sample's two drops ingested and featurized.
fn featurized(tmp: &Path) -> PathBuf {
    let db = tmp.join("db");
    let d = db.to_str().unwrap();
    ok(&["ingest", "--db", d, &sample("q1"), &sample("q2")]);
    ok(&["featurize", "--db", d]);
    db
}

fn export(db: &Path, out: &Path, parts: &str) -> String {
    ok(&[
        "export",
        "--db",
        db.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--parts",
        parts,
    ])
}

/// Every file of a folder, by relative path, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// The column tables of `schema/export.md`: per table, its `(column, type)` rows in order.
fn documented_tables() -> BTreeMap<String, Vec<(String, String)>> {
    let doc = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/export.md")).unwrap();
    let section = doc.split("## Tables").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    let mut tables = BTreeMap::new();
    for block in section.split("### `").skip(1) {
        let name = block.split('`').next().unwrap().to_string();
        let columns = block
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .map(|l| {
                let mut cells = l.split('|');
                let column = cells
                    .next()
                    .unwrap()
                    .trim()
                    .trim_end_matches('`')
                    .to_string();
                (column, cells.next().unwrap().trim().to_string())
            })
            .collect();
        tables.insert(name, columns);
    }
    tables
}

/// A Parquet file's columns as `schema/export.md` names their types.
fn parquet_columns(path: &Path) -> Vec<(String, String)> {
    let reader = SerializedFileReader::new(fs::File::open(path).unwrap()).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr();
    schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| {
            let kind = if f.is_group() {
                let element = &f.get_fields()[0].get_fields()[0];
                assert_eq!(f.get_basic_info().converted_type(), ConvertedType::LIST);
                assert_eq!(element.get_physical_type(), Physical::FLOAT);
                "list<float>"
            } else {
                match (f.get_physical_type(), f.get_basic_info().converted_type()) {
                    (Physical::BYTE_ARRAY, ConvertedType::UTF8) => "string",
                    (Physical::BOOLEAN, _) => "boolean",
                    (Physical::INT64, _) => "int64",
                    other => panic!("{}: undocumented type {other:?}", f.name()),
                }
            };
            (f.name().to_string(), kind.to_string())
        })
        .collect()
}

#[test]
fn export_of_the_sample_is_deterministic_restartable_and_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let db = featurized(tmp.path());
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let printed = export(&db, &a, "3");
    assert!(printed.contains("150 sellers, 1300 products"), "{printed}");
    export(&db, &b, "3");
    let reference = files(&a);
    assert!(reference == files(&b), "two exports of one database differ");
    assert!(export(&db, &a, "3").contains("nothing to do"));
    let e = fails(&[
        "export",
        "--db",
        db.to_str().unwrap(),
        "--out",
        db.to_str().unwrap(),
    ]);
    assert!(e.contains("not empty and not an export folder"), "{e}");

    // Every table's parts have the documented columns; the rows add up to the store's.
    let manifest: serde_json::Value = serde_json::from_slice(&reference["manifest.json"]).unwrap();
    let documented = documented_tables();
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        ["copurchase", "lists", "product", "seller"]
    );
    let mut rows: HashMap<String, u64> = HashMap::new();
    for f in manifest["files"].as_array().unwrap() {
        let table = f["table"].as_str().unwrap();
        let path = a.join(f["path"].as_str().unwrap());
        assert_eq!(
            parquet_columns(&path),
            documented[table],
            "{}",
            path.display()
        );
        *rows.entry(table.into()).or_default() += f["rows"].as_u64().unwrap();
    }
    assert_eq!(
        manifest["files"].as_array().unwrap().len(),
        12,
        "3 parts of 4 tables"
    );
    let s = stats(&db);
    assert_eq!(rows["seller"], s["sellers"].as_u64().unwrap());
    assert_eq!(rows["product"], s["products"]["total"].as_u64().unwrap());
    let held = manifest["held_products"].as_u64().unwrap();
    assert!(held > 0, "the validation products' listings are left out");
    assert!(rows["lists"] < s["listings"].as_u64().unwrap());
    assert!(rows["copurchase"] > 0);
    let gconstruct = String::from_utf8(reference["gconstruct.json"].clone()).unwrap();
    assert!(
        gconstruct.contains("edges/lists/part-00002.parquet"),
        "{gconstruct}"
    );
    let yaml = String::from_utf8(reference["lp.yaml"].clone()).unwrap();
    assert!(
        yaml.contains("hidden_size: 64") && yaml.contains("fanout: \"3,10\""),
        "{yaml}"
    );

    // An export killed after some parts: the rerun keeps them and ends byte-identical.
    let c = tmp.path().join("c");
    export(&db, &c, "3");
    fs::remove_file(c.join("manifest.json")).unwrap();
    fs::remove_file(c.join("edges/lists/part-00001.parquet")).unwrap();
    fs::write(
        c.join("nodes/product/part-00002.parquet.tmp"),
        b"half a file",
    )
    .unwrap();
    let fingerprint = manifest["fingerprint"].as_str().unwrap();
    fs::write(c.join("export.progress"), format!("{fingerprint}\n")).unwrap();
    let rerun = export(&db, &c, "3");
    assert!(
        rerun.contains("(11 kept from the interrupted run)"),
        "{rerun}"
    );
    fs::remove_file(c.join("nodes/product/part-00002.parquet.tmp")).ok();
    assert!(files(&c) == reference, "the resumed export differs");
}

/// Lines of a sample drop file (plain or gzip), header skipped, split on tabs.
fn sample_rows(drop: &str, file: &str) -> Vec<Vec<String>> {
    let dir = PathBuf::from(sample(drop));
    let mut text = String::new();
    if dir.join(file).exists() {
        text = fs::read_to_string(dir.join(file)).unwrap();
    } else {
        let gz = fs::File::open(dir.join(format!("{file}.gz"))).unwrap();
        flate2::read::GzDecoder::new(gz)
            .read_to_string(&mut text)
            .unwrap();
    }
    text.lines()
        .skip(1)
        .map(|l| l.split('\t').map(String::from).collect())
        .collect()
}

/// Planted embeddings of the sample: seller i is the unit vector eᵢ, a listed product the
/// normalised sum of its sellers' vectors (so the cosine finds every listing, the validation
/// products' too), the `planted` high-demand products `target`'s own vector, and the other
/// high-demand products the vector of one other seller each.
struct Planted {
    sellers: Vec<(String, Vec<f32>)>,
    products: Vec<(String, Vec<f32>)>,
}

fn planted(target: &str, planted: &BTreeSet<String>) -> Planted {
    let mut sellers = BTreeSet::new();
    for drop in ["q1", "q2"] {
        sellers.extend(
            sample_rows(drop, "sellers.tsv")
                .into_iter()
                .map(|r| r[0].clone()),
        );
    }
    let mut listed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for drop in ["q1", "q2"] {
        for r in sample_rows(drop, "listings.tsv") {
            sellers.insert(r[0].clone());
            listed.entry(r[1].clone()).or_default().push(r[0].clone());
        }
    }
    let index: HashMap<String, usize> = sellers.iter().cloned().zip(0..).collect();
    let d = index.len();
    let unit = |i: usize| {
        let mut v = vec![0f32; d];
        v[i] = 1.0;
        v
    };
    let sellers: Vec<(String, Vec<f32>)> =
        index.iter().map(|(s, &i)| (s.clone(), unit(i))).collect();
    let mut products: Vec<(String, Vec<f32>)> = listed
        .iter()
        .map(|(p, by)| {
            let mut v = vec![0f32; d];
            for s in by {
                v[index[s]] += 1.0;
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            (p.clone(), v.into_iter().map(|x| x / norm).collect())
        })
        .collect();
    let others: Vec<usize> = (0..d).filter(|&i| i != index[target]).collect();
    for (k, r) in sample_rows("q2", "high_demand.tsv").into_iter().enumerate() {
        let p = r[0].clone();
        let v = match planted.contains(&p) {
            true => unit(index[target]),
            false => unit(others[k % others.len()]),
        };
        products.push((p, v));
    }
    Planted { sellers, products }
}

impl Planted {
    fn write(&self, dir: &Path) {
        // Two files for the products, as two trainers write them.
        let half = self.products.len() / 2;
        write_embeddings(dir, "seller", "embed-00000_00000.parquet", &self.sellers);
        write_embeddings(
            dir,
            "product",
            "embed-00000_00000.parquet",
            &self.products[..half],
        );
        write_embeddings(
            dir,
            "product",
            "embed-00001_00000.parquet",
            &self.products[half..],
        );
    }
}

const TARGET: &str = "s000005";

/// Up to 5 high-demand products in `TARGET`'s primary category, and that category.
fn planted_products(db: &Path) -> BTreeSet<String> {
    let store = Store::open(db, OpenMode::ReadOnly).unwrap();
    let seller = store.lookup(Namespace::Seller, TARGET).unwrap().unwrap();
    let primary = store.profile(seller).unwrap().unwrap().primary_category;
    sample_rows("q2", "high_demand.tsv")
        .into_iter()
        .map(|r| r[0].clone())
        .filter(|p| {
            let id = store.lookup(Namespace::Product, p).unwrap().unwrap();
            let text = store.product_text(id).unwrap();
            text.is_some_and(|t| t.category.starts_with(&primary))
        })
        .take(5)
        .collect()
}

/// `TARGET`'s stored recommendations (all categories), best first, by external id.
fn recommendations(db: &Path) -> Vec<String> {
    let store = Store::open(db, OpenMode::ReadOnly).unwrap();
    let seller = store.lookup(Namespace::Seller, TARGET).unwrap().unwrap();
    let mut items = Vec::new();
    for (_, list) in store.recommendations(seller).unwrap() {
        for rec in list.items {
            items.push(store.external(Namespace::Product, rec.product).unwrap());
        }
    }
    items
}

#[test]
fn imported_embeddings_become_the_active_model_and_drive_the_recommendations() {
    let tmp = tempfile::tempdir().unwrap();
    let db = featurized(tmp.path());
    let d = db.to_str().unwrap();
    ok(&["train", "--db", d, "--epochs", "2"]);
    ok(&["index", "--db", d]);
    ok(&["recommend", "--db", d]);
    let before = recommendations(&db);
    let chosen = planted_products(&db);
    assert_eq!(chosen.len(), 5);

    let emb = tmp.path().join("emb");
    planted(TARGET, &chosen).write(&emb);
    let out = ok(&["import-embeddings", "--db", d, emb.to_str().unwrap()]);
    assert!(out.contains("model generation 2 is active"), "{out}");
    // The recommendations name the generation they were computed with: rebuild both.
    let stale = fails(&["recommend", "--db", d, "--seller", TARGET]);
    assert!(stale.contains("index"), "{stale}");
    ok(&["index", "--db", d]);
    ok(&["recommend", "--db", d]);
    let after = recommendations(&db);
    assert_ne!(before, after);
    let top: BTreeSet<String> = after.iter().take(chosen.len()).cloned().collect();
    assert_eq!(
        top, chosen,
        "the planted products lead {TARGET}'s list: {after:?}"
    );
    assert!(
        ok(&["inspect", "--db", d, TARGET]).contains("graph#2"),
        "inspect names the imported model"
    );

    // The same files again: nothing to do. After a `train`, importing them again makes a new
    // generation that replaces the trained one.
    assert!(ok(&["import-embeddings", "--db", d, emb.to_str().unwrap()]).contains("nothing to do"));
    ok(&["train", "--db", d, "--epochs", "2"]);
    let again = ok(&["import-embeddings", "--db", d, emb.to_str().unwrap()]);
    assert!(again.contains("model generation 4 is active"), "{again}");
    let text = dump(&db);
    assert!(
        !text.contains("embeddings model 3 "),
        "the trained generation was deleted"
    );
    assert!(text.contains("embeddings model 4 seller#"));
}

#[test]
fn bad_embedding_folders_are_refused_with_file_row_and_reason_and_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let db = featurized(tmp.path());
    let d = db.to_str().unwrap();
    let chosen = planted_products(&db);
    let good = planted(TARGET, &chosen);
    let before = dump(&db);
    let refused = |name: &str, p: &Planted, damage: &dyn Fn(&Path)| {
        let dir = tmp.path().join(name);
        p.write(&dir);
        damage(&dir);
        let error = fails(&["import-embeddings", "--db", d, dir.to_str().unwrap()]);
        assert!(dump(&db) == before, "{name}: the store changed");
        assert!(error.contains("nothing was imported"), "{error}");
        error
    };

    let mut missing = Planted {
        sellers: good.sellers.clone(),
        products: good.products.clone(),
    };
    let (gone, _) = missing.sellers.remove(7);
    let e = refused("missing", &missing, &|_| {});
    assert!(
        e.contains(&format!("seller '{gone}' has no embedding")),
        "{e}"
    );
    assert!(e.contains("(1 sellers missing in all)"), "{e}");

    let mut wide = Planted {
        sellers: good.sellers.clone(),
        products: good.products.clone(),
    };
    wide.products[3].1.push(0.5);
    let e = refused("dimension", &wide, &|_| {});
    assert!(e.contains("embed-00000_00000.parquet, row 4"), "{e}");
    assert!(e.contains("dimensions, the first vector"), "{e}");

    let mut nan = Planted {
        sellers: good.sellers.clone(),
        products: good.products.clone(),
    };
    nan.sellers[2].1[0] = f32::NAN;
    let e = refused("nan", &nan, &|_| {});
    assert!(e.contains("seller/embed-00000_00000.parquet, row 3"), "{e}");
    assert!(e.contains("value 1 is NaN"), "{e}");

    let e = refused("truncated", &good, &|dir| {
        let file = dir.join("product/embed-00001_00000.parquet");
        let bytes = fs::read(&file).unwrap();
        fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    });
    assert!(
        e.contains("embed-00001_00000.parquet: not a whole Parquet file"),
        "{e}"
    );

    let e = fails(&[
        "import-embeddings",
        "--db",
        d,
        tmp.path().join("none").to_str().unwrap(),
    ]);
    assert!(e.contains("no `seller/embed-*.parquet`"), "{e}");
}

#[test]
fn a_new_quarter_is_exported_and_imported_again_and_a_stale_export_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let d = db.to_str().unwrap();
    ok(&["ingest", "--db", d, &sample("q1")]);
    ok(&["featurize", "--db", d]);
    let (e1, emb1) = (tmp.path().join("e1"), tmp.path().join("emb1"));
    export(&db, &e1, "1");
    seeded_embeddings(&db, &emb1);
    let import = |export: &Path, emb: &Path| -> Vec<String> {
        let (export, emb) = (export.to_str().unwrap(), emb.to_str().unwrap());
        ["import-embeddings", "--db", d, "--export", export, emb]
            .map(String::from)
            .to_vec()
    };
    assert!(ok(&strs(&import(&e1, &emb1))).contains("model generation 1 is active"));

    // The next quarter: the refresh retrains the built-in model (generation 2) on it; the
    // embeddings of the first quarter's export no longer fit the database.
    ok(&["refresh", "--db", d, &sample("q2"), "--epochs", "2"]);
    let before = dump(&db);
    let stale = fails(&strs(&import(&e1, &emb1)));
    assert!(stale.contains("export again"), "{stale}");
    assert!(dump(&db) == before, "a refused import wrote");

    // A full re-export and its embeddings replace the active generation in one step.
    let (e2, emb2) = (tmp.path().join("e2"), tmp.path().join("emb2"));
    export(&db, &e2, "1");
    seeded_embeddings(&db, &emb2);
    assert!(ok(&strs(&import(&e2, &emb2))).contains("model generation 3 is active"));
    let text = dump(&db);
    for gone in ["embeddings model 1 ", "embeddings model 2 "] {
        assert!(!text.contains(gone), "{gone}is still stored");
    }
    ok(&["index", "--db", d]);
    ok(&["recommend", "--db", d]);
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
