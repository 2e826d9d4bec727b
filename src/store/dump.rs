//! A readable dump of the whole database, one line per key, for tests and debugging.
//! Wall-clock fields are left out: two runs that reach the same state dump the same text.

use std::io::Write;

use super::records::{
    self, DropRecord, Feature, Listing, ProductRecord, ProductText, RecList, SellerProfile,
    SellerRecord,
};
use super::{Cf, ModelRecord, Namespace, Result, Store, StoreError, derived, keys, merge};

impl Store {
    /// Writes every column family, in [`super::column_family_names`] order, as text lines.
    pub fn dump(&self, out: &mut dyn Write) -> Result<()> {
        for cf in Cf::ALL {
            self.scan(cf, &[], |k, v| {
                let line = describe(cf, k, v)?;
                writeln!(out, "{} {line}", cf.name()).map_err(|source| StoreError::Io {
                    path: "<dump output>".into(),
                    source,
                })
            })?;
        }
        Ok(())
    }
}

fn describe(cf: Cf, k: &[u8], v: &[u8]) -> Result<String> {
    let bad = |reason: String| super::corrupt(cf, k, reason);
    let pair = || super::pair_of(cf, k);
    Ok(match cf {
        Cf::Meta => format!("{} = {}", String::from_utf8_lossy(k), merge::decode_u64(v)),
        Cf::Ids => {
            let ns = k.first().and_then(|&t| Namespace::from_tag(t));
            let ns = ns.ok_or_else(|| bad("unknown namespace tag".into()))?;
            format!(
                "{}:{} -> {}",
                ns.label(),
                String::from_utf8_lossy(&k[1..]),
                keys::read_id(v, 0).ok_or_else(|| bad("short id value".into()))?
            )
        }
        Cf::Entities => {
            let ns = k.first().and_then(|&t| Namespace::from_tag(t));
            let id = keys::read_id(k, 1).ok_or_else(|| bad("short key".into()))?;
            match ns {
                Some(Namespace::Seller) => {
                    format!(
                        "seller#{id} {:?}",
                        records::decode::<SellerRecord>(v).map_err(bad)?
                    )
                }
                Some(Namespace::Product) => format!(
                    "product#{id} {:?}",
                    records::decode::<ProductRecord>(v).map_err(bad)?
                ),
                None => return Err(bad("unknown namespace tag".into())),
            }
        }
        Cf::ProductText => {
            let id = keys::read_id(k, 0).ok_or_else(|| bad("short key".into()))?;
            format!(
                "product#{id} {:?}",
                records::decode::<ProductText>(v).map_err(bad)?
            )
        }
        Cf::ListingsBySeller | Cf::ListingsByProduct => {
            let (a, b) = pair()?;
            format!("{a} {b} {:?}", records::decode::<Listing>(v).map_err(bad)?)
        }
        Cf::Copurchase | Cf::Views => {
            let (a, b) = pair()?;
            format!("{a} {b} = {}", merge::decode_u64(v))
        }
        Cf::HighDemand => {
            let (period, product) = pair()?;
            format!("period {period} product#{product}")
        }
        Cf::Vectors => {
            let id = keys::read_id(k, 0).ok_or_else(|| bad("short key".into()))?;
            format!("product#{id} {:?}", records::f32s(v))
        }
        Cf::Features => {
            let id = keys::read_id(k, 0).ok_or_else(|| bad("short key".into()))?;
            format!("product#{id} {:?}", Feature::decode(v).map_err(bad)?)
        }
        Cf::Profiles => {
            let id = keys::read_id(k, 0).ok_or_else(|| bad("short key".into()))?;
            format!(
                "seller#{id} {:?}",
                records::decode::<SellerProfile>(v).map_err(bad)?
            )
        }
        Cf::Embeddings => {
            let model = keys::read_id(k, 0).ok_or_else(|| bad("short key".into()))?;
            let ns = k.get(4).and_then(|&t| Namespace::from_tag(t));
            let ns = ns.ok_or_else(|| bad("unknown namespace tag".into()))?;
            let id = keys::read_id(k, 5).ok_or_else(|| bad("short key".into()))?;
            format!("model {model} {}#{id} {:?}", ns.label(), records::f32s(v))
        }
        Cf::Partners => {
            let (model, product) = pair()?;
            format!(
                "model {model} product#{product} {:?}",
                derived::weighted_ids_of(v).map_err(bad)?
            )
        }
        Cf::Recommendations => {
            let seller = keys::read_id(k, 0).ok_or_else(|| bad("short key".into()))?;
            let mut list: RecList = records::decode(v).map_err(bad)?;
            list.computed_at = 0;
            format!(
                "seller#{seller} {:?} {list:?}",
                String::from_utf8_lossy(&k[4..])
            )
        }
        Cf::Drops => {
            let mut d: DropRecord = records::decode(v).map_err(bad)?;
            d.started_at = 0;
            d.finished_at = d.finished_at.map(|_| 0);
            format!(
                "#{} {} {:016x} {:?} cursor={:?} files={:?} new_sellers={} new_products={} without_text={}",
                d.seq,
                d.name,
                d.fingerprint,
                d.state,
                d.cursor,
                d.files,
                d.new_sellers,
                d.new_products,
                d.products_without_text
            )
        }
        Cf::Tokens => {
            // Timestamps left out like the other wall-clock fields; the digest is not a secret.
            let t: records::TokenRecord = records::decode(v).map_err(bad)?;
            let id: String = k.iter().map(|b| format!("{b:02x}")).collect();
            format!("{id} {:?} revoked={}", t.subject, t.revoked_at.is_some())
        }
        Cf::CustomerTails => format!(
            "customer:{} {:?}",
            String::from_utf8_lossy(k),
            records::decode::<Vec<(u32, i64)>>(v).map_err(bad)?
        ),
        Cf::Jobs if k.starts_with(super::layout::REFRESH_JOB_PREFIX) => {
            let mut job: records::JobRecord = records::decode(v).map_err(bad)?;
            job.started_at = job.started_at.map(|_| 0);
            job.ended_at = job.ended_at.map(|_| 0);
            format!("{} {job:?}", String::from_utf8_lossy(k))
        }
        // Hashes and sizes of index files differ from build to build (LMDB pages, build
        // times): the generation is the content.
        Cf::Model if k == ModelRecord::IndexFiles.key() => {
            let files: records::IndexFiles = records::decode(v).map_err(bad)?;
            format!(
                "{} = generation {}",
                String::from_utf8_lossy(k),
                files.generation
            )
        }
        Cf::Model | Cf::Jobs => format!("{} = {} bytes", String::from_utf8_lossy(k), v.len()),
    })
}
