//! The index stage: the active model's candidate vectors into a new index generation, then one
//! store write switches recommendations to it. A killed build leaves the previous generation
//! active; abandoned and superseded generations are removed at the start of the next build.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use super::{ArroyIndex, BuildOptions, IndexError};
use crate::features::text::category_at;
use crate::progress::Progress;
use crate::store::{Id, Job, StageBatch, Store, StoreError};
use crate::vectors::ActiveModel;

/// Errors of the index stage.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Nothing to index yet.
    #[error("no product vectors yet: run `demandlink featurize` first")]
    NoModel,
    /// No candidate has a usable vector.
    #[error(
        "no candidates to index: the high-demand list is empty or none of its products has a \
         vector (products need a title, category or imported vector)"
    )]
    NoCandidates,
    /// The ANN index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an index build did.
#[derive(Debug, Serialize)]
pub struct StageSummary {
    /// The new active generation.
    pub generation: u32,
    /// Candidates indexed.
    pub candidates: u64,
    /// Candidates left out because their vector is all zeros (no text, no imported vector).
    pub skipped: u64,
    /// Categories with their own index.
    pub categories: u64,
    /// Whether the candidates are the current high-demand list (else every product).
    pub high_demand: bool,
    /// Wall time.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// One candidate: product id, category cut to the category depth, vector.
pub(crate) type Candidate = (Id, String, Vec<f32>);

/// The products recommendations are drawn from.
pub(crate) struct Candidates {
    /// Candidates with a usable (non-zero) vector.
    pub items: Vec<Candidate>,
    /// Candidates without a usable vector (all zeros: no text, no imported vector); the
    /// index leaves them out, evaluation ranks them last.
    pub unusable: Vec<Id>,
    /// Whether they are the current high-demand list (else every product with a vector).
    pub high_demand: bool,
}

/// The candidates: the current high-demand list, or every product with a vector when there is
/// none.
pub(crate) fn candidates(
    store: &Store,
    model: &ActiveModel,
    depth: usize,
) -> Result<Candidates, StoreError> {
    let category = |id: Id| -> Result<String, StoreError> {
        Ok(store
            .product_text(id)?
            .map(|t| category_at(&t.category, depth))
            .unwrap_or_default())
    };
    let mut out = Vec::new();
    let mut unusable = Vec::new();
    let usable = |v: &[f32]| v.iter().any(|&x| x != 0.0);
    let high_demand = match store.high_demand_period()? {
        Some(period) => {
            for id in store.high_demand(period)? {
                match model.product(store, id)? {
                    Some(v) if usable(&v) => out.push((id, category(id)?, v)),
                    _ => unusable.push(id),
                }
            }
            true
        }
        None => {
            let mut all = Vec::new();
            model.for_each_product(store, |id, v| all.push((id, v)))?;
            for (id, v) in all {
                if usable(&v) {
                    out.push((id, category(id)?, v));
                } else {
                    unusable.push(id);
                }
            }
            false
        }
    };
    Ok(Candidates {
        items: out,
        unusable,
        high_demand,
    })
}

/// Builds a new generation from the candidates and makes it active.
pub fn build_index(
    store: &Store,
    index: &ArroyIndex,
    opts: &BuildOptions,
    depth: usize,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<StageSummary, StageError> {
    let start = Instant::now();
    let model = ActiveModel::load(store)?.ok_or(StageError::NoModel)?;
    let active = store.active_index()?.map(|(g, _)| g);
    for g in index.generations()? {
        if Some(g) != active {
            index.remove_generation(g)?;
        }
    }
    // Every generation above the active one was just removed (never activated, so no reader
    // holds it): the number after the active one is free, and a build killed and rerun gets
    // the number an uninterrupted build would have.
    let generation = active.unwrap_or(0) + 1;
    let found = candidates(store, &model, depth)?;
    let inputs = fingerprint(&found, &model, opts, depth);
    let Candidates {
        items,
        unusable,
        high_demand,
    } = found;
    let skipped = unusable.len() as u64;
    let Some(dims) = items.first().map(|(_, _, v)| v.len()) else {
        return Err(StageError::NoCandidates);
    };
    let count = items.len() as u64;
    tracing::info!(
        generation,
        candidates = count,
        skipped,
        "building index generation"
    );
    index.build(generation, dims, items, opts, progress, cancel)?;
    let categories = index.manifest(generation)?.categories.len() as u64;
    let mut batch = StageBatch::new(store);
    batch.set_active_index(generation, model.generation);
    batch.commit(JOB, &IndexJob { generation, inputs })?;
    tracing::info!(generation, "index generation active");
    Ok(StageSummary {
        generation,
        candidates: count,
        skipped,
        categories,
        high_demand,
        elapsed: start.elapsed(),
    })
}

/// The index job's state: the generation it made active and a hash of what it was built from.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct IndexJob {
    generation: u32,
    inputs: u64,
}

const JOB: Job = Job::Index;

/// The active generation, if it was built by [`build_index`] from exactly the current
/// candidates (ids, categories, vectors) of the active model with these options: building
/// again would give the same index, so a caller that only needs it current can skip the build.
pub(crate) fn current_generation(
    store: &Store,
    index: &ArroyIndex,
    opts: &BuildOptions,
    depth: usize,
) -> Result<Option<u32>, StageError> {
    let (Some((active, _)), Some(job)) = (store.active_index()?, store.job::<IndexJob>(JOB)?)
    else {
        return Ok(None);
    };
    let Some(model) = ActiveModel::load(store)? else {
        return Ok(None);
    };
    let inputs = fingerprint(&candidates(store, &model, depth)?, &model, opts, depth);
    let current =
        job == IndexJob {
            generation: active,
            inputs,
        } && index.generations()?.contains(&active);
    Ok(current.then_some(active))
}

/// Hash of everything a generation is built from.
fn fingerprint(c: &Candidates, model: &ActiveModel, opts: &BuildOptions, depth: usize) -> u64 {
    let mut h = Xxh3::new();
    let BuildOptions {
        n_trees,
        seed,
        search_k_factor,
    } = opts;
    for n in [
        u64::from(model.generation),
        n_trees.map_or(u64::MAX, |n| n as u64),
        *seed,
        *search_k_factor as u64,
        depth as u64,
        u64::from(c.high_demand),
    ] {
        h.update(&n.to_le_bytes());
    }
    for (id, category, vector) in &c.items {
        h.update(&id.to_le_bytes());
        h.update(category.as_bytes());
        h.update(&[0]);
        vector.iter().for_each(|x| h.update(&x.to_le_bytes()));
    }
    c.unusable.iter().for_each(|id| h.update(&id.to_le_bytes()));
    h.digest()
}

/// Compares the active generation with exact search for a deterministic sample of sellers
/// (their vectors as queries, over all candidates).
pub fn check(
    store: &Store,
    index: &ArroyIndex,
    sample: usize,
    k: usize,
) -> Result<super::Comparison, StageError> {
    let model = ActiveModel::load(store)?.ok_or(StageError::NoModel)?;
    let (generation, _) = store.active_index()?.ok_or(StageError::NoCandidates)?;
    let depth = crate::features::category_depth(store)?;
    let items = candidates(store, &model, depth)?.items;
    let dims = items.first().map_or(0, |(_, _, v)| v.len());
    let exact = super::ExactIndex::new(dims, items)?;
    let mut sellers = Vec::new();
    model.for_each_seller(store, |_, v| {
        if v.iter().any(|&x| x != 0.0) {
            sellers.push(v);
        }
    })?;
    let step = (sellers.len() / sample.max(1)).max(1);
    let queries: Vec<Vec<f32>> = sellers.into_iter().step_by(step).take(sample).collect();
    let reader = index.reader(generation)?;
    Ok(super::compare(&reader, &exact, &queries, None, k)?)
}
