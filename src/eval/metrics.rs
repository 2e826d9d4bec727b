//! Ranking metrics of per-seller recommendation lists against held-out products: Recall@K,
//! NDCG@K and HitRate@K (means over sellers with their standard errors) and catalogue
//! coverage@K.

use std::collections::{BTreeMap, HashMap, HashSet};

/// A mean over sellers and its standard error (sample standard deviation / √n; 0 below two
/// sellers).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Mean {
    /// The mean.
    pub mean: f64,
    /// Its standard error.
    pub se: f64,
}

impl Mean {
    fn of(values: &[f64]) -> Mean {
        let n = values.len() as f64;
        if values.is_empty() {
            return Mean::default();
        }
        let mean = values.iter().sum::<f64>() / n;
        let se = if values.len() < 2 {
            0.0
        } else {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
            (var / n).sqrt()
        };
        Mean { mean, se }
    }
}

/// The metrics at one cutoff K.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AtK {
    /// The cutoff.
    pub k: usize,
    /// |top-K ∩ held-out| / |held-out|.
    pub recall: Mean,
    /// DCG@K with binary relevance over the ideal DCG of min(K, |held-out|) hits.
    pub ndcg: Mean,
    /// 1 when top-K holds at least one held-out product.
    pub hit: Mean,
    /// |∪ top-K over the evaluated sellers| / catalogue size.
    pub coverage: f64,
}

/// Metrics of one ranking, per K.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Metrics {
    /// Sellers with at least one held-out product: the population every mean is over.
    pub sellers: usize,
    /// One entry per K, in the order the Ks were given.
    pub at: Vec<AtK>,
}

impl Metrics {
    /// Flat `name@K` → value map for a JSON object: `recall@20`, `recall@20_se`, `ndcg@20`,
    /// `ndcg@20_se`, `hit@20`, `hit@20_se`, `coverage@20`, plus `sellers`.
    pub(crate) fn to_map(&self) -> BTreeMap<String, f64> {
        let mut map = BTreeMap::new();
        map.insert("sellers".to_owned(), self.sellers as f64);
        for at in &self.at {
            let k = at.k;
            for (name, m) in [("recall", at.recall), ("ndcg", at.ndcg), ("hit", at.hit)] {
                map.insert(format!("{name}@{k}"), m.mean);
                map.insert(format!("{name}@{k}_se"), m.se);
            }
            map.insert(format!("coverage@{k}"), at.coverage);
        }
        map
    }
}

/// Scores ranked lists (`ranked[seller]`, best first, distinct items) against `heldout`.
///
/// Every seller with at least one held-out product counts; one without a list counts as zero.
/// Sellers without held-out products are skipped, list or not. Coverage is over the evaluated
/// sellers' lists, the same population as the means; `catalogue` is the number of candidate
/// items (coverage is 0 when it is 0).
pub(crate) fn evaluate(
    ranked: &HashMap<u32, Vec<u32>>,
    heldout: &HashMap<u32, HashSet<u32>>,
    ks: &[usize],
    catalogue: usize,
) -> Metrics {
    // A fixed seller order makes the float sums, and so the output, reproducible.
    let mut sellers: Vec<u32> = heldout
        .iter()
        .filter(|(_, items)| !items.is_empty())
        .map(|(&s, _)| s)
        .collect();
    sellers.sort_unstable();
    let empty = Vec::new();
    let at = ks
        .iter()
        .map(|&k| {
            let mut recall = Vec::with_capacity(sellers.len());
            let mut ndcg = Vec::with_capacity(sellers.len());
            let mut hit = Vec::with_capacity(sellers.len());
            let mut covered: HashSet<u32> = HashSet::new();
            for s in &sellers {
                let truth = &heldout[s];
                let top = &ranked.get(s).unwrap_or(&empty)[..];
                let top = &top[..top.len().min(k)];
                covered.extend(top);
                let mut hits = 0usize;
                let mut dcg = 0.0;
                for (rank, item) in top.iter().enumerate() {
                    if truth.contains(item) {
                        hits += 1;
                        dcg += discount(rank);
                    }
                }
                let ideal: f64 = (0..k.min(truth.len())).map(discount).sum();
                recall.push(hits as f64 / truth.len() as f64);
                ndcg.push(if ideal > 0.0 { dcg / ideal } else { 0.0 });
                hit.push(if hits > 0 { 1.0 } else { 0.0 });
            }
            AtK {
                k,
                recall: Mean::of(&recall),
                ndcg: Mean::of(&ndcg),
                hit: Mean::of(&hit),
                coverage: if catalogue == 0 {
                    0.0
                } else {
                    covered.len() as f64 / catalogue as f64
                },
            }
        })
        .collect();
    Metrics {
        sellers: sellers.len(),
        at,
    }
}

/// The DCG discount of a 0-based rank.
fn discount(rank: usize) -> f64 {
    1.0 / (rank as f64 + 2.0).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn held(pairs: &[(u32, &[u32])]) -> HashMap<u32, HashSet<u32>> {
        pairs
            .iter()
            .map(|&(s, items)| (s, items.iter().copied().collect()))
            .collect()
    }

    #[test]
    fn hand_computed_case() {
        // Seller 1: held-out {10, 20}; list hits at ranks 0 and 2.
        // Seller 2: held-out {30}; list misses in the top 2, hits at rank 2.
        // Seller 3: held-out {40}; no list at all → zeros.
        // Seller 4: nothing held out → skipped even though it has a list.
        let ranked: HashMap<u32, Vec<u32>> = [
            (1, vec![10, 11, 20, 12]),
            (2, vec![31, 32, 30]),
            (4, vec![99, 98]),
        ]
        .into_iter()
        .collect();
        let heldout = held(&[(1, &[10, 20]), (2, &[30]), (3, &[40]), (4, &[])]);
        let m = evaluate(&ranked, &heldout, &[2, 3], 50);
        assert_eq!(m.sellers, 3);

        let at2 = &m.at[0];
        assert_eq!(at2.k, 2);
        assert!(close(at2.recall.mean, (0.5 + 0.0 + 0.0) / 3.0));
        // Seller 1: DCG = 1, ideal = 1 + 1/log2(3).
        let s1 = 1.0 / (1.0 + 1.0 / 3f64.log2());
        assert!(close(at2.ndcg.mean, s1 / 3.0), "{}", at2.ndcg.mean);
        assert!(close(at2.hit.mean, 1.0 / 3.0));
        // Top-2 of sellers 1 and 2 only (seller 4 is not evaluated): {10, 11, 31, 32}.
        assert!(close(at2.coverage, 4.0 / 50.0));

        let at3 = &m.at[1];
        assert!(close(at3.recall.mean, (1.0 + 1.0 + 0.0) / 3.0));
        let s1 = (1.0 + 0.5) / (1.0 + 1.0 / 3f64.log2());
        let s2 = 0.5; // 1/log2(4) over an ideal of 1
        assert!(close(at3.ndcg.mean, (s1 + s2) / 3.0), "{}", at3.ndcg.mean);
        assert!(close(at3.hit.mean, 2.0 / 3.0));
        // Recall values 1, 1, 0: sd = √(1/3), se = sd/√3 = 1/3.
        assert!(close(at3.recall.se, 1.0 / 3.0), "{}", at3.recall.se);
    }

    #[test]
    fn k_larger_than_the_list_and_perfect_ranking() {
        let ranked: HashMap<u32, Vec<u32>> = [(7, vec![1, 2])].into_iter().collect();
        let heldout = held(&[(7, &[1, 2])]);
        let m = evaluate(&ranked, &heldout, &[100], 4);
        let at = &m.at[0];
        assert!(close(at.recall.mean, 1.0));
        assert!(close(at.ndcg.mean, 1.0));
        assert!(close(at.hit.mean, 1.0));
        assert!(close(at.coverage, 0.5));
        assert_eq!(at.recall.se, 0.0, "one seller has no spread");
    }

    #[test]
    fn ideal_dcg_is_capped_by_k() {
        // Three held-out items, K = 1, a hit at rank 0: NDCG is 1 although recall is 1/3.
        let ranked: HashMap<u32, Vec<u32>> = [(1, vec![5, 6, 7])].into_iter().collect();
        let m = evaluate(&ranked, &held(&[(1, &[5, 6, 7])]), &[1], 10);
        assert!(close(m.at[0].ndcg.mean, 1.0));
        assert!(close(m.at[0].recall.mean, 1.0 / 3.0));
    }

    #[test]
    fn empty_inputs_give_zeros_not_nan() {
        let m = evaluate(&HashMap::new(), &HashMap::new(), &[10], 0);
        assert_eq!(m.sellers, 0);
        let map = m.to_map();
        assert!(map.values().all(|v| *v == 0.0), "{map:?}");

        let ranked: HashMap<u32, Vec<u32>> = [(1, vec![])].into_iter().collect();
        let m = evaluate(&ranked, &held(&[(1, &[3])]), &[10], 10);
        assert_eq!(m.sellers, 1);
        assert_eq!(m.at[0].recall.mean, 0.0);
        assert_eq!(m.at[0].coverage, 0.0);
    }

    #[test]
    fn map_keys_are_json_ready() {
        let ranked: HashMap<u32, Vec<u32>> = [(1, vec![3])].into_iter().collect();
        let map = evaluate(&ranked, &held(&[(1, &[3])]), &[20], 10).to_map();
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "coverage@20",
                "hit@20",
                "hit@20_se",
                "ndcg@20",
                "ndcg@20_se",
                "recall@20",
                "recall@20_se",
                "sellers"
            ]
        );
        assert_eq!(map["recall@20"], 1.0);
    }
}
