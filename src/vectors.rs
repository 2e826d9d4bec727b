//! "A vector per node, from whichever model is active": the one place that knows where the
//! active model keeps its seller and product vectors and how it turns similarity into a score.
//! Index, recommend and inspect read vectors only through [`ActiveModel`].

use crate::features::{CONTENT_GENERATION, ContentModel, calibrate::CONTENT_MODEL};
use crate::model::{GRAPH_MODEL, GraphModel};
use crate::store::{Id, Namespace, Result, Store};

/// The model whose vectors serve retrieval.
#[derive(Clone, Debug)]
pub struct ActiveModel {
    /// Model generation (0 = the content model: text vectors and view-weighted seller means).
    pub generation: u32,
    /// Maps cosine similarity to a probability.
    pub calibration: ContentModel,
}

impl ActiveModel {
    /// The active model — the trained graph model if there is one, else the content model —
    /// or `None` before featurize has run.
    pub fn load(store: &Store) -> Result<Option<ActiveModel>> {
        if let Some(graph) = store.model::<GraphModel>(GRAPH_MODEL)? {
            return Ok(Some(ActiveModel {
                generation: graph.generation,
                calibration: ContentModel {
                    alpha: graph.alpha,
                    beta: graph.beta,
                    positives: 0,
                    negatives: 0,
                },
            }));
        }
        Ok(store
            .model::<ContentModel>(CONTENT_MODEL)?
            .map(|calibration| ActiveModel {
                generation: CONTENT_GENERATION,
                calibration,
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
    pub fn product(&self, store: &Store, product: Id) -> Result<Option<Vec<f32>>> {
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
    pub fn for_each_seller(&self, store: &Store, f: impl FnMut(Id, Vec<f32>)) -> Result<()> {
        store.for_each_embedding(self.generation, Namespace::Seller, f)
    }

    /// Score in [0, 1] of a cosine similarity.
    pub fn score(&self, cosine: f32) -> f32 {
        self.calibration.score(cosine)
    }
}
