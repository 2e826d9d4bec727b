//! Integrity: damaged index files are refused with the rebuild command (never a crash, never
//! silent answers) and `refresh` rebuilds them; `verify` finds a damaged RocksDB table file;
//! a whole database verifies.

use std::fs;
use std::path::{Path, PathBuf};

use crate::recommend::sample_db;
use crate::util::{copy_dir, dump, ok, run};

/// The active generation's LMDB data file of `db`.
fn index_file(db: &Path) -> PathBuf {
    let dir = db.join("index");
    let generation = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            e.unwrap()
                .file_name()
                .into_string()
                .ok()?
                .parse::<u32>()
                .ok()
        })
        .max()
        .expect("an index generation folder");
    dir.join(generation.to_string()).join("data.mdb")
}

/// A deterministic stream of positions and masks (xorshift64*).
fn seeded(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// What a command answered: `Ok(stdout)`, or `Err(stderr)` after checking that it failed
/// cleanly with one `error:` line (no crash, no panic).
fn answer(args: &[&str]) -> Result<String, String> {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        return Ok(String::from_utf8(out.stdout).unwrap());
    }
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?} ended by a signal or odd code: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    let errors = stderr.lines().filter(|l| l.starts_with("error:")).count();
    assert_eq!(errors, 1, "{args:?}: {stderr}");
    Err(stderr)
}

/// What of a command's output must stay the same.
type Keep = fn(String) -> String;

/// `inspect`'s text without the time its list was computed (the full `recommend` below
/// recomputes the lists).
fn without_time(text: String) -> String {
    text.lines()
        .map(|l| l.split(", computed at unix").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The recall figure of `index check --json` (its latencies differ from run to run).
fn recall(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["recall"].to_string()
}

#[test]
fn every_damaged_index_byte_is_answered_as_before_or_refused_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample_db(tmp.path());
    let dbs = db.to_str().unwrap();
    let file = index_file(&db);
    let original = fs::read(&file).unwrap();
    let commands: [(&[&str], Keep); 4] = [
        (&["inspect", "--db", dbs, "s000007"], without_time),
        (&["recommend", "--db", dbs, "--seller", "s000042"], |s| s),
        (&["index", "check", "--db", dbs, "--json"], |s| recall(&s)),
        // Every seller's lists, written: the counts (the lists themselves are compared below).
        (&["recommend", "--db", dbs], |s| {
            s.split(" in ").next().unwrap_or_default().to_string()
        }),
    ];
    let lists = dump(&db);
    let before: Vec<String> = commands
        .iter()
        .map(|(args, keep)| keep(answer(args).expect("the whole index answers")))
        .collect();
    let mut next = seeded(21);
    let mut refused = 0;
    for _ in 0..200 {
        let position = (next() % original.len() as u64) as usize;
        let mask = (next() % 255 + 1) as u8;
        let mut damaged = original.clone();
        damaged[position] ^= mask;
        fs::write(&file, &damaged).unwrap();
        for ((args, keep), before) in commands.iter().zip(&before) {
            match answer(args) {
                Ok(out) => assert_eq!(&keep(out), before, "byte {position} ^ {mask}: {args:?}"),
                Err(e) => {
                    assert!(
                        e.contains("index generation 1 is damaged")
                            && e.contains(&format!("run `demandlink index --db {dbs}`")),
                        "byte {position} ^ {mask}: {args:?}: {e}"
                    );
                    refused += 1;
                }
            }
        }
    }
    eprintln!("{refused} of 800 answers refused");
    // Whatever ran wrote the lists the whole index gives.
    assert!(dump(&db) == lists, "stored lists changed");
    fs::write(&file, &original).unwrap();
    assert_eq!(without_time(answer(commands[0].0).unwrap()), before[0]);
}

#[test]
fn refresh_and_index_rebuild_a_damaged_index_and_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample_db(tmp.path());
    let dbs = db.to_str().unwrap();
    let list = ok(&["recommend", "--db", dbs, "--seller", "s000042"]);
    let damage = |db: &Path| {
        let file = index_file(db);
        let mut bytes = fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle..middle + 64].fill(0xAB);
        fs::write(&file, bytes).unwrap();
    };
    let copy = tmp.path().join("copy");
    copy_dir(&db, &copy);
    damage(&db);
    let verify = run(&["verify", "--db", dbs]);
    assert!(!verify.status.success());
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        report.contains("WRONG    index generation 1 is damaged"),
        "{report}"
    );

    // `index` replaces it.
    let out = ok(&["index", "--db", dbs]);
    assert!(
        out.contains("index: generation 1 was damaged") && out.contains("rebuilt from the store"),
        "{out}"
    );
    ok(&["recommend", "--db", dbs]);
    assert_eq!(ok(&["recommend", "--db", dbs, "--seller", "s000042"]), list);
    assert!(ok(&["verify", "--db", dbs]).contains("verify: whole"));

    // So does a refresh with nothing new to apply, which would otherwise do nothing.
    let copys = copy.to_str().unwrap();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let refresh = [
        "refresh",
        "--db",
        copys,
        &format!("{data}/q1"),
        &format!("{data}/q2"),
    ];
    ok(&refresh);
    let before = dump(&copy);
    let list = ok(&["recommend", "--db", copys, "--seller", "s000042"]);
    damage(&copy);
    let out = ok(&refresh);
    assert!(out.contains("was damaged"), "{out}");
    assert_eq!(
        ok(&["recommend", "--db", copys, "--seller", "s000042"]),
        list
    );
    // The same lists and state, under the next generation's number.
    let renumbered = |d: String| d.replace("index_generation: 3", "index_generation: 2");
    let after = renumbered(dump(&copy));
    let changed: Vec<&str> = after
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    assert!(
        changed
            .iter()
            .all(|l| l.starts_with("meta active_index") || l.contains("index.files")),
        "{changed:?}"
    );
}

#[test]
fn verify_finds_a_damaged_table_file_and_passes_a_whole_database() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sample_db(tmp.path());
    let dbs = db.to_str().unwrap();
    let out = ok(&["verify", "--db", dbs]);
    for part in [
        "checksums: ok",
        "index: ok",
        "invariants: ok",
        "verify: whole",
    ] {
        assert!(out.contains(part), "{out}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["verify", "--db", dbs, "--json"])).unwrap();
    assert_eq!(json["whole"], true);

    // The largest table file, damaged in its middle.
    let sst = fs::read_dir(db.join("store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = fs::read(&sst).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 16] {
        *b ^= 0x5A;
    }
    fs::write(&sst, bytes).unwrap();
    let out = run(&["verify", "--db", dbs]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("checksums: 1 problem(s)"), "{stdout}");
    assert!(stdout.contains("Corruption"), "{stdout}");
    assert!(stdout.contains("verify: damaged"), "{stdout}");
    assert!(stderr.contains("problem(s) found"), "{stderr}");
}
