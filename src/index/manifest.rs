//! What one generation is made of: one record per generation in the LMDB database `manifest`,
//! keyed by the generation as a big-endian `u32` so that generations list in order.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use heed::byteorder::BigEndian;
use heed::types::U32;
use heed::{BoxedError, BytesDecode, BytesEncode};
use serde::{Deserialize, Serialize};

use super::IndexError;

/// The manifest database: generation → [`Manifest`].
pub(crate) type ManifestDb = heed::Database<'static, U32<BigEndian>, ManifestCodec>;

/// One generation: its arroy indexes and the parameters they were built with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// Dimensions of every vector.
    pub dims: usize,
    /// The index over all items.
    pub all: IndexEntry,
    /// One index per category.
    pub categories: BTreeMap<String, IndexEntry>,
    /// Trees per index (indexes smaller than `dims` items have a single leaf instead).
    pub n_trees: usize,
    /// Seed of the build.
    pub seed: u64,
    /// Default `search_k = k * n_trees * search_k_factor` of readers.
    pub search_k_factor: usize,
    /// Always 0: generations are never updated in place (an in-place update path existed and
    /// was removed unused). Kept so that stored manifests keep their layout.
    pub updates: u32,
    /// Unix time of the build in nanoseconds; tells a rebuilt generation from a removed one of
    /// the same number (whose arroy ids the new one may reuse).
    pub built_at_nanos: u64,
}

/// One arroy index of a generation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct IndexEntry {
    /// The arroy index id (the key prefix of its entries in the `vectors` database).
    pub id: u16,
    /// Items in the index.
    pub items: u64,
}

impl Manifest {
    /// The arroy index ids this generation holds.
    pub(crate) fn ids(&self) -> impl Iterator<Item = u16> + '_ {
        std::iter::once(self.all.id).chain(self.categories.values().map(|entry| entry.id))
    }
}

/// Hands out the arroy index ids that no live generation uses, lowest first, so ids freed by
/// removed generations are reused and live generations never share one.
pub(crate) struct IdAllocator {
    used: BTreeSet<u16>,
    generations: usize,
    next: u32,
}

impl IdAllocator {
    pub(crate) fn new<'a>(live: impl IntoIterator<Item = &'a Manifest>) -> Self {
        let mut allocator = IdAllocator {
            used: BTreeSet::new(),
            generations: 0,
            next: 0,
        };
        for manifest in live {
            allocator.generations += 1;
            allocator.used.extend(manifest.ids());
        }
        allocator
    }

    pub(crate) fn allocate(&mut self) -> Result<u16, IndexError> {
        while let Ok(id) = u16::try_from(self.next) {
            self.next += 1;
            if self.used.insert(id) {
                return Ok(id);
            }
        }
        Err(IndexError::OutOfIndexIds {
            generations: self.generations,
        })
    }
}

/// Manifests are serde + bincode (standard configuration), like the store's records.
pub(crate) enum ManifestCodec {}

impl<'a> BytesEncode<'a> for ManifestCodec {
    type EItem = Manifest;

    fn bytes_encode(manifest: &'a Manifest) -> Result<Cow<'a, [u8]>, BoxedError> {
        Ok(Cow::Owned(bincode::serde::encode_to_vec(
            manifest,
            bincode::config::standard(),
        )?))
    }
}

impl<'a> BytesDecode<'a> for ManifestCodec {
    type DItem = Manifest;

    fn bytes_decode(bytes: &'a [u8]) -> Result<Manifest, BoxedError> {
        let (manifest, _) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())?;
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(ids: &[u16]) -> Manifest {
        Manifest {
            dims: 4,
            all: IndexEntry {
                id: ids[0],
                items: 0,
            },
            categories: ids[1..]
                .iter()
                .map(|&id| (format!("c{id}"), IndexEntry { id, items: 0 }))
                .collect(),
            n_trees: 1,
            seed: 0,
            search_k_factor: 1,
            updates: 0,
            built_at_nanos: 0,
        }
    }

    #[test]
    fn allocator_fills_holes_left_by_removed_generations() {
        let live = [manifest(&[0, 1, 4]), manifest(&[2, 6])];
        let mut ids = IdAllocator::new(&live);
        let got: Vec<u16> = (0..4).map(|_| ids.allocate().unwrap()).collect();
        assert_eq!(got, vec![3, 5, 7, 8]);
    }

    #[test]
    fn allocator_reports_exhaustion() {
        let all: Vec<u16> = (0..=u16::MAX).collect();
        let live = [manifest(&all)];
        let mut ids = IdAllocator::new(&live);
        assert!(matches!(
            ids.allocate(),
            Err(IndexError::OutOfIndexIds { generations: 1 })
        ));
    }

    #[test]
    fn manifest_round_trips_through_the_codec() {
        let m = manifest(&[3, 9]);
        let bytes = ManifestCodec::bytes_encode(&m).unwrap();
        assert_eq!(ManifestCodec::bytes_decode(&bytes).unwrap(), m);
    }
}
