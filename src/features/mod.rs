//! Features: a vector per product from its text (or from `vectors.tsv`), and a vector and a
//! profile per seller. Both stages are incremental and restartable: products are recomputed
//! when their content hash changes, sellers when their listings or their products' vectors or
//! views change.

pub(crate) mod calibrate;
mod seller;
pub mod text;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

pub use calibrate::ContentModel;
pub use seller::{SellerOptions, SellerSummary, seller_vectors, weighted_mean};
use text::{Text, TextConfig};

use crate::affinity::Categories;
use crate::progress::{Cancelled, Progress};
use crate::store::{
    Feature, FeatureSource, Job, ModelRecord, ProductText, StageBatch, Store, StoreError,
};

/// Errors of the feature stages.
#[derive(Debug, thiserror::Error)]
pub enum FeaturesError {
    /// Imported vectors and the requested dimension disagree.
    #[error(
        "imported vectors (vectors.tsv) have dimension {imported}, but --dim {requested} was asked; \
         all product vectors share one dimension: omit --dim or pass --dim {imported}"
    )]
    DimensionMismatch {
        /// Dimension of the imported vectors.
        imported: usize,
        /// Dimension asked for.
        requested: usize,
    },
    /// A later stage needs features that do not exist yet.
    #[error("no product vectors yet: run `demandlink featurize` first")]
    NotFeaturized,
    /// Stopped on request after a commit; rerunning continues.
    #[error("interrupted after a commit; rerun the same command to continue where it stopped")]
    Cancelled(#[from] Cancelled),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result type of the feature stages.
pub(crate) type Result<T> = std::result::Result<T, FeaturesError>;

/// The text model as stored (`model` column family, name `text`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TextModel {
    /// Vectoriser parameters.
    pub config: TextConfig,
    /// Bumped whenever the IDF table is replaced (part of every product's content hash, so a
    /// new table recomputes every vector, resumably).
    pub(crate) idf_version: u32,
    /// Documents the IDF table was computed over.
    pub(crate) docs: u64,
    /// Featurize runs so far.
    pub(crate) run: u32,
}

/// Options of `demandlink featurize`.
#[derive(Clone, Debug)]
pub struct FeaturizeOptions {
    /// Output dimension; default: the imported vectors' dimension, else 128.
    pub dim: Option<usize>,
    /// Seed of hashing and projection.
    pub seed: u64,
    /// Category levels used as features.
    pub category_depth: usize,
    /// Relative IDF change above which every vector is recomputed with the new IDF.
    pub idf_drift: f64,
    /// Products per committed chunk.
    pub batch: usize,
}

impl Default for FeaturizeOptions {
    fn default() -> Self {
        FeaturizeOptions {
            dim: None,
            seed: TextConfig::default().seed,
            category_depth: 1,
            idf_drift: 0.05,
            batch: 20_000,
        }
    }
}

/// What a featurize run did.
#[derive(Debug, Serialize)]
pub struct FeaturizeSummary {
    /// Products with a vector after the run.
    pub products: u64,
    /// Vectors written by this run.
    pub recomputed: u64,
    /// Of those, imported from `vectors.tsv`.
    pub imported: u64,
    /// Whether the IDF table was replaced (then every vector is recomputed).
    pub idf_refreshed: bool,
    /// Measured IDF drift against the stored table (`inf` when there was none).
    pub idf_drift: f64,
    /// Vector dimension.
    pub dim: usize,
    /// Wall time.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// Computes product vectors for new or changed products.
pub fn featurize(
    store: &Store,
    opts: &FeaturizeOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<FeaturizeSummary> {
    let start = Instant::now();
    let imported_dim = store.vector_dim()?.map(|d| d as usize);
    let dim = match (opts.dim, imported_dim) {
        (Some(requested), Some(imported)) if requested != imported => {
            return Err(FeaturesError::DimensionMismatch {
                imported,
                requested,
            });
        }
        (Some(d), _) | (None, Some(d)) => d,
        (None, None) => 128,
    };
    let config = TextConfig {
        dim,
        seed: opts.seed,
        category_depth: opts.category_depth,
        ..TextConfig::default()
    };

    let mut texts: Vec<(u32, ProductText)> = Vec::new();
    store.for_each_product_text(|id, t| texts.push((id, t)))?;
    let mut imported = std::collections::HashMap::new();
    store.for_each_imported_vector(|id, v| {
        imported.insert(id, v);
    })?;

    // Document frequencies over the current texts decide whether the stored IDF still holds.
    let buckets = 1usize << config.bucket_bits;
    let df = texts
        .par_iter()
        .fold(
            || vec![0u32; buckets],
            |mut df, (_, t)| {
                for (b, _) in text::terms(as_text(t), &config) {
                    df[b as usize] += 1;
                }
                df
            },
        )
        .reduce(
            || vec![0u32; buckets],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let docs = texts.len() as u64;
    let old: Option<TextModel> = store.model(ModelRecord::Text)?;
    let old_df: Option<Vec<u32>> = store.model(ModelRecord::TextDf)?;
    let drift = match (&old, &old_df) {
        (Some(m), Some(old_df)) if m.config == config => idf_drift(m.docs, old_df, docs, &df),
        _ => f64::INFINITY,
    };
    let refreshed = drift > opts.idf_drift;
    let first = old.is_none();
    let (mut model, df) = match (old, old_df) {
        (Some(m), Some(old_df)) if !refreshed => (m, old_df),
        (old, _) => (
            TextModel {
                config: config.clone(),
                idf_version: old.as_ref().map_or(1, |m| m.idf_version + 1),
                docs,
                // The run counter carries over: the seller stage finds changed vectors by
                // comparing their run with the last one it saw.
                run: old.map_or(0, |m| m.run),
            },
            df,
        ),
    };
    let idf: Vec<f32> = df.iter().map(|&d| text::idf(model.docs, d)).collect();

    // Products whose content hash differs from their stored vector's. Ids are dense: tables
    // by id, not maps of 4 M entries.
    let mut stored: Vec<Option<u64>> = Vec::new();
    store.for_each_feature_hash(|id, hash| *at(&mut stored, id) = Some(hash))?;
    let mut ids: Vec<u32> = texts.iter().map(|(id, _)| *id).collect();
    ids.extend(imported.keys().copied());
    ids.sort_unstable();
    ids.dedup();
    let mut text_at: Vec<Option<&ProductText>> = Vec::new();
    for (id, t) in &texts {
        *at(&mut text_at, *id) = Some(t);
    }
    let text_of = |id: u32| text_at.get(id as usize).copied().flatten();
    let empty = ProductText::default();
    // Each product's new hash, kept for the ones that changed (it is stored with the vector).
    let changed: Vec<(u32, u64)> = ids
        .par_iter()
        .filter_map(|&id| {
            let hash = content_hash(
                &model,
                text_of(id).unwrap_or(&empty),
                imported.get(&id).map(Vec::as_slice),
            );
            (stored.get(id as usize).copied().flatten() != Some(hash)).then_some((id, hash))
        })
        .collect();

    tracing::info!(
        products = ids.len(),
        changed = changed.len(),
        drift,
        refreshed,
        "featurize: products to recompute"
    );
    let summary = |recomputed, imported| FeaturizeSummary {
        products: ids.len() as u64,
        recomputed,
        imported,
        idf_refreshed: refreshed,
        idf_drift: drift,
        dim,
        elapsed: start.elapsed(),
    };
    // Built only when it is written: an up-to-date run does not pay for it.
    let categories = || Categories::of_texts(texts.iter().map(|(id, t)| (*id, &*t.category)));
    // A run with nothing to write writes nothing, not even the run counter: rerunning an
    // up-to-date stage leaves the store as it was. Only a category table stored before a
    // drop that changed no vector is brought up to date (a database without one keeps
    // reading the texts).
    if !first && !refreshed && changed.is_empty() {
        if let Some(job) = store.job::<FeaturizeJob>(JOB)?
            && Categories::stale(store)?
        {
            let mut batch = StageBatch::new(store);
            categories().stage(store, &mut batch)?;
            batch.commit(JOB, &job)?;
        }
        return Ok(summary(0, 0));
    }
    // A run that was interrupted is continued under its own number, so that a killed and
    // rerun featurize stamps its vectors exactly as one uninterrupted run would.
    let previous: Option<FeaturizeJob> = store.job(JOB)?;
    if !previous.is_some_and(|j| !j.done && j.run == model.run) {
        model.run += 1;
    }
    let mut job = FeaturizeJob {
        run: model.run,
        done: false,
    };
    let mut batch = StageBatch::new(store);
    batch.put_model(ModelRecord::Text, &model);
    if refreshed {
        batch.put_model(ModelRecord::TextDf, &df);
    }
    progress.start("featurize", changed.len() as u64);
    let (mut written, mut from_import) = (0u64, 0u64);
    for chunk in changed.chunks(opts.batch.max(1)) {
        let features: Vec<(u32, Feature)> = chunk
            .par_iter()
            .map(|&(id, hash)| {
                let (source, vector) = match imported.get(&id) {
                    Some(v) => {
                        let mut v = v.clone();
                        crate::cosine::normalize(&mut v);
                        (FeatureSource::Imported, v)
                    }
                    None => {
                        let t = text_of(id).unwrap_or(&empty);
                        let terms = text::terms(as_text(t), &model.config);
                        let v = text::project(&terms, |b| idf[b as usize], &model.config);
                        (FeatureSource::Text, v)
                    }
                };
                let feature = Feature {
                    hash,
                    run: model.run,
                    source,
                    vector,
                };
                (id, feature)
            })
            .collect();
        for (id, f) in &features {
            from_import += u64::from(f.source == FeatureSource::Imported);
            batch.put_feature(*id, f);
        }
        written += features.len() as u64;
        batch.commit(JOB, &job)?;
        progress.set(written);
        if cancel.load(Ordering::Relaxed) {
            progress.finish();
            return Err(FeaturesError::Cancelled(Cancelled));
        }
    }
    job.done = true;
    categories().stage(store, &mut batch)?;
    batch.commit(JOB, &job)?;
    progress.finish();
    Ok(summary(written, from_import))
}

/// The featurize job's state: the run that wrote the last vectors, and whether it finished.
#[derive(Debug, Serialize, Deserialize)]
struct FeaturizeJob {
    run: u32,
    done: bool,
}

const JOB: Job = Job::Featurize;

/// Category levels in use: set by featurize (`--category-depth`), read by every later stage so
/// that seller profiles, index categories and recommendations agree.
pub fn category_depth(store: &Store) -> std::result::Result<usize, StoreError> {
    Ok(store
        .model::<TextModel>(ModelRecord::Text)?
        .map_or(1, |m| m.config.category_depth))
}

/// The entry of `id` in a table by id, grown with `None`s to reach it.
fn at<T>(table: &mut Vec<Option<T>>, id: u32) -> &mut Option<T> {
    let i = id as usize;
    if i >= table.len() {
        table.resize_with(i + 1, || None);
    }
    &mut table[i]
}

fn as_text(t: &ProductText) -> Text<'_> {
    Text {
        category: &t.category,
        title: &t.title,
        attributes: &t.attributes,
    }
}

/// Hash of everything a product's vector depends on.
fn content_hash(model: &TextModel, t: &ProductText, imported: Option<&[f32]>) -> u64 {
    let mut h = Xxh3::new();
    let c = &model.config;
    for n in [
        c.dim as u64,
        c.seed,
        u64::from(c.bucket_bits),
        c.category_depth as u64,
    ] {
        h.update(&n.to_le_bytes());
    }
    h.update(&model.idf_version.to_le_bytes());
    for field in [&t.category, &t.title, &t.attributes] {
        h.update(field.as_bytes());
        h.update(&[0]);
    }
    if let Some(v) = imported {
        v.iter().for_each(|x| h.update(&x.to_le_bytes()));
    }
    h.digest()
}

/// Term-mass-weighted relative change of IDF between the stored table and new counts:
/// `Σ df'·|idf' − idf| / Σ df'·idf'`. Adding a few products to a large catalogue moves it
/// little; a catalogue that doubled or changed vocabulary moves it a lot.
fn idf_drift(old_docs: u64, old_df: &[u32], docs: u64, df: &[u32]) -> f64 {
    let (mut change, mut mass) = (0f64, 0f64);
    for (&new, &was) in df.iter().zip(old_df) {
        if new == 0 {
            continue;
        }
        let a = f64::from(text::idf(docs, new));
        let b = f64::from(text::idf(old_docs, was));
        change += f64::from(new) * (a - b).abs();
        mass += f64::from(new) * a;
    }
    if mass == 0.0 { 0.0 } else { change / mass }
}
