//! The category term of the score: how much of a seller's catalogue shares a product's
//! category. `cat(s, h) = n_s(c_h) / n(c_h)`: the seller's listings in h's category (its full
//! path) over the number of products in that category — the one-step walk over "same
//! category" pairs, normalised by the category's size as the co-purchase walk is by degree,
//! so a category of everything weighs little.
//!
//! It is the content signal the cold split rewards most where product text is little more than
//! a category (grocery baskets: "KIDS CEREAL 14.5 OZ"), and it is exact where a vector's
//! cosine is an average over hundreds of listings. The graph model's score weighs it like the
//! link features, by validation ([`crate::model::select`]); training, recommend, inspect and
//! eval compute it here.

use rustc_hash::FxHashMap as HashMap;
use serde::{Deserialize, Serialize};

use crate::features::text::category_at;
use crate::store::{Id, ModelRecord, Result, StageBatch, Store};

/// Each product's category (an index) and each category's size.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Categories {
    /// Per product id, its category's index (`NONE`: no category).
    of: Vec<u32>,
    /// Per category index, the products in it.
    size: Vec<u32>,
    /// Per category path, its index.
    index: HashMap<String, u32>,
}

const NONE: u32 = u32::MAX;

/// The table as `featurize` stores it (`model` record `categories`): with the number of drops
/// it was computed after, every one of them applied, so a reader can tell it still holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    drops: u32,
    of: Vec<u32>,
    size: Vec<u32>,
    /// Per category index, its path.
    paths: Vec<String>,
}

impl Categories {
    /// Every product's category: the table `featurize` stored when no drop came since, else
    /// read from the store's product text (every product's, which takes seconds at millions of
    /// products: one seller's `inspect` would pay it on every call).
    pub(crate) fn load(store: &Store) -> Result<Categories> {
        if let Some((stored, true)) = Self::stored(store)? {
            let index = (stored.paths.into_iter())
                .zip(0u32..)
                .collect::<HashMap<String, u32>>();
            return Ok(Categories {
                of: stored.of,
                size: stored.size,
                index,
            });
        }
        Self::from_texts(store)
    }

    /// Whether a stored table exists that no longer holds (a drop came after it).
    pub(crate) fn stale(store: &Store) -> Result<bool> {
        Ok(matches!(Self::stored(store)?, Some((_, false))))
    }

    /// The stored table, if any, and whether it still holds: no drop came since, and none is
    /// being applied.
    fn stored(store: &Store) -> Result<Option<(Stored, bool)>> {
        let Some(stored) = store.model::<Stored>(ModelRecord::Categories)? else {
            return Ok(None);
        };
        let holds = store.applied_drops()? == Some(stored.drops);
        Ok(Some((stored, holds)))
    }

    /// Every product's category from texts already read (`featurize` has them in memory).
    pub(crate) fn of_texts<'t>(texts: impl IntoIterator<Item = (Id, &'t str)>) -> Categories {
        let mut categories = Categories::default();
        for (p, path) in texts {
            categories.insert(p, path);
        }
        categories
    }

    /// Every product's category, read from the store's product text.
    fn from_texts(store: &Store) -> Result<Categories> {
        let mut categories = Categories::default();
        store.for_each_product_text(|p, text| categories.insert(p, &text.category))?;
        Ok(categories)
    }

    /// Stages the table for [`Categories::load`], unless a drop is being applied (its texts
    /// are not all there yet, so the table would not hold once it is).
    pub(crate) fn stage(&self, store: &Store, batch: &mut StageBatch) -> Result<()> {
        let Some(drops) = store.applied_drops()? else {
            return Ok(());
        };
        let stored = Stored {
            drops,
            of: self.of.clone(),
            size: self.size.clone(),
            paths: self.paths().into_iter().map(String::from).collect(),
        };
        batch.put_model(ModelRecord::Categories, &stored);
        Ok(())
    }

    /// Records product `p`'s category path (an empty path: none).
    pub(crate) fn insert(&mut self, p: Id, path: &str) {
        let path = category_at(path, usize::MAX);
        if path.is_empty() {
            return;
        }
        let next = self.index.len() as u32;
        let c = *self.index.entry(path).or_insert(next);
        if c as usize == self.size.len() {
            self.size.push(0);
        }
        let p = p as usize;
        if p >= self.of.len() {
            self.of.resize(p + 1, NONE);
        }
        if self.of[p] != NONE {
            self.size[self.of[p] as usize] -= 1;
        }
        self.of[p] = c;
        self.size[c as usize] += 1;
    }

    /// Every category's path, by index.
    pub(crate) fn paths(&self) -> Vec<&str> {
        let mut paths = vec![""; self.index.len()];
        for (path, &c) in &self.index {
            paths[c as usize] = path;
        }
        paths
    }

    /// The category index of `p`, if it has one.
    pub(crate) fn of(&self, p: Id) -> Option<u32> {
        self.of.get(p as usize).copied().filter(|&c| c != NONE)
    }

    /// Whether any product has a category.
    pub(crate) fn is_empty(&self) -> bool {
        self.size.is_empty()
    }

    /// The category term of a seller listing `listed`.
    pub(crate) fn affinity(&self, listed: impl IntoIterator<Item = Id>) -> Affinity {
        let mut counts: HashMap<u32, f32> = HashMap::default();
        for p in listed {
            if let Some(c) = self.of(p) {
                *counts.entry(c).or_default() += 1.0;
            }
        }
        for (&c, n) in counts.iter_mut() {
            *n /= self.size[c as usize].max(1) as f32;
        }
        Affinity(counts)
    }
}

/// One seller's category term, per category it lists in.
#[derive(Clone, Debug, Default)]
pub(crate) struct Affinity(HashMap<u32, f32>);

impl Affinity {
    /// The term of product `h`.
    pub(crate) fn of(&self, categories: &Categories, h: Id) -> f32 {
        categories
            .of(h)
            .and_then(|c| self.0.get(&c).copied())
            .unwrap_or(0.0)
    }

    /// The categories with a nonzero term, with the term.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.0.iter().map(|(&c, &term)| (c, term))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_term_is_the_sellers_share_of_a_category_over_its_size() {
        let mut c = Categories::default();
        // Cereal: 0, 1, 2, 3; milk: 4, 5; 6 has no category.
        for p in 0..4 {
            c.insert(p, "GROCERY > COLD CEREAL > KIDS CEREAL");
        }
        c.insert(4, "DAIRY > MILK");
        c.insert(5, " DAIRY>MILK ");
        c.insert(6, "");
        let a = c.affinity([0, 1, 4, 6]);
        assert_eq!(a.of(&c, 2), 2.0 / 4.0);
        assert_eq!(a.of(&c, 5), 1.0 / 2.0);
        assert_eq!(a.of(&c, 6), 0.0);
        assert_eq!(a.iter().count(), 2);
        // A product moved to another category leaves the first.
        c.insert(3, "DAIRY > MILK");
        assert_eq!(c.affinity([0, 1]).of(&c, 2), 2.0 / 3.0);
        assert_eq!(c.affinity([4]).of(&c, 3), 1.0 / 3.0);
    }

    /// The sample's drops: after featurize the stored table is the one the texts give; a drop
    /// applied since makes it stale (read from the texts again) until featurize runs.
    #[test]
    fn the_stored_table_holds_until_the_next_drop() {
        use std::path::Path;
        use std::sync::atomic::AtomicBool;

        use crate::features::{FeaturizeOptions, featurize};
        use crate::ingest::{IngestOptions, ingest_drop};
        use crate::progress::NoProgress;
        use crate::store::OpenMode;

        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), OpenMode::ReadWrite).unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let cancel = AtomicBool::new(false);
        let ingest = |q: &str| {
            ingest_drop(
                &store,
                &data.join(q),
                &IngestOptions::default(),
                &NoProgress,
                &cancel,
            )
            .unwrap();
        };
        let featurize = || {
            featurize(&store, &FeaturizeOptions::default(), &NoProgress, &cancel).unwrap();
        };
        let stored = || store.model::<Stored>(ModelRecord::Categories).unwrap();

        ingest("q1");
        assert!(stored().is_none());
        featurize();
        let q1 = Categories::from_texts(&store).unwrap();
        assert!(!q1.is_empty());
        assert_eq!(stored().unwrap().drops, 1);
        assert_eq!(Categories::load(&store).unwrap(), q1);
        assert!(!Categories::stale(&store).unwrap());

        ingest("q2");
        let q2 = Categories::from_texts(&store).unwrap();
        assert_ne!(q2, q1, "the second drop adds products with categories");
        assert!(Categories::stale(&store).unwrap());
        assert_eq!(Categories::load(&store).unwrap(), q2);
        featurize();
        assert_eq!(stored().unwrap().drops, 2);
        assert_eq!(Categories::load(&store).unwrap(), q2);
    }
}
