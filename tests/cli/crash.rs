//! Crash safety: an ingest killed (SIGKILL) at several moments and rerun ends in exactly the
//! state of an uninterrupted run (plain files, and the sort-and-pair phase of `orders.tsv`);
//! so does a refresh killed at seeded random moments inside every stage. Also: a second
//! writer gets "database is busy".

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::{Receiver, channel};
use std::thread::sleep;
use std::time::Instant;

use crate::util::{bin, catalogue_drop, dump, fails, large_drop, large_orders, ok, stats};

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

/// A reader opening while the writer flushes (it does on close) sees every committed write:
/// the record it reads never goes back to an older value or disappears.
#[test]
fn a_reader_never_misses_writes_a_concurrent_flush_moved() {
    use demandlink::store::{JobRecord, JobState, OpenMode, RefreshStage, Store};
    use std::sync::atomic::{AtomicBool, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let record = |drop| JobRecord {
        state: JobState::Done,
        drop,
        inputs: 0,
        started_at: None,
        ended_at: None,
    };
    Store::open(&db, OpenMode::ReadWrite)
        .unwrap()
        .put_refresh_job(RefreshStage::Ingest, &record(0))
        .unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            // Each round commits a newer value and flushes it away from the log on close.
            for drop in 1..=60 {
                let store = Store::open(&db, OpenMode::ReadWrite).unwrap();
                store
                    .put_refresh_job(RefreshStage::Ingest, &record(drop))
                    .unwrap();
                std::mem::drop(store);
                // A quiet moment, as between a real writer's flushes: readers get through
                // (20 ms was too short for a reader's open when the whole suite ran on 2 cores).
                sleep(std::time::Duration::from_millis(60));
            }
            stop.store(true, Ordering::SeqCst);
        });
        let mut seen = 0;
        let mut reads = 0;
        while !stop.load(Ordering::SeqCst) {
            let store = Store::open(&db, OpenMode::ReadOnly).unwrap();
            let jobs = store.refresh_jobs().unwrap();
            let drop = jobs.first().map(|(_, r)| r.drop);
            assert!(
                drop.is_some_and(|d| d >= seen),
                "read {drop:?} after {seen}"
            );
            seen = drop.unwrap();
            reads += 1;
        }
        assert!(reads > 0, "only {reads} reads overlapped the writer");
    });
}

/// The refresh stage left running in `db` by process `pid` (read after the process ended).
fn running_stage(db: &Path, pid: u32) -> Option<String> {
    use demandlink::store::{JobState, OpenMode, Store};
    let store = Store::open(db, OpenMode::ReadOnly).ok()?;
    let jobs = store.refresh_jobs().ok()?;
    jobs.into_iter().find_map(|(stage, r)| match r.state {
        JobState::Running { pid: p, .. } if p == pid => Some(stage.name().to_string()),
        _ => None,
    })
}

const STAGES: [&str; 5] = ["ingest", "featurize", "train", "index", "recommend"];

/// The stage that starts once `refresh` printed `line`: ingest applies once the drop is
/// validated; each later stage starts when the one before reports.
fn stage_starting(line: &str) -> Option<usize> {
    if line.contains(": validated, ") {
        Some(0)
    } else if line.starts_with("ingest: ") || line.contains(" drop #") {
        Some(1)
    } else if line.starts_with("sellers: ") || line.starts_with("featurize: up to date") {
        Some(2)
    } else if line.starts_with("train: ") {
        Some(3)
    } else if line.starts_with("index: ") {
        Some(4)
    } else {
        None
    }
}

/// The refresh every run of [`killed_refresh_resumes_to_the_same_state`] makes.
fn refresh_args<'a>(db: &'a Path, drop: &'a str) -> [&'a str; 8] {
    let db = db.to_str().unwrap();
    [
        "refresh",
        "--db",
        db,
        "--batch-rows",
        "200",
        "--epochs",
        "2",
        drop,
    ]
}

/// A `refresh` whose stdout lines arrive, with the time they were read, on the receiver.
fn spawn_refresh(db: &Path, drop: &str) -> (std::process::Child, Receiver<(String, Instant)>) {
    let mut child = Command::new(bin())
        .args(refresh_args(db, drop))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send((line, Instant::now())).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

#[test]
fn killed_refresh_resumes_to_the_same_state() {
    let tmp = tempfile::tempdir().unwrap();
    let drop = catalogue_drop(tmp.path(), "q1", 4_000, 40_000, 60_000);

    // The uninterrupted run; a stage starts when the line of the one before is printed.
    let reference = tmp.path().join("reference");
    let (mut child, lines) = spawn_refresh(&reference, drop.path());
    let mut starts = Vec::new();
    for (line, at) in lines {
        if stage_starting(&line) == Some(starts.len()) {
            starts.push(at);
        }
    }
    assert!(child.wait().unwrap().success());
    starts.push(Instant::now());
    assert_eq!(
        starts.len(),
        STAGES.len() + 1,
        "stages seen starting at {starts:?}"
    );
    let duration = |stage: usize| starts[stage + 1] - starts[stage];

    // Kills that land inside a stage: three in each, each at a seeded random point of the
    // next quarter of the stage's uninterrupted time (every rerun continues the stage). A kill that lands outside (before ingest validated the drop, or
    // after the stage ended) does not count; a few more attempts are allowed for those.
    let db = tmp.path().join("killed");
    let mut rng = 0x5eed_u64;
    let mut landed: Vec<&str> = Vec::new();
    let mut attempts = 0;
    for (target, quota) in [3u32; 5].into_iter().enumerate() {
        let mut inside = 0;
        while inside < quota && attempts < 30 {
            attempts += 1;
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let fraction = (rng % 1000) as f64 / 1000.0;
            let (mut child, lines) = spawn_refresh(&db, drop.path());
            // Wait for the stage to start (a rerun may start past it, or end before it).
            let mut at = None;
            while at.is_none_or(|a| a < target) {
                match lines.recv() {
                    Ok((line, _)) => at = at.max(stage_starting(&line)),
                    Err(_) => break,
                }
            }
            sleep(duration(target).mul_f64(fraction / f64::from(quota + 1)));
            child.kill().unwrap(); // SIGKILL: no destructor, no flush
            child.wait().unwrap();
            if running_stage(&db, child.id()).as_deref() == Some(STAGES[target]) {
                landed.push(STAGES[target]);
                inside += 1;
            } else if at.is_none_or(|a| a > target) {
                break;
            }
        }
    }
    let out = ok(&refresh_args(&db, drop.path()));
    let stage_times: Vec<_> = (0..STAGES.len()).map(duration).collect();
    eprintln!("kills landed inside: {landed:?} (uninterrupted stage times {stage_times:?})\n{out}");
    assert!(
        landed.len() >= 10,
        "only {} kills landed inside a stage: {landed:?}",
        landed.len()
    );
    for stage in STAGES {
        assert!(
            landed.contains(&stage),
            "no kill landed inside {stage}: {landed:?}"
        );
    }
    assert!(
        dump(&db) == dump(&reference),
        "dumps differ after kills and reruns"
    );
}
