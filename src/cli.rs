//! The command line. **API boundary**: only this module prints to stdout/stderr (besides
//! `tracing` logs); library modules return values and typed errors.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::copurchase::Strength;
use crate::eval::{self, AlsOptions, Cutoff, SplitMode, SplitOptions, harness::EvalOptions};
use crate::features::{self, FeaturizeOptions, FeaturizeSummary, SellerOptions, SellerSummary};
use crate::index::stage::StageSummary;
use crate::index::{self, ArroyIndex, BuildOptions};
use crate::ingest::{self, IngestOptions, Outcome, Summary};
use crate::inspect::{self, Inspection};
use crate::model::{
    self, GraphOptions, Init, ModelConfig, Sampling, ScoreOptions, Selection, TrainOptions,
    TrainSummary,
};
use crate::progress::{Cancelled, Progress};
use crate::recommend::{
    self, CategoryChoice, RecommendError, RecommendOptions, RecommendSummary, Recommender, Search,
};
use crate::refresh::{self, Finished, RefreshOptions};
use crate::serve::{self, auth};
use crate::stats::{self, DEFAULT_COPURCHASE_THRESHOLD, Stats};
use crate::store::{self, JobRecord, JobState, Namespace, OpenMode, Store, TokenSubject};
use crate::watch::{self, WatchOptions};

/// DemandLink recommends high-demand products to marketplace sellers.
///
/// A database is a folder (`--db`). Each quarter's drop folder is ingested into it; later
/// stages (featurize, train, index, recommend) read only the database.
#[derive(Parser, Debug)]
#[command(name = "demandlink", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply drop folders to the database, in the order given, each exactly once.
    ///
    /// A drop is validated whole before anything is written: a file with more than
    /// --max-bad-fraction rejected rows refuses the drop. Rejected rows are listed in
    /// DB/rejects/<drop>.tsv. An interrupted ingest (Ctrl-C, kill, crash) continues where it
    /// stopped when rerun with the same arguments; re-ingesting an applied drop does nothing.
    Ingest {
        /// Database folder (created if missing).
        #[arg(long)]
        db: PathBuf,
        /// Largest allowed share of rejected rows per file (0.001 = 0.1 %).
        #[arg(long, default_value_t = 0.001)]
        max_bad_fraction: f64,
        /// Rows per committed chunk (a crash loses at most one chunk of work).
        #[arg(long, default_value_t = 100_000)]
        batch_rows: usize,
        /// orders.tsv: two purchases of one customer at most this many days apart make a
        /// co-purchase pair (counted once per customer and drop).
        #[arg(long, default_value_t = 7)]
        copurchase_window_days: u32,
        /// orders.tsv: orders sorted in memory at a time before they are merged from disk
        /// (about 100 bytes each); smaller uses less memory and more temporary files.
        #[arg(long, default_value_t = 1_000_000)]
        sort_run_rows: usize,
        /// Drop folders (.tsv / .tsv.gz files; see schema/drop.md).
        #[arg(required = true)]
        drops: Vec<PathBuf>,
    },
    /// Counts of sellers, products, edges, views and drops.
    ///
    /// Opens the database read-only, so it works while another process writes.
    Stats {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        /// Print one JSON object with stable keys instead of text.
        #[arg(long)]
        json: bool,
        /// Co-purchase count at which a pair becomes a graph edge.
        #[arg(long, default_value_t = DEFAULT_COPURCHASE_THRESHOLD)]
        copurchase_threshold: u64,
    },
    /// Compute product vectors (text or imported), then seller vectors, profiles and the score
    /// calibration. Incremental: only changed products and affected sellers are recomputed.
    ///
    /// Product vectors: TF-IDF over hashed word unigrams, bigrams, character 3–5-grams and
    /// category-path prefixes, projected to --dim dimensions by a seeded sparse random
    /// projection. Vectors from vectors.tsv replace computed ones. Seller vectors: the
    /// page-view-weighted mean of the seller's products over the last --views-window periods.
    Featurize {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        /// Vector dimension [default: the imported vectors' dimension, else 128].
        #[arg(long)]
        dim: Option<usize>,
        /// Seed of the hashing and the projection.
        #[arg(long, default_value_t = FeaturizeOptions::default().seed)]
        seed: u64,
        /// Category path levels that name a category (1: `Home`, 2: `Home > Kitchen`).
        #[arg(long, default_value_t = 1)]
        category_depth: usize,
        /// Periods (drops) of page views that weigh a seller's products.
        #[arg(long, default_value_t = SellerOptions::default().window)]
        views_window: u32,
        /// Relative IDF change above which every product vector is recomputed.
        #[arg(long, default_value_t = FeaturizeOptions::default().idf_drift)]
        idf_drift: f64,
    },
    /// Train the graph model (GraphSAGE-style link prediction on listing and co-purchase
    /// edges, initialised from the text vectors) and make its embeddings the active model.
    ///
    /// Checkpoints (weights, optimiser state, cursor, changed input rows) are committed every
    /// --checkpoint-secs: a killed or interrupted run, rerun with the same options, resumes
    /// from the last checkpoint and ends with the same embeddings as an uninterrupted run.
    /// Training is deterministic for a seed. Run `index` and `recommend` afterwards.
    Train {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
        /// Periods (drops) of page views that rank a seller's most-viewed listings.
        #[arg(long, default_value_t = GraphOptions::default().views_window)]
        views_window: u32,
        /// Train from scratch even when a model with these options exists (by default a new
        /// training warm-starts from it and runs --fine-tune-epochs).
        #[arg(long)]
        full: bool,
        /// Seconds between checkpoints (at least ten times the last checkpoint's own duration,
        /// so that on a large graph they take under a tenth of the training time).
        #[arg(long, default_value_t = 60)]
        checkpoint_secs: u64,
        /// Also checkpoint every this many batches.
        #[arg(long)]
        checkpoint_batches: Option<u64>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Build the ANN index of candidate products (the current high-demand list, else every
    /// product), one per category plus one over all; `index check` measures it.
    ///
    /// A new index generation is built and committed, then switched to in one write: a killed
    /// build leaves the previous generation in use.
    #[command(args_conflicts_with_subcommands = true)]
    Index {
        #[command(subcommand)]
        check: Option<IndexCommand>,
        /// Database folder.
        #[arg(long)]
        db: Option<PathBuf>,
        /// Trees per index [default: dimensions / 4, between 8 and 64].
        #[arg(long)]
        n_trees: Option<usize>,
        /// Seed of the split planes.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Compute recommendations: for every seller (stored), or for one seller (printed).
    ///
    /// Scores are σ(α·cos + β), calibrated so that 0.5 means "more likely the seller's kind of
    /// product than not"; products the seller lists are excluded.
    Recommend {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        /// Only this seller (external id): print the list instead of storing all lists.
        #[arg(long)]
        seller: Option<String>,
        /// A category other than each seller's primary one.
        #[arg(long, conflicts_with = "all_categories")]
        category: Option<String>,
        /// One list per category of the index.
        #[arg(long)]
        all_categories: bool,
        /// List length.
        #[arg(long, default_value_t = RecommendOptions::default().k)]
        k: usize,
        /// Minimum score.
        #[arg(long, default_value_t = RecommendOptions::default().threshold)]
        threshold: f32,
        /// Search for the full run: auto (exact in memory up to 150 k candidates, where it is
        /// faster than the trees), exact, or index (the arroy index).
        #[arg(long, value_parser = ["auto", "exact", "index"], default_value = "auto")]
        search: String,
    },
    /// Explain one seller's recommendations: categories, anchor products, each
    /// recommendation's score and why, and what was excluded as already listed.
    ///
    /// Opens the database read-only, so it works while another process writes.
    Inspect {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        /// Seller (external id).
        seller: String,
        /// Show this category's list instead of the primary category's.
        #[arg(long)]
        category: Option<String>,
        /// Show at most this many recommendations.
        #[arg(long)]
        limit: Option<usize>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Cut a dataset folder into a training drop and held-out pairs for evaluation.
    ///
    /// Writes OUT/train/ (a drop to ingest), OUT/heldout.tsv (seller_id, product_id) and
    /// OUT/split.json. cold: a share of the products with ≥ 2 sellers becomes the high-demand
    /// list and loses every listing (the real situation); temporal: listings after a cutoff;
    /// random: 20 % of each seller's listings (sellers with ≥ 3). quarterly: one drop per
    /// calendar quarter of listing time in OUT/drops/<YYYYQn>/ (the quarters up to --from in
    /// the first), and OUT/heldout/<YYYYQn>.tsv, the next quarter's new pairs (tools/replay.sh).
    Split {
        /// cold, temporal, random or quarterly.
        #[arg(long, value_parser = ["cold", "temporal", "random", "quarterly"], default_value = "cold")]
        mode: String,
        /// quarterly: the last quarter of the first drop, e.g. 2016Q1 [default: the first
        /// quarter with a listing].
        #[arg(long)]
        from: Option<String>,
        /// Seed of the choice of held-out products or listings.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Share held out (cold: of eligible products, default 0.10; random: of each seller's
        /// listings, default 0.20).
        #[arg(long)]
        share: Option<f64>,
        /// temporal: cutoff as a quantile of listing times.
        #[arg(long, default_value_t = 0.8, conflicts_with = "cutoff_time")]
        cutoff_quantile: f64,
        /// temporal: cutoff as unix seconds.
        #[arg(long)]
        cutoff_time: Option<i64>,
        /// The dataset's views count the same interactions as its listings: recompute them from
        /// the training listings so held-out listings do not leak.
        #[arg(long)]
        views_from_listings: bool,
        /// Output folder (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Dataset folder (drop format).
        dataset: PathBuf,
    },
    /// Measure recommendations against held-out pairs: Recall@K, NDCG@K, HitRate@K, coverage.
    ///
    /// Every candidate is ranked (the 0.5 threshold does not apply) and the seller's training
    /// listings are excluded. --baselines adds popularity, views, text kNN, co-purchase
    /// neighbours, ALS and ALS with co-purchase rows, trained on the same database.
    Eval {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        /// Held-out pairs (seller_id, product_id), e.g. from `demandlink split`.
        #[arg(long)]
        heldout: PathBuf,
        /// Cut-offs K, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "10,20,50,100")]
        k: Vec<usize>,
        /// Also run the built-in baselines.
        #[arg(long)]
        baselines: bool,
        /// Print the ablation table of the published system (implies --baselines).
        #[arg(long)]
        ablation: bool,
        /// Write a Markdown report with a Recall@K plot (FILE.svg beside it).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// ALS latent factors.
        #[arg(long, default_value_t = 64)]
        als_factors: usize,
        /// ALS confidence weight α.
        #[arg(long, default_value_t = 1.0)]
        als_alpha: f32,
        /// ALS iterations.
        #[arg(long, default_value_t = 15)]
        als_iterations: usize,
        /// Weight of the co-purchase rows stacked under the seller rows (ALS + co-purchase).
        #[arg(long, default_value_t = 1.0)]
        copurchase_weight: f32,
    },
    /// Serve the seller portal: a page at / and a JSON API under /api/v1/, answering with the
    /// stored recommendations.
    ///
    /// Opens the database as a read-only secondary instance: it serves while a refresh writes
    /// and picks up new recommendations without a restart. Every API request needs a token
    /// (`demandlink tokens issue`).
    Serve {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        /// Address to listen on (loopback by default; put a TLS proxy in front to expose it).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
    },
    /// Manage the seller portal's access tokens.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Apply new drop folders and bring every stage up to date: ingest → featurize → index →
    /// recommend, each a job whose state is kept in the database (`demandlink jobs`).
    ///
    /// Drops already applied are skipped; stages already done for the current drops and
    /// options are skipped, so with nothing new a refresh writes nothing. A refresh that was
    /// interrupted (Ctrl-C, kill, power cut) continues from its last commit when rerun with the
    /// same arguments. Every drop is validated before anything is written; a new drop whose
    /// name sorts before an applied drop's is refused (see --allow-out-of-order).
    Refresh {
        /// Database folder (created if missing).
        #[arg(long)]
        db: PathBuf,
        #[command(flatten)]
        args: RefreshArgs,
        /// Drop folders, in the order to apply (none: only finish or update the stages).
        drops: Vec<PathBuf>,
    },
    /// List the refresh jobs: stage, state, the drop it ran for, progress, start and end time
    /// (unix seconds), error.
    ///
    /// Opens the database read-only, so it works while a refresh runs. States: pending,
    /// running, killed (running, but its process is gone), done, failed, interrupted.
    Jobs {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Watch an inbox folder and refresh the database with each drop folder once it holds a
    /// `_READY` file, in name order.
    ///
    /// Drops already applied are skipped (by name), so a restarted watch picks up where it was;
    /// nothing in the inbox is moved or deleted. A drop arriving during a refresh waits for the
    /// next one. A drop that fails holds back the drops after it until its folder changes.
    /// Logs go to stderr (RUST_LOG filters them); Ctrl-C stops cleanly.
    Watch {
        /// Database folder (created if missing).
        #[arg(long)]
        db: PathBuf,
        #[command(flatten)]
        args: RefreshArgs,
        /// Refresh the drops that are ready, then exit.
        #[arg(long)]
        once: bool,
        /// Seconds between two scans of the inbox when no filesystem event arrives.
        #[arg(long, default_value_t = 30)]
        rescan_secs: u64,
        /// Inbox: a folder of drop folders.
        inbox: PathBuf,
    },
    /// Print every record of the database as text, one line per key (for debugging and tests).
    Dump {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
    },
}

/// Options of `refresh` and `watch`.
#[derive(clap::Args, Debug)]
struct RefreshArgs {
    /// Apply a new drop even if its name sorts before an applied drop's (it becomes the
    /// latest period all the same).
    #[arg(long)]
    allow_out_of_order: bool,
    /// Rows, products or sellers per committed chunk in every stage [default: each stage's
    /// own: 100 000 rows, 20 000 products, 10 000 sellers, 2 000 sellers].
    #[arg(long)]
    batch_rows: Option<usize>,
    /// Periods (drops) of page views that weigh a seller's products.
    #[arg(long, default_value_t = SellerOptions::default().window)]
    views_window: u32,
    /// Recommendations per seller.
    #[arg(long, default_value_t = RecommendOptions::default().k)]
    k: usize,
    /// The model served: `graph` (trained by the train stage) or `content` (text vectors
    /// only; no training).
    #[arg(long, default_value = "graph", value_parser = ["graph", "content"])]
    model: String,
    /// Retrain the graph model from scratch (by default a refresh fine-tunes the previous
    /// model for --fine-tune-epochs).
    #[arg(long)]
    full: bool,
    #[command(flatten)]
    train: ModelArgs,
}

impl RefreshArgs {
    fn options(&self) -> Result<RefreshOptions> {
        anyhow::ensure!(self.k > 0, "--k must be at least 1");
        anyhow::ensure!(
            self.batch_rows != Some(0),
            "--batch-rows must be at least 1"
        );
        let mut o = RefreshOptions {
            allow_out_of_order: self.allow_out_of_order,
            training: TrainOptions {
                full: self.full,
                replay_share: self.train.replay_share,
                ..TrainOptions::default()
            },
            train: match self.model.as_str() {
                "graph" => Some(self.train.config(self.views_window)?),
                _ => None,
            },
            ..RefreshOptions::default()
        };
        o.sellers.window = self.views_window;
        o.recommend.k = self.k;
        if let Some(n) = self.batch_rows {
            o.ingest.batch_rows = n;
            o.featurize.batch = n;
            o.sellers.batch = n;
            o.recommend.batch = n;
        }
        Ok(o)
    }
}

#[derive(Subcommand, Debug)]
enum TokensCommand {
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

#[derive(Subcommand, Debug)]
enum IndexCommand {
    /// Recall@K of the ANN index against exact search for a sample of sellers, and latency.
    Check {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        /// Sellers to sample.
        #[arg(long, default_value_t = 1000)]
        sample: usize,
        /// K of the recall.
        #[arg(long, default_value_t = 100)]
        k: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// The graph model's hyper-parameters (defaults chosen on a validation split carved from
/// training data; see the README).
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Encoder layers (1–4).
    #[arg(long, default_value_t = ModelConfig::default().layers)]
    layers: usize,
    /// Embedding dimension.
    #[arg(long, default_value_t = ModelConfig::default().dim)]
    dim: usize,
    /// Passes over the root edges.
    #[arg(long, default_value_t = ModelConfig::default().epochs)]
    epochs: u32,
    /// Passes of a warm-started training (a model with these options exists).
    #[arg(long, default_value_t = ModelConfig::default().fine_tune_epochs)]
    fine_tune_epochs: u32,
    /// In a warm-started training, the share of the older root edges (all but the new
    /// listings) still trained on, against forgetting.
    #[arg(long, default_value_t = TrainOptions::default().replay_share)]
    replay_share: f32,
    /// Root edges per mini-batch.
    #[arg(long, default_value_t = ModelConfig::default().batch)]
    batch: usize,
    /// Negatives per root edge, drawn from the candidate products as --negative-power says (the
    /// batch's other products are added).
    #[arg(long, default_value_t = ModelConfig::default().negatives)]
    negatives: usize,
    /// Negatives are drawn ∝ (degree + 1)^power (0: uniformly).
    #[arg(long, default_value_t = ModelConfig::default().negative_power)]
    negative_power: f32,
    /// Also use the batch's other products as negatives.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    in_batch_negatives: String,
    /// Neighbours sampled per node and relation at the first hop.
    #[arg(long, default_value_t = ModelConfig::default().fanout)]
    fanout: usize,
    /// Neighbours sampled per node and relation at deeper hops (stratified sampling).
    #[arg(long, default_value_t = ModelConfig::default().fanout_deep)]
    fanout_deep: usize,
    /// Root edges: `stratified` (high-demand or top-viewed listings; capped deep fan-out) or
    /// `uniform` (every listing edge).
    #[arg(long, value_enum, default_value = "stratified")]
    sampling: Sampling,
    /// Input embeddings from the text vectors, or random (ablation).
    #[arg(long, value_enum, default_value = "text")]
    init: Init,
    /// Relations: `listing` or `listing,copurchase`.
    #[arg(long, default_value = "listing,copurchase")]
    relations: String,
    /// Auxiliary products (neither listed nor high-demand) as co-purchase neighbours.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    aux: String,
    /// Co-purchase count at which a pair is an edge [default: 2, or 1 when no pair counts
    /// more than 1].
    #[arg(long)]
    copurchase_threshold: Option<u64>,
    /// Co-purchase partners the encoder aggregates per product: the strongest (highest
    /// counts; ties broken by a hash of the pair), 0 = all. The score's link features are
    /// tried with this cap and without (see --link-cap).
    #[arg(long, default_value_t = GraphOptions::default().copurchase_cap)]
    copurchase_cap: u32,
    /// How a co-purchase count weighs in the score's link features: `presence`, `log`
    /// (log(1 + count)) or `count`; `auto` tries each on the validation products and keeps
    /// the best (presence alone when every count is the same).
    #[arg(long, value_enum, default_value = "auto")]
    link_strength: LinkStrength,
    /// Partners per product the score's link features walk (the strongest; 0 = all); `auto`
    /// tries all of them and --copurchase-cap on the validation products.
    #[arg(long, default_value = "auto")]
    link_cap: String,
    /// Choose the score's structure (link relation, link terms, weight of the cosine) by
    /// Recall@100 on the validation products (`on`), or fit its weights by likelihood on one
    /// structure (`off`: --link-strength `auto` is then `log`, --link-cap `auto` is 0).
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    score_select: String,
    /// Share of scored products whose listing edges are hidden in training (simulated cold).
    #[arg(long, default_value_t = ModelConfig::default().cold_share)]
    cold_share: f32,
    /// Adam step size of the weights.
    #[arg(long, default_value_t = ModelConfig::default().lr)]
    lr: f32,
    /// AdaGrad step size of the input embeddings.
    #[arg(long, default_value_t = ModelConfig::default().lr_embedding)]
    lr_embedding: f32,
    /// Trainable seller identity rows (`off`: sellers are their listings only).
    #[arg(long, default_value = "off", value_parser = ["on", "off"])]
    seller_identity: String,
    /// Share of the products listed by two or more sellers held out of training (cold, as
    /// the high-demand products are) to choose and fit the final score
    /// σ(α·cos + w₁·link₁ + w₂·link₂ + β) (0: the trained σ(α·cos + β), no link terms).
    #[arg(long, default_value_t = ModelConfig::default().validation_share)]
    validation_share: f32,
    /// Seed of every random choice.
    #[arg(long, default_value_t = ModelConfig::default().seed)]
    seed: u64,
}

impl ModelArgs {
    /// The configuration these arguments describe, ranking a seller's most-viewed listings by
    /// the views of the last `views_window` periods.
    pub fn config(&self, views_window: u32) -> Result<ModelConfig> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.replay_share),
            "--replay-share must be between 0 and 1"
        );
        let copurchase = match self.relations.replace(' ', "").as_str() {
            "listing" => false,
            "listing,copurchase" | "copurchase,listing" => true,
            other => {
                anyhow::bail!("--relations {other}: expected `listing` or `listing,copurchase`")
            }
        };
        Ok(ModelConfig {
            layers: self.layers,
            dim: self.dim,
            epochs: self.epochs,
            fine_tune_epochs: self.fine_tune_epochs,
            batch: self.batch,
            negatives: self.negatives,
            negative_power: self.negative_power,
            in_batch_negatives: self.in_batch_negatives == "on",
            fanout: self.fanout,
            fanout_deep: self.fanout_deep,
            sampling: self.sampling,
            init: self.init,
            graph: GraphOptions {
                copurchase_threshold: self.copurchase_threshold,
                copurchase_cap: self.copurchase_cap,
                copurchase,
                auxiliary: self.aux == "on",
                views_window,
            },
            cold_share: self.cold_share,
            lr: self.lr,
            lr_embedding: self.lr_embedding,
            seller_identity: self.seller_identity == "on",
            validation_share: self.validation_share,
            score: ScoreOptions {
                strength: self.link_strength.strength(),
                link_cap: match self.link_cap.as_str() {
                    "auto" => None,
                    n => Some(n.parse().map_err(|_| {
                        anyhow::anyhow!("--link-cap {n}: expected `auto` or a number")
                    })?),
                },
                select: self.score_select == "on",
            },
            seed: self.seed,
            ..ModelConfig::default()
        })
    }
}

/// `--link-strength`: a [`Strength`], or `auto` (chosen on validation).
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LinkStrength {
    Auto,
    Presence,
    Log,
    Count,
}

impl LinkStrength {
    fn strength(self) -> Option<Strength> {
        match self {
            LinkStrength::Auto => None,
            LinkStrength::Presence => Some(Strength::Presence),
            LinkStrength::Log => Some(Strength::Log),
            LinkStrength::Count => Some(Strength::Count),
        }
    }
}

/// Runs the CLI and returns the process exit code: 0 success, 1 error, 2 usage, 130
/// interrupted.
pub fn main() -> i32 {
    // Like other Unix tools, end quietly when the reader of stdout goes away (`| head`)
    // instead of panicking on the failed write.
    // SAFETY: restoring the default disposition of a signal has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    // A watch runs unattended: its log is its output.
    let default_filter = match cli.command {
        Command::Watch { .. } => "warn,demandlink=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&io::stderr()))
        .init();
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            // The error wrapping a cancellation already says what stopped and how to continue.
            let causes: Vec<String> = e
                .chain()
                .filter(|c| !c.is::<Cancelled>())
                .map(ToString::to_string)
                .collect();
            eprintln!("error: {}", causes.join(": "));
            if e.chain().any(|c| c.is::<Cancelled>()) {
                130
            } else {
                1
            }
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Ingest {
            db,
            max_bad_fraction,
            batch_rows,
            copurchase_window_days,
            sort_run_rows,
            drops,
        } => {
            anyhow::ensure!(
                (0.0..=1.0).contains(&max_bad_fraction),
                "--max-bad-fraction must be between 0 and 1, got {max_bad_fraction}"
            );
            anyhow::ensure!(batch_rows > 0, "--batch-rows must be at least 1");
            anyhow::ensure!(sort_run_rows > 0, "--sort-run-rows must be at least 1");
            let store = Store::open(&db, OpenMode::ReadWrite)?;
            let cancel = cancel_on_ctrl_c();
            let opts = IngestOptions {
                max_bad_fraction,
                batch_rows,
                copurchase_window_secs: i64::from(copurchase_window_days) * 86_400,
                sort_run_rows,
            };
            for dir in &drops {
                let outcome = ingest::ingest_drop(&store, dir, &opts, &Bars::default(), &cancel)
                    .with_context(|| format!("drop {} not applied", dir.display()))?;
                print_outcome(dir, &outcome);
            }
            Ok(())
        }
        Command::Stats {
            db,
            json,
            copurchase_threshold,
        } => {
            let store = Store::open(&db, OpenMode::ReadOnly)?;
            let s = stats::compute(&store, copurchase_threshold)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print_stats(&s);
            }
            Ok(())
        }
        Command::Train {
            db,
            model,
            views_window,
            full,
            checkpoint_secs,
            checkpoint_batches,
            json,
        } => {
            let cfg = model.config(views_window)?;
            let store = Store::open(&db, OpenMode::ReadWrite)?;
            let cancel = cancel_on_ctrl_c();
            let opts = TrainOptions {
                full,
                every: std::time::Duration::from_secs(checkpoint_secs),
                every_batches: checkpoint_batches,
                replay_share: model.replay_share,
            };
            let t = model::train(&store, &cfg, &opts, &Bars::default(), &cancel)?;
            if json {
                println!("{}", serde_json::to_string(&t)?);
            } else {
                print_trained(&t);
            }
            Ok(())
        }
        Command::Featurize {
            db,
            dim,
            seed,
            category_depth,
            views_window,
            idf_drift,
        } => {
            let store = Store::open(&db, OpenMode::ReadWrite)?;
            let cancel = cancel_on_ctrl_c();
            let opts = FeaturizeOptions {
                dim,
                seed,
                category_depth,
                idf_drift,
                ..FeaturizeOptions::default()
            };
            let f = features::featurize(&store, &opts, &Bars::default(), &cancel)?;
            print_featurized(&f);
            let sopts = SellerOptions {
                window: views_window,
                ..SellerOptions::default()
            };
            let s = features::seller_vectors(&store, &sopts, &Bars::default(), &cancel)?;
            print_sellers(&s);
            Ok(())
        }
        Command::Index {
            check:
                Some(IndexCommand::Check {
                    db,
                    sample,
                    k,
                    json,
                }),
            ..
        } => {
            let store = Store::open(&db, OpenMode::ReadOnly)?;
            let c = index::stage::check(&store, &ArroyIndex::open(&store.index_dir())?, sample, k)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "sellers": c.queries,
                        format!("ann_recall@{k}"): c.recall,
                        "ann_ms_per_query": c.ann_ms_per_query,
                        "exact_ms_per_query": c.exact_ms_per_query,
                    })
                );
            } else {
                println!(
                    "index check: {} sellers, ANN recall@{k} {:.4} against exact search; {:.3} ms per query (exact {:.3} ms)",
                    c.queries, c.recall, c.ann_ms_per_query, c.exact_ms_per_query
                );
            }
            Ok(())
        }
        Command::Index {
            check: None,
            db,
            n_trees,
            seed,
        } => {
            let db = db.context("--db is required")?;
            let store = Store::open(&db, OpenMode::ReadWrite)?;
            let cancel = cancel_on_ctrl_c();
            let index = ArroyIndex::open(&store.index_dir())?;
            let opts = BuildOptions {
                n_trees,
                seed,
                ..BuildOptions::default()
            };
            let depth = features::category_depth(&store)?;
            let s =
                index::stage::build_index(&store, &index, &opts, depth, &Bars::default(), &cancel)?;
            print_indexed(&s);
            Ok(())
        }
        Command::Recommend {
            db,
            seller,
            category,
            all_categories,
            k,
            threshold,
            search,
        } => {
            anyhow::ensure!(k > 0, "--k must be at least 1");
            anyhow::ensure!(
                (0.0..=1.0).contains(&threshold),
                "--threshold must be between 0 and 1"
            );
            let choice = match (category, all_categories) {
                (Some(c), _) => CategoryChoice::Named(c),
                (None, true) => CategoryChoice::All,
                (None, false) => CategoryChoice::Primary,
            };
            let opts = RecommendOptions {
                k,
                threshold,
                category: choice,
                search: match search.as_str() {
                    "exact" => Search::Exact,
                    "index" => Search::Index,
                    _ => Search::Auto,
                },
                ..RecommendOptions::default()
            };
            let mode = if seller.is_some() {
                OpenMode::ReadOnly
            } else {
                OpenMode::ReadWrite
            };
            let store = Store::open(&db, mode)?;
            let rec = Recommender::open(&store, opts, seller.is_none())?;
            match seller {
                Some(external) => {
                    let id = store
                        .lookup(Namespace::Seller, &external)?
                        .ok_or(RecommendError::UnknownSeller(external.clone()))?;
                    for c in rec.lists(id)? {
                        println!(
                            "{external} — {} ({} recommendations, model {})",
                            c.category,
                            c.list.items.len(),
                            rec.model().name()
                        );
                        for (rank, item) in c.list.items.iter().enumerate() {
                            let text = store.product_text(item.product)?.unwrap_or_default();
                            println!(
                                "{:>4}  {:.3}  {:<12} {}",
                                rank + 1,
                                item.score,
                                store.external(Namespace::Product, item.product)?,
                                text.title
                            );
                        }
                    }
                }
                None => {
                    let cancel = cancel_on_ctrl_c();
                    let s = recommend::recommend_all(&rec, &Bars::default(), &cancel)?;
                    print_recommended(&s);
                }
            }
            Ok(())
        }
        Command::Inspect {
            db,
            seller,
            category,
            limit,
            json,
        } => {
            let store = Store::open(&db, OpenMode::ReadOnly)?;
            // Without an index, inspect still shows the stored list, only not the exclusions.
            let rec = match Recommender::open(
                &store,
                inspect::live_options(category.as_deref()),
                false,
            ) {
                Ok(rec) => Some(rec),
                Err(RecommendError::NoIndex) => None,
                Err(e) => return Err(e.into()),
            };
            let i = inspect::inspect(&store, &seller, category.as_deref(), limit, rec.as_ref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&i)?);
            } else {
                print_inspection(&i);
            }
            Ok(())
        }
        Command::Split {
            mode,
            from,
            out,
            dataset,
            ..
        } if mode == "quarterly" => {
            let r = eval::quarters(&dataset, &out, from.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            println!(
                "{} quarterly drops written to {}/drops (apply them in name order with refresh); \
                 after each, evaluate with --heldout {}/heldout/<drop>.tsv",
                r.len(),
                out.display(),
                out.display()
            );
            Ok(())
        }
        Command::Split {
            mode,
            seed,
            share,
            cutoff_quantile,
            cutoff_time,
            views_from_listings,
            out,
            dataset,
            from: _,
        } => {
            let mode = match mode.as_str() {
                "cold" => SplitMode::Cold {
                    share: share.unwrap_or(0.10),
                },
                "temporal" => SplitMode::Temporal {
                    cutoff: cutoff_time.map_or(Cutoff::Quantile(cutoff_quantile), Cutoff::At),
                },
                _ => SplitMode::Random {
                    share: share.unwrap_or(0.2),
                    min_listings: 3,
                },
            };
            let opts = SplitOptions {
                mode,
                seed,
                views_from_listings,
            };
            let r = eval::split(&dataset, &out, &opts)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            println!(
                "split written to {}: ingest {}/train, then evaluate with --heldout {}/heldout.tsv",
                out.display(),
                out.display(),
                out.display()
            );
            Ok(())
        }
        Command::Eval {
            db,
            heldout,
            k,
            baselines,
            ablation,
            report,
            json,
            als_factors,
            als_alpha,
            als_iterations,
            copurchase_weight,
        } => {
            anyhow::ensure!(
                !k.is_empty() && k.iter().all(|&k| k > 0),
                "--k needs positive cut-offs"
            );
            let store = Store::open(&db, OpenMode::ReadOnly)?;
            let opts = EvalOptions {
                ks: k.clone(),
                baselines: baselines || ablation || report.is_some(),
                ablation,
                als: AlsOptions {
                    factors: als_factors,
                    alpha: als_alpha,
                    iterations: als_iterations,
                    ..AlsOptions::default()
                },
                copurchase_weight,
            };
            let cancel = cancel_on_ctrl_c();
            let r = eval::harness::run(&store, &heldout, &opts, &Bars::default(), &cancel)?;
            if let Some(path) = &report {
                let svg = path.with_extension("svg");
                std::fs::write(&svg, eval::report::recall_svg(&r, &k))
                    .with_context(|| format!("cannot write {}", svg.display()))?;
                let md = format!(
                    "# Evaluation\n\nDatabase `{}`, held-out pairs `{}`: {} sellers, {} candidates, {} pairs ({} skipped).\n\n{}\n\n![Recall@K]({})\n\n## Ablation\n\n{}\n",
                    db.display(),
                    heldout.display(),
                    r.sellers,
                    r.candidates,
                    r.heldout_pairs,
                    r.heldout_skipped,
                    eval::report::methods_table(&r, &k),
                    svg.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    eval::report::ablation_table(&r, &k),
                );
                std::fs::write(path, md)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            if json {
                let baselines: serde_json::Map<String, serde_json::Value> = r
                    .baselines
                    .iter()
                    .map(|(n, m)| {
                        (
                            n.clone(),
                            serde_json::to_value(&m.metrics).unwrap_or_default(),
                        )
                    })
                    .collect();
                let mut out = serde_json::json!({
                    "model": r.model,
                    "sellers": r.sellers,
                    "candidates": r.candidates,
                    "metrics": r.metrics,
                    "baselines": baselines,
                    "timings": eval::report::methods(&r).iter().map(|(n, m)| (n.clone(), serde_json::json!({"train_seconds": m.train_seconds, "rank_seconds": m.rank_seconds, "peak_rss_mib": m.peak_rss_mib}))).collect::<serde_json::Map<_, _>>(),
                });
                if ablation {
                    out["ablation"] = eval::report::ablation_json(&r);
                }
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!(
                    "eval: {} sellers, {} candidates, {} held-out pairs ({} skipped)",
                    r.sellers, r.candidates, r.heldout_pairs, r.heldout_skipped
                );
                let max = k.iter().max().copied().unwrap_or(100);
                println!(
                    "Recall@{max} = {:.4} (model {})",
                    r.metrics
                        .get(&format!("recall@{max}"))
                        .copied()
                        .unwrap_or(0.0),
                    r.model
                );
                if opts.baselines {
                    println!("{}", eval::report::methods_table(&r, &k));
                }
                if ablation {
                    println!("\nablation:\n{}", eval::report::ablation_table(&r, &k));
                }
            }
            Ok(())
        }
        Command::Serve { db, addr } => {
            serve::run(&db, addr, |bound| {
                println!("serving {} on http://{bound}/", db.display());
            })?;
            Ok(())
        }
        Command::Refresh { db, args, drops } => {
            let opts = args.options()?;
            let store = Store::open(&db, OpenMode::ReadWrite)?;
            let cancel = cancel_on_ctrl_c();
            let r = refresh::refresh(
                &store,
                &drops,
                &opts,
                &Bars::default(),
                &cancel,
                &mut print_refresh_event,
            )?;
            if r.stages_run == 0 {
                println!(
                    "refresh: nothing to do: no new drop, every stage is up to date (latest drop #{})",
                    r.last_drop
                );
            } else {
                println!(
                    "refresh: done ({} drop(s) applied, {} stage(s) run; latest drop #{})",
                    r.drops_applied, r.stages_run, r.last_drop
                );
            }
            Ok(())
        }
        Command::Jobs { db, json } => {
            let store = Store::open(&db, OpenMode::ReadOnly)?;
            print_jobs(&store.refresh_jobs()?, json)
        }
        Command::Watch {
            db,
            args,
            once,
            rescan_secs,
            inbox,
        } => {
            let opts = args.options()?;
            let wopts = WatchOptions {
                once,
                rescan: std::time::Duration::from_secs(rescan_secs.max(1)),
            };
            let cancel = cancel_on_ctrl_c();
            let s = watch::watch(
                &db,
                &inbox,
                &opts,
                &wopts,
                &Bars::default(),
                &cancel,
                &mut print_refresh_event,
            )?;
            println!(
                "watch: stopped; {} drop(s) refreshed, {} failed",
                s.refreshed, s.failed
            );
            // A scripted `--once` learns of failures from the exit code.
            anyhow::ensure!(
                !(once && s.failed > 0),
                "{} drop(s) failed (their errors are in the log above)",
                s.failed
            );
            Ok(())
        }
        Command::Tokens { command } => run_tokens(command),
        Command::Dump { db } => {
            let store = Store::open(&db, OpenMode::ReadOnly)?;
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            store.dump(&mut out)?;
            out.flush()?;
            Ok(())
        }
    }
}

fn run_tokens(command: TokensCommand) -> Result<()> {
    match command {
        TokensCommand::Issue {
            db,
            seller,
            operator,
        } => {
            let store = Store::open(&db, OpenMode::ReadWrite)?;
            let subject = match seller {
                Some(seller) if !operator => TokenSubject::Seller(seller),
                _ => TokenSubject::Operator,
            };
            let issued = auth::issue(&store, subject)?;
            // The secret goes to stdout alone, so `$(demandlink tokens issue …)` captures it.
            println!("{}", issued.secret);
            eprintln!(
                "token {} issued; it is shown only now (only its hash is stored)",
                issued.id
            );
        }
        TokensCommand::Revoke { db, token } => {
            let store = Store::open(&db, OpenMode::ReadWrite)?;
            let t = auth::revoke(&store, &token)?;
            println!("token {} ({}) revoked", t.id, subject_label(&t.subject));
        }
        TokensCommand::List { db, json } => {
            let store = Store::open(&db, OpenMode::ReadOnly)?;
            let tokens = auth::list(&store)?;
            if json {
                let rows: Vec<serde_json::Value> = tokens
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "id": t.id,
                            "seller": match &t.subject {
                                TokenSubject::Seller(s) => Some(s),
                                TokenSubject::Operator => None,
                            },
                            "operator": t.subject == TokenSubject::Operator,
                            "created_at": t.created_at,
                            "revoked_at": t.revoked_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for t in &tokens {
                    println!(
                        "{}  {:<20} issued at unix {}{}",
                        t.id,
                        subject_label(&t.subject),
                        t.created_at,
                        t.revoked_at
                            .map_or(String::new(), |r| format!(", revoked at unix {r}"))
                    );
                }
            }
        }
    }
    Ok(())
}

fn subject_label(subject: &TokenSubject) -> String {
    match subject {
        TokenSubject::Seller(s) => format!("seller {s}"),
        TokenSubject::Operator => "operator".into(),
    }
}

/// A flag set by the first Ctrl-C; long operations stop at their next commit.
fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // Failing to install the handler only loses graceful Ctrl-C; a kill is still safe.
    let _ = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("interrupting at the next commit (Ctrl-C again to stop now)…");
    });
    flag
}

fn print_outcome(dir: &std::path::Path, outcome: &Outcome) {
    match outcome {
        Outcome::AlreadyApplied { name, seq } => println!(
            "{}: already applied as drop #{seq} `{name}`; nothing to do",
            dir.display()
        ),
        Outcome::Applied(s) => print_summary(s),
    }
}

fn print_trained(t: &TrainSummary) {
    if t.up_to_date {
        println!(
            "train: model generation {} is up to date (same drops, vectors and options); nothing to do",
            t.generation
        );
        return;
    }
    let first = t
        .epoch_losses
        .first()
        .map_or("-".into(), |l| format!("{l:.4}"));
    let last = t
        .epoch_losses
        .last()
        .map_or("-".into(), |l| format!("{l:.4}"));
    println!(
        "train: model generation {}{}{}: {} epochs over {} root edges in {:.1} s ({:.0} root edges/s); loss {first} → {last}; {} node embeddings written in {:.1} s",
        t.generation,
        if t.resumed { " (resumed)" } else { "" },
        if t.fine_tuned {
            " (fine-tuned from the previous model)"
        } else {
            ""
        },
        t.epochs,
        t.root_edges,
        t.train_seconds,
        t.root_edges as f64 * f64::from(t.epochs) / t.train_seconds.max(1e-9),
        t.nodes,
        t.infer_seconds,
    );
    print_selection(&t.selection);
}

/// The score and the validation table it was chosen from.
fn print_selection(s: &Selection) {
    let [a, w1, w2, w3, b] = s.score;
    println!("score = σ({a:.3}·cos {w1:+.3}·link₁ {w2:+.3}·link₂ {w3:+.3}·cat {b:+.3})");
    if s.table.is_empty() {
        println!("  (no validation products: the trained score, no link terms)");
        return;
    }
    println!(
        "  chosen on {} validation products ranked by {} sellers, among {} structures; best of each relation (validation Recall at {} / {} of {}, standing for @100 / @20):",
        s.products, s.sellers, s.tried, s.cutoffs[0], s.cutoffs[1], s.products
    );
    for t in &s.table {
        println!(
            "  {} {:.4} / {:.4}  {}",
            if t.chosen { "*" } else { " " },
            t.recall[0],
            t.recall[1],
            t.describe()
        );
    }
}

fn print_summary(s: &Summary) {
    let r = &s.record;
    let applied: u64 = r.files.iter().map(|f| f.applied).sum();
    let files: Vec<String> = r
        .files
        .iter()
        .map(|f| {
            if f.rejected > 0 {
                format!("{} {} ({} rejected)", f.name, f.applied, f.rejected)
            } else {
                format!("{} {}", f.name, f.applied)
            }
        })
        .collect();
    let secs = s.elapsed.as_secs_f64();
    println!(
        "{}: {} drop #{} in {secs:.2} s ({:.0} rows/s): {}; {} new sellers, {} new products ({} without text)",
        r.name,
        if s.resumed {
            "finished interrupted"
        } else {
            "applied"
        },
        r.seq,
        applied as f64 / secs.max(1e-9),
        files.join(", "),
        r.new_sellers,
        r.new_products,
        r.products_without_text,
    );
    for rej in &s.rejects {
        println!("  rejected {}:{}: {}", rej.file, rej.line, rej.reason);
    }
    let total_rejected: u64 = r.files.iter().map(|f| f.rejected).sum();
    if let Some(path) = &s.rejects_file
        && total_rejected > s.rejects.len() as u64
    {
        println!(
            "  … {} rejected rows in all, listed in {}",
            total_rejected,
            path.display()
        );
    }
    if !s.ignored.is_empty() {
        println!("  ignored (not drop files): {}", s.ignored.join(", "));
    }
}

fn print_featurized(f: &FeaturizeSummary) {
    println!(
        "featurize: {} product vectors of dimension {} ({} recomputed, {} imported; IDF {}) in {:.2} s",
        f.products,
        f.dim,
        f.recomputed,
        f.imported,
        if f.idf_refreshed {
            "refreshed".to_string()
        } else {
            format!("kept, drift {:.4}", f.idf_drift)
        },
        f.elapsed.as_secs_f64()
    );
}

fn print_sellers(s: &SellerSummary) {
    let c = &s.calibration;
    println!(
        "sellers: {} seller vectors ({} recomputed) in {:.2} s; score = σ({:.2}·cos {:+.2}) fitted on {} + {} examples",
        s.sellers,
        s.recomputed,
        s.elapsed.as_secs_f64(),
        c.alpha,
        c.beta,
        c.positives,
        c.negatives
    );
}

fn print_indexed(s: &StageSummary) {
    println!(
        "index: generation {} with {} candidates ({}) in {} categories{} in {:.2} s",
        s.generation,
        s.candidates,
        if s.high_demand {
            "the high-demand list"
        } else {
            "every product: no high-demand list"
        },
        s.categories,
        if s.skipped > 0 {
            format!(", {} without a vector left out", s.skipped)
        } else {
            String::new()
        },
        s.elapsed.as_secs_f64()
    );
}

fn print_recommended(s: &RecommendSummary) {
    println!(
        "recommend: {} sellers, {} lists, {} recommendations ({} empty lists) in {:.2} s ({:.0} sellers/s)",
        s.sellers,
        s.lists,
        s.items,
        s.empty,
        s.elapsed.as_secs_f64(),
        s.sellers as f64 / s.elapsed.as_secs_f64().max(1e-9)
    );
}

/// Prints what a refresh (or a watch's refresh) reports as it goes.
fn print_refresh_event(event: refresh::Event) {
    match event {
        refresh::Event::AlreadyApplied { path, name, seq } => println!(
            "{}: already applied as drop #{seq} `{name}`; skipped",
            path.display()
        ),
        refresh::Event::Validated {
            name,
            rows,
            resumes,
        } => println!(
            "{name}: validated, {rows} rows{}",
            if resumes {
                "; continuing its interrupted ingest"
            } else {
                ""
            }
        ),
        refresh::Event::UpToDate { stage } => println!("{stage}: up to date"),
        refresh::Event::Finished {
            stage,
            result,
            elapsed,
        } => match result {
            Finished::Ingest(drops) if drops.is_empty() => {
                println!("{stage}: no new drop ({:.2} s)", elapsed.as_secs_f64())
            }
            Finished::Ingest(drops) => drops.iter().for_each(print_summary),
            Finished::Featurize(f, s) => {
                print_featurized(f);
                print_sellers(s);
            }
            Finished::Train(None) => println!("train: the content model is served"),
            Finished::Train(Some(t)) => print_trained(t),
            Finished::Index(s) => print_indexed(s),
            Finished::IndexCurrent(g) => {
                println!("index: generation {g} already holds the current candidates; kept")
            }
            Finished::Recommend(s) => print_recommended(s),
        },
    }
}

/// The rows of `demandlink jobs`: the refresh stages in chain order, then any other record.
fn print_jobs(jobs: &[(String, JobRecord)], json: bool) -> Result<()> {
    let order = refresh::stage_names();
    let mut jobs: Vec<&(String, JobRecord)> = jobs.iter().collect();
    jobs.sort_by_key(|(name, _)| order.iter().position(|s| s == name).unwrap_or(order.len()));
    if json {
        let rows: Vec<serde_json::Value> = jobs
            .iter()
            .map(|(stage, r)| {
                let mut row = serde_json::json!({
                    "stage": stage,
                    "state": job_state_label(&r.state),
                    "drop": r.drop,
                    "started_at": r.started_at,
                    "ended_at": r.ended_at,
                });
                match &r.state {
                    JobState::Running {
                        pid,
                        phase,
                        done,
                        total,
                    } => {
                        row["pid"] = serde_json::json!(pid);
                        row["progress"] =
                            serde_json::json!({"phase": phase, "done": done, "total": total});
                    }
                    JobState::Failed { error } => row["error"] = serde_json::json!(error),
                    _ => {}
                }
                row
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if jobs.is_empty() {
        println!("no refresh has run on this database yet");
    }
    for (stage, r) in jobs {
        let detail = match &r.state {
            JobState::Running {
                pid,
                phase,
                done,
                total,
            } => format!("pid {pid}, {phase} {done}/{total}"),
            JobState::Failed { error } => format!("error: {error}"),
            _ => String::new(),
        };
        let time = |t: Option<u64>| t.map_or("-".to_string(), |t| format!("unix {t}"));
        println!(
            "{stage:<10} {:<12} drop #{:<4} started {:<16} ended {:<16} {detail}",
            job_state_label(&r.state),
            r.drop,
            time(r.started_at),
            time(r.ended_at),
        );
    }
    Ok(())
}

/// A job's state in one word; a running job whose process is gone was killed.
fn job_state_label(state: &JobState) -> &'static str {
    match state {
        JobState::Pending => "pending",
        JobState::Running { pid, .. } if store::process_gone(*pid) => "killed",
        JobState::Running { .. } => "running",
        JobState::Done => "done",
        JobState::Failed { .. } => "failed",
        JobState::Interrupted => "interrupted",
    }
}

fn print_inspection(i: &Inspection) {
    println!(
        "seller {}{}",
        i.seller,
        i.name
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    );
    println!(
        "primary category: {} (from {}); {} listings",
        i.primary_category, i.primary_category_source, i.listings
    );
    let cats: Vec<String> = i
        .categories
        .iter()
        .map(|c| format!("{} {}", c.category, c.listings))
        .collect();
    println!("categories: {}", cats.join(", "));
    println!("anchor products (weight in the seller vector):");
    for a in &i.anchors {
        println!(
            "  {:.3}  {:<12} {}",
            a.weight, a.product.product, a.product.title
        );
    }
    let when = i
        .computed_at
        .map_or("not stored yet (computed now)".to_string(), |t| {
            format!("computed at unix {t}")
        });
    println!(
        "recommendations for {}: model {} (generation {}), index generation {}, k {}, threshold {}, {}",
        i.category,
        i.model,
        i.model_generation,
        i.index_generation
            .map_or("-".to_string(), |g| g.to_string()),
        i.k,
        i.threshold,
        when
    );
    if let Some(score) = &i.score {
        print_selection(score);
    }
    for r in &i.recommendations {
        println!(
            "{:>4}  {:.3}  {:<12} {}  [{}]",
            r.rank, r.score, r.product.product, r.product.title, r.product.category
        );
        let similar: Vec<String> = r
            .why
            .similar_listed
            .iter()
            .map(|s| format!("{} ({:.2})", s.product.product, s.cosine))
            .collect();
        println!("        similar to listed: {}", similar.join(", "));
        if !r.why.copurchased_with.is_empty() {
            let co: Vec<String> = r
                .why
                .copurchased_with
                .iter()
                .map(|c| format!("{} ×{}", c.product.product, c.count))
                .collect();
            println!("        bought together with listed: {}", co.join(", "));
        }
    }
    if !i.excluded_already_listed.is_empty() {
        let ex: Vec<&str> = i
            .excluded_already_listed
            .iter()
            .map(|p| p.product.as_str())
            .collect();
        println!("excluded (already listed): {}", ex.join(", "));
    }
}

fn print_stats(s: &Stats) {
    let p = &s.products;
    println!("sellers                 {}", s.sellers);
    println!(
        "products                {} (listed {}, high-demand {}, auxiliary {}, without text {})",
        p.total, p.listed, p.high_demand, p.auxiliary, p.without_text
    );
    println!("listing edges           {}", s.listings);
    println!(
        "co-purchase pairs       {} ({} with count ≥ {})",
        s.copurchase_pairs, s.copurchase_pairs_above_threshold, s.copurchase_threshold
    );
    println!(
        "views                   {} over {} period(s), {} products viewed",
        s.views.total, s.views.periods, s.views.products_with_views
    );
    println!("sparsity                {:.6}", s.sparsity);
    let d = &s.listings_per_seller;
    println!(
        "listings per seller     median {}, p90 {}, max {}",
        d.median, d.p90, d.max
    );
    for drop in &s.drops {
        let rows: u64 = drop.files.iter().map(|f| f.applied).sum();
        let rejected: u64 = drop.files.iter().map(|f| f.rejected).sum();
        println!(
            "drop #{:<3} {:<20} {:<9} {} rows, {} rejected",
            drop.seq, drop.name, drop.state, rows, rejected
        );
    }
}

/// Progress bars on stderr (hidden when stderr is not a terminal).
#[derive(Default)]
struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

/// Smaller file reads finish too fast for a bar to help.
const BAR_MIN_BYTES: u64 = 4 << 20;

impl Bars {
    fn show(&self, label: &str, total: u64, template: &str) {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        *self.bar.lock().expect("progress lock") = Some(bar);
    }
}

impl Progress for Bars {
    fn start(&self, label: &str, total: u64) {
        self.show(
            label,
            total,
            "{msg:30} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}",
        );
    }

    fn start_bytes(&self, label: &str, total: u64) {
        if total < BAR_MIN_BYTES {
            *self.bar.lock().expect("progress lock") = None;
            return;
        }
        self.show(
            label,
            total,
            "{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        );
    }

    fn set(&self, position: u64) {
        if let Some(bar) = self.bar.lock().expect("progress lock").as_ref() {
            bar.set_position(position);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}
