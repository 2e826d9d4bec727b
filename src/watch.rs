//! Watch: runs a refresh for each drop folder of an inbox once the folder is complete.
//!
//! A drop folder is ready when it holds a `_READY` marker file (written last by whoever
//! delivers the drop), so a half-written folder is never read. Ready folders are refreshed one
//! at a time in name order; folders named by an applied drop record are skipped, so a watch
//! restarted on the same inbox does not apply anything twice. Nothing in the inbox is moved or
//! deleted. Filesystem events (notify) wake the loop; a periodic rescan catches events a
//! filesystem does not report.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};
use xxhash_rust::xxh3::Xxh3;

use crate::clock;
use crate::progress::Progress;
use crate::refresh::{self, Event, RefreshError, RefreshOptions};
use crate::store::{DropState, OpenMode, Store, StoreError};

/// The marker file that makes a drop folder ready.
pub const READY: &str = "_READY";

/// Errors that stop a watch.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The inbox is not a folder.
    #[error("{0}: inbox folder does not exist")]
    NoInbox(PathBuf),
    /// The inbox cannot be watched or listed.
    #[error("{path}: cannot watch the inbox: {reason}")]
    Inbox {
        /// The inbox.
        path: PathBuf,
        /// The OS or notify error.
        reason: String,
    },
    /// Ctrl-C stopped a refresh after a commit.
    #[error(transparent)]
    Interrupted(RefreshError),
    /// The store failed (other than being busy, which is waited out).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Options of a watch.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// Process the drops that are ready, then return instead of waiting for more.
    pub once: bool,
    /// Longest wait between two scans of the inbox without a filesystem event.
    pub rescan: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            once: false,
            rescan: Duration::from_secs(30),
        }
    }
}

/// What a watch did before it returned.
#[derive(Debug, Default)]
pub struct WatchSummary {
    /// Drops refreshed successfully.
    pub refreshed: usize,
    /// Drops refused or whose refresh failed (each logged with its error).
    pub failed: usize,
}

/// Watches `inbox` and refreshes `db` with every ready drop folder, until `cancel` is set (or,
/// with [`WatchOptions::once`], until the ready drops are done). Refresh events go to `on`.
pub fn watch(
    db: &Path,
    inbox: &Path,
    opts: &RefreshOptions,
    wopts: &WatchOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Event),
) -> Result<WatchSummary, WatchError> {
    if !inbox.is_dir() {
        return Err(WatchError::NoInbox(inbox.to_path_buf()));
    }
    let inbox_error = |reason: String| WatchError::Inbox {
        path: inbox.to_path_buf(),
        reason,
    };
    let (tx, events) = channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        // The receiver only wakes the loop up; a closed channel means the watch is ending.
        let _ = tx.send(event);
    })
    .map_err(|e| inbox_error(e.to_string()))?;
    watcher
        .watch(inbox, RecursiveMode::Recursive)
        .map_err(|e| inbox_error(e.to_string()))?;
    tracing::info!(inbox = %inbox.display(), db = %db.display(), "watching");

    let mut summary = WatchSummary::default();
    // Drops that failed, with the signature of their folder then: retried once it changes.
    let mut failed: HashMap<String, u64> = HashMap::new();
    let mut applied: Option<HashSet<String>> = None;
    while !cancel.load(Ordering::Relaxed) {
        let ready = ready_drops(inbox).map_err(|e| inbox_error(e.to_string()))?;
        let unapplied = |applied: &HashSet<String>| -> Vec<(String, PathBuf)> {
            // Drops apply in name order: one that failed holds back the drops after it until
            // its folder changes (fixed) or leaves the inbox.
            ready
                .iter()
                .filter(|(name, _)| !applied.contains(name))
                .take_while(|(name, dir)| failed.get(name) != Some(&signature(dir)))
                .cloned()
                .collect()
        };
        // The first pass also finishes a chain a killed run left behind.
        if applied.as_ref().is_none_or(|a| !unapplied(a).is_empty()) {
            match Store::open(db, OpenMode::ReadWrite) {
                Ok(store) => {
                    let todo = unapplied(&applied_names(&store)?);
                    let pass = run_pass(&store, &todo, opts, progress, cancel, on)?;
                    summary.refreshed += pass.refreshed;
                    for name in pass.failed {
                        let dir = inbox.join(&name);
                        failed.insert(name, signature(&dir));
                        summary.failed += 1;
                    }
                    applied = Some(applied_names(&store)?);
                }
                Err(e @ StoreError::Busy { .. }) => {
                    tracing::warn!(error = %e, "database busy; retrying at the next scan");
                }
                Err(e) => return Err(e.into()),
            }
        }
        if wopts.once {
            break;
        }
        wait(&events, wopts.rescan, cancel);
    }
    tracing::info!(
        refreshed = summary.refreshed,
        failed = summary.failed,
        "watch stopped"
    );
    Ok(summary)
}

struct Pass {
    refreshed: usize,
    failed: Vec<String>,
}

/// Refreshes each ready drop in order (or, with none, finishes any unfinished stage).
fn run_pass(
    store: &Store,
    todo: &[(String, PathBuf)],
    opts: &RefreshOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Event),
) -> Result<Pass, WatchError> {
    let mut pass = Pass {
        refreshed: 0,
        failed: Vec::new(),
    };
    let batches: Vec<(&str, Vec<PathBuf>)> = if todo.is_empty() {
        vec![("(no new drop)", Vec::new())]
    } else {
        todo.iter()
            .map(|(name, dir)| (name.as_str(), vec![dir.clone()]))
            .collect()
    };
    for (name, dirs) in batches {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        tracing::info!(drop = name, "refreshing");
        match refresh::refresh(store, &dirs, opts, progress, cancel, on) {
            Ok(r) => {
                pass.refreshed += usize::from(!dirs.is_empty());
                tracing::info!(
                    drop = name,
                    stages = r.stages_run,
                    last_drop = r.last_drop,
                    "refresh done"
                );
            }
            Err(e @ RefreshError::Interrupted { .. }) => return Err(WatchError::Interrupted(e)),
            Err(e) => {
                tracing::error!(
                    drop = name,
                    error = %causes(&e),
                    "refresh failed; the drop and those after it wait until its folder changes"
                );
                if !dirs.is_empty() {
                    pass.failed.push(name.to_string());
                }
                break;
            }
        }
    }
    Ok(pass)
}

/// An error and its causes, as one line.
fn causes(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// Names of the drops applied to the store.
fn applied_names(store: &Store) -> Result<HashSet<String>, StoreError> {
    Ok(store
        .drops()?
        .into_iter()
        .filter(|d| d.state == DropState::Applied)
        .map(|d| d.name)
        .collect())
}

/// The inbox's subfolders that hold a [`READY`] marker, in name order (hidden ones skipped).
fn ready_drops(inbox: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(inbox)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !name.starts_with('.') && path.is_dir() && path.join(READY).is_file() {
            out.push((name, path));
        }
    }
    out.sort();
    Ok(out)
}

/// Hash of a folder's file names, sizes and modification times: changes when a file does.
fn signature(dir: &Path) -> u64 {
    let mut files: Vec<(String, u64, Option<SystemTime>)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                m.len(),
                m.modified().ok(),
            ))
        })
        .collect();
    files.sort();
    let mut h = Xxh3::new();
    for (name, len, modified) in files {
        h.update(name.as_bytes());
        h.update(&len.to_le_bytes());
        let nanos = modified.map_or(0, |t| clock::since_epoch(t).as_nanos());
        h.update(&nanos.to_le_bytes());
    }
    h.digest()
}

/// Waits for a filesystem event (then a moment more, so a burst of events is one wake-up),
/// for `rescan`, or for `cancel`, whichever comes first.
fn wait<T>(events: &Receiver<T>, rescan: Duration, cancel: &AtomicBool) {
    const TICK: Duration = Duration::from_millis(200);
    let deadline = Instant::now() + rescan;
    while !cancel.load(Ordering::Relaxed) && Instant::now() < deadline {
        match events.recv_timeout(TICK) {
            Ok(_) => {
                std::thread::sleep(TICK);
                while events.try_recv().is_ok() {}
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
