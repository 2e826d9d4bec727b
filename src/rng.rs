//! Every seeded source of randomness, named in one place.
//!
//! A stream is what one purpose draws from a seed: the seed, a tag that keeps the purpose apart
//! from every other, and the purpose's own coordinates (a node, an epoch, a product). The tags'
//! values are part of the results — another tag draws other numbers — so each is a constant
//! here and every call site names its stream instead of repeating a number. To add a stream,
//! add a constant whose tag no other stream uses; never change an existing one.
//!
//! | stream | seed | tag | where |
//! |---|---|---|---|
//! | [`Stream`] constants (noise rows, weights, epoch order, shard samples, replay, validation) | `ModelConfig::seed` | `[n]` before the parts, hashed by `xxh3` | `model/` |
//! | [`index_trees`] | `BuildOptions::seed` | the category name (none for the index over all) | `index/build.rs` |
//! | [`TextFeature::seed`], [`text_projection_seed`] | `TextConfig::seed` | XOR a feature kind's letter; rotated for the projection | `features/text.rs` |
//! | [`als_start`] | `AlsOptions::seed` | none | `eval/als.rs` |
//!
//! Not streams, so not here: a split's held-out choice is `xxh3` of the external ids with
//! `SplitOptions::seed` (`eval/split.rs`, so that a split survives `rand` releases and input
//! reordering), and ties are broken by unseeded hashes of ids (`eval/harness.rs`,
//! `copurchase.rs`). `tools/generate.rs`, a program of its own, names its streams in its own
//! `Stream` enum.
//!
//! Generators are `Xoshiro256PlusPlus`, a named algorithm whose output is stable across `rand`
//! releases (`StdRng`'s is not).

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// One of the model's seeded streams: `xxh3` of the seed, the stream's tag and then its own
/// parts (each as 8 little-endian bytes), used as a number or as a generator's seed. Derived
/// from (seed, epoch, batch, shard …) rather than carried along, so any batch can be replayed
/// without stored generator state.
#[derive(Clone, Copy, Debug)]
pub struct Stream(&'static [u64]);

impl Stream {
    /// Noise rows of the node table; parts: node.
    pub const NOISE_ROWS: Stream = Stream(&[1]);
    /// The dense layers' initial weights; no parts.
    pub const INITIAL_WEIGHTS: Stream = Stream(&[2]);
    /// The order of the root edges in an epoch; parts: epoch.
    pub const EPOCH_ORDER: Stream = Stream(&[3]);
    /// One shard's negatives and neighbour samples; parts: epoch, batch, shard.
    pub const SHARD_SAMPLES: Stream = Stream(&[4]);
    /// Which other root edges a fine-tuning replays; parts: round, seller node, product.
    pub const REPLAY: Stream = Stream(&[5]);
    /// `benches/kernels.rs`'s sampling benchmark; no parts.
    pub const BENCH_SAMPLES: Stream = Stream(&[9]);
    /// Which products are held out for validation; parts: product. Untagged because it was
    /// before tags existed, and a tag now would choose other products. Its one-part values
    /// equal the seeds of the tagged streams without parts for products 2 and 9
    /// ([`Stream::INITIAL_WEIGHTS`], [`Stream::BENCH_SAMPLES`]): harmless, as one orders
    /// products and the others seed generators.
    pub const VALIDATION: Stream = Stream(&[]);
    /// Inference's full blocks: a generator is passed but never drawn from (no fan-out
    /// limit); seeded with 0, not the model seed.
    pub const UNDRAWN: Stream = Stream(&[]);
    /// Unit tests' generators, seeded with small constants.
    #[cfg(test)]
    pub(crate) const TESTS: Stream = Stream(&[]);

    /// The stream's number for `seed` and `parts`.
    pub(crate) fn hash(self, seed: u64, parts: &[u64]) -> u64 {
        let mut bytes = Vec::with_capacity(8 * (1 + self.0.len() + parts.len()));
        bytes.extend_from_slice(&seed.to_le_bytes());
        for p in self.0.iter().chain(parts) {
            bytes.extend_from_slice(&p.to_le_bytes());
        }
        xxh3_64(&bytes)
    }

    /// The stream's generator for `seed` and `parts`.
    pub fn rng(self, seed: u64, parts: &[u64]) -> Xoshiro256PlusPlus {
        Xoshiro256PlusPlus::seed_from_u64(self.hash(seed, parts))
    }
}

/// The bound below which a `share` of uniformly spread [`Stream::hash`] values fall.
pub(crate) fn share_threshold(share: f32) -> u64 {
    (f64::from(share) * u64::MAX as f64) as u64
}

/// The generator of one arroy index's trees: seeded with the build seed for the index over all
/// items, and for a category's index with the build seed hashed with the category name rather
/// than its position, so a category's trees do not change when other categories come or go.
pub(crate) fn index_trees(seed: u64, category: Option<&str>) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(match category {
        None => seed,
        Some(name) => xxh3_64_with_seed(name.as_bytes(), seed),
    })
}

/// A kind of text feature; its letter, XORed into the vectoriser's seed, seeds the feature's
/// hash, so equal bytes of different kinds (a word and a category level) land in different
/// buckets.
#[derive(Clone, Copy, Debug)]
#[repr(u8)]
pub(crate) enum TextFeature {
    /// A word of the title or attributes, or of a category level.
    Word = b'w',
    /// Two consecutive words.
    Bigram = b'b',
    /// A character 3–5-gram of a word.
    CharGram = b'c',
    /// A prefix of the category path.
    CategoryPath = b'k',
}

impl TextFeature {
    /// The hash seed of this kind of feature.
    pub(crate) fn seed(self, seed: u64) -> u64 {
        seed ^ self as u64
    }
}

/// The hash seed of the text projection: the vectoriser's seed rotated (not XORed), so it
/// differs from every feature kind's.
pub(crate) fn text_projection_seed(seed: u64) -> u64 {
    seed.rotate_left(17)
}

/// The generator of the ALS factors' random start: the seed as is, untagged (the only stream
/// of that seed).
pub(crate) fn als_start(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_hashes_the_seed_its_tag_and_its_parts() {
        let bytes: Vec<u8> = [7u64, 4, 1, 2, 3]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(Stream::SHARD_SAMPLES.hash(7, &[1, 2, 3]), xxh3_64(&bytes));
        assert_ne!(
            Stream::NOISE_ROWS.hash(7, &[0]),
            Stream::EPOCH_ORDER.hash(7, &[0])
        );
    }

    #[test]
    fn text_seeds_differ_by_kind() {
        let kinds = [
            TextFeature::Word,
            TextFeature::Bigram,
            TextFeature::CharGram,
            TextFeature::CategoryPath,
        ];
        let mut seeds: Vec<u64> = kinds.iter().map(|k| k.seed(0x5eed)).collect();
        seeds.push(text_projection_seed(0x5eed));
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!(seeds.len(), 5);
    }
}
