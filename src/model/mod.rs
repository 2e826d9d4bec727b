//! The graph model: GraphSAGE-style link prediction over the seller–product listing graph and
//! the product–product co-purchase graph, initialised from the text vectors, trained with
//! stratified edge sampling and a hand-written backward pass.
//!
//! Data flows `graph` (CSR snapshot of the store) → `sample` (root edges, negatives, blocks) →
//! `layer` (forward/backward arithmetic) → `train` (mini-batches, optimisers, inference) →
//! `stage` (checkpoints and embeddings in the store); `validation` is the held-out carve-out
//! that judges the epochs and `select` the final score chosen on it.

pub(crate) mod graph;
pub(crate) mod layer;
pub(crate) mod optim;
pub mod sample;
pub(crate) mod select;
pub(crate) mod stage;
pub mod train;
pub(crate) mod validation;

use serde::{Deserialize, Serialize};

pub(crate) use graph::Relation;
pub use graph::{Graph, GraphOptions};
pub use select::{ScoreOptions, Selection, Tried};
pub use stage::{EarlyStopping, TrainOptions, TrainSummary, train};
pub(crate) use stage::{Fitted, GraphModel, fit};
pub use train::{Focus, IdentityRows, Trainer};

/// Errors of `demandlink train`.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Featurize has not run.
    #[error("no text vectors yet: run `demandlink featurize` first")]
    NotFeaturized,
    /// Nothing to train on.
    #[error("the database has no listing edges to train on")]
    NoEdges,
    /// A configuration value is out of range.
    #[error("invalid model configuration: {0}")]
    Config(String),
    /// The training loop's stop signal ([`Trainer::run`]), which [`train()`](stage::train)
    /// returns as [`ModelError::Cancelled`].
    #[error("interrupted; the last checkpoint is saved")]
    Interrupted,
    /// Ctrl-C: the last checkpoint is in the store.
    #[error(
        "interrupted; the last checkpoint is saved: rerun the same command to continue where it \
         stopped"
    )]
    Cancelled(#[from] crate::progress::Cancelled),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// How root edges and neighbours are sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Sampling {
    /// The published rules: per seller only edges to high-demand or top-viewed products, and
    /// at most `fanout_deep` neighbours at every non-root layer.
    Stratified,
    /// Every listing edge is a root; `fanout` neighbours at every layer.
    Uniform,
}

/// How the input embeddings start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Init {
    /// Text vectors for products, view-weighted seller vectors for sellers.
    Text,
    /// Small random vectors (the ablation).
    Random,
}

/// Every hyper-parameter of the model; stored with the model so a resumed run can check it is
/// continuing the same training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Encoder layers (1–4).
    pub layers: usize,
    /// Hidden and output dimension.
    pub dim: usize,
    /// Passes over the root edges.
    pub epochs: u32,
    /// Epochs of a warm-started (incremental) training, when a model trained with the same
    /// configuration exists.
    pub fine_tune_epochs: u32,
    /// Root edges per mini-batch.
    pub batch: usize,
    /// Sampled negatives per root edge (plus the batch's other products).
    pub negatives: usize,
    /// Negatives are drawn ∝ (degree + 1)^power.
    pub negative_power: f32,
    /// Also use the batch's other products as negatives.
    pub in_batch_negatives: bool,
    /// Neighbours sampled per node and relation at the first hop.
    pub fanout: usize,
    /// Neighbours sampled per node and relation at deeper hops (stratified sampling).
    pub fanout_deep: usize,
    /// Root-edge and neighbour sampling.
    pub sampling: Sampling,
    /// Most-viewed listed products per seller that are root edges (stratified sampling).
    pub top_viewed: usize,
    /// Input embedding initialisation.
    pub init: Init,
    /// Which edges and products the graph keeps.
    pub graph: GraphOptions,
    /// Share of scored products whose listing edges are hidden in a batch (simulated coldness).
    pub cold_share: f32,
    /// Adam step size of the dense weights.
    pub lr: f32,
    /// AdaGrad step size of the input embedding rows.
    pub lr_embedding: f32,
    /// Sellers have a trainable identity row (else they are represented by their listings
    /// only, and sellers with a single listing give no root edge).
    pub seller_identity: bool,
    /// Share of the products listed by two or more sellers held out of training, cold, to
    /// choose and fit the final score (0: no co-purchase term; the score is the trained
    /// `σ(α·cos + β)`).
    pub validation_share: f32,
    /// How the final score is chosen on those products.
    pub score: ScoreOptions,
    /// Seed of every random choice.
    pub seed: u64,
    /// Fixed shards per batch, computed in parallel and summed in order (determinism does not
    /// depend on the thread count).
    pub shards: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            layers: 2,
            dim: 64,
            epochs: 20,
            fine_tune_epochs: 4,
            batch: 128,
            negatives: 5,
            negative_power: 0.0,
            in_batch_negatives: true,
            fanout: 10,
            fanout_deep: 3,
            sampling: Sampling::Stratified,
            top_viewed: 3,
            init: Init::Text,
            graph: GraphOptions::default(),
            cold_share: 1.0,
            lr: 0.01,
            lr_embedding: 0.1,
            seller_identity: false,
            validation_share: 0.05,
            score: ScoreOptions::default(),
            seed: 0,
            shards: 4,
        }
    }
}

impl ModelConfig {
    /// The encoder's relations, in weight order.
    pub(crate) fn relations(&self) -> Vec<Relation> {
        let mut r = vec![Relation::Lists, Relation::ListedBy];
        if self.graph.copurchase {
            r.push(Relation::Copurchase);
        }
        r
    }

    /// Checks the ranges.
    pub(crate) fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: &str| Err(ModelError::Config(m.into()));
        if !(1..=4).contains(&self.layers) {
            return bad("--layers must be 1 to 4");
        }
        if self.dim == 0 || self.batch == 0 || self.shards == 0 || self.fanout == 0 {
            return bad("--dim, --batch, --shards and --fanout must be positive");
        }
        if !(0.0..0.5).contains(&self.validation_share) {
            return bad("--validation-share must be at least 0 and below 0.5");
        }
        if !(0.0..=1.0).contains(&self.cold_share) {
            return bad("--cold-share must be between 0 and 1");
        }
        Ok(())
    }
}
