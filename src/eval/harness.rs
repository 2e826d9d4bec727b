//! The evaluation harness: ranks the candidates for every seller with held-out products, by
//! the active model and by each built-in baseline, all from the same database and scored by
//! the same metric code. Recommendations for evaluation ignore the threshold (every candidate
//! is ranked) and exclude the seller's training listings.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use super::{AlsOptions, Csr, EvalError, evaluate, fit_reporting, stack_copurchases};
use crate::affinity::{Affinity, Categories};
use crate::copurchase::{Links, Partners, Rule, Strength};
use crate::features;
use crate::index::stage::candidates;
use crate::index::{Ann, ExactIndex};
use crate::ingest::{Line, TsvReader};
use crate::model::{self, Fitted, GraphOptions, Init, ModelConfig, Sampling, TrainOptions};
use crate::progress::NoProgress;
use crate::progress::{Cancelled, Progress};
use crate::store::{Id, Namespace, Store};
use crate::vectors::ActiveModel;

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
    pub(crate) model_result: MethodResult,
    /// Baselines by name: `popularity`, `views`, `text_knn`, `copurchase`,
    /// `copurchase_log`, `category`, `als`, `als_copurchase`.
    pub baselines: BTreeMap<String, MethodResult>,
}

/// Everything the rankers share.
struct Setup<'a> {
    candidates: Vec<Id>,
    sellers: Vec<Id>,
    listed: HashMap<Id, HashSet<Id>>,
    heldout: HashMap<Id, HashSet<Id>>,
    max_k: usize,
    /// Checked before each chunk of sellers is ranked.
    cancel: &'a AtomicBool,
}

impl Setup<'_> {
    /// A seller's training listings.
    fn listed_of(&self, seller: Id) -> Vec<Id> {
        self.listed
            .get(&seller)
            .map_or(Vec::new(), |l| l.iter().copied().collect())
    }

    /// Each evaluated seller's ranking by `rank`, in parallel, with a progress bar labelled
    /// `name` that moves after each chunk of sellers.
    fn rank_all(
        &self,
        name: &str,
        progress: &dyn Progress,
        rank: impl Fn(Id) -> Result<Vec<Id>, EvalError> + Sync,
    ) -> Result<HashMap<Id, Vec<Id>>, EvalError> {
        const CHUNK: usize = 256;
        progress.start(name, self.sellers.len() as u64);
        let mut out = HashMap::with_capacity(self.sellers.len());
        for (i, chunk) in self.sellers.chunks(CHUNK).enumerate() {
            if self.cancel.load(Ordering::Relaxed) {
                progress.finish();
                return Err(Cancelled.into());
            }
            let ranked: Vec<(Id, Vec<Id>)> = chunk
                .par_iter()
                .map(|&s| Ok((s, rank(s)?)))
                .collect::<Result<_, EvalError>>()?;
            out.extend(ranked);
            progress.set((i * CHUNK + chunk.len()) as u64);
        }
        progress.finish();
        Ok(out)
    }

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

/// Evaluates the active model (and, if asked, the baselines) against `heldout`; stops
/// ([`EvalError::Cancelled`]) before the next chunk of sellers once `cancel` is set.
pub fn run(
    store: &Store,
    heldout: &Path,
    opts: &EvalOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
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
        sellers,
        listed,
        heldout: heldout_map,
        max_k: opts.ks.iter().copied().max().unwrap_or(100),
        cancel,
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
    // With a co-purchase link or category term every candidate is scored; without, the
    // nearest suffice.
    let partners = match model.uses_links() {
        true => {
            Some(Partners::load(store, model.generation)?.only(setup.candidates.iter().copied()))
        }
        false => None,
    };
    let categories = Categories::load(store)?;
    let model_ranked = |name: &str,
                        model: &ActiveModel,
                        exact: &ExactIndex,
                        unusable: &[Id]|
     -> Result<HashMap<Id, Vec<Id>>, EvalError> {
        let partners = partners.as_ref().filter(|_| model.uses_links());
        setup.rank_all(name, progress, |s| {
            let Some(q) = model
                .seller(store, s)?
                .filter(|q| q.iter().any(|&x| x != 0.0))
            else {
                return Ok(Vec::new());
            };
            let listed = setup.listed_of(s);
            let links = match partners {
                Some(p) => p.link_scores(&listed)?,
                None => Links::default(),
            };
            let affinity = match model.uses_category() {
                true => categories.affinity(listed.iter().copied()),
                false => Affinity::default(),
            };
            let wanted = match model.uses_links() || model.uses_category() {
                true => setup.candidates.len(),
                false => setup.max_k + listed.len(),
            };
            let hits = exact
                .nearest(None, &q, wanted)?
                .into_iter()
                .map(|(p, cos)| {
                    let link = links.get(&p).copied().unwrap_or_default();
                    (p, model.score(cos, link, affinity.of(&categories, p)))
                });
            let last = unusable.iter().map(|&p| (p, f32::NEG_INFINITY));
            Ok(setup.top(s, hits.chain(last)))
        })
    };
    let started = Instant::now();
    let ranked = model_ranked("eval: model", &model, &exact, &unusable)?;
    let model_result = MethodResult {
        metrics: score(ranked),
        train_seconds: 0.0,
        rank_seconds: started.elapsed().as_secs_f64(),
        peak_rss_mib: peak_rss_mib(),
    };

    let mut baselines = BTreeMap::new();
    // `f` returns the seconds it spent fitting (0 for training-free methods) and the rankings.
    let timed = |f: &dyn Fn() -> Result<Trained, EvalError>| {
        let started = Instant::now();
        let (train, ranked) = f()?;
        let total = started.elapsed().as_secs_f64();
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
        let same_for_all = |name: &str, scores: Vec<f32>| {
            setup.rank_all(name, progress, |s| {
                let it = setup.candidates.iter().map(|&p| (p, scores[p as usize]));
                Ok(setup.top(s, it))
            })
        };
        let popularity = timed(&|| {
            let mut count = vec![0f32; products];
            store.for_each_listing_by_product(|p, _| count[p as usize] += 1.0)?;
            Ok((0.0, same_for_all("eval: popularity", count)?))
        })?;
        baselines.insert("popularity".to_string(), popularity);
        let views = timed(&|| {
            let mut views = vec![0f32; products];
            store.for_each_views(|p, _, v| views[p as usize] += v as f32)?;
            Ok((0.0, same_for_all("eval: views", views)?))
        })?;
        baselines.insert("views".to_string(), views);
        let text = timed(&|| {
            let content = ActiveModel::content(store)?.ok_or(EvalError::NoModel)?;
            let all = candidates(store, &content, depth)?;
            let exact = exact_for(all.items)?;
            let ranked = model_ranked("eval: text_knn", &content, &exact, &all.unusable)?;
            Ok((0.0, ranked))
        })?;
        baselines.insert("text_knn".to_string(), text);
        for walk in COPURCHASE_WALKS {
            let result = timed(&|| Ok((0.0, copurchase_walk(store, &setup, &walk, progress)?)))?;
            baselines.insert(walk.name.to_string(), result);
        }
        let category = timed(&|| {
            let ranked = setup.rank_all("eval: category", progress, |s| {
                let affinity = categories.affinity(setup.listed_of(s));
                let it = setup
                    .candidates
                    .iter()
                    .map(|&p| (p, affinity.of(&categories, p)));
                Ok(setup.top(s, it))
            })?;
            Ok((0.0, ranked))
        })?;
        baselines.insert("category".to_string(), category);

        let listings = Csr::from_triplets(sellers_n, products, &triplets);
        let als = timed(&|| {
            let started = Instant::now();
            let m = fit_reporting(&listings, &opts.als, "eval: als (fit)", progress);
            let train = started.elapsed().as_secs_f64();
            Ok((train, als_ranked("eval: als", &m, &setup, progress)?))
        })?;
        baselines.insert("als".to_string(), als);
        let stacked = timed(&|| {
            let mut pairs = Vec::new();
            store.for_each_copurchase(|a, b, c| {
                if a < b {
                    pairs.push((a, b, c as f32));
                }
            })?;
            let started = Instant::now();
            let matrix = stack_copurchases(&listings, &pairs, opts.copurchase_weight);
            let label = "eval: als_copurchase (fit)";
            let m = fit_reporting(&matrix, &opts.als, label, progress);
            let train = started.elapsed().as_secs_f64();
            Ok((
                train,
                als_ranked("eval: als_copurchase", &m, &setup, progress)?,
            ))
        })?;
        baselines.insert("als_copurchase".to_string(), stacked);
    }
    if opts.ablation {
        for (name, cfg) in ablation_configs() {
            let result = timed(&|| {
                let fitted = model::fit(store, &cfg, &TrainOptions::default(), &NoProgress)?;
                let ranked = fitted_ranked(store, &fitted, &setup, &categories, name, progress)?;
                Ok((fitted.train_seconds, ranked))
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
pub(crate) fn ablation_configs() -> [(&'static str, ModelConfig); 3] {
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
    categories: &Categories,
    name: &str,
    progress: &dyn Progress,
) -> Result<HashMap<Id, Vec<Id>>, EvalError> {
    let [alpha, w1, w2, w3, _] = fitted.selection.score;
    let partners = match fitted.selection.uses_links() {
        true => {
            let rule = fitted.selection.rule;
            Some(
                Partners::from_counts(store, Some(rule.threshold), |_| rule)?
                    .only(setup.candidates.iter().copied()),
            )
        }
        false => None,
    };
    let emb = &fitted.embeddings;
    setup.rank_all(&format!("eval: {name}"), progress, |s| {
        let listed = setup.listed_of(s);
        let links = match &partners {
            Some(p) => p.link_scores(&listed)?,
            None => Links::default(),
        };
        let affinity = categories.affinity(listed);
        let q = emb.seller(s);
        let it = setup.candidates.iter().map(|&p| {
            let [l1, l2] = links.get(&p).copied().unwrap_or_default();
            let cat = affinity.of(categories, p);
            (
                p,
                alpha * q.dot(&emb.product(p)) + w1 * l1 + w2 * l2 + w3 * cat,
            )
        });
        Ok(setup.top(s, it))
    })
}

fn als_ranked(
    name: &str,
    m: &super::AlsModel,
    setup: &Setup,
    progress: &dyn Progress,
) -> Result<HashMap<Id, Vec<Id>>, EvalError> {
    setup.rank_all(name, progress, |s| {
        let u = m.user_factors.row(s as usize);
        let it = setup
            .candidates
            .iter()
            .map(|&p| (p, u.dot(&m.item_factors.row(p as usize))));
        Ok(setup.top(s, it))
    })
}

/// A training-free co-purchase baseline: the link features of [`crate::copurchase`] (the
/// graph model's, with the same pair weights) summed with fixed weights, no training.
pub(crate) struct CopurchaseWalk {
    /// Its name in reports.
    pub name: &'static str,
    /// How a pair's count weighs.
    pub strength: Strength,
    /// `[w₁, w₂]`: weights of the one-step and two-step terms.
    pub mix: [f32; 2],
}

/// The co-purchase baselines: `copurchase` — `score(s, h) = Σ_p [w(p, h) + 0.1 · Σ_q w(p, q) ·
/// w(q, h)]` with `w(a, b) = c(a, b) / √(C_a · C_b)`, the symmetric-normalised pair count
/// (`C` = summed counts of a product), the 2-hop term small so that it mostly orders the
/// candidates without a direct link (fixed, not tuned on any split); and `copurchase_log` —
/// the one-step walk over log(1 + count) strengths, normalised alike.
pub(crate) const COPURCHASE_WALKS: [CopurchaseWalk; 2] = [
    CopurchaseWalk {
        name: "copurchase",
        strength: Strength::Count,
        mix: [1.0, 0.1],
    },
    CopurchaseWalk {
        name: "copurchase_log",
        strength: Strength::Log,
        mix: [1.0, 0.0],
    },
];

/// Rankings by a co-purchase walk, over every pair at or above the default threshold, to the
/// candidates only (the second step walks only lists restricted to them).
fn copurchase_walk(
    store: &Store,
    setup: &Setup,
    walk: &CopurchaseWalk,
    progress: &dyn Progress,
) -> Result<HashMap<Id, Vec<Id>>, EvalError> {
    let partners = Partners::from_counts(store, None, |threshold| Rule {
        threshold,
        cap: 0,
        strength: walk.strength,
    })?
    .only(setup.candidates.iter().copied());
    let [w1, w2] = walk.mix;
    setup.rank_all(&format!("eval: {}", walk.name), progress, |s| {
        let links = partners.link_scores(&setup.listed_of(s))?;
        let it = setup.candidates.iter().map(|p| {
            let [l1, l2] = links.get(p).copied().unwrap_or_default();
            (*p, w1 * l1 + w2 * l2)
        });
        Ok(setup.top(s, it))
    })
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
    let mut reader =
        TsvReader::open(path, 0, 0).map_err(|e| bad(0, format!("cannot open: {e}")))?;
    let mut map: HashMap<Id, HashSet<Id>> = HashMap::new();
    let (mut used, mut skipped) = (0, 0);
    loop {
        let number = reader.line as usize + 1;
        let line = match reader.next_line() {
            Err(e) => return Err(bad(number, format!("cannot read: {e}"))),
            Ok(None) => break,
            Ok(Some(Line::NotUtf8(at))) => {
                return Err(bad(
                    number,
                    format!("invalid UTF-8 at byte {} of the line", at + 1),
                ));
            }
            Ok(Some(Line::Text(text))) => text,
        };
        if number == 1 {
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
            return Err(bad(number, "expected two tab-separated columns".into()));
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
pub(crate) fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
