//! Building a generation: every index and the manifest in one write transaction.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use arroy::Writer;
use arroy::distances::Cosine;
use heed::RwTxn;
use rand::rngs::Xoshiro256PlusPlus;

use super::manifest::{IdAllocator, IndexEntry, Manifest};
use super::vector::check_dims;
use super::{ArroyIndex, IndexError};
use crate::clock;
use crate::cosine::usable_norm;
use crate::progress::{Cancelled, Progress};
use crate::rng::index_trees;

/// Default [`BuildOptions::n_trees`].
///
/// At the same search width (`search_k`) recall hardly depends on the tree count (planted
/// data, 100 k items, 128 d, `search_k` 6400: recall@100 0.981 / 0.984 / 0.985 with 8 / 16 /
/// 32 trees), while build time and size grow with it (16 trees: ~5 s for 100 k × 128 d on
/// two cores). arroy's own default (grow trees until there are as many tree nodes as items) depends on
/// thread timing, so builds would not be reproducible.
pub(crate) const DEFAULT_N_TREES: usize = 16;

/// Default [`BuildOptions::search_k_factor`]: with 16 trees, a search width of 6400
/// candidates for `k` ≤ 100, which gave recall@100 ≥ 0.98 on planted data up to 100 k items
/// (0.89 with factor 2), and 0.90–0.95 at 200 k.
pub(crate) const DEFAULT_SEARCH_K_FACTOR: usize = 4;

/// Items between two looks at the cancel flag and two progress reports while storing vectors.
pub(crate) const CHECK_EVERY: usize = 1024;

/// Parameters of a build, recorded in the generation's [`Manifest`].
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Trees per index; `None` = [`DEFAULT_N_TREES`]. More trees: a bigger index and a longer
    /// build, for a little more recall at the same search width.
    pub n_trees: Option<usize>,
    /// Seed of the random split planes. The same seed, options and items give the same answers.
    pub seed: u64,
    /// Search width of readers: `search_k = max(k, 100) * n_trees * search_k_factor`
    /// candidates per query (see [`ArroyReader`](super::ArroyReader)). Default
    /// [`DEFAULT_SEARCH_K_FACTOR`].
    pub search_k_factor: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            n_trees: None,
            seed: 0,
            search_k_factor: DEFAULT_SEARCH_K_FACTOR,
        }
    }
}

/// Checks the `n`-th incoming item of a build (dimension, usable norm, id not seen
/// before in this transaction) and, every [`CHECK_EVERY`] items, the cancel flag and progress.
fn admit(
    n: usize,
    item: u32,
    vector: &[f32],
    dims: usize,
    seen: &mut HashSet<u32>,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<(), IndexError> {
    if n.is_multiple_of(CHECK_EVERY) {
        check_cancel(cancel)?;
        progress.set(n as u64);
    }
    check_dims(dims, vector)?;
    usable_norm(vector).ok_or(IndexError::DegenerateItem { item })?;
    if !seen.insert(item) {
        return Err(IndexError::DuplicateItem { item });
    }
    Ok(())
}

/// An arroy index being filled.
struct Pending {
    id: u16,
    writer: Writer<Cosine>,
    items: u64,
}

impl ArroyIndex {
    /// Builds `generation` from `items` (`(id, category, vector)`, each id once) of `dims`
    /// dimensions: one index per category and one over all items, with the manifest, in one
    /// LMDB write transaction committed at the end. Cancelled (`cancel` raised), failed or
    /// killed at any moment, it leaves no trace and every other generation as it was.
    ///
    /// Reports two phases through `progress`: storing vectors (in items) and building trees
    /// (in indexes).
    pub fn build(
        &self,
        generation: u32,
        dims: usize,
        items: impl IntoIterator<Item = (u32, String, Vec<f32>)>,
        opts: &BuildOptions,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        if self.load(&wtxn, generation)?.is_some() {
            return Err(IndexError::GenerationExists { generation });
        }
        let mut ids = IdAllocator::new(&self.all_manifests(&wtxn)?);
        let mut all = self.pending(ids.allocate()?, dims);
        let mut categories: BTreeMap<String, Pending> = BTreeMap::new();
        let mut seen = HashSet::new();

        let items = items.into_iter();
        let (low, high) = items.size_hint();
        progress.start("index: storing vectors", high.unwrap_or(low) as u64);
        for (n, (item, category, vector)) in items.enumerate() {
            admit(n, item, &vector, dims, &mut seen, progress, cancel)?;
            all.add(&mut wtxn, item, &vector)?;
            let pending = match categories.entry(category) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => entry.insert(self.pending(ids.allocate()?, dims)),
            };
            pending.add(&mut wtxn, item, &vector)?;
        }
        progress.finish();

        let n_trees = opts.n_trees.unwrap_or(DEFAULT_N_TREES).max(1);
        progress.start("index: building trees", categories.len() as u64 + 1);
        let mut rng = index_trees(opts.seed, None);
        build_trees(&all.writer, &mut wtxn, &mut rng, n_trees, cancel)?;
        for (done, (name, pending)) in categories.iter().enumerate() {
            progress.set(done as u64 + 1);
            let mut rng = index_trees(opts.seed, Some(name));
            build_trees(&pending.writer, &mut wtxn, &mut rng, n_trees, cancel)?;
        }
        progress.finish();

        let manifest = Manifest {
            dims,
            all: all.entry(),
            categories: categories
                .iter()
                .map(|(name, p)| (name.clone(), p.entry()))
                .collect(),
            n_trees,
            seed: opts.seed,
            search_k_factor: opts.search_k_factor.max(1),
            updates: 0,
            built_at_nanos: clock::unix_nanos(),
        };
        self.manifests.put(&mut wtxn, &generation, &manifest)?;
        check_cancel(cancel)?;
        wtxn.commit()?;
        Ok(())
    }

    fn pending(&self, id: u16, dims: usize) -> Pending {
        Pending {
            id,
            writer: self.writer(id, dims),
            items: 0,
        }
    }

    /// A writer of arroy index `id`, with its temporary files beside the index: the OS temp
    /// folder may be a small RAM disk.
    pub(crate) fn writer(&self, id: u16, dims: usize) -> Writer<Cosine> {
        let mut writer = Writer::new(self.vectors, id, dims);
        writer.set_tmpdir(&self.path);
        writer
    }
}

impl Pending {
    fn add(&mut self, wtxn: &mut RwTxn, item: u32, vector: &[f32]) -> Result<(), IndexError> {
        self.writer.add_item(wtxn, item, vector)?;
        self.items += 1;
        Ok(())
    }

    fn entry(&self) -> IndexEntry {
        IndexEntry {
            id: self.id,
            items: self.items,
        }
    }
}

/// Builds the trees of one arroy index from its items.
fn build_trees(
    writer: &Writer<Cosine>,
    wtxn: &mut RwTxn,
    rng: &mut Xoshiro256PlusPlus,
    n_trees: usize,
    cancel: &AtomicBool,
) -> Result<(), IndexError> {
    // Always an explicit tree count: arroy's automatic count varies from run to run.
    writer
        .builder(rng)
        .n_trees(n_trees)
        .cancel(|| cancel.load(Ordering::Relaxed))
        .build(wtxn)?;
    Ok(())
}

fn check_cancel(cancel: &AtomicBool) -> Result<(), IndexError> {
    if cancel.load(Ordering::Relaxed) {
        Err(IndexError::Cancelled(Cancelled))
    } else {
        Ok(())
    }
}
