//! The evaluation harness: ranks the candidates for every seller with held-out products, by
//! the active model and by each built-in baseline, all from the same database and scored by
//! the same metric code. Recommendations for evaluation ignore the threshold (every candidate
//! is ranked) and exclude the seller's training listings.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use super::{AlsOptions, Csr, evaluate, fit, stack_copurchases};
use crate::copurchase::{Links, Partners, Source};
use crate::features;
use crate::index::stage::candidates;
use crate::index::{Ann, ExactIndex, IndexError};
use crate::model::{self, Fitted, GraphOptions, Init, ModelConfig, ModelError, Sampling};
use crate::progress::NoProgress;
use crate::progress::Progress;
use crate::store::{Id, Namespace, Store, StoreError};
use crate::vectors::ActiveModel;

/// Errors of `demandlink eval`.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The held-out file is unreadable or malformed.
    #[error("{path}:{line}: {reason}")]
    Heldout {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// No model or candidates yet.
    #[error("nothing to evaluate: run `demandlink featurize` first")]
    NoModel,
    /// No held-out pair names a known seller and candidate.
    #[error(
        "{0}: no held-out pair names a seller of the database and a candidate product; is it the \
         held-out file of this database's split?"
    )]
    NothingToEvaluate(PathBuf),
    /// The exact index refused the candidates.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An ablation model failed to train.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Options of an evaluation run.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Cut-offs K.
    pub ks: Vec<usize>,
    /// Also run the built-in baselines.
    pub baselines: bool,
    /// ALS hyper-parameters (both ALS baselines).
    pub als: AlsOptions,
    /// Weight of the co-purchase pseudo-user rows of the stacked ALS.
    pub copurchase_weight: f32,
    /// Also train the graph-model variants of the published ablation (in memory).
    pub ablation: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            ks: vec![10, 20, 50, 100],
            baselines: false,
            als: AlsOptions::default(),
            copurchase_weight: 1.0,
            ablation: false,
        }
    }
}

/// One method's result.
#[derive(Clone, Debug, Serialize)]
pub struct MethodResult {
    /// `recall@K`, `ndcg@K`, `hit@K`, `coverage@K` (and `…_se` standard errors).
    pub metrics: BTreeMap<String, f64>,
    /// Seconds spent fitting (0 for training-free methods).
    pub train_seconds: f64,
    /// Seconds spent ranking.
    pub rank_seconds: f64,
    /// Peak resident memory of the process after the method, MiB.
    pub peak_rss_mib: f64,
}

/// An evaluation report; the JSON shape is a stable interface.
#[derive(Debug, Serialize)]
pub struct EvalReport {
    /// Active model name.
    pub model: String,
    /// Sellers evaluated (with ≥ 1 held-out candidate).
    pub sellers: usize,
    /// Candidates ranked.
    pub candidates: usize,
    /// Held-out pairs used.
    pub heldout_pairs: usize,
    /// Held-out pairs skipped: unknown seller or product, or product not a candidate.
    pub heldout_skipped: usize,
    /// The active model's metrics.
    pub metrics: BTreeMap<String, f64>,
    /// The active model's timings.
    pub model_result: MethodResult,
    /// Baselines by name: `popularity`, `views`, `text_knn`, `copurchase`, `als`,
    /// `als_copurchase`.
    pub baselines: BTreeMap<String, MethodResult>,
}

/// Everything the rankers share.
struct Setup {
    candidates: Vec<Id>,
    candidate_set: HashSet<Id>,
    sellers: Vec<Id>,
    listed: HashMap<Id, HashSet<Id>>,
    heldout: HashMap<Id, HashSet<Id>>,
    max_k: usize,
}

impl Setup {
    /// The best `max_k` of `scores` (candidate order) for `seller`, excluding its listings;
    /// ties broken by a hash of the product id, so no id order can leak into the ranking.
    fn top(&self, seller: Id, scores: impl Iterator<Item = (Id, f32)>) -> Vec<Id> {
        let listed = self.listed.get(&seller);
        let mut scored: Vec<(Id, f32, u64)> = scores
            .filter(|(p, _)| !listed.is_some_and(|l| l.contains(p)))
            .map(|(p, s)| (p, s, xxh3_64(&p.to_le_bytes())))
            .collect();
        let order =
            |a: &(Id, f32, u64), b: &(Id, f32, u64)| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2));
        if scored.len() > self.max_k {
            scored.select_nth_unstable_by(self.max_k, order);
            scored.truncate(self.max_k);
        }
        scored.sort_by(order);
        scored.into_iter().map(|(p, _, _)| p).collect()
    }
}

/// Evaluates the active model (and, if asked, the baselines) against `heldout`.
pub fn run(
    store: &Store,
    heldout: &Path,
    opts: &EvalOptions,
    progress: &dyn Progress,
) -> Result<EvalReport, EvalError> {
    let model = ActiveModel::load(store)?.ok_or(EvalError::NoModel)?;
    let depth = features::category_depth(store)?;
    let all = candidates(store, &model, depth)?;
    let items = all.items;
    let unusable = all.unusable;
    let mut candidate_ids: Vec<Id> = items.iter().map(|(id, _, _)| *id).collect();
    candidate_ids.extend(&unusable);
    let candidate_set: HashSet<Id> = candidate_ids.iter().copied().collect();
    let (heldout_map, used, skipped) = read_heldout(store, heldout, &candidate_set)?;
    if heldout_map.is_empty() {
        return Err(EvalError::NothingToEvaluate(heldout.to_path_buf()));
    }
    let mut listed: HashMap<Id, HashSet<Id>> = HashMap::new();
    let mut triplets = Vec::new();
    store.for_each_listing(|s, p, _| {
        triplets.push((s, p, 1.0f32));
        if heldout_map.contains_key(&s) {
            listed.entry(s).or_default().insert(p);
        }
    })?;
    let mut sellers: Vec<Id> = heldout_map.keys().copied().collect();
    sellers.sort_unstable();
    let setup = Setup {
        candidates: candidate_ids,
        candidate_set,
        sellers,
        listed,
        heldout: heldout_map,
        max_k: opts.ks.iter().copied().max().unwrap_or(100),
    };
    let score = |ranked: HashMap<Id, Vec<Id>>| {
        evaluate(&ranked, &setup.heldout, &opts.ks, setup.candidates.len()).to_map()
    };

    // A model ranks by exact search over every candidate (the ANN is checked separately);
    // candidates without a vector rank last.
    let exact_for = |items: Vec<(Id, String, Vec<f32>)>| {
        let dims = items.first().map_or(0, |(_, _, v)| v.len());
        ExactIndex::new(dims, items)
    };
    let exact = exact_for(items)?;
    // With a co-purchase link term every candidate is scored; without, the nearest suffice.
    let partners = match model.uses_links() {
        true => Some(
            Partners::load(store, Source::Model(model.generation))?
                .only(setup.candidates.iter().copied()),
        ),
        false => None,
    };
    let model_ranked = |model: &ActiveModel,
                        exact: &ExactIndex,
                        unusable: &[Id]|
     -> Result<HashMap<Id, Vec<Id>>, EvalError> {
        let partners = partners.as_ref().filter(|_| model.uses_links());
        setup
            .sellers
            .par_iter()
            .map(|&s| {
                let list = match model.seller(store, s)? {
                    Some(q) if q.iter().any(|&x| x != 0.0) => {
                        let listed: Vec<Id> = setup
                            .listed
                            .get(&s)
                            .map_or(Vec::new(), |l| l.iter().copied().collect());
                        let (links, wanted) = match partners {
                            Some(p) => (p.link_scores(&listed)?, setup.candidates.len()),
                            None => (Links::default(), setup.max_k + listed.len()),
                        };
                        let hits = exact
                            .nearest(None, &q, wanted)?
                            .into_iter()
                            .map(|(p, cos)| {
                                (
                                    p,
                                    model.score(cos, links.get(&p).copied().unwrap_or_default()),
                                )
                            });
                        let last = unusable.iter().map(|&p| (p, f32::NEG_INFINITY));
                        setup.top(s, hits.chain(last))
                    }
                    _ => Vec::new(),
                };
                Ok((s, list))
            })
            .collect()
    };
    progress.start("eval: model", 1);
    let started = Instant::now();
    let ranked = model_ranked(&model, &exact, &unusable)?;
    let model_result = MethodResult {
        metrics: score(ranked),
        train_seconds: 0.0,
        rank_seconds: started.elapsed().as_secs_f64(),
        peak_rss_mib: peak_rss_mib(),
    };
    progress.finish();

    let mut baselines = BTreeMap::new();
    let timed = |name: &str, f: &dyn Fn() -> Result<Trained, EvalError>| {
        progress.start(&format!("eval: {name}"), 1);
        let started = Instant::now();
        let (train, ranked) = f()?;
        let total = started.elapsed().as_secs_f64();
        progress.finish();
        Ok::<_, EvalError>(MethodResult {
            metrics: score(ranked),
            train_seconds: train,
            rank_seconds: total - train,
            peak_rss_mib: peak_rss_mib(),
        })
    };
    if opts.baselines {
        let products = store.entity_count(Namespace::Product)? as usize;
        let sellers_n = store.entity_count(Namespace::Seller)? as usize;
        let same_for_all = |scores: Vec<f32>| {
            setup
                .sellers
                .par_iter()
                .map(|&s| {
                    let it = setup.candidates.iter().map(|&p| (p, scores[p as usize]));
                    (s, setup.top(s, it))
                })
                .collect::<HashMap<_, _>>()
        };
        let popularity = timed("popularity", &|| {
            let mut count = vec![0f32; products];
            store.for_each_listing_by_product(|p, _| count[p as usize] += 1.0)?;
            Ok((0.0, same_for_all(count)))
        })?;
        baselines.insert("popularity".to_string(), popularity);
        let views = timed("views", &|| {
            let mut views = vec![0f32; products];
            store.for_each_views(|p, _, v| views[p as usize] += v as f32)?;
            Ok((0.0, same_for_all(views)))
        })?;
        baselines.insert("views".to_string(), views);
        let text = timed("text_knn", &|| {
            let content = ActiveModel::content(store)?.ok_or(EvalError::NoModel)?;
            let all = candidates(store, &content, depth)?;
            let exact = exact_for(all.items)?;
            Ok((0.0, model_ranked(&content, &exact, &all.unusable)?))
        })?;
        baselines.insert("text_knn".to_string(), text);
        let copurchase = timed("copurchase", &|| {
            Ok((0.0, copurchase_neighbours(store, &setup)?))
        })?;
        baselines.insert("copurchase".to_string(), copurchase);

        let listings = Csr::from_triplets(sellers_n, products, &triplets);
        let als = timed("als", &|| {
            let started = Instant::now();
            let m = fit(&listings, &opts.als);
            Ok((started.elapsed().as_secs_f64(), als_ranked(&m, &setup)))
        })?;
        baselines.insert("als".to_string(), als);
        let stacked = timed("als_copurchase", &|| {
            let mut pairs = Vec::new();
            store.for_each_copurchase(|a, b, c| {
                if a < b {
                    pairs.push((a, b, c as f32));
                }
            })?;
            let started = Instant::now();
            let matrix = stack_copurchases(&listings, &pairs, opts.copurchase_weight);
            let m = fit(&matrix, &opts.als);
            Ok((started.elapsed().as_secs_f64(), als_ranked(&m, &setup)))
        })?;
        baselines.insert("als_copurchase".to_string(), stacked);
    }
    if opts.ablation {
        for (name, cfg) in ablation_configs() {
            let result = timed(name, &|| {
                let fitted = model::fit(store, &cfg, &NoProgress)?;
                Ok((fitted.train_seconds, fitted_ranked(store, &fitted, &setup)?))
            })?;
            baselines.insert(name.to_string(), result);
        }
    }
    Ok(EvalReport {
        model: model.name(),
        sellers: setup.heldout.len(),
        candidates: setup.candidates.len(),
        heldout_pairs: used,
        heldout_skipped: skipped,
        metrics: model_result.metrics.clone(),
        model_result,
        baselines,
    })
}

/// The graph-model rows of the published ablation, by report key: listing edges only with
/// random inputs and uniform sampling; plus text inputs, auxiliary and co-purchase nodes;
/// plus stratified sampling (the default model).
pub fn ablation_configs() -> [(&'static str, ModelConfig); 3] {
    let base = ModelConfig::default();
    let uniform = ModelConfig {
        sampling: Sampling::Uniform,
        ..base.clone()
    };
    let listing = ModelConfig {
        init: Init::Random,
        graph: GraphOptions {
            copurchase: false,
            auxiliary: false,
            ..base.graph.clone()
        },
        ..uniform.clone()
    };
    [
        ("graph_listing_random", listing),
        ("graph_text_copurchase", uniform),
        ("graph_stratified", base),
    ]
}

/// Rankings by a model trained in memory.
fn fitted_ranked(
    store: &Store,
    fitted: &Fitted,
    setup: &Setup,
) -> Result<HashMap<Id, Vec<Id>>, EvalError> {
    let [alpha, w1, w2, _] = fitted.score;
    let partners = match [w1, w2] != [0.0; 2] {
        true => Some(
            Partners::load(store, Source::Counts(fitted.copurchase))?
                .only(setup.candidates.iter().copied()),
        ),
        false => None,
    };
    let emb = &fitted.embeddings;
    setup
        .sellers
        .par_iter()
        .map(|&s| {
            let listed: Vec<Id> = setup
                .listed
                .get(&s)
                .map_or(Vec::new(), |l| l.iter().copied().collect());
            let links = match &partners {
                Some(p) => p.link_scores(&listed)?,
                None => Links::default(),
            };
            let q = emb.seller(s);
            let it = setup.candidates.iter().map(|&p| {
                let [l1, l2] = links.get(&p).copied().unwrap_or_default();
                (p, alpha * q.dot(&emb.product(p)) + w1 * l1 + w2 * l2)
            });
            Ok((s, setup.top(s, it)))
        })
        .collect()
}

fn als_ranked(m: &super::AlsModel, setup: &Setup) -> HashMap<Id, Vec<Id>> {
    setup
        .sellers
        .par_iter()
        .map(|&s| {
            let u = m.user_factors.row(s as usize);
            let it = setup
                .candidates
                .iter()
                .map(|&p| (p, u.dot(&m.item_factors.row(p as usize))));
            (s, setup.top(s, it))
        })
        .collect()
}

/// Weight of the 2-hop term of the co-purchase baseline. Fixed, not tuned on any split: it is
/// small so that it mostly orders the candidates that have no direct link to the seller.
const TWO_HOP: f64 = 0.1;

/// Training-free co-purchase neighbours: `score(s, h) = Σ_{p listed by s} [w(p, h) +
/// TWO_HOP · Σ_q w(p, q)·w(q, h)]`, with `w(a, b) = c(a, b) / sqrt(deg(a)·deg(b))` the
/// symmetric-normalised pair count and `deg` the summed counts of a product.
fn copurchase_neighbours(store: &Store, setup: &Setup) -> Result<HashMap<Id, Vec<Id>>, EvalError> {
    let mut degree: HashMap<Id, f64> = HashMap::new();
    let mut pairs = Vec::new();
    store.for_each_copurchase(|a, b, c| {
        *degree.entry(a).or_default() += c as f64;
        pairs.push((a, b, c as f64));
    })?;
    let mut adjacency: HashMap<Id, Vec<(Id, f64)>> = HashMap::new();
    for (a, b, c) in pairs {
        adjacency
            .entry(a)
            .or_default()
            .push((b, c / (degree[&a] * degree[&b]).sqrt()));
    }
    Ok(setup
        .sellers
        .par_iter()
        .map(|&s| {
            let mut scores: HashMap<Id, f64> = HashMap::new();
            for p in setup.listed.get(&s).into_iter().flatten() {
                for &(q, w_pq) in adjacency.get(p).into_iter().flatten() {
                    if setup.candidate_set.contains(&q) {
                        *scores.entry(q).or_default() += w_pq;
                    }
                    for &(h, w_qh) in adjacency.get(&q).into_iter().flatten() {
                        if setup.candidate_set.contains(&h) {
                            *scores.entry(h).or_default() += TWO_HOP * w_pq * w_qh;
                        }
                    }
                }
            }
            let it = setup
                .candidates
                .iter()
                .map(|p| (*p, scores.get(p).copied().unwrap_or(0.0) as f32));
            (s, setup.top(s, it))
        })
        .collect())
}

/// Seconds spent training, and each seller's ranking.
type Trained = (f64, HashMap<Id, Vec<Id>>);

type Heldout = (HashMap<Id, HashSet<Id>>, usize, usize);

/// Reads `seller_id<TAB>product_id` pairs (header line first), keeping pairs whose seller is
/// known and whose product is a candidate.
fn read_heldout(
    store: &Store,
    path: &Path,
    candidates: &HashSet<Id>,
) -> Result<Heldout, EvalError> {
    let bad = |line, reason: String| EvalError::Heldout {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| bad(0, format!("cannot open: {e}")))?;
    let mut map: HashMap<Id, HashSet<Id>> = HashMap::new();
    let (mut used, mut skipped) = (0, 0);
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| bad(i + 1, format!("cannot read: {e}")))?;
        if i == 0 {
            if line.trim() != "seller_id\tproduct_id" {
                return Err(bad(
                    1,
                    format!("expected header `seller_id<TAB>product_id`, found `{line}`"),
                ));
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let Some((s, p)) = line.split_once('\t') else {
            return Err(bad(i + 1, "expected two tab-separated columns".into()));
        };
        let seller = store.lookup(Namespace::Seller, s.trim())?;
        let product = store.lookup(Namespace::Product, p.trim())?;
        match (seller, product) {
            (Some(s), Some(p)) if candidates.contains(&p) => {
                used += usize::from(map.entry(s).or_default().insert(p));
            }
            _ => skipped += 1,
        }
    }
    Ok((map, used, skipped))
}

/// Peak resident set size of this process so far (VmHWM), MiB; 0 where unavailable.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
