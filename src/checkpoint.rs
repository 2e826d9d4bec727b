//! Checkpoints and restore: going back a quarter. Before `refresh` applies a new drop it keeps
//! the database as it is in `DB/checkpoints/<quarter>/` (named by the last drop applied): a
//! RocksDB checkpoint of `store/` (hard links to the table files) and hard links to the active
//! index generation's files (never written after their build), with `checkpoint.json`. The
//! newest `keep` are kept. [`restore`] puts one back, crash-safely (see `store::backup`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::index;
use crate::store::{self, OpenMode, Store, StoreError};

/// The folder of checkpoints inside a database folder.
const DIR: &str = "checkpoints";
/// A checkpoint's description, inside its folder.
const META: &str = "checkpoint.json";

/// Errors of checkpoints and restore.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// `restore --to` named no checkpoint.
    #[error("no checkpoint `{id}` in {}; checkpoints: {}", dir.display(), list_or_none(.known))]
    Unknown {
        /// The id asked for.
        id: String,
        /// The checkpoints folder.
        dir: PathBuf,
        /// The checkpoints there.
        known: Vec<String>,
    },
    /// A checkpoint's description does not decode.
    #[error("{}: not a checkpoint description ({reason}); remove that checkpoint's folder", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// Its name: the last drop applied when it was taken.
    pub id: String,
    /// Unix seconds when it was taken.
    pub created_at: u64,
    /// Drops applied in it.
    pub drops: u32,
    /// Its active index generation.
    pub index_generation: Option<u32>,
    /// Bytes of its files (shared with the live database while it holds the same files).
    #[serde(skip)]
    pub bytes: u64,
}

type Result<T> = std::result::Result<T, CheckpointError>;

fn io(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The checkpoints folder of the database folder `root`.
pub fn checkpoints_dir(root: &Path) -> PathBuf {
    root.join(DIR)
}

/// Takes checkpoint `id` of `store` (open for writing, so nothing changes meanwhile) unless it
/// exists, then keeps the newest `keep`. Returns the new checkpoint, if one was taken.
pub fn take(store: &Store, id: &str, keep: usize) -> Result<Option<CheckpointInfo>> {
    let dir = checkpoints_dir(store.root());
    let target = dir.join(id);
    let taken = match target.exists() {
        true => None,
        false => {
            // Built aside and renamed: a killed checkpoint leaves only a `.partial` folder.
            let partial = dir.join(format!(".{id}.partial"));
            if partial.exists() {
                fs::remove_dir_all(&partial).map_err(io(&partial))?;
            }
            fs::create_dir_all(&partial).map_err(io(&partial))?;
            store.checkpoint_into(&partial.join("store"))?;
            let active = store.active_index()?.map(|(g, _)| g);
            if let Some(g) = active {
                link_files(
                    &store.index_dir(),
                    &partial.join("index"),
                    &index::state_files(&store.index_dir(), g),
                )?;
            }
            let info = CheckpointInfo {
                id: id.to_string(),
                created_at: clock::unix_secs(),
                drops: store.next_drop_seq()? - 1,
                index_generation: active,
                bytes: 0,
            };
            let meta = partial.join(META);
            fs::write(
                &meta,
                serde_json::to_vec_pretty(&info).expect("serialisable"),
            )
            .map_err(io(&meta))?;
            store::sync_dir(&partial).map_err(io(&partial))?;
            fs::rename(&partial, &target).map_err(io(&target))?;
            store::sync_dir(&dir).map_err(io(&dir))?;
            Some(read(&target)?)
        }
    };
    let all = list(store.root())?;
    for old in &all[..all.len().saturating_sub(keep.max(1))] {
        let path = dir.join(&old.id);
        fs::remove_dir_all(&path).map_err(io(&path))?;
    }
    Ok(taken)
}

/// The checkpoints of the database folder `root`, oldest first.
pub fn list(root: &Path) -> Result<Vec<CheckpointInfo>> {
    let dir = checkpoints_dir(root);
    let mut out = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(&dir)(e)),
    };
    for entry in entries {
        let path = entry.map_err(io(&dir))?.path();
        if path.join(META).exists() {
            out.push(read(&path)?);
        }
    }
    out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(out)
}

/// Brings the database folder `root` back to checkpoint `id`: its store and index exactly as
/// they were. Takes the write lock while it stages the copy (a running writer makes it fail
/// with "busy"); killed at any instant it leaves the old or the restored state.
pub fn restore(root: &Path, id: &str) -> Result<CheckpointInfo> {
    let source = checkpoints_dir(root).join(id);
    let plain = Path::new(id).file_name().is_some_and(|n| n == id);
    if !plain || !source.join(META).exists() {
        return Err(CheckpointError::Unknown {
            id: id.to_string(),
            dir: checkpoints_dir(root),
            known: list(root)?.into_iter().map(|c| c.id).collect(),
        });
    }
    let info = read(&source)?;
    // A server reads the store it opened, by path: swapped under it, it would read neither.
    if let Some(pid) = store::live_servers(root).first() {
        return Err(StoreError::Busy {
            path: root.to_path_buf(),
            holder: format!("the portal, pid {pid}, reads it"),
        }
        .into());
    }
    {
        let _lock = Store::open(root, OpenMode::ReadWrite)?;
        let staging = store::start_staging(root)?;
        store::copy_store(&source.join("store"), &staging.join("store"))?;
        let index = source.join("index");
        let files = match index.exists() {
            true => files_under(&index, Path::new(""))?,
            false => Vec::new(),
        };
        fs::create_dir_all(staging.join("index")).map_err(io(&staging))?;
        link_files(&index, &staging.join("index"), &files)?;
    }
    store::commit_restore(root, id)?;
    Ok(info)
}

/// Hard-links (or copies) the `files`, relative paths, from folder `from` into folder `to`.
fn link_files(from: &Path, to: &Path, files: &[PathBuf]) -> Result<()> {
    for file in files {
        let target = to.join(file);
        let parent = target.parent().unwrap_or(to);
        fs::create_dir_all(parent).map_err(io(parent))?;
        store::link_or_copy(&from.join(file), &target).map_err(io(&target))?;
        store::sync_dir(parent).map_err(io(parent))?;
    }
    Ok(())
}

/// Every file under `dir/relative`, relative to `dir`.
fn files_under(dir: &Path, relative: &Path) -> Result<Vec<PathBuf>> {
    let here = dir.join(relative);
    let mut out = Vec::new();
    for entry in fs::read_dir(&here).map_err(io(&here))? {
        let entry = entry.map_err(io(&here))?;
        let name = relative.join(entry.file_name());
        match entry.file_type().map_err(io(&here))?.is_dir() {
            true => out.extend(files_under(dir, &name)?),
            false => out.push(name),
        }
    }
    Ok(out)
}

/// A checkpoint's description, with the bytes of its files.
fn read(dir: &Path) -> Result<CheckpointInfo> {
    let path = dir.join(META);
    let bytes = fs::read(&path).map_err(io(&path))?;
    let mut info: CheckpointInfo =
        serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    info.bytes = files_under(dir, Path::new(""))?
        .iter()
        .map(|f| fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum();
    Ok(info)
}

fn list_or_none(known: &[String]) -> String {
    match known.is_empty() {
        true => "none".into(),
        false => known.join(", "),
    }
}
