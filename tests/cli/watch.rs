//! `demandlink watch`: ready drop folders (with `_READY`) are refreshed in name order, half-
//! written ones are left alone, applied ones are skipped after a restart, a drop arriving
//! during a refresh is queued, a failed drop holds back the later ones, and Ctrl-C exits
//! cleanly.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::util::{Drop, bin, catalogue_drop, dump, interrupt, jobs, ok, run, sample, stats};

/// Copies a sample drop's files (not its marker) into `inbox/name`.
fn deliver(inbox: &Path, sample_name: &str, name: &str) -> std::path::PathBuf {
    let dir = inbox.join(name);
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(sample(sample_name)).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "_READY" {
            fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    dir
}

fn ready(dir: &Path) {
    fs::write(dir.join("_READY"), "").unwrap();
}

fn applied(db: &Path) -> Vec<String> {
    stats(db)["drops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect()
}

fn watch_once(db: &Path, inbox: &Path) -> std::process::Output {
    run(&[
        "watch",
        "--model",
        "content",
        "--once",
        "--db",
        db.to_str().unwrap(),
        inbox.to_str().unwrap(),
    ])
}

#[test]
fn once_refreshes_ready_drops_in_order_and_skips_applied_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    let db = tmp.path().join("db");
    let a = deliver(&inbox, "q1", "2024Q1");
    ready(&a);
    // Still being written: no marker yet.
    deliver(&inbox, "q2", "2024Q2");
    let out = watch_once(&db, &inbox);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(applied(&db), ["2024Q1"]);
    assert_eq!(jobs(&db)[3]["state"], "done");

    ready(&inbox.join("2024Q2"));
    let out = watch_once(&db, &inbox);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(applied(&db), ["2024Q1", "2024Q2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("watch: stopped; 1 drop(s) refreshed, 0 failed"),
        "{stdout}"
    );

    // A restart skips what is applied and writes nothing; the inbox is untouched.
    let before = dump(&db);
    let out = watch_once(&db, &inbox);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 drop(s) refreshed"));
    assert_eq!(dump(&db), before);
    assert!(inbox.join("2024Q1/_READY").exists() && inbox.join("2024Q2/listings.tsv.gz").exists());

    // A bad drop fails (exit code 1, the error logged) and holds back the drop after it.
    let bad = Drop::new(&inbox, "2024Q3");
    bad.file(
        "listings.tsv",
        &["seller_id\tproduct_id\tts", "s1\tp1\tsoon"],
    );
    ready(&bad.dir);
    let later = Drop::new(&inbox, "2024Q4");
    later.file(
        "listings.tsv",
        &["seller_id\tproduct_id", "s000001\tp0000002"],
    );
    ready(&later.dir);
    let out = watch_once(&db, &inbox);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("listings.tsv:2: bad number in `ts`"),
        "{stderr}"
    );
    assert!(stderr.contains("error: 1 drop(s) failed"), "{stderr}");
    assert_eq!(dump(&db), before);

    // Fixed, it goes through, and so does the one it held back.
    bad.file(
        "listings.tsv",
        &["seller_id\tproduct_id\tts", "s000001\tp0000003\t5"],
    );
    let out = watch_once(&db, &inbox);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(applied(&db), ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]);
}

#[test]
fn live_watch_queues_drops_and_exits_cleanly_on_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    fs::create_dir_all(&inbox).unwrap();
    let db = tmp.path().join("db");
    let log = tmp.path().join("watch.log");
    let child = Command::new(bin())
        .args([
            "watch",
            "--model",
            "content",
            "--db",
            db.to_str().unwrap(),
            "--batch-rows",
            "1000",
            inbox.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}; log:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            sleep(Duration::from_millis(50));
        }
    };
    wait_for("the watch to start", &|| {
        fs::read_to_string(&log).is_ok_and(|l| l.contains("watching"))
    });

    // A big drop, written file by file; the watch must wait for its marker.
    let q1 = catalogue_drop(&inbox, "q1", 2_000, 20_000, 40_000);
    sleep(Duration::from_millis(500));
    assert!(
        !db.join("store/CURRENT").exists() || applied(&db).is_empty(),
        "a drop without _READY was applied"
    );
    ready(&q1.dir);
    wait_for("q1's refresh to start", &|| {
        fs::read_to_string(&log)
            .is_ok_and(|l| l.contains("refreshing drop=\"q1\"") || l.contains("refreshing drop=q1"))
    });
    // Arrives while q1's refresh runs: queued, then refreshed.
    let q2 = deliver(&inbox, "q2", "q2");
    ready(&q2);
    wait_for("both drops to be refreshed", &|| {
        db.join("store/CURRENT").exists()
            && jobs(&db)
                .iter()
                .any(|j| j["stage"] == "recommend" && j["state"] == "done" && j["drop"] == 2)
    });
    assert_eq!(applied(&db), ["q1", "q2"]);

    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let logged = fs::read_to_string(&log).unwrap();
    assert!(out.status.success(), "{}\n{stdout}\n{logged}", out.status);
    assert!(
        stdout.contains("watch: stopped; 2 drop(s) refreshed, 0 failed"),
        "{stdout}"
    );
    assert!(logged.contains("watch stopped"), "{logged}");
    assert!(!logged.contains("ERROR"), "{logged}");
    ok(&["jobs", "--db", db.to_str().unwrap()]);
}
