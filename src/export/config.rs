//! The export folder's layout (`schema/export.md`), its manifest, and the two configuration
//! files GraphStorm reads: `gconstruct.json` (graph construction) and `lp.yaml` (training),
//! both derived from the model configuration the export was taken with.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ExportError;
use crate::model::{ModelConfig, Sampling};

/// The manifest's `format`: what wrote the folder.
pub const EXPORT_FORMAT: &str = "demandlink-graphstorm";
/// Version of the export layout (`schema/export.md`).
const VERSION: u32 = 1;

pub(super) const MANIFEST: &str = "manifest.json";
/// Present while an export is under way: the fingerprint whose parts the folder holds.
pub(super) const PROGRESS: &str = "export.progress";
pub(super) const GCONSTRUCT: &str = "gconstruct.json";
pub(super) const TRAINING: &str = "lp.yaml";
pub(super) const NODES: &str = "nodes";
pub(super) const EDGES: &str = "edges";
pub(super) const SELLERS: &str = "seller";
pub(super) const PRODUCTS: &str = "product";
pub(super) const LISTS: &str = "lists";
pub(super) const COPURCHASE: &str = "copurchase";

/// The folder of a table, relative to the export folder.
pub(super) fn table_dir(table: &str) -> String {
    match table {
        SELLERS | PRODUCTS => format!("{NODES}/{table}"),
        _ => format!("{EDGES}/{table}"),
    }
}

/// The file name of part `k`.
pub(super) fn part_file(k: u32) -> String {
    format!("part-{k:05}.parquet")
}

/// What an export holds and what it was taken from (`manifest.json`, written last).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`EXPORT_FORMAT`].
    pub format: String,
    /// Version of the layout.
    pub version: u32,
    /// A hash of everything below the files: the same fingerprint, the same files.
    pub fingerprint: String,
    /// Drops applied to the store when it was exported.
    pub drops: u32,
    /// The featurize run whose vectors the feature columns hold.
    pub featurize_run: u32,
    /// The active model generation when it was exported (0: the content model).
    pub model_generation: u32,
    /// Dimension of the feature vectors.
    pub dim: usize,
    /// Files per table.
    pub parts: u32,
    /// The co-purchase count at which a pair is an edge.
    pub threshold: u64,
    /// Validation products whose listings were left out (for the score fit on import).
    pub held_products: u64,
    /// The model configuration: the co-purchase rule, the held-out products and the
    /// training settings of `lp.yaml` come from it, and `import-embeddings` fits the score
    /// with it.
    pub config: ModelConfig,
    /// Every part file.
    pub files: Vec<ManifestFile>,
}

/// One part file of the export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Its table: `seller`, `product`, `lists` or `copurchase`.
    pub table: String,
    /// Its path relative to the export folder.
    pub path: String,
    /// Rows.
    pub rows: u64,
    /// xxh3-64 of its bytes, hexadecimal.
    pub xxh3: String,
}

impl ManifestFile {
    pub(super) fn new(table: &str, part: u32) -> ManifestFile {
        ManifestFile {
            table: table.to_string(),
            path: format!("{}/{}", table_dir(table), part_file(part)),
            rows: 0,
            xxh3: String::new(),
        }
    }
}

impl Manifest {
    /// The manifest of an export of a store at `(drops, featurize_run)` with active model
    /// `generation` and configuration `config`; files are added as they are written.
    pub(super) fn new(
        (drops, featurize_run): (u32, u32),
        model_generation: u32,
        config: ModelConfig,
        parts: u32,
        dim: usize,
    ) -> Manifest {
        let identity = json!({
            "format": EXPORT_FORMAT,
            "version": VERSION,
            "drops": drops,
            "featurize_run": featurize_run,
            "model_generation": model_generation,
            "dim": dim,
            "parts": parts,
            "config": config,
        });
        let fingerprint = format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(identity.to_string().as_bytes())
        );
        Manifest {
            format: EXPORT_FORMAT.into(),
            version: VERSION,
            fingerprint,
            drops,
            featurize_run,
            model_generation,
            dim,
            parts,
            threshold: 0,
            held_products: 0,
            config,
            files: Vec::new(),
        }
    }

    /// Reads a manifest (`None`: there is none).
    pub fn read(path: &Path) -> std::io::Result<Option<Manifest>> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) fn write(&self, path: &Path) -> Result<(), ExportError> {
        write_file(path, &pretty(self))
    }

    pub(super) fn push(&mut self, files: Vec<ManifestFile>) {
        self.files.extend(files);
    }

    /// Fills in every file's rows (from its footer) and hash.
    pub(super) fn hash_files(&mut self, out: &Path) -> Result<(), ExportError> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        for file in &mut self.files {
            let path = out.join(&file.path);
            let io = |source| ExportError::Io {
                path: path.clone(),
                source,
            };
            file.xxh3 = format!("{:016x}", hash_file(&path).map_err(io)?);
            let reader = SerializedFileReader::new(fs::File::open(&path).map_err(io)?).map_err(
                |source| ExportError::Parquet {
                    path: path.clone(),
                    source,
                },
            )?;
            file.rows = reader.metadata().file_metadata().num_rows() as u64;
        }
        Ok(())
    }

    /// The files of one table.
    fn files_of(&self, table: &str) -> Vec<&str> {
        self.files
            .iter()
            .filter(|f| f.table == table)
            .map(|f| f.path.as_str())
            .collect()
    }
}

/// xxh3-64 of a file's bytes, read in blocks (a part can be gigabytes).
pub(crate) fn hash_file(path: &Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut file = fs::File::open(path)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut block)? {
            0 => return Ok(hasher.digest()),
            n => hasher.update(&block[..n]),
        }
    }
}

fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("plain data serialises") + "\n"
}

fn write_file(path: &Path, text: &str) -> Result<(), ExportError> {
    fs::write(path, text).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `gconstruct.json` and `lp.yaml` for the export described by `m`.
pub(super) fn write_configs(out: &Path, m: &Manifest) -> Result<(), ExportError> {
    write_file(&out.join(GCONSTRUCT), &pretty(&gconstruct(m)))?;
    write_file(&out.join(TRAINING), &training(&m.config))
}

/// GraphStorm's graph-construction configuration. File paths are relative to the export
/// folder (run `gconstruct` from it), so the folder can be copied to a cluster as it is.
fn gconstruct(m: &Manifest) -> serde_json::Value {
    let parquet = json!({ "name": "parquet" });
    let feat = json!([{ "feature_col": "feat", "feature_name": "feat", "out_dtype": "float32" }]);
    let node = |table: &str| {
        json!({
            "node_type": table,
            "node_id_col": "id",
            "format": parquet,
            "files": m.files_of(table),
            "features": feat,
        })
    };
    json!({
        "version": "gconstruct-v0.1",
        "nodes": [node(SELLERS), node(PRODUCTS)],
        "edges": [
            {
                "relation": [SELLERS, LISTS, PRODUCTS],
                "source_id_col": "src",
                "dest_id_col": "dst",
                "format": parquet,
                "files": m.files_of(LISTS),
                // GraphStorm's own train / validation marking of the exported listings (its
                // per-epoch validation); the products `import-embeddings` fits the score on
                // are not in the files at all.
                "labels": [{ "task_type": "link_prediction", "split_pct": [0.9, 0.1, 0.0] }],
            },
            {
                "relation": [PRODUCTS, COPURCHASE, PRODUCTS],
                "source_id_col": "src",
                "dest_id_col": "dst",
                "format": parquet,
                "files": m.files_of(COPURCHASE),
                "features": [{ "feature_col": "count", "feature_name": "count", "out_dtype": "float32" }],
            },
        ],
    })
}

/// GraphStorm's link-prediction training configuration, matching the built-in model where
/// GraphStorm has the same knob: layers, dimension, fan-out, learning rate, batch, negatives,
/// a dot-product decoder on `seller,lists,product`, text and seller vectors as the input
/// features (no learnable node embeddings: a cold product is placed by its features and
/// co-purchase neighbours alone, as in the built-in model), and full-graph inference so the
/// saved embeddings are reproducible.
fn training(cfg: &ModelConfig) -> String {
    // DGL lists fan-outs from the input layer, i.e. the farthest hop first; the built-in
    // `--fanout` is the root's own hop, `--fanout-deep` every farther one.
    let deep = match cfg.sampling {
        Sampling::Stratified => cfg.fanout_deep,
        Sampling::Uniform => cfg.fanout,
    };
    let mut fanouts = vec![deep.to_string(); cfg.layers.saturating_sub(1)];
    fanouts.push(cfg.fanout.to_string());
    format!(
        "---
# Written by `demandlink export` from the model configuration in manifest.json.
version: 1.0
gsf:
  basic:
    model_encoder_type: rgcn
    backend: gloo
    verbose: false
    no_validation: false
  gnn:
    fanout: \"{fanout}\"
    num_layers: {layers}
    hidden_size: {dim}
    use_mini_batch_infer: false
  input:
    restore_model_path: null
    node_feat_name:
      - \"seller:feat\"
      - \"product:feat\"
  output:
    save_model_path: null
    save_embed_path: null
  hyperparam:
    dropout: 0.
    lr: {lr}
    num_epochs: {epochs}
    batch_size: {batch}
    eval_batch_size: 1024
    wd_l2norm: 0
  rgcn:
    num_bases: -1
    use_self_loop: true
    lp_decoder_type: dot_product
    use_node_embeddings: false
  link_prediction:
    num_negative_edges: {negatives}
    num_negative_edges_eval: 50
    train_negative_sampler: uniform
    train_etype:
      - \"seller,lists,product\"
    eval_etype:
      - \"seller,lists,product\"
    exclude_training_targets: true
    reverse_edge_types_map:
      - \"seller,lists,lists-rev,product\"
",
        fanout = fanouts.join(","),
        layers = cfg.layers,
        dim = cfg.dim,
        lr = cfg.lr,
        epochs = cfg.epochs,
        batch = cfg.batch,
        negatives = cfg.negatives,
    )
}
