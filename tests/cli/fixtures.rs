//! Fixture databases: `tests/fixtures/v<N>/` holds a tiny database of every record kind as a
//! build of schema version N wrote it. Every fixture must open with this build and read back
//! as it was written — its dump, stats, refresh jobs, tokens, one seller's inspection and
//! list — and every stage rerun on it with nothing new must find its state and write nothing.
//! A database of another version, or of none, is refused with both versions named.
//!
//! `DEMANDLINK_REGEN_FIXTURES=1` rebuilds the current version's fixture (never an older one);
//! `UPDATE_SNAPSHOTS=1` accepts changed expected outputs of every fixture.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{Drop, catalogue_drop, copy_dir, copy_dir_where, dump, fails, ok, run};

/// The folder of every fixture.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture folders, oldest version first.
fn versions() -> Vec<(u32, PathBuf)> {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            Some((name.strip_prefix('v')?.parse().ok()?, p.clone()))
        })
        .collect();
    found.sort();
    found
}

/// The current version's fixture folder.
fn current() -> PathBuf {
    fixtures().join(format!("v{}", demandlink::store::SCHEMA_VERSION))
}

/// The training options of the fixture's runs, one per line in `train.args` (stored with the
/// fixture, so that an older fixture keeps the options it was built with).
fn train_args(fixture: &Path) -> Vec<String> {
    fs::read_to_string(fixture.join("train.args"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Files of a database that are not its state: RocksDB's info logs, lock file and record of
/// the options of its last opens (rewritten by every writer; 120 KB each), LMDB's lock file,
/// the last writer's pid.
fn is_state(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_str().unwrap();
    !(name.starts_with("LOG")
        || name.starts_with("OPTIONS-")
        || ["LOCK", "lock.mdb", "owner.pid"].contains(&name))
}

/// Writes the file `name` of drop `d`: a header line, then `rows`.
fn table(d: &Drop, name: &str, header: &str, rows: impl Iterator<Item = String>) {
    let lines: Vec<String> = std::iter::once(header.to_string()).chain(rows).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    d.file(name, &lines);
}

/// Writes the two quarterly drops of the fixture into `dir`: every drop file kind, orders whose
/// windows span the two drops, imported vectors for a few products.
fn write_drops(dir: &Path) -> [Drop; 2] {
    // Prime product counts: the catalogue's co-purchase partner `a + 6k` never wraps onto `a`.
    let quarters = [(0, 10, 53, 90), (1, 12, 61, 110)];
    quarters.map(|(q, sellers, products, listings)| {
        let d = catalogue_drop(dir, &format!("q{}", q + 1), sellers, products, listings);
        let names = (0..sellers)
            .step_by(3)
            .map(|s| format!("s{s:06}\tShop {s}\tHome"));
        table(
            &d,
            "sellers.tsv",
            "seller_id\tname\tprimary_category",
            names,
        );
        // Five customers, each buying four products a day apart; the second drop's orders
        // start within the 7-day window of the first's.
        let start = 1_700_000_000 + q * 4 * 86_400;
        let orders = (0..20).map(|i| {
            let (c, k) = (i % 5, i / 5);
            let p = (c * 7 + k * 6 + q * 2) % products;
            format!("c{c}\tp{p:07}\t{}", start + k * 86_400)
        });
        table(&d, "orders.tsv", "customer_id\tproduct_id\tts", orders);
        let header: Vec<String> = (1..=16).map(|i| format!("v{i}")).collect();
        let vectors = (0..3).map(|p| {
            let v: Vec<String> = (0..16)
                .map(|i| format!("{:.3}", ((p * 16 + i + q) % 7) as f32 / 7.0 - 0.4))
                .collect();
            format!("p{:07}\t{}", p * 6, v.join("\t"))
        });
        let header = format!("product_id\t{}", header.join("\t"));
        table(&d, "vectors.tsv", &header, vectors);
        d
    })
}

/// Rebuilds the current version's fixture: the first drop through the stage commands, the
/// second through `refresh` (so a fine-tuned model generation, a second index generation and
/// the refresh records exist), then portal tokens, one of them revoked.
fn regenerate() {
    let fixture = current();
    let _ = fs::remove_dir_all(&fixture);
    fs::create_dir_all(fixture.join("drops")).unwrap();
    let args = [
        "--epochs",
        "2",
        "--fine-tune-epochs",
        "1",
        "--dim",
        "8",
        "--validation-share",
        "0.3",
        // One score structure, with the link terms: the model keeps co-purchase partners.
        "--score-select",
        "off",
        "--seed",
        "7",
    ];
    fs::write(fixture.join("train.args"), args.join("\n") + "\n").unwrap();
    let [q1, q2] = write_drops(&fixture.join("drops"));
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let dbs = db.to_str().unwrap();
    ok(&["ingest", "--db", dbs, q1.path()]);
    ok(&["featurize", "--db", dbs]);
    ok(&[&["train", "--db", dbs][..], &args].concat());
    ok(&["index", "--db", dbs]);
    ok(&["recommend", "--db", dbs]);
    ok(&[
        &["refresh", "--db", dbs][..],
        &args,
        &[q1.path(), q2.path()],
    ]
    .concat());
    let issued = ok(&["tokens", "issue", "--db", dbs, "--operator"]);
    ok(&["tokens", "revoke", "--db", dbs, issued.trim()]);
    ok(&["tokens", "issue", "--db", dbs, "--seller", "s000001"]);
    copy_dir_where(&db, &fixture.join("db"), &is_state);
}

/// A copy of a fixture's database to work on: a test never modifies the fixture.
fn copy_of(fixture: &Path, tmp: &Path) -> PathBuf {
    let db = tmp.join("db");
    copy_dir(&fixture.join("db"), &db);
    db
}

/// Compares `actual` with the fixture's `expected/<name>` (written instead with
/// `UPDATE_SNAPSHOTS=1`, or when the fixture was just regenerated).
fn expect(fixture: &Path, name: &str, actual: &str, update: bool) {
    let path = fixture.join("expected").join(name);
    if update {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, actual).unwrap();
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (actual, expected): (Vec<&str>, Vec<&str>) =
        (actual.lines().collect(), expected.lines().collect());
    if let Some(i) =
        (0..actual.len().max(expected.len())).find(|&i| actual.get(i) != expected.get(i))
    {
        panic!(
            "{}:{}: this build reads it differently:\n expected {:?}\n      got {:?}\n\
             (UPDATE_SNAPSHOTS=1 accepts a change of output, after reading the diff)",
            path.display(),
            i + 1,
            expected.get(i),
            actual.get(i),
        );
    }
}

/// The external id of the first seller with a stored list, read from a dump.
fn seller_with_list(dump: &str) -> String {
    let id = dump
        .lines()
        .find_map(|l| l.strip_prefix("recommendations seller#"))
        .and_then(|rest| rest.split(' ').next())
        .expect("the fixture has recommendations");
    dump.lines()
        .filter_map(|l| l.strip_prefix("ids seller:"))
        .find_map(|rest| rest.strip_suffix(&format!(" -> {id}")))
        .expect("the seller has an id")
        .to_string()
}

/// Runs a stage on the copy, which must find its state (a state that does not decode would be
/// ignored with a warning and the stage would start over); returns its stdout.
fn rerun(args: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demandlink {args:?}: {stderr}");
    assert!(
        !stderr.contains("does not decode"),
        "demandlink {args:?}: {stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Opens a database's RocksDB store directly, as another build would.
fn raw(db: &Path) -> rocksdb::DB {
    let mut opts = rocksdb::Options::default();
    // Without the merge operators a compaction of the counters would fail.
    opts.set_disable_auto_compactions(true);
    let names = rocksdb::DB::list_cf(&opts, db.join("store")).unwrap();
    rocksdb::DB::open_cf(&opts, db.join("store"), &names).unwrap()
}

/// Deletes the refresh's record of `stage`, so that the next refresh runs it again.
fn forget_refresh_record(db: &Path, stage: &str) {
    let raw = raw(db);
    let jobs = raw.cf_handle("jobs").unwrap();
    raw.delete_cf(jobs, format!("refresh.{stage}")).unwrap();
}

/// Whether this run regenerates the current fixture; the first test to ask does it, the
/// others wait for it.
fn regenerated() -> bool {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let asked = std::env::var_os("DEMANDLINK_REGEN_FIXTURES").is_some();
    ONCE.call_once(|| {
        if asked {
            regenerate();
        }
    });
    asked
}

#[test]
fn every_fixture_reads_back_as_written_or_is_refused() {
    let regenerated = regenerated();
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let all = versions();
    assert!(
        all.iter().any(|(_, f)| *f == current()),
        "no fixture of the current schema version: run DEMANDLINK_REGEN_FIXTURES=1 once"
    );
    for (version, fixture) in all {
        let tmp = tempfile::tempdir().unwrap();
        let db = copy_of(&fixture, tmp.path());
        // No upgrade path exists yet: a fixture of an older version is refused. When one is
        // written, the versions it upgrades read back too (after UPDATE_SNAPSHOTS=1).
        if version == demandlink::store::SCHEMA_VERSION {
            let update = update || regenerated;
            reads_back(&fixture, &db, update);
        } else {
            refused(&db, Some(version));
        }
    }
}

/// Asserts that the database `db`, a copy of `fixture`, reads back as the fixture's expected
/// outputs say, and that every stage rerun on it finds its state and writes nothing new.
fn reads_back(fixture: &Path, db: &Path, update: bool) {
    let dbs = db.to_str().unwrap();
    // Read-only commands: every column family (dump), the counts, the refresh records, the
    // tokens, and one seller through the model, its partners and the index.
    let before = dump(db);
    expect(fixture, "dump.txt", &before, update);
    let seller = seller_with_list(&before);
    for (name, args) in [
        ("stats.json", vec!["stats", "--json"]),
        ("jobs.json", vec!["jobs", "--json"]),
        ("tokens.txt", vec!["tokens", "list"]),
        ("inspect.txt", vec!["inspect", &seller]),
        ("recommend.txt", vec!["recommend", "--seller", &seller]),
    ] {
        let out = ok(&[&args[..], &["--db", dbs]].concat());
        expect(fixture, name, &out, update);
    }
    // Writers: each stage reads its own state, finds it has nothing new to do, and writes
    // nothing new (the refresh records' times aside, which dumps leave out).
    let train = train_args(fixture);
    let train: Vec<&str> = train.iter().map(String::as_str).collect();
    let drops: Vec<String> = ["q1", "q2"]
        .iter()
        .map(|q| fixture.join("drops").join(q).to_str().unwrap().to_string())
        .collect();
    let drops: Vec<&str> = drops.iter().map(String::as_str).collect();
    let refresh = [&["refresh", "--db", dbs][..], &train, &drops].concat();
    let out = rerun(&refresh);
    assert!(out.contains("refresh: nothing to do"), "{out}");
    rerun(&["featurize", "--db", dbs]);
    let out = rerun(&[&["train", "--db", dbs][..], &train].concat());
    assert!(out.contains("up to date"), "{out}");
    // The index job is read by the refresh's index stage only: with its record forgotten,
    // the refresh runs it (it keeps the generation its state names) and recommend after it.
    forget_refresh_record(db, "index");
    let out = rerun(&refresh);
    assert!(
        out.contains("already holds the current candidates; kept"),
        "{out}"
    );
    assert!(
        dump(db) == before,
        "{}: a stage rerun on it wrote something new",
        fixture.display()
    );
}

/// Asserts that every command refuses `db`, whose schema version is `found`, with one error
/// line naming the version found, the version expected and what to do, and writes nothing.
fn refused(db: &Path, found: Option<u32>) {
    let expected = demandlink::store::SCHEMA_VERSION;
    let dbs = db.to_str().unwrap();
    let needles = match found {
        Some(found) => vec![
            format!(
                "database schema version {found}, but this demandlink reads version {expected}"
            ),
            if found < expected {
                "written by an older demandlink".into()
            } else {
                "written by a newer demandlink".into()
            },
        ],
        None => vec![format!(
            "database without a schema version, but this demandlink reads version {expected}"
        )],
    };
    let before = state_files(db);
    for args in [
        vec!["stats", "--db", dbs],
        vec!["dump", "--db", dbs],
        vec!["featurize", "--db", dbs],
    ] {
        let e = fails(&args);
        for needle in &needles {
            assert!(e.contains(needle.as_str()), "{args:?}: {e}");
        }
    }
    assert!(
        state_files(db) == before,
        "a refused database was written to"
    );
}

/// Rewrites (or, with `None`, removes) a database's schema version the way another build
/// would have left it, through RocksDB directly.
fn set_version(db: &Path, version: Option<u32>) {
    let raw = raw(db);
    let meta = raw.cf_handle("meta").unwrap();
    match version {
        Some(v) => raw.put_cf(meta, b"schema_version", u64::from(v).to_le_bytes()),
        None => raw.delete_cf(meta, b"schema_version"),
    }
    .unwrap();
}

#[test]
fn the_current_fixture_with_another_version_or_none_is_refused() {
    regenerated();
    let expected = demandlink::store::SCHEMA_VERSION;
    let tmp = tempfile::tempdir().unwrap();
    let db = copy_of(&current(), tmp.path());
    for version in [Some(expected - 1), Some(expected + 1), None] {
        set_version(&db, version);
        refused(&db, version);
    }
}

/// Every file of a database's state, by path, with its bytes.
fn state_files(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(state_files(&path));
        } else if is_state(&path) {
            out.insert(path.clone(), fs::read(&path).unwrap());
        }
    }
    out
}
