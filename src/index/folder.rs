//! Where generations live: each in its own LMDB environment `DB/index/<generation>/`, written
//! by one build and never again, so that its files can be hashed once, checked before every
//! use and hard-linked into checkpoints. Databases built before kept every generation in one
//! environment directly in `DB/index/` (the shared layout); a generation there is read where
//! it is, unchecked (no hashes were recorded), until the next build replaces it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::digest::{self, Depth, STATE_FILES};
use super::{ArroyIndex, ArroyReader, IndexError};
use crate::progress::{NoProgress, Progress};
use crate::store::IndexFiles;

/// What a check of a generation's files found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// The files are as built.
    Whole,
    /// No hashes were recorded for it (built before they were): read unchecked.
    Unrecorded,
    /// The files differ from the build's record: why.
    Damaged(String),
}

/// The folder of generation `generation`'s own environment.
pub(crate) fn own_dir(index_dir: &Path, generation: u32) -> PathBuf {
    index_dir.join(generation.to_string())
}

/// The folder holding `generation`: its own, or the shared environment of older builds.
pub(crate) fn generation_dir(index_dir: &Path, generation: u32) -> PathBuf {
    let own = own_dir(index_dir, generation);
    match own.join(STATE_FILES[0]).exists() {
        true => own,
        false => index_dir.to_path_buf(),
    }
}

/// The files holding `generation`, relative to the index folder: what a copy of the index
/// needs to serve it.
pub fn state_files(index_dir: &Path, generation: u32) -> Vec<PathBuf> {
    let dir = generation_dir(index_dir, generation);
    let relative = dir.strip_prefix(index_dir).unwrap_or(Path::new(""));
    STATE_FILES.iter().map(|f| relative.join(f)).collect()
}

/// Whether `generation` exists: its own folder (never written after its build, so it holds
/// exactly that generation), or in the shared environment of older builds.
pub(crate) fn exists(index_dir: &Path, generation: u32) -> Result<bool, IndexError> {
    let dir = generation_dir(index_dir, generation);
    if dir != index_dir {
        return Ok(true);
    }
    if !dir.join(STATE_FILES[0]).exists() {
        return Ok(false);
    }
    Ok(ArroyIndex::open(&dir)?.generations()?.contains(&generation))
}

/// Checks `generation`'s files against `record` (the build's, if recorded for it).
pub(crate) fn check(
    index_dir: &Path,
    generation: u32,
    record: Option<&IndexFiles>,
    depth: Depth,
    progress: &dyn Progress,
) -> Result<Health, IndexError> {
    let Some(record) = record.filter(|r| r.generation == generation) else {
        return Ok(Health::Unrecorded);
    };
    let dir = own_dir(index_dir, generation);
    let io = |source| IndexError::Io {
        path: dir.clone(),
        source,
    };
    Ok(
        match digest::check(&dir, record, depth, progress).map_err(io)? {
            Ok(()) => Health::Whole,
            Err(reason) => Health::Damaged(reason),
        },
    )
}

/// A reader of `generation`, after a quick check of its files against `record`: a damaged
/// generation is [`IndexError::Damaged`] before LMDB or arroy read a byte of it.
pub fn open_reader(
    index_dir: &Path,
    generation: u32,
    record: Option<&IndexFiles>,
) -> Result<ArroyReader, IndexError> {
    if let Health::Damaged(reason) =
        check(index_dir, generation, record, Depth::Quick, &NoProgress)?
    {
        return Err(damaged(index_dir, generation, reason));
    }
    ArroyIndex::open(&generation_dir(index_dir, generation))?.reader(generation)
}

/// The error for a damaged generation, with the command that rebuilds it.
pub(crate) fn damaged(index_dir: &Path, generation: u32, reason: String) -> IndexError {
    IndexError::Damaged {
        generation,
        reason,
        db: index_dir.parent().unwrap_or(index_dir).to_path_buf(),
    }
}

/// Removes every generation but `keep` (with the shared environment unless `keep` lives in
/// it) and whatever else a killed build left in `index_dir`.
pub(crate) fn remove_others(index_dir: &Path, keep: Option<u32>) -> io::Result<()> {
    let shared = keep.is_some_and(|g| generation_dir(index_dir, g) == index_dir);
    let kept = keep.map(|g| own_dir(index_dir, g));
    let entries = match fs::read_dir(index_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if Some(&path) == kept.as_ref() || (shared && path.is_file()) {
            continue;
        }
        match path.is_dir() {
            true => fs::remove_dir_all(&path)?,
            false => fs::remove_file(&path)?,
        }
    }
    Ok(())
}

/// Hashes the files of `generation`'s own folder, as its build left them.
pub(crate) fn record(index_dir: &Path, generation: u32) -> Result<IndexFiles, IndexError> {
    let dir = own_dir(index_dir, generation);
    digest::digest(&dir, generation).map_err(|source| IndexError::Io { path: dir, source })
}

/// `error` as [`IndexError::DiskFull`] when it is an I/O error of LMDB and the file system
/// holding `dir` is (almost) full: LMDB turns a short write into a plain "Input/output error",
/// which would not tell the operator what to do.
pub(crate) fn explain_full(dir: &Path, error: IndexError) -> IndexError {
    match error {
        IndexError::Lmdb(heed::Error::Io(e)) if free_bytes(dir).is_some_and(|free| free < FULL) => {
            IndexError::DiskFull {
                path: dir.to_path_buf(),
                lmdb: heed::Error::Io(e),
            }
        }
        other => other,
    }
}

/// Free bytes under which a failed write is put down to a full file system: a few LMDB
/// pages, or a chunk of arroy's temporary files.
const FULL: u64 = 1 << 20;

/// Bytes available to this process on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stat` a buffer of the right type that
    // statvfs fills on success (checked before it is read).
    let done = unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) } == 0;
    // SAFETY: statvfs returned 0, so it initialised `stat`.
    done.then(|| unsafe { stat.assume_init() })
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}
