//! The clap definitions: every command, flag and help text, and the closed choices as
//! [`clap::ValueEnum`]s. Defaults come from the stages' own `Default`s, so each lives in one
//! place. Turning arguments into a stage's options is the commands' job (`cmd/`).

use std::path::PathBuf;
use std::sync::LazyLock;

use clap::{Parser, Subcommand, ValueEnum};

use crate::copurchase::Strength;
use crate::eval::{AlsOptions, Cutoff, SplitMode, SplitOptions, harness::EvalOptions};
use crate::features::{FeaturizeOptions, SellerOptions};
use crate::import::ImportOptions;
use crate::index::BuildOptions;
use crate::ingest::IngestOptions;
use crate::model::{GraphOptions, Init, ModelConfig, Sampling, TrainOptions};
use crate::recommend::{self, RecommendOptions};
use crate::refresh::RefreshOptions;
use crate::stats::DEFAULT_COPURCHASE_THRESHOLD;
use crate::watch::WatchOptions;

/// DemandLink recommends high-demand products to marketplace sellers.
///
/// A database is a folder (`--db`). Each quarter's drop folder is ingested into it; later
/// stages (featurize, train, index, recommend) read only the database.
#[derive(Parser, Debug)]
#[command(name = "demandlink", version, about, long_about = None)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
    /// Apply drop folders to the database, in the order given, each exactly once.
    ///
    /// A drop is validated whole before anything is written: a file with more than
    /// --max-bad-fraction rejected rows refuses the drop. Rejected rows are listed in
    /// DB/rejects/<drop>.tsv. An interrupted ingest (Ctrl-C, kill, crash) continues where it
    /// stopped when rerun with the same arguments; re-ingesting an applied drop does nothing.
    Ingest(IngestArgs),
    /// Counts of sellers, products, edges, views and drops.
    ///
    /// Opens the database read-only, so it works while another process writes.
    Stats(StatsArgs),
    /// Compute product vectors (text or imported), then seller vectors, profiles and the score
    /// calibration. Incremental: only changed products and affected sellers are recomputed.
    ///
    /// Product vectors: TF-IDF over hashed word unigrams, bigrams, character 3–5-grams and
    /// category-path prefixes, projected to --dim dimensions by a seeded sparse random
    /// projection. Vectors from vectors.tsv replace computed ones. Seller vectors: the
    /// page-view-weighted mean of the seller's products over the last --views-window periods.
    Featurize(FeaturizeArgs),
    /// Train the graph model (GraphSAGE-style link prediction on listing and co-purchase
    /// edges, initialised from the text vectors) and make its embeddings the active model.
    ///
    /// Checkpoints (weights, optimiser state, cursor, changed input rows) are committed every
    /// --checkpoint-secs: a killed or interrupted run, rerun with the same options, resumes
    /// from the last checkpoint and ends with the same embeddings as an uninterrupted run.
    /// Training is deterministic for a seed. Run `index` and `recommend` afterwards.
    Train(TrainArgs),
    /// Write the active graph as GraphStorm's graph-construction input (docs/graphstorm.md):
    /// Parquet node and edge tables split into --parts files, gconstruct.json, lp.yaml and
    /// manifest.json (schema/export.md).
    ///
    /// Streams the store; the same database gives byte-identical files. An interrupted export
    /// keeps its finished part files and continues when rerun; a finished one is not redone.
    Export(ExportArgs),
    /// Store node embeddings GraphStorm computed from an export (DIR/seller/embed-*.parquet,
    /// DIR/product/embed-*.parquet) as a new model generation, with the final score fitted as
    /// `train` fits it, and make it the active model. Run `index` and `recommend` afterwards.
    ///
    /// Every file is checked first (known ids, one dimension, finite values, every seller and
    /// candidate product present): on an error nothing is written. An interrupted import
    /// continues when rerun; the previous model stays active until the last write.
    ImportEmbeddings(ImportEmbeddingsArgs),
    /// Build the ANN index of candidate products (the current high-demand list, else every
    /// product), one per category plus one over all; `index check` measures it.
    ///
    /// A new index generation is built and committed, then switched to in one write: a killed
    /// build leaves the previous generation in use.
    Index(IndexArgs),
    /// Compute recommendations: for every seller (stored), or for one seller (printed).
    ///
    /// Candidates are the products nearest the seller in the index plus those of the seller's
    /// categories. Scores are the model's final score,
    /// σ(α·cos + w₁·link₁ + w₂·link₂ + w₃·cat + β) with the terms chosen on validation
    /// (docs/model.md), calibrated so that 0.5 means "more likely the seller's kind of product
    /// than not"; products the seller lists are excluded.
    Recommend(RecommendArgs),
    /// Explain one seller's recommendations: categories, anchor products, each
    /// recommendation's score and why, and what was excluded as already listed.
    ///
    /// Opens the database read-only, so it works while another process writes.
    Inspect(InspectArgs),
    /// Cut a dataset folder into a training drop and held-out pairs for evaluation.
    ///
    /// Writes OUT/train/ (a drop to ingest), OUT/heldout.tsv (seller_id, product_id) and
    /// OUT/split.json. cold: a share of the products with ≥ 2 sellers becomes the high-demand
    /// list and loses every listing (the real situation); temporal: listings after a cutoff;
    /// random: 20 % of each seller's listings (sellers with ≥ 3). quarterly: one drop per
    /// calendar quarter of listing time in OUT/drops/<YYYYQn>/ (the quarters up to --from in
    /// the first), and OUT/heldout/<YYYYQn>.tsv, the next quarter's new pairs (tools/replay.sh).
    Split(SplitArgs),
    /// Measure recommendations against held-out pairs: Recall@K, NDCG@K, HitRate@K, coverage.
    ///
    /// Every candidate is ranked (the 0.5 threshold does not apply) and the seller's training
    /// listings are excluded. --baselines adds popularity, views, text kNN, category,
    /// co-purchase walks (count-weighted two steps; log-count one step), ALS and ALS with
    /// co-purchase rows, trained on the same database.
    Eval(EvalArgs),
    /// Serve the seller portal: a page at / and a JSON API under /api/v1/, answering with the
    /// stored recommendations.
    ///
    /// Opens the database as a read-only secondary instance: it serves while a refresh writes
    /// and picks up new recommendations without a restart. Every API request needs a token
    /// (`demandlink tokens issue`).
    Serve(ServeArgs),
    /// Manage the seller portal's access tokens.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Apply new drop folders and bring every stage up to date: ingest → featurize → train →
    /// index → recommend, each a job whose state is kept in the database (`demandlink jobs`).
    ///
    /// Drops already applied are skipped; stages already done for the current drops and
    /// options are skipped, so with nothing new a refresh writes nothing. A refresh that was
    /// interrupted (Ctrl-C, kill, power cut) continues from its last commit when rerun with the
    /// same arguments. Every drop is validated before anything is written; a new drop whose
    /// name sorts before an applied drop's is refused (see --allow-out-of-order).
    Refresh(RefreshArgs),
    /// List the refresh jobs: stage, state, the drop it ran for, progress, start and end time
    /// (unix seconds), error.
    ///
    /// Opens the database read-only, so it works while a refresh runs. States: pending,
    /// running, killed (running, but its process is gone), done, failed, interrupted.
    Jobs(JobsArgs),
    /// Watch an inbox folder and refresh the database with each drop folder once it holds a
    /// `_READY` file, in name order.
    ///
    /// Drops already applied are skipped (by name), so a restarted watch picks up where it was;
    /// nothing in the inbox is moved or deleted. A drop arriving during a refresh waits for the
    /// next one. A drop that fails holds back the drops after it until its folder changes.
    /// Logs go to stderr (RUST_LOG filters them); Ctrl-C stops cleanly.
    Watch(WatchArgs),
    /// Print every record of the database as text, one line per key (for debugging and tests).
    Dump(DumpArgs),
    /// Check that the database is whole: RocksDB's checksums over every column family, the
    /// active index generation's files against the hashes its build recorded, and the store's
    /// invariants (lists name existing sellers and products of the active generations,
    /// vectors have the model's dimension, mirrored adjacency, drop cursors).
    ///
    /// Prints what it checked and what is wrong; exits 0 only when nothing is. Opens the
    /// database read-only, so it runs beside a writer. Reads every byte: minutes on a
    /// reference-size database.
    Verify(VerifyArgs),
    /// List the checkpoints `refresh` took before applying new drops (DB/checkpoints/), with
    /// their size and time.
    Checkpoints(CheckpointsArgs),
    /// Bring the database back to a checkpoint: its store and index exactly as they were when
    /// the checkpoint was taken (portal tokens included).
    ///
    /// Takes the write lock (stop writers and the portal first). Killed at any moment, it
    /// leaves the old state or the restored one; the next command completes it.
    Restore(RestoreArgs),
}

#[derive(clap::Args, Debug)]
pub(super) struct IngestArgs {
    /// Database folder (created if missing).
    #[arg(long)]
    pub db: PathBuf,
    /// Largest allowed share of rejected rows per file (0.001 = 0.1 %).
    #[arg(long, default_value_t = IngestOptions::default().max_bad_fraction)]
    pub max_bad_fraction: f64,
    /// Rows per committed chunk (a crash loses at most one chunk of work).
    #[arg(long, default_value_t = IngestOptions::default().batch_rows)]
    pub batch_rows: usize,
    /// orders.tsv: two purchases of one customer at most this many days apart make a
    /// co-purchase pair (counted once per customer and drop).
    #[arg(long, default_value_t = default_window_days())]
    pub copurchase_window_days: u32,
    /// orders.tsv: orders sorted in memory at a time before they are merged from disk
    /// (about 100 bytes each); smaller uses less memory and more temporary files.
    #[arg(long, default_value_t = IngestOptions::default().sort_run_rows)]
    pub sort_run_rows: usize,
    /// Drop folders (.tsv / .tsv.gz files; see schema/drop.md).
    #[arg(required = true)]
    pub drops: Vec<PathBuf>,
}

/// Seconds in a day, the unit of `--copurchase-window-days`.
pub(super) const DAY_SECS: i64 = 86_400;

fn default_window_days() -> u32 {
    (IngestOptions::default().copurchase_window_secs / DAY_SECS) as u32
}

#[derive(clap::Args, Debug)]
pub(super) struct StatsArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// Print one JSON object with stable keys instead of text.
    #[arg(long)]
    pub json: bool,
    /// Co-purchase count at which a pair becomes a graph edge.
    #[arg(long, default_value_t = DEFAULT_COPURCHASE_THRESHOLD)]
    pub copurchase_threshold: u64,
}

#[derive(clap::Args, Debug)]
pub(super) struct FeaturizeArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// Vector dimension [default: the imported vectors' dimension, else 128].
    #[arg(long)]
    pub dim: Option<usize>,
    /// Seed of the hashing and the projection.
    #[arg(long, default_value_t = FeaturizeOptions::default().seed)]
    pub seed: u64,
    /// Category path levels that name a category (1: `Home`, 2: `Home > Kitchen`).
    #[arg(long, default_value_t = FeaturizeOptions::default().category_depth)]
    pub category_depth: usize,
    /// Periods (drops) of page views that weigh a seller's products.
    #[arg(long, default_value_t = SellerOptions::default().window)]
    pub views_window: u32,
    /// Relative IDF change above which every product vector is recomputed.
    #[arg(long, default_value_t = FeaturizeOptions::default().idf_drift)]
    pub idf_drift: f64,
}

#[derive(clap::Args, Debug)]
pub(super) struct TrainArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Periods (drops) of page views that rank a seller's most-viewed listings.
    #[arg(long, default_value_t = GraphOptions::default().views_window)]
    pub views_window: u32,
    /// Train from scratch even when a model with these options exists (by default a new
    /// training warm-starts from it and runs --fine-tune-epochs).
    #[arg(long)]
    pub full: bool,
    /// Seconds between checkpoints (at least twenty times the last checkpoint's own duration,
    /// so that on a large graph they take about a twentieth of the training time).
    #[arg(long, default_value_t = TrainOptions::default().every.as_secs())]
    pub checkpoint_secs: u64,
    /// Also checkpoint every this many batches.
    #[arg(long)]
    pub checkpoint_batches: Option<u64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub(super) struct ExportArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// Export folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Graphstorm)]
    pub format: ExportFormat,
    /// Files per table (a cluster's partitioning reads them in parallel).
    #[arg(long, default_value_t = 1)]
    pub parts: u32,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Formats `export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum ExportFormat {
    /// GraphStorm's gconstruct input: Parquet tables and its JSON and YAML configurations.
    Graphstorm,
}

#[derive(clap::Args, Debug)]
pub(super) struct ImportEmbeddingsArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// GraphStorm's embedding folder (its --save-embed-path).
    pub dir: PathBuf,
    /// The export the embeddings were computed from: the score is fitted with its
    /// configuration, and the import is refused if the database changed since.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Rows per committed batch.
    #[arg(long, default_value_t = ImportOptions::default().batch_rows)]
    pub batch_rows: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct IndexArgs {
    #[command(subcommand)]
    pub check: Option<IndexCommand>,
    /// Database folder.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Trees per index [default: dimensions / 4, between 8 and 64].
    #[arg(long)]
    pub n_trees: Option<usize>,
    /// Seed of the split planes.
    #[arg(long, default_value_t = BuildOptions::default().seed)]
    pub seed: u64,
}

#[derive(Subcommand, Debug)]
pub(super) enum IndexCommand {
    /// Recall@K of the ANN index against exact search for a sample of sellers, and latency.
    Check(IndexCheckArgs),
}

#[derive(clap::Args, Debug)]
pub(super) struct IndexCheckArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// Sellers to sample.
    #[arg(long, default_value_t = 1000)]
    pub sample: usize,
    /// K of the recall.
    #[arg(long, default_value_t = 100)]
    pub k: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub(super) struct RecommendArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// Only this seller (external id): print the list instead of storing all lists.
    #[arg(long)]
    pub seller: Option<String>,
    /// A category other than each seller's primary one.
    #[arg(long, conflicts_with = "all_categories")]
    pub category: Option<String>,
    /// One list per category of the index.
    #[arg(long)]
    pub all_categories: bool,
    /// List length.
    #[arg(long, default_value_t = RecommendOptions::default().k)]
    pub k: usize,
    /// Minimum score.
    #[arg(long, default_value_t = RecommendOptions::default().threshold)]
    pub threshold: f32,
    /// Search for the full run: auto (exact in memory up to 150 k candidates, where it is
    /// faster than the trees), exact, or index (the arroy index).
    #[arg(long, value_enum, default_value_t = RecommendOptions::default().search.into())]
    pub search: Search,
}

#[derive(clap::Args, Debug)]
pub(super) struct InspectArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// Seller (external id).
    pub seller: String,
    /// Show this category's list instead of the primary category's.
    #[arg(long)]
    pub category: Option<String>,
    /// Show at most this many recommendations.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub(super) struct SplitArgs {
    /// cold, temporal, random or quarterly.
    #[arg(long, value_enum, default_value_t = SplitKind::Cold)]
    pub mode: SplitKind,
    /// quarterly: the last quarter of the first drop, e.g. 2016Q1 [default: the first
    /// quarter with a listing].
    #[arg(long)]
    pub from: Option<String>,
    /// Seed of the choice of held-out products or listings.
    #[arg(long, default_value_t = SplitOptions::default().seed)]
    pub seed: u64,
    /// Share held out (cold: of eligible products, default 0.10; random: of each seller's
    /// listings, default 0.20).
    #[arg(long)]
    pub share: Option<f64>,
    /// temporal: cutoff as a quantile of listing times.
    #[arg(long, default_value_t = default_quantile(), conflicts_with = "cutoff_time")]
    pub cutoff_quantile: f64,
    /// temporal: cutoff as unix seconds.
    #[arg(long)]
    pub cutoff_time: Option<i64>,
    /// The dataset's views count the same interactions as its listings: recompute them from
    /// the training listings so held-out listings do not leak.
    #[arg(long)]
    pub views_from_listings: bool,
    /// Output folder (must not exist or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Dataset folder (drop format).
    pub dataset: PathBuf,
}

/// The quantile of [`SplitMode::temporal`].
fn default_quantile() -> f64 {
    match SplitMode::temporal() {
        SplitMode::Temporal {
            cutoff: Cutoff::Quantile(q),
        } => q,
        other => unreachable!("a temporal split at a quantile, not {other:?}"),
    }
}

#[derive(clap::Args, Debug)]
pub(super) struct EvalArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// Held-out pairs (seller_id, product_id), e.g. from `demandlink split`.
    #[arg(long)]
    pub heldout: PathBuf,
    /// Cut-offs K, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_KS.as_str())]
    pub k: Vec<usize>,
    /// Also run the built-in baselines.
    #[arg(long)]
    pub baselines: bool,
    /// Print the ablation table of the published system (implies --baselines).
    #[arg(long)]
    pub ablation: bool,
    /// Write a Markdown report with a Recall@K plot (FILE.svg beside it).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// ALS latent factors.
    #[arg(long, default_value_t = AlsOptions::default().factors)]
    pub als_factors: usize,
    /// ALS confidence weight α.
    #[arg(long, default_value_t = AlsOptions::default().alpha)]
    pub als_alpha: f32,
    /// ALS iterations.
    #[arg(long, default_value_t = AlsOptions::default().iterations)]
    pub als_iterations: usize,
    /// Weight of the co-purchase rows stacked under the seller rows (ALS + co-purchase).
    #[arg(long, default_value_t = EvalOptions::default().copurchase_weight)]
    pub copurchase_weight: f32,
}

/// The cut-offs of [`EvalOptions::default`] as `--k` takes them (clap would list a vector
/// default space-separated).
static DEFAULT_KS: LazyLock<String> = LazyLock::new(|| {
    let ks: Vec<String> = EvalOptions::default()
        .ks
        .iter()
        .map(|k| k.to_string())
        .collect();
    ks.join(",")
});

#[derive(clap::Args, Debug)]
pub(super) struct ServeArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// Address to listen on (loopback by default; put a TLS proxy in front to expose it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
}

#[derive(Subcommand, Debug)]
pub(super) enum TokensCommand {
    /// Issue a token and print it once (only its hash is stored).
    Issue {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        /// The seller (external id) the token reads for.
        #[arg(
            long,
            required_unless_present = "operator",
            conflicts_with = "operator"
        )]
        seller: Option<String>,
        /// A support-staff token that may read any seller.
        #[arg(long)]
        operator: bool,
    },
    /// Revoke a token (by the id `tokens list` shows, or by the token itself); the server
    /// refuses it from the next request on.
    Revoke {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        /// Token id (16 hex digits) or the token.
        token: String,
    },
    /// List tokens: id, whom they read for, when issued and revoked (never the secrets).
    List {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub(super) struct RefreshArgs {
    /// Database folder (created if missing).
    #[arg(long)]
    pub db: PathBuf,
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Drop folders, in the order to apply (none: only finish or update the stages).
    pub drops: Vec<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(super) struct JobsArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub(super) struct WatchArgs {
    /// Database folder (created if missing).
    #[arg(long)]
    pub db: PathBuf,
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Refresh the drops that are ready, then exit.
    #[arg(long)]
    pub once: bool,
    /// Seconds between two scans of the inbox when no filesystem event arrives.
    #[arg(long, default_value_t = WatchOptions::default().rescan.as_secs())]
    pub rescan_secs: u64,
    /// Inbox: a folder of drop folders.
    pub inbox: PathBuf,
}

#[derive(clap::Args, Debug)]
pub(super) struct DumpArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
}

#[derive(clap::Args, Debug)]
pub(super) struct CheckpointsArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub(super) struct RestoreArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// The checkpoint (an id listed by `demandlink checkpoints`).
    #[arg(long)]
    pub to: String,
}

#[derive(clap::Args, Debug)]
pub(super) struct VerifyArgs {
    /// Database folder.
    #[arg(long)]
    pub db: PathBuf,
    /// Print one JSON object (`whole`, and per part what was checked and what is wrong).
    #[arg(long)]
    pub json: bool,
}

/// Options of `refresh` and `watch`: the chain's stages.
#[derive(clap::Args, Debug)]
pub(super) struct ChainArgs {
    /// Apply a new drop even if its name sorts before an applied drop's (it becomes the
    /// latest period all the same).
    #[arg(long)]
    pub allow_out_of_order: bool,
    /// Rows, products or sellers per committed chunk in every stage [default: each stage's
    /// own: 100 000 rows, 20 000 products, 10 000 sellers, 2 000 sellers].
    #[arg(long)]
    pub batch_rows: Option<usize>,
    /// Periods (drops) of page views that weigh a seller's products.
    #[arg(long, default_value_t = SellerOptions::default().window)]
    pub views_window: u32,
    /// Recommendations per seller.
    #[arg(long, default_value_t = RecommendOptions::default().k)]
    pub k: usize,
    /// The model served: `graph` (trained by the train stage) or `content` (text vectors
    /// only; no training).
    #[arg(long, value_enum, default_value_t = Served::Graph)]
    pub model: Served,
    /// Retrain the graph model from scratch (by default a refresh fine-tunes the previous
    /// model for --fine-tune-epochs).
    #[arg(long)]
    pub full: bool,
    /// Before applying new drops, keep the database as it is in DB/checkpoints/<last drop>/
    /// (hard links: cheap) and remove all but the newest this many; 0 takes none.
    #[arg(long, default_value_t = RefreshOptions::default().keep_checkpoints)]
    pub keep_checkpoints: usize,
    #[command(flatten)]
    pub train: ModelArgs,
}

/// The graph model's hyper-parameters (defaults chosen on a validation split carved from
/// training data; see docs/model.md).
#[derive(clap::Args, Debug, Clone)]
pub(super) struct ModelArgs {
    /// Encoder layers (1–4).
    #[arg(long, default_value_t = ModelConfig::default().layers)]
    pub layers: usize,
    /// Embedding dimension.
    #[arg(long, default_value_t = ModelConfig::default().dim)]
    pub dim: usize,
    /// Passes over the root edges, at most: a training from scratch stops earlier when
    /// --patience epochs pass without a better validation Recall@100, and keeps its best
    /// epoch's weights.
    #[arg(long, default_value_t = ModelConfig::default().epochs)]
    pub epochs: u32,
    /// Epochs without a better Recall@100 on the validation products (--validation-share)
    /// after which a training from scratch stops; 0 trains all --epochs. Fine-tunings train
    /// their --fine-tune-epochs.
    #[arg(long, default_value_t = TrainOptions::default().patience)]
    pub patience: u32,
    /// Passes of a warm-started training (a model with these options exists).
    #[arg(long, default_value_t = ModelConfig::default().fine_tune_epochs)]
    pub fine_tune_epochs: u32,
    /// In a warm-started training, the share of the older root edges (all but the new
    /// listings) still trained on, against forgetting.
    #[arg(long, default_value_t = TrainOptions::default().replay_share)]
    pub replay_share: f32,
    /// Root edges per mini-batch.
    #[arg(long, default_value_t = ModelConfig::default().batch)]
    pub batch: usize,
    /// Negatives per root edge, drawn from the candidate products as --negative-power says (the
    /// batch's other products are added).
    #[arg(long, default_value_t = ModelConfig::default().negatives)]
    pub negatives: usize,
    /// Negatives are drawn ∝ (degree + 1)^power (0: uniformly).
    #[arg(long, default_value_t = ModelConfig::default().negative_power)]
    pub negative_power: f32,
    /// Also use the batch's other products as negatives.
    #[arg(long, value_enum, default_value_t = ModelConfig::default().in_batch_negatives.into())]
    pub in_batch_negatives: Switch,
    /// Neighbours sampled per node and relation at the first hop.
    #[arg(long, default_value_t = ModelConfig::default().fanout)]
    pub fanout: usize,
    /// Neighbours sampled per node and relation at deeper hops (stratified sampling).
    #[arg(long, default_value_t = ModelConfig::default().fanout_deep)]
    pub fanout_deep: usize,
    /// Root edges: `stratified` (high-demand or top-viewed listings; capped deep fan-out) or
    /// `uniform` (every listing edge).
    #[arg(long, value_enum, default_value_t = ModelConfig::default().sampling)]
    pub sampling: Sampling,
    /// Input embeddings from the text vectors, or random (ablation).
    #[arg(long, value_enum, default_value_t = ModelConfig::default().init)]
    pub init: Init,
    /// Relations: `listing` or `listing,copurchase`.
    #[arg(long, value_parser = Relations::parse, default_value_t = ModelConfig::default().graph.copurchase.into())]
    pub relations: Relations,
    /// Auxiliary products (neither listed nor high-demand) as co-purchase neighbours.
    #[arg(long, value_enum, default_value_t = ModelConfig::default().graph.auxiliary.into())]
    pub aux: Switch,
    /// Co-purchase count at which a pair is an edge [default: 2, or 1 when no pair counts
    /// more than 1].
    #[arg(long)]
    pub copurchase_threshold: Option<u64>,
    /// Co-purchase partners the encoder aggregates per product: the strongest (highest
    /// counts; ties broken by a hash of the pair), 0 = all. The score's link features are
    /// tried with this cap and without (see --link-cap).
    #[arg(long, default_value_t = GraphOptions::default().copurchase_cap)]
    pub copurchase_cap: u32,
    /// How a co-purchase count weighs in the score's link features: `presence`, `log`
    /// (log(1 + count)) or `count`; `auto` tries each on the validation products and keeps
    /// the best (presence alone when every count is the same).
    #[arg(long, value_enum, default_value_t = ModelConfig::default().score.strength.into())]
    pub link_strength: LinkStrength,
    /// Partners per product the score's link features walk (the strongest; 0 = all); `auto`
    /// tries all of them and --copurchase-cap on the validation products.
    #[arg(long, value_parser = LinkCap::parse, default_value_t = LinkCap(ModelConfig::default().score.link_cap))]
    pub link_cap: LinkCap,
    /// Choose the score's structure (link relation, link terms, weight of the cosine) by
    /// Recall@100 on the validation products (`on`), or fit its weights by likelihood on one
    /// structure (`off`: --link-strength `auto` is then `log`, --link-cap `auto` is 0).
    #[arg(long, value_enum, default_value_t = ModelConfig::default().score.select.into())]
    pub score_select: Switch,
    /// Share of scored products whose listing edges are hidden in training (simulated cold).
    #[arg(long, default_value_t = ModelConfig::default().cold_share)]
    pub cold_share: f32,
    /// Adam step size of the weights.
    #[arg(long, default_value_t = ModelConfig::default().lr)]
    pub lr: f32,
    /// AdaGrad step size of the input embeddings.
    #[arg(long, default_value_t = ModelConfig::default().lr_embedding)]
    pub lr_embedding: f32,
    /// Trainable seller identity rows (`off`: sellers are their listings only).
    #[arg(long, value_enum, default_value_t = ModelConfig::default().seller_identity.into())]
    pub seller_identity: Switch,
    /// Share of the products listed by two or more sellers held out of training (cold, as
    /// the high-demand products are) to choose and fit the final score
    /// σ(α·cos + w₁·link₁ + w₂·link₂ + w₃·cat + β) (0: the trained σ(α·cos + β), no link or
    /// category terms).
    #[arg(long, default_value_t = ModelConfig::default().validation_share)]
    pub validation_share: f32,
    /// Seed of every random choice.
    #[arg(long, default_value_t = ModelConfig::default().seed)]
    pub seed: u64,
}

// The closed choices. Their variants carry no doc comments: clap would print those as a
// list of possible values in `--help`, which shows them on one line.

/// `on` or `off`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Switch {
    On,
    Off,
}

impl Switch {
    pub(super) fn on(self) -> bool {
        self == Switch::On
    }
}

impl From<bool> for Switch {
    fn from(on: bool) -> Self {
        if on { Switch::On } else { Switch::Off }
    }
}

/// `recommend --search`: a [`recommend::Search`].
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    Auto,
    Exact,
    Index,
}

impl From<Search> for recommend::Search {
    fn from(s: Search) -> Self {
        match s {
            Search::Auto => recommend::Search::Auto,
            Search::Exact => recommend::Search::Exact,
            Search::Index => recommend::Search::Index,
        }
    }
}

impl From<recommend::Search> for Search {
    fn from(s: recommend::Search) -> Self {
        match s {
            recommend::Search::Auto => Search::Auto,
            recommend::Search::Exact => Search::Exact,
            recommend::Search::Index => Search::Index,
        }
    }
}

/// `split --mode`: a [`SplitMode`], or one drop per quarter.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SplitKind {
    Cold,
    Temporal,
    Random,
    Quarterly,
}

/// `refresh --model`: the model served.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Served {
    Graph,
    Content,
}

/// `--link-strength`: a [`Strength`], or `auto` (chosen on validation).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LinkStrength {
    Auto,
    Presence,
    Log,
    Count,
}

impl LinkStrength {
    pub(super) fn strength(self) -> Option<Strength> {
        match self {
            LinkStrength::Auto => None,
            LinkStrength::Presence => Some(Strength::Presence),
            LinkStrength::Log => Some(Strength::Log),
            LinkStrength::Count => Some(Strength::Count),
        }
    }
}

impl From<Option<Strength>> for LinkStrength {
    fn from(s: Option<Strength>) -> Self {
        match s {
            None => LinkStrength::Auto,
            Some(Strength::Presence) => LinkStrength::Presence,
            Some(Strength::Log) => LinkStrength::Log,
            Some(Strength::Count) => LinkStrength::Count,
        }
    }
}

/// `--relations`: the graph's edge types. Spelt `listing` or `listing,copurchase` (also
/// `copurchase,listing`; spaces are ignored).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Relations {
    Listing,
    #[value(name = "listing,copurchase", alias = "copurchase,listing")]
    ListingCopurchase,
}

impl Relations {
    pub(super) fn copurchase(self) -> bool {
        self == Relations::ListingCopurchase
    }

    fn parse(s: &str) -> Result<Relations, String> {
        <Relations as ValueEnum>::from_str(&s.replace(' ', ""), false)
            .map_err(|_| "expected `listing` or `listing,copurchase`".to_string())
    }
}

impl From<bool> for Relations {
    fn from(copurchase: bool) -> Self {
        match copurchase {
            true => Relations::ListingCopurchase,
            false => Relations::Listing,
        }
    }
}

impl std::fmt::Display for Relations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = self.to_possible_value().expect("no skipped variant");
        f.write_str(value.get_name())
    }
}

/// `--link-cap`: partners per product, or `auto` (`None`, chosen on validation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LinkCap(pub Option<u32>);

impl LinkCap {
    fn parse(s: &str) -> Result<LinkCap, String> {
        match s {
            "auto" => Ok(LinkCap(None)),
            n => n
                .parse()
                .map(|n| LinkCap(Some(n)))
                .map_err(|_| "expected `auto` or a number".to_string()),
        }
    }
}

impl std::fmt::Display for LinkCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("auto"),
            Some(n) => write!(f, "{n}"),
        }
    }
}
