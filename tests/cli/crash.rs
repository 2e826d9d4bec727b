//! Crash safety: an ingest killed (SIGKILL) at several moments and rerun ends in exactly the
//! state of an uninterrupted run. Also: a second writer gets "database is busy".

use std::process::Command;
use std::thread::sleep;
use std::time::Instant;

use crate::util::{bin, dump, fails, large_drop, ok, stats};

#[test]
fn killed_ingest_resumes_to_the_same_state() {
    let tmp = tempfile::tempdir().unwrap();
    let drop = large_drop(tmp.path(), "big", 300_000, 100_000);
    let small_batches = ["--batch-rows", "1000"];

    // Reference: one uninterrupted run.
    let reference = tmp.path().join("reference");
    let started = Instant::now();
    ok(&[
        &["ingest", "--db", reference.to_str().unwrap()][..],
        &small_batches,
        &[drop.path()],
    ]
    .concat());
    let full = started.elapsed();

    // Killed at several moments spread over the run, then rerun to completion.
    let db = tmp.path().join("killed");
    let dbs = db.to_str().unwrap();
    let mut mid_drop_kills = 0;
    for fraction in [0.15, 0.3, 0.45, 0.6, 0.75, 0.9] {
        let mut child = Command::new(bin())
            .args([&["ingest", "--db", dbs][..], &small_batches, &[drop.path()]].concat())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        sleep(full.mul_f64(fraction));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL: no destructor, no flush
        child.wait().unwrap();
        if !finished && db.join("store/CURRENT").exists() {
            let s = stats(&db);
            if s["drops"][0]["state"] == "applying" {
                mid_drop_kills += 1;
            }
        }
    }
    ok(&[&["ingest", "--db", dbs][..], &small_batches, &[drop.path()]].concat());
    eprintln!("{mid_drop_kills} of 6 kills landed mid-drop (uninterrupted run: {full:?})");
    assert!(
        mid_drop_kills >= 1,
        "no kill landed while the drop was being applied (run took {full:?})"
    );
    assert_eq!(stats(&db), stats(&reference));
    assert!(
        dump(&db) == dump(&reference),
        "dumps differ after kill and resume"
    );
}

#[test]
fn a_second_writer_is_told_the_database_is_busy() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let drop = large_drop(tmp.path(), "q", 10, 10);
    ok(&["ingest", "--db", db.to_str().unwrap(), drop.path()]);
    let holder =
        demandlink::store::Store::open(&db, demandlink::store::OpenMode::ReadWrite).unwrap();
    let e = fails(&["ingest", "--db", db.to_str().unwrap(), drop.path()]);
    assert!(
        e.contains(&format!("database is busy (pid {})", std::process::id())),
        "{e}"
    );
    // Readers are not blocked by a writer.
    ok(&["stats", "--db", db.to_str().unwrap()]);
    std::mem::drop(holder);
}
