//! The index stage: the active model's candidate vectors into a new index generation, then one
//! store write switches recommendations to it. A killed build leaves the previous generation
//! active; abandoned and superseded generations are removed at the start of the next build.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use super::folder::{self, Health};
use super::{ArroyIndex, ArroyReader, BuildOptions, Depth, IndexError};
use crate::features::text::category_at;
use crate::progress::{NoProgress, Progress};
use crate::store::{Id, IndexFiles, Job, ModelRecord, StageBatch, Store, StoreError};
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
    /// Why the generation it replaces was damaged, when it was.
    pub repaired: Option<String>,
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

/// Builds a new generation from the candidates, in its own folder, records its files' hashes
/// and makes it active, in one store write. A damaged active generation is replaced the same
/// way (the summary says so).
pub fn build_index(
    store: &Store,
    opts: &BuildOptions,
    depth: usize,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<StageSummary, StageError> {
    let start = Instant::now();
    let model = ActiveModel::load(store)?.ok_or(StageError::NoModel)?;
    let dir = store.index_dir();
    let active = store.active_index()?.map(|(g, _)| g);
    let repaired = match active {
        Some(g) => match health_of(store, g, Depth::Quick, &NoProgress)? {
            Health::Damaged(reason) => Some(reason),
            _ => None,
        },
        None => None,
    };
    // Everything but the active generation goes: superseded generations (the active one
    // stays for readers that opened it) and what a killed build left.
    folder::remove_others(&dir, active).map_err(|source| IndexError::Io {
        path: dir.clone(),
        source,
    })?;
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
    let own = folder::own_dir(&dir, generation);
    let categories = (|| {
        let index = ArroyIndex::open(&own)?;
        index.build(generation, dims, items, opts, progress, cancel)?;
        Ok(index.manifest(generation)?.categories.len() as u64)
    })()
    .map_err(|e| folder::explain_full(&own, e))?;
    let files = folder::record(&dir, generation)?;
    let mut batch = StageBatch::new(store);
    batch.put_model(ModelRecord::IndexFiles, &files);
    batch.set_active_index(generation, model.generation);
    batch.commit(JOB, &IndexJob { generation, inputs })?;
    tracing::info!(generation, "index generation active");
    Ok(StageSummary {
        generation,
        candidates: count,
        skipped,
        categories,
        high_demand,
        repaired,
        elapsed: start.elapsed(),
    })
}

/// What a check of the active generation's files found (`None`: no index yet).
pub fn active_health(
    store: &Store,
    depth: Depth,
    progress: &dyn Progress,
) -> Result<Option<(u32, Health)>, StageError> {
    match store.active_index()? {
        Some((g, _)) => Ok(Some((g, health_of(store, g, depth, progress)?))),
        None => Ok(None),
    }
}

fn health_of(
    store: &Store,
    generation: u32,
    depth: Depth,
    progress: &dyn Progress,
) -> Result<Health, StageError> {
    let record = store.model::<IndexFiles>(ModelRecord::IndexFiles)?;
    Ok(folder::check(
        &store.index_dir(),
        generation,
        record.as_ref(),
        depth,
        progress,
    )?)
}

/// A reader of the active generation after a quick check of its files (`None`: no index).
pub(crate) fn open_active(store: &Store) -> Result<Option<(u32, ArroyReader)>, StageError> {
    let Some((generation, _)) = store.active_index()? else {
        return Ok(None);
    };
    let record = store.model::<IndexFiles>(ModelRecord::IndexFiles)?;
    let reader = folder::open_reader(&store.index_dir(), generation, record.as_ref())?;
    Ok(Some((generation, reader)))
}

/// The index job's state: the generation it made active and a hash of what it was built from.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct IndexJob {
    generation: u32,
    inputs: u64,
}

const JOB: Job = Job::Index;

/// The active generation, if it was built by [`build_index`] from exactly the current
/// candidates (ids, categories, vectors) of the active model with these options and its files
/// are not damaged: building again would give the same index, so a caller that only needs it
/// current can skip the build.
pub(crate) fn current_generation(
    store: &Store,
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
    if let Health::Damaged(_) = health_of(store, active, Depth::Quick, &NoProgress)? {
        return Ok(None);
    }
    let inputs = fingerprint(&candidates(store, &model, depth)?, &model, opts, depth);
    let current =
        job == IndexJob {
            generation: active,
            inputs,
        } && folder::exists(&store.index_dir(), active)?;
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
pub fn check(store: &Store, sample: usize, k: usize) -> Result<super::Comparison, StageError> {
    let model = ActiveModel::load(store)?.ok_or(StageError::NoModel)?;
    let (_, reader) = open_active(store)?.ok_or(StageError::NoCandidates)?;
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
    Ok(super::compare(&reader, &exact, &queries, None, k)?)
}
