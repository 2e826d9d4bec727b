//! The store's half of checkpoints and restore: a RocksDB checkpoint (hard links to the
//! immutable table files, copies of the rest), and the swap that puts a staged copy of the
//! database folder's `store/` and `index/` in place of the live ones.
//!
//! A restore is staged whole in `DB/restore.staging/`, then committed by writing the marker
//! `DB/restore.pending`, then swapped in by renames. [`finish_restore`] runs at every open: with
//! the marker it rolls the swap forward (every step can be redone), without it it discards an
//! uncommitted staging folder. So a restore killed at any instant leaves the old state or, once
//! any process opens the database, the restored one.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use rocksdb::checkpoint::Checkpoint;

use super::{Result, Store, StoreError};
use crate::pause::pause;

/// The folders a restore replaces, in the order it swaps them.
const PARTS: [&str; 2] = ["store", "index"];
/// The staged copy being built.
const STAGING: &str = "restore.staging";
/// Written once the staged copy is complete: from then on the restore is rolled forward.
const MARKER: &str = "restore.pending";
/// Where the replaced folders wait to be deleted.
const OLD: &str = "restore.old";
/// The pid of the restoring process, in the staging folder.
const OWNER: &str = "owner.pid";

impl Store {
    /// Writes a RocksDB checkpoint of the database into `target` (which must not exist):
    /// hard links to the table files, copies of the manifest and options, the log flushed.
    pub(crate) fn checkpoint_into(&self, target: &Path) -> Result<()> {
        Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(target))
            .map_err(|e| self.rocks(e))
    }
}

/// The folder a restore stages its copy in; `store/` and `index/` go inside.
fn staging_dir(root: &Path) -> PathBuf {
    root.join(STAGING)
}

/// Copies the store folder `from` (a checkpoint's) to `to`: table files hard-linked (RocksDB
/// never changes one in place), every other file copied, so that the database opened on `to`
/// never writes into the checkpoint.
pub(crate) fn copy_store(from: &Path, to: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    fs::create_dir_all(to).map_err(io(to))?;
    for entry in fs::read_dir(from).map_err(io(from))? {
        let path = entry.map_err(io(from))?.path();
        let target = to.join(path.file_name().expect("a directory entry has a name"));
        match path.extension().is_some_and(|e| e == "sst") {
            true => link_or_copy(&path, &target),
            false => fs::copy(&path, &target).map(drop),
        }
        .and_then(|()| File::open(&target)?.sync_all())
        .map_err(io(&target))?;
    }
    sync_dir(to).map_err(io(to))
}

/// A hard link of `from` at `to`, or a copy where links are impossible (another file system).
pub(crate) fn link_or_copy(from: &Path, to: &Path) -> io::Result<()> {
    fs::hard_link(from, to).or_else(|_| fs::copy(from, to).map(drop))
}

/// Commits the staged restore (writes the marker naming `id`) and swaps it in.
pub(crate) fn commit_restore(root: &Path, id: &str) -> Result<()> {
    let io = |source| StoreError::Io {
        path: root.join(MARKER),
        source,
    };
    sync_dir(&staging_dir(root)).map_err(io)?;
    pause("restore.staged");
    let marker = root.join(MARKER);
    fs::write(&marker, id).map_err(io)?;
    File::open(&marker).and_then(|f| f.sync_all()).map_err(io)?;
    sync_dir(root).map_err(io)?;
    finish_restore(root)
}

/// Starts a new staging folder, owned by this process (what a killed restore left goes).
pub(crate) fn start_staging(root: &Path) -> Result<PathBuf> {
    let staging = staging_dir(root);
    let io = |source| StoreError::Io {
        path: staging.clone(),
        source,
    };
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(io)?;
    }
    fs::create_dir_all(&staging).map_err(io)?;
    fs::write(staging.join(OWNER), std::process::id().to_string()).map_err(io)?;
    Ok(staging)
}

/// Completes a restore that was committed and interrupted, or discards one that was not —
/// unless the process restoring is still running (it finishes its own).
pub(crate) fn finish_restore(root: &Path) -> Result<()> {
    let io = |path: PathBuf| move |source| StoreError::Io { path, source };
    let staging = staging_dir(root);
    let owner = fs::read_to_string(staging.join(OWNER))
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok());
    if owner.is_some_and(|pid| pid != std::process::id() && !super::process_gone(pid)) {
        return Ok(());
    }
    if !root.join(MARKER).exists() {
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io(staging))?;
        }
        return Ok(());
    }
    let old = root.join(OLD);
    for part in PARTS {
        let (staged, live) = (staging.join(part), root.join(part));
        if !staged.exists() {
            continue; // swapped in already
        }
        if live.exists() {
            fs::create_dir_all(&old).map_err(io(old.clone()))?;
            let _ = fs::remove_dir_all(old.join(part));
            fs::rename(&live, old.join(part)).map_err(io(live.clone()))?;
        }
        fs::rename(&staged, &live).map_err(io(staged.clone()))?;
        sync_dir(root).map_err(io(root.to_path_buf()))?;
        pause(&format!("restore.swapped.{part}"));
    }
    for dir in [&old, &staging] {
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(io(dir.to_path_buf()))?;
        }
    }
    fs::remove_file(root.join(MARKER)).map_err(io(root.join(MARKER)))?;
    sync_dir(root).map_err(io(root.to_path_buf()))
}

/// Makes the folder's entries (new names, renames) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
