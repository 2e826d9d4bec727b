//! [`DropWriter`]: stages one drop's rows and commits them together with the drop's cursor.

use rocksdb::WriteBatch;

use super::records::{self, DropRecord, Listing, ProductRecord, ProductText, SellerRecord};
use super::{Cf, Id, Interner, MetaKey, Namespace, Result, Store, keys};

/// What a staged write does to its key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Put,
    Merge,
    Delete,
}

/// One staged write; its key and value live in [`DropWriter::bytes`] at `at`.
struct Op {
    cf: Cf,
    /// The key's first 8 bytes, big-endian: orders most keys (two ids) without a memcmp.
    prefix: u64,
    kind: Kind,
    at: u32,
    key_len: u16,
    value_len: u32,
}

/// Stages writes for one drop. Nothing reaches the database until [`DropWriter::commit`],
/// which also writes the drop record (and so its cursor): rows and progress land together or
/// not at all.
pub(crate) struct DropWriter<'a> {
    store: &'a Store,
    drop: u32,
    ops: Vec<Op>,
    /// Keys and values of `ops`, back to back (one allocation per chunk, not two per row).
    bytes: Vec<u8>,
    sellers: Interner,
    products: Interner,
}

impl<'a> DropWriter<'a> {
    /// Starts writing drop `drop` (its sequence number), of about `rows` rows: when they
    /// outnumber the known entities of a kind, their ids are read in one scan up front.
    pub(crate) fn new(store: &'a Store, drop: u32, rows: u64) -> Result<Self> {
        Ok(DropWriter {
            store,
            drop,
            ops: Vec::new(),
            bytes: Vec::new(),
            sellers: Interner::load(store, Namespace::Seller, rows)?,
            products: Interner::load(store, Namespace::Product, rows)?,
        })
    }

    /// Internal id of an external id, creating the entity if new; `true` when it was created.
    pub(crate) fn intern(&mut self, ns: Namespace, external: &str) -> Result<(Id, bool)> {
        let interner = match ns {
            Namespace::Seller => &mut self.sellers,
            Namespace::Product => &mut self.products,
        };
        let key = Interner::key(external.as_bytes());
        if let Some(&id) = interner.cache.get(&key) {
            return Ok((id, false));
        }
        if !interner.complete
            && let Some(id) = self.store.lookup(ns, external)?
        {
            interner.cache.insert(key, id);
            return Ok((id, false));
        }
        let id = interner.next;
        interner.next += 1;
        interner.dirty = true;
        interner.cache.insert(key, id);
        self.put(Cf::Ids, &keys::external(ns, external), &keys::id(id));
        let record = match ns {
            Namespace::Seller => records::encode(&SellerRecord {
                external: external.into(),
                first_drop: self.drop,
                updated_drop: self.drop,
                ..SellerRecord::default()
            }),
            Namespace::Product => records::encode(&ProductRecord {
                external: external.into(),
                first_drop: self.drop,
            }),
        };
        self.put(Cf::Entities, &keys::entity(ns, id), &record);
        Ok((id, true))
    }

    /// Sets a seller's name and primary category (from `sellers.tsv`).
    pub(crate) fn upsert_seller(
        &mut self,
        id: Id,
        external: &str,
        name: Option<&str>,
        primary_category: Option<&str>,
    ) -> Result<()> {
        // A seller known to the cache but not to the database was created earlier in this
        // uncommitted batch, i.e. by this drop.
        let mut record = self.store.seller(id)?.unwrap_or_else(|| SellerRecord {
            external: external.into(),
            first_drop: self.drop,
            ..SellerRecord::default()
        });
        if let Some(name) = name {
            record.name = Some(name.into());
        }
        if let Some(category) = primary_category {
            record.primary_category = Some(category.into());
        }
        record.updated_drop = self.drop;
        self.put(
            Cf::Entities,
            &keys::entity(Namespace::Seller, id),
            &records::encode(&record),
        );
        Ok(())
    }

    /// Replaces a product's text.
    pub(crate) fn put_product_text(
        &mut self,
        id: Id,
        category: &str,
        title: &str,
        attributes: &str,
    ) {
        let text = ProductText {
            category: category.into(),
            title: title.into(),
            attributes: attributes.into(),
            drop: self.drop,
        };
        self.put(Cf::ProductText, &keys::id(id), &records::encode(&text));
    }

    /// Adds a listing edge; an edge that already exists keeps its first drop and timestamp.
    pub(crate) fn add_listing(&mut self, seller: Id, product: Id, ts: Option<i64>) {
        let value = records::encode(&Listing {
            drop: self.drop,
            ts,
        });
        self.merge(Cf::ListingsBySeller, &keys::pair(seller, product), &value);
        self.merge(Cf::ListingsByProduct, &keys::pair(product, seller), &value);
    }

    /// Adds `count` to the co-purchase count of an unordered pair (stored in both directions).
    pub(crate) fn add_copurchase(&mut self, a: Id, b: Id, count: u64) {
        let count = count.to_le_bytes();
        self.merge(Cf::Copurchase, &keys::pair(a, b), &count);
        self.merge(Cf::Copurchase, &keys::pair(b, a), &count);
    }

    /// Replaces a customer's tail (latest purchases as (product, unix seconds)); an empty
    /// tail removes the record.
    pub(crate) fn put_customer_tail(&mut self, customer: &str, tail: &[(Id, i64)]) {
        let key = customer.as_bytes();
        if tail.is_empty() {
            self.stage(Cf::CustomerTails, Kind::Delete, key, &[]);
        } else {
            self.put(Cf::CustomerTails, key, &records::encode(&tail));
        }
    }

    /// Adds page views of a product in this drop's period.
    pub(crate) fn add_views(&mut self, product: Id, views: u64) {
        self.merge(
            Cf::Views,
            &keys::pair(product, self.drop),
            &views.to_le_bytes(),
        );
    }

    /// Puts a product on this drop's high-demand list.
    pub(crate) fn put_high_demand(&mut self, product: Id) {
        self.put(Cf::HighDemand, &keys::pair(self.drop, product), &[]);
    }

    /// Makes this drop's high-demand list the current one (when the drop completes).
    pub(crate) fn set_high_demand_current(&mut self) {
        self.put_meta(MetaKey::HighDemandPeriod, self.drop);
    }

    /// Stores an imported product vector as raw little-endian f32.
    pub(crate) fn put_vector(&mut self, product: Id, values: &[f32]) {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.put(Cf::Vectors, &keys::id(product), &bytes);
    }

    /// Fixes the dimension of imported vectors (the first `vectors.tsv` decides it).
    pub(crate) fn set_vector_dim(&mut self, dim: u32) {
        self.put_meta(MetaKey::VectorDim, dim);
    }

    /// Reserves this drop's sequence number (staged with the drop's first commit).
    pub(crate) fn claim_drop_seq(&mut self) {
        self.put_meta(MetaKey::NextDrop, self.drop + 1);
    }

    /// Stages a `meta` number (stored as a little-endian u64).
    fn put_meta(&mut self, key: MetaKey, value: u32) {
        self.put(Cf::Meta, key.bytes(), &u64::from(value).to_le_bytes());
    }

    /// Writes everything staged, the id counters and `record` in one atomic batch.
    pub(crate) fn commit(&mut self, record: &DropRecord) -> Result<()> {
        debug_assert_eq!(record.seq, self.drop);
        let mut counters = Vec::new();
        for interner in [&mut self.sellers, &mut self.products] {
            if interner.dirty {
                interner.dirty = false;
                counters.push((interner.ns, interner.next));
            }
        }
        for (ns, next) in counters {
            self.put_meta(MetaKey::NextId(ns), next);
        }
        self.put(Cf::Drops, &keys::id(record.seq), &records::encode(record));
        // Memtable inserts in key order are several times cheaper than in arrival order
        // (the skip list reuses its search path). Equal keys keep their staging order, so
        // puts and merges of one key apply as staged.
        let bytes = &self.bytes;
        let key = |op: &Op| &bytes[op.at as usize..op.at as usize + usize::from(op.key_len)];
        // `at` grows with staging order, so it keeps equal keys in the order they were staged.
        self.ops.sort_unstable_by(|a, b| {
            (a.cf, a.prefix)
                .cmp(&(b.cf, b.prefix))
                .then_with(|| key(a).cmp(key(b)))
                .then(a.at.cmp(&b.at))
        });
        let mut batch = WriteBatch::default();
        for op in &self.ops {
            let cf = self.store.cf(op.cf);
            let k = key(op);
            let start = op.at as usize + k.len();
            let v = &bytes[start..start + op.value_len as usize];
            match op.kind {
                Kind::Put => batch.put_cf(cf, k, v),
                Kind::Merge => batch.merge_cf(cf, k, v),
                Kind::Delete => batch.delete_cf(cf, k),
            }
        }
        self.ops.clear();
        self.bytes.clear();
        self.store.db.write(batch).map_err(|e| self.store.rocks(e))
    }

    fn stage(&mut self, cf: Cf, kind: Kind, key: &[u8], value: &[u8]) {
        let mut prefix = [0u8; 8];
        let n = key.len().min(8);
        prefix[..n].copy_from_slice(&key[..n]);
        self.ops.push(Op {
            cf,
            prefix: u64::from_be_bytes(prefix),
            kind,
            at: self.bytes.len() as u32,
            key_len: key.len() as u16,
            value_len: value.len() as u32,
        });
        self.bytes.extend_from_slice(key);
        self.bytes.extend_from_slice(value);
    }

    fn put(&mut self, cf: Cf, key: &[u8], value: &[u8]) {
        self.stage(cf, Kind::Put, key, value);
    }

    fn merge(&mut self, cf: Cf, key: &[u8], value: &[u8]) {
        self.stage(cf, Kind::Merge, key, value);
    }
}
