//! The errors at eval's two boundaries: [`SplitError`] for reading a dataset folder and writing
//! a split of it (`split`, `quarters`, and the `dataset` helpers both use), [`EvalError`] for
//! scoring a database against held-out pairs (`harness`). Kept apart from those modules so that
//! the helpers below them can return them without importing back from their callers.

use std::io;
use std::path::PathBuf;

use crate::index::IndexError;
use crate::model::ModelError;
use crate::progress::Cancelled;
use crate::store::StoreError;

/// Errors at the split boundary. Each names the file (and line) it is about and what was
/// expected.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    /// The dataset path is not a folder.
    #[error("{0}: dataset folder does not exist or is not a folder")]
    NoDataset(PathBuf),
    /// The dataset has no listings file.
    #[error("{0}: not found (a dataset folder needs listings.tsv or listings.tsv.gz)")]
    NoListings(PathBuf),
    /// Both the plain and the gzip form of a file are present.
    #[error("both {} and {} are present; keep one", plain.display(), gz.display())]
    Ambiguous {
        /// The `.tsv` file.
        plain: PathBuf,
        /// The `.tsv.gz` file.
        gz: PathBuf,
    },
    /// A header or data line is not what was expected.
    #[error("{}:{line}: {reason}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// Opening a file or listing the dataset folder failed.
    #[error("{}: cannot open: {source}", path.display())]
    Open {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Reading a file failed midway.
    #[error("{}:{line}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Line being read.
        line: u64,
        /// The OS or decompression error.
        source: io::Error,
    },
    /// Writing an output file failed.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The output folder already has content.
    #[error(
        "{0}: output folder exists and is not empty (a split writes into a new or empty folder, \
         so that no file of an earlier split survives into this one)"
    )]
    OutputNotEmpty(PathBuf),
    /// `listings.tsv` has a header but no rows.
    #[error("{0}: no listings (a split needs at least one seller_id, product_id row)")]
    NoRows(PathBuf),
    /// A cold split found nothing to hold out.
    #[error(
        "{0}: no product is listed by 2 or more distinct sellers, so a cold split has no \
         product to hold out"
    )]
    NoColdCandidates(PathBuf),
    /// An option is out of its range.
    #[error("invalid split option: {0}")]
    Option(String),
}

/// Errors of `demandlink eval`.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The held-out file is unreadable or malformed.
    #[error("{path}:{line}: {reason}")]
    Heldout {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// No model or candidates yet.
    #[error("nothing to evaluate: run `demandlink featurize` first")]
    NoModel,
    /// No held-out pair names a known seller and candidate.
    #[error(
        "{0}: no held-out pair names a seller of the database and a candidate product; is it the \
         held-out file of this database's split?"
    )]
    NothingToEvaluate(PathBuf),
    /// The exact index refused the candidates.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An ablation model failed to train.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Stopped on request; an evaluation stores nothing, so a rerun starts over.
    #[error("interrupted; an evaluation stores nothing: rerun the same command to run it again")]
    Cancelled(#[from] Cancelled),
}
