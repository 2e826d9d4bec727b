//! A build cancelled, failed or killed leaves no trace; removing generations frees their ids.

use std::cell::Cell;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use std::{env, fs, thread};

use super::{CancelAt, Planted, answers, build, fresh_index};
use crate::index::{ArroyIndex, BuildOptions, IndexError};
use crate::progress::{NoProgress, Progress};

fn planted() -> Planted {
    Planted::new(3_000, 3, 32, 8)
}

#[test]
fn cancelled_build_leaves_no_trace_and_earlier_generations_answer_identically() {
    let mut planted = planted();
    let queries = planted.queries(30);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let opts = BuildOptions::default();
    let before = {
        let index = ArroyIndex::open(&path).unwrap();
        build(&index, 1, &planted, &opts);
        let before = answers(&index.reader(1).unwrap(), &queries, None, 10);

        // Cancelled while storing vectors, between two trees, and before starting.
        for (label, at) in [
            ("index: storing vectors", 1024),
            ("index: building trees", 2),
        ] {
            let flag = AtomicBool::new(false);
            let progress = CancelAt::new(label, at, &flag);
            let result = index.build(
                2,
                planted.dims,
                planted.items.clone(),
                &opts,
                &progress,
                &flag,
            );
            assert!(
                matches!(result, Err(IndexError::Cancelled(_))),
                "{label}: {result:?}"
            );
            assert_eq!(index.generations().unwrap(), vec![1], "{label}");
        }
        let raised = AtomicBool::new(true);
        let result = index.build(
            2,
            planted.dims,
            planted.items.clone(),
            &opts,
            &NoProgress,
            &raised,
        );
        assert!(
            matches!(result, Err(IndexError::Cancelled(_))),
            "{result:?}"
        );

        assert_eq!(
            answers(&index.reader(1).unwrap(), &queries, None, 10),
            before
        );
        before
    };

    // And after reopening: nothing of generation 2 reached the disk.
    let index = ArroyIndex::open(&path).unwrap();
    assert_eq!(index.generations().unwrap(), vec![1]);
    assert_eq!(
        answers(&index.reader(1).unwrap(), &queries, None, 10),
        before
    );
}

#[test]
fn removed_generations_free_their_ids_for_new_generations() {
    let mut planted = planted();
    let queries = planted.queries(30);
    let (_dir, index) = fresh_index();
    let opts = BuildOptions::default();
    build(&index, 1, &planted, &opts);
    build(&index, 2, &planted, &opts);
    let ids = |generation| {
        index
            .manifest(generation)
            .unwrap()
            .ids()
            .collect::<Vec<u16>>()
    };
    let (ids1, ids2) = (ids(1), ids(2));
    assert!(
        ids1.iter().all(|id| !ids2.contains(id)),
        "live generations share ids"
    );
    let gen2 = answers(&index.reader(2).unwrap(), &queries, None, 10);

    index.remove_generation(1).unwrap();
    assert_eq!(index.generations().unwrap(), vec![2]);
    assert!(matches!(
        index.reader(1),
        Err(IndexError::UnknownGeneration { generation: 1, .. })
    ));
    assert!(matches!(
        index.remove_generation(1),
        Err(IndexError::UnknownGeneration { .. })
    ));

    build(&index, 3, &planted, &opts);
    let mut ids3 = ids(3);
    ids3.sort();
    let mut freed = ids1.clone();
    freed.sort();
    assert_eq!(ids3, freed, "generation 3 should reuse generation 1's ids");
    // Same items and seed as generation 2, other ids: the same answers.
    assert_eq!(answers(&index.reader(3).unwrap(), &queries, None, 10), gen2);
    assert_eq!(answers(&index.reader(2).unwrap(), &queries, None, 10), gen2);
}

/// Set in the child process of the crash test: the folder to build in.
const CRASH_DIR: &str = "DEMANDLINK_INDEX_CRASH_DIR";

#[test]
fn killed_build_leaves_earlier_generations_intact() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("building");
    let mut child = KillOnDrop(
        Command::new(env::current_exe().unwrap())
            .args([
                "index::tests::safety::crash_child",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CRASH_DIR, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while !marker.exists() {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("child exited before hanging in its build: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "child never reached the middle of its build"
        );
        thread::sleep(Duration::from_millis(20));
    }
    drop(child); // SIGKILL: no destructor runs, the write transaction is never aborted

    let index = ArroyIndex::open(&dir.path().join("index")).unwrap();
    assert_eq!(index.generations().unwrap(), vec![1]);
    let mut planted = planted();
    let queries = planted.queries(30);
    let (_fresh_dir, fresh) = fresh_index();
    build(&fresh, 1, &planted, &BuildOptions::default());
    let expected = answers(&fresh.reader(1).unwrap(), &queries, None, 10);
    assert_eq!(
        answers(&index.reader(1).unwrap(), &queries, None, 10),
        expected
    );

    // The dead writer's lock is recovered: the next build goes through.
    build(&index, 2, &planted, &BuildOptions::default());
    assert_eq!(index.generations().unwrap(), vec![1, 2]);
}

/// Kills (SIGKILL) and reaps the child when dropped, also when the test fails early.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Child of [`killed_build_leaves_earlier_generations_intact`]: builds generation 1, then
/// hangs in the middle of generation 2's tree building, write transaction open, until killed.
#[test]
#[ignore = "run as a child process by killed_build_leaves_earlier_generations_intact"]
fn crash_child() {
    let Some(dir) = env::var_os(CRASH_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let planted = planted();
    let index = ArroyIndex::open(&dir.join("index")).unwrap();
    build(&index, 1, &planted, &BuildOptions::default());
    let not_cancelled = AtomicBool::new(false);
    let hang = HangAt {
        marker: dir.join("building"),
        in_trees: Cell::new(false),
    };
    let _ = index.build(
        2,
        planted.dims,
        planted.items.clone(),
        &BuildOptions::default(),
        &hang,
        &not_cancelled,
    );
}

/// Signals through a marker file, then sleeps forever, once two indexes of a build are done.
struct HangAt {
    marker: PathBuf,
    in_trees: Cell<bool>,
}

impl Progress for HangAt {
    fn start(&self, label: &str, _total: u64) {
        self.in_trees.set(label == "index: building trees");
    }

    fn set(&self, position: u64) {
        if self.in_trees.get() && position >= 2 {
            fs::write(&self.marker, b"").unwrap();
            loop {
                thread::sleep(Duration::from_secs(1));
            }
        }
    }

    fn finish(&self) {}
}
