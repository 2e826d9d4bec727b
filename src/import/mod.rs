//! `demandlink import-embeddings`: node embeddings computed elsewhere (GraphStorm, from a
//! `demandlink export`) become a new model generation, stored and activated exactly as
//! `train` stores and activates its own, so index, recommend, inspect, eval and the portal
//! read them unchanged.
//!
//! Three steps. **Validate**: every file is read once and checked (known ids, one dimension,
//! finite values, no id twice, every seller and candidate product present); on any error
//! nothing is written. **Fit**: the final score is chosen and calibrated on the validation
//! products exactly as `train` does (`model::train::fit_score`), from the imported vectors of
//! the held-out sellers and products — the export left these products' listings out, so they
//! are cold in what GraphStorm saw. **Write**: unit-length vectors in batches committed with
//! the job's cursor (file, row), then the score's partner lists, then one batch that makes the
//! generation active and deletes the previous one — a reader sees the old generation or the new,
//! never a mix. A killed or interrupted import, rerun on the same files, continues from its
//! cursor with the score it chose.

mod read;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::affinity::Categories;
use crate::cosine::{dot, normalize};
use crate::export::{Manifest, hash_file};
use crate::features::TextModel;
use crate::model::stage::{self, Graphs, active_config, graphs};
use crate::model::train::{INITIAL_SCORE, fit_score};
use crate::model::validation::Validation;
use crate::model::{GraphModel, ModelConfig, ModelError, Selection};
use crate::progress::{Cancelled, Progress};
use crate::store::{Id, Job, ModelRecord, Namespace, StageBatch, Store, StoreError};
use read::EmbeddingFile;

const JOB: Job = Job::Import;

/// Errors of `demandlink import-embeddings`.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Featurize has not run: there are no sellers' or products' vectors to replace.
    #[error("no text vectors yet: run `demandlink featurize` first")]
    NotFeaturized,
    /// The folder holds no embedding files.
    #[error("{dir}: no `seller/embed-*.parquet` or `product/embed-*.parquet` files")]
    NoFiles {
        /// The folder.
        dir: PathBuf,
    },
    /// A file, or one of its rows, is unusable.
    #[error("{}{}: {reason}; nothing was imported", path.display(), row.map(|r| format!(", row {r}")).unwrap_or_default())]
    Bad {
        /// The file.
        path: PathBuf,
        /// The row (counting from 1), when one row is at fault.
        row: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// A node has no embedding.
    #[error(
        "{kind} '{id}' has no embedding in {dir} ({missing} {kind}s missing in all); nothing was \
         imported: export the database again and compute embeddings for that export"
    )]
    Missing {
        /// `seller` or `product`.
        kind: &'static str,
        /// The first missing node's id.
        id: String,
        /// How many are missing.
        missing: u64,
        /// The folder.
        dir: PathBuf,
    },
    /// The export's manifest is unreadable.
    #[error("{path}: not an export manifest ({reason})")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The store changed since the export the embeddings were computed from.
    #[error(
        "the export was taken after {exported} drops and featurize run {exported_run}, the \
         database now has {drops} and run {run}: export again and compute embeddings for it"
    )]
    Stale {
        /// Drops at export.
        exported: u32,
        /// Featurize run at export.
        exported_run: u32,
        /// Drops now.
        drops: u32,
        /// Featurize run now.
        run: u32,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Ctrl-C: the vectors written so far are kept, not active.
    #[error(
        "interrupted; the previous model stays active: rerun the same command to continue where \
         it stopped"
    )]
    Cancelled(#[from] Cancelled),
    /// Loading the graph for the score failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// GraphStorm's `--save-embed-path` folder.
    pub dir: PathBuf,
    /// The export the embeddings were computed from: its configuration fits the score, and
    /// the store must still be in the state it was exported in.
    pub export: Option<PathBuf>,
    /// Rows per committed batch.
    pub batch_rows: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dir: PathBuf::new(),
            export: None,
            batch_rows: 20_000,
        }
    }
}

/// What an import did.
#[derive(Debug, Serialize)]
pub struct ImportSummary {
    /// The model generation now active.
    pub generation: u32,
    /// Dimension of the vectors.
    pub dim: usize,
    /// Seller and product vectors stored.
    pub sellers: u64,
    /// Product vectors stored.
    pub products: u64,
    /// Embedding files read.
    pub files: usize,
    /// Whether this run continued an interrupted one.
    pub resumed: bool,
    /// Whether these embeddings were already the active model (nothing was done).
    pub up_to_date: bool,
    /// The final score and how it was chosen.
    pub selection: Selection,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Phase {
    /// Vectors of the rows before `row` of file `file` (and of every file before) are written.
    Vectors {
        file: u32,
        row: u64,
    },
    /// Partner lists of products below this one are written.
    Partners(u32),
    Done,
}

/// The import's state in `jobs` (`import`), committed with every batch it writes.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ImportJob {
    /// A hash of the files' names and bytes.
    source: u64,
    /// The store's state it was validated against: drops applied, featurize run.
    inputs: (u32, u32),
    generation: u32,
    dim: usize,
    config: ModelConfig,
    selection: Selection,
    counts: (u64, u64),
    phase: Phase,
}

/// The generation of the last import, if any (a new model generation of any kind comes after
/// it: `model::stage::last_generation`).
pub(crate) fn last_generation(store: &Store) -> Result<Option<u32>, StoreError> {
    Ok(store.job::<ImportJob>(JOB)?.map(|j| j.generation))
}

/// Imports the embeddings of `opts.dir` as a new active model generation (or continues an
/// interrupted import of the same files; does nothing when they are already active).
pub fn import_embeddings(
    store: &Store,
    opts: &ImportOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<ImportSummary, ImportError> {
    let text = store
        .model::<TextModel>(ModelRecord::Text)?
        .ok_or(ImportError::NotFeaturized)?;
    let inputs = (store.next_drop_seq()?.saturating_sub(1), text.run);
    let config = match &opts.export {
        Some(dir) => exported_config(dir, inputs)?,
        None => active_config(store)?.1,
    };
    let files = read::find(&opts.dir)?;
    let source = fingerprint(&files)?;
    let active = store
        .model::<GraphModel>(ModelRecord::Graph)
        .ok()
        .flatten()
        .map(|m| m.generation);
    let previous = store.job::<ImportJob>(JOB)?;
    let same = |j: &ImportJob| j.source == source && j.inputs == inputs && j.config == config;
    let (job, resumed) = match previous {
        Some(j) if same(&j) && j.phase == Phase::Done && active == Some(j.generation) => {
            return Ok(summary(&j, files.len(), false, true));
        }
        Some(j) if same(&j) && j.phase != Phase::Done => (j, true),
        _ => (
            start(store, &opts.dir, &files, source, inputs, config, progress)?,
            false,
        ),
    };
    let job = write(store, &files, job, opts.batch_rows.max(1), progress, cancel)?;
    Ok(summary(&job, files.len(), resumed, false))
}

fn summary(job: &ImportJob, files: usize, resumed: bool, up_to_date: bool) -> ImportSummary {
    ImportSummary {
        generation: job.generation,
        dim: job.dim,
        sellers: job.counts.0,
        products: job.counts.1,
        files,
        resumed,
        up_to_date,
        selection: job.selection.clone(),
    }
}

/// The configuration of the export in `dir`, checking the store is still as exported.
fn exported_config(dir: &Path, (drops, run): (u32, u32)) -> Result<ModelConfig, ImportError> {
    let path = dir.join("manifest.json");
    let bad = |reason: String| ImportError::Manifest {
        path: path.clone(),
        reason,
    };
    let m = Manifest::read(&path)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("no such file".into()))?;
    if (m.drops, m.featurize_run) != (drops, run) {
        return Err(ImportError::Stale {
            exported: m.drops,
            exported_run: m.featurize_run,
            drops,
            run,
        });
    }
    Ok(m.config)
}

/// A hash of the files' names and contents: the identity of an import's input.
fn fingerprint(files: &[EmbeddingFile]) -> Result<u64, ImportError> {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for f in files {
        let content = hash_file(&f.path).map_err(|source| ImportError::Io {
            path: f.path.clone(),
            source,
        })?;
        h.update(f.path.file_name().unwrap_or_default().as_encoded_bytes());
        h.update(&[f.ns.tag()]);
        h.update(&content.to_le_bytes());
    }
    Ok(h.digest())
}

/// Validates every file, fits the score, and commits the job that starts writing a new
/// generation (nothing is written when validation fails).
fn start(
    store: &Store,
    dir: &Path,
    files: &[EmbeddingFile],
    source: u64,
    inputs: (u32, u32),
    config: ModelConfig,
    progress: &dyn Progress,
) -> Result<ImportJob, ImportError> {
    let Graphs { graph, held, .. } = graphs(store, &config)?;
    let validation = Validation::new(&graph, &held);
    let targets = validation.as_ref().map(|v| {
        let sellers: Vec<Id> = v.sellers.iter().map(|&(s, _)| s).collect();
        (sellers, v.products.clone())
    });
    let checked = check(store, dir, files, targets.as_ref(), progress)?;
    let selection = match &validation {
        Some(v) => {
            let cosine = v
                .sellers
                .iter()
                .map(|(s, _)| {
                    let q = &checked.targets[&(Namespace::Seller, *s)];
                    let row = v.products.iter();
                    row.map(|p| dot(q, &checked.targets[&(Namespace::Product, *p)]))
                        .collect()
                })
                .collect();
            fit_score(&graph, &config, v, &Categories::load(store)?, cosine)
        }
        None => None,
    }
    .unwrap_or_else(|| Selection::cosine_only(INITIAL_SCORE[0], INITIAL_SCORE[1]));
    let job = ImportJob {
        source,
        inputs,
        generation: stage::last_generation(store)? + 1,
        dim: checked.dim,
        config,
        selection,
        counts: checked.counts,
        phase: Phase::Vectors { file: 0, row: 0 },
    };
    let mut batch = StageBatch::new(store);
    batch.delete_generation(job.generation);
    batch.commit(JOB, &job)?;
    Ok(job)
}

/// What validation found: the dimension, the vectors of the nodes the score fit ranks (unit
/// length), and how many sellers and products have vectors.
struct Checked {
    dim: usize,
    targets: HashMap<(Namespace, Id), Vec<f32>>,
    counts: (u64, u64),
}

/// Reads every file once and checks it (see the module comment).
fn check(
    store: &Store,
    dir: &Path,
    files: &[EmbeddingFile],
    targets: Option<&(Vec<Id>, Vec<Id>)>,
    progress: &dyn Progress,
) -> Result<Checked, ImportError> {
    let sellers = store.entity_count(Namespace::Seller)? as usize;
    let products = store.entity_count(Namespace::Product)? as usize;
    let mut seen = [vec![false; sellers], vec![false; products]];
    let wanted = |ns: Namespace, id: Id| {
        targets.is_some_and(|(s, p)| match ns {
            Namespace::Seller => s.binary_search(&id).is_ok(),
            Namespace::Product => p.binary_search(&id).is_ok(),
        })
    };
    let mut dim: Option<(usize, PathBuf)> = None;
    let mut kept = HashMap::new();
    progress.start("check embeddings", files.len() as u64);
    for (i, file) in files.iter().enumerate() {
        let bad = |row: u64, reason: String| ImportError::Bad {
            path: file.path.clone(),
            row: Some(row + 1),
            reason,
        };
        let kind = kind(file.ns);
        read::for_each_row(file, 0, |row, nid, mut emb| {
            let Some(id) = store.lookup(file.ns, &nid)? else {
                return Err(bad(row, format!("{kind} '{nid}' is not in the database")));
            };
            match &dim {
                None if emb.is_empty() => return Err(bad(row, "`emb` is empty".into())),
                None => dim = Some((emb.len(), file.path.clone())),
                Some((d, first)) if *d != emb.len() => {
                    return Err(bad(
                        row,
                        format!(
                            "{kind} '{nid}' has {} dimensions, the first vector ({}) has {d}",
                            emb.len(),
                            first.display()
                        ),
                    ));
                }
                Some(_) => {}
            }
            if let Some((k, x)) = emb.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                return Err(bad(row, format!("{kind} '{nid}': value {} is {x}", k + 1)));
            }
            let slot = &mut seen[usize::from(file.ns == Namespace::Product)][id as usize];
            if std::mem::replace(slot, true) {
                return Err(bad(row, format!("{kind} '{nid}' has a second embedding")));
            }
            if wanted(file.ns, id) {
                normalize(&mut emb);
                kept.insert((file.ns, id), emb);
            }
            Ok(())
        })?;
        progress.set(i as u64 + 1);
    }
    progress.finish();
    // Every seller is recommended to, and every candidate is recommended.
    let candidates: Vec<Id> = match store.high_demand_period()? {
        Some(period) => store.high_demand(period)?,
        None => (0..products as Id).collect(),
    };
    let missing_seller = (0..sellers as Id).filter(|&s| !seen[0][s as usize]);
    let missing_product = candidates.into_iter().filter(|&p| !seen[1][p as usize]);
    for (ns, mut missing) in [
        (
            Namespace::Seller,
            Box::new(missing_seller) as Box<dyn Iterator<Item = Id>>,
        ),
        (Namespace::Product, Box::new(missing_product)),
    ] {
        if let Some(first) = missing.next() {
            return Err(ImportError::Missing {
                kind: kind(ns),
                id: store.external(ns, first)?,
                missing: 1 + missing.count() as u64,
                dir: dir.to_path_buf(),
            });
        }
    }
    // Validation nodes whose vectors were absent (auxiliary products) count as zero vectors.
    if let Some((s, p)) = targets {
        for (ns, ids) in [(Namespace::Seller, s), (Namespace::Product, p)] {
            for &id in ids {
                kept.entry((ns, id))
                    .or_insert_with(|| vec![0.0; dim.as_ref().map_or(0, |d| d.0)]);
            }
        }
    }
    let count = |v: &[bool]| v.iter().filter(|&&x| x).count() as u64;
    Ok(Checked {
        dim: dim.map_or(0, |d| d.0),
        targets: kept,
        counts: (count(&seen[0]), count(&seen[1])),
    })
}

fn kind(ns: Namespace) -> &'static str {
    match ns {
        Namespace::Seller => "seller",
        Namespace::Product => "product",
    }
}

/// Writes the generation from the job's cursor on and activates it.
fn write(
    store: &Store,
    files: &[EmbeddingFile],
    mut job: ImportJob,
    batch_rows: usize,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<ImportJob, ImportError> {
    let generation = job.generation;
    if let Phase::Vectors { file: start, row } = job.phase {
        progress.start("import embeddings", files.len() as u64);
        for (i, file) in files.iter().enumerate().skip(start as usize) {
            let from = if i == start as usize { row } else { 0 };
            let mut batch = StageBatch::new(store);
            let mut rows = 0;
            read::for_each_row(file, from, |row, nid, mut emb| {
                let id = store
                    .lookup(file.ns, &nid)?
                    .expect("validated: every id is known");
                normalize(&mut emb);
                batch.put_embedding(generation, file.ns, id, &emb);
                rows += 1;
                if rows == batch_rows {
                    if cancel.load(Ordering::Relaxed) {
                        return Err(Cancelled.into());
                    }
                    job.phase = Phase::Vectors {
                        file: i as u32,
                        row: row + 1,
                    };
                    std::mem::replace(&mut batch, StageBatch::new(store)).commit(JOB, &job)?;
                    tracing::debug!(file = i, row = row + 1, "import checkpoint");
                    rows = 0;
                }
                Ok(())
            })?;
            job.phase = Phase::Vectors {
                file: i as u32 + 1,
                row: 0,
            };
            batch.commit(JOB, &job)?;
            progress.set(i as u64 + 1);
        }
        progress.finish();
        job.phase = Phase::Partners(0);
    }
    if let Phase::Partners(from) = job.phase
        && job.selection.uses_links()
    {
        // The score's link features read the partner lists of its relation, as a trained
        // model's do.
        let relation = graphs(store, &job.config)?
            .full
            .link_relation(job.selection.rule);
        let products = store.entity_count(Namespace::Product)?;
        progress.start("write partner lists", products.into());
        let mut batch = StageBatch::new(store);
        for p in from..products {
            let partners = relation.partners(p);
            if !partners.is_empty() {
                batch.put_partners(generation, p, partners);
            }
            if ((p + 1) as usize).is_multiple_of(batch_rows) || p + 1 == products {
                if cancel.load(Ordering::Relaxed) {
                    return Err(Cancelled.into());
                }
                job.phase = Phase::Partners(p + 1);
                std::mem::replace(&mut batch, StageBatch::new(store)).commit(JOB, &job)?;
                progress.set((p + 1).into());
            }
        }
        progress.finish();
    }
    let previous = store
        .model::<GraphModel>(ModelRecord::Graph)
        .ok()
        .flatten()
        .map(|m| m.generation);
    let model = GraphModel {
        generation,
        selection: job.selection.clone(),
        config: job.config.clone(),
        root_edges: 0,
        epoch_losses: Vec::new(),
        train_seconds: 0.0,
    };
    let mut batch = StageBatch::new(store);
    if let Some(old) = previous.filter(|&g| g != generation) {
        batch.delete_generation(old);
    }
    batch.put_model(ModelRecord::Graph, &model);
    job.phase = Phase::Done;
    batch.commit(JOB, &job)?;
    Ok(job)
}
