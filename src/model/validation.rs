//! The validation carve-out: the held-out products each seller ranks, read twice — after every
//! epoch, by the cosine alone, to decide when training stops helping (early stopping), and
//! once at the end, with the link and category terms, to choose the final score.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::graph::Graph;
use super::layer::Params;
use super::select::{Rankings, cutoff};
use super::train::Embeddings;
use crate::store::Id;

/// Sellers whose rankings choose the score and the epochs.
const SELLERS: usize = 5_000;

/// Who ranks what: the sellers with held listings (at most [`SELLERS`]), the held products
/// they rank, and each seller's positives among them.
pub(crate) struct Validation {
    /// Sellers (node ids, ascending) with their held products.
    pub sellers: Vec<(Id, Vec<Id>)>,
    /// Held products, ascending.
    pub products: Vec<Id>,
    /// Per seller, the indices of its positives in `products`, ascending.
    pub positives: Vec<Vec<u32>>,
    /// The ranking depths standing for @100 and @20 among the candidates ([`cutoff`]).
    pub cutoffs: [usize; 2],
}

impl Validation {
    /// The carve-out of the listing edges `held` (removed from the training graph `g`); `None`
    /// when no seller with other listings holds one.
    pub(crate) fn new(g: &Graph, held: &[(Id, Id)]) -> Option<Validation> {
        let mut products: Vec<Id> = held.iter().map(|&(_, p)| p).collect();
        products.sort_unstable();
        products.dedup();
        let mut by_seller: HashMap<Id, Vec<Id>> = HashMap::new();
        for &(s, p) in held {
            if g.lists.degree(s) > 0 {
                by_seller.entry(s).or_default().push(p);
            }
        }
        let mut sellers: Vec<(Id, Vec<Id>)> = by_seller.into_iter().collect();
        sellers.sort_unstable();
        sellers.truncate(SELLERS);
        if sellers.is_empty() {
            return None;
        }
        let index = |p: &Id| products.binary_search(p).ok().map(|j| j as u32);
        let positives = sellers
            .iter()
            .map(|(_, held)| {
                let mut js: Vec<u32> = held.iter().filter_map(index).collect();
                js.sort_unstable();
                js.dedup();
                js
            })
            .collect();
        // The products a recommendation can name: the high-demand list, or every product.
        let candidates = match g.high_demand.iter().filter(|&&h| h).count() {
            0 => g.products as usize,
            n => n,
        };
        let cutoffs = [100, 20].map(|k| cutoff(k, products.len(), candidates));
        Some(Validation {
            sellers,
            products,
            positives,
            cutoffs,
        })
    }

    /// The index of a held product.
    pub(crate) fn index(&self, p: Id) -> Option<u32> {
        self.products.binary_search(&p).ok().map(|j| j as u32)
    }

    /// The graph nodes whose output vectors the rankings read, ascending.
    pub(crate) fn targets(&self, g: &Graph) -> Vec<u32> {
        self.sellers
            .iter()
            .map(|&(s, _)| s)
            .chain(self.products.iter().map(|&p| g.product_node(p)))
            .collect()
    }

    /// Per seller, the cosine of every held product.
    pub(crate) fn cosine(&self, emb: &Embeddings) -> Vec<Vec<f32>> {
        self.sellers
            .par_iter()
            .map(|(s, _)| {
                let q = emb.seller(*s);
                self.products
                    .iter()
                    .map(|&p| q.dot(&emb.product(p)))
                    .collect()
            })
            .collect()
    }

    /// The rankings by `cosine` alone (no link or category terms yet).
    pub(crate) fn rankings(&self, cosine: Vec<Vec<f32>>) -> Rankings {
        Rankings {
            cosine,
            links: Vec::new(),
            category: Vec::new(),
            positives: self.positives.clone(),
            ties: self
                .products
                .iter()
                .map(|p| xxhash_rust::xxh3::xxh3_64(&p.to_le_bytes()))
                .collect(),
        }
    }

    /// Mean Recall@100 (at its cutoff) of the cosine alone: what an epoch is judged by.
    pub(crate) fn recall(&self, emb: &Embeddings) -> f64 {
        self.rankings(self.cosine(emb)).cosine_recall(self.cutoffs)
    }
}

/// How many epochs a training ran and why: the validation Recall@100 after each, the best
/// epoch and its dense weights (its identity rows are in the store), and whether it stopped
/// before its last epoch. Kept in `jobs` beside the training's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct EpochChoice {
    /// Epochs without a better validation Recall@100 after which training stops (`None`: the
    /// epochs are fixed).
    pub patience: Option<u32>,
    /// Validation Recall@100 of the cosine after each epoch.
    pub recalls: Vec<f64>,
    /// The best epoch (1-based; 0 before the first).
    pub best: u32,
    /// Whether training stopped before its last epoch.
    pub stopped: bool,
    /// The best epoch's dense weights, while training runs (dropped once the model is
    /// written).
    pub(crate) params: Option<Params>,
}

impl EpochChoice {
    /// A choice that has seen no epoch yet.
    pub(crate) fn new(patience: Option<u32>) -> EpochChoice {
        EpochChoice {
            patience,
            recalls: Vec::new(),
            best: 0,
            stopped: false,
            params: None,
        }
    }

    /// Records an epoch's validation recall with the weights it ended with; returns whether
    /// it is the best so far (strictly: a tie keeps the earlier, shorter training). Stops once
    /// `patience` epochs have passed without one.
    pub(crate) fn record(&mut self, recall: f64, params: &Params) -> bool {
        let best_recall = match self.best {
            0 => f64::NEG_INFINITY,
            b => self.recalls[b as usize - 1],
        };
        self.recalls.push(recall);
        let epoch = self.recalls.len() as u32;
        let improved = recall > best_recall;
        if improved {
            self.best = epoch;
            self.params = Some(params.clone());
        } else if self.patience.is_some_and(|p| epoch - self.best >= p) {
            self.stopped = true;
        }
        improved
    }

    /// Whether the weights the training ended with are not the best epoch's.
    pub(crate) fn went_past_best(&self) -> bool {
        self.best > 0 && (self.best as usize) < self.recalls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_stops_after_patience_epochs_without_a_better_recall_and_keeps_the_best() {
        let params = |x: f32| {
            let mut p = Params::zeros(&[2, 2], 2);
            p.tensors[0].data.fill(x);
            p
        };
        let mut c = EpochChoice::new(Some(2));
        assert!(c.record(0.30, &params(1.0)));
        assert!(c.record(0.35, &params(2.0)));
        // A tie is no improvement.
        assert!(!c.record(0.35, &params(3.0)));
        assert!(!c.stopped);
        assert!(!c.record(0.34, &params(4.0)));
        assert!(c.stopped, "two epochs without a better recall");
        assert_eq!(c.best, 2);
        assert_eq!(c.params, Some(params(2.0)));
        assert!(c.went_past_best());

        // Without patience it never stops; the best is still known.
        let mut fixed = EpochChoice::new(None);
        for r in [0.3, 0.2, 0.1, 0.05] {
            fixed.record(r, &params(0.0));
        }
        assert!(!fixed.stopped);
        assert_eq!(fixed.best, 1);
    }
}
