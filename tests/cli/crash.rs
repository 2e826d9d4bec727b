//! Crash safety: an ingest killed (SIGKILL) at several moments and rerun ends in exactly the
//! state of an uninterrupted run (plain files, and the sort-and-pair phase of `orders.tsv`). Also: a second writer gets "database is busy".

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::Instant;

use crate::util::{bin, dump, fails, large_drop, large_orders, ok, stats};

#[test]
fn killed_ingest_resumes_to_the_same_state() {
    let tmp = tempfile::tempdir().unwrap();
    let drop = large_drop(tmp.path(), "big", 300_000, 100_000);
    kills_then_rerun_match_one_run(tmp.path(), &["--batch-rows", "1000", drop.path()]);
}

#[test]
fn killed_orders_phase_resumes_to_the_same_state() {
    let tmp = tempfile::tempdir().unwrap();
    // The second drop starts 30 days after the first: its first week pairs with the first
    // drop's tails, and the tails of the half of the customers absent from it expire.
    let start = 1_700_000_000;
    let first = large_orders(tmp.path(), "orders1", 200_000, 20_000, start);
    let second = large_orders(tmp.path(), "orders2", 150_000, 10_000, start + 30 * 86_400);
    // Small runs and chunks: many sort runs and many commits for the kills to land between.
    kills_then_rerun_match_one_run(
        tmp.path(),
        &[
            "--batch-rows",
            "2000",
            "--sort-run-rows",
            "20000",
            first.path(),
            second.path(),
        ],
    );
}

/// Runs `ingest ARGS` once uninterrupted, then into another database killed (SIGKILL) at six
/// moments spread over the run and rerun to completion: stats and dumps must be equal.
fn kills_then_rerun_match_one_run(tmp: &Path, args: &[&str]) {
    let ingest = |db: &Path| {
        let mut all = vec![
            "ingest".to_string(),
            "--db".into(),
            db.display().to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        all
    };
    let reference = tmp.join("reference");
    let started = Instant::now();
    ok(&as_strs(&ingest(&reference)));
    let full = started.elapsed();

    let db = tmp.join("killed");
    let mut mid_drop_kills = 0;
    for fraction in [0.15, 0.3, 0.45, 0.6, 0.75, 0.9] {
        let mut child = Command::new(bin())
            .args(ingest(&db))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        sleep(full.mul_f64(fraction));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL: no destructor, no flush
        child.wait().unwrap();
        if !finished && db.join("store/CURRENT").exists() {
            // Mid-drop and after at least one chunk of the drop's rows was committed.
            let s = stats(&db);
            let mid_drop = s["drops"].as_array().unwrap().iter().any(|d| {
                let files = d["files"].as_array().unwrap();
                d["state"] == "applying" && files.iter().any(|f| f["applied"].as_u64() > Some(0))
            });
            mid_drop_kills += usize::from(mid_drop);
        }
    }
    ok(&as_strs(&ingest(&db)));
    eprintln!(
        "{mid_drop_kills} of 6 kills landed mid-drop after a commit (uninterrupted run: {full:?})"
    );
    assert!(
        mid_drop_kills >= 1,
        "no kill landed between two commits of the drop's rows (run took {full:?})"
    );
    assert_eq!(stats(&db), stats(&reference));
    assert!(
        dump(&db) == dump(&reference),
        "dumps differ after kill and resume"
    );
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
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
