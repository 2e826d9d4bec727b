//! Values stored as serde + bincode records. Adding a field is a schema change: bump
//! [`super::SCHEMA_VERSION`] and describe it in `schema/store.md`.

use serde::{Deserialize, Serialize};

/// A seller's entity record (`entities`, namespace `s`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellerRecord {
    /// The external id as it appears in the drop files.
    pub external: String,
    /// Sequence number of the drop that first named this seller.
    pub first_drop: u32,
    /// Display name from `sellers.tsv`, if any.
    pub name: Option<String>,
    /// Primary category from `sellers.tsv`, if any (otherwise derived later from listings).
    pub primary_category: Option<String>,
}

/// A product's entity record (`entities`, namespace `p`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRecord {
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
    pub attributes: String,
    /// Drop that wrote this version of the text.
    pub drop: u32,
}

/// A seller–product listing edge (`listings_by_seller`, `listings_by_product`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// Drop in which the edge first appeared (first write wins).
    pub drop: u32,
    /// Timestamp from the `ts` column, unix seconds, if given.
    pub ts: Option<i64>,
}

/// Where an ingest stands inside a drop: the next unread position of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Index into [`DropRecord::files`] of the file being applied.
    pub file: u32,
    /// Lines consumed in that file, header included.
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
    pub rows: u64,
    /// Rows rejected during validation (never applied).
    pub rejected: u64,
    /// Rows applied so far.
    pub applied: u64,
}

/// Lifecycle of a drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DropState {
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
    pub fingerprint: u64,
    /// Where it stands.
    pub state: DropState,
    /// Next position to apply while [`DropState::Applying`].
    pub cursor: Cursor,
    /// The drop's files in application order.
    pub files: Vec<FileRecord>,
    /// Sellers first named by this drop.
    pub new_sellers: u64,
    /// Products first named by this drop.
    pub new_products: u64,
    /// Products first named by a listing, without a `products.tsv` description yet.
    pub products_without_text: u64,
    /// Unix seconds when the drop started (not part of dumps: timing is not content).
    pub started_at: u64,
    /// Unix seconds when the drop finished.
    pub finished_at: Option<u64>,
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
