//! Ingest: applies a drop folder to the store, exactly once, all or nothing per drop.
//!
//! Two passes. **Validate** reads every file, checks headers and rows, fingerprints the
//! content and decides whether the drop is acceptable — before anything is written. **Apply**
//! then writes rows in chunks; each chunk is committed together with the drop's cursor, so a
//! run killed at any moment and rerun continues exactly where the last commit stopped.

mod files;
mod orders;
mod sort;
mod tsv;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use xxhash_rust::xxh3::Xxh3;

pub(crate) use files::{FileKind, Header, Row};

use crate::clock;
use crate::progress::{Cancelled, Progress};
use crate::store::{
    Cursor, DropRecord, DropState, DropWriter, FileRecord, Namespace, Store, StoreError,
};
pub(crate) use tsv::{Line, TsvReader};

/// Errors at the ingest boundary. Each names the file (and line) it is about.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The drop folder is missing.
    #[error("{0}: drop folder does not exist")]
    NoDropDir(PathBuf),
    /// The drop path is a file.
    #[error("{0}: not a folder (a drop is a folder of .tsv / .tsv.gz files)")]
    NotAFolder(PathBuf),
    /// No known drop file in the folder.
    #[error(
        "{0}: empty drop: no drop files found (expected one or more of sellers, products, \
         vectors, listings, copurchases, orders, views, high_demand as .tsv or .tsv.gz)"
    )]
    EmptyDrop(PathBuf),
    /// Every drop file holds only its header.
    #[error("{0}: empty drop: the files hold no data rows (only headers)")]
    NoRows(PathBuf),
    /// A whole file is unusable (empty, bad header, unreadable, ambiguous).
    #[error("{path}: {reason}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// Too many rejected rows in one file: the drop is refused whole.
    #[error(transparent)]
    TooManyBadRows(Box<TooManyBadRows>),
    /// Reading a file failed midway.
    #[error("{path}:{line}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Line being read.
        line: u64,
        /// The OS or decompression error.
        source: io::Error,
    },
    /// The drop's name was applied before with other content.
    #[error(
        "drop `{name}` was already applied as #{seq} with different content; a drop is applied \
         once — put changes in a new drop folder with a new name"
    )]
    Conflict {
        /// The drop's name.
        name: String,
        /// Its sequence number.
        seq: u32,
    },
    /// Stopped on request between two commits; rerunning continues.
    #[error("interrupted after a commit; rerun the same command to continue where it stopped")]
    Cancelled(#[from] Cancelled),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A file's share of rejected rows is over the limit.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path}: {bad} of {rows} rows rejected ({share:.3}%), more than --max-bad-fraction {max}; \
     nothing of drop `{drop}` was written (first: {first}; all listed in {rejects})"
)]
pub struct TooManyBadRows {
    /// The file.
    pub path: PathBuf,
    /// Rejected rows.
    pub bad: u64,
    /// All data rows.
    pub rows: u64,
    /// `bad / rows` in percent.
    pub share: f64,
    /// The allowed fraction.
    pub max: f64,
    /// The drop's name.
    pub drop: String,
    /// The file's first rejected row, as `file:line: reason`.
    pub first: String,
    /// Where the rejected rows were written.
    pub rejects: PathBuf,
}

/// Result type of ingest.
pub(crate) type Result<T> = std::result::Result<T, IngestError>;

/// Tuning of one ingest run.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// A file with a larger share of rejected rows refuses the whole drop.
    pub max_bad_fraction: f64,
    /// Rows per committed chunk.
    pub batch_rows: usize,
    /// Two purchases of one customer at most this many seconds apart make a co-purchase.
    pub copurchase_window_secs: i64,
    /// Orders sorted in memory at a time (one run of the external sort of `orders.tsv`).
    pub sort_run_rows: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            max_bad_fraction: 0.001,
            batch_rows: 100_000,
            copurchase_window_secs: 7 * 86_400,
            sort_run_rows: 1_000_000,
        }
    }
}

/// One rejected row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// File name inside the drop.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
}

/// What ingesting one drop did.
#[derive(Debug)]
pub enum Outcome {
    /// The drop was applied (possibly continuing an interrupted run).
    Applied(Box<Summary>),
    /// The same content was applied before; nothing was done.
    AlreadyApplied {
        /// Name under which it was applied.
        name: String,
        /// Its sequence number.
        seq: u32,
    },
}

/// Summary of an applied drop.
#[derive(Debug)]
pub struct Summary {
    /// The final drop record (rows per file, new entities).
    pub record: DropRecord,
    /// Whether this run continued an interrupted one.
    pub resumed: bool,
    /// Wall time of this run (validation and application).
    pub elapsed: Duration,
    /// The first rejected rows (all of them are in `rejects_file`).
    pub rejects: Vec<Reject>,
    /// File listing every rejected row, when there were any.
    pub rejects_file: Option<PathBuf>,
    /// Files in the folder that are not drop files and were skipped.
    pub ignored: Vec<String>,
}

/// How many rejects a [`Summary`] carries for display.
const SHOWN_REJECTS: usize = 10;

struct DropFile {
    kind: FileKind,
    path: PathBuf,
    name: String,
    bytes: u64,
}

struct Checked {
    file: DropFile,
    header: Header,
    rows: u64,
    rejected: u64,
}

/// Ingests one drop folder: [`prepare`] then [`Prepared::apply`]. Rows and progress are
/// committed together; `cancel` is checked between commits.
pub fn ingest_drop(
    store: &Store,
    dir: &Path,
    opts: &IngestOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<Outcome> {
    Ok(match prepare(store, dir, opts, progress)? {
        Plan::AlreadyApplied { name, seq } => Outcome::AlreadyApplied { name, seq },
        Plan::Apply(p) => Outcome::Applied(Box::new(p.apply(store, opts, progress, cancel)?)),
    })
}

/// What [`prepare`] decided about a drop.
pub(crate) enum Plan {
    /// The same content was applied before; there is nothing to do.
    AlreadyApplied {
        /// Name under which it was applied.
        name: String,
        /// Its sequence number.
        seq: u32,
    },
    /// The drop is valid and (still) to be applied.
    Apply(Box<Prepared>),
}

/// A validated drop, ready to apply; nothing of it is in the store yet (or, when it
/// continues an interrupted ingest, nothing more than the chunks committed then).
pub(crate) struct Prepared {
    name: String,
    fingerprint: u64,
    resume: Option<DropRecord>,
    checked: Vec<Checked>,
    rejects: Vec<Reject>,
    rejects_file: Option<PathBuf>,
    ignored: Vec<String>,
    start: Instant,
}

/// Validates a drop folder whole — files, headers, rows, the share of bad rows, the name
/// against the drops applied before — without writing anything to the store (only the
/// rejected rows, to `DB/rejects/`).
pub(crate) fn prepare(
    store: &Store,
    dir: &Path,
    opts: &IngestOptions,
    progress: &dyn Progress,
) -> Result<Plan> {
    let start = Instant::now();
    let (drop_files, ignored) = discover(dir)?;
    let name = drop_name(dir);
    let mut rejects = Vec::new();
    let (checked, fingerprint) = validate(store, drop_files, progress, &mut rejects)?;

    tracing::info!(drop = %name, files = checked.len(), rejected = rejects.len(), "drop validated");
    let previous = store.drops()?;
    let mut resume = None;
    for d in previous {
        if d.name == name && d.fingerprint != fingerprint {
            return Err(IngestError::Conflict { name, seq: d.seq });
        }
        if d.fingerprint == fingerprint {
            match d.state {
                DropState::Applied => {
                    return Ok(Plan::AlreadyApplied {
                        name: d.name,
                        seq: d.seq,
                    });
                }
                DropState::Applying => resume = Some(d),
            }
        }
    }
    // A drop without a single row would still take a period, shifting every view window.
    if checked.iter().all(|c| c.rows == 0) {
        return Err(IngestError::NoRows(dir.to_path_buf()));
    }

    let rejects_file = write_rejects(store, &name, &rejects)?;
    for c in &checked {
        if c.rows > 0 && c.rejected as f64 > opts.max_bad_fraction * c.rows as f64 {
            return Err(IngestError::TooManyBadRows(Box::new(TooManyBadRows {
                path: c.file.path.clone(),
                bad: c.rejected,
                rows: c.rows,
                share: 100.0 * c.rejected as f64 / c.rows as f64,
                max: opts.max_bad_fraction,
                first: rejects
                    .iter()
                    .find(|r| r.file == c.file.name)
                    .map(|r| format!("{}:{}: {}", r.file, r.line, r.reason))
                    .unwrap_or_default(),
                drop: name,
                rejects: rejects_file.unwrap_or_default(),
            })));
        }
    }
    Ok(Plan::Apply(Box::new(Prepared {
        name,
        fingerprint,
        resume,
        checked,
        rejects,
        rejects_file,
        ignored,
        start,
    })))
}

impl Prepared {
    /// The drop's name (its folder name).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Data rows in the drop's files (rejected ones included).
    pub(crate) fn rows(&self) -> u64 {
        self.checked.iter().map(|c| c.rows).sum()
    }

    /// Content fingerprint (xxh3 over file names and bytes) that identifies the drop.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Whether this continues an interrupted ingest of the drop (which already has its
    /// sequence number) rather than applying a new one.
    pub(crate) fn resumes(&self) -> bool {
        self.resume.is_some()
    }

    /// Applies the drop in chunks, each committed with the drop's cursor.
    pub(crate) fn apply(
        self,
        store: &Store,
        opts: &IngestOptions,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> Result<Summary> {
        let Prepared {
            name,
            fingerprint,
            resume,
            checked,
            mut rejects,
            rejects_file,
            ignored,
            start,
        } = self;
        let resumed = resume.is_some();
        let record = apply(
            store,
            &name,
            fingerprint,
            resume,
            &checked,
            opts,
            progress,
            cancel,
        )?;
        rejects.truncate(SHOWN_REJECTS);
        Ok(Summary {
            record,
            resumed,
            elapsed: start.elapsed(),
            rejects,
            rejects_file,
            ignored,
        })
    }
}

/// The drop's name: its folder name.
fn drop_name(dir: &Path) -> String {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| canonical.to_string_lossy().into_owned())
}

/// Finds the drop files in apply order, and the names of other files (skipped).
fn discover(dir: &Path) -> Result<(Vec<DropFile>, Vec<String>)> {
    if !dir.exists() {
        return Err(IngestError::NoDropDir(dir.to_path_buf()));
    }
    if !dir.is_dir() {
        return Err(IngestError::NotAFolder(dir.to_path_buf()));
    }
    let entries = fs::read_dir(dir).map_err(|e| IngestError::BadFile {
        path: dir.to_path_buf(),
        reason: format!("cannot list the folder: {e}"),
    })?;
    let mut found: Vec<DropFile> = Vec::new();
    let mut ignored = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| IngestError::BadFile {
            path: dir.to_path_buf(),
            reason: format!("cannot list the folder: {e}"),
        })?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let stem = file_name
            .strip_suffix(".tsv.gz")
            .or_else(|| file_name.strip_suffix(".tsv"));
        let kind = stem.and_then(|s| {
            FileKind::APPLY_ORDER
                .iter()
                .find(|k| k.stem() == s)
                .copied()
        });
        let path = entry.path();
        match kind {
            Some(kind) => {
                if let Some(twin) = found.iter().find(|f| f.kind == kind) {
                    return Err(IngestError::BadFile {
                        path,
                        reason: format!("both {} and {file_name} are present; keep one", twin.name),
                    });
                }
                let bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                found.push(DropFile {
                    kind,
                    path,
                    name: file_name,
                    bytes,
                });
            }
            None if file_name.starts_with('.') || file_name == "_READY" => {}
            None => ignored.push(file_name),
        }
    }
    if found.is_empty() {
        return Err(IngestError::EmptyDrop(dir.to_path_buf()));
    }
    let order = |k: FileKind| FileKind::APPLY_ORDER.iter().position(|&o| o == k);
    found.sort_by_key(|f| order(f.kind));
    ignored.sort();
    Ok((found, ignored))
}

/// Reads every file once: checks headers and rows and fingerprints the content.
fn validate(
    store: &Store,
    drop_files: Vec<DropFile>,
    progress: &dyn Progress,
    rejects: &mut Vec<Reject>,
) -> Result<(Vec<Checked>, u64)> {
    let mut hash = Xxh3::new();
    let mut checked = Vec::with_capacity(drop_files.len());
    for file in drop_files {
        hash.update(file.name.as_bytes());
        hash.update(&[0]);
        let bad_file = |reason: String| IngestError::BadFile {
            path: file.path.clone(),
            reason,
        };
        let mut reader =
            TsvReader::open(&file.path, 0, 0).map_err(|e| bad_file(format!("cannot open: {e}")))?;
        let read_err = |line, source| IngestError::Read {
            path: file.path.clone(),
            line,
            source,
        };
        let header = match reader.next_line().map_err(|e| read_err(1, e))? {
            None => return Err(bad_file("file is empty (expected a header line)".into())),
            Some(Line::NotUtf8(_)) => return Err(bad_file("line 1: header is not UTF-8".into())),
            Some(Line::Text(h)) => {
                Header::parse(file.kind, h).map_err(|r| bad_file(format!("line 1: {r}")))?
            }
        };
        hash.update(reader.raw());
        if file.kind == FileKind::Vectors {
            let dim = header.vector_dim();
            if let Some(stored) = store.vector_dim()?
                && stored as usize != dim
            {
                return Err(bad_file(format!(
                    "vectors have dimension {dim}, but this database holds vectors of \
                     dimension {stored} (fixed by the first vectors.tsv)"
                )));
            }
        }
        progress.start_bytes(&format!("checking {}", file.name), file.bytes);
        let (mut rows, mut rejected) = (0u64, 0u64);
        loop {
            let line_no = reader.line + 1;
            let reason = match reader.next_line().map_err(|e| read_err(line_no, e))? {
                None => break,
                Some(Line::Text(t)) if t.trim().is_empty() => continue,
                Some(Line::NotUtf8(at)) => Some(format!("invalid UTF-8 at byte {}", at + 1)),
                Some(Line::Text(t)) => header.row(t).err(),
            };
            hash.update(reader.raw());
            rows += 1;
            if let Some(reason) = reason {
                rejected += 1;
                rejects.push(Reject {
                    file: file.name.clone(),
                    line: reader.line,
                    reason,
                });
            }
            if rows % 65_536 == 0 {
                progress.set(compressed_position(&reader, &file));
            }
        }
        progress.finish();
        checked.push(Checked {
            file,
            header,
            rows,
            rejected,
        });
    }
    Ok((checked, hash.digest()))
}

/// Progress position in on-disk bytes (an estimate for gzip files, which expand).
fn compressed_position(reader: &TsvReader, file: &DropFile) -> u64 {
    reader.offset.min(file.bytes)
}

fn write_rejects(store: &Store, name: &str, rejects: &[Reject]) -> Result<Option<PathBuf>> {
    let dir = store.rejects_dir();
    let path = dir.join(format!("{name}.tsv"));
    let io_err = |source| {
        IngestError::Store(StoreError::Io {
            path: path.clone(),
            source,
        })
    };
    if rejects.is_empty() {
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(e)),
            _ => return Ok(None),
        }
    }
    fs::create_dir_all(&dir).map_err(io_err)?;
    let mut out = io::BufWriter::new(fs::File::create(&path).map_err(io_err)?);
    writeln!(out, "file\tline\treason").map_err(io_err)?;
    for r in rejects {
        writeln!(out, "{}\t{}\t{}", r.file, r.line, r.reason).map_err(io_err)?;
    }
    out.flush().map_err(io_err)?;
    Ok(Some(path))
}

#[allow(clippy::too_many_arguments)]
fn apply(
    store: &Store,
    name: &str,
    fingerprint: u64,
    resume: Option<DropRecord>,
    checked: &[Checked],
    opts: &IngestOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<DropRecord> {
    let fresh = resume.is_none();
    let mut record = match resume {
        Some(r) => r,
        None => DropRecord {
            seq: store.next_drop_seq()?,
            name: name.to_string(),
            fingerprint,
            state: DropState::Applying,
            cursor: Cursor::default(),
            files: checked
                .iter()
                .map(|c| FileRecord {
                    name: c.file.name.clone(),
                    rows: c.rows,
                    rejected: c.rejected,
                    applied: 0,
                })
                .collect(),
            new_sellers: 0,
            new_products: 0,
            products_without_text: 0,
            started_at: clock::unix_secs(),
            finished_at: None,
        },
    };
    let rows = checked.iter().map(|c| c.rows).sum();
    let mut w = DropWriter::new(store, record.seq, rows)?;
    if fresh {
        w.claim_drop_seq();
        if let Some(v) = checked.iter().find(|c| c.file.kind == FileKind::Vectors)
            && store.vector_dim()?.is_none()
        {
            w.set_vector_dim(v.header.vector_dim() as u32);
        }
        w.commit(&record)?;
    }
    let start_file = record.cursor.file as usize;
    for (i, c) in checked.iter().enumerate().skip(start_file) {
        let (line, offset) = if i == start_file {
            (record.cursor.line, record.cursor.offset)
        } else {
            (0, 0)
        };
        if c.file.kind == FileKind::Orders {
            orders::apply(
                store,
                &mut w,
                &mut record,
                i,
                c,
                line,
                opts,
                progress,
                cancel,
            )?;
            next_file(&mut w, &mut record, i, checked.len())?;
            continue;
        }
        let read_err = |line, source| IngestError::Read {
            path: c.file.path.clone(),
            line,
            source,
        };
        let mut reader =
            TsvReader::open(&c.file.path, line, offset).map_err(|e| read_err(line, e))?;
        if line == 0 {
            reader.next_line().map_err(|e| read_err(1, e))?;
        }
        tracing::info!(drop = %name, file = %c.file.name, from_line = line, "applying");
        progress.start_bytes(&format!("{name}: {}", c.file.name), c.file.bytes);
        let mut staged = 0;
        loop {
            let line_no = reader.line + 1;
            let text = match reader.next_line().map_err(|e| read_err(line_no, e))? {
                None => break,
                // Rejected (and counted) during validation.
                Some(Line::NotUtf8(_)) => continue,
                Some(Line::Text(text)) => text,
            };
            // Rows that fail to parse were rejected (and counted) during validation.
            let Ok(row) = c.header.row(text) else {
                continue;
            };
            apply_row(&mut w, &mut record, row)?;
            record.files[i].applied += 1;
            staged += 1;
            if staged == opts.batch_rows {
                record.cursor = Cursor {
                    file: i as u32,
                    line: reader.line,
                    offset: reader.offset,
                };
                w.commit(&record)?;
                tracing::debug!(file = %c.file.name, line = reader.line, "chunk committed");
                staged = 0;
                progress.set(compressed_position(&reader, &c.file));
                if cancel.load(Ordering::Relaxed) {
                    progress.finish();
                    return Err(IngestError::Cancelled(Cancelled));
                }
            }
        }
        progress.finish();
        next_file(&mut w, &mut record, i, checked.len())?;
    }
    if checked.iter().any(|c| c.file.kind == FileKind::HighDemand) {
        w.set_high_demand_current();
    }
    record.state = DropState::Applied;
    record.finished_at = Some(clock::unix_secs());
    w.commit(&record)?;
    Ok(record)
}

/// Moves the cursor past file `i`, committing unless it was the last file (the final commit
/// also marks the drop applied).
fn next_file(w: &mut DropWriter, record: &mut DropRecord, i: usize, files: usize) -> Result<()> {
    record.cursor = Cursor {
        file: i as u32 + 1,
        line: 0,
        offset: 0,
    };
    if i + 1 < files {
        w.commit(record)?;
    }
    Ok(())
}

/// Interns a product; a product first named outside `products.tsv` has no text yet.
fn product(w: &mut DropWriter, record: &mut DropRecord, external: &str) -> Result<u32> {
    let (id, new) = w.intern(Namespace::Product, external)?;
    if new {
        record.new_products += 1;
        record.products_without_text += 1;
    }
    Ok(id)
}

fn apply_row(w: &mut DropWriter, record: &mut DropRecord, row: Row) -> Result<()> {
    match row {
        Row::Seller {
            id,
            name,
            primary_category,
        } => {
            let (sid, new) = w.intern(Namespace::Seller, id)?;
            record.new_sellers += u64::from(new);
            w.upsert_seller(sid, id, name, primary_category)?;
        }
        Row::Product {
            id,
            category,
            title,
            attributes,
        } => {
            let (pid, new) = w.intern(Namespace::Product, id)?;
            record.new_products += u64::from(new);
            w.put_product_text(pid, category, title, attributes);
        }
        Row::Vector { id, values } => {
            let pid = product(w, record, id)?;
            w.put_vector(pid, &values);
        }
        Row::Listing {
            seller,
            product: p,
            ts,
        } => {
            let (sid, new) = w.intern(Namespace::Seller, seller)?;
            record.new_sellers += u64::from(new);
            let pid = product(w, record, p)?;
            w.add_listing(sid, pid, ts);
        }
        Row::Copurchase { a, b, count } => {
            let a = product(w, record, a)?;
            let b = product(w, record, b)?;
            w.add_copurchase(a, b, count);
        }
        Row::Views { product: p, views } => {
            let pid = product(w, record, p)?;
            w.add_views(pid, views);
        }
        Row::HighDemand { product: p } => {
            let pid = product(w, record, p)?;
            w.put_high_demand(pid);
        }
        Row::Order { .. } => unreachable!("orders are applied per customer by `orders::apply`"),
    }
    Ok(())
}
