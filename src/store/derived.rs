//! Facts derived by the stages after ingest (features, profiles, embeddings, models, jobs,
//! recommendations): typed reads, and [`StageBatch`] to write them with the stage's job state.

use rocksdb::WriteBatch;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::layout::{Job, MetaKey, ModelRecord, REFRESH_JOB_PREFIX, RefreshStage};
use super::records::{
    self, Feature, JobRecord, Listing, ProductRecord, ProductText, RecList, SellerProfile,
    SellerRecord,
};
use super::{Cf, Id, Namespace, Result, Store, StoreError, corrupt, keys, pair_of};

fn embedding_key(model: u32, ns: Namespace, id: Id) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[..4].copy_from_slice(&model.to_be_bytes());
    k[4] = ns.tag();
    k[5..].copy_from_slice(&id.to_be_bytes());
    k
}

fn partners_key(model: u32, product: Id) -> [u8; 8] {
    let mut k = [0u8; 8];
    k[..4].copy_from_slice(&model.to_be_bytes());
    k[4..].copy_from_slice(&product.to_be_bytes());
    k
}

/// `(id, weight)` pairs stored back to back, u32 LE and f32 LE.
pub(super) fn weighted_ids_of(bytes: &[u8]) -> std::result::Result<Vec<(Id, f32)>, String> {
    if !bytes.len().is_multiple_of(8) {
        return Err(format!(
            "{} bytes: not whole (partner, weight) pairs of 8 bytes",
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|b| {
            let id = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (id, f32::from_le_bytes([b[4], b[5], b[6], b[7]]))
        })
        .collect())
}

fn recs_key(seller: Id, category: &str) -> Vec<u8> {
    let mut k = keys::id(seller).to_vec();
    k.extend_from_slice(category.as_bytes());
    k
}

impl Store {
    fn decode_at<T: DeserializeOwned>(&self, cf: Cf, key: &[u8]) -> Result<Option<T>> {
        self.get(cf, key)?
            .map(|v| records::decode(&v).map_err(|r| corrupt(cf, key, r)))
            .transpose()
    }

    /// A product's entity record.
    pub(crate) fn product(&self, id: Id) -> Result<Option<ProductRecord>> {
        self.entity(Namespace::Product, id)
    }

    /// External id of an internal id (empty when unknown).
    pub fn external(&self, ns: Namespace, id: Id) -> Result<String> {
        Ok(match ns {
            Namespace::Seller => self.seller(id)?.map(|r| r.external),
            Namespace::Product => self.product(id)?.map(|r| r.external),
        }
        .unwrap_or_default())
    }

    /// Calls `f(id, record)` for every seller.
    pub fn for_each_seller(&self, f: impl FnMut(Id, SellerRecord)) -> Result<()> {
        self.for_each_id(
            Cf::Entities,
            &[Namespace::Seller.tag()],
            1,
            records::decode,
            f,
        )
    }

    /// Calls `f(id, record)` for every product, in id order.
    pub(crate) fn for_each_product(&self, f: impl FnMut(Id, ProductRecord)) -> Result<()> {
        self.for_each_id(
            Cf::Entities,
            &[Namespace::Product.tag()],
            1,
            records::decode,
            f,
        )
    }

    /// A product's text, if described.
    pub fn product_text(&self, id: Id) -> Result<Option<ProductText>> {
        self.decode_at(Cf::ProductText, &keys::id(id))
    }

    /// Calls `f(id, text)` for every described product, in id order.
    pub(crate) fn for_each_product_text(&self, f: impl FnMut(Id, ProductText)) -> Result<()> {
        self.for_each_id(Cf::ProductText, &[], 0, records::decode, f)
    }

    /// Calls `f(id, vector)` for every imported vector.
    pub(crate) fn for_each_imported_vector(&self, f: impl FnMut(Id, Vec<f32>)) -> Result<()> {
        self.for_each_id(Cf::Vectors, &[], 0, |v| Ok(records::f32s(v)), f)
    }

    /// A product's feature vector.
    pub fn feature(&self, id: Id) -> Result<Option<Feature>> {
        let key = keys::id(id);
        self.get(Cf::Features, &key)?
            .map(|v| Feature::decode(&v).map_err(|r| corrupt(Cf::Features, &key, r)))
            .transpose()
    }

    /// Calls `f(id, feature)` for every product feature vector, in id order.
    pub fn for_each_feature(&self, f: impl FnMut(Id, Feature)) -> Result<()> {
        self.for_each_id(Cf::Features, &[], 0, Feature::decode, f)
    }

    /// Every product's feature content hash, in id order, without decoding the vectors.
    pub(crate) fn for_each_feature_hash(&self, f: impl FnMut(Id, u64)) -> Result<()> {
        self.for_each_id(Cf::Features, &[], 0, Feature::decode_hash, f)
    }

    /// A seller's profile.
    pub fn profile(&self, seller: Id) -> Result<Option<SellerProfile>> {
        self.decode_at(Cf::Profiles, &keys::id(seller))
    }

    /// A node's vector under a model generation.
    pub fn embedding(&self, model: u32, ns: Namespace, id: Id) -> Result<Option<Vec<f32>>> {
        Ok(self
            .get(Cf::Embeddings, &embedding_key(model, ns, id))?
            .map(|v| records::f32s(&v)))
    }

    /// A product's co-purchase partners under a graph-model generation, with the pair's
    /// weight (ascending by partner).
    pub(crate) fn partners(&self, model: u32, product: Id) -> Result<Vec<(Id, f32)>> {
        let key = partners_key(model, product);
        self.get(Cf::Partners, &key)?.map_or(Ok(Vec::new()), |v| {
            weighted_ids_of(&v).map_err(|r| corrupt(Cf::Partners, &key, r))
        })
    }

    /// Whether a generation has any stored partner list.
    pub(crate) fn has_partners(&self, model: u32) -> Result<bool> {
        self.any_under(Cf::Partners, &model.to_be_bytes())
    }

    /// Calls `f(product, partners)` for every product with partners under a generation.
    pub(crate) fn for_each_partners(
        &self,
        model: u32,
        f: impl FnMut(Id, Vec<(Id, f32)>),
    ) -> Result<()> {
        self.for_each_id(Cf::Partners, &model.to_be_bytes(), 4, weighted_ids_of, f)
    }

    /// Calls `f(id, vector)` for every node of a namespace under a model generation.
    pub(crate) fn for_each_embedding(
        &self,
        model: u32,
        ns: Namespace,
        f: impl FnMut(Id, Vec<f32>),
    ) -> Result<()> {
        let prefix = &embedding_key(model, ns, 0)[..5];
        self.for_each_id(Cf::Embeddings, prefix, 5, |v| Ok(records::f32s(v)), f)
    }

    /// Walks `cf` under `prefix`, reading each key's id at byte `id_at` and decoding values.
    fn for_each_id<T>(
        &self,
        cf: Cf,
        prefix: &[u8],
        id_at: usize,
        decode: impl Fn(&[u8]) -> std::result::Result<T, String>,
        mut f: impl FnMut(Id, T),
    ) -> Result<()> {
        self.scan(cf, prefix, |k, v| {
            let id = keys::read_id(k, id_at).ok_or_else(|| corrupt(cf, k, "short key".into()))?;
            f(id, decode(v).map_err(|r| corrupt(cf, k, r))?);
            Ok(())
        })
    }

    /// A model record (parameters, statistics).
    pub fn model<T: DeserializeOwned>(&self, record: ModelRecord) -> Result<Option<T>> {
        self.decode_at(Cf::Model, record.key())
    }

    /// A job's saved state. A state that does not decode (written by a build with another
    /// layout of it) counts as none: a job without state starts over, which is always correct,
    /// only slower.
    pub(crate) fn job<T: DeserializeOwned>(&self, job: Job) -> Result<Option<T>> {
        match self.decode_at(Cf::Jobs, job.name().as_bytes()) {
            Err(StoreError::Corrupt { reason, .. }) => {
                tracing::warn!(job = job.name(), %reason, "ignoring a job state that does not decode");
                Ok(None)
            }
            other => other,
        }
    }

    /// The records of `demandlink refresh`'s stages (in key order).
    pub fn refresh_jobs(&self) -> Result<Vec<(RefreshStage, JobRecord)>> {
        let mut out = Vec::new();
        self.scan(Cf::Jobs, REFRESH_JOB_PREFIX, |k, v| {
            let bad = |reason: String| corrupt(Cf::Jobs, k, reason);
            let stage =
                RefreshStage::of_key(k).ok_or_else(|| bad("unknown refresh stage".into()))?;
            out.push((stage, records::decode(v).map_err(bad)?));
            Ok(())
        })?;
        Ok(out)
    }

    /// Writes the record of one refresh stage. It is bookkeeping beside the stage's own
    /// cursor (committed with its output), so it is written on its own.
    pub fn put_refresh_job(&self, stage: RefreshStage, record: &JobRecord) -> Result<()> {
        self.db
            .put_cf(self.cf(Cf::Jobs), stage.key(), records::encode(record))
            .map_err(|e| self.rocks(e))
    }

    /// A seller's listings, by product id.
    pub fn listings_of(&self, seller: Id) -> Result<Vec<(Id, Listing)>> {
        let mut out = Vec::new();
        self.scan(Cf::ListingsBySeller, &keys::id(seller), |k, v| {
            let (_, p) = pair_of(Cf::ListingsBySeller, k)?;
            out.push((
                p,
                records::decode(v).map_err(|r| corrupt(Cf::ListingsBySeller, k, r))?,
            ));
            Ok(())
        })?;
        Ok(out)
    }

    /// A product's co-purchase partners with counts.
    pub(crate) fn copurchases_of(&self, product: Id) -> Result<Vec<(Id, u64)>> {
        let mut out = Vec::new();
        self.scan(Cf::Copurchase, &keys::id(product), |k, v| {
            out.push((pair_of(Cf::Copurchase, k)?.1, super::merge::decode_u64(v)));
            Ok(())
        })?;
        Ok(out)
    }

    /// A seller's recommendation lists, by category.
    pub fn recommendations(&self, seller: Id) -> Result<Vec<(String, RecList)>> {
        let mut out = Vec::new();
        self.scan(Cf::Recommendations, &keys::id(seller), |k, v| {
            let category = String::from_utf8_lossy(&k[4..]).into_owned();
            out.push((
                category,
                records::decode(v).map_err(|r| corrupt(Cf::Recommendations, k, r))?,
            ));
            Ok(())
        })?;
        Ok(out)
    }

    /// The index generation recommendations read, and the model generation it was built from.
    pub fn active_index(&self) -> Result<Option<(u32, u32)>> {
        Ok(self
            .meta_u32(MetaKey::ActiveIndex)?
            .zip(self.meta_u32(MetaKey::IndexModel)?))
    }
}

/// Stages a stage's outputs; [`StageBatch::commit`] writes them with the job's state in one
/// batch, so a job's progress never runs ahead of (or behind) its output.
pub struct StageBatch<'a> {
    store: &'a Store,
    batch: WriteBatch,
}

impl<'a> StageBatch<'a> {
    /// An empty batch.
    pub(crate) fn new(store: &'a Store) -> Self {
        StageBatch {
            store,
            batch: WriteBatch::default(),
        }
    }

    /// An empty batch with room for about `bytes` of keys and values: a large batch then
    /// grows without being copied, which held it twice in memory while it did.
    pub(crate) fn with_capacity(store: &'a Store, bytes: usize) -> Self {
        StageBatch {
            store,
            batch: WriteBatch::with_capacity_bytes(bytes),
        }
    }

    /// Staged operations.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    fn put(&mut self, cf: Cf, key: &[u8], value: &[u8]) {
        self.batch.put_cf(self.store.cf(cf), key, value);
    }

    /// Stages a product's feature vector.
    pub(crate) fn put_feature(&mut self, id: Id, feature: &Feature) {
        self.put(Cf::Features, &keys::id(id), &feature.encode());
    }

    /// Stages a seller's profile.
    pub(crate) fn put_profile(&mut self, seller: Id, profile: &SellerProfile) {
        self.put(Cf::Profiles, &keys::id(seller), &records::encode(profile));
    }

    /// Stages a node's vector under a model generation.
    pub(crate) fn put_embedding(&mut self, model: u32, ns: Namespace, id: Id, vector: &[f32]) {
        self.put(
            Cf::Embeddings,
            &embedding_key(model, ns, id),
            &records::f32_bytes(vector),
        );
    }

    /// Stages a product's co-purchase partners, with the pair's weights, under a model
    /// generation.
    pub(crate) fn put_partners(&mut self, model: u32, product: Id, partners: &[(Id, f32)]) {
        let bytes: Vec<u8> = partners
            .iter()
            .flat_map(|(p, w)| p.to_le_bytes().into_iter().chain(w.to_le_bytes()))
            .collect();
        self.put(Cf::Partners, &partners_key(model, product), &bytes);
    }

    /// Removes every vector and partner list of a model generation.
    pub(crate) fn delete_generation(&mut self, model: u32) {
        let end = model.checked_add(1).map_or([0xFF; 4], u32::to_be_bytes);
        for cf in [Cf::Embeddings, Cf::Partners] {
            let cf = self.store.cf(cf);
            self.batch.delete_range_cf(cf, model.to_be_bytes(), end);
        }
    }

    /// Stages a model record.
    pub(crate) fn put_model<T: Serialize>(&mut self, record: ModelRecord, value: &T) {
        self.put(Cf::Model, record.key(), &records::encode(value));
    }

    /// Stages a seller's list for one category.
    pub(crate) fn put_recommendations(&mut self, seller: Id, category: &str, list: &RecList) {
        self.put(
            Cf::Recommendations,
            &recs_key(seller, category),
            &records::encode(list),
        );
    }

    /// Removes all lists of the sellers `first..=last` (before writing a fresh set): one
    /// range deletion for a whole chunk of sellers, as one per seller left tens of thousands
    /// of range tombstones that every later write, read and flush of the family had to sort
    /// through.
    pub(crate) fn clear_recommendations(&mut self, first: Id, last: Id) {
        let cf = self.store.cf(Cf::Recommendations);
        let end = match last.checked_add(1) {
            Some(next) => keys::id(next).to_vec(),
            // Past the last possible id: every key starting with it is less than this one.
            None => vec![0xff; keys::id(last).len() + 1],
        };
        self.batch
            .delete_range_cf(cf, keys::id(first).to_vec(), end);
    }

    /// Makes an index generation the one recommendations read.
    pub(crate) fn set_active_index(&mut self, generation: u32, model: u32) {
        for (key, value) in [
            (MetaKey::ActiveIndex, generation),
            (MetaKey::IndexModel, model),
        ] {
            self.put(Cf::Meta, key.bytes(), &u64::from(value).to_le_bytes());
        }
    }

    /// Stages another job's state (one written with the committing job's).
    pub(crate) fn put_job<T: Serialize>(&mut self, job: Job, state: &T) {
        self.put(Cf::Jobs, job.name().as_bytes(), &records::encode(state));
    }

    /// Writes everything staged and the job's state atomically.
    pub(crate) fn commit<T: Serialize>(&mut self, job: Job, state: &T) -> Result<()> {
        self.put_job(job, state);
        self.write()
    }

    /// Writes everything staged without a job state: only for outputs a resumed job
    /// rewrites, with the same bytes, before anything reads them.
    pub(crate) fn write(&mut self) -> Result<()> {
        let batch = std::mem::take(&mut self.batch);
        self.store.db.write(batch).map_err(|e| self.store.rocks(e))
    }
}
