//! Approximate nearest neighbours of candidate products: given a seller vector, the products
//! most cosine-similar to it, overall or within one category.
//!
//! [`Ann`] is the query interface; [`ExactIndex`] answers it by brute force (ground truth,
//! small candidate sets) and [`ArroyReader`] from an on-disk [`ArroyIndex`] (arroy random
//! projection trees in LMDB, in `DB/index/`). [`compare`] measures one against the other.
//!
//! Similarities are cosines in [-1, 1], best first; equal similarities rank by ascending id.
//! Vectors need not be normalised, but all-zero or non-finite ones are refused (their cosine
//! is undefined, and arroy would silently rank them as perfect matches).
//!
//! Measured on planted clustered data (2 cores, one query thread, recall ≥ 0.98): exact
//! search in memory is faster up to ~100 k items (128 d: 2.3 ms vs 2.8 ms per query; 64 d:
//! 1.1 ms vs 2.9 ms) and only breaks even around 200 k × 128 d, where arroy's recall drops to
//! 0.90–0.93. arroy's advantages are elsewhere: on disk, memory-mapped, no load time, shared
//! between processes, and a cost that grows with the search width rather than the item count.
//! `benches` in `tests/bench.rs` re-measure this.
//!
//! **Invariant**: a generation of an [`ArroyIndex`] — its indexes and manifest — is written by
//! one LMDB write transaction (its build): a process stopped at any instant leaves the
//! state before or after it, never between.

mod build;
mod check;
mod digest;
mod error;
mod exact;
mod folder;
mod manifest;
mod reader;
pub mod stage;
mod store;
mod vector;

#[cfg(test)]
mod tests;

pub use build::BuildOptions;
pub use check::Comparison;
pub(crate) use check::compare;
pub use digest::Depth;
pub use error::IndexError;
pub(crate) use exact::ExactIndex;
pub(crate) use folder::damaged;
pub use folder::{Health, open_reader, state_files};
pub use reader::ArroyReader;
pub use store::ArroyIndex;
pub(crate) use vector::BestK;

/// Nearest-neighbour search by cosine similarity, so that implementations (exact, arroy, …)
/// can be swapped.
pub trait Ann: Send + Sync {
    /// The `k` most cosine-similar items to `query` within `category` (`None` = all
    /// categories), best first, as `(item, cosine similarity)`. An unknown category is
    /// [`IndexError::UnknownCategory`] (not an empty answer, so a misspelt name is noticed).
    fn nearest(
        &self,
        category: Option<&str>,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<(u32, f32)>, IndexError>;

    /// Categories that have their own index, sorted.
    fn categories(&self) -> Vec<String>;

    /// Number of items in `category` (`None` = all; 0 for an unknown category).
    fn len(&self, category: Option<&str>) -> usize;
}
