//! Checkpoints and restore: `refresh` keeps the database as it was before new drops, `restore`
//! brings it back exactly (the dump taken then, and `verify`), also when killed (SIGKILL) at
//! each step of its swap and completed by the next command.

use std::path::Path;

use crate::util::{Server, catalogue_drop, copy_dir, dump, fails, killed_at_pause, ok, sample};

/// `refresh --model content` (no training: the chain, fast) of `drops` into `db`.
fn refresh(db: &Path, drops: &[&str], extra: &[&str]) -> String {
    let dbs = db.to_str().unwrap();
    ok(&[
        &["refresh", "--db", dbs, "--model", "content"][..],
        extra,
        drops,
    ]
    .concat())
}

fn verified(db: &Path) {
    let out = ok(&["verify", "--db", db.to_str().unwrap()]);
    assert!(out.contains("verify: whole"), "{out}");
}

/// Runs `restore --to id` with the test pause at `point` and kills it (SIGKILL) there.
fn killed_restore(db: &Path, id: &str, point: &str) {
    killed_at_pause(
        &["restore", "--db", db.to_str().unwrap(), "--to", id],
        point,
    );
}

#[test]
fn restore_brings_back_the_state_taken_before_a_drop_even_when_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let dbs = db.to_str().unwrap();
    let (q1, q2) = (sample("q1"), sample("q2"));
    let out = refresh(&db, &[&q1], &[]);
    assert!(
        !out.contains("checkpoint:"),
        "nothing to keep before the first drop: {out}"
    );
    let before = dump(&db);
    let out = refresh(&db, &[&q1, &q2], &[]);
    assert!(out.contains("checkpoint: `q1` kept (1 drops)"), "{out}");
    let after = dump(&db);
    assert_ne!(before, after);
    let listed = ok(&["checkpoints", "--db", dbs]);
    assert!(
        listed.starts_with("q1 ") && listed.contains("1 drops, index generation 1"),
        "{listed}"
    );

    // Killed before the restore is committed: the state after q2; after: the restored one,
    // completed by the next command that opens the database. Either way a rerun restores.
    for (point, committed) in [
        ("restore.staged", false),
        ("restore.swapped.store", true),
        ("restore.swapped.index", true),
    ] {
        let copy = tmp.path().join(point);
        copy_dir(&db, &copy);
        killed_restore(&copy, "q1", point);
        let expected = if committed { &before } else { &after };
        assert!(dump(&copy) == *expected, "killed at {point}");
        verified(&copy);
        ok(&["restore", "--db", copy.to_str().unwrap(), "--to", "q1"]);
        assert!(dump(&copy) == before, "restored after a kill at {point}");
        verified(&copy);
    }

    // Not under a running portal: it reads the store it opened.
    let server = Server::start(&db);
    let e = fails(&["restore", "--db", dbs, "--to", "q1"]);
    assert!(e.contains("database is busy (the portal, pid"), "{e}");
    drop(server);
    let out = ok(&["restore", "--db", dbs, "--to", "q1"]);
    assert!(out.contains("back to checkpoint `q1`"), "{out}");
    assert!(dump(&db) == before);
    verified(&db);
    // Recommendations are read from the restored index too.
    assert!(ok(&["recommend", "--db", dbs, "--seller", "s000042"]).contains("s000042"));
    // The quarter applied again ends where it did.
    refresh(&db, &[&q1, &q2], &[]);
    assert!(dump(&db) == after);

    // The newest --keep-checkpoints stay.
    let q3 = catalogue_drop(tmp.path(), "q3", 20, 53, 60);
    let out = refresh(&db, &[&q1, &q2, q3.path()], &["--keep-checkpoints", "1"]);
    assert!(out.contains("checkpoint: `q2` kept (2 drops)"), "{out}");
    let listed = ok(&["checkpoints", "--db", dbs]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.starts_with("q2 "), "{listed}");
    let e = fails(&["restore", "--db", dbs, "--to", "q1"]);
    assert!(
        e.contains("no checkpoint `q1`") && e.contains("checkpoints: q2"),
        "{e}"
    );
}
