//! The error enum at the index boundary.

use std::io;
use std::path::PathBuf;

use crate::progress::Cancelled;

/// Errors of the nearest-neighbour indexes. User errors say what was expected and what came;
/// storage errors keep their source.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A vector (item or query) has the wrong number of dimensions.
    #[error("vector has {received} dimensions, expected {expected}")]
    InvalidDimension {
        /// Dimensions of the index.
        expected: usize,
        /// Dimensions of the vector given.
        received: usize,
    },
    /// An item's vector has no direction (all zeros) or holds NaN/infinity, so its cosine
    /// similarity is undefined.
    #[error(
        "item {item}: vector is all zeros or not finite; cosine similarity needs a finite, non-zero vector"
    )]
    DegenerateItem {
        /// The item.
        item: u32,
    },
    /// The query vector is all zeros or holds NaN/infinity.
    #[error(
        "query vector is all zeros or not finite; cosine similarity needs a finite, non-zero vector"
    )]
    DegenerateQuery,
    /// The same item id was given twice in one build.
    #[error("item {item} given twice; each item id must appear once")]
    DuplicateItem {
        /// The item.
        item: u32,
    },
    /// A query named a category without an index in this generation.
    #[error("unknown category `{category}`; this index has {}", known_list(.known))]
    UnknownCategory {
        /// The category asked for.
        category: String,
        /// The categories that exist.
        known: Vec<String>,
    },
    /// The generation does not exist (never built, removed, or its build did not commit).
    #[error("index generation {generation} does not exist (existing: {existing:?})")]
    UnknownGeneration {
        /// The generation asked for.
        generation: u32,
        /// The generations that exist.
        existing: Vec<u32>,
    },
    /// A build was asked for a generation that already exists: generations are immutable.
    #[error("index generation {generation} already exists; remove it before building it again")]
    GenerationExists {
        /// The generation.
        generation: u32,
    },
    /// The generation a reader was opened on was removed or rebuilt since.
    #[error(
        "index generation {generation} changed since this reader was opened; open a new reader"
    )]
    GenerationChanged {
        /// The generation.
        generation: u32,
    },
    /// All 65 536 `u16` arroy index ids are taken by live generations.
    #[error(
        "all 65536 arroy index ids are used by {generations} live generations; remove old generations"
    )]
    OutOfIndexIds {
        /// Live generations holding the ids.
        generations: usize,
    },
    /// The cancel flag was raised; the write transaction was aborted, nothing was written.
    #[error("interrupted; the index was left as it was before: rerun the same command to build it")]
    Cancelled(#[from] Cancelled),
    /// The index folder is already open in this process (LMDB allows one environment per path).
    #[error("{0}: index already open in this process")]
    AlreadyOpen(PathBuf),
    /// The index folder cannot be created or opened.
    #[error("{path}: {source}")]
    Io {
        /// The index folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A stored manifest cannot be decoded.
    #[error("corrupt manifest of index generation {generation}: {reason}")]
    CorruptManifest {
        /// The generation.
        generation: u32,
        /// The decoding error.
        reason: String,
    },
    /// A generation's files differ from what its build recorded (a damaged disk, a stray
    /// write): it is not read.
    #[error(
        "index generation {generation} is damaged: {reason}; the index is derived data: run \
         `demandlink index --db {}` to rebuild it from the store",
        db.display()
    )]
    Damaged {
        /// The generation.
        generation: u32,
        /// What differs (file, bytes).
        reason: String,
        /// The database folder.
        db: PathBuf,
    },
    /// A write failed on a full file system (LMDB reports a short write as an I/O error).
    #[error(
        "{}: no space left on device (LMDB: {lmdb}); free space and rerun the same command",
        path.display()
    )]
    DiskFull {
        /// The index folder.
        path: PathBuf,
        /// LMDB's error (shown in the message; not a cause of its own, so printed once).
        lmdb: heed::Error,
    },
    /// LMDB failed.
    #[error("index database (LMDB): {0}")]
    Lmdb(#[from] heed::Error),
    /// arroy failed for another reason than the ones above.
    #[error("arroy: {0}")]
    Arroy(arroy::Error),
}

impl From<arroy::Error> for IndexError {
    fn from(error: arroy::Error) -> Self {
        match error {
            arroy::Error::BuildCancelled => IndexError::Cancelled(Cancelled),
            arroy::Error::Heed(e) => IndexError::Lmdb(e),
            arroy::Error::InvalidVecDimension { expected, received } => {
                IndexError::InvalidDimension { expected, received }
            }
            other => IndexError::Arroy(other),
        }
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "no categories".to_string()
    } else {
        format!("categories: {}", known.join(", "))
    }
}
