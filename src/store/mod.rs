//! The store: one RocksDB database with one column family per kind of fact.
//!
//! **API boundary**: only this module knows column-family names and key encodings; the rest of
//! the crate reads and writes through typed methods. Writers go through [`DropWriter`], whose
//! only way to persist is [`DropWriter::commit`], which writes the staged rows, the id
//! counters and the drop's progress cursor in one `WriteBatch`.

mod backup;
mod derived;
mod dump;
mod keys;
mod layout;
mod merge;
mod records;
mod tokens;
mod verify;
mod writer;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Direction,
    IteratorMode, Options, ReadOptions,
};

pub(crate) use backup::{commit_restore, copy_store, link_or_copy, start_staging, sync_dir};
pub use derived::StageBatch;
pub use keys::{Id, Namespace};
pub use layout::{
    BEST_GENERATION, CONTENT_GENERATION, INPUT_GENERATION, Job, ModelRecord, RefreshStage,
    SCHEMA_VERSION,
};
use layout::{MetaKey, check_version};
pub(crate) use records::{Cursor, DropState, FeatureSource, TokenRecord};
pub use records::{
    DropRecord, Feature, FileDigest, FileRecord, IndexFiles, JobRecord, JobState, Listing,
    ProductText, Rec, RecList, SellerProfile, SellerRecord, TokenSubject,
};
pub(crate) use tokens::TokenId;
pub use verify::FamilyCheck;
pub(crate) use writer::DropWriter;

/// Errors at the store boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database path exists and is not a folder.
    #[error("{0}: is a file, not a DemandLink database folder")]
    NotADirectory(PathBuf),
    /// A read-only command found no database.
    #[error("{0}: no DemandLink database here (create one with `demandlink ingest --db {0} DROP`)")]
    Missing(PathBuf),
    /// The database was written by another layout version.
    #[error(
        "{path}: database schema version {found}, but this demandlink reads version \
         {expected}; {}",
        layout::mismatch_advice(*found)
    )]
    SchemaMismatch {
        /// Database folder.
        path: PathBuf,
        /// Version found in `meta`.
        found: u32,
        /// Version this build reads and writes.
        expected: u32,
    },
    /// The folder holds a RocksDB database with data but no schema version: not one that
    /// DemandLink created.
    #[error(
        "{path}: database without a schema version, but this demandlink reads version \
         {expected}; it was not created by demandlink: give --db a DemandLink database folder \
         or a new one"
    )]
    Unversioned {
        /// Database folder.
        path: PathBuf,
        /// Version this build reads and writes.
        expected: u32,
    },
    /// Another process holds the database's write lock.
    #[error("{path}: database is busy ({holder}); wait for it to finish or stop it")]
    Busy {
        /// Database folder.
        path: PathBuf,
        /// Who holds it, e.g. `pid 1234`.
        holder: String,
    },
    /// RocksDB refused an operation.
    #[error("{path}: RocksDB: {source}")]
    Rocks {
        /// Database folder.
        path: PathBuf,
        /// The engine's error.
        source: rocksdb::Error,
    },
    /// A file operation next to the database failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A stored record does not decode: an internal invariant broke (a bug or disk corruption).
    #[error("corrupt record in column family `{cf}` at key {key}: {reason}")]
    Corrupt {
        /// Column family name.
        cf: &'static str,
        /// The key, hex-encoded.
        key: String,
        /// What failed.
        reason: String,
    },
}

/// Result type of the store.
pub(crate) type Result<T> = std::result::Result<T, StoreError>;

/// Column families, one per kind of fact. The order is the dump order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cf {
    Meta,
    Ids,
    Entities,
    ProductText,
    ListingsBySeller,
    ListingsByProduct,
    Copurchase,
    Views,
    HighDemand,
    Vectors,
    Features,
    Profiles,
    Model,
    Embeddings,
    /// Per graph-model generation, each product's co-purchase partners under its rule.
    Partners,
    Jobs,
    CustomerTails,
    Drops,
    Recommendations,
    Tokens,
}

impl Cf {
    pub(crate) const ALL: [Cf; 20] = [
        Cf::Meta,
        Cf::Ids,
        Cf::Entities,
        Cf::ProductText,
        Cf::ListingsBySeller,
        Cf::ListingsByProduct,
        Cf::Copurchase,
        Cf::Views,
        Cf::HighDemand,
        Cf::Vectors,
        Cf::Features,
        Cf::Profiles,
        Cf::Model,
        Cf::Embeddings,
        Cf::Partners,
        Cf::Jobs,
        Cf::CustomerTails,
        Cf::Drops,
        Cf::Recommendations,
        Cf::Tokens,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Cf::Meta => "meta",
            Cf::Ids => "ids",
            Cf::Entities => "entities",
            Cf::ProductText => "product_text",
            Cf::ListingsBySeller => "listings_by_seller",
            Cf::ListingsByProduct => "listings_by_product",
            Cf::Copurchase => "copurchase",
            Cf::Views => "views",
            Cf::HighDemand => "high_demand",
            Cf::Vectors => "vectors",
            Cf::Features => "features",
            Cf::Profiles => "profiles",
            Cf::Model => "model",
            Cf::Embeddings => "embeddings",
            Cf::Partners => "partners",
            Cf::Jobs => "jobs",
            Cf::CustomerTails => "customer_tails",
            Cf::Drops => "drops",
            Cf::Recommendations => "recommendations",
            Cf::Tokens => "tokens",
        }
    }

    fn options(self) -> Options {
        let mut o = Options::default();
        // Vectors are float noise to a compressor: LZ4 spent a tenth of writing a model's
        // 4.5 M vectors to save nothing.
        o.set_compression_type(match self {
            Cf::Embeddings | Cf::Features | Cf::Vectors => DBCompressionType::None,
            _ => DBCompressionType::Lz4,
        });
        match self {
            Cf::Copurchase | Cf::Views => {
                o.set_merge_operator_associative(merge::ADD_U64, merge::add_u64)
            }
            Cf::ListingsBySeller | Cf::ListingsByProduct => {
                o.set_merge_operator_associative(merge::FIRST_WINS, merge::first_wins)
            }
            Cf::Ids | Cf::CustomerTails => {
                // Interning, and reading the tails of customers, probe many keys that do not
                // exist yet; a bloom filter answers those without reading a block.
                let mut t = BlockBasedOptions::default();
                t.set_bloom_filter(10.0, false);
                o.set_block_based_table_factory(&t);
            }
            _ => {}
        }
        o
    }
}

/// Names of every column family this build creates, in dump order (checked against
/// `schema/store.md` by a test).
pub fn column_family_names() -> Vec<&'static str> {
    Cf::ALL.iter().map(|c| c.name()).collect()
}

/// Runs a read-only open — `open(last)`, `Ok(None)` to be tried again, never on the `last`
/// attempt — again while it fails on a file deleted under it (a writer's flush removes the
/// log it replayed). A busy writer can flush again meanwhile, so back off up to ~4 s.
fn read_only_retrying<T>(
    mut open: impl FnMut(bool) -> std::result::Result<Option<T>, rocksdb::Error>,
) -> std::result::Result<T, rocksdb::Error> {
    const ATTEMPTS: u64 = 30;
    let mut attempt = 0;
    loop {
        let last = attempt == ATTEMPTS;
        match open(last) {
            Ok(Some(opened)) => return Ok(opened),
            Ok(None) => {}
            Err(e) if !last && e.to_string().contains("No such file") => {}
            Err(e) => return Err(e),
        }
        attempt += 1;
        std::thread::sleep(std::time::Duration::from_millis(10 * attempt));
    }
}

/// How a command opens the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Create if missing, take the write lock.
    ReadWrite,
    /// Read a consistent view without the lock, so it works while another process writes.
    ReadOnly,
    /// Like `ReadOnly`, but [`Store::catch_up`] moves the view forward to what the writer has
    /// written since, so a long-running reader (`serve`) sees new data without reopening.
    /// Keeps its own small state in `DB/secondary-<pid>/`, removed when the store is dropped.
    Secondary,
}

/// An open DemandLink database folder: `store/` (RocksDB) and `rejects/` (rejected drop rows).
pub struct Store {
    db: DB,
    root: PathBuf,
    writable: bool,
    /// The secondary instance's own folder ([`OpenMode::Secondary`]), removed on drop.
    secondary: Option<PathBuf>,
}

impl Store {
    /// Opens (or, read-write, creates) the database in folder `root`, checking the schema
    /// version before anything is written.
    pub fn open(root: &Path, mode: OpenMode) -> Result<Store> {
        if root.exists() && !root.is_dir() {
            return Err(StoreError::NotADirectory(root.to_path_buf()));
        }
        if root.exists() {
            backup::finish_restore(root)?;
        }
        let dir = root.join("store");
        // A database whose creation was killed before its version was written is new.
        let exists = dir.join("CURRENT").exists() && check_version(root, &dir)?;
        if !exists && mode != OpenMode::ReadWrite {
            return Err(StoreError::Missing(root.to_path_buf()));
        }
        let rocks = |source| StoreError::Rocks {
            path: root.to_path_buf(),
            source,
        };
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.increase_parallelism(2);
        // A column family written rarely (jobs, model) pins every log file since its last
        // flush: a reference-size refresh kept 57 logs (4 GB), which every read-only open
        // (`jobs`, `stats` during a refresh) replays and crash recovery reads. Past this
        // total, RocksDB flushes the families holding the oldest log.
        opts.set_max_total_wal_size(256 << 20);
        // A reader cannot create column families: it opens those the database has (one written
        // by an older build may lack the newest), and reads of a missing one find nothing.
        let present = match mode {
            OpenMode::ReadWrite => column_family_names(),
            _ => {
                let names = DB::list_cf(&opts, &dir).map_err(rocks)?;
                column_family_names()
                    .into_iter()
                    .filter(|c| names.iter().any(|n| n == c))
                    .collect()
            }
        };
        let cfs = || {
            Cf::ALL
                .iter()
                .filter(|c| present.contains(&c.name()))
                .map(|c| ColumnFamilyDescriptor::new(c.name(), c.options()))
        };
        let mut secondary = None;
        let db = match mode {
            OpenMode::ReadWrite => {
                fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
                    path: dir.clone(),
                    source,
                })?;
                DB::open_cf_descriptors(&opts, &dir, cfs()).map_err(|e| {
                    if e.to_string().contains("lock") {
                        StoreError::Busy {
                            path: root.to_path_buf(),
                            holder: lock_holder(root),
                        }
                    } else {
                        rocks(e)
                    }
                })?
            }
            OpenMode::ReadOnly => {
                // Readers touch a few keys: open table files on demand instead of all at open.
                opts.set_max_open_files(256);
                // A reader reads the MANIFEST, then replays the log files it lists. A flush in
                // between (the writer records the new table in the MANIFEST, then deletes the
                // log) would leave the flushed writes in neither: the reader would silently
                // miss them. So a MANIFEST that changed during the open means try again.
                read_only_retrying(|last| {
                    let before = manifest_state(&dir);
                    let db = DB::open_cf_descriptors_read_only(&opts, &dir, cfs(), false)?;
                    Ok((last || manifest_state(&dir) == before).then_some(db))
                })
                .map_err(rocks)?
            }
            OpenMode::Secondary => {
                remove_dead_secondaries(root);
                let own = root.join(format!("secondary-{}", std::process::id()));
                // RocksDB's advice for secondaries: keep every table file open, so a file the
                // writer deletes after a compaction stays readable until the next catch-up.
                opts.set_max_open_files(-1);
                // Each catch-up loads table handlers with this many fresh threads per column
                // family (default 16): ~300 thread spawns, 10–20 ms per catch-up. New files
                // are few and small between catch-ups; one thread opens them in microseconds.
                opts.set_max_file_opening_threads(1);
                let db = DB::open_cf_descriptors_as_secondary(&opts, &dir, &own, cfs())
                    .map_err(rocks)?;
                secondary = Some(own);
                db
            }
        };
        let store = Store {
            db,
            root: root.to_path_buf(),
            writable: mode == OpenMode::ReadWrite,
            secondary,
        };
        if mode == OpenMode::ReadWrite {
            let pid = root.join("owner.pid");
            fs::write(&pid, std::process::id().to_string())
                .map_err(|source| StoreError::Io { path: pid, source })?;
            if !exists {
                store
                    .db
                    .put_cf(
                        store.cf(Cf::Meta),
                        MetaKey::SchemaVersion.bytes(),
                        SCHEMA_VERSION.to_le_bytes(),
                    )
                    .map_err(rocks)?;
            }
        }
        Ok(store)
    }

    /// The database folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Folder where rejected drop rows are written, one file per drop.
    pub(crate) fn rejects_dir(&self) -> PathBuf {
        self.root.join("rejects")
    }

    /// Scratch folder for files a stage can recreate (the sort runs of `orders.tsv`); never
    /// part of the database's state.
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// A customer's stored tail (see [`Store::for_each_customer_tail`]); empty when none.
    pub(crate) fn customer_tail(&self, customer: &str) -> Result<Vec<(Id, i64)>> {
        let key = customer.as_bytes();
        self.get(Cf::CustomerTails, key)?
            .map(|v| records::decode(&v).map_err(|r| corrupt(Cf::CustomerTails, key, r)))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Calls `f(customer, tail)` for every stored customer tail — their latest purchases
    /// (product, unix seconds), kept for co-purchase windows that span drops — whose customer
    /// id sorts after `after` and not after `upto` (`None`: from the start, to the end), in
    /// byte order of the ids.
    pub(crate) fn for_each_customer_tail(
        &self,
        after: Option<&str>,
        upto: Option<&str>,
        mut f: impl FnMut(&str, Vec<(Id, i64)>) -> Result<()>,
    ) -> Result<()> {
        // Appending a zero byte gives the smallest key greater than an id.
        let successor = |id: &str| [id.as_bytes(), &[0]].concat();
        let mut ro = ReadOptions::default();
        if let Some(upto) = upto {
            ro.set_iterate_upper_bound(successor(upto));
        }
        let start = after.map(successor).unwrap_or_default();
        let mode = IteratorMode::From(&start, Direction::Forward);
        for item in self
            .db
            .iterator_cf_opt(self.cf(Cf::CustomerTails), ro, mode)
        {
            let (k, v) = item.map_err(|e| self.rocks(e))?;
            let bad = |reason: String| corrupt(Cf::CustomerTails, &k, reason);
            let customer = std::str::from_utf8(&k).map_err(|e| bad(e.to_string()))?;
            f(customer, records::decode(&v).map_err(bad)?)?;
        }
        Ok(())
    }

    /// Folder of the on-disk ANN index (an LMDB environment beside RocksDB).
    pub fn index_dir(&self) -> PathBuf {
        self.root.join("index")
    }

    /// Moves a [`OpenMode::Secondary`] view forward to everything the writer has written so
    /// far (a no-op for other modes' views, which never move).
    pub(crate) fn catch_up(&self) -> Result<()> {
        if self.secondary.is_some() {
            self.db
                .try_catch_up_with_primary()
                .map_err(|e| self.rocks(e))?;
        }
        Ok(())
    }

    /// A column family of a database opened for writing (writers open them all).
    pub(crate) fn cf(&self, cf: Cf) -> &ColumnFamily {
        self.db
            .cf_handle(cf.name())
            .expect("every column family is opened with the database")
    }

    fn rocks(&self, source: rocksdb::Error) -> StoreError {
        StoreError::Rocks {
            path: self.root.clone(),
            source,
        }
    }

    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(handle) = self.db.cf_handle(cf.name()) else {
            return Ok(None);
        };
        self.db.get_cf(handle, key).map_err(|e| self.rocks(e))
    }

    fn meta_u32(&self, key: MetaKey) -> Result<Option<u32>> {
        Ok(self
            .get(Cf::Meta, key.bytes())?
            .map(|v| merge::decode_u64(&v) as u32))
    }

    /// Dimension of imported product vectors, fixed by the first `vectors.tsv`.
    pub(crate) fn vector_dim(&self) -> Result<Option<u32>> {
        self.meta_u32(MetaKey::VectorDim)
    }

    /// Period (drop sequence number) of the current high-demand list, if any drop had one.
    pub(crate) fn high_demand_period(&self) -> Result<Option<u32>> {
        self.meta_u32(MetaKey::HighDemandPeriod)
    }

    /// Sequence number the next new drop gets.
    pub fn next_drop_seq(&self) -> Result<u32> {
        Ok(self.meta_u32(MetaKey::NextDrop)?.unwrap_or(1))
    }

    /// Number of interned ids in a namespace (ids are dense, so this is also the next id).
    pub fn entity_count(&self, ns: Namespace) -> Result<u32> {
        Ok(self.meta_u32(MetaKey::NextId(ns))?.unwrap_or(0))
    }

    /// Internal id of an external id, if known.
    pub fn lookup(&self, ns: Namespace, external: &str) -> Result<Option<Id>> {
        Ok(self
            .get(Cf::Ids, &keys::external(ns, external))?
            .and_then(|v| keys::read_id(&v, 0)))
    }

    /// The number of drops applied, or `None` while one is being applied (its rows are not all
    /// there yet).
    pub(crate) fn applied_drops(&self) -> Result<Option<u32>> {
        let drops = self.drops()?;
        Ok(drops
            .iter()
            .all(|d| d.state == DropState::Applied)
            .then_some(drops.len() as u32))
    }

    /// Every drop record, in application order.
    pub(crate) fn drops(&self) -> Result<Vec<DropRecord>> {
        let mut out = Vec::new();
        self.scan(Cf::Drops, &[], |k, v| {
            out.push(records::decode(v).map_err(|reason| corrupt(Cf::Drops, k, reason))?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f(seller, product, listing)` for every listing edge, grouped by seller.
    pub fn for_each_listing(&self, mut f: impl FnMut(Id, Id, Listing)) -> Result<()> {
        self.scan(Cf::ListingsBySeller, &[], |k, v| {
            let (s, p) = pair_of(Cf::ListingsBySeller, k)?;
            let l = records::decode(v).map_err(|r| corrupt(Cf::ListingsBySeller, k, r))?;
            f(s, p, l);
            Ok(())
        })
    }

    /// Calls `f(product, seller)` for every listing edge, grouped by product.
    pub(crate) fn for_each_listing_by_product(&self, mut f: impl FnMut(Id, Id)) -> Result<()> {
        self.scan(Cf::ListingsByProduct, &[], |k, _| {
            let (p, s) = pair_of(Cf::ListingsByProduct, k)?;
            f(p, s);
            Ok(())
        })
    }

    /// Calls `f(a, b, count)` for every co-purchase pair, once per direction.
    pub(crate) fn for_each_copurchase(&self, mut f: impl FnMut(Id, Id, u64)) -> Result<()> {
        self.scan(Cf::Copurchase, &[], |k, v| {
            let (a, b) = pair_of(Cf::Copurchase, k)?;
            f(a, b, merge::decode_u64(v));
            Ok(())
        })
    }

    /// Calls `f(product, period, views)` for every per-period view count.
    pub fn for_each_views(&self, mut f: impl FnMut(Id, u32, u64)) -> Result<()> {
        self.scan(Cf::Views, &[], |k, v| {
            let (p, period) = pair_of(Cf::Views, k)?;
            f(p, period, merge::decode_u64(v));
            Ok(())
        })
    }

    /// The high-demand list of one period.
    pub(crate) fn high_demand(&self, period: u32) -> Result<Vec<Id>> {
        let mut out = Vec::new();
        self.scan(Cf::HighDemand, &keys::id(period), |k, _| {
            out.push(pair_of(Cf::HighDemand, k)?.1);
            Ok(())
        })?;
        Ok(out)
    }

    /// Number of products that have a `products.tsv` description.
    pub(crate) fn products_with_text(&self) -> Result<u64> {
        let mut n = 0;
        self.scan(Cf::ProductText, &[], |_, _| {
            n += 1;
            Ok(())
        })?;
        Ok(n)
    }

    /// A seller's entity record.
    pub(crate) fn seller(&self, id: Id) -> Result<Option<SellerRecord>> {
        self.entity(Namespace::Seller, id)
    }

    fn entity<T: for<'de> serde::Deserialize<'de>>(
        &self,
        ns: Namespace,
        id: Id,
    ) -> Result<Option<T>> {
        let key = keys::entity(ns, id);
        self.get(Cf::Entities, &key)?
            .map(|v| records::decode(&v).map_err(|r| corrupt(Cf::Entities, &key, r)))
            .transpose()
    }

    /// Whether `cf` has a key starting with `prefix` (one seek).
    fn any_under(&self, cf: Cf, prefix: &[u8]) -> Result<bool> {
        let Some(handle) = self.db.cf_handle(cf.name()) else {
            return Ok(false);
        };
        let mode = IteratorMode::From(prefix, Direction::Forward);
        match self.db.iterator_cf(handle, mode).next() {
            Some(item) => Ok(item.map_err(|e| self.rocks(e))?.0.starts_with(prefix)),
            None => Ok(false),
        }
    }

    /// Walks the keys of `cf` that start with `prefix`, in key order.
    fn scan(
        &self,
        cf: Cf,
        prefix: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut ro = ReadOptions::default();
        if let Some(upper) = prefix_upper_bound(prefix) {
            ro.set_iterate_upper_bound(upper);
        }
        let Some(handle) = self.db.cf_handle(cf.name()) else {
            return Ok(());
        };
        let mode = IteratorMode::From(prefix, Direction::Forward);
        for item in self.db.iterator_cf_opt(handle, ro, mode) {
            let (k, v) = item.map_err(|e| self.rocks(e))?;
            f(&k, &v)?;
        }
        Ok(())
    }
}

impl Drop for Store {
    /// A writer flushes its memtables on close, so that the next (often read-only) open does
    /// not replay a long write-ahead log: `inspect` must answer in milliseconds after a
    /// `recommend` that wrote millions of keys. A failure here loses nothing (the WAL is intact).
    fn drop(&mut self) {
        if self.writable {
            for cf in Cf::ALL {
                let _ = self.db.flush_cf(self.cf(cf));
            }
        }
        if let Some(dir) = &self.secondary {
            // Best effort: a leftover folder only holds the secondary's info log.
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// The smallest key greater than every key with this prefix (`None` for the empty prefix or
/// all-0xff prefixes: scan to the end).
fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

fn corrupt(cf: Cf, key: &[u8], reason: String) -> StoreError {
    StoreError::Corrupt {
        cf: cf.name(),
        key: key.iter().map(|b| format!("{b:02x}")).collect(),
        reason,
    }
}

fn pair_of(cf: Cf, key: &[u8]) -> Result<(Id, Id)> {
    match (keys::read_id(key, 0), keys::read_id(key, 4)) {
        (Some(a), Some(b)) if key.len() == 8 => Ok((a, b)),
        _ => Err(corrupt(cf, key, "expected an 8-byte key of two ids".into())),
    }
}

/// Removes the `secondary-<pid>` folders of servers that ended without cleaning up (killed).
fn remove_dead_secondaries(root: &Path) {
    for (pid, dir) in secondaries(root) {
        if process_gone(pid) {
            // Best effort, like the removal on drop.
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// The pids of the servers (`serve`, a secondary instance) reading the database now.
pub(crate) fn live_servers(root: &Path) -> Vec<u32> {
    secondaries(root)
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|&pid| !process_gone(pid))
        .collect()
}

/// The `secondary-<pid>` folders of the database folder, with their pids.
fn secondaries(root: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry
                .file_name()
                .to_str()?
                .strip_prefix("secondary-")?
                .parse::<u32>()
                .ok()?;
            Some((pid, entry.path()))
        })
        .collect()
}

/// Whether no process `pid` exists (a writer or server that was killed).
pub fn process_gone(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
    let refused = unsafe { libc::kill(pid, 0) } != 0;
    refused && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// The MANIFEST that `CURRENT` names and its length: every flush or compaction appends to
/// it (or starts a new one) before it deletes the files it made obsolete.
fn manifest_state(dir: &Path) -> Option<(String, u64)> {
    let name = fs::read_to_string(dir.join("CURRENT")).ok()?;
    let len = fs::metadata(dir.join(name.trim())).ok()?.len();
    Some((name, len))
}

fn lock_holder(root: &Path) -> String {
    match fs::read_to_string(root.join("owner.pid")) {
        Ok(pid) if !pid.trim().is_empty() => format!("pid {}", pid.trim()),
        _ => "another process".into(),
    }
}

/// The interning state of one namespace during a write: a cache of known ids plus the next
/// free id. New ids become durable only with the batch that introduces them.
pub(crate) struct Interner {
    ns: Namespace,
    /// Keyed by the id string's 128-bit xxh3: interning looks up every id of every row, and
    /// string keys cost a heap allocation each plus a cache miss to compare (a fifth of a
    /// reference-size ingest). Two of 10⁸ ids collide with probability below 10⁻²².
    cache: rustc_hash::FxHashMap<u128, Id>,
    /// Whether `cache` holds every id the database knows (a miss is a new entity).
    complete: bool,
    next: Id,
    dirty: bool,
}

impl Interner {
    /// The state of `ns` for a drop of about `rows` rows. When they outnumber the known
    /// entities, every known id is read into the cache in one scan — for a drop that names
    /// most of them, far cheaper than one lookup each.
    fn load(store: &Store, ns: Namespace, rows: u64) -> Result<Interner> {
        let next = store.entity_count(ns)?;
        let preload = rows >= u64::from(next);
        let mut cache = rustc_hash::FxHashMap::default();
        if preload {
            store.scan(Cf::Ids, &[ns.tag()], |k, v| {
                let id =
                    keys::read_id(v, 0).ok_or_else(|| corrupt(Cf::Ids, k, "short id".into()))?;
                cache.insert(Interner::key(&k[1..]), id);
                Ok(())
            })?;
        }
        Ok(Interner {
            ns,
            cache,
            complete: preload,
            next,
            dirty: false,
        })
    }

    fn key(external: &[u8]) -> u128 {
        xxhash_rust::xxh3::xxh3_128(external)
    }
}
