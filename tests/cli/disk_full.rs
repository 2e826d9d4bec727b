//! A full disk: every stage run on a file system with almost no space left fails with one
//! clear error line, and run again once space is freed it ends in the state of an
//! uninterrupted run. The file system is a small tmpfs the test mounts (it needs the right to
//! mount, root on the development machine; without it the test says so and passes unrun).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{dump, ok, run, sample};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        mounted.then(|| Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    /// Bytes in use.
    fn used(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=used", "-B1"])
            .arg(&self.dir)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines().nth(1).unwrap().trim().parse().unwrap()
    }

    /// Sets the size (rounded up to pages by the kernel).
    fn resize(&self, bytes: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success(), "remount to {bytes} bytes");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// The chain the test runs, as the arguments after the command name and `--db DB`.
fn chain() -> Vec<Vec<String>> {
    let train = ["--epochs", "1", "--dim", "8"];
    let strings = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        strings(&["ingest", &sample("q1")]),
        strings(&["featurize"]),
        strings(&[&["train"][..], &train].concat()),
        strings(&["index"]),
        strings(&["recommend"]),
        strings(
            &[
                &["refresh"][..],
                &train,
                &["--fine-tune-epochs", "1", &sample("q1"), &sample("q2")],
            ]
            .concat(),
        ),
    ]
}

fn with_db(step: &[String], db: &Path) -> Vec<String> {
    let mut args = vec![step[0].clone(), "--db".into(), db.display().to_string()];
    args.extend(step[1..].iter().cloned());
    args
}

#[test]
fn every_stage_on_a_full_disk_fails_cleanly_and_a_rerun_after_freeing_space_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&tmp.path().join("small")) else {
        eprintln!("disk-full test not run: cannot mount a tmpfs here (needs root)");
        return;
    };
    let reference = tmp.path().join("reference");
    for step in chain() {
        let args = with_db(&step, &reference);
        ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    let db = fs.dir.join("db");
    let mut failed = Vec::new();
    for step in chain() {
        let args = with_db(&step, &db);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Almost full before each stage: 64 KiB free, then 64 KiB more per failed attempt,
        // so that failures land at the open and then further and further into the stage.
        let start = fs.used();
        fs.resize(start + (64 << 10));
        let mut attempts = 0;
        loop {
            let out = run(&args);
            if out.status.success() {
                break;
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
            assert_eq!(errors.len(), 1, "{}: {stderr}", step[0]);
            assert!(
                errors[0].to_lowercase().contains("no space left on device"),
                "{}: {stderr}",
                step[0]
            );
            assert!(!stderr.contains("panicked"), "{}: {stderr}", step[0]);
            failed.push((step[0].clone(), errors[0].to_string()));
            attempts += 1;
            assert!(attempts < 400, "{} never fits", step[0]);
            // Free some space, run the same command again.
            fs.resize(start.max(fs.used()) + (64 << 10) * (attempts + 1));
        }
    }
    for (stage, error) in &failed {
        eprintln!("{stage} on a full disk: {error}");
    }
    // Each stage failed, and each that writes more than a few kilobytes (all but the
    // sample's 150 lists) also past opening the database, in its own writes.
    for stage in [
        "ingest",
        "featurize",
        "train",
        "index",
        "recommend",
        "refresh",
    ] {
        let writes = stage != "recommend";
        assert!(
            failed
                .iter()
                .any(|(f, e)| f == stage && !(writes && e.contains("DB::Open() failed"))),
            "{stage} never failed in its writes: {failed:?}"
        );
    }
    assert!(dump(&db) == dump(&reference), "the dumps differ");
    let verify = ok(&["verify", "--db", db.to_str().unwrap()]);
    assert!(verify.contains("verify: whole"), "{verify}");
}
