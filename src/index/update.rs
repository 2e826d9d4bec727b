//! Incremental refresh of a generation: add, replace, move and delete items, then rebuild
//! the touched indexes, all in one write transaction.
//!
//! arroy updates its trees in place without recomputing split planes, so quality drifts over
//! many updates; rebuild a new generation when the candidate list changes a lot.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::AtomicBool;

use arroy::Reader;
use arroy::distances::Cosine;
use heed::RoTxn;

use super::build::{admit, build_trees, check_cancel, index_seed};
use super::manifest::{IdAllocator, IndexEntry, Manifest};
use super::{ArroyIndex, IndexError};
use crate::progress::Progress;

/// What an [`ArroyIndex::update`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpdateSummary {
    /// Items added or replaced (`added`).
    pub upserted: usize,
    /// Ids of `removed` that were in the generation.
    pub removed: usize,
}

impl ArroyIndex {
    /// Refreshes `generation` in place: deletes `removed` (ids not in it are ignored), then
    /// adds `added` (`(id, category, vector)`, each id once), replacing an existing item's
    /// vector and moving it out of its old category if the category changed. Then rebuilds
    /// the trees of every touched index. A category left empty disappears. All in one write
    /// transaction: cancelled, failed or killed, the generation stays as it was.
    ///
    /// Uses the generation's seed and tree count; readers opened before must be reopened.
    pub fn update(
        &self,
        generation: u32,
        added: impl IntoIterator<Item = (u32, String, Vec<f32>)>,
        removed: &[u32],
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> Result<UpdateSummary, IndexError> {
        let mut wtxn = self.env.write_txn()?;
        let mut manifest = self.existing(&wtxn, generation)?;
        let dims = manifest.dims;
        let mut ids = IdAllocator::new(&self.all_manifests(&wtxn)?);
        let mut homes = self.homes(&wtxn, &manifest)?;
        let all = self.writer(manifest.all.id, dims);
        // Category indexes whose items changed.
        let mut touched = BTreeSet::new();
        let mut summary = UpdateSummary::default();

        for &item in removed {
            if let Some(id) = homes.remove(&item) {
                self.writer(id, dims).del_item(&mut wtxn, item)?;
                all.del_item(&mut wtxn, item)?;
                touched.insert(id);
                summary.removed += 1;
            }
        }

        let mut seen = HashSet::new();
        let added = added.into_iter();
        let (low, high) = added.size_hint();
        progress.start("index: storing vectors", high.unwrap_or(low) as u64);
        for (n, (item, category, vector)) in added.enumerate() {
            admit(n, item, &vector, dims, &mut seen, progress, cancel)?;
            let id = match manifest.categories.get(&category) {
                Some(entry) => entry.id,
                None => {
                    let id = ids.allocate()?;
                    manifest
                        .categories
                        .insert(category, IndexEntry { id, items: 0 });
                    id
                }
            };
            if let Some(old) = homes.insert(item, id)
                && old != id
            {
                self.writer(old, dims).del_item(&mut wtxn, item)?;
                touched.insert(old);
            }
            self.writer(id, dims).add_item(&mut wtxn, item, &vector)?;
            all.add_item(&mut wtxn, item, &vector)?;
            touched.insert(id);
            summary.upserted += 1;
        }
        progress.finish();

        manifest.updates += 1;
        let (seed, updates, n_trees) = (manifest.seed, manifest.updates, manifest.n_trees);
        let names: BTreeMap<u16, String> = manifest
            .categories
            .iter()
            .map(|(name, entry)| (entry.id, name.clone()))
            .collect();
        let mut counts: HashMap<u16, u64> = HashMap::new();
        for id in homes.values() {
            *counts.entry(*id).or_default() += 1;
        }

        progress.start("index: rebuilding trees", touched.len() as u64 + 1);
        build_trees(
            &all,
            &mut wtxn,
            index_seed(seed, None, updates),
            n_trees,
            cancel,
        )?;
        manifest.all.items = homes.len() as u64;
        for (done, id) in touched.iter().enumerate() {
            progress.set(done as u64 + 1);
            let name = &names[id];
            let writer = self.writer(*id, dims);
            match counts.get(id) {
                Some(&items) => {
                    let seed = index_seed(seed, Some(name), updates);
                    build_trees(&writer, &mut wtxn, seed, n_trees, cancel)?;
                    if let Some(entry) = manifest.categories.get_mut(name) {
                        entry.items = items;
                    }
                }
                None => {
                    // Dropping the emptied index frees its id.
                    writer.clear(&mut wtxn)?;
                    manifest.categories.remove(name);
                }
            }
        }
        progress.finish();

        self.manifests.put(&mut wtxn, &generation, &manifest)?;
        check_cancel(cancel)?;
        wtxn.commit()?;
        Ok(summary)
    }

    /// Item → id of the category index holding it.
    fn homes(&self, txn: &RoTxn, manifest: &Manifest) -> Result<HashMap<u32, u16>, IndexError> {
        let mut homes = HashMap::new();
        for entry in manifest.categories.values() {
            let reader = Reader::<Cosine>::open(txn, entry.id, self.vectors)?;
            homes.extend(reader.item_ids().iter().map(|item| (item, entry.id)));
        }
        Ok(homes)
    }
}
