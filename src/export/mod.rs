//! `demandlink export`: the active graph as GraphStorm's graph-construction input
//! (`schema/export.md`), for training on a cluster. Node tables (sellers, products) and edge
//! tables (`lists`, `copurchase`) in Parquet, each split into `--parts` files by id range, plus
//! the `gconstruct` configuration, a training configuration matching the built-in model, and a
//! manifest naming the state of the store they were taken from.
//!
//! The export streams the store: it holds a few numbers per node (external ids, sellers per
//! product, flags), never the edges; each part file is written a row group at a time. The
//! listings of the validation products the built-in model holds out are left out exactly as
//! `train` leaves them out, so `import-embeddings` can fit the final score on them as `train`
//! does (they are cold in the exported graph, as the high-demand products are).
//!
//! Restartable: a part file appears under its name only once whole (`table.rs`), and a
//! rerun with the same store and options keeps the parts already written; the manifest is
//! written last, and a rerun that finds it with the same fingerprint does nothing.
//! Deterministic: the same store gives byte-identical files.

mod config;
mod table;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::copurchase::{Rule, default_threshold};
use crate::features::TextModel;
use crate::model::ModelConfig;
use crate::model::graph::validation_products;
use crate::model::stage::{VALIDATION_CAP, active_config};
use crate::progress::{Cancelled, Progress};
use crate::store::{CONTENT_GENERATION, Id, ModelRecord, Namespace, Store, StoreError};
pub(crate) use config::hash_file;
pub use config::{EXPORT_FORMAT, Manifest, ManifestFile};
use table::{Column, TableWriter, Value};

/// Errors of `demandlink export`.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Featurize has not run: there are no feature vectors to export.
    #[error("no text vectors yet: run `demandlink featurize` first")]
    NotFeaturized,
    /// `--parts 0`.
    #[error("--parts must be at least 1")]
    NoParts,
    /// `--out` names a folder with other content: an export replaces what it finds, so it
    /// writes only into a new or empty folder or one of its own.
    #[error("{0}: not empty and not an export folder (no manifest.json or export.progress)")]
    NotAnExport(PathBuf),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The Parquet writer failed.
    #[error("{path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: parquet::errors::ParquetError,
    },
    /// Ctrl-C: the parts written so far are kept.
    #[error(
        "interrupted; the part files written so far are kept: rerun the same command to \
         continue where it stopped"
    )]
    Cancelled(#[from] Cancelled),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to export, and where.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// The export folder (created).
    pub out: PathBuf,
    /// Files per table.
    pub parts: u32,
}

/// What an export wrote.
#[derive(Debug, Serialize)]
pub struct ExportSummary {
    /// The export folder.
    pub out: PathBuf,
    /// The manifest (also `out/manifest.json`).
    pub manifest: Manifest,
    /// Part files kept from an interrupted run.
    pub kept: u64,
    /// Whether the folder already held this export (nothing was written).
    pub up_to_date: bool,
}

/// Rows of the export tables between two looks at the cancel flag.
const CANCEL_EVERY: u64 = 8_192;

/// Exports the active graph to `opts.out` (or continues an interrupted export there).
pub fn export(
    store: &Store,
    opts: &ExportOptions,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<ExportSummary, ExportError> {
    if opts.parts == 0 {
        return Err(ExportError::NoParts);
    }
    let text = store
        .model::<TextModel>(ModelRecord::Text)?
        .ok_or(ExportError::NotFeaturized)?;
    // The active model's configuration, so the co-purchase rule and the held-out products are
    // the built-in model's; the defaults before any training.
    let (generation, cfg) = active_config(store)?;
    let mut manifest = Manifest::new(
        (store.next_drop_seq()?.saturating_sub(1), text.run),
        generation,
        cfg,
        opts.parts,
        text.config.dim,
    );
    let out = &opts.out;
    let manifest_path = out.join(config::MANIFEST);
    // An unreadable manifest is not this export's: it is written again.
    if let Ok(Some(found)) = Manifest::read(&manifest_path)
        && found.fingerprint == manifest.fingerprint
    {
        return Ok(ExportSummary {
            out: out.clone(),
            manifest: found,
            kept: 0,
            up_to_date: true,
        });
    }
    let kept = prepare(out, &manifest.fingerprint)?;
    let facts = Facts::read(store, &manifest.config)?;
    manifest.threshold = facts.threshold;
    manifest.held_products = facts.held_products;

    let parts = opts.parts;
    let ctx = Ctx {
        out,
        parts,
        cancel,
        progress,
    };
    let sellers = store.entity_count(Namespace::Seller)?;
    let products = store.entity_count(Namespace::Product)?;
    let ids = ExternalIds::read(store)?;
    let dim = text.config.dim;
    let zeros = vec![0f32; dim];

    // Sellers: the content model's view-weighted seller vector, the primary category.
    let mut t = ctx.table(config::SELLERS, SELLER_COLUMNS, sellers.into())?;
    for s in 0..sellers {
        let feat = store.embedding(CONTENT_GENERATION, Namespace::Seller, s)?;
        let category = store
            .profile(s)?
            .map(|p| p.primary_category)
            .unwrap_or_default();
        t.row(
            s.into(),
            &[
                Value::Str(&ids.sellers[s as usize]),
                Value::Floats(feat.as_deref().unwrap_or(&zeros)),
                Value::Str(&category),
            ],
        )?;
    }
    manifest.push(t.finish()?);

    // Products: the text (or imported) vector, the high-demand flag, the category.
    let mut t = ctx.table(config::PRODUCTS, PRODUCT_COLUMNS, products.into())?;
    for p in 0..products {
        let feat = store.feature(p)?.map(|f| f.vector);
        let category = store
            .product_text(p)?
            .map(|t| t.category)
            .unwrap_or_default();
        t.row(
            p.into(),
            &[
                Value::Str(&ids.products[p as usize]),
                Value::Floats(feat.as_deref().unwrap_or(&zeros)),
                Value::Bool(facts.high_demand[p as usize]),
                Value::Str(&category),
            ],
        )?;
    }
    manifest.push(t.finish()?);

    // Listings, grouped by seller, without the held-out products' (see the module comment).
    let mut t = ctx.table(config::LISTS, LIST_COLUMNS, sellers.into())?;
    let mut failed = None;
    store.for_each_listing(|s, p, _| {
        if failed.is_some() || facts.held[p as usize] {
            return;
        }
        let row = [
            Value::Str(&ids.sellers[s as usize]),
            Value::Str(&ids.products[p as usize]),
        ];
        if let Err(e) = t.row(s.into(), &row) {
            failed = Some(e);
        }
    })?;
    if let Some(e) = failed.take() {
        return Err(e);
    }
    manifest.push(t.finish()?);

    // Co-purchase: each product's partners under the encoder's rule (threshold, the `cap`
    // strongest), as edges partner → product, the direction the product aggregates them.
    let mut t = ctx.table(config::COPURCHASE, COPURCHASE_COLUMNS, products.into())?;
    if manifest.config.graph.copurchase {
        let rule = Rule {
            threshold: facts.threshold,
            cap: manifest.config.graph.copurchase_cap,
            ..Rule::default()
        };
        let kept_node = |p: Id| manifest.config.graph.auxiliary || facts.has_edges[p as usize];
        let mut group: (Id, Vec<(Id, u64)>) = (0, Vec::new());
        let write = |t: &mut Table, (p, mut list): (Id, Vec<(Id, u64)>)| {
            if list.is_empty() {
                return Ok(());
            }
            rule.cap_partners(p, &mut list);
            for (q, count) in list {
                let row = [
                    Value::Str(&ids.products[q as usize]),
                    Value::Str(&ids.products[p as usize]),
                    Value::I64(count as i64),
                ];
                t.row(p.into(), &row)?;
            }
            Ok::<(), ExportError>(())
        };
        store.for_each_copurchase(|a, b, count| {
            if failed.is_some() {
                return;
            }
            if a != group.0 {
                let done = std::mem::replace(&mut group, (a, Vec::new()));
                if let Err(e) = write(&mut t, done) {
                    failed = Some(e);
                }
            }
            if count >= rule.threshold && a != b && kept_node(a) && kept_node(b) {
                group.1.push((b, count));
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        write(&mut t, group)?;
    }
    manifest.push(t.finish()?);

    config::write_configs(out, &manifest)?;
    manifest.hash_files(out)?;
    manifest.write(&manifest_path)?;
    fs::remove_file(out.join(config::PROGRESS)).map_err(|source| ExportError::Io {
        path: out.join(config::PROGRESS),
        source,
    })?;
    Ok(ExportSummary {
        out: out.clone(),
        manifest,
        kept,
        up_to_date: false,
    })
}

const SELLER_COLUMNS: &[Column] = &[
    Column::Str("id"),
    Column::Floats("feat"),
    Column::Str("category"),
];
const PRODUCT_COLUMNS: &[Column] = &[
    Column::Str("id"),
    Column::Floats("feat"),
    Column::Bool("high_demand"),
    Column::Str("category"),
];
const LIST_COLUMNS: &[Column] = &[Column::Str("src"), Column::Str("dst")];
const COPURCHASE_COLUMNS: &[Column] =
    &[Column::Str("src"), Column::Str("dst"), Column::I64("count")];

/// Readies the export folder for an export with `fingerprint`: a folder holding the parts of
/// an interrupted export of the same fingerprint keeps them (returns how many); any other
/// content of ours (another export, stale temporary files) is removed first.
fn prepare(out: &Path, fingerprint: &str) -> Result<u64, ExportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    let progress = out.join(config::PROGRESS);
    let foreign = fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some())
        && !progress.exists()
        && !out.join(config::MANIFEST).exists();
    if foreign {
        return Err(ExportError::NotAnExport(out.to_path_buf()));
    }
    fs::create_dir_all(out).map_err(io(out))?;
    let same = fs::read_to_string(&progress).is_ok_and(|f| f.trim() == fingerprint);
    let mut kept = 0;
    for dir in [config::NODES, config::EDGES] {
        let dir = out.join(dir);
        if !same {
            match fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&dir)(e)),
                _ => {}
            }
            continue;
        }
        for table in fs::read_dir(&dir).into_iter().flatten().flatten() {
            for file in fs::read_dir(table.path())
                .map_err(io(&table.path()))?
                .flatten()
            {
                let path = file.path();
                if path.extension().is_some_and(|e| e == "parquet") {
                    kept += 1;
                }
            }
        }
    }
    if !same {
        for name in [config::MANIFEST, config::GCONSTRUCT, config::TRAINING] {
            match fs::remove_file(out.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io(&out.join(name))(e));
                }
                _ => {}
            }
        }
        fs::write(&progress, format!("{fingerprint}\n")).map_err(io(&progress))?;
    }
    Ok(kept)
}

/// What the export needs per product besides the store's rows: the high-demand list, which
/// products have edges, the held-out validation products, and the co-purchase threshold.
struct Facts {
    high_demand: Vec<bool>,
    /// Listed or high-demand: the products the graph keeps without auxiliary products.
    has_edges: Vec<bool>,
    held: Vec<bool>,
    held_products: u64,
    threshold: u64,
}

impl Facts {
    fn read(store: &Store, cfg: &ModelConfig) -> Result<Facts, StoreError> {
        let products = store.entity_count(Namespace::Product)? as usize;
        let mut high_demand = vec![false; products];
        if let Some(period) = store.high_demand_period()? {
            for id in store.high_demand(period)? {
                high_demand[id as usize] = true;
            }
        }
        let mut sellers = vec![0u32; products];
        store.for_each_listing_by_product(|p, _| sellers[p as usize] += 1)?;
        let mut max_count = 0;
        if cfg.graph.copurchase {
            store.for_each_copurchase(|_, _, c| max_count = max_count.max(c))?;
        }
        let threshold = cfg
            .graph
            .copurchase_threshold
            .unwrap_or_else(|| default_threshold(max_count));
        let picked = validation_products(
            |p| sellers[p as usize] as usize,
            &high_demand,
            (cfg.validation_share, VALIDATION_CAP, cfg.seed),
        );
        let mut held = vec![false; products];
        for &p in &picked {
            held[p as usize] = true;
        }
        let has_edges = (0..products)
            .map(|p| high_demand[p] || sellers[p] > 0)
            .collect();
        Ok(Facts {
            high_demand,
            has_edges,
            held,
            held_products: picked.len() as u64,
            threshold,
        })
    }
}

/// Every node's external id, by internal id: the ids the exported files speak.
struct ExternalIds {
    sellers: Vec<String>,
    products: Vec<String>,
}

impl ExternalIds {
    fn read(store: &Store) -> Result<ExternalIds, StoreError> {
        let mut sellers = vec![String::new(); store.entity_count(Namespace::Seller)? as usize];
        store.for_each_seller(|id, r| sellers[id as usize] = r.external)?;
        let mut products = vec![String::new(); store.entity_count(Namespace::Product)? as usize];
        store.for_each_product(|id, r| products[id as usize] = r.external)?;
        Ok(ExternalIds { sellers, products })
    }
}

/// What every table of one export shares.
struct Ctx<'a> {
    out: &'a Path,
    parts: u32,
    cancel: &'a AtomicBool,
    progress: &'a dyn Progress,
}

impl<'a> Ctx<'a> {
    /// A table `name` over keys `0..keys` (the ids its rows are split by).
    fn table(
        &self,
        name: &'static str,
        columns: &'static [Column],
        keys: u64,
    ) -> Result<Table<'a>, ExportError> {
        self.progress.start(&format!("export {name}"), keys);
        Ok(Table {
            dir: self.out.join(config::table_dir(name)),
            name,
            columns,
            keys,
            parts: self.parts,
            opened: 0,
            current: None,
            files: Vec::new(),
            rows: 0,
            cancel: self.cancel,
            progress: self.progress,
        })
    }
}

/// One table being written, part by part: rows come in key order, part `k` holds the keys
/// from `k·keys/parts` on. A part whose file exists (kept from an interrupted run) is
/// skipped.
struct Table<'a> {
    dir: PathBuf,
    name: &'static str,
    columns: &'static [Column],
    keys: u64,
    parts: u32,
    /// Parts opened so far.
    opened: u32,
    /// The part being written (with `None`: kept from an interrupted run, its rows skipped).
    current: Option<(u32, Option<TableWriter>)>,
    files: Vec<ManifestFile>,
    rows: u64,
    cancel: &'a AtomicBool,
    progress: &'a dyn Progress,
}

impl Table<'_> {
    /// The first key of part `k`.
    fn start(&self, k: u32) -> u64 {
        self.keys * u64::from(k) / u64::from(self.parts)
    }

    /// Appends a row whose key is `key` (not below the last row's).
    fn row(&mut self, key: u64, values: &[Value]) -> Result<(), ExportError> {
        if self.opened < self.parts && key >= self.start(self.opened) {
            let mut k = self.opened;
            while k + 1 < self.parts && key >= self.start(k + 1) {
                k += 1;
            }
            self.open_through(k)?;
        }
        if let Some((_, Some(w))) = &mut self.current {
            w.push(values)?;
        }
        self.rows += 1;
        if self.rows.is_multiple_of(CANCEL_EVERY) {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Cancelled.into());
            }
            self.progress.set(key);
        }
        Ok(())
    }

    /// Closes the current part and opens every part up to `k`: parts without rows are
    /// written too (empty), so the file list depends on `--parts` alone.
    fn open_through(&mut self, k: u32) -> Result<(), ExportError> {
        for part in self.opened..=k {
            self.close_part()?;
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Cancelled.into());
            }
            let path = self.dir.join(config::part_file(part));
            let writer = match path.exists() {
                true => None,
                false => Some(TableWriter::create(&path, self.columns)?),
            };
            self.current = Some((part, writer));
            self.opened = part + 1;
        }
        Ok(())
    }

    fn close_part(&mut self) -> Result<(), ExportError> {
        if let Some((k, writer)) = self.current.take() {
            if let Some(w) = writer {
                w.close()?;
            }
            self.files.push(ManifestFile::new(self.name, k));
        }
        Ok(())
    }

    /// Writes the remaining (empty) parts and closes the last; returns the table's files.
    fn finish(mut self) -> Result<Vec<ManifestFile>, ExportError> {
        if self.opened < self.parts {
            self.open_through(self.parts - 1)?;
        }
        self.close_part()?;
        self.progress.finish();
        Ok(self.files)
    }
}
