//! "A vector per node, from whichever model is active": the one place that knows where the
//! active model keeps its seller and product vectors and how it turns similarity into a score.
//! Index, recommend and inspect read vectors only through [`ActiveModel`].

use crate::features::ContentModel;
use crate::features::calibrate::sigmoid;
use crate::model::GraphModel;
use crate::store::{CONTENT_GENERATION, Id, ModelRecord, Namespace, Result, Store, StoreError};

/// The model whose vectors serve retrieval.
#[derive(Clone, Debug)]
pub struct ActiveModel {
    /// Model generation (0 = the content model: text vectors and view-weighted seller means).
    pub(crate) generation: u32,
    /// Maps cosine similarity to a probability.
    pub(crate) calibration: ContentModel,
    /// Weights of the co-purchase link features ([`crate::copurchase`]) and of the category
    /// term ([`crate::affinity`]) in the score; 0 for the content model.
    pub(crate) weights: [f32; 3],
}

impl ActiveModel {
    /// The active model — the trained graph model if there is one, else the content model —
    /// or `None` before featurize has run.
    pub fn load(store: &Store) -> Result<Option<ActiveModel>> {
        let graph = match store.model::<GraphModel>(ModelRecord::Graph) {
            Err(StoreError::Corrupt { cf, key, reason }) => {
                return Err(StoreError::Corrupt {
                    cf,
                    key,
                    reason: format!(
                        "{reason} (the graph model was written by a build with another layout \
                         of it: retrain with `demandlink train --full`)"
                    ),
                });
            }
            other => other?,
        };
        if let Some(graph) = graph {
            let [alpha, w1, w2, w3, beta] = graph.selection.score;
            return Ok(Some(ActiveModel {
                generation: graph.generation,
                calibration: ContentModel {
                    alpha,
                    beta,
                    positives: 0,
                    negatives: 0,
                },
                weights: [w1, w2, w3],
            }));
        }
        Self::content(store)
    }

    /// The content model (text vectors and view-weighted seller means), whichever model is
    /// active; `None` before featurize has run.
    pub(crate) fn content(store: &Store) -> Result<Option<ActiveModel>> {
        Ok(store
            .model::<ContentModel>(ModelRecord::Content)?
            .map(|calibration| ActiveModel {
                generation: CONTENT_GENERATION,
                calibration,
                weights: [0.0; 3],
            }))
    }

    /// A human name for messages and reports.
    pub fn name(&self) -> String {
        match self.generation {
            CONTENT_GENERATION => "content".into(),
            g => format!("graph#{g}"),
        }
    }

    /// A seller's vector.
    pub fn seller(&self, store: &Store, seller: Id) -> Result<Option<Vec<f32>>> {
        store.embedding(self.generation, Namespace::Seller, seller)
    }

    /// A product's vector.
    pub(crate) fn product(&self, store: &Store, product: Id) -> Result<Option<Vec<f32>>> {
        if self.generation == CONTENT_GENERATION {
            Ok(store.feature(product)?.map(|f| f.vector))
        } else {
            store.embedding(self.generation, Namespace::Product, product)
        }
    }

    /// Calls `f(id, vector)` for every product vector of the model.
    pub fn for_each_product(&self, store: &Store, mut f: impl FnMut(Id, Vec<f32>)) -> Result<()> {
        if self.generation == CONTENT_GENERATION {
            store.for_each_feature(|id, feat| f(id, feat.vector))
        } else {
            store.for_each_embedding(self.generation, Namespace::Product, f)
        }
    }

    /// Calls `f(id, vector)` for every seller vector of the model.
    pub(crate) fn for_each_seller(&self, store: &Store, f: impl FnMut(Id, Vec<f32>)) -> Result<()> {
        store.for_each_embedding(self.generation, Namespace::Seller, f)
    }

    /// Whether scores depend on co-purchase links as well as on the cosine.
    pub(crate) fn uses_links(&self) -> bool {
        self.weights[0] != 0.0 || self.weights[1] != 0.0
    }

    /// Whether scores depend on the category term.
    pub(crate) fn uses_category(&self) -> bool {
        self.weights[2] != 0.0
    }

    /// The cosine below which a product without co-purchase links or category term scores
    /// under `threshold` (`None` when every cosine can reach it, or no cosine can tell: a
    /// threshold outside (0, 1) or a non-increasing fitted score). A hair lower than exact,
    /// so rounding never drops a product that reaches the threshold.
    pub(crate) fn min_cosine(&self, threshold: f32) -> Option<f32> {
        let alpha = self.calibration.alpha;
        if !(threshold > 0.0 && threshold < 1.0 && alpha > 0.0) {
            return None;
        }
        let logit = (threshold / (1.0 - threshold)).ln();
        Some((logit - self.calibration.beta) / alpha - 1e-4)
    }

    /// Score in [0, 1] of a cosine similarity, the co-purchase link features and the category
    /// term.
    pub(crate) fn score(&self, cosine: f32, links: [f32; 2], category: f32) -> f32 {
        let [w1, w2, w3] = self.weights;
        let terms = w1 * links[0] + w2 * links[1] + w3 * category;
        sigmoid(self.calibration.alpha * cosine + terms + self.calibration.beta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(alpha: f32, beta: f32) -> ActiveModel {
        ActiveModel {
            generation: 3,
            calibration: ContentModel {
                alpha,
                beta,
                positives: 0,
                negatives: 0,
            },
            weights: [50.0, 200.0, 3.0],
        }
    }

    #[test]
    fn below_the_minimum_cosine_no_unlinked_product_reaches_the_threshold() {
        for (alpha, beta, threshold) in [(4.86, -0.93, 0.5), (2.38, -1.44, 0.5), (9.4, -1.0, 0.8)] {
            let m = model(alpha, beta);
            let min = m.min_cosine(threshold).unwrap();
            for i in 0..=2_000 {
                let cos = -1.0 + i as f32 / 1_000.0;
                if m.score(cos, [0.0, 0.0], 0.0) >= threshold {
                    assert!(cos >= min, "cos {cos} reaches {threshold} below {min}");
                }
            }
            // …and just above it one does: the bound is tight, not merely safe.
            assert!(m.score(min + 1e-3, [0.0, 0.0], 0.0) >= threshold);
        }
        // No bound when every cosine passes, or the fit is not increasing in the cosine.
        assert_eq!(model(4.0, -1.0).min_cosine(0.0), None);
        assert_eq!(model(-1.0, 0.5).min_cosine(0.5), None);
    }
}
