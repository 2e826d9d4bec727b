//! Mini-batch training and layer-wise inference. A batch is split into a fixed number of
//! shards that run in parallel; their gradients are summed in shard order and every random
//! choice comes from a generator derived from (seed, epoch, batch, shard), so a run is
//! reproducible for a seed whatever the thread count, and can resume at any batch boundary.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ndarray::{Array2, ArrayView1};
use rand::RngExt;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use super::graph::Graph;
use super::layer::{self, LayerCache, Params};
use super::optim::{Adam, adagrad};
use super::sample::{Removal, Sample, Sampler, root_edges};
use super::select::{Rankings, Selection, select};
use super::validation::{EpochChoice, Validation};
use super::{Init, ModelConfig, ModelError};
use crate::affinity::Categories;
use crate::copurchase::{self, Relation as LinkRelation};
use crate::rng::{Stream, share_threshold};
use crate::store::Id;

/// Where a run is and its optimiser state: with the input table, everything a resumed run
/// needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Dense weights.
    pub(crate) params: Params,
    /// Adam's moments.
    pub(crate) adam: Adam,
    /// Epochs this run trains (all of them, or the fine-tuning epochs of a warm start).
    pub(crate) epochs: u32,
    /// Current epoch (0-based).
    pub(crate) epoch: u32,
    /// Next batch within the epoch.
    pub(crate) batch: u64,
    /// Mean loss per batch over each finished epoch.
    pub(crate) epoch_losses: Vec<f64>,
    /// Loss summed over the current epoch's batches so far.
    pub(crate) loss_so_far: f64,
    /// Seconds spent training, over all runs.
    pub(crate) seconds: f64,
}

/// Seeded noise rows, one per node: small under `--init text` (the text vectors are added on
/// top, and nodes without text still differ), unit-scale under `--init random`.
pub fn noise_table(cfg: &ModelConfig, dims: usize, nodes: usize) -> Array2<f32> {
    let mut table = Array2::<f32>::zeros((nodes, dims));
    let noise = match cfg.init {
        Init::Text => 0.1,
        Init::Random => 1.0,
    } / (dims as f32).sqrt();
    table
        .as_slice_mut()
        .expect("standard layout")
        .par_chunks_mut(dims.max(1))
        .enumerate()
        .for_each(|(node, row)| {
            let mut rng = Stream::NOISE_ROWS.rng(cfg.seed, &[node as u64]);
            for x in row.iter_mut() {
                *x = noise * gaussian(&mut rng);
            }
        });
    table
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut impl RngExt) -> f32 {
    let u1 = rng.random::<f32>().max(f32::MIN_POSITIVE);
    let u2 = rng.random::<f32>();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// The score's `[α, β]` before training: what an untrained cosine is calibrated by.
pub(crate) const INITIAL_SCORE: [f32; 2] = [5.0, 0.0];

/// Fresh dense weights: scaled Gaussian matrices, zero biases, the score's [`INITIAL_SCORE`].
pub(crate) fn initial_params(cfg: &ModelConfig, input_dims: usize) -> Params {
    let mut dims = vec![input_dims];
    dims.extend(std::iter::repeat_n(cfg.dim, cfg.layers));
    let relations = cfg.relations().len();
    let mut params = Params::zeros(&dims, relations);
    let mut rng = Stream::INITIAL_WEIGHTS.rng(cfg.seed, &[]);
    let per_layer = relations + 2;
    let last = params.tensors.len() - 1;
    for (i, t) in params.tensors.iter_mut().enumerate() {
        if i == last {
            t.data = INITIAL_SCORE.to_vec();
        } else if i % per_layer != per_layer - 1 {
            let scale = 1.0 / (t.rows as f32).sqrt();
            for x in t.data.iter_mut() {
                *x = scale * gaussian(&mut rng);
            }
        }
    }
    params
}

/// What a fine-tuning trains on: the root edges that are `new` listings, plus a seeded
/// `replay_share` of the others, against forgetting.
#[derive(Clone, Copy, Debug)]
pub struct Focus<'a> {
    /// The listings (seller node, product) that arrived after the warm model's drops.
    pub(crate) new: &'a FxHashSet<(Id, Id)>,
    /// Share of the other root edges trained.
    pub(crate) replay_share: f32,
    /// Which fine-tuning this is (the first drop it learns from): each draws its own replay
    /// sample, so over the quarters every older edge is replayed, not the same fifth forever
    /// (on the magazines replay, Recall@100 −3.8 % against a rebuild instead of −9.2 %).
    pub(crate) round: u32,
}

impl Focus<'_> {
    /// Keeps the new root edges and this round's seeded replay share of the others.
    fn select(&self, roots: &mut Vec<(Id, Id)>, seed: u64) {
        let replay = share_threshold(self.replay_share);
        let round = u64::from(self.round);
        roots.retain(|&(s, p)| {
            self.new.contains(&(s, p))
                || Stream::REPLAY.hash(seed, &[round, u64::from(s), u64::from(p)]) < replay
        });
    }
}

/// The trainable identity rows, one per node (only warm nodes' are used), and each row's
/// AdaGrad accumulator.
#[derive(Clone, Debug)]
pub struct IdentityRows {
    /// One row per node.
    pub(crate) table: Array2<f32>,
    /// One accumulator per row.
    pub(crate) accum: Vec<f32>,
}

impl IdentityRows {
    /// Zero rows of `dims` values for `nodes` nodes.
    pub fn zeros(nodes: usize, dims: usize) -> IdentityRows {
        IdentityRows {
            table: Array2::zeros((nodes, dims)),
            accum: vec![0.0; nodes],
        }
    }
}

/// The trainer: graph, configuration, state and the input-embedding table with its AdaGrad
/// accumulators. Rows touched since the last checkpoint are marked dirty.
pub struct Trainer<'g> {
    graph: &'g Graph,
    cfg: &'g ModelConfig,
    sampler: Sampler<'g>,
    roots: Vec<(Id, Id)>,
    order: Vec<u32>,
    /// Optimiser state and cursor.
    pub(crate) state: TrainState,
    /// Fixed input features, one row per node (sellers, then products): text vectors plus
    /// seeded noise.
    base: Array2<f32>,
    /// Trainable identity offsets added to the features of warm nodes, with their optimiser
    /// state.
    pub(crate) rows: IdentityRows,
    /// Rows changed since [`Trainer::take_dirty`] was last called.
    dirty: Vec<bool>,
    /// Each seller's text sum over the training graph (see [`seller_text_sums`]).
    seller_text: Array2<f32>,
    /// Early stopping, when on.
    early: Option<Early<'g>>,
    /// After [`Trainer::freeze`]: what inference needs besides the folded inputs.
    frozen: Option<Frozen<'g>>,
}

/// A trainer's inference state once its identity rows are folded into the fixed inputs.
struct Frozen<'g> {
    /// The other graph inference runs on (the training graph's nodes with more edges).
    full: &'g Graph,
    /// Each seller's text sum over `full`, taken from the inputs before the fold.
    full_text: Array2<f32>,
    /// The identity rows of nodes that carry one on `full` only (cold in the training
    /// graph, so not folded); rows of zeros left out.
    full_only: FxHashMap<u32, Vec<f32>>,
}

/// Early stopping's state: the carve-out each epoch is judged on, the epochs' record, and the
/// rows changed since the best epoch's rows were last saved.
struct Early<'g> {
    validation: &'g Validation,
    choice: EpochChoice,
    /// Rows changed since the best rows were last saved (all, after a resume: unknown).
    since_best: Vec<bool>,
    /// An epoch improved and its rows are not saved yet.
    save_due: bool,
}

/// What one shard computed.
struct ShardOut {
    loss: f64,
    grads: Params,
    rows: Vec<u32>,
    row_grads: Array2<f32>,
}

impl<'g> Trainer<'g> {
    /// A trainer continuing from `state` with identity `rows`. With `focus` (a fine-tuning),
    /// it trains the new root edges and a seeded share of the others.
    pub fn new(
        graph: &'g Graph,
        cfg: &'g ModelConfig,
        state: TrainState,
        base: Array2<f32>,
        rows: IdentityRows,
        focus: Option<Focus>,
    ) -> Trainer<'g> {
        let mut roots = root_edges(graph, cfg);
        if let Some(focus) = focus {
            focus.select(&mut roots, cfg.seed);
        }
        let mut t = Trainer {
            seller_text: seller_text_sums(graph, &base, cfg),
            graph,
            cfg,
            sampler: Sampler::new(graph, cfg),
            order: Vec::new(),
            roots,
            state,
            dirty: vec![false; rows.table.nrows()],
            base,
            rows,
            early: None,
            frozen: None,
        };
        t.shuffle();
        t
    }

    /// A fresh state for `cfg` with `input_dims`-dimensional inputs.
    pub fn fresh_state(cfg: &ModelConfig, input_dims: usize) -> TrainState {
        let params = initial_params(cfg, input_dims);
        TrainState {
            adam: Adam::new(&params),
            params,
            epochs: cfg.epochs,
            epoch: 0,
            batch: 0,
            epoch_losses: Vec::new(),
            loss_so_far: 0.0,
            seconds: 0.0,
        }
    }

    /// Batches this run trains in all.
    pub(crate) fn total_batches(&self) -> u64 {
        u64::from(self.state.epochs) * self.batches_per_epoch()
    }

    /// Root edges per epoch.
    pub(crate) fn root_count(&self) -> usize {
        self.roots.len()
    }

    /// Batches per epoch.
    pub(crate) fn batches_per_epoch(&self) -> u64 {
        self.roots.len().div_ceil(self.cfg.batch) as u64
    }

    /// Whether every epoch has run, or early stopping has stopped the training.
    pub(crate) fn finished(&self) -> bool {
        self.state.epoch >= self.state.epochs
            || self.early.as_ref().is_some_and(|e| e.choice.stopped)
    }

    /// Judges every epoch by the cosine's Recall@100 on `validation`, stopping as `choice`'s
    /// patience says (`choice` carries the epochs already judged when `resumed`).
    pub(crate) fn stop_early(
        &mut self,
        validation: &'g Validation,
        choice: EpochChoice,
        resumed: bool,
    ) {
        self.early = Some(Early {
            validation,
            choice,
            since_best: vec![resumed; self.dirty.len()],
            save_due: false,
        });
    }

    /// The epochs' record, under early stopping.
    pub(crate) fn epoch_choice(&self) -> Option<&EpochChoice> {
        self.early.as_ref().map(|e| &e.choice)
    }

    /// Judges the epoch that just ended; returns whether it is the best so far (its rows are
    /// then due to be saved: [`Trainer::best_rows_due`]).
    fn end_epoch(&mut self) -> bool {
        let Some(early) = &self.early else {
            return false;
        };
        let (v, started) = (early.validation, Instant::now());
        let recall = v.recall(&self.infer_on(self.graph, Some(&v.targets(self.graph))));
        let early = self.early.as_mut().expect("checked above");
        let improved = early.choice.record(recall, &self.state.params);
        tracing::info!(
            epoch = early.choice.recalls.len(),
            recall_100 = recall,
            improved,
            seconds = started.elapsed().as_secs_f64(),
            "validation after the epoch"
        );
        early.save_due |= improved;
        improved
    }

    /// After an improved epoch, the rows changed since the best rows were last saved (rows
    /// never trained, whose accumulator is 0, are left out: they are still zero), and clears
    /// the marks; call after [`Trainer::take_dirty`].
    pub(crate) fn best_rows_due(&mut self) -> Option<Vec<u32>> {
        let early = self.early.as_mut().filter(|e| e.save_due)?;
        early.save_due = false;
        let accum = &self.rows.accum;
        let rows = (0..early.since_best.len() as u32)
            .filter(|&i| early.since_best[i as usize] && accum[i as usize] != 0.0)
            .collect();
        early.since_best.fill(false);
        Some(rows)
    }

    /// When training went past its best epoch: the best epoch's dense weights back, and the
    /// rows changed since then zeroed and handed to `load` (which fills in the saved best
    /// rows); they are marked dirty. Returns whether it restored.
    pub(crate) fn restore_best(
        &mut self,
        load: impl FnOnce(&mut IdentityRows, &[bool]) -> Result<(), ModelError>,
    ) -> Result<bool, ModelError> {
        let Some(early) = self.early.as_mut().filter(|e| e.choice.went_past_best()) else {
            return Ok(false);
        };
        let d = self.rows.table.ncols();
        let table = self.rows.table.as_slice_mut().expect("standard layout");
        // Rows trained before (a non-zero accumulator): after a resume every row is marked
        // changed, and those never trained must stay unwritten, as in an uninterrupted run.
        let mut trained = vec![false; early.since_best.len()];
        for (i, changed) in early.since_best.iter_mut().enumerate() {
            *changed |= self.dirty[i];
            if *changed {
                trained[i] = self.rows.accum[i] != 0.0;
                table[i * d..(i + 1) * d].fill(0.0);
                self.rows.accum[i] = 0.0;
            }
        }
        load(&mut self.rows, &early.since_best)?;
        for (i, changed) in early.since_best.iter_mut().enumerate() {
            self.dirty[i] |= std::mem::take(changed) && (trained[i] || self.rows.accum[i] != 0.0);
        }
        self.state.params = early
            .choice
            .params
            .clone()
            .expect("a best epoch has weights");
        Ok(true)
    }

    fn shuffle(&mut self) {
        self.order = (0..self.roots.len() as u32).collect();
        let mut rng = Stream::EPOCH_ORDER.rng(self.cfg.seed, &[u64::from(self.state.epoch)]);
        self.order.shuffle(&mut rng);
    }

    /// The rows changed since the last call, and clears the marks (under early stopping they
    /// stay marked as changed since the best rows were saved).
    pub(crate) fn take_dirty(&mut self) -> Vec<u32> {
        let rows = (0..self.dirty.len() as u32)
            .filter(|&i| self.dirty[i as usize])
            .collect();
        if let Some(early) = &mut self.early {
            for (since, dirty) in early.since_best.iter_mut().zip(&self.dirty) {
                *since |= dirty;
            }
        }
        self.dirty.fill(false);
        rows
    }

    /// Trains one batch and advances the cursor; returns the batch loss.
    pub fn step(&mut self) -> f64 {
        let started = Instant::now();
        let b = self.state.batch as usize;
        let ids = &self.order[b * self.cfg.batch..((b + 1) * self.cfg.batch).min(self.order.len())];
        let batch: Vec<(Id, Id)> = ids.iter().map(|&i| self.roots[i as usize]).collect();
        let per_shard = batch.len().div_ceil(self.cfg.shards).max(1);
        let (epoch, seed) = (u64::from(self.state.epoch), self.cfg.seed);
        let outs: Vec<ShardOut> = batch
            .par_chunks(per_shard)
            .enumerate()
            .map(|(shard, roots)| {
                let mut rng = Stream::SHARD_SAMPLES.rng(seed, &[epoch, b as u64, shard as u64]);
                self.shard(roots, batch.len(), &mut rng)
            })
            .collect();

        let mut grads = Params::zeros_like(&self.state.params);
        let mut loss = 0.0;
        for out in &outs {
            loss += out.loss;
            grads.add_assign(&out.grads);
        }
        let (state, cfg) = (&mut self.state, self.cfg);
        let (rows, dirty) = (&mut self.rows, &mut self.dirty);
        rayon::join(
            || state.adam.step(&mut state.params, &grads, cfg.lr),
            || update_rows(rows, dirty, &outs, cfg.lr_embedding),
        );

        self.state.loss_so_far += loss;
        self.state.batch += 1;
        if self.state.batch >= self.batches_per_epoch() {
            let mean = self.state.loss_so_far / self.batches_per_epoch().max(1) as f64;
            self.state.epoch_losses.push(mean);
            self.state.loss_so_far = 0.0;
            self.state.batch = 0;
            self.state.epoch += 1;
            self.shuffle();
        }
        self.state.seconds += started.elapsed().as_secs_f64();
        loss
    }

    /// Forward and backward over one shard of roots.
    fn shard(
        &self,
        roots: &[(Id, Id)],
        batch: usize,
        rng: &mut rand::rngs::Xoshiro256PlusPlus,
    ) -> ShardOut {
        let sample = self.sampler.sample(roots, batch, rng);
        let params = &self.state.params;
        let (h, identity, caches) = self.forward(&sample);
        let (z, norms) = layer::normalize_rows(&h);
        let (loss, dz, d_score) =
            layer::pair_loss(&z, &sample.pairs, params.alpha(), params.beta());
        let mut grads = Params::zeros_like(params);
        grads.tensors.last_mut().expect("score tensor").data = d_score.to_vec();
        let mut dh = layer::normalize_backward(&z, &norms, dz);
        for (l, cache) in caches.into_iter().enumerate().rev() {
            // The input layer's gradient is wanted for the identity rows only.
            let wanted = (l == 0).then_some(identity.as_slice());
            dh = layer::backward(params, l, &sample.blocks[l], cache, dh, &mut grads, wanted);
        }
        let rows = (sample.blocks[0].src.iter().zip(&identity))
            .filter(|&(_, &on)| on)
            .map(|(&node, _)| node)
            .collect();
        ShardOut {
            loss,
            grads,
            rows,
            row_grads: dh,
        }
    }

    /// The encoder's output rows for a sample's scored nodes, which input rows carry an
    /// identity, and each layer's cache.
    fn forward(&self, sample: &Sample) -> (Array2<f32>, Vec<bool>, Vec<LayerCache>) {
        let layers = sample.blocks.len();
        let (mut h, identity) = self.inputs(&sample.blocks[0].src, &sample.hidden, &sample.removal);
        let mut caches = Vec::with_capacity(layers);
        for (l, block) in sample.blocks.iter().enumerate() {
            let (out, cache) = layer::forward(&self.state.params, l, block, h, l + 1 == layers);
            caches.push(cache);
            h = out;
        }
        (h, identity, caches)
    }

    /// Chooses and fits the final score on the held-out products of `v` ([`fit_score`]),
    /// from this model's vectors of them.
    pub(crate) fn fit_score(&self, v: &Validation, categories: &Categories) -> Option<Selection> {
        let g = self.graph;
        let started = Instant::now();
        // Only these sellers' and products' vectors are read.
        let emb = self.infer_on(g, Some(&v.targets(g)));
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            "score selection: validation vectors inferred"
        );
        fit_score(g, self.cfg, v, categories, v.cosine(&emb))
    }

    /// Trains until the last epoch or until early stopping stops it, calling `checkpoint`
    /// whenever `due()` says so, after an epoch better than those before (to save its rows)
    /// and at the end; stops early (after a checkpoint) when `cancel` is set.
    pub(crate) fn run(
        &mut self,
        cancel: &AtomicBool,
        mut on_batch: impl FnMut(&Trainer),
        mut due: impl FnMut(&Trainer) -> bool,
        mut checkpoint: impl FnMut(&mut Trainer) -> Result<(), ModelError>,
    ) -> Result<(), ModelError> {
        while !self.finished() {
            if cancel.load(Ordering::Relaxed) {
                checkpoint(self)?;
                return Err(ModelError::Interrupted);
            }
            self.step();
            on_batch(self);
            let improved = self.state.batch == 0 && self.end_epoch();
            if improved || due(self) {
                checkpoint(self)?;
            }
        }
        checkpoint(self)
    }

    /// Output embeddings of every node of `graph` (the training graph, or the same nodes
    /// with more edges) with full neighbourhoods, layer by layer; or of the nodes `only`
    /// (ascending), other rows zero (see [`infer`]).
    pub(crate) fn infer_on(&self, graph: &Graph, only: Option<&[u32]>) -> Embeddings {
        let sums = self.seller_text_on(graph);
        let inputs = |nodes: &[u32]| self.visible_inputs(graph, &sums, nodes);
        infer(graph, self.cfg, &self.state.params, &inputs, only)
    }

    /// Every node's output vector on `graph`, handed to `f` in runs of `run` nodes from
    /// `start` (both multiples of [`INFER_CHUNK`]) instead of one table of all: the vectors
    /// equal [`Trainer::infer_on`]'s bit for bit, and only the last hidden layer is held
    /// whole (at the reference size the output table was 1.15 GB on top of it, the peak of
    /// `train`).
    pub(crate) fn infer_each_on<E>(
        &self,
        graph: &Graph,
        start: usize,
        run: usize,
        f: impl FnMut(usize, &Array2<f32>) -> Result<(), E>,
    ) -> Result<(), E> {
        let sums = self.seller_text_on(graph);
        let inputs = |nodes: &[u32]| self.visible_inputs(graph, &sums, nodes);
        let hidden = Hidden::new(graph, self.cfg, &self.state.params, &inputs, None);
        hidden.outputs(start, run, f)
    }

    /// The sellers' text sums over `graph`: the training graph's are at hand (the score fit
    /// infers on it); another graph, the full one, has its own.
    fn seller_text_on(&self, graph: &Graph) -> Cow<'_, Array2<f32>> {
        if std::ptr::eq(graph, self.graph) {
            return Cow::Borrowed(&self.seller_text);
        }
        match &self.frozen {
            Some(f) => {
                assert!(std::ptr::eq(graph, f.full), "frozen for another graph");
                Cow::Borrowed(&f.full_text)
            }
            None => Cow::Owned(seller_text_sums(graph, &self.base, self.cfg)),
        }
    }

    /// Whether `node` carries an identity row on `g` with nothing hidden.
    fn has_identity(&self, g: &Graph, node: u32) -> bool {
        g.is_warm(node) && (self.cfg.seller_identity || !g.is_seller(node))
    }

    /// Ends training: adds each identity row into its node's fixed input row and frees the
    /// identity table (4.5 M × 128 f32, 2.3 GB at the reference size, the peak of `train`
    /// while the score was selected and the vectors written). Inference on the training graph
    /// and on `full` then gives the same vectors bit for bit: a node's input is still the
    /// same sum, taken once. No training step may follow.
    pub(crate) fn freeze(&mut self, full: &'g Graph) {
        if self.frozen.is_some() {
            return;
        }
        let full_text = seller_text_sums(full, &self.base, self.cfg);
        let mut full_only = FxHashMap::default();
        let table = std::mem::replace(&mut self.rows.table, Array2::zeros((0, self.base.ncols())));
        for (n, row) in table.outer_iter().enumerate() {
            let node = n as u32;
            if self.has_identity(self.graph, node) {
                let mut input = self.base.row_mut(n);
                input += &row;
            } else if self.has_identity(full, node) && row.iter().any(|&x| x != 0.0) {
                full_only.insert(node, row.to_vec());
            }
        }
        self.frozen = Some(Frozen {
            full,
            full_text,
            full_only,
        });
    }

    /// The input rows of `nodes` of `graph` with nothing hidden, as inference sees them.
    fn visible_inputs(&self, graph: &Graph, sums: &Array2<f32>, nodes: &[u32]) -> Array2<f32> {
        let (hidden, removal) = (FxHashSet::default(), Removal::default());
        self.inputs_on(graph, sums, nodes, &hidden, &removal).0
    }

    fn inputs(
        &self,
        nodes: &[u32],
        hidden: &FxHashSet<u32>,
        removal: &Removal,
    ) -> (Array2<f32>, Vec<bool>) {
        self.inputs_on(self.graph, &self.seller_text, nodes, hidden, removal)
    }

    /// The input rows of `nodes` and which of them carry a trainable identity row (only those
    /// receive gradients). A product's input is its features, plus its identity row when it
    /// is warm and not hidden. A seller's is its noise features and identity row plus, under
    /// `--init text`, the view-weighted mean of the text of its listed products that the
    /// sample can see: computed here rather than read from the content model so that a root
    /// edge's product never leaks into its seller's input.
    fn inputs_on(
        &self,
        g: &Graph,
        sums: &Array2<f32>,
        nodes: &[u32],
        hidden: &FxHashSet<u32>,
        removal: &Removal,
    ) -> (Array2<f32>, Vec<bool>) {
        let mut h = gather_rows(&self.base, nodes);
        let identity: Vec<bool> = nodes
            .iter()
            .map(|&n| self.has_identity(g, n) && !hidden.contains(&n))
            .collect();
        let mut text = ndarray::Array1::<f32>::zeros(h.ncols());
        for ((mut row, &n), &on) in h.outer_iter_mut().zip(nodes).zip(&identity) {
            match (&self.frozen, on) {
                (None, true) => row += &self.rows.table.row(n as usize),
                // Folded into the inputs, unless the node has its row on `full` only.
                (Some(f), true) if !std::ptr::eq(g, self.graph) => {
                    if let Some(extra) = f.full_only.get(&n) {
                        row += &ArrayView1::from(&extra[..]);
                    }
                }
                _ => {}
            }
            if !g.is_seller(n) || self.cfg.init != Init::Text {
                continue;
            }
            // The seller's whole sum, less the products this sample hides from it: cheaper
            // than summing what remains when a seller lists thousands of products.
            let listed = g.lists.neighbours(n);
            let removed = removal.of(g, n, listed, hidden);
            if removed.len() == listed.len() {
                continue;
            }
            text.assign(&sums.row(n as usize));
            for p in removed {
                let node = g.product_node(p) as usize;
                text.scaled_add(-(g.views[p as usize] + 1.0), &self.base.row(node));
            }
            let norm = text.dot(&text).sqrt();
            if norm > 0.0 {
                row.scaled_add(1.0 / norm, &text);
            }
        }
        (h, identity)
    }
}

/// Sums the shards' gradients per input row, in shard order, and applies AdaGrad to every
/// touched row, marking it dirty. Contiguous ranges of rows are updated in parallel: each range
/// owns its rows, so the result does not depend on the thread count, and the update no longer
/// leaves the workers idle between batches (it was a sixth of an epoch when serial).
fn update_rows(rows: &mut IdentityRows, dirty: &mut [bool], outs: &[ShardOut], lr: f32) {
    /// Ranges per update: a few per thread, so an uneven spread of touched rows still balances.
    const RANGES: usize = 16;
    let d = rows.table.ncols().max(1);
    let span = rows.accum.len().div_ceil(RANGES).max(1);
    // Each range's gradient rows as (shard, row), in shard order: one pass over them all, not
    // one per range.
    let mut per_range = vec![Vec::new(); rows.accum.len().div_ceil(span)];
    for (o, out) in outs.iter().enumerate() {
        for (r, &node) in out.rows.iter().enumerate() {
            per_range[node as usize / span].push((o, r));
        }
    }
    let table = rows.table.as_slice_mut().expect("standard layout");
    table
        .par_chunks_mut(span * d)
        .zip(rows.accum.par_chunks_mut(span))
        .zip(dirty.par_chunks_mut(span))
        .zip(per_range.par_iter())
        .enumerate()
        .for_each(|(k, (((table, accum), dirty), grads))| {
            let start = k * span;
            let mut slot_of: FxHashMap<usize, usize> = FxHashMap::default();
            let (mut touched, mut sums) = (Vec::new(), Vec::new());
            for &(o, r) in grads {
                let i = outs[o].rows[r] as usize - start;
                let slot = *slot_of.entry(i).or_insert_with(|| {
                    touched.push(i);
                    sums.resize(sums.len() + d, 0.0);
                    touched.len() - 1
                });
                let g = outs[o].row_grads.row(r);
                for (x, y) in sums[slot * d..(slot + 1) * d].iter_mut().zip(g) {
                    *x += y;
                }
            }
            for (slot, &i) in touched.iter().enumerate() {
                let grad = &sums[slot * d..(slot + 1) * d];
                adagrad(&mut table[i * d..(i + 1) * d], &mut accum[i], grad, lr);
                dirty[i] = true;
            }
        });
}

/// Chooses and fits the final score `σ(α·cos + w₁·link₁ + w₂·link₂ + w₃·cat + β)` (links
/// from [`crate::copurchase`], the category term from [`crate::affinity`]) on the held-out
/// products of `v`, as the cold split evaluates: they are cold in the training graph `g`. Each
/// seller of `v` ranks all held products under every structure of [`select`]; `cosine` holds
/// each seller's cosine to every held product, from whichever model made the vectors (this
/// trainer's, or imported ones).
pub(crate) fn fit_score(
    g: &Graph,
    cfg: &ModelConfig,
    v: &Validation,
    categories: &Categories,
    cosine: Vec<Vec<f32>>,
) -> Option<Selection> {
    let rules = cfg
        .score
        .rules(g.threshold, cfg.graph.copurchase_cap, g.counts_vary());
    let products = &v.products;
    let started = Instant::now();
    // A graph without the co-purchase relation has no pairs: every link is 0, and the
    // selection keeps the cosine alone. One relation at a time: each is as large as the
    // co-purchase pairs.
    let links: Vec<Vec<Vec<(u32, f32, f32)>>> = rules
        .iter()
        .map(|&rule| validation_links(g, v, &g.link_relation(rule)))
        .collect();
    let category = match categories.is_empty() {
        true => Vec::new(),
        false => v
            .sellers
            .par_iter()
            .map(|(s, _)| {
                let affinity = categories.affinity(g.lists.neighbours(*s).iter().copied());
                products
                    .iter()
                    .map(|&p| affinity.of(categories, p))
                    .collect()
            })
            .collect(),
    };
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "score selection: link and category terms"
    );
    let rankings = Rankings {
        links,
        category,
        ..v.rankings(cosine)
    };
    let selection = select(&rankings, &rules, &cfg.score, v.cutoffs)?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "score selection: structures ranked"
    );
    for t in &selection.table {
        tracing::info!(
            recall_100 = t.recall[0],
            recall_20 = t.recall[1],
            chosen = t.chosen,
            "score selection: {}",
            t.describe()
        );
    }
    Some(selection)
}

/// Per validation seller, `(product index, link₁, link₂)` of its linked validation products
/// over `relation`, by index.
fn validation_links(
    g: &Graph,
    v: &Validation,
    relation: &LinkRelation,
) -> Vec<Vec<(u32, f32, f32)>> {
    let held = |h: Id| v.index(h).is_some();
    // The second step walks forward to the held products or back from them.
    let partnered_by = relation.reversed(held);
    let kept = relation.restricted(held);
    // The first step only to the products that are held or partners of one: no other adds
    // to a held product's link (a hub's thousands of partners, mostly). Each link keeps its
    // terms in their order.
    let first = relation.restricted(|q| held(q) || !kept.partners(q).is_empty());
    v.sellers
        .par_iter()
        .map(|(s, _)| {
            let links = copurchase::link_scores_of(
                g.lists.neighbours(*s).iter().copied(),
                |p| Ok(first.partners(p)),
                |q| Ok(kept.partners(q)),
                |h| Ok(partnered_by.partners(h)),
                &v.products,
            )
            .unwrap_or_default();
            let mut row: Vec<(u32, f32, f32)> = links
                .into_iter()
                .filter_map(|(p, [l1, l2])| Some((v.index(p)?, l1, l2)))
                .collect();
            row.sort_unstable_by_key(|e| e.0);
            row
        })
        .collect()
}

/// Rows `ids` of `a`, in order: one copy per row (ndarray's `select` was a tenth of a
/// training epoch at the reference size).
fn gather_rows(a: &Array2<f32>, ids: &[u32]) -> Array2<f32> {
    let d = a.ncols();
    let src = a.as_slice().expect("standard layout");
    let mut out = Vec::with_capacity(ids.len() * d);
    for &i in ids {
        let at = i as usize * d;
        out.extend_from_slice(&src[at..at + d]);
    }
    Array2::from_shape_vec((ids.len(), d), out).expect("ids.len() rows of d")
}

/// Unit-length output vectors: sellers' rows then products'.
pub(crate) struct Embeddings {
    /// One row per node.
    pub rows: Array2<f32>,
    /// Sellers in the graph.
    pub sellers: u32,
}

impl Embeddings {
    /// A seller's vector.
    pub(crate) fn seller(&self, s: Id) -> ndarray::ArrayView1<'_, f32> {
        self.rows.row(s as usize)
    }

    /// A product's vector.
    pub(crate) fn product(&self, p: Id) -> ndarray::ArrayView1<'_, f32> {
        self.rows.row((self.sellers + p) as usize)
    }
}

/// `f` over consecutive chunks of the node ids `0..nodes` (or of `only`, ascending), in
/// parallel, its `width`-wide rows written into one table of `nodes` rows (rows not in `only`
/// stay zero). Over all nodes the chunks are written in place, with no second copy: at the
/// reference size a table is 1 GB.
fn by_chunks(
    nodes: usize,
    only: Option<&[u32]>,
    width: usize,
    f: impl Fn(Vec<u32>) -> Array2<f32> + Sync,
) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((nodes, width));
    match only {
        None => fill_rows(&mut out, 0, f),
        Some(ids) => {
            for (&id, row) in ids.iter().zip(rows_of(ids, width, f).outer_iter()) {
                out.row_mut(id as usize).assign(&row);
            }
        }
    }
    out
}

/// The rows of `ids`, in their order, `f` computing them in chunks of [`INFER_CHUNK`] ids.
fn rows_of(ids: &[u32], width: usize, f: impl Fn(Vec<u32>) -> Array2<f32> + Sync) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((ids.len(), width));
    fill_chunks(&mut out, |c| ids[c].to_vec(), f);
    out
}

/// Fills `out` with the rows of nodes `first..first + out.nrows()`, `f` computing them in
/// chunks of [`INFER_CHUNK`] nodes counted from `first`, in parallel, written in place.
fn fill_rows(out: &mut Array2<f32>, first: usize, f: impl Fn(Vec<u32>) -> Array2<f32> + Sync) {
    fill_chunks(
        out,
        |c| (first + c.start..first + c.end).map(|i| i as u32).collect(),
        f,
    );
}

/// Fills `out` in chunks of [`INFER_CHUNK`] rows, in parallel, in place: the rows `c` (a range
/// of `out`'s rows) are `f(ids(c))`.
fn fill_chunks(
    out: &mut Array2<f32>,
    ids: impl Fn(std::ops::Range<usize>) -> Vec<u32> + Sync,
    f: impl Fn(Vec<u32>) -> Array2<f32> + Sync,
) {
    let (nodes, width) = out.dim();
    out.as_slice_mut()
        .expect("standard layout")
        .par_chunks_mut(INFER_CHUNK * width.max(1))
        .enumerate()
        .for_each(|(k, rows)| {
            let from = k * INFER_CHUNK;
            let chunk = ids(from..(from + INFER_CHUNK).min(nodes));
            rows.copy_from_slice(f(chunk).as_slice().expect("standard layout"));
        });
}

/// Per seller of `g`, `Σ (views + 1) · text` over the products it lists (under `--init text`;
/// else no rows): its text feature before a sample hides some of them.
fn seller_text_sums(g: &Graph, base: &Array2<f32>, cfg: &ModelConfig) -> Array2<f32> {
    if cfg.init != Init::Text || g.sellers == 0 {
        return Array2::zeros((0, base.ncols()));
    }
    by_chunks(g.sellers as usize, None, base.ncols(), |ids| {
        let mut out = Array2::<f32>::zeros((ids.len(), base.ncols()));
        for (mut row, &s) in out.outer_iter_mut().zip(&ids) {
            for &p in g.lists.neighbours(s) {
                let node = g.product_node(p) as usize;
                row.scaled_add(g.views[p as usize] + 1.0, &base.row(node));
            }
        }
        out
    })
}

/// Layer-wise inference with each node's full neighbourhood (no sampling, nothing hidden):
/// of every node, or with `only` (ascending node ids) of those nodes alone, each layer then
/// computed just for the nodes the next one reads (rows of other nodes stay zero). The score
/// fit needs a few thousand sellers and products: their last layer costs a sliver of all
/// nodes', and the layer before it skips the sellers none of them lists with.
pub(crate) fn infer(
    graph: &Graph,
    cfg: &ModelConfig,
    params: &Params,
    inputs: &(dyn Fn(&[u32]) -> Array2<f32> + Sync),
    only: Option<&[u32]>,
) -> Embeddings {
    let hidden = Hidden::new(graph, cfg, params, inputs, only);
    let width = params.w_self(params.layers() - 1).ncols();
    Embeddings {
        rows: by_chunks(graph.nodes(), only, width, |ids| hidden.output(ids)),
        sellers: graph.sellers,
    }
}

/// Nodes per chunk of full-graph inference: each chunk is one block through a layer.
pub(crate) const INFER_CHUNK: usize = 4096;

/// Full-neighbourhood inference up to the last hidden layer; the output layer is computed
/// chunk by chunk from it.
struct Hidden<'a> {
    sampler: Sampler<'a>,
    params: &'a Params,
    inputs: &'a (dyn Fn(&[u32]) -> Array2<f32> + Sync),
    nodes: usize,
    /// The last hidden layer's rows (all nodes, or those the output of `only` reads); none
    /// with one layer.
    h: Option<LayerRows>,
}

/// A hidden layer's rows: of every node, or only of the nodes the next layer reads, with each
/// node's row number. For the few thousand nodes of a validation a table of every node was
/// 1.15 GB at the reference size, the peak of training at its epochs' ends.
struct LayerRows {
    rows: Array2<f32>,
    /// Per node, its row (`u32::MAX`: not computed); `None` when every node has its own.
    slots: Option<Vec<u32>>,
}

impl LayerRows {
    /// The rows of `nodes`.
    fn gather(&self, nodes: &[u32]) -> Array2<f32> {
        match &self.slots {
            None => gather_rows(&self.rows, nodes),
            Some(slots) => {
                let at: Vec<u32> = nodes.iter().map(|&n| slots[n as usize]).collect();
                debug_assert!(at.iter().all(|&r| r != u32::MAX), "a row not computed");
                gather_rows(&self.rows, &at)
            }
        }
    }
}

impl<'a> Hidden<'a> {
    fn new(
        graph: &'a Graph,
        cfg: &'a ModelConfig,
        params: &'a Params,
        inputs: &'a (dyn Fn(&[u32]) -> Array2<f32> + Sync),
        only: Option<&[u32]>,
    ) -> Hidden<'a> {
        let sampler = Sampler::new(graph, cfg);
        let nodes = graph.nodes();
        let layers = params.layers();
        // needed[l]: the nodes whose layer-l output rows are computed (None: all).
        let mut needed: Vec<Option<Vec<u32>>> = vec![only.map(<[u32]>::to_vec)];
        for _ in 1..layers {
            let reads = needed.last().expect("one per layer").as_ref().map(|dst| {
                // Marked in a table by node, not sorted: two hops from a few thousand nodes
                // reach tens of millions of neighbours (hubs listed by thousands of sellers),
                // and sorting them was most of the score selection's time.
                let read = dst
                    .par_chunks(INFER_CHUNK)
                    .fold(
                        || vec![false; nodes],
                        |mut read, ids| {
                            for n in sampler.full_block(ids.to_vec()).src {
                                read[n as usize] = true;
                            }
                            read
                        },
                    )
                    .reduce(
                        || vec![false; nodes],
                        |mut a, b| {
                            a.iter_mut().zip(b).for_each(|(x, y)| *x |= y);
                            a
                        },
                    );
                (0..nodes as u32).filter(|&n| read[n as usize]).collect()
            });
            needed.push(reads);
        }
        needed.reverse();
        let mut hidden = Hidden {
            sampler,
            params,
            inputs,
            nodes,
            h: None,
        };
        for (l, needed) in needed[..layers - 1].iter().enumerate() {
            let (width, f) = (params.w_self(l).ncols(), |ids: Vec<u32>| {
                hidden.layer(l, ids)
            });
            let out = match needed {
                None => LayerRows {
                    rows: by_chunks(nodes, None, width, f),
                    slots: None,
                },
                Some(ids) => {
                    let mut slots = vec![u32::MAX; nodes];
                    for (row, &id) in ids.iter().enumerate() {
                        slots[id as usize] = row as u32;
                    }
                    LayerRows {
                        rows: rows_of(ids, width, f),
                        slots: Some(slots),
                    }
                }
            };
            hidden.h = Some(out);
        }
        hidden
    }

    /// Layer `l`'s rows of `ids`, from the layer below (or the inputs).
    fn layer(&self, l: usize, ids: Vec<u32>) -> Array2<f32> {
        let block = self.sampler.full_block(ids);
        // The first layer computes its input rows chunk by chunk (a node read by several
        // chunks is computed again) instead of one table of every node's: at the reference
        // size that table was 2.2 GB, the peak of `train`.
        let input = match &self.h {
            Some(h) => h.gather(&block.src),
            None => (self.inputs)(&block.src),
        };
        let last = l + 1 == self.params.layers();
        layer::forward(self.params, l, &block, input, last).0
    }

    /// The normalised output rows of `ids`.
    fn output(&self, ids: Vec<u32>) -> Array2<f32> {
        layer::normalize_rows(&self.layer(self.params.layers() - 1, ids)).0
    }

    /// Every node's output rows from `start`, handed to `f` in runs of `run` nodes, computed
    /// in the chunks [`by_chunks`] uses over all nodes (so each row equals its row there).
    fn outputs<E>(
        &self,
        start: usize,
        run: usize,
        mut f: impl FnMut(usize, &Array2<f32>) -> Result<(), E>,
    ) -> Result<(), E> {
        debug_assert!(
            start.is_multiple_of(INFER_CHUNK) && run.is_multiple_of(INFER_CHUNK) && run > 0
        );
        let nodes = self.nodes;
        let width = self.params.w_self(self.params.layers() - 1).ncols();
        let mut first = start;
        while first < nodes {
            let end = (first + run).min(nodes);
            let mut rows = Array2::<f32>::zeros((end - first, width));
            fill_rows(&mut rows, first, |ids| self.output(ids));
            f(first, &rows)?;
            first = end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::graph::Adjacency;

    /// A graph of 30 sellers and 40 products with pseudo-random listings and co-purchases,
    /// less the listings of the products `hidden` (they stay cold).
    fn random_graph(hidden: &[u32]) -> Graph {
        let (sellers, products) = (30u32, 40u32);
        let mut state = 11u64;
        let mut next = |n: u32| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % u64::from(n)) as u32
        };
        let mut listing: Vec<(u32, u32)> =
            (0..120).map(|_| (next(sellers), next(products))).collect();
        let mut pairs: Vec<(u32, u32)> = (0..60)
            .map(|_| (next(products), next(products)))
            .filter(|(a, b)| a != b)
            .flat_map(|(a, b)| [(a, b), (b, a)])
            .collect();
        listing.retain(|(_, p)| !hidden.contains(p));
        listing.sort_unstable();
        listing.dedup();
        let mut by_product: Vec<(u32, u32)> = listing.iter().map(|&(s, p)| (p, s)).collect();
        pairs.sort_unstable();
        pairs.dedup();
        let copurchase = std::sync::Arc::new(Adjacency::from_pairs(products as usize, &mut pairs));
        Graph {
            sellers,
            products,
            lists: Adjacency::from_pairs(sellers as usize, &mut listing),
            listed_by: Adjacency::from_pairs(products as usize, &mut by_product),
            copurchase,
            copurchase_weights: Default::default(),
            views: vec![1.0; products as usize],
            high_demand: vec![false; products as usize],
            pairs: Default::default(),
            threshold: 1,
        }
    }

    #[test]
    fn inference_of_some_nodes_equals_their_rows_of_inference_of_all() {
        let graph = random_graph(&[]);
        let cfg = ModelConfig::default();
        let params = initial_params(&cfg, 8);
        let base = Array2::from_shape_fn((graph.nodes(), 8), |(i, j)| {
            ((i * 7 + j * 3) % 11) as f32 / 11.0 - 0.4
        });
        let inputs = |ids: &[u32]| gather_rows(&base, ids);
        let all = infer(&graph, &cfg, &params, &inputs, None);
        let targets = [2, 5, 17, 31, 44, 69];
        let some = infer(&graph, &cfg, &params, &inputs, Some(&targets));
        for node in 0..graph.nodes() {
            let (a, b) = (all.rows.row(node), some.rows.row(node));
            if targets.contains(&(node as u32)) {
                assert!(a.iter().any(|&x| x != 0.0), "node {node} has an output");
                for (x, y) in a.iter().zip(b) {
                    assert!((x - y).abs() < 1e-6, "node {node}: {a} vs {b}");
                }
            } else {
                assert!(b.iter().all(|&x| x == 0.0), "node {node} was not asked for");
            }
        }
        // The output rows in runs, as `train` writes them: the same rows bit for bit.
        let mut runs = Vec::new();
        Hidden::new(&graph, &cfg, &params, &inputs, None)
            .outputs(0, INFER_CHUNK, |first, rows| {
                runs.push((first, rows.clone()));
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].0, &runs[0].1), (0, &all.rows));
    }

    #[test]
    fn a_frozen_trainer_infers_the_same_vectors_without_its_identity_table() {
        // Products 3 and 8 are cold in the training graph and listed in the full one; 3 has
        // an identity row from an earlier training (as after a fine-tuning's warm start).
        let (graph, full) = (random_graph(&[3, 8]), random_graph(&[]));
        assert!(!graph.is_warm(graph.product_node(3)) && full.is_warm(full.product_node(3)));
        let cfg = ModelConfig::default();
        assert_eq!(cfg.init, Init::Text);
        let base = Array2::from_shape_fn((graph.nodes(), 8), |(i, j)| {
            ((i * 7 + j * 3) % 11) as f32 / 11.0 - 0.4
        });
        let mut rows = IdentityRows::zeros(graph.nodes(), 8);
        for (i, mut row) in rows.table.outer_iter_mut().enumerate() {
            if i != graph.product_node(8) as usize {
                row.fill((i % 5) as f32 * 0.05 - 0.1);
            }
        }
        let state = Trainer::fresh_state(&cfg, 8);
        let mut trainer = Trainer::new(&graph, &cfg, state, base, rows, None);
        let before = [&graph, &full].map(|g| trainer.infer_on(g, None).rows);
        trainer.freeze(&full);
        assert_eq!(trainer.rows.table.len(), 0, "the identity table is freed");
        let after = [&graph, &full].map(|g| trainer.infer_on(g, None).rows);
        assert_ne!(
            before[0], before[1],
            "product 3's row counts on the full graph only"
        );
        assert_eq!(before, after);
        let mut written = Array2::zeros((0, after[1].ncols()));
        trainer
            .infer_each_on(&full, 0, INFER_CHUNK, |_, rows| {
                written.append(ndarray::Axis(0), rows.view())
            })
            .unwrap();
        assert_eq!(written, after[1]);
    }

    #[test]
    fn a_fine_tuning_keeps_new_edges_and_each_round_replays_its_own_share() {
        let all: Vec<(Id, Id)> = (0..100)
            .flat_map(|s| (0..100).map(move |p| (s, p)))
            .collect();
        let new: FxHashSet<(Id, Id)> = (0..100).map(|s| (s, s)).collect();
        let select = |round| {
            let mut roots = all.clone();
            Focus {
                new: &new,
                replay_share: 0.2,
                round,
            }
            .select(&mut roots, 9);
            roots.into_iter().collect::<FxHashSet<_>>()
        };
        let (first, second) = (select(2), select(3));
        assert!(new.iter().all(|e| first.contains(e) && second.contains(e)));
        // About a fifth of the 9 900 older edges each round…
        for kept in [&first, &second] {
            let replayed = kept.len() - new.len();
            assert!((1_800..2_200).contains(&replayed), "{replayed}");
        }
        // …drawn independently: they share about a fifth of a fifth, not all of them.
        let both = first.intersection(&second).count() - new.len();
        assert!((300..500).contains(&both), "{both}");
        assert_eq!(select(2), first, "a round's sample is reproducible");
    }
}
