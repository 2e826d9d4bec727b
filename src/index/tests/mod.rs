//! Tests of the index module on planted data: clustered vectors with known structure.

mod api;
mod bench;
mod quality;
mod safety;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use tempfile::TempDir;

use super::{Ann, ArroyIndex, BuildOptions};
use crate::progress::{NoProgress, Progress};

/// Items as given to builds: `(id, category, vector)`.
pub(super) type Items = Vec<(u32, String, Vec<f32>)>;

/// Clustered vectors: each category has a few cluster centres, each item is a centre plus
/// noise, scaled by a random factor (inputs are not normalised).
pub(super) struct Planted {
    pub dims: usize,
    pub items: Items,
    /// `(category, centre)` of every cluster.
    pub centres: Vec<(String, Vec<f32>)>,
    rng: Xoshiro256PlusPlus,
}

pub(super) fn category_name(c: usize) -> String {
    format!("cat{c:02}")
}

impl Planted {
    pub(super) fn new(items: usize, categories: usize, dims: usize, seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let clusters_per_category = 4;
        let centres: Vec<(String, Vec<f32>)> = (0..categories * clusters_per_category)
            .map(|c| (category_name(c % categories), gaussian(&mut rng, dims, 1.0)))
            .collect();
        let items = (0..items as u32)
            .map(|id| {
                let (category, centre) = &centres[rng.random_range(0..centres.len())];
                let noise = gaussian(&mut rng, dims, 0.6);
                let scale = rng.random_range(0.5f32..2.0);
                let vector = centre
                    .iter()
                    .zip(&noise)
                    .map(|(c, n)| (c + n) * scale)
                    .collect();
                (id, category.clone(), vector)
            })
            .collect();
        Planted {
            dims,
            items,
            centres,
            rng,
        }
    }

    /// Seller-like queries: near a random cluster centre.
    pub(super) fn queries(&mut self, n: usize) -> Vec<Vec<f32>> {
        (0..n)
            .map(|_| {
                let (_, centre) = &self.centres[self.rng.random_range(0..self.centres.len())];
                let noise = gaussian(&mut self.rng, self.dims, 0.8);
                centre.iter().zip(&noise).map(|(c, n)| c + n).collect()
            })
            .collect()
    }

    pub(super) fn categories(&self) -> Vec<String> {
        let mut names: Vec<String> = self.centres.iter().map(|(name, _)| name.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}

/// `dims` independent normal values of standard deviation `sigma` (Box–Muller).
pub(super) fn gaussian(rng: &mut Xoshiro256PlusPlus, dims: usize, sigma: f32) -> Vec<f32> {
    (0..dims)
        .map(|_| {
            let u: f32 = rng.random_range(f32::EPSILON..1.0);
            let v: f32 = rng.random();
            sigma * (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        })
        .collect()
}

/// A fresh index in a temporary folder (kept alive by the returned guard).
pub(super) fn fresh_index() -> (TempDir, ArroyIndex) {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = ArroyIndex::open(&dir.path().join("index")).expect("open index");
    (dir, index)
}

pub(super) fn build(index: &ArroyIndex, generation: u32, planted: &Planted, opts: &BuildOptions) {
    let not_cancelled = AtomicBool::new(false);
    index
        .build(
            generation,
            planted.dims,
            planted.items.clone(),
            opts,
            &NoProgress,
            &not_cancelled,
        )
        .expect("build");
}

/// Every query's answer, for comparing two indexes or two moments.
pub(super) fn answers(
    ann: &dyn Ann,
    queries: &[Vec<f32>],
    category: Option<&str>,
    k: usize,
) -> Vec<Vec<(u32, f32)>> {
    queries
        .iter()
        .map(|q| ann.nearest(category, q, k).expect("query"))
        .collect()
}

/// Raises a cancel flag when a phase labelled `label` reaches position `at`, and remembers
/// whether it did.
pub(super) struct CancelAt<'a> {
    pub label: &'static str,
    pub at: u64,
    pub flag: &'a AtomicBool,
    current: Cell<bool>,
}

impl<'a> CancelAt<'a> {
    pub(super) fn new(label: &'static str, at: u64, flag: &'a AtomicBool) -> Self {
        CancelAt {
            label,
            at,
            flag,
            current: Cell::new(false),
        }
    }
}

impl Progress for CancelAt<'_> {
    fn start(&self, label: &str, _total: u64) {
        self.current.set(label == self.label);
    }

    fn set(&self, position: u64) {
        if self.current.get() && position >= self.at {
            self.flag.store(true, Ordering::Relaxed);
        }
    }

    fn finish(&self) {
        self.current.set(false);
    }
}
