//! `demandlink refresh` and `demandlink jobs`: the chain gives what the stage commands give,
//! a rerun with nothing new writes nothing, bad drops (malformed, ill-formed ids, empty,
//! twice, out of order) leave the database exactly as it was, a failing stage is recorded,
//! a second writer is refused, and Ctrl-C stops cleanly with a way to continue.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{Drop, bin, catalogue_drop, dump, fails, interrupt, jobs, ok, sample};

/// `refresh` of the content model on `db` with `rest` (drops and options).
fn refresh_args<'a>(db: &'a Path, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "refresh",
        "--model",
        "content",
        "--db",
        db.to_str().unwrap(),
    ];
    args.extend(rest);
    args
}

fn refresh(db: &Path, drops: &[&str]) -> String {
    ok(&refresh_args(db, drops))
}

/// Every dump line but the refresh's own job records.
fn without_refresh_jobs(dump: &str) -> String {
    dump.lines()
        .filter(|l| !l.starts_with("jobs refresh."))
        .collect::<Vec<_>>()
        .join("\n")
}

fn states(db: &Path) -> Vec<(String, String, u64)> {
    jobs(db)
        .iter()
        .map(|j| {
            (
                j["stage"].as_str().unwrap().to_string(),
                j["state"].as_str().unwrap().to_string(),
                j["drop"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn all_done(drop: u64) -> Vec<(String, String, u64)> {
    ["ingest", "featurize", "train", "index", "recommend"]
        .iter()
        .map(|s| (s.to_string(), "done".to_string(), drop))
        .collect()
}

#[test]
fn refresh_equals_the_stage_commands_and_a_rerun_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let by_hand = crate::recommend::sample_db(tmp.path());
    let db = tmp.path().join("refreshed");
    let out = refresh(&db, &[&sample("q1"), &sample("q2")]);
    assert!(out.contains("recommend: 150 sellers"), "{out}");
    assert!(
        out.contains("refresh: done (2 drop(s) applied, 5 stage(s) run; latest drop #2)"),
        "{out}"
    );
    assert_eq!(
        without_refresh_jobs(&dump(&db)),
        without_refresh_jobs(&dump(&by_hand)),
        "refresh and the stage commands reached different states"
    );
    assert_eq!(states(&db), all_done(2));

    let before = dump(&db);
    let out = refresh(&db, &[&sample("q1"), &sample("q2")]);
    assert!(out.contains("already applied as drop #1"), "{out}");
    assert!(out.contains("refresh: nothing to do"), "{out}");
    let out = refresh(&db, &[]);
    assert!(out.contains("refresh: nothing to do"), "{out}");
    assert_eq!(
        dump(&db),
        before,
        "a refresh with nothing to do wrote something"
    );
}

#[test]
fn a_new_drop_runs_every_stage_again_incrementally() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    refresh(&db, &[&sample("q1")]);
    assert_eq!(states(&db), all_done(1));
    let out = refresh(&db, &[&sample("q1"), &sample("q2")]);
    assert!(out.contains("already applied as drop #1"), "{out}");
    // Only q2's products are new or changed.
    assert!(
        out.contains("1300 product vectors of dimension 128 (275 recomputed"),
        "{out}"
    );
    assert!(out.contains("index: generation 2"), "{out}");
    assert_eq!(states(&db), all_done(2));
    // A changed option reruns its stage and those after it, not those before.
    let out = ok(&refresh_args(&db, &["--k", "10"]));
    assert!(out.contains("featurize: up to date"), "{out}");
    assert!(out.contains("index: up to date"), "{out}");
    assert!(out.contains("recommend: 150 sellers"), "{out}");
}

/// A database refreshed with one good drop named `2024Q2`, and its dump.
fn seeded(tmp: &Path) -> (std::path::PathBuf, String) {
    let db = tmp.join("db");
    let good = Drop::new(tmp, "2024Q2");
    good.file(
        "products.tsv",
        &[
            "product_id\tcategory\ttitle",
            "p1\tHome\tsteel lamp",
            "p2\tHome\toak lamp",
            "p3\tHome\tbrass lamp",
        ],
    )
    .file(
        "listings.tsv",
        &["seller_id\tproduct_id", "s1\tp1", "s2\tp2"],
    )
    .file("high_demand.tsv", &["product_id", "p3"]);
    refresh(&db, &[good.path()]);
    let before = dump(&db);
    (db, before)
}

/// Asserts that refreshing with `drops` fails with every `needle` in its one error line and
/// leaves the database as it was.
fn refused(db: &Path, before: &str, drops: &[&str], needles: &[&str]) {
    let e = fails(&refresh_args(db, drops));
    for n in needles {
        assert!(e.contains(n), "expected `{n}` in: {e}");
    }
    assert_eq!(dump(db), before, "a refused drop changed the database: {e}");
}

#[test]
fn bad_drops_leave_the_database_exactly_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, before) = seeded(tmp.path());

    // A malformed file in the middle of the drop (the files before it are fine).
    let malformed = Drop::new(tmp.path(), "2024Q3");
    malformed
        .file(
            "products.tsv",
            &["product_id\tcategory\ttitle", "p4\tHome\tglass lamp"],
        )
        .file(
            "listings.tsv",
            &["seller_id\tproduct_id\tts", "s1\tp4\t5", "s2\tp4"],
        )
        .file("views.tsv", &["product_id\tviews", "p4\t3"]);
    refused(
        &db,
        &before,
        &[malformed.path()],
        &[
            "2024Q3 not applied, nothing written",
            "listings.tsv:3: wrong column count",
        ],
    );
    let corrupt = Drop::new(tmp.path(), "2024Q3b");
    corrupt
        .file("listings.tsv", &["seller_id\tproduct_id", "s1\tp3"])
        .bytes("views.tsv.gz", b"\x1f\x8b\x08\x00 not gzip at all");
    refused(&db, &before, &[corrupt.path()], &["views.tsv.gz"]);

    // A listing whose seller id is ill-formed (a control character inside).
    let ill = Drop::new(tmp.path(), "2024Q4");
    ill.file(
        "listings.tsv",
        &["seller_id\tproduct_id", "s1\u{7}x\tp1", "s3\tp2"],
    );
    refused(
        &db,
        &before,
        &[ill.path()],
        &[
            "listings.tsv:2: ill-formed seller_id `s1\\u{7}x`: contains the control character U+0007",
        ],
    );

    // Empty drops: no drop file at all, or files with only their header.
    let empty = Drop::new(tmp.path(), "2025Q1");
    empty.file("_READY", &[]);
    refused(
        &db,
        &before,
        &[empty.path()],
        &["empty drop: no drop files found"],
    );
    let headers = Drop::new(tmp.path(), "2025Q1b");
    headers.file("listings.tsv", &["seller_id\tproduct_id"]);
    refused(
        &db,
        &before,
        &[headers.path()],
        &["empty drop: the files hold no data rows"],
    );

    // The same drop again is skipped and writes nothing.
    let out = refresh(&db, &[tmp.path().join("2024Q2").to_str().unwrap()]);
    assert!(
        out.contains("already applied as drop #1 `2024Q2`; skipped"),
        "{out}"
    );
    assert!(out.contains("nothing to do"), "{out}");
    assert_eq!(dump(&db), before);

    // Out of order: a new drop whose name sorts before an applied one, or a command line
    // naming a later drop first. Nothing of either refresh is written, not even the good drop.
    let early = Drop::new(tmp.path(), "2024Q1");
    early.file("listings.tsv", &["seller_id\tproduct_id", "s9\tp1"]);
    refused(
        &db,
        &before,
        &[early.path()],
        &[
            "its name `2024Q1` sorts before `2024Q2`",
            "--allow-out-of-order",
        ],
    );
    let q5 = Drop::new(tmp.path(), "2025Q2");
    q5.file("listings.tsv", &["seller_id\tproduct_id", "s4\tp1"]);
    let q6 = Drop::new(tmp.path(), "2025Q3");
    q6.file("listings.tsv", &["seller_id\tproduct_id", "s5\tp1"]);
    refused(
        &db,
        &before,
        &[q6.path(), q5.path()],
        &["its name `2025Q2` sorts before `2025Q3`"],
    );
    let out = ok(&refresh_args(&db, &["--allow-out-of-order", early.path()]));
    assert!(out.contains("2024Q1: applied drop #2"), "{out}");
}

#[test]
fn a_failing_stage_is_recorded_and_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    // The high-demand product has no text and no vector: nothing to index.
    let q1 = Drop::new(tmp.path(), "q1");
    q1.file(
        "products.tsv",
        &["product_id\tcategory\ttitle", "p1\tHome\tsteel lamp"],
    )
    .file("listings.tsv", &["seller_id\tproduct_id", "s1\tp1"])
    .file("high_demand.tsv", &["product_id", "p9"]);
    let e = fails(&refresh_args(&db, &[q1.path()]));
    assert!(e.contains("index failed: no candidates to index"), "{e}");
    let j = jobs(&db);
    assert_eq!(j[3]["stage"], "index");
    assert_eq!(j[3]["state"], "failed");
    assert!(
        j[3]["error"].as_str().unwrap().contains("no candidates"),
        "{j:?}"
    );
    assert_eq!(j[4]["state"], "pending");
    let text = ok(&["jobs", "--db", db.to_str().unwrap()]);
    assert!(text.contains("error: no candidates to index"), "{text}");

    // The next drop describes it: the rerun skips what is done and finishes.
    let q2 = Drop::new(tmp.path(), "q2");
    q2.file(
        "products.tsv",
        &["product_id\tcategory\ttitle", "p9\tHome\tsteel desk lamp"],
    );
    let out = refresh(&db, &[q2.path()]);
    assert!(
        out.contains("index: generation 1 with 1 candidates"),
        "{out}"
    );
    assert_eq!(states(&db), all_done(2));
}

#[test]
fn a_second_writer_is_told_the_database_is_busy() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    refresh(&db, &[&sample("q1")]);
    let holder =
        demandlink::store::Store::open(&db, demandlink::store::OpenMode::ReadWrite).unwrap();
    let e = fails(&refresh_args(&db, &[&sample("q2")]));
    assert!(
        e.contains(&format!("database is busy (pid {})", std::process::id())),
        "{e}"
    );
    // `jobs` reads while another process writes.
    assert_eq!(states(&db), all_done(1));
    drop(holder);
}

#[test]
fn ctrl_c_stops_after_a_commit_and_a_rerun_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let drop = catalogue_drop(tmp.path(), "q1", 3_000, 30_000, 60_000);
    let db = tmp.path().join("db");
    let args = refresh_args(&db, &["--batch-rows", "500", drop.path()]);
    let mut child = Command::new(bin())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt as soon as the drop is applied: featurize starts next and checks for Ctrl-C
    // between its commits (polling `jobs` instead could miss a short featurize entirely).
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let report = stdout
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains(": applied drop #"));
    assert!(report.is_some(), "refresh ended before ingest reported");
    interrupt(&child);
    let rest: Vec<String> = stdout.map_while(Result::ok).collect();
    assert!(
        !rest.iter().any(|l| l.starts_with("sellers: ")),
        "featurize finished before Ctrl-C: {rest:?}"
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("error: interrupted during featurize (its progress is committed); rerun the same command to continue"),
        "{stderr}"
    );
    let j = jobs(&db);
    assert_eq!(j[1]["state"], "interrupted", "{j:?}");
    assert_eq!(j[2]["state"], "pending", "{j:?}");
    let out = ok(&args);
    assert!(out.contains("ingest: up to date"), "{out}");
    assert!(
        out.contains("refresh: done (0 drop(s) applied, 4 stage(s) run"),
        "{out}"
    );
    assert_eq!(states(&db), all_done(1));
}
