//! The names the stored layout is made of: its version, the `meta` keys, the records of
//! `model` and `jobs`, and the reserved model generations. They are spelled here and nowhere
//! else, so a change of any of them is a change of this file (and of `schema/store.md`), and so
//! of [`SCHEMA_VERSION`].
//!
//! The version is checked before anything is written: a database of another version is
//! refused with both versions named ([`check_version`]); there is no upgrade path yet.

use std::path::Path;

use rocksdb::{DB, IteratorMode, Options};

use super::{Cf, Namespace, Result, StoreError, merge, read_only_retrying};

/// Version of the on-disk layout described in `schema/store.md`, stored in `meta` as
/// `schema_version`. Bump it with any change of a key, a record's encoding or a column family
/// that a build of the current version would misread, and add a fixture of the new version
/// (`tests/fixtures/`).
pub const SCHEMA_VERSION: u32 = 2;

/// Keys of the `meta` column family, each a little-endian `u64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MetaKey {
    /// [`SCHEMA_VERSION`] of the build that created the database; the first key written.
    SchemaVersion,
    /// Sequence number the next new drop gets.
    NextDrop,
    /// Number of interned ids of a namespace (the next free id).
    NextId(Namespace),
    /// Dimension of imported product vectors, fixed by the first `vectors.tsv`.
    VectorDim,
    /// Period (drop sequence number) of the current high-demand list.
    HighDemandPeriod,
    /// The index generation recommendations read (the active-index marker).
    ActiveIndex,
    /// The model generation the active index was built from.
    IndexModel,
}

impl MetaKey {
    pub(crate) fn bytes(self) -> &'static [u8] {
        match self {
            MetaKey::SchemaVersion => b"schema_version",
            MetaKey::NextDrop => b"next_drop",
            MetaKey::NextId(Namespace::Seller) => b"next_id.seller",
            MetaKey::NextId(Namespace::Product) => b"next_id.product",
            MetaKey::VectorDim => b"vector_dim",
            MetaKey::HighDemandPeriod => b"high_demand_period",
            MetaKey::ActiveIndex => b"active_index",
            MetaKey::IndexModel => b"index_model",
        }
    }
}

/// Records of the `model` column family, each one bincode value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelRecord {
    /// The text vectoriser's parameters (`features::TextModel`).
    Text,
    /// The IDF table (`Vec<u32>`): kept apart from [`ModelRecord::Text`] so that readers of the
    /// parameters do not decode a million counters.
    TextDf,
    /// The content model's calibration (`features::calibrate::ContentModel`).
    Content,
    /// The active graph model (`model::GraphModel`); its presence makes it the active model.
    Graph,
    /// Every product's category and each category's size (`affinity::Categories`), as of the
    /// drops `featurize` last saw: readers of one seller then skip a scan of every text.
    Categories,
    /// The active index generation's files as built (`IndexFiles`): sizes and chunk hashes,
    /// checked before the index is read. Added within version 2: a generation built before
    /// it has no record and is read unchecked.
    IndexFiles,
}

impl ModelRecord {
    pub(crate) fn key(self) -> &'static [u8] {
        match self {
            ModelRecord::Text => b"text",
            ModelRecord::TextDf => b"text.df",
            ModelRecord::Content => b"content",
            ModelRecord::Graph => b"graph",
            ModelRecord::Categories => b"categories",
            ModelRecord::IndexFiles => b"index.files",
        }
    }
}

/// A stage's own state in `jobs` (its cursor and the inputs it was computed from), committed
/// in the batch of the stage's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// Product vectors.
    Featurize,
    /// Seller vectors, profiles and calibration.
    Sellers,
    /// Graph-model training (checkpoints included).
    Train,
    /// The training's epochs: validation recall per epoch and the best epoch's weights
    /// (`model::EpochChoice`), committed with each training checkpoint. Added within version
    /// 2: a database without it holds a model trained for its fixed epochs.
    TrainEpochs,
    /// The index build.
    Index,
    /// Every seller's recommendations.
    Recommend,
    /// `import-embeddings`: its cursor and the score it chose. Added within version 2: an
    /// earlier build never reads it.
    Import,
}

impl Job {
    /// The job's name: its key, and in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Job::Featurize => "featurize",
            Job::Sellers => "sellers",
            Job::Train => "train",
            Job::TrainEpochs => "train.epochs",
            Job::Index => "index",
            Job::Recommend => "recommend",
            Job::Import => "import",
        }
    }
}

/// A stage of `demandlink refresh`, whose record ([`super::JobRecord`]) is kept in `jobs`
/// under `refresh.<name>`, apart from the stages' own [`Job`] states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshStage {
    /// Applying the drops.
    Ingest,
    /// Product and seller vectors.
    Featurize,
    /// The graph model.
    Train,
    /// The index build.
    Index,
    /// Every seller's recommendations.
    Recommend,
}

impl RefreshStage {
    const ALL: [RefreshStage; 5] = [
        RefreshStage::Ingest,
        RefreshStage::Featurize,
        RefreshStage::Train,
        RefreshStage::Index,
        RefreshStage::Recommend,
    ];

    /// The stage's name: in its key, in messages and in `demandlink jobs`.
    pub fn name(self) -> &'static str {
        match self {
            RefreshStage::Ingest => "ingest",
            RefreshStage::Featurize => "featurize",
            RefreshStage::Train => "train",
            RefreshStage::Index => "index",
            RefreshStage::Recommend => "recommend",
        }
    }

    pub(crate) fn key(self) -> Vec<u8> {
        [REFRESH_JOB_PREFIX, self.name().as_bytes()].concat()
    }

    /// The stage whose record is at `key` (`None`: not a refresh record of this layout).
    pub(crate) fn of_key(key: &[u8]) -> Option<RefreshStage> {
        let name = key.strip_prefix(REFRESH_JOB_PREFIX)?;
        Self::ALL.into_iter().find(|s| s.name().as_bytes() == name)
    }
}

/// Prefix of the refresh stages' keys in `jobs`; the stages' own [`Job`] states use bare names.
pub(crate) const REFRESH_JOB_PREFIX: &[u8] = b"refresh.";

/// Model generation of the content model: seller vectors in `embeddings` (its product vectors
/// are `features`). Graph models' output generations count up from the one after it.
pub const CONTENT_GENERATION: u32 = 0;

/// Model generation under which the input-embedding rows (and their accumulators) of the
/// latest training are kept, out of the way of the output generations counting up.
pub const INPUT_GENERATION: u32 = u32::MAX - 1;

/// Model generation under which a training that stops early keeps its identity rows (and
/// accumulators) as they were after its best epoch so far; deleted once the model is written.
pub const BEST_GENERATION: u32 = u32::MAX - 2;

/// Reads the schema version with a read-only open of `meta` alone, so a database of another
/// version is refused before this build creates or touches anything in it. `false`: no
/// version and an empty `meta` — a creation killed before its first write (the version is
/// the first thing written, so nothing else can have survived it).
pub(super) fn check_version(root: &Path, dir: &Path) -> Result<bool> {
    let rocks = |source| StoreError::Rocks {
        path: root.to_path_buf(),
        source,
    };
    let db = read_only_retrying(|_| {
        DB::open_cf_for_read_only(&Options::default(), dir, [Cf::Meta.name()], false).map(Some)
    })
    .map_err(rocks)?;
    let meta = db.cf_handle(Cf::Meta.name()).expect("opened above");
    let found = db
        .get_cf(meta, MetaKey::SchemaVersion.bytes())
        .map_err(rocks)?
        .map(|v| merge::decode_u64(&v) as u32);
    let empty = || db.iterator_cf(meta, IteratorMode::Start).next().is_none();
    match found {
        Some(SCHEMA_VERSION) => Ok(true),
        None if empty() => Ok(false),
        Some(found) => Err(StoreError::SchemaMismatch {
            path: root.to_path_buf(),
            found,
            expected: SCHEMA_VERSION,
        }),
        None => Err(StoreError::Unversioned {
            path: root.to_path_buf(),
            expected: SCHEMA_VERSION,
        }),
    }
}

/// What to do about a database of version `found`, for [`StoreError::SchemaMismatch`].
pub(super) fn mismatch_advice(found: u32) -> &'static str {
    if found < SCHEMA_VERSION {
        "it was written by an older demandlink and there is no upgrade from that version: \
         ingest its drops into a new database, or keep using the older build"
    } else {
        "it was written by a newer demandlink: use that build (or a newer one)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_keys_are_distinct() {
        let keys = [
            MetaKey::SchemaVersion,
            MetaKey::NextDrop,
            MetaKey::NextId(Namespace::Seller),
            MetaKey::NextId(Namespace::Product),
            MetaKey::VectorDim,
            MetaKey::HighDemandPeriod,
            MetaKey::ActiveIndex,
            MetaKey::IndexModel,
        ]
        .map(MetaKey::bytes);
        let unique: std::collections::BTreeSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
    }

    #[test]
    fn refresh_stage_keys_round_trip_and_stay_apart_from_job_states() {
        for stage in RefreshStage::ALL {
            assert_eq!(RefreshStage::of_key(&stage.key()), Some(stage));
        }
        for job in [
            Job::Featurize,
            Job::Sellers,
            Job::Train,
            Job::Index,
            Job::Recommend,
            Job::Import,
        ] {
            assert_eq!(RefreshStage::of_key(job.name().as_bytes()), None);
        }
    }
}
