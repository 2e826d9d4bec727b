//! The on-disk index: one LMDB environment holding the arroy `vectors` database and the
//! `manifest` database, and the operations on whole generations (list, inspect, remove, read).
//! Building is in `build.rs`.

use std::fs;
use std::path::{Path, PathBuf};

use arroy::distances::Cosine;
use heed::types::{Bytes, DecodeIgnore};
use heed::{BytesDecode, CommitOrAbort, Env, EnvOpenOptions, RoTxn, WithoutTls};

use super::IndexError;
use super::manifest::{Manifest, ManifestCodec, ManifestDb};
use super::reader::ArroyReader;

/// Virtual size of the memory map. Only address space: the file grows as pages are written,
/// and a 64-bit process has ~128 TiB of it, so a generous map never needs resizing.
const MAP_SIZE: usize = 1 << 40;

/// Concurrent read transactions. A query holds one, so this bounds query threads; each slot
/// costs 64 bytes of lock file.
const MAX_READERS: u32 = 1024;

/// An on-disk approximate-nearest-neighbour index of candidate products (arroy, cosine) with
/// numbered **generations**. A generation is a complete set of indexes — one per category
/// and one over all items — written in a single LMDB transaction: it exists whole or not at
/// all, whatever happens to the process building it.
pub struct ArroyIndex {
    pub(crate) path: PathBuf,
    pub(crate) env: Env<WithoutTls>,
    pub(crate) vectors: arroy::Database<'static, Cosine>,
    pub(crate) manifests: ManifestDb,
}

impl ArroyIndex {
    /// Opens the index in folder `dir`, creating the folder and an empty index if needed.
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        let io = |source| IndexError::Io {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options
            .map_size(MAP_SIZE)
            .max_dbs(2)
            .max_readers(MAX_READERS);
        // SAFETY: the files are only modified through LMDB, which locks them against other
        // processes; the folder must not be on a network file system.
        let env = unsafe { options.open(dir) }.map_err(|e| match e {
            heed::Error::EnvAlreadyOpened => IndexError::AlreadyOpen(dir.to_path_buf()),
            heed::Error::Io(source) => io(source),
            other => IndexError::Lmdb(other),
        })?;

        // Open with a read transaction first: a write transaction would wait for a build
        // running in another process.
        let rtxn = env.read_txn()?;
        let existing = env
            .open_databases_and_commit(rtxn, |opener, rtxn| -> heed::Result<_> {
                let vectors = opener.open_database(rtxn, Some("vectors"))?;
                let manifests = opener.open_database(rtxn, Some("manifest"))?;
                Ok(CommitOrAbort::<_, ()>::Commit(vectors.zip(manifests)))
            })?
            .unwrap_commit();
        let (vectors, manifests) = match existing {
            Some(databases) => databases,
            None => {
                let wtxn = env.write_txn()?;
                env.create_databases_and_commit(wtxn, |opener, wtxn| -> heed::Result<_> {
                    let vectors = opener.create_database(wtxn, Some("vectors"))?;
                    let manifests = opener.create_database(wtxn, Some("manifest"))?;
                    Ok(CommitOrAbort::<_, ()>::Commit((vectors, manifests)))
                })?
                .unwrap_commit()
            }
        };
        Ok(ArroyIndex {
            path: dir.to_path_buf(),
            env,
            vectors,
            manifests,
        })
    }

    /// The committed generations, ascending.
    pub fn generations(&self) -> Result<Vec<u32>, IndexError> {
        let rtxn = self.env.read_txn()?;
        self.generations_in(&rtxn)
    }

    /// The manifest of `generation`: its categories, sizes and build parameters.
    pub(crate) fn manifest(&self, generation: u32) -> Result<Manifest, IndexError> {
        let rtxn = self.env.read_txn()?;
        self.existing(&rtxn, generation)
    }

    /// Deletes `generation` — its indexes and manifest — in one transaction, freeing its arroy
    /// index ids for later generations. The index stage gives each generation its own
    /// environment and removes whole folders; this is the tests' way to exercise a shared one.
    #[cfg(test)]
    pub(crate) fn remove_generation(&self, generation: u32) -> Result<(), IndexError> {
        let mut wtxn = self.env.write_txn()?;
        let manifest = self.existing(&wtxn, generation)?;
        for id in manifest.ids() {
            arroy::Writer::<Cosine>::new(self.vectors, id, manifest.dims).clear(&mut wtxn)?;
        }
        self.manifests.delete(&mut wtxn, &generation)?;
        wtxn.commit()?;
        Ok(())
    }

    /// A reader of `generation`, to be shared by any number of threads. It answers for the
    /// generation as it is now; once the generation is removed or rebuilt its queries fail
    /// with [`IndexError::GenerationChanged`].
    pub fn reader(&self, generation: u32) -> Result<ArroyReader, IndexError> {
        let rtxn = self.env.read_txn()?;
        match self.stored(&rtxn, generation)? {
            Some(bytes) => {
                let manifest = decode(generation, bytes)?;
                Ok(ArroyReader::new(self, generation, manifest, bytes.to_vec()))
            }
            None => Err(self.unknown(&rtxn, generation)),
        }
    }

    pub(crate) fn generations_in(&self, txn: &RoTxn) -> Result<Vec<u32>, IndexError> {
        let mut generations = Vec::new();
        for entry in self.manifests.remap_data_type::<DecodeIgnore>().iter(txn)? {
            generations.push(entry?.0);
        }
        Ok(generations)
    }

    /// The manifest of `generation` if it exists.
    pub(crate) fn load(
        &self,
        txn: &RoTxn,
        generation: u32,
    ) -> Result<Option<Manifest>, IndexError> {
        self.stored(txn, generation)?
            .map(|bytes| decode(generation, bytes))
            .transpose()
    }

    /// The manifest of `generation`, which must exist.
    pub(crate) fn existing(&self, txn: &RoTxn, generation: u32) -> Result<Manifest, IndexError> {
        self.load(txn, generation)?
            .ok_or_else(|| self.unknown(txn, generation))
    }

    /// Every live generation's manifest.
    pub(crate) fn all_manifests(&self, txn: &RoTxn) -> Result<Vec<Manifest>, IndexError> {
        let mut manifests = Vec::new();
        for generation in self.generations_in(txn)? {
            manifests.extend(self.load(txn, generation)?);
        }
        Ok(manifests)
    }

    /// The encoded manifest of `generation` if it exists.
    fn stored<'t>(&self, txn: &'t RoTxn, generation: u32) -> Result<Option<&'t [u8]>, IndexError> {
        Ok(self
            .manifests
            .remap_data_type::<Bytes>()
            .get(txn, &generation)?)
    }

    fn unknown(&self, txn: &RoTxn, generation: u32) -> IndexError {
        match self.generations_in(txn) {
            Ok(existing) => IndexError::UnknownGeneration {
                generation,
                existing,
            },
            Err(e) => e,
        }
    }
}

fn decode(generation: u32, bytes: &[u8]) -> Result<Manifest, IndexError> {
    ManifestCodec::bytes_decode(bytes).map_err(|reason| IndexError::CorruptManifest {
        generation,
        reason: reason.to_string(),
    })
}
