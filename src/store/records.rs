//! Values stored as serde + bincode records. Adding a field is a schema change: bump
//! [`super::SCHEMA_VERSION`] and describe it in `schema/store.md`.

use serde::{Deserialize, Serialize};

/// A seller's entity record (`entities`, namespace `s`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellerRecord {
    /// The external id as it appears in the drop files.
    pub external: String,
    /// Sequence number of the drop that first named this seller.
    pub(crate) first_drop: u32,
    /// Display name from `sellers.tsv`, if any.
    pub(crate) name: Option<String>,
    /// Primary category from `sellers.tsv`, if any (otherwise derived later from listings).
    pub(crate) primary_category: Option<String>,
    /// Drop that last changed this record.
    pub(crate) updated_drop: u32,
}

/// A product's entity record (`entities`, namespace `p`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProductRecord {
    /// The external id as it appears in the drop files.
    pub external: String,
    /// Sequence number of the drop that first named this product.
    pub first_drop: u32,
}

/// Product text from `products.tsv` (`product_text`); the last upsert wins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductText {
    /// Category path, e.g. `Home > Kitchen > Knives`.
    pub category: String,
    /// Product title.
    pub title: String,
    /// Free-text attributes (optional column).
    pub(crate) attributes: String,
    /// Drop that wrote this version of the text.
    pub(crate) drop: u32,
}

/// A seller–product listing edge (`listings_by_seller`, `listings_by_product`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// Drop in which the edge first appeared (first write wins).
    pub(crate) drop: u32,
    /// Timestamp from the `ts` column, unix seconds, if given.
    pub(crate) ts: Option<i64>,
}

/// Where an ingest stands inside a drop: the next unread position of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cursor {
    /// Index into [`DropRecord::files`] of the file being applied.
    pub file: u32,
    /// Lines consumed in that file, header included; for `orders.tsv`, the customers
    /// committed in the merged order (customer id bytes, ts, product).
    pub line: u64,
    /// Uncompressed bytes consumed in that file.
    pub offset: u64,
}

/// Per-file bookkeeping inside a [`DropRecord`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// File name inside the drop folder, e.g. `listings.tsv.gz`.
    pub name: String,
    /// Data rows in the file (header and blank lines excluded).
    pub(crate) rows: u64,
    /// Rows rejected during validation (never applied).
    pub rejected: u64,
    /// Rows applied so far.
    pub applied: u64,
}

/// Lifecycle of a drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DropState {
    /// Validated and partly written; [`DropRecord::cursor`] says where to continue.
    Applying,
    /// Every file applied.
    Applied,
}

/// One drop folder's record (`drops`, keyed by sequence number).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropRecord {
    /// Order in which drops were applied, from 1; also the drop's period for views and
    /// high-demand lists.
    pub seq: u32,
    /// The drop folder's name, e.g. `2024Q1`.
    pub name: String,
    /// Content fingerprint (xxh3 over file names and bytes) that identifies the drop.
    pub(crate) fingerprint: u64,
    /// Where it stands.
    pub(crate) state: DropState,
    /// Next position to apply while [`DropState::Applying`].
    pub(crate) cursor: Cursor,
    /// The drop's files in application order.
    pub files: Vec<FileRecord>,
    /// Sellers first named by this drop.
    pub new_sellers: u64,
    /// Products first named by this drop.
    pub new_products: u64,
    /// Products first named by a listing, without a `products.tsv` description yet.
    pub products_without_text: u64,
    /// Unix seconds when the drop started (not part of dumps: timing is not content).
    pub(crate) started_at: u64,
    /// Unix seconds when the drop finished.
    pub(crate) finished_at: Option<u64>,
}

/// The files of an index generation as its build left them (`model` record `index.files`):
/// what `index` checks before it reads a generation, since LMDB has no checksums of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFiles {
    /// The index generation.
    pub generation: u32,
    /// Bytes per hashed chunk (the last chunk of a file may be shorter).
    pub chunk_size: u64,
    /// Each file of the generation's folder that holds state.
    pub files: Vec<FileDigest>,
}

/// One file of an index generation: its size and the xxh3-128 hash of each chunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// File name inside the generation's folder, e.g. `data.mdb`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// xxh3-128 of each chunk, in file order (big-endian bytes: a fixed-size record).
    pub chunks: Vec<[u8; 16]>,
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .expect("bincode encoding of an in-memory record cannot fail")
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| e.to_string())
}

/// How a product's feature vector was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FeatureSource {
    /// Computed from the product's text.
    Text,
    /// Imported from `vectors.tsv`.
    Imported,
}

/// A product's feature vector (`features`): raw layout `hash u64 LE, run u32 LE, source u8,
/// f32 LE × d`, so readers can take the vector without decoding a record.
#[derive(Clone, Debug, PartialEq)]
pub struct Feature {
    /// Content hash of everything the vector was computed from (text, IDF version, config).
    pub(crate) hash: u64,
    /// Featurize run that wrote it (lets later stages find what changed since their last run).
    pub(crate) run: u32,
    /// Where the vector came from.
    pub(crate) source: FeatureSource,
    /// The vector, L2-normalised.
    pub vector: Vec<f32>,
}

impl Feature {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(13 + 4 * self.vector.len());
        out.extend_from_slice(&self.hash.to_le_bytes());
        out.extend_from_slice(&self.run.to_le_bytes());
        out.push(match self.source {
            FeatureSource::Text => 0,
            FeatureSource::Imported => 1,
        });
        out.extend(self.vector.iter().flat_map(|v| v.to_le_bytes()));
        out
    }

    /// The content hash of an encoded feature, its vector left undecoded.
    pub(crate) fn decode_hash(bytes: &[u8]) -> Result<u64, String> {
        if bytes.len() < 13 || !(bytes.len() - 13).is_multiple_of(4) {
            return Err(format!("feature record of {} bytes", bytes.len()));
        }
        Ok(u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")))
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Feature, String> {
        let hash = Feature::decode_hash(bytes)?;
        let source = match bytes[12] {
            0 => FeatureSource::Text,
            1 => FeatureSource::Imported,
            other => return Err(format!("unknown feature source {other}")),
        };
        Ok(Feature {
            hash,
            run: u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")),
            source,
            vector: f32s(&bytes[13..]),
        })
    }
}

/// Decodes raw little-endian f32s.
pub(crate) fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Encodes f32s as raw little-endian bytes.
pub(crate) fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// What a seller sells (`profiles`), derived from listings, product categories and views.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SellerProfile {
    /// The category recommendations default to.
    pub primary_category: String,
    /// Whether `primary_category` came from `sellers.tsv` (else from listings).
    pub(crate) primary_from_sellers_file: bool,
    /// Categories of the seller's listings with listing counts, most listed first.
    pub(crate) categories: Vec<(String, u32)>,
    /// Number of listings.
    pub(crate) listings: u32,
    /// The products that weigh most in the seller vector, with their weights (summing to ≤ 1).
    pub(crate) anchors: Vec<(u32, f32)>,
}

/// One recommended product.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rec {
    /// Product id.
    pub product: u32,
    /// Score in [0, 1]; ≥ the list's threshold.
    pub score: f32,
}

/// A seller's recommendations for one category (`recommendations`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecList {
    /// Model generation whose vectors produced the list.
    pub(crate) model: u32,
    /// Index generation queried.
    pub(crate) index_generation: u32,
    /// Unix seconds when computed.
    pub(crate) computed_at: u64,
    /// Requested list length.
    pub k: u32,
    /// Score threshold applied.
    pub(crate) threshold: f32,
    /// Best first.
    pub items: Vec<Rec>,
}

/// Whom a seller-portal access token speaks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenSubject {
    /// One seller (external id): it reads only that seller's recommendations.
    Seller(String),
    /// Support staff: reads any seller's recommendations.
    Operator,
}

/// A seller-portal access token (`tokens`). The secret itself is never stored: only its
/// SHA-256 digest, compared in constant time when a request presents the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokenRecord {
    /// SHA-256 of the secret.
    pub digest: [u8; 32],
    /// Whom it speaks for.
    pub subject: TokenSubject,
    /// Unix seconds when issued.
    pub created_at: u64,
    /// Unix seconds when revoked (`None`: valid).
    pub revoked_at: Option<u64>,
}

/// Where one stage of `demandlink refresh` stands (`jobs`, key `refresh.<stage>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Pending, running, done, failed or interrupted.
    pub state: JobState,
    /// The last drop (sequence number) the stage runs for: the database's state once the
    /// refresh's drops are applied.
    pub drop: u32,
    /// Hash of everything the stage's output depends on besides the data (that drop, the
    /// stage's options): a done job with the inputs of a new run is up to date.
    pub inputs: u64,
    /// Unix seconds when the stage last started (not part of dumps: timing is not content).
    pub started_at: Option<u64>,
    /// Unix seconds when it last ended: done, failed or interrupted.
    pub ended_at: Option<u64>,
}

/// Lifecycle of a refresh stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Waiting for the stages before it.
    Pending,
    /// Started by process `pid`; `phase` and `done` of `total` are its last reported progress
    /// (the stage's own cursor, committed with its output, is what a rerun continues from).
    Running {
        /// The process running it; when that process is gone, it was killed.
        pid: u32,
        /// The stage's current phase, e.g. `recommend`.
        phase: String,
        /// Progress within the phase.
        done: u64,
        /// The phase's total, in the same unit.
        total: u64,
    },
    /// Finished for [`JobRecord::inputs`].
    Done,
    /// Stopped with an error; rerunning the refresh retries it.
    Failed {
        /// The error, with its context.
        error: String,
    },
    /// Stopped by Ctrl-C after a commit; rerunning the refresh continues it.
    Interrupted,
}
