//! Seller-portal access tokens (`tokens`): keyed by an 8-byte token id (the start of the
//! secret's digest), valued by a [`TokenRecord`]. Written outside any stage batch: issuing and
//! revoking are single, synced writes, so a revocation survives a crash the moment it returns.
//!
//! After each write, `DB/tokens.stamp` gets a new value: a reader that sees a stamp it has not
//! caught up with knows a token changed (the stamp is written after the token), so a server
//! can catch up only then (and on a timer) instead of on every request.

use crate::clock;
use std::fs;

use rocksdb::WriteOptions;

use super::records::{self, TokenRecord};
use super::{Cf, Result, Store, StoreError, corrupt};

/// The public handle of a token: shown by `tokens list`, named by `tokens revoke`.
pub(crate) type TokenId = [u8; 8];

impl Store {
    /// The token with this id, if issued.
    pub(crate) fn token(&self, id: &TokenId) -> Result<Option<TokenRecord>> {
        self.get(Cf::Tokens, id)?
            .map(|v| records::decode(&v).map_err(|r| corrupt(Cf::Tokens, id, r)))
            .transpose()
    }

    /// Every token, in id order.
    pub(crate) fn tokens(&self) -> Result<Vec<(TokenId, TokenRecord)>> {
        let mut out = Vec::new();
        self.scan(Cf::Tokens, &[], |k, v| {
            let id = TokenId::try_from(k)
                .map_err(|_| corrupt(Cf::Tokens, k, "expected an 8-byte token id".into()))?;
            out.push((
                id,
                records::decode(v).map_err(|r| corrupt(Cf::Tokens, k, r))?,
            ));
            Ok(())
        })?;
        Ok(out)
    }

    /// Writes (issues or updates) a token, synced to disk, then renews the tokens stamp.
    pub(crate) fn put_token(&self, id: &TokenId, record: &TokenRecord) -> Result<()> {
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        self.db
            .put_cf_opt(self.cf(Cf::Tokens), id, records::encode(record), &sync)
            .map_err(|e| self.rocks(e))?;
        let stamp = clock::unix_nanos();
        // Renamed into place so a reader never sees a half-written stamp.
        let path = self.stamp_path();
        let tmp = path.with_extension("stamp.tmp");
        let io = |path: &std::path::Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        fs::write(&tmp, stamp.to_string()).map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// The current tokens stamp (`None` before the first token): changes with every token
    /// write. Read it *before* catching up: a catch-up after reading a stamp sees its token.
    pub(crate) fn tokens_stamp(&self) -> Result<Option<String>> {
        let path = self.stamp_path();
        match fs::read_to_string(&path) {
            Ok(stamp) => Ok(Some(stamp)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    fn stamp_path(&self) -> std::path::PathBuf {
        self.root.join("tokens.stamp")
    }
}
