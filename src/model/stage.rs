//! `demandlink train` against the store: loads the graph snapshot and the input vectors,
//! resumes from the last checkpoint, trains, writes every node's output embedding under a new
//! model generation and makes it the active model. A checkpoint (dense weights, Adam state,
//! cursor, and the input rows changed since the previous checkpoint with their AdaGrad
//! accumulators) is one write batch, so a killed run resumes exactly where it was.

use std::cell::Cell;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ndarray::{Array2, ArrayView1};
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use super::train::{
    Embeddings, Focus, INFER_CHUNK, IdentityRows, TrainState, Trainer, noise_table,
};
use super::validation::{EpochChoice, Validation};
use super::{Graph, Init, ModelConfig, ModelError, Selection};
use crate::affinity::Categories;
use crate::features::TextModel;
use crate::pause::pause;
use crate::progress::{Cancelled, Progress};
use crate::store::{
    BEST_GENERATION, CONTENT_GENERATION, INPUT_GENERATION, Id, Job, ModelRecord, Namespace,
    StageBatch, Store, StoreError,
};

const JOB: Job = Job::Train;

/// Checkpoints are at least this many times their own duration apart.
const CHECKPOINT_SPACING: u32 = 20;

/// Most validation products held out of training.
pub(crate) const VALIDATION_CAP: usize = 2_000;

/// Nodes per committed batch of output vectors: whole inference chunks, so a resumed write
/// computes its rows exactly as an uninterrupted one.
const WRITE_CHUNK: usize = 12 * INFER_CHUNK;

/// Identity rows per write batch when they are written ahead of a checkpoint (about 100 MB).
const ROWS_CHUNK: usize = 200_000;

/// A trained graph model: the generation holding its vectors and its score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct GraphModel {
    /// Model generation of the output embeddings.
    pub generation: u32,
    /// The score, its link relation, and how validation chose them (without validation
    /// products: the trained `σ(α·cos + β)`, no link terms and an empty table).
    pub selection: Selection,
    /// The configuration it was trained with.
    pub config: ModelConfig,
    /// Root edges per epoch.
    pub root_edges: u64,
    /// Mean batch loss per epoch.
    pub epoch_losses: Vec<f64>,
    /// Seconds of training (all runs of the job).
    pub train_seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Phase {
    Training,
    /// Output vectors of nodes below this one are written.
    Writing(u32),
    Done,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct TrainJob {
    config: ModelConfig,
    /// The inputs trained on: last drop and featurize run.
    inputs: (u32, u32),
    generation: u32,
    phase: Phase,
    state: TrainState,
    /// A fine-tuning's root edges, fixed when it starts so a resumed run trains the same.
    fine_tune: Option<FineTune>,
    /// The score, chosen before the vectors are written (the partner lists written with
    /// them are its relation), so a run resumed while writing keeps it.
    selection: Option<Selection>,
}

/// The root edges of a fine-tuning: the listing edges of drop `since` or later (the warm
/// model saw the drops before), plus `replay_share` of the others.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct FineTune {
    since: u32,
    replay_share: f32,
}

/// When to checkpoint, and whether to start over.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Train from scratch even when a model with the same configuration exists (otherwise
    /// a new training warm-starts from it for `fine_tune_epochs`).
    pub full: bool,
    /// Checkpoint at least this often.
    pub every: Duration,
    /// Also checkpoint every this many batches (tests use 1).
    pub every_batches: Option<u64>,
    /// Share of the older root edges (all but the new listings) a fine-tuning still trains.
    pub replay_share: f32,
    /// A training from scratch stops after this many epochs without a better validation
    /// Recall@100 and keeps its best epoch's weights (0: it trains all its epochs).
    pub patience: u32,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            full: false,
            every: Duration::from_secs(60),
            every_batches: None,
            replay_share: 0.2,
            patience: 3,
        }
    }
}

impl TrainOptions {
    /// The patience that can stop a training from scratch under `cfg`: none without
    /// validation products, or when the epochs end before it could (then the epochs are
    /// fixed, and the option does not change the model).
    pub fn patience(&self, cfg: &ModelConfig) -> Option<u32> {
        (self.patience > 0 && cfg.epochs > self.patience && cfg.validation_share > 0.0)
            .then_some(self.patience)
    }
}

/// What a training run did.
#[derive(Debug, Serialize)]
pub struct TrainSummary {
    /// The new model generation.
    pub generation: u32,
    /// Root edges per epoch.
    pub root_edges: u64,
    /// Epochs trained (in a fine-tuning, its own).
    pub epochs: u32,
    /// Under early stopping, the patience, the validation Recall@100 after each epoch of the
    /// training from scratch and its best epoch (whose weights the model has).
    pub early_stopping: Option<EarlyStopping>,
    /// Mean batch loss per epoch.
    pub epoch_losses: Vec<f64>,
    /// Seconds of training over all runs of this job.
    pub train_seconds: f64,
    /// Seconds of inference and writing in this run.
    pub infer_seconds: f64,
    /// Whether this run continued an interrupted one.
    pub resumed: bool,
    /// Whether it warm-started from the previous model (fine-tuning epochs only).
    pub fine_tuned: bool,
    /// Whether the active model was already trained on these inputs with this configuration
    /// (nothing was done).
    pub up_to_date: bool,
    /// Nodes embedded.
    pub nodes: u64,
    /// The final score `σ(α·cos + w₁·link₁ + w₂·link₂ + β)` and how it was chosen.
    pub selection: Selection,
}

/// How early stopping chose a model's epochs.
#[derive(Debug, Serialize)]
pub struct EarlyStopping {
    /// Epochs without a better validation Recall@100 before it stops.
    pub patience: u32,
    /// Validation Recall@100 of the cosine after each epoch.
    pub validation_recall: Vec<f64>,
    /// The epoch whose weights were kept (1-based).
    pub best_epoch: u32,
}

impl EarlyStopping {
    fn of(choice: Option<&EpochChoice>) -> Option<EarlyStopping> {
        let c = choice?;
        Some(EarlyStopping {
            patience: c.patience?,
            validation_recall: c.recalls.clone(),
            best_epoch: c.best,
        })
    }
}

impl TrainSummary {
    fn up_to_date(model: &GraphModel, choice: Option<&EpochChoice>) -> TrainSummary {
        TrainSummary {
            generation: model.generation,
            root_edges: model.root_edges,
            epochs: model.epoch_losses.len() as u32,
            early_stopping: EarlyStopping::of(choice),
            epoch_losses: model.epoch_losses.clone(),
            train_seconds: model.train_seconds,
            infer_seconds: 0.0,
            resumed: false,
            fine_tuned: false,
            up_to_date: true,
            nodes: 0,
            selection: model.selection.clone(),
        }
    }
}

/// The graph as stored, the training graph (validation products' listings removed: they fit
/// the final score) and the removed edges.
pub(crate) struct Graphs {
    pub full: Graph,
    pub graph: Graph,
    pub held: Vec<(u32, u32)>,
}

/// How a training starts.
enum Start {
    /// An interrupted training of the same inputs, from its last checkpoint.
    Resume(Box<TrainJob>),
    /// A fine-tuning of the finished model's state, trained on drops up to the one given.
    Warm(TrainState, u32),
    /// From scratch.
    Fresh,
}

/// A training's inputs: the fixed input features, their dimension, and the identity rows.
struct Inputs {
    base: Array2<f32>,
    dims: usize,
    rows: IdentityRows,
}

/// The graphs, and beside them (both are mostly single scans of the store: a core each) the
/// inputs, with the identity rows restored from the store when `restore` says so, else zero.
fn load(store: &Store, cfg: &ModelConfig, restore: bool) -> Result<(Graphs, Inputs), ModelError> {
    let nodes = Nodes::of(store)?;
    std::thread::scope(|scope| {
        let inputs = scope.spawn(|| -> Result<_, ModelError> {
            let (base, dims) = input_features(store, cfg, nodes)?;
            let mut rows = IdentityRows::zeros(base.nrows(), base.ncols());
            if restore {
                read_rows(store, nodes, INPUT_GENERATION, &mut rows, None)?;
            }
            Ok(Inputs { base, dims, rows })
        });
        let graphs = graphs(store, cfg);
        let inputs = inputs
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let graphs = graphs?;
        debug_assert!(Nodes::of_graph(&graphs.full) == nodes);
        Ok((graphs, inputs?))
    })
}

/// The node layout of the graph a store holds: sellers first, then products (as [`Graph`]
/// numbers them), known before the graph is loaded.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Nodes {
    sellers: u32,
    products: u32,
}

impl Nodes {
    fn of(store: &Store) -> Result<Nodes, StoreError> {
        Ok(Nodes {
            sellers: store.entity_count(Namespace::Seller)?,
            products: store.entity_count(Namespace::Product)?,
        })
    }

    fn of_graph(graph: &Graph) -> Nodes {
        Nodes {
            sellers: graph.sellers,
            products: graph.products,
        }
    }

    fn len(self) -> usize {
        (self.sellers + self.products) as usize
    }

    fn product(self, p: Id) -> usize {
        (self.sellers + p) as usize
    }
}

/// The graphs `cfg` trains on: `train`, `eval --ablation`, and `import-embeddings`, whose
/// score is fitted on the same held-out products.
pub(crate) fn graphs(store: &Store, cfg: &ModelConfig) -> Result<Graphs, ModelError> {
    let full = Graph::load(store, &cfg.graph)?;
    if full.lists.edges() == 0 {
        return Err(ModelError::NoEdges);
    }
    let validation = full.validation_products(cfg.validation_share, VALIDATION_CAP, cfg.seed);
    let (graph, held) = full.hold_out(&validation);
    Ok(Graphs { full, graph, held })
}

/// A model trained in memory only (nothing written): for `eval --ablation`.
pub(crate) struct Fitted {
    /// Output vectors of every node.
    pub embeddings: Embeddings,
    /// The score and its link relation.
    pub selection: Selection,
    /// Seconds of training.
    pub train_seconds: f64,
}

/// Trains a model under `cfg` (stopping early as `opts` says) in memory, without
/// checkpoints or writes.
pub(crate) fn fit(
    store: &Store,
    cfg: &ModelConfig,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<Fitted, ModelError> {
    cfg.validate()?;
    let graphs = graphs(store, cfg)?;
    let validation = Validation::new(&graphs.graph, &graphs.held);
    let (base, dims) = input_features(store, cfg, Nodes::of_graph(&graphs.graph))?;
    let rows = IdentityRows::zeros(base.nrows(), base.ncols());
    let state = Trainer::fresh_state(cfg, dims);
    let mut trainer = Trainer::new(&graphs.graph, cfg, state, base, rows, None);
    if trainer.root_count() == 0 {
        return Err(ModelError::NoEdges);
    }
    // The best epoch's rows, kept in memory.
    let mut best = None;
    if let (Some(v), Some(patience)) = (&validation, opts.patience(cfg)) {
        trainer.stop_early(v, EpochChoice::new(Some(patience)), false);
        best = Some(trainer.rows.table.clone());
    }
    progress.start("train", trainer.total_batches());
    let mut done = 0;
    trainer.run(
        &AtomicBool::new(false),
        |_| {
            done += 1;
            progress.set(done);
        },
        |_| false,
        |t| {
            t.take_dirty();
            if let (Some(rows), Some(best)) = (t.best_rows_due(), &mut best) {
                for i in rows {
                    best.row_mut(i as usize)
                        .assign(&t.rows.table.row(i as usize));
                }
            }
            Ok(())
        },
    )?;
    trainer.restore_best(|rows, changed| {
        let best = best.as_ref().expect("early stopping keeps the best rows");
        for (i, _) in changed.iter().enumerate().filter(|c| *c.1) {
            rows.table.row_mut(i).assign(&best.row(i));
        }
        Ok(())
    })?;
    progress.finish();
    trainer.freeze(&graphs.full);
    let categories = Categories::load(store)?;
    Ok(Fitted {
        selection: choose_score(&trainer, validation.as_ref(), &categories, progress),
        embeddings: trainer.infer_on(&graphs.full, None),
        train_seconds: trainer.state.seconds,
    })
}

/// Trains the graph model (or resumes its interrupted training) and activates it; does
/// nothing when the active model was trained on the same inputs with the same configuration.
pub fn train(
    store: &Store,
    cfg: &ModelConfig,
    opts: &TrainOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<TrainSummary, ModelError> {
    cfg.validate()?;
    let text = store
        .model::<TextModel>(ModelRecord::Text)?
        .ok_or(ModelError::NotFeaturized)?;
    let inputs = (store.next_drop_seq()?, text.run);
    let patience = opts.patience(cfg);
    let previous = store.job::<TrainJob>(JOB)?;
    // How the last training from scratch chose its epochs (none: by a build before early
    // stopping, which trained its fixed epochs).
    let epochs_chosen = store.job::<EpochChoice>(Job::TrainEpochs)?;
    let same_patience = epochs_chosen
        .as_ref()
        .is_none_or(|c| c.patience == patience);
    // A model record another build wrote (another layout) cannot be warm-started from.
    let active = match store.model::<GraphModel>(ModelRecord::Graph) {
        Err(StoreError::Corrupt { .. }) => None,
        other => other?,
    };
    if let (Some(job), Some(model)) = (&previous, &active)
        && job.phase == Phase::Done
        && job.config == *cfg
        && job.inputs == inputs
        && model.generation == job.generation
        && same_patience
    {
        return Ok(TrainSummary::up_to_date(model, epochs_chosen.as_ref()));
    }
    let start = match previous {
        Some(job)
            if job.phase != Phase::Done
                && job.config == *cfg
                && job.inputs == inputs
                && (job.fine_tune.is_some()
                    || epochs_chosen
                        .as_ref()
                        .is_some_and(|c| c.patience == patience)) =>
        {
            Start::Resume(Box::new(job))
        }
        // A model trained with this configuration on earlier inputs: warm-start from its
        // weights, optimiser state and identity rows (new nodes start at zero) and train only
        // the fine-tuning epochs.
        Some(job)
            if !opts.full
                && job.phase == Phase::Done
                && job.config == *cfg
                && active
                    .as_ref()
                    .is_some_and(|m| m.generation == job.generation) =>
        {
            Start::Warm(job.state, job.inputs.0)
        }
        _ => Start::Fresh,
    };
    let loading = Instant::now();
    let restore = !matches!(start, Start::Fresh);
    let (Graphs { full, graph, held }, Inputs { base, dims, rows }) = load(store, cfg, restore)?;
    let validation = Validation::new(&graph, &held);
    tracing::info!(
        seconds = loading.elapsed().as_secs_f64(),
        nodes = full.nodes(),
        "training graph and inputs loaded"
    );
    let mut fine_tune = false;
    let (job, resumed) = match start {
        Start::Resume(job) => {
            fine_tune = job.state.epochs != cfg.epochs;
            (*job, true)
        }
        start => {
            let last = last_generation(store)?;
            let mut batch = StageBatch::new(store);
            let (state, fine_tune) = match start {
                Start::Warm(done, since) => {
                    fine_tune = true;
                    let state = TrainState {
                        epochs: cfg.fine_tune_epochs,
                        epoch: 0,
                        batch: 0,
                        epoch_losses: Vec::new(),
                        loss_so_far: 0.0,
                        seconds: 0.0,
                        ..done
                    };
                    let replay_share = opts.replay_share;
                    (
                        state,
                        Some(FineTune {
                            since,
                            replay_share,
                        }),
                    )
                }
                _ => {
                    batch.delete_generation(INPUT_GENERATION);
                    batch.delete_generation(BEST_GENERATION);
                    batch.put_job(Job::TrainEpochs, &EpochChoice::new(patience));
                    (Trainer::fresh_state(cfg, dims), None)
                }
            };
            let job = TrainJob {
                config: cfg.clone(),
                inputs,
                generation: last + 1,
                phase: Phase::Training,
                state,
                fine_tune,
                selection: None,
            };
            batch.delete_generation(job.generation);
            batch.commit(JOB, &job)?;
            (job, false)
        }
    };
    let generation = job.generation;
    // A run killed while writing vectors resumes after the last committed chunk.
    let start_node = match job.phase {
        Phase::Writing(next) => next,
        _ => 0,
    };
    let tuning = job.fine_tune;
    let chosen = job.selection.clone();
    let new = match tuning {
        Some(f) => Some((listings_since(store, f.since)?, f)),
        None => None,
    };
    let focus = new.as_ref().map(|(new, f)| Focus {
        new,
        replay_share: f.replay_share,
        round: f.since,
    });
    let mut trainer = Trainer::new(&graph, cfg, job.state, base, rows, focus);
    if trainer.root_count() == 0 {
        return Err(ModelError::NoEdges);
    }
    tracing::info!(
        seconds = loading.elapsed().as_secs_f64(),
        root_edges = trainer.root_count(),
        "trainer ready"
    );
    // A fine-tuning trains its fixed epochs: early stopping is for trainings from scratch.
    if let (Some(v), Some(_), None) = (&validation, patience, tuning) {
        let choice = match epochs_chosen {
            Some(c) if resumed => c,
            _ => EpochChoice::new(patience),
        };
        trainer.stop_early(v, choice, resumed);
    }
    let per_epoch = trainer.batches_per_epoch();
    let done_batches = |t: &Trainer| u64::from(t.state.epoch) * per_epoch + t.state.batch;
    // When the last checkpoint ended, the batches done then, and how long it took.
    let last_checkpoint = Cell::new((Instant::now(), done_batches(&trainer), Duration::ZERO));
    progress.start("train", trainer.total_batches());
    progress.set(done_batches(&trainer));
    if start_node == 0 {
        let trained = trainer.run(
            cancel,
            |t| progress.set(done_batches(t)),
            |t| {
                let (at, batches, cost) = last_checkpoint.get();
                // A checkpoint writes every row changed since the last one: a million rows on a
                // large graph, flushed and compacted by RocksDB on the same cores afterwards.
                // Spacing them twenty times their own duration apart keeps them near a twentieth
                // of the training time whatever the graph's size; a crash loses at most that
                // spacing (2–3 minutes at the reference size).
                at.elapsed() >= opts.every.max(cost * CHECKPOINT_SPACING)
                    || opts
                        .every_batches
                        .is_some_and(|n| done_batches(t) - batches >= n)
            },
            |t| {
                let started = Instant::now();
                let rows = checkpoint(store, &graph, t, cfg, inputs, (generation, tuning))?;
                let cost = started.elapsed();
                tracing::info!(
                    rows,
                    seconds = cost.as_secs_f64(),
                    batches = done_batches(t),
                    "training checkpoint"
                );
                last_checkpoint.set((Instant::now(), done_batches(t), cost));
                Ok(())
            },
        );
        if let Err(ModelError::Interrupted) = trained {
            // The loop stopped after a checkpoint: a rerun resumes from it.
            return Err(Cancelled.into());
        }
        trained?;
        let load = |rows: &mut IdentityRows, changed: &[bool]| {
            read_rows(
                store,
                Nodes::of_graph(&graph),
                BEST_GENERATION,
                rows,
                Some(changed),
            )
        };
        if trainer.restore_best(load)? {
            // The restored rows (every row trained since the best epoch: millions at the
            // reference size) go ahead of the checkpoint in chunks, as the best rows do: a
            // run killed in between resumes at the end of training and restores every row
            // from the best rows again.
            let restored = trainer.take_dirty();
            write_rows(store, &graph, &trainer, INPUT_GENERATION, &restored)?;
            checkpoint(
                store,
                &graph,
                &mut trainer,
                cfg,
                inputs,
                (generation, tuning),
            )?;
        }
    }
    progress.finish();
    // Training is over: the identity rows become part of the inputs, and their table is freed
    // before the selection and the writing.
    trainer.freeze(&full);

    let started = Instant::now();
    let selection = match chosen {
        Some(selection) => selection,
        None => choose_score(
            &trainer,
            validation.as_ref(),
            &Categories::load(store)?,
            progress,
        ),
    };
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "score chosen");
    // The relation the link features were chosen on serves them too.
    let relation = selection
        .uses_links()
        .then(|| full.link_relation(selection.rule));
    let nodes = full.nodes();
    progress.start("write embeddings", nodes as u64);
    let mut job = TrainJob {
        config: cfg.clone(),
        inputs,
        generation,
        phase: Phase::Training,
        state: trainer.state.clone(),
        fine_tune: tuning,
        selection: Some(selection.clone()),
    };
    // A run written by a build with other runs resumes from the start of its chunk.
    let start = start_node as usize / WRITE_CHUNK * WRITE_CHUNK;
    // Each chunk is committed (its vectors, then the cursor after it) on a writer thread while
    // the next one is inferred: writing 4.5 M vectors into RocksDB took as long as inferring
    // them. Chunks are committed in order, so a crash still resumes after the last commit.
    std::thread::scope(|scope| {
        let (chunks, written) = std::sync::mpsc::sync_channel::<(StageBatch, TrainJob)>(1);
        let writer = scope.spawn(move || -> Result<(), ModelError> {
            for (mut batch, job) in written {
                batch.commit(JOB, &job)?;
            }
            Ok(())
        });
        let inferred = trainer.infer_each_on(&full, start, WRITE_CHUNK, |first, rows| {
            let end = first + rows.nrows();
            let mut batch = StageBatch::new(store);
            for (n, row) in (first..end).zip(rows.outer_iter()) {
                let (ns, id) = kind(&graph, n as u32);
                batch.put_embedding(generation, ns, id, row.as_slice().expect("standard layout"));
                if let (Namespace::Product, Some(relation)) = (ns, &relation) {
                    let partners = relation.partners(id);
                    if !partners.is_empty() {
                        batch.put_partners(generation, id, partners);
                    }
                }
            }
            job.phase = Phase::Writing(end as u32);
            if chunks.send((batch, job.clone())).is_err() {
                // The writer stopped on an error: its join below returns that one.
                return Err(ModelError::Interrupted);
            }
            progress.set(end as u64);
            Ok(())
        });
        drop(chunks);
        writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        inferred
    })?;
    progress.finish();

    let early_stopping = EarlyStopping::of(trainer.epoch_choice());
    let model = GraphModel {
        generation,
        selection,
        config: cfg.clone(),
        root_edges: trainer.root_count() as u64,
        epoch_losses: trainer.state.epoch_losses.clone(),
        train_seconds: trainer.state.seconds,
    };
    let mut batch = StageBatch::new(store);
    if let Some(old) = active.filter(|m| m.generation != generation) {
        batch.delete_generation(old.generation);
    }
    batch.put_model(ModelRecord::Graph, &model);
    if let Some(choice) = trainer.epoch_choice() {
        // The best epoch's weights are the model's now.
        let choice = EpochChoice {
            params: None,
            ..choice.clone()
        };
        batch.put_job(Job::TrainEpochs, &choice);
    }
    batch.delete_generation(BEST_GENERATION);
    job.phase = Phase::Done;
    batch.commit(JOB, &job)?;
    Ok(TrainSummary {
        generation,
        root_edges: model.root_edges,
        epochs: trainer.state.epoch,
        early_stopping,
        epoch_losses: model.epoch_losses,
        train_seconds: model.train_seconds,
        infer_seconds: started.elapsed().as_secs_f64(),
        resumed,
        fine_tuned: fine_tune,
        up_to_date: false,
        nodes: nodes as u64,
        selection: model.selection,
    })
}

/// The active graph model's generation and configuration, or the content model's generation
/// and the default configuration before any training: what an export is taken with (its
/// co-purchase rule and held-out products are the active model's).
pub(crate) fn active_config(store: &Store) -> Result<(u32, ModelConfig), StoreError> {
    match store.model::<GraphModel>(ModelRecord::Graph) {
        Ok(Some(m)) => Ok((m.generation, m.config)),
        // A model record of another layout: the defaults, as for a new training.
        Ok(None) | Err(StoreError::Corrupt { .. }) => {
            Ok((CONTENT_GENERATION, ModelConfig::default()))
        }
        Err(e) => Err(e),
    }
}

/// The highest model generation taken: the active model's, the last training's (perhaps
/// still being written) or the last import's. A new generation is the next one, so a model
/// being written never shares its generation with another.
pub(crate) fn last_generation(store: &Store) -> Result<u32, ModelError> {
    // A model record or job state of another layout holds no generation this build writes.
    let active = match store.model::<GraphModel>(ModelRecord::Graph) {
        Err(StoreError::Corrupt { .. }) => None,
        other => other?,
    };
    let trained = store.job::<TrainJob>(JOB)?.map(|j| j.generation);
    Ok([
        active.map(|m| m.generation),
        trained,
        crate::import::last_generation(store)?,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(CONTENT_GENERATION))
}

/// The final score chosen on the validation products ([`Trainer::fit_score`]), or without
/// any the trained `σ(α·cos + β)` alone.
fn choose_score(
    trainer: &Trainer,
    validation: Option<&Validation>,
    categories: &Categories,
    progress: &dyn Progress,
) -> Selection {
    progress.start("choose the score", 1);
    let selection = validation
        .and_then(|v| trainer.fit_score(v, categories))
        .unwrap_or_else(|| {
            Selection::cosine_only(trainer.state.params.alpha(), trainer.state.params.beta())
        });
    progress.finish();
    selection
}

/// The store namespace and id of a graph node.
fn kind(graph: &Graph, node: u32) -> (Namespace, u32) {
    if graph.is_seller(node) {
        (Namespace::Seller, node)
    } else {
        (Namespace::Product, node - graph.sellers)
    }
}

/// The fixed input features: seeded noise, plus (under `--init text`) each product's text
/// vector; and their dimension. (Sellers' text features, the view-weighted mean of their
/// products' vectors, are computed per batch by the trainer.)
fn input_features(
    store: &Store,
    cfg: &ModelConfig,
    nodes: Nodes,
) -> Result<(Array2<f32>, usize), ModelError> {
    // Every product vector has the text model's dimension (imported vectors included).
    let dims = store
        .model::<TextModel>(ModelRecord::Text)?
        .ok_or(ModelError::NotFeaturized)?
        .config
        .dim;
    let mut table = noise_table(cfg, dims, nodes.len());
    if cfg.init == Init::Text {
        let mut has_text = vec![false; nodes.products as usize];
        store.for_each_feature(|p, f| {
            let node = nodes.product(p);
            if f.vector.len() == dims && node < table.nrows() && f.vector.iter().any(|&x| x != 0.0)
            {
                table
                    .row_mut(node)
                    .scaled_add(1.0, &ArrayView1::from(&f.vector[..]));
                has_text[p as usize] = true;
            }
        })?;
        // A product without text gets unit-length noise instead: a fixed random signature as
        // strong as a text vector, which still tells its neighbours apart when it is cold.
        for p in (0..nodes.products).filter(|&p| !has_text[p as usize]) {
            let mut row = table.row_mut(nodes.product(p));
            let norm = row.dot(&row).sqrt();
            if norm > 0.0 {
                row /= norm;
            }
        }
    }
    Ok((table, dims))
}

/// The listing edges (seller node, product) of drop `since` or later.
fn listings_since(store: &Store, since: u32) -> Result<FxHashSet<(Id, Id)>, ModelError> {
    let mut new = FxHashSet::default();
    store.for_each_listing(|s, p, listing| {
        if listing.drop >= since {
            new.insert((s, p));
        }
    })?;
    Ok(new)
}

/// Overwrites the rows stored under `generation` (of the nodes marked in `only`, or all): the
/// row, then its accumulator (a row written with one accumulator per value, before row-wise
/// AdaGrad, takes their mean).
fn read_rows(
    store: &Store,
    nodes: Nodes,
    generation: u32,
    rows: &mut IdentityRows,
    only: Option<&[bool]>,
) -> Result<(), ModelError> {
    let d = rows.table.ncols();
    for ns in [Namespace::Seller, Namespace::Product] {
        store.for_each_embedding(generation, ns, |id, v| {
            let node = match ns {
                Namespace::Seller => id as usize,
                Namespace::Product => nodes.product(id),
            };
            if (v.len() == d + 1 || v.len() == 2 * d)
                && node < rows.table.nrows()
                && only.is_none_or(|o| o[node])
            {
                rows.table.row_mut(node).assign(&ArrayView1::from(&v[..d]));
                let acc = &v[d..];
                rows.accum[node] = acc.iter().sum::<f32>() / acc.len() as f32;
            }
        })?;
    }
    Ok(())
}

/// Writes the dirty rows and the job state in one batch (after the best epoch's rows, when
/// due); returns the rows written.
fn checkpoint(
    store: &Store,
    graph: &Graph,
    trainer: &mut Trainer,
    cfg: &ModelConfig,
    inputs: (u32, u32),
    (generation, fine_tune): (u32, Option<FineTune>),
) -> Result<usize, ModelError> {
    let dirty = trainer.take_dirty();
    // The best epoch's rows (every trained row after the first epoch: millions, 2 GB at the
    // reference size) are written ahead of the checkpoint in chunks. In its one batch they
    // tripled it, and RocksDB holds a batch about twice while writing it: the peak of
    // training. Ahead of the job state they are safe: a run killed before the checkpoint
    // commits resumes before this epoch's end, judges it the same, and writes them all again.
    if let Some(best) = trainer.best_rows_due() {
        write_rows(store, graph, trainer, BEST_GENERATION, &best)?;
    }
    let mut batch = StageBatch::with_capacity(store, rows_bytes(trainer, dirty.len()));
    put_rows(&mut batch, graph, trainer, INPUT_GENERATION, &dirty);
    if let Some(choice) = trainer.epoch_choice() {
        batch.put_job(Job::TrainEpochs, choice);
    }
    let job = TrainJob {
        config: cfg.clone(),
        inputs,
        generation,
        phase: Phase::Training,
        state: trainer.state.clone(),
        fine_tune,
        selection: None,
    };
    batch.commit(JOB, &job)?;
    Ok(dirty.len())
}

/// Writes the identity rows of `nodes` under `generation` in batches of [`ROWS_CHUNK`] rows,
/// without a job state: only for rows a resumed run writes again before it reads them.
fn write_rows(
    store: &Store,
    graph: &Graph,
    trainer: &Trainer,
    generation: u32,
    nodes: &[u32],
) -> Result<(), ModelError> {
    for chunk in nodes.chunks(ROWS_CHUNK) {
        let mut batch = StageBatch::with_capacity(store, rows_bytes(trainer, chunk.len()));
        put_rows(&mut batch, graph, trainer, generation, chunk);
        batch.write()?;
        pause(match generation {
            BEST_GENERATION => "train.best_rows",
            _ => "train.restored_rows",
        });
    }
    Ok(())
}

/// About the bytes `rows` identity rows take in a write batch (key, row, accumulator and the
/// batch's own framing).
fn rows_bytes(trainer: &Trainer, rows: usize) -> usize {
    rows * (4 * (trainer.rows.table.ncols() + 1) + 24)
}

/// Stages the identity rows of `nodes`, each followed by its accumulator, under `generation`.
fn put_rows(
    batch: &mut StageBatch,
    graph: &Graph,
    trainer: &Trainer,
    generation: u32,
    nodes: &[u32],
) {
    let mut value = Vec::with_capacity(trainer.rows.table.ncols() + 1);
    for &node in nodes {
        let (ns, id) = kind(graph, node);
        value.clear();
        value.extend(trainer.rows.table.row(node as usize));
        value.push(trainer.rows.accum[node as usize]);
        batch.put_embedding(generation, ns, id, &value);
    }
}
