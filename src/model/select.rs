//! The graph model's final score `σ(α·cos + w₁·link₁ + w₂·link₂ + w₃·cat + β)`, chosen on
//! validation products carved out of the training listings (cold, as the high-demand products
//! are).
//!
//! Structures of a small grid are tried on the validation products' ranking, in two rounds.
//! First: which co-purchase relation the link features walk (the pair strength and the
//! partner cap of [`crate::copurchase::Rule`]), how the two link terms mix, and how much the
//! encoder's cosine counts against them (from nothing to almost everything, and the cosine
//! alone). Then, around the best of those: how much the category term
//! ([`crate::affinity`]) counts, with the cosine's weight tried again. The best by
//! Recall@100 wins, Recall@20 breaking ties (structures within one standard error of the
//! best); then its one combined logit is calibrated by logistic regression, so 0.5 stays the
//! threshold.
//!
//! The grid contains the co-purchase baselines themselves — the cosine weighted 0 and the
//! link terms mixed as a baseline mixes them ranks exactly as that baseline — so the score
//! can lose to one of its parts only by the noise of the validation ranking.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::copurchase::{Rule, Strength};
use crate::features::calibrate;

/// How the score's structure and weights are chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreOptions {
    /// The link features' pair strength (`None`: each strength the counts tell apart).
    pub strength: Option<Strength>,
    /// The link features' partner cap (`None`: all partners, and the encoder's cap; 0: all).
    pub link_cap: Option<u32>,
    /// Choose the structure and weights by validation recall; otherwise the weights are the
    /// plain likelihood fit on the first structure (the ablation without selection).
    pub select: bool,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            strength: None,
            link_cap: None,
            select: true,
        }
    }
}

impl ScoreOptions {
    /// The link relations to try, given the graph's threshold, the encoder's cap and whether
    /// the counts vary (if not, every strength weighs pairs alike: presence stands for all).
    pub(crate) fn rules(&self, threshold: u64, encoder_cap: u32, counts_vary: bool) -> Vec<Rule> {
        let strengths: Vec<Strength> = match (self.strength, counts_vary) {
            (Some(s), _) => vec![s],
            (None, false) => vec![Strength::Presence],
            (None, true) if !self.select => vec![Strength::default()],
            (None, true) => Strength::ALL.to_vec(),
        };
        let caps: Vec<u32> = match self.link_cap {
            Some(cap) => vec![cap],
            None if self.select && encoder_cap > 0 => vec![0, encoder_cap],
            None => vec![0],
        };
        strengths
            .iter()
            .flat_map(|&strength| {
                caps.iter().map(move |&cap| Rule {
                    threshold,
                    cap,
                    strength,
                })
            })
            .collect()
    }
}

/// Link-term mixes tried, `[w₁, w₂]` in the features' own units: `[1, 0.1]` is the
/// `copurchase` baseline's damped two-step walk, `[1, 0]` the one-step walk.
const MIXES: [[f32; 2]; 6] = [
    [1.0, 0.0],
    [1.0, 0.1],
    [1.0, 0.3],
    [1.0, 1.0],
    [0.3, 1.0],
    [0.0, 1.0],
];

/// Weights of the standardised cosine against the standardised link mix (0: links alone).
const COSINE_WEIGHTS: [f32; 8] = [0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0];

/// Weights of the standardised category term against the standardised link mix.
const CATEGORY_WEIGHTS: [f32; 6] = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0];

/// The validation products' ranking, one row per seller.
pub(crate) struct Rankings {
    /// Per seller, the cosine of every validation product (all rows the same length).
    pub cosine: Vec<Vec<f32>>,
    /// Per link relation tried, per seller: `(product index, link₁, link₂)` of its linked
    /// products.
    pub links: Vec<Vec<Vec<(u32, f32, f32)>>>,
    /// Per seller, the category term of every validation product (no rows: no categories).
    pub category: Vec<Vec<f32>>,
    /// Per seller, the indices of its held-out (positive) products, ascending.
    pub positives: Vec<Vec<u32>>,
    /// Per product index, a tie-break (a hash of the product, never its place in the id
    /// order).
    pub ties: Vec<u64>,
}

impl Rankings {
    fn products(&self) -> usize {
        self.ties.len()
    }

    /// Each seller's recall in its top `cutoffs` under raw weights `[cos, link₁, link₂, cat]`
    /// over relation `relation` (`None`: no links).
    fn recalls(&self, relation: Option<usize>, w: [f32; 4], cutoffs: [usize; 2]) -> Vec<[f64; 2]> {
        let n = self.products();
        let deepest = cutoffs[0].max(cutoffs[1]).min(n);
        (0..self.cosine.len())
            .into_par_iter()
            .map(|i| {
                let mut scores: Vec<f32> = self.cosine[i].iter().map(|&c| w[0] * c).collect();
                if let Some(r) = relation {
                    for &(j, l1, l2) in &self.links[r][i] {
                        scores[j as usize] += w[1] * l1 + w[2] * l2;
                    }
                }
                if w[3] != 0.0 {
                    for (score, c) in scores.iter_mut().zip(&self.category[i]) {
                        *score += w[3] * c;
                    }
                }
                let order = top(&scores, &self.ties, deepest);
                let positives = &self.positives[i];
                let total = positives.len().max(1) as f64;
                let hits = |k: usize| {
                    order[..k.min(order.len())]
                        .iter()
                        .filter(|j| positives.binary_search(j).is_ok())
                        .count() as f64
                };
                [hits(cutoffs[0]) / total, hits(cutoffs[1]) / total]
            })
            .collect()
    }

    /// Mean recall at the @100 cutoff of `cutoffs` of the cosine alone.
    pub(crate) fn cosine_recall(&self, cutoffs: [usize; 2]) -> f64 {
        let recalls = self.recalls(None, [1.0, 0.0, 0.0, 0.0], cutoffs);
        recalls.iter().map(|r| r[0]).sum::<f64>() / recalls.len().max(1) as f64
    }

    /// Standard deviation over every (seller, product) of the cosine.
    fn cosine_sd(&self) -> f32 {
        sd(self.cosine.iter().flatten().copied(), self.examples())
    }

    /// Standard deviation over every (seller, product) of the category term.
    fn category_sd(&self) -> f32 {
        sd(self.category.iter().flatten().copied(), self.examples())
    }

    /// Standard deviation over every (seller, product) of a link mix (0 where unlinked).
    fn links_sd(&self, relation: usize, mix: [f32; 2]) -> f32 {
        let linked = self.links[relation]
            .iter()
            .flatten()
            .map(|&(_, l1, l2)| mix[0] * l1 + mix[1] * l2);
        sd(linked, self.examples())
    }

    fn examples(&self) -> usize {
        self.cosine.len() * self.products()
    }
}

/// The first `k` products of the ranking by `scores` (descending; on equal scores by `ties`,
/// then by index), in ranking order. A short head (the validation's cut-offs are a handful of
/// its products) is kept in one pass that compares most products with its last entry only:
/// partitioning every product for each seller and structure was most of the selection's time.
fn top(scores: &[f32], ties: &[u64], k: usize) -> Vec<u32> {
    let cmp = |a: &u32, b: &u32| {
        let (a, b) = (*a as usize, *b as usize);
        scores[b]
            .total_cmp(&scores[a])
            .then(ties[a].cmp(&ties[b]))
            .then(a.cmp(&b))
    };
    let n = scores.len();
    let k = k.min(n);
    if k * SHORT_HEAD > n {
        let mut order: Vec<u32> = (0..n as u32).collect();
        if k < n && k > 0 {
            order.select_nth_unstable_by(k - 1, cmp);
            order.truncate(k);
        }
        order.sort_unstable_by(cmp);
        return order;
    }
    let mut head: Vec<u32> = Vec::with_capacity(k + 1);
    for j in 0..n as u32 {
        if head.len() == k && head.last().is_none_or(|last| cmp(&j, last).is_ge()) {
            continue;
        }
        let at = head.partition_point(|h| cmp(h, &j).is_lt());
        head.insert(at, j);
        head.truncate(k);
    }
    head
}

/// A head of at most one product in this many is kept by insertion (each insertion shifts up to
/// `k` entries); a longer one by partitioning.
const SHORT_HEAD: usize = 16;

/// Standard deviation of `n` values, of which `values` are the nonzero ones.
fn sd(values: impl Iterator<Item = f32>, n: usize) -> f32 {
    let (mut sum, mut squares) = (0f64, 0f64);
    for v in values {
        sum += f64::from(v);
        squares += f64::from(v) * f64::from(v);
    }
    let n = n.max(1) as f64;
    let mean = sum / n;
    ((squares / n - mean * mean).max(0.0)).sqrt() as f32
}

/// One structure tried on validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tried {
    /// The link relation (`None`: the cosine alone).
    pub(crate) rule: Option<Rule>,
    /// Weight of the standardised cosine against the standardised link mix.
    pub(crate) cosine: f32,
    /// `[w₁, w₂]`: how link₁ and link₂ mix, in their own units.
    pub(crate) mix: [f32; 2],
    /// Weight of the standardised category term against the standardised link mix.
    pub(crate) category: f32,
    /// Mean validation recall at the two cut-offs (standing for @100 and @20).
    pub recall: [f64; 2],
    /// Whether this is the structure the score uses.
    pub chosen: bool,
}

impl Tried {
    /// The structure in words, e.g. `0.25·cos + link₁ + 0.1·link₂ (log strength, …)`.
    pub fn describe(&self) -> String {
        let Some(rule) = self.rule else {
            return match self.category {
                0.0 => "cosine alone".into(),
                c => format!("{}·cos + {c}·cat", self.cosine),
            };
        };
        let mut terms = Vec::new();
        if self.cosine > 0.0 {
            terms.push(format!("{}·cos", self.cosine));
        }
        for (w, name) in self.mix.iter().zip(["link₁", "link₂"]) {
            match *w {
                0.0 => {}
                1.0 => terms.push(name.to_string()),
                w => terms.push(format!("{w}·{name}")),
            }
        }
        if self.category > 0.0 {
            terms.push(format!("{}·cat", self.category));
        }
        format!("{} ({rule})", terms.join(" + "))
    }
}

/// The chosen score and how it was chosen; stored with the model generation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// The link features' relation.
    pub(crate) rule: Rule,
    /// `[α, w₁, w₂, w₃, β]` of `σ(α·cos + w₁·link₁ + w₂·link₂ + w₃·cat + β)`.
    pub score: [f32; 5],
    /// Per relation tried (and the cosine alone), its best structure; the chosen one marked.
    pub table: Vec<Tried>,
    /// Validation products ranked.
    pub products: usize,
    /// Sellers whose rankings were measured.
    pub sellers: usize,
    /// The cut-offs in the validation ranking that stand for @100 and @20 among the
    /// candidates (the same share of the ranking).
    pub cutoffs: [usize; 2],
    /// Structures tried in all.
    pub tried: usize,
}

impl Selection {
    /// The score `σ(α·cos + β)` without link or category terms, chosen on nothing (no
    /// validation products).
    pub(crate) fn cosine_only(alpha: f32, beta: f32) -> Selection {
        Selection {
            score: [alpha, 0.0, 0.0, 0.0, beta],
            ..Selection::default()
        }
    }

    /// Whether the score has a link term (its relation's lists must then be stored).
    pub(crate) fn uses_links(&self) -> bool {
        self.score[1] != 0.0 || self.score[2] != 0.0
    }
}

/// How much of a ranking of `validation` products stands for the top `k` among
/// `candidates`: the same share, ⌈k · validation / candidates⌉, between 1 and k.
pub(crate) fn cutoff(k: usize, validation: usize, candidates: usize) -> usize {
    (k * validation).div_ceil(candidates.max(1)).clamp(1, k)
}

/// A candidate structure in raw weights.
struct Candidate {
    relation: Option<usize>,
    cosine: f32,
    mix: [f32; 2],
    category: f32,
    raw: [f32; 4],
    recalls: Vec<[f64; 2]>,
}

impl Candidate {
    fn mean(&self, at: usize) -> f64 {
        self.recalls.iter().map(|r| r[at]).sum::<f64>() / self.recalls.len().max(1) as f64
    }
}

/// Chooses the score over `rules` (the relations whose features `rankings.links` holds) and
/// calibrates it on `examples`: `None` without a seller or a positive.
pub(crate) fn select(
    rankings: &Rankings,
    rules: &[Rule],
    opts: &ScoreOptions,
    cutoffs: [usize; 2],
) -> Option<Selection> {
    if rankings.cosine.is_empty() || rankings.positives.iter().all(Vec::is_empty) {
        return None;
    }
    let cos_sd = match rankings.cosine_sd() {
        sd if sd > 0.0 => sd,
        _ => 1.0,
    };
    let cat_sd = rankings.category_sd();
    let mut candidates = Vec::new();
    let add = |c: Candidate, candidates: &mut Vec<Candidate>| {
        let recalls = rankings.recalls(c.relation, c.raw, cutoffs);
        candidates.push(Candidate { recalls, ..c });
    };
    if opts.select {
        let alone = Candidate {
            relation: None,
            cosine: 1.0,
            mix: [0.0; 2],
            category: 0.0,
            raw: [1.0 / cos_sd, 0.0, 0.0, 0.0],
            recalls: Vec::new(),
        };
        add(alone, &mut candidates);
        for r in 0..rules.len() {
            for mix in MIXES {
                let link_sd = rankings.links_sd(r, mix);
                if link_sd <= 0.0 {
                    continue;
                }
                for a in COSINE_WEIGHTS {
                    let c = Candidate {
                        relation: Some(r),
                        cosine: a,
                        mix,
                        category: 0.0,
                        raw: [a / cos_sd, mix[0] / link_sd, mix[1] / link_sd, 0.0],
                        recalls: Vec::new(),
                    };
                    add(c, &mut candidates);
                }
            }
        }
        // The category term around the best so far, with the cosine's weight tried again.
        let base = choose(&candidates, |_| true)?;
        let (relation, mix) = (candidates[base].relation, candidates[base].mix);
        let link_sd = relation.map_or(1.0, |r| rankings.links_sd(r, mix));
        let links = [mix[0] / link_sd, mix[1] / link_sd];
        for b in CATEGORY_WEIGHTS.into_iter().filter(|_| cat_sd > 0.0) {
            for a in COSINE_WEIGHTS {
                // Without links the category term's weight is against the cosine's.
                let a = if relation.is_none() { a.max(1.0) } else { a };
                let c = Candidate {
                    relation,
                    cosine: a,
                    mix,
                    category: b,
                    raw: [a / cos_sd, links[0], links[1], b / cat_sd],
                    recalls: Vec::new(),
                };
                add(c, &mut candidates);
            }
        }
    } else {
        // The likelihood fit of the four weights on the first relation.
        let relation = (!rules.is_empty()).then_some(0);
        let w = likelihood(rankings, relation)?;
        let c = Candidate {
            relation,
            cosine: 1.0,
            mix: [w[1], w[2]],
            category: w[3],
            raw: w,
            recalls: Vec::new(),
        };
        add(c, &mut candidates);
    }
    let chosen = choose(&candidates, |_| true)?;
    let mut table: Vec<usize> = (0..=rules.len())
        .filter_map(|r| {
            let relation = r.checked_sub(1);
            choose(&candidates, |c| c.relation == relation)
        })
        .collect();
    if !table.contains(&chosen) {
        table.push(chosen);
    }
    let best = &candidates[chosen];
    let [a, b] = calibrate_logit(rankings, best)?;
    let w = best.raw;
    Some(Selection {
        rule: best.relation.map(|r| rules[r]).unwrap_or_default(),
        score: [a * w[0], a * w[1], a * w[2], a * w[3], b],
        table: table
            .into_iter()
            .map(|i| {
                let c = &candidates[i];
                Tried {
                    rule: c.relation.map(|r| rules[r]),
                    cosine: c.cosine,
                    mix: c.mix,
                    category: c.category,
                    recall: [c.mean(0), c.mean(1)],
                    chosen: i == chosen,
                }
            })
            .collect(),
        products: rankings.products(),
        sellers: rankings.cosine.len(),
        cutoffs,
        tried: candidates.len(),
    })
}

/// Among the candidates `within` accepts: the best mean recall at the first cut-off; of
/// those within one standard error of it (the one-standard-error rule: closer is noise), the
/// best at the second; the first in grid order on exact ties.
fn choose(candidates: &[Candidate], within: impl Fn(&Candidate) -> bool) -> Option<usize> {
    let pool: Vec<usize> = (0..candidates.len())
        .filter(|&i| within(&candidates[i]))
        .collect();
    let better = |i: usize, j: usize, at: usize| candidates[i].mean(at) > candidates[j].mean(at);
    let best = pool
        .iter()
        .copied()
        .reduce(|b, i| if better(i, b, 0) { i } else { b })?;
    let recalls = &candidates[best].recalls;
    let n = recalls.len() as f64;
    let mean = candidates[best].mean(0);
    let var = recalls.iter().map(|r| (r[0] - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let floor = mean - (var / n.max(1.0)).sqrt();
    pool.iter()
        .copied()
        .filter(|&i| candidates[i].mean(0) >= floor)
        .reduce(|b, i| if better(i, b, 1) { i } else { b })
}

/// The weighted examples of the fits: every positive, and an even spread of at most
/// `NEGATIVES` negatives per seller, each class weighing 1 per seller — the same objective as
/// all pairs in expectation, with a bounded number of examples. `(seller, product, label,
/// weight)`.
fn examples(rankings: &Rankings) -> Vec<(usize, usize, bool, f32)> {
    const NEGATIVES: usize = 200;
    let n = rankings.products();
    let mut out = Vec::new();
    for (i, positives) in rankings.positives.iter().enumerate() {
        let neg = n - positives.len();
        let step = neg.div_ceil(NEGATIVES).max(1);
        let kept = neg.div_ceil(step).max(1) as f32;
        let wp = 1.0 / positives.len().max(1) as f32;
        out.extend(positives.iter().map(|&j| (i, j as usize, true, wp)));
        out.extend(
            (0..n)
                .filter(|j| positives.binary_search(&(*j as u32)).is_err())
                .step_by(step)
                .map(|j| (i, j, false, 1.0 / kept)),
        );
    }
    out
}

/// `[cos, link₁, link₂, cat]` of each example over relation `relation`.
fn features(rankings: &Rankings, relation: Option<usize>) -> Vec<([f32; 4], bool, f32)> {
    examples(rankings)
        .into_iter()
        .map(|(i, j, label, weight)| {
            let [l1, l2] = relation
                .and_then(|r| {
                    let row = &rankings.links[r][i];
                    row.binary_search_by_key(&(j as u32), |e| e.0)
                        .ok()
                        .map(|k| [row[k].1, row[k].2])
                })
                .unwrap_or_default();
            let cat = rankings.category.get(i).map_or(0.0, |row| row[j]);
            ([rankings.cosine[i][j], l1, l2, cat], label, weight)
        })
        .collect()
}

/// The likelihood fit of `[cos, link₁, link₂, cat]` (the weights only; the intercept is
/// refitted with the slope by [`calibrate_logit`]).
fn likelihood(rankings: &Rankings, relation: Option<usize>) -> Option<[f32; 4]> {
    let w = calibrate::fit_logistic(&features(rankings, relation))?;
    Some([w[0], w[1], w[2], w[3]])
}

/// Slope and intercept of `σ(a·z + b)` over the candidate's combined logit `z`.
fn calibrate_logit(rankings: &Rankings, c: &Candidate) -> Option<[f32; 2]> {
    let rows: Vec<([f32; 1], bool, f32)> = features(rankings, c.relation)
        .into_iter()
        .map(|(f, label, weight)| {
            let z: f32 = c.raw.iter().zip(f).map(|(w, x)| w * x).sum();
            ([z], label, weight)
        })
        .collect();
    let w = calibrate::fit_logistic(&rows)?;
    Some([w[0], w[1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 40 sellers ranking 30 products: positives are two of the four products a link points
    /// at, plus (for a third of the sellers, when `cosine_informative`) the one product the
    /// cosine points at; tie-break hashes are arbitrary.
    fn rankings(cosine_informative: bool) -> Rankings {
        let n = 30;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut cosine = Vec::new();
        let mut links = Vec::new();
        let mut positives = Vec::new();
        for i in 0..40u32 {
            let linked: Vec<u32> = (0..4).map(|k| (i * 7 + k * 5) % n).collect();
            let similar = [(i * 11 + 1) % n];
            let mut pos: Vec<u32> = linked[..2].to_vec();
            if cosine_informative && i % 3 == 0 {
                pos.push(similar[0]);
            }
            pos.sort_unstable();
            pos.dedup();
            let row: Vec<f32> = (0..n)
                .map(|j| {
                    let noise = (next() % 1000) as f32 / 10_000.0;
                    match similar.contains(&j) && cosine_informative {
                        true => 0.5 + noise,
                        false => noise,
                    }
                })
                .collect();
            let mut l: Vec<(u32, f32, f32)> = linked
                .iter()
                .enumerate()
                .map(|(k, &j)| (j, if k < 2 { 1.0 } else { 0.2 }, 0.1))
                .collect();
            l.sort_unstable_by_key(|e| e.0);
            l.dedup_by_key(|e| e.0);
            cosine.push(row);
            links.push(l);
            positives.push(pos);
        }
        let ties = (0..n).map(|j| u64::from(j) * 0x9e37_79b9).collect();
        Rankings {
            cosine,
            links: vec![links],
            category: Vec::new(),
            positives,
            ties,
        }
    }

    fn rule() -> Rule {
        Rule {
            threshold: 1,
            cap: 0,
            strength: Strength::Log,
        }
    }

    #[test]
    fn selection_keeps_the_links_when_the_cosine_tells_nothing() {
        let r = rankings(false);
        let s = select(&r, &[rule()], &ScoreOptions::default(), [3, 2]).unwrap();
        let chosen = s.table.iter().find(|t| t.chosen).unwrap();
        assert_eq!(chosen.rule, Some(rule()));
        // The links alone find both positives of every seller in its top 2.
        assert!((chosen.recall[1] - 1.0).abs() < 1e-9, "{chosen:?}");
        // The calibrated score increases with the direct link.
        assert!(s.score[1] > 0.0);
        // A row for the cosine alone, and one for the relation.
        assert_eq!(s.table.len(), 2);
        let alone = s.table.iter().find(|t| t.rule.is_none()).unwrap();
        assert!(alone.recall[0] < chosen.recall[0]);
    }

    #[test]
    fn selection_adds_the_cosine_where_it_finds_positives_the_links_miss() {
        let r = rankings(true);
        let s = select(&r, &[rule()], &ScoreOptions::default(), [3, 2]).unwrap();
        let chosen = s.table.iter().find(|t| t.chosen).unwrap();
        assert!(chosen.cosine > 0.0 && chosen.rule.is_some(), "{chosen:?}");
        assert!(s.score[0] > 0.0 && s.score[1] > 0.0);
        // The recall measured is the recall the stored weights give.
        let again = r.recalls(Some(0), [s.score[0], s.score[1], s.score[2], 0.0], [3, 2]);
        let mean = again.iter().map(|x| x[0]).sum::<f64>() / again.len() as f64;
        assert!((mean - chosen.recall[0]).abs() < 1e-9);
    }

    #[test]
    fn without_selection_the_weights_are_the_likelihood_fit() {
        let r = rankings(true);
        let opts = ScoreOptions {
            select: false,
            ..ScoreOptions::default()
        };
        let s = select(&r, &[rule()], &opts, [3, 2]).unwrap();
        assert_eq!(s.tried, 1);
        assert_eq!(s.table.len(), 1);
        assert!(s.table[0].chosen && s.table[0].rule == Some(rule()));
        assert!(s.score[0] > 0.0 && s.score[1] > 0.0);
        // The likelihood fit itself, recalibrated: the same direction as a direct fit.
        let w = likelihood(&r, Some(0)).unwrap();
        let ratio = |a: [f32; 4], b: [f32; 5]| (a[1] / a[0], b[1] / b[0]);
        let (direct, stored) = ratio(w, s.score);
        assert!(
            (direct - stored).abs() < 1e-3 * direct.abs(),
            "{direct} vs {stored}"
        );
    }

    #[test]
    fn the_rules_tried_follow_the_options_and_the_counts() {
        let all = ScoreOptions::default();
        assert_eq!(all.rules(2, 50, true).len(), 6);
        // Without varying counts every strength is presence.
        let same = all.rules(1, 50, false);
        assert_eq!(same.len(), 2);
        assert!(same.iter().all(|r| r.strength == Strength::Presence));
        assert_eq!(all.rules(2, 0, true).len(), 3);
        let fixed = ScoreOptions {
            strength: Some(Strength::Count),
            link_cap: Some(0),
            select: true,
        };
        assert_eq!(
            fixed.rules(2, 50, true),
            [Rule {
                threshold: 2,
                cap: 0,
                strength: Strength::Count
            }]
        );
    }

    #[test]
    fn the_head_of_a_ranking_is_the_head_of_its_full_sort() {
        // Scores from a few values, so equal scores (broken by the hashes, some of them equal
        // too, then by index) are common.
        let n = 500;
        let scores: Vec<f32> = (0..n).map(|j| ((j * 37) % 11) as f32 * 0.5).collect();
        let ties: Vec<u64> = (0..n).map(|j| (j as u64 * 7919) % 13).collect();
        let mut full: Vec<u32> = (0..n as u32).collect();
        full.sort_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            scores[b]
                .total_cmp(&scores[a])
                .then(ties[a].cmp(&ties[b]))
                .then(a.cmp(&b))
        });
        // Short heads kept by insertion, long ones by partitioning, and past the end.
        for k in [0, 1, 2, 5, 31, 32, 100, 499, 500, 600] {
            assert_eq!(top(&scores, &ties, k), full[..k.min(n)], "k = {k}");
        }
    }

    #[test]
    fn the_cutoff_is_the_same_share_of_the_validation_ranking() {
        // Magazines: 90 validation products, 202 candidates: the top 9 stand for 20.
        assert_eq!(cutoff(20, 90, 202), 9);
        assert_eq!(cutoff(100, 90, 202), 45);
        // A large marketplace: never below 1; more validation products than candidates: k.
        assert_eq!(cutoff(20, 2_000, 100_000), 1);
        assert_eq!(cutoff(20, 500, 100), 20);
    }
}
