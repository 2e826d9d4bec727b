//! Seller vectors and profiles: `S = Σ vᵢ·Pᵢ / Σ vᵢ` over the seller's listed products, with
//! vᵢ the product's views over the last N periods (equal weights when none of them has views),
//! plus the seller's categories and primary category.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::calibrate::{self, ContentModel};
use super::text::category_at;
use super::{FeaturesError, Result, TextModel};
use crate::affinity::Categories;
use crate::cosine::cosine;
use crate::progress::{Cancelled, Progress};
use crate::store::{
    CONTENT_GENERATION, Id, Job, Listing, ModelRecord, Namespace, SellerProfile, SellerRecord,
    StageBatch, Store,
};

/// Options of the seller stage.
#[derive(Clone, Debug)]
pub struct SellerOptions {
    /// Periods (drops) of views that weigh products.
    pub window: u32,
    /// Sellers per committed chunk.
    pub batch: usize,
    /// Positive examples for the score calibration (as many negatives are drawn).
    pub calibration_examples: usize,
}

impl Default for SellerOptions {
    fn default() -> Self {
        SellerOptions {
            window: 2,
            batch: 10_000,
            calibration_examples: 20_000,
        }
    }
}

/// What a seller-stage run did.
#[derive(Debug, Serialize)]
pub struct SellerSummary {
    /// Sellers with at least one listing.
    pub sellers: u64,
    /// Sellers whose vector and profile were recomputed.
    pub recomputed: u64,
    /// The fitted calibration.
    pub calibration: ContentModel,
    /// Wall time.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// The inputs a seller's vector was computed from; a seller is recomputed when they move.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Marks {
    last_drop: u32,
    feature_run: u32,
    window: (u32, u32),
    depth: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SellerJob {
    done: Option<Marks>,
    /// A pass towards these marks that committed sellers up to and including the cursor.
    in_progress: Option<(Marks, Id)>,
}

const JOB: Job = Job::Sellers;

/// Per-product inputs, dense by product id.
struct Products {
    /// The vectors' dimension.
    dim: usize,
    vectors: Vec<Option<Box<[f32]>>>,
    changed: Vec<bool>,
    category: Vec<u32>,
    categories: Vec<String>,
    views: Vec<u64>,
}

/// Computes vectors and profiles for the sellers whose inputs changed, and refits the score
/// calibration.
pub fn seller_vectors(
    store: &Store,
    opts: &SellerOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<SellerSummary> {
    let start = Instant::now();
    let text: TextModel = store
        .model(ModelRecord::Text)?
        .ok_or(FeaturesError::NotFeaturized)?;
    let latest = store.next_drop_seq()?.saturating_sub(1);
    let target = Marks {
        last_drop: latest,
        feature_run: text.run,
        window: (latest.saturating_sub(opts.window.max(1) - 1).max(1), latest),
        depth: text.config.category_depth,
    };
    let job: SellerJob = store.job(JOB)?.unwrap_or_default();
    let resume_after = match &job.in_progress {
        Some((marks, cursor)) if *marks == target => Some(*cursor),
        _ => None,
    };
    let products = load_products(store, &target, job.done.as_ref())?;
    let mut sellers: HashMap<Id, SellerRecord> = HashMap::new();
    store.for_each_seller(|id, r| {
        sellers.insert(id, r);
    })?;

    let mut batch = StageBatch::new(store);
    let mut examples = Vec::new();
    let (mut total, mut recomputed) = (0u64, 0u64);
    let mut current: Option<Id> = None;
    let mut listings: Vec<(Id, Listing)> = Vec::new();
    let mut failure = None;
    progress.start("seller vectors", sellers.len() as u64);
    // Whether a seller's vector is recomputed (its inputs changed since the last run, and a
    // resumed run has not committed it); the calibration examples are sampled on the way.
    let mut finish_seller = |seller: Id, listings: &[(Id, Listing)]| {
        total += 1;
        sample_examples(seller, listings, &products, opts, &mut examples);
        let affected = match job.done.as_ref() {
            None => true,
            Some(d) => {
                d.depth != target.depth
                    || sellers
                        .get(&seller)
                        .is_some_and(|r| r.updated_drop > d.last_drop)
                    || listings
                        .iter()
                        .any(|(p, l)| l.drop > d.last_drop || products.changed[*p as usize])
            }
        };
        let due = affected && resume_after.is_none_or(|c| seller > c);
        recomputed += u64::from(due);
        due
    };
    // The sellers due, computed in parallel and staged in seller order.
    let mut pending: Vec<(Id, Vec<(Id, Listing)>)> = Vec::new();
    let stage = |pending: &mut Vec<(Id, Vec<(Id, Listing)>)>, batch: &mut StageBatch| {
        let computed: Vec<(Vec<f32>, SellerProfile)> = pending
            .par_iter()
            .map(|(seller, listings)| compute(sellers.get(seller), listings, &products))
            .collect();
        for ((seller, _), (vector, profile)) in pending.iter().zip(computed) {
            batch.put_embedding(CONTENT_GENERATION, Namespace::Seller, *seller, &vector);
            batch.put_profile(*seller, &profile);
        }
        pending.clear();
    };
    store.for_each_listing(|s, p, l| {
        if failure.is_some() {
            return;
        }
        if current != Some(s) {
            if let Some(prev) = current
                && finish_seller(prev, &listings)
            {
                pending.push((prev, std::mem::take(&mut listings)));
                if pending.len() >= opts.batch {
                    stage(&mut pending, &mut batch);
                    let state = SellerJob {
                        done: job.done.clone(),
                        in_progress: Some((target.clone(), prev)),
                    };
                    if let Err(e) = batch.commit(JOB, &state) {
                        failure = Some(FeaturesError::from(e));
                    } else if cancel.load(Ordering::Relaxed) {
                        failure = Some(FeaturesError::Cancelled(Cancelled));
                    }
                    progress.set(u64::from(prev));
                }
            }
            listings.clear();
            current = Some(s);
        }
        listings.push((p, l));
    })?;
    if let Some(e) = failure {
        progress.finish();
        return Err(e);
    }
    if let Some(last) = current
        && finish_seller(last, &listings)
    {
        pending.push((last, listings));
    }
    stage(&mut pending, &mut batch);
    let calibration = calibrate::fit(&examples).unwrap_or_else(ContentModel::uncalibrated);
    tracing::info!(
        sellers = total,
        recomputed,
        examples = examples.len(),
        alpha = calibration.alpha,
        beta = calibration.beta,
        "seller vectors done"
    );
    batch.put_model(ModelRecord::Content, &calibration);
    batch.commit(
        JOB,
        &SellerJob {
            done: Some(target),
            in_progress: None,
        },
    )?;
    progress.finish();
    Ok(SellerSummary {
        sellers: total,
        recomputed,
        calibration,
        elapsed: start.elapsed(),
    })
}

fn load_products(store: &Store, target: &Marks, done: Option<&Marks>) -> Result<Products> {
    let n = store.entity_count(Namespace::Product)? as usize;
    let mut vectors = vec![None; n];
    let mut changed = vec![false; n];
    let since = done.map_or(0, |d| d.feature_run);
    store.for_each_feature(|id, f| {
        changed[id as usize] = f.run > since;
        vectors[id as usize] = Some(f.vector.into_boxed_slice());
    })?;
    // Each product's category at the profiles' depth, from the full paths of the category
    // table `featurize` stored (reading every product's text for it took seconds).
    let table = Categories::load(store)?;
    let mut names: Vec<String> = vec![String::new()];
    let mut index: HashMap<String, u32> = HashMap::from([(String::new(), 0)]);
    let at_depth: Vec<u32> = table
        .paths()
        .into_iter()
        .map(|path| {
            let c = category_at(path, target.depth);
            let next = names.len() as u32;
            *index.entry(c.clone()).or_insert_with(|| {
                names.push(c);
                next
            })
        })
        .collect();
    let category: Vec<u32> = (0..n as Id)
        .map(|p| table.of(p).map_or(0, |c| at_depth[c as usize]))
        .collect();
    // Views inside the window weigh products; a product whose views entered or left the
    // window since the last run changes the vectors of its sellers.
    let mut views = vec![0u64; n];
    let inside = |w: (u32, u32), period: u32| period >= w.0 && period <= w.1;
    store.for_each_views(|p, period, v| {
        if inside(target.window, period) {
            views[p as usize] += v;
        }
        if let Some(d) = done
            && inside(target.window, period) != inside(d.window, period)
        {
            changed[p as usize] = true;
        }
    })?;
    Ok(Products {
        dim: vectors.iter().flatten().next().map_or(0, |v| v.len()),
        vectors,
        changed,
        category,
        categories: names,
        views,
    })
}

impl Products {
    /// Each of `listings`' products' weight in the seller's vector: its views in the window,
    /// or 1 for every product when none of them has views.
    fn weights(&self, listings: &[(Id, Listing)]) -> impl Fn(Id) -> f64 + '_ {
        let total: u64 = listings.iter().map(|(p, _)| self.views[*p as usize]).sum();
        move |p| match total {
            0 => 1.0,
            _ => self.views[p as usize] as f64,
        }
    }
}

/// `Σ wᵢ·Pᵢ / Σ wᵢ` over `(wᵢ, Pᵢ)` of `dim`-dimensional vectors, summed in `f64`: the
/// kernel of the seller vector, whose weights are the listed products' views (all 1 when none
/// has views). An item without a vector still counts in `Σ wᵢ`; a zero total gives zeros.
pub fn weighted_mean<'a>(
    dim: usize,
    items: impl IntoIterator<Item = (f64, Option<&'a [f32]>)>,
) -> Vec<f32> {
    let mut sum = vec![0f64; dim];
    let mut total = 0f64;
    for (w, v) in items {
        total += w;
        if let Some(v) = v {
            sum.iter_mut()
                .zip(v)
                .for_each(|(s, x)| *s += w * f64::from(*x));
        }
    }
    sum.iter()
        .map(|s| (s / total.max(f64::MIN_POSITIVE)) as f32)
        .collect()
}

/// The seller vector (view-weighted mean) and profile.
/// The vector of a seller listing `listings`: their products' vectors weighted by views (each
/// 1 when none of them has views).
fn seller_vector(listings: &[(Id, Listing)], products: &Products) -> Vec<f32> {
    let weight = products.weights(listings);
    weighted_mean(
        products.dim,
        listings
            .iter()
            .map(|(p, _)| (weight(*p), products.vectors[*p as usize].as_deref())),
    )
}

fn compute(
    record: Option<&SellerRecord>,
    listings: &[(Id, Listing)],
    products: &Products,
) -> (Vec<f32>, SellerProfile) {
    let vector = seller_vector(listings, products);
    let weight = products.weights(listings);
    let total: f64 = listings.iter().map(|(p, _)| weight(*p)).sum();

    let mut by_category: HashMap<u32, (u32, u64)> = HashMap::new();
    for (p, _) in listings {
        let e = by_category
            .entry(products.category[*p as usize])
            .or_default();
        e.0 += 1;
        e.1 += products.views[*p as usize];
    }
    let mut categories: Vec<(u32, (u32, u64))> = by_category.into_iter().collect();
    // Most listings first, ties by views, then by name for determinism; the empty category
    // (products without text) only when there is nothing else.
    categories.sort_by(|a, b| {
        let name = |c: u32| &products.categories[c as usize];
        (name(a.0).is_empty(), std::cmp::Reverse(a.1), name(a.0)).cmp(&(
            name(b.0).is_empty(),
            std::cmp::Reverse(b.1),
            name(b.0),
        ))
    });
    let from_file = record.and_then(|r| r.primary_category.clone());
    let primary = from_file.clone().unwrap_or_else(|| {
        categories
            .first()
            .map(|(c, _)| products.categories[*c as usize].clone())
            .unwrap_or_default()
    });
    let mut anchors: Vec<(u32, f32)> = listings
        .iter()
        .map(|(p, _)| (*p, (weight(*p) / total) as f32))
        .collect();
    anchors.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    anchors.truncate(3);
    let profile = SellerProfile {
        primary_category: primary,
        primary_from_sellers_file: from_file.is_some(),
        categories: categories
            .iter()
            .map(|(c, (n, _))| (products.categories[*c as usize].clone(), *n))
            .collect(),
        listings: listings.len() as u32,
        anchors,
    };
    (vector, profile)
}

/// Adds calibration examples from a deterministic sample of sellers: each listed product
/// against the seller's vector computed without it (positive), and a pseudo-random catalogue
/// product against the full vector (negative).
fn sample_examples(
    seller: Id,
    listings: &[(Id, Listing)],
    products: &Products,
    opts: &SellerOptions,
    examples: &mut Vec<(f32, bool)>,
) {
    if listings.len() < 2 || examples.len() >= 2 * opts.calibration_examples {
        return;
    }
    // About one seller in four, spread over the id space.
    if !xxh3_64(&seller.to_le_bytes()).is_multiple_of(4) {
        return;
    }
    let n = products.vectors.len() as u64;
    let full = seller_vector(listings, products);
    for (i, (p, _)) in listings.iter().enumerate() {
        let Some(target) = &products.vectors[*p as usize] else {
            continue;
        };
        let rest: Vec<(Id, Listing)> = listings
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, l)| *l)
            .collect();
        let loo = seller_vector(&rest, products);
        examples.push((cosine(&loo, target), true));
        let h = xxh3_64(&[seller.to_le_bytes(), p.to_le_bytes()].concat());
        let q = (h % n) as usize;
        if let Some(other) = &products.vectors[q]
            && !listings.iter().any(|(l, _)| *l as usize == q)
        {
            examples.push((cosine(&full, other), false));
        }
    }
}
