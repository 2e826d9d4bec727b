//! Ctrl-C (SIGINT) during every long command — ingest, featurize, train, import-embeddings,
//! index, recommend, eval, refresh, watch: it stops at its next commit, exits with 130 and one `error:` line
//! saying that rerunning the same command continues; the rerun ends in exactly the state of
//! an uninterrupted run (`demandlink dump`; eval, which stores nothing, prints the same report).
//!
//! Each run is signalled once it printed a marker — the debug line logged when its Ctrl-C
//! handler is in place, or a later progress line — with seconds of work left after it, so the
//! signal always lands before the command could finish.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;

use crate::util::{
    bin, catalogue_drop, copy_dir, dump, interrupt, large_drop, ok, sample, seeded_embeddings,
};

/// Logged (at debug level) by every long command once Ctrl-C stops it at its next commit.
const HANDLER: &str = "Ctrl-C now stops at the next commit";

/// What a command that stops at a commit says: its rerun continues.
const CONTINUES: &str = "rerun the same command to continue where it stopped";

#[test]
fn ingest_interrupted_then_rerun_equals_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let drop = large_drop(tmp.path(), "big", 200_000, 50_000);
    let args = ["ingest", "--batch-rows", "1000", drop.path()];
    interrupted_then_rerun_equals_one_run(tmp.path(), None, &args, HANDLER, CONTINUES);
}

#[test]
fn featurize_interrupted_then_rerun_equals_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let db = catalogue(tmp.path(), &[]);
    let args = ["featurize"];
    interrupted_then_rerun_equals_one_run(tmp.path(), Some(&db), &args, HANDLER, CONTINUES);
}

#[test]
fn train_interrupted_then_rerun_equals_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("prepared");
    let d = db.to_str().unwrap();
    ok(&["ingest", "--db", d, &sample("q1"), &sample("q2")]);
    ok(&["featurize", "--db", d]);
    // A checkpoint after every batch: signalled after the first, 80 batches are left.
    let args = ["train", "--epochs", "20", "--checkpoint-batches", "1"];
    let marker = "training checkpoint";
    interrupted_then_rerun_equals_one_run(tmp.path(), Some(&db), &args, marker, CONTINUES);
}

#[test]
fn import_embeddings_interrupted_then_rerun_equals_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let db = catalogue(tmp.path(), &[&["featurize"]]);
    let emb = tmp.path().join("emb");
    seeded_embeddings(&db, &emb);
    // A commit every 10 rows: signalled after the first, thousands are left.
    let args = [
        "import-embeddings",
        "--batch-rows",
        "10",
        emb.to_str().unwrap(),
    ];
    interrupted_then_rerun_equals_one_run(
        tmp.path(),
        Some(&db),
        &args,
        "import checkpoint",
        CONTINUES,
    );
}

#[test]
fn index_interrupted_then_rerun_equals_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let db = catalogue(tmp.path(), &[&["featurize"]]);
    // A build is one transaction: interrupted, it leaves nothing, and the rerun starts over.
    let message = "the index was left as it was before: rerun the same command to build it";
    let args = ["index", "--n-trees", "64"];
    interrupted_then_rerun_equals_one_run(tmp.path(), Some(&db), &args, HANDLER, message);
}

#[test]
fn recommend_interrupted_then_rerun_equals_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let db = catalogue(tmp.path(), &[&["featurize"], &["index"]]);
    let args = ["recommend", "--search", "index"];
    let rerun =
        interrupted_then_rerun_equals_one_run(tmp.path(), Some(&db), &args, HANDLER, CONTINUES);
    // Its rate is of the sellers it computed, which it says.
    assert!(rerun.contains(" computed in this run), "), "{rerun}");
}

#[test]
fn refresh_interrupted_then_rerun_equals_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let drop = catalogue_drop(tmp.path(), "q1", 6_000, 60_000, 120_000);
    let args = [
        "refresh",
        "--model",
        "content",
        "--batch-rows",
        "500",
        drop.path(),
    ];
    // Featurize has reported: signalled during index or recommend.
    let message =
        "(its progress is committed); rerun the same command to continue where it stopped";
    interrupted_then_rerun_equals_one_run(tmp.path(), None, &args, "sellers: ", message);
}

#[test]
fn watch_interrupted_then_rerun_equals_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    fs::create_dir_all(&inbox).unwrap();
    let drop = catalogue_drop(&inbox, "q1", 3_000, 30_000, 60_000);
    fs::write(drop.dir.join(demandlink::watch::READY), "").unwrap();
    let args = [
        "watch",
        "--once",
        "--model",
        "content",
        "--batch-rows",
        "500",
        inbox.to_str().unwrap(),
    ];
    // Logged when the drop's refresh starts: its ingest, ahead, commits every 500 rows.
    let marker = "refreshing";
    interrupted_then_rerun_equals_one_run(tmp.path(), None, &args, marker, CONTINUES);
}

#[test]
fn eval_interrupted_then_rerun_prints_the_same_report() {
    let tmp = tempfile::tempdir().unwrap();
    let db = catalogue(tmp.path(), &[&["featurize"]]);
    // Every seller of the catalogue holds out two high-demand products (p0054000…).
    let heldout = tmp.path().join("heldout.tsv");
    let mut text = String::from("seller_id\tproduct_id\n");
    for s in 0..6_000 {
        for j in 0..2 {
            text.push_str(&format!(
                "s{s:06}\tp{:07}\n",
                54_000 + (s * 7 + j * 13) % 6_000
            ));
        }
    }
    fs::write(&heldout, text).unwrap();
    let args = [
        "eval",
        "--db",
        db.to_str().unwrap(),
        "--heldout",
        heldout.to_str().unwrap(),
        "--k",
        "10,100,1000",
        "--json",
    ];
    let report = |stdout: &str| {
        let mut r: serde_json::Value = serde_json::from_str(stdout).unwrap();
        r.as_object_mut().unwrap().remove("timings");
        r
    };
    let reference = report(&ok(&args));
    let stopped = interrupt_at(&args, HANDLER);
    stopped
        .assert_interrupted("an evaluation stores nothing: rerun the same command to run it again");
    assert_eq!(report(&ok(&args)), reference);
}

/// A database with the catalogue drop (6 000 sellers, 60 000 products) ingested, then the
/// commands `after` run on it (each `[command, options…]`).
fn catalogue(tmp: &Path, after: &[&[&str]]) -> PathBuf {
    let drop = catalogue_drop(tmp, "q1", 6_000, 60_000, 120_000);
    let db = tmp.join("prepared");
    ok(&with_db(&db, &["ingest", drop.path()]));
    for args in after {
        ok(&with_db(&db, args));
    }
    db
}

/// `demandlink ARGS` (`[command, options…]`) run uninterrupted on a copy of `prepared` (or a
/// new database) and, on another, interrupted at `marker` — exit code 130 and `message` —
/// then rerun: both end with the same dump. Returns what the rerun printed.
fn interrupted_then_rerun_equals_one_run(
    tmp: &Path,
    prepared: Option<&Path>,
    args: &[&str],
    marker: &str,
    message: &str,
) -> String {
    let fresh = |name: &str| {
        let db = tmp.join(name);
        if let Some(prepared) = prepared {
            copy_dir(prepared, &db);
        }
        db
    };
    let reference = fresh("reference");
    ok(&with_db(&reference, args));

    let db = fresh("interrupted");
    let stopped = interrupt_at(&with_db(&db, args), marker);
    stopped.assert_interrupted(message);
    let rerun = ok(&with_db(&db, args));
    eprintln!("interrupted:\n{}\nrerun:\n{rerun}", stopped.stderr);
    assert!(
        dump(&db) == dump(&reference),
        "dumps differ after the interruption and the rerun"
    );
    rerun
}

/// `[command, --db, DB, options…]`.
fn with_db<'a>(db: &'a Path, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![args[0], "--db", db.to_str().unwrap()];
    all.extend(&args[1..]);
    all
}

/// How an interrupted command ended.
struct Stopped {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Stopped {
    /// Exit code 130 and one `error:` line holding `message`, no panic.
    fn assert_interrupted(&self, message: &str) {
        let context = format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert_eq!(self.code, Some(130), "{context}");
        assert!(!self.stderr.contains("panicked"), "{context}");
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{context}");
        assert!(errors[0].contains(message), "{context}");
    }
}

/// Runs `demandlink ARGS` with debug logs, sends SIGINT once a line of its stdout or stderr
/// contains `marker`, and waits for it to end.
fn interrupt_at(args: &[&str], marker: &str) -> Stopped {
    let mut child = Command::new(bin())
        .args(args)
        .env("RUST_LOG", "demandlink=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn demandlink");
    let (tx, lines) = channel();
    let streams: [(bool, Box<dyn Read + Send>); 2] = [
        (false, Box::new(child.stdout.take().unwrap())),
        (true, Box::new(child.stderr.take().unwrap())),
    ];
    for (is_stderr, stream) in streams {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send((is_stderr, line));
            }
        });
    }
    drop(tx);
    let (mut stdout, mut stderr, mut signalled) = (String::new(), String::new(), false);
    // Ends when both streams are closed: the process ended.
    for (is_stderr, line) in lines {
        if !signalled && line.contains(marker) {
            interrupt(&child);
            signalled = true;
        }
        let out = if is_stderr { &mut stderr } else { &mut stdout };
        out.push_str(&line);
        out.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(
        signalled,
        "demandlink {args:?} ended ({status}) before printing {marker:?}:\n{stdout}\n{stderr}"
    );
    Stopped {
        code: status.code(),
        stdout,
        stderr,
    }
}
