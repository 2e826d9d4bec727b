//! Refresh: the quarterly chain — apply new drops, then featurize, index and recommend — as a
//! list of jobs whose state lives in the store.
//!
//! Each stage keeps its own cursor, committed with its output (drop cursors, the featurize
//! run, the seller and recommend cursors, the index generation switch), so a refresh killed at
//! any instant and rerun continues from the last commit. On top of that every stage has a
//! [`JobRecord`]: pending, running (with its last progress), done for a given set of inputs,
//! failed with its error, or interrupted. A rerun skips the stages that are done for the
//! inputs it would give them; once a stage runs, every stage after it runs too.
//!
//! **Architecture invariant**: a refresh validates every drop it is given before it writes
//! anything; a refused drop leaves the store exactly as it was.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use xxhash_rust::xxh3::Xxh3;

use crate::checkpoint::{self, CheckpointError, CheckpointInfo};
use crate::clock;
use crate::features::{self, FeaturizeOptions, FeaturizeSummary, SellerOptions, SellerSummary};
use crate::index::stage::{self as index_stage, StageSummary};
use crate::index::{BuildOptions, Depth, Health};
use crate::ingest::{self, IngestError, IngestOptions, Plan, Prepared, Summary};
use crate::model::{self, ModelConfig, TrainOptions, TrainSummary};
use crate::progress::{Cancelled, NoProgress, Progress};
use crate::recommend::{self, RecommendOptions, RecommendSummary, Recommender};
use crate::store::{DropState, JobRecord, JobState, RefreshStage, Store, StoreError};

/// The stages in the order they run (`train` does nothing when the options choose the
/// content model).
const CHAIN: [&dyn Stage; 5] = [
    &IngestStage,
    &FeaturizeStage,
    &TrainStage,
    &IndexStage,
    &RecommendStage,
];

/// The stages in the order they run.
pub fn stage_order() -> Vec<RefreshStage> {
    CHAIN.iter().map(|s| s.stage()).collect()
}

/// Errors of a refresh.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// A drop was refused at validation; nothing was written.
    #[error("drop {path} not applied, nothing written")]
    Drop {
        /// The drop folder.
        path: PathBuf,
        /// Why.
        source: IngestError,
    },
    /// A new drop's name sorts before a drop applied before it.
    #[error(
        "drop {path} not applied, nothing written: its name `{name}` sorts before `{last}`, \
         which is applied already; drops are applied in name order (views and high-demand \
         lists are per period) — rename it to sort after `{last}`, or pass \
         --allow-out-of-order to apply it as the latest period anyway"
    )]
    OutOfOrder {
        /// The drop folder.
        path: PathBuf,
        /// Its name.
        name: String,
        /// The latest name applied before it.
        last: String,
    },
    /// Two folders given have the same name and different content.
    #[error(
        "drop {path} not applied, nothing written: another folder named `{name}` with other \
         content comes before it; a drop name is applied once"
    )]
    Twins {
        /// The second folder.
        path: PathBuf,
        /// Their name.
        name: String,
    },
    /// A drop was left half-applied by an interrupted run and is not among the folders given.
    #[error(
        "drop `{name}` (#{seq}) is partly applied (an earlier ingest or refresh was \
         interrupted); rerun refresh with its folder to finish it first"
    )]
    PartlyApplied {
        /// Its name.
        name: String,
        /// Its sequence number.
        seq: u32,
    },
    /// Ctrl-C: the stage stopped after a commit.
    #[error(
        "interrupted during {stage} (its progress is committed); rerun the same command to \
         continue where it stopped"
    )]
    Interrupted {
        /// The stage.
        stage: &'static str,
        /// The stage's cancellation.
        source: Cancelled,
    },
    /// A stage failed; its job record says so and a rerun retries it.
    #[error("{stage} failed")]
    Failed {
        /// The stage.
        stage: &'static str,
        /// The stage's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The checkpoint taken before applying the drops failed; nothing was applied.
    #[error("checkpoint before applying the drops failed, nothing applied")]
    Checkpoint(#[from] CheckpointError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Options of every stage of a refresh.
#[derive(Clone, Debug)]
pub struct RefreshOptions {
    /// Ingest of new drops.
    pub ingest: IngestOptions,
    /// Product vectors.
    pub featurize: FeaturizeOptions,
    /// Seller vectors and the score calibration.
    pub sellers: SellerOptions,
    /// The graph model; `None` serves the content model.
    pub train: Option<ModelConfig>,
    /// How the graph model trains: from scratch (`full`) or fine-tuning the previous one.
    pub training: TrainOptions,
    /// Index build.
    pub index: BuildOptions,
    /// Recommendations.
    pub recommend: RecommendOptions,
    /// Apply a new drop even when its name sorts before an applied drop's.
    pub allow_out_of_order: bool,
    /// Checkpoints kept: before it applies a new drop, a refresh keeps the database as it is
    /// in `DB/checkpoints/<last drop>/` and removes all but the newest this many (0: takes
    /// none).
    pub keep_checkpoints: usize,
}

impl Default for RefreshOptions {
    fn default() -> Self {
        RefreshOptions {
            ingest: IngestOptions::default(),
            featurize: FeaturizeOptions::default(),
            sellers: SellerOptions::default(),
            train: None,
            training: TrainOptions::default(),
            index: BuildOptions::default(),
            recommend: RecommendOptions::default(),
            allow_out_of_order: false,
            // Two: the quarter before the last refresh can still be gone back to while the
            // next one runs.
            keep_checkpoints: 2,
        }
    }
}

/// What a stage did.
pub enum Finished {
    /// Drops applied (or finished after an interruption), in order.
    Ingest(Vec<Summary>),
    /// Product vectors, then seller vectors.
    Featurize(FeaturizeSummary, SellerSummary),
    /// The graph model (`None`: the content model is served).
    Train(Option<TrainSummary>),
    /// A new index generation.
    Index(StageSummary),
    /// The active index generation already holds the current candidates.
    IndexCurrent(u32),
    /// Every seller's lists.
    Recommend(RecommendSummary),
}

/// What a refresh reports while it runs.
pub enum Event<'a> {
    /// A drop given was applied before (same content); it is skipped.
    AlreadyApplied {
        /// The folder given.
        path: &'a Path,
        /// The name it was applied under.
        name: &'a str,
        /// Its sequence number.
        seq: u32,
    },
    /// A drop given is valid and will be applied (or finished, after an interruption).
    Validated {
        /// Its name.
        name: &'a str,
        /// Its data rows.
        rows: u64,
        /// Whether an interrupted ingest of it is continued.
        resumes: bool,
    },
    /// The database as it was before this refresh's drops was kept as a checkpoint.
    Checkpoint {
        /// The checkpoint.
        info: &'a CheckpointInfo,
    },
    /// A stage is done for the current inputs and does not run.
    UpToDate {
        /// The stage.
        stage: &'static str,
    },
    /// A stage finished.
    Finished {
        /// The stage.
        stage: &'static str,
        /// What it did.
        result: &'a Finished,
        /// Its wall time.
        elapsed: Duration,
    },
}

/// What a refresh did.
#[derive(Debug)]
pub struct Report {
    /// Stages that ran (0: everything was up to date and nothing was written).
    pub stages_run: usize,
    /// Drops applied by this run.
    pub drops_applied: usize,
    /// The latest drop after the run (0: none yet).
    pub last_drop: u32,
}

/// Why a stage stopped early.
enum Fault {
    Cancelled,
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for Fault {
    fn from(e: E) -> Self {
        match Cancelled::in_chain(&e) {
            true => Fault::Cancelled,
            false => Fault::Failed(Box::new(e)),
        }
    }
}

/// Everything a stage needs.
struct Context<'a> {
    store: &'a Store,
    opts: &'a RefreshOptions,
    /// The drops to apply, consumed by the ingest stage.
    drops: Vec<Prepared>,
    cancel: &'a AtomicBool,
}

/// One link of the chain.
trait Stage: Sync {
    /// Which stage it is (its record's key).
    fn stage(&self) -> RefreshStage;
    /// The stage's name in messages.
    fn name(&self) -> &'static str {
        self.stage().name()
    }
    /// The options the stage's output depends on, as text to hash into its inputs.
    fn options(&self, opts: &RefreshOptions) -> String;
    /// Whether there is work for the stage regardless of its record (ingest: drops to apply).
    fn has_work(&self, _cx: &Context) -> bool {
        false
    }
    /// Runs the stage; it commits its own progress and output.
    fn run(&self, cx: &mut Context, progress: &dyn Progress) -> Result<Finished, Fault>;
}

struct IngestStage;
struct FeaturizeStage;
struct TrainStage;
struct IndexStage;
struct RecommendStage;

impl Stage for IngestStage {
    fn stage(&self) -> RefreshStage {
        RefreshStage::Ingest
    }
    fn options(&self, _opts: &RefreshOptions) -> String {
        // The ingest options shape the drops' rows, and drops are recorded per drop.
        String::new()
    }
    fn has_work(&self, cx: &Context) -> bool {
        !cx.drops.is_empty()
    }
    fn run(&self, cx: &mut Context, progress: &dyn Progress) -> Result<Finished, Fault> {
        let mut done = Vec::new();
        for drop in std::mem::take(&mut cx.drops) {
            done.push(drop.apply(cx.store, &cx.opts.ingest, progress, cx.cancel)?);
        }
        Ok(Finished::Ingest(done))
    }
}

impl Stage for FeaturizeStage {
    fn stage(&self) -> RefreshStage {
        RefreshStage::Featurize
    }
    fn options(&self, opts: &RefreshOptions) -> String {
        let (f, s) = (&opts.featurize, &opts.sellers);
        format!(
            "{:?} {} {} {} {} {}",
            f.dim, f.seed, f.category_depth, f.idf_drift, s.window, s.calibration_examples
        )
    }
    fn run(&self, cx: &mut Context, progress: &dyn Progress) -> Result<Finished, Fault> {
        let f = features::featurize(cx.store, &cx.opts.featurize, progress, cx.cancel)?;
        let s = features::seller_vectors(cx.store, &cx.opts.sellers, progress, cx.cancel)?;
        Ok(Finished::Featurize(f, s))
    }
}

impl Stage for TrainStage {
    fn stage(&self) -> RefreshStage {
        RefreshStage::Train
    }
    fn options(&self, opts: &RefreshOptions) -> String {
        let t = &opts.training;
        let mut options = format!("{:?} {} {}", opts.train, t.full, t.replay_share);
        // Patience that cannot stop a training changes nothing (and a record written before
        // early stopping stays current).
        if let Some(patience) = opts.train.as_ref().and_then(|cfg| t.patience(cfg)) {
            options += &format!(" patience {patience}");
        }
        options
    }
    fn run(&self, cx: &mut Context, progress: &dyn Progress) -> Result<Finished, Fault> {
        let Some(cfg) = &cx.opts.train else {
            return Ok(Finished::Train(None));
        };
        let t = model::train(cx.store, cfg, &cx.opts.training, progress, cx.cancel)?;
        Ok(Finished::Train(Some(t)))
    }
}

impl Stage for IndexStage {
    fn stage(&self) -> RefreshStage {
        RefreshStage::Index
    }
    fn options(&self, opts: &RefreshOptions) -> String {
        format!("{:?}", opts.index)
    }
    /// A damaged active generation is rebuilt even when the stage is done for its inputs
    /// (an error reading it is left for the stage to report).
    fn has_work(&self, cx: &Context) -> bool {
        let health = index_stage::active_health(cx.store, Depth::Quick, &NoProgress);
        matches!(health, Ok(Some((_, Health::Damaged(_)))))
    }
    fn run(&self, cx: &mut Context, progress: &dyn Progress) -> Result<Finished, Fault> {
        let depth = features::category_depth(cx.store)?;
        // A build killed after its switch and rerun, or a refresh whose new drops changed no
        // candidate, keeps the generation it has (unless its files are damaged).
        if let Some(g) = index_stage::current_generation(cx.store, &cx.opts.index, depth)? {
            return Ok(Finished::IndexCurrent(g));
        }
        let s = index_stage::build_index(cx.store, &cx.opts.index, depth, progress, cx.cancel)?;
        Ok(Finished::Index(s))
    }
}

impl Stage for RecommendStage {
    fn stage(&self) -> RefreshStage {
        RefreshStage::Recommend
    }
    fn options(&self, opts: &RefreshOptions) -> String {
        let r = &opts.recommend;
        format!("{} {} {:?} {:?}", r.k, r.threshold, r.category, r.search)
    }
    fn run(&self, cx: &mut Context, progress: &dyn Progress) -> Result<Finished, Fault> {
        let rec = Recommender::open(cx.store, cx.opts.recommend.clone(), true)?;
        Ok(Finished::Recommend(recommend::recommend_all(
            &rec, progress, cx.cancel,
        )?))
    }
}

/// Applies the drop folders `dirs` (in order; those applied before are skipped) and brings
/// every stage up to date. With nothing new and every stage done for its inputs, it writes
/// nothing and reports `stages_run == 0`.
pub fn refresh(
    store: &Store,
    dirs: &[PathBuf],
    opts: &RefreshOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Event),
) -> Result<Report, RefreshError> {
    let drops = prepare_drops(store, dirs, opts, progress, on)?;
    checkpoint_before(store, &drops, opts.keep_checkpoints, on)?;
    let fresh = drops.iter().filter(|d| !d.resumes()).count() as u32;
    let last_drop = store.next_drop_seq()? - 1 + fresh;
    let drops_applied = drops.len();
    let mut cx = Context {
        store,
        opts,
        drops,
        cancel,
    };

    let records: Vec<(RefreshStage, JobRecord)> = store.refresh_jobs()?;
    let inputs: Vec<u64> = CHAIN
        .iter()
        .map(|s| stage_inputs(s.name(), &s.options(opts), last_drop))
        .collect();
    let up_to_date = |i: usize| {
        let stage = CHAIN[i];
        !stage.has_work(&cx)
            && records.iter().any(|(s, r)| {
                *s == stage.stage() && r.state == JobState::Done && r.inputs == inputs[i]
            })
    };
    // Without a single drop there is nothing to featurize, index or recommend.
    let first = (0..CHAIN.len())
        .find(|&i| !up_to_date(i))
        .filter(|_| last_drop > 0);
    let Some(first) = first else {
        return Ok(Report {
            stages_run: 0,
            drops_applied: 0,
            last_drop,
        });
    };
    for stage in &CHAIN[..first] {
        on(Event::UpToDate {
            stage: stage.name(),
        });
    }
    let pending = |i: usize| JobRecord {
        state: JobState::Pending,
        drop: last_drop,
        inputs: inputs[i],
        started_at: None,
        ended_at: None,
    };
    for (i, stage) in CHAIN.iter().enumerate().skip(first) {
        store.put_refresh_job(stage.stage(), &pending(i))?;
    }
    for (i, stage) in CHAIN.iter().enumerate().skip(first) {
        let (key, name) = (stage.stage(), stage.name());
        let mut record = JobRecord {
            state: running(String::new(), 0, 0),
            started_at: Some(clock::unix_secs()),
            ..pending(i)
        };
        store.put_refresh_job(key, &record)?;
        let start = Instant::now();
        let reporter = JobProgress::new(store, key, progress, record.clone());
        let outcome = stage.run(&mut cx, &reporter);
        record.ended_at = Some(clock::unix_secs());
        match outcome {
            Ok(result) => {
                record.state = JobState::Done;
                store.put_refresh_job(key, &record)?;
                release_freed_memory();
                on(Event::Finished {
                    stage: name,
                    result: &result,
                    elapsed: start.elapsed(),
                });
            }
            Err(Fault::Cancelled) => {
                record.state = JobState::Interrupted;
                store.put_refresh_job(key, &record)?;
                return Err(RefreshError::Interrupted {
                    stage: name,
                    source: Cancelled,
                });
            }
            Err(Fault::Failed(source)) => {
                record.state = JobState::Failed {
                    error: source.to_string(),
                };
                store.put_refresh_job(key, &record)?;
                return Err(RefreshError::Failed {
                    stage: name,
                    source,
                });
            }
        }
    }
    Ok(Report {
        stages_run: CHAIN.len() - first,
        drops_applied,
        last_drop,
    })
}

/// Keeps the database as it is before new drops are applied, named by the last drop applied
/// (not when none is, nor when a drop is half-applied: that state is no quarter's).
fn checkpoint_before(
    store: &Store,
    drops: &[Prepared],
    keep: usize,
    on: &mut dyn FnMut(Event),
) -> Result<(), RefreshError> {
    if keep == 0 || drops.iter().all(|d| d.resumes()) || store.applied_drops()?.is_none() {
        return Ok(());
    }
    if let Some(last) = store.drops()?.last()
        && let Some(info) = checkpoint::take(store, &last.name, keep)?
    {
        on(Event::Checkpoint { info: &info });
    }
    Ok(())
}

/// Hands memory freed by a finished stage back to the system. The stages run in one process,
/// and glibc keeps freed heap pages for reuse: at the reference size a whole refresh peaked
/// 2 GiB above `train` alone, holding what featurize had freed.
fn release_freed_memory() {
    // SAFETY: malloc_trim only returns unused pages of the allocator's own heap; it has no
    // preconditions and touches no memory the program still holds.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Validates every drop before anything is written, and checks the order rule: a new drop's
/// name must sort after every drop applied before it (and after the new drops before it).
fn prepare_drops(
    store: &Store,
    dirs: &[PathBuf],
    opts: &RefreshOptions,
    progress: &dyn Progress,
    on: &mut dyn FnMut(Event),
) -> Result<Vec<Prepared>, RefreshError> {
    let applied = store.drops()?;
    let mut last = applied.iter().map(|d| d.name.clone()).max();
    let mut drops: Vec<Prepared> = Vec::new();
    for dir in dirs {
        let refused = |source| RefreshError::Drop {
            path: dir.clone(),
            source,
        };
        match ingest::prepare(store, dir, &opts.ingest, progress).map_err(refused)? {
            Plan::AlreadyApplied { name, seq } => on(Event::AlreadyApplied {
                path: dir,
                name: &name,
                seq,
            }),
            Plan::Apply(drop) => {
                let earlier = drops
                    .iter()
                    .find(|d| d.fingerprint() == drop.fingerprint() || d.name() == drop.name());
                if let Some(twin) = earlier {
                    if twin.fingerprint() != drop.fingerprint() {
                        return Err(RefreshError::Twins {
                            path: dir.clone(),
                            name: drop.name().to_string(),
                        });
                    }
                    // The same content given twice is applied once.
                    continue;
                }
                if !drop.resumes() {
                    if let Some(last) = &last
                        && drop.name() <= last.as_str()
                        && !opts.allow_out_of_order
                    {
                        return Err(RefreshError::OutOfOrder {
                            path: dir.clone(),
                            name: drop.name().to_string(),
                            last: last.clone(),
                        });
                    }
                    last = Some(drop.name().to_string());
                }
                on(Event::Validated {
                    name: drop.name(),
                    rows: drop.rows(),
                    resumes: drop.resumes(),
                });
                drops.push(*drop);
            }
        }
    }
    if let Some(d) = applied
        .iter()
        .find(|d| d.state == DropState::Applying && !drops.iter().any(|p| p.name() == d.name))
    {
        return Err(RefreshError::PartlyApplied {
            name: d.name.clone(),
            seq: d.seq,
        });
    }
    Ok(drops)
}

/// The inputs a stage runs for: its name, its options and the latest drop.
fn stage_inputs(name: &str, options: &str, last_drop: u32) -> u64 {
    let mut h = Xxh3::new();
    for part in [name, options] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    h.update(&last_drop.to_le_bytes());
    h.digest()
}

fn running(phase: String, done: u64, total: u64) -> JobState {
    JobState::Running {
        pid: std::process::id(),
        phase,
        done,
        total,
    }
}

/// Passes progress on and writes it into the stage's job record, at most once a second, so
/// that `demandlink jobs` shows how far a running stage is.
struct JobProgress<'a> {
    store: &'a Store,
    stage: RefreshStage,
    inner: &'a dyn Progress,
    state: Mutex<(JobRecord, Option<Instant>)>,
}

/// Least time between two progress writes of a job record.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

impl<'a> JobProgress<'a> {
    fn new(
        store: &'a Store,
        stage: RefreshStage,
        inner: &'a dyn Progress,
        record: JobRecord,
    ) -> Self {
        JobProgress {
            store,
            stage,
            inner,
            state: Mutex::new((record, None)),
        }
    }

    fn update(&self, f: impl FnOnce(&mut String, &mut u64, &mut u64), force: bool) {
        let mut guard = self.state.lock().expect("progress lock");
        let (record, written) = &mut *guard;
        if let JobState::Running {
            phase, done, total, ..
        } = &mut record.state
        {
            f(phase, done, total);
        }
        if force || written.is_none_or(|w| w.elapsed() >= PROGRESS_EVERY) {
            *written = Some(Instant::now());
            // Progress is for people watching; a failed write must not stop the stage.
            if let Err(e) = self.store.put_refresh_job(self.stage, record) {
                tracing::warn!(stage = self.stage.name(), error = %e, "cannot record progress");
            }
        }
    }
}

impl JobProgress<'_> {
    fn started(&self, label: &str, total: u64) {
        self.update(
            |phase, done, t| {
                *phase = label.to_string();
                *done = 0;
                *t = total;
            },
            true,
        );
    }
}

impl Progress for JobProgress<'_> {
    fn start(&self, label: &str, total: u64) {
        self.inner.start(label, total);
        self.started(label, total);
    }

    fn start_bytes(&self, label: &str, total: u64) {
        self.inner.start_bytes(label, total);
        self.started(label, total);
    }

    fn set(&self, position: u64) {
        self.inner.set(position);
        self.update(|_, done, _| *done = position, false);
    }

    fn finish(&self) {
        self.inner.finish();
    }
}
