//! The store's half of `demandlink verify`: RocksDB's block checksums over every column
//! family, and the invariants that only the key layout can check (mirrored adjacency, drop
//! cursors inside their drops).

use std::sync::atomic::{AtomicBool, Ordering};

use rocksdb::{IteratorMode, ReadOptions};
use xxhash_rust::xxh3::xxh3_64;

use super::records::{self, DropRecord, DropState, RecList};
use super::{Cf, Id, Result, Store, corrupt, keys};
use crate::progress::{Cancelled, Progress};

/// One column family's checksum pass: keys read, or the engine's error.
pub struct FamilyCheck {
    /// Column family name.
    pub name: &'static str,
    /// Keys read before the end or the error.
    pub keys: u64,
    /// RocksDB's error (a checksum mismatch names the table file and offset).
    pub error: Option<String>,
}

impl Store {
    /// Reads every key and value of every column family with block checksums verified and
    /// without filling the block cache, one family after the other; a damaged family is
    /// reported and the others are still read.
    pub(crate) fn verify_checksums(
        &self,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> std::result::Result<Vec<FamilyCheck>, Cancelled> {
        let mut out = Vec::new();
        for cf in Cf::ALL {
            let Some(handle) = self.db.cf_handle(cf.name()) else {
                continue;
            };
            let estimate = self
                .db
                .property_int_value_cf(handle, "rocksdb.estimate-num-keys")
                .ok()
                .flatten()
                .unwrap_or(0);
            progress.start(&format!("verify: {}", cf.name()), estimate);
            let mut ro = ReadOptions::default();
            ro.set_verify_checksums(true);
            ro.fill_cache(false);
            let mut check = FamilyCheck {
                name: cf.name(),
                keys: 0,
                error: None,
            };
            for item in self.db.iterator_cf_opt(handle, ro, IteratorMode::Start) {
                if let Err(e) = item {
                    check.error = Some(e.to_string());
                    break;
                }
                check.keys += 1;
                if check.keys.is_multiple_of(1 << 16) {
                    if cancel.load(Ordering::Relaxed) {
                        return Err(Cancelled);
                    }
                    progress.set(check.keys);
                }
            }
            progress.finish();
            out.push(check);
        }
        Ok(out)
    }

    /// Problems with mirrored adjacency: every listing in both families, every co-purchase
    /// pair in both directions with the same count. Compared as order-independent sums of
    /// hashes, so two passes in constant memory whatever the graph's size.
    pub(crate) fn mirror_problems(&self) -> Result<Vec<String>> {
        let edge = |a: Id, b: Id, extra: u64| {
            let mut bytes = [0u8; 16];
            bytes[..4].copy_from_slice(&a.to_le_bytes());
            bytes[4..8].copy_from_slice(&b.to_le_bytes());
            bytes[8..].copy_from_slice(&extra.to_le_bytes());
            xxh3_64(&bytes)
        };
        let mut problems = Vec::new();
        let (mut by_seller, mut by_product) = ((0u64, 0u64), (0u64, 0u64));
        self.for_each_listing(|s, p, _| {
            by_seller = (by_seller.0 + 1, by_seller.1.wrapping_add(edge(s, p, 0)));
        })?;
        self.for_each_listing_by_product(|p, s| {
            by_product = (by_product.0 + 1, by_product.1.wrapping_add(edge(s, p, 0)));
        })?;
        if by_seller != by_product {
            problems.push(format!(
                "listings_by_seller ({} edges) and listings_by_product ({} edges) do not hold \
                 the same listings",
                by_seller.0, by_product.0
            ));
        }
        let (mut forward, mut backward, mut pairs) = (0u64, 0u64, 0u64);
        self.for_each_copurchase(|a, b, count| {
            pairs += 1;
            forward = forward.wrapping_add(edge(a, b, count));
            backward = backward.wrapping_add(edge(b, a, count));
        })?;
        if forward != backward {
            problems.push(format!(
                "copurchase ({pairs} keys): some pair has no mirror with the same count"
            ));
        }
        Ok(problems)
    }

    /// Problems with the drops' records: a cursor outside its drop's files or past their
    /// rows, a drop sequence that does not count up from 1, `next_drop` not after the last.
    pub(crate) fn drop_problems(&self) -> Result<Vec<String>> {
        let drops = self.drops()?;
        let mut problems = Vec::new();
        for (n, d) in drops.iter().enumerate() {
            if d.seq as usize != n + 1 {
                problems.push(format!(
                    "drop `{}` has sequence {}, expected {}",
                    d.name,
                    d.seq,
                    n + 1
                ));
            }
            problems.extend(cursor_problem(d));
        }
        let next = self.next_drop_seq()?;
        if next as usize != drops.len() + 1 {
            problems.push(format!(
                "meta next_drop is {next}, but {} drops are recorded",
                drops.len()
            ));
        }
        Ok(problems)
    }

    /// Calls `f(seller, category, list)` for every stored list.
    pub(crate) fn for_each_recommendation(
        &self,
        mut f: impl FnMut(Id, &str, RecList),
    ) -> Result<()> {
        self.scan(Cf::Recommendations, &[], |k, v| {
            let seller = keys::read_id(k, 0)
                .ok_or_else(|| corrupt(Cf::Recommendations, k, "short key".into()))?;
            let list = records::decode(v).map_err(|r| corrupt(Cf::Recommendations, k, r))?;
            f(seller, &String::from_utf8_lossy(&k[4..]), list);
            Ok(())
        })
    }
}

/// What is wrong with a drop's cursor, if anything.
fn cursor_problem(d: &DropRecord) -> Option<String> {
    let files = d.files.len() as u32;
    let c = &d.cursor;
    let inside = match d.state {
        DropState::Applying => c.file < files || (c.file == files && c.line == 0),
        DropState::Applied => c.file <= files,
    };
    let overfull = d.files.iter().find(|f| f.applied + f.rejected > f.rows);
    match (inside, overfull) {
        (false, _) => Some(format!(
            "drop `{}`: cursor at file {} of {files}",
            d.name, c.file
        )),
        (true, Some(f)) => Some(format!(
            "drop `{}`: file {} has {} rows applied and {} rejected of {}",
            d.name, f.name, f.applied, f.rejected, f.rows
        )),
        (true, None) => None,
    }
}
