//! Text → vector without downloaded weights: TF-IDF over hashed word unigrams, word bigrams,
//! character 3–5-grams and category-path prefixes, projected to `dim` dimensions by a seeded
//! very sparse random projection, then L2-normalised.
//!
//! Hashing keeps the vocabulary unbounded and the memory fixed (one document-frequency counter
//! per bucket); the sparse projection keeps the cost per feature at [`NONZEROS`] additions.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::cosine::normalize;
use crate::rng::{TextFeature, text_projection_seed};

/// Non-zeros per bucket in the projection matrix (Li et al.'s very sparse projections: a few
/// ±1 entries per row preserve inner products in expectation).
pub(crate) const NONZEROS: usize = 4;

/// Parameters of the text vectoriser; changing any of them recomputes every vector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextConfig {
    /// Output dimension.
    pub dim: usize,
    /// Seed of the feature hash and the projection.
    pub(crate) seed: u64,
    /// log2 of the number of hash buckets.
    pub(crate) bucket_bits: u32,
    /// Category path levels used as features and as the recommendation category.
    pub(crate) category_depth: usize,
}

impl Default for TextConfig {
    fn default() -> Self {
        TextConfig {
            dim: 128,
            seed: 0x5eed,
            bucket_bits: 20,
            category_depth: 1,
        }
    }
}

/// A product's text fields, as the vectoriser sees them.
#[derive(Clone, Copy, Debug)]
pub struct Text<'a> {
    /// Category path, levels separated by `>`.
    pub category: &'a str,
    /// Title.
    pub title: &'a str,
    /// Attributes.
    pub attributes: &'a str,
}

/// The category of a path cut to `depth` levels, e.g. `Home > Kitchen` at depth 1 is `Home`.
pub(crate) fn category_at(path: &str, depth: usize) -> String {
    path.split('>')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(depth.max(1))
        .collect::<Vec<_>>()
        .join(" > ")
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Hashed term frequencies of a text: sorted `(bucket, count)` pairs.
pub fn terms(text: Text, cfg: &TextConfig) -> Vec<(u32, f32)> {
    let mask = (1u64 << cfg.bucket_bits) - 1;
    let mut buckets: Vec<u32> = Vec::with_capacity(64);
    let mut add = |kind: TextFeature, feature: &[u8]| {
        let h = xxh3_64_with_seed(feature, kind.seed(cfg.seed));
        buckets.push((h & mask) as u32);
    };
    let mut prev: Option<String> = None;
    let fields = [text.title, text.attributes];
    for w in fields.iter().flat_map(|f| words(f)) {
        add(TextFeature::Word, w.as_bytes());
        if let Some(p) = &prev {
            add(TextFeature::Bigram, format!("{p} {w}").as_bytes());
        }
        // Character n-grams of the word with boundary marks, so `knife` and `knives` share
        // `^kni`, `kni`, `nif`/`niv`…: robust to inflection and typos.
        // Grams are hashed as slices of one marked string (no allocation per gram).
        let marked = format!("^{w}$");
        let bounds: Vec<usize> = marked
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(marked.len()))
            .collect();
        let chars = bounds.len() - 1;
        for n in 3..=5.min(chars) {
            for start in 0..=chars - n {
                add(
                    TextFeature::CharGram,
                    &marked.as_bytes()[bounds[start]..bounds[start + n]],
                );
            }
        }
        prev = Some(w);
    }
    // Every prefix of the category path is a feature of its own: products of one
    // sub-category share all of them, products of one top category share the first.
    let mut path = String::new();
    for level in text
        .category
        .split('>')
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        path.push('>');
        path.push_str(&level.to_lowercase());
        add(TextFeature::CategoryPath, path.as_bytes());
        for w in words(level) {
            add(TextFeature::Word, w.as_bytes());
        }
    }
    buckets.sort_unstable();
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match out.last_mut() {
            Some((last, n)) if *last == b => *n += 1.0,
            _ => out.push((b, 1.0)),
        }
    }
    out
}

/// Smoothed inverse document frequency: `ln((1 + docs) / (1 + df)) + 1`.
pub(crate) fn idf(docs: u64, df: u32) -> f32 {
    ((1.0 + docs as f64) / (1.0 + f64::from(df))).ln() as f32 + 1.0
}

/// Projects weighted terms to `cfg.dim` dimensions and L2-normalises. `weight(bucket)` is the
/// IDF. A text without terms gives the zero vector.
pub fn project(terms: &[(u32, f32)], weight: impl Fn(u32) -> f32, cfg: &TextConfig) -> Vec<f32> {
    let mut v = vec![0f32; cfg.dim];
    for &(bucket, tf) in terms {
        // Sublinear tf damps words repeated in long titles.
        let w = (1.0 + tf.ln()) * weight(bucket);
        let h = xxh3_64_with_seed(&bucket.to_le_bytes(), text_projection_seed(cfg.seed));
        for j in 0..NONZEROS {
            let bits = h >> (j * 16);
            let pos = ((bits & 0x7fff) as usize * cfg.dim) >> 15;
            let sign = if bits & 0x8000 == 0 { 1.0 } else { -1.0 };
            v[pos] += sign * w;
        }
    }
    normalize(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosine::cosine;

    fn vec_of(title: &str, category: &str) -> Vec<f32> {
        let cfg = TextConfig::default();
        let t = terms(
            Text {
                category,
                title,
                attributes: "",
            },
            &cfg,
        );
        project(&t, |_| 1.0, &cfg)
    }

    #[test]
    fn deterministic_and_unit_length() {
        let a = vec_of("Steel chef knife", "Home > Kitchen");
        assert_eq!(a, vec_of("Steel chef knife", "Home > Kitchen"));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(vec_of("", "").iter().all(|&x| x == 0.0));
    }

    #[test]
    fn similar_titles_are_closer_than_unrelated_ones() {
        let knife = vec_of("Steel chef knife 20 cm", "Home > Kitchen");
        let knives = vec_of("Chef knives set, steel", "Home > Kitchen");
        let shears = vec_of("Pruning shears with grip", "Garden > Tools");
        assert!(cosine(&knife, &knives) > cosine(&knife, &shears) + 0.2);
    }

    #[test]
    fn category_cut_to_depth() {
        assert_eq!(category_at("Home > Kitchen > Knives", 1), "Home");
        assert_eq!(category_at("Home > Kitchen > Knives", 2), "Home > Kitchen");
        assert_eq!(category_at("", 1), "");
    }
}
