//! Seller-portal access tokens (`tokens`): keyed by an 8-byte token id (the start of the
//! secret's digest), valued by a [`TokenRecord`]. Written outside any stage batch: issuing and
//! revoking are single, synced writes, so a revocation survives a crash the moment it returns.

use rocksdb::WriteOptions;

use super::records::{self, TokenRecord};
use super::{Cf, Result, Store, corrupt};

/// The public handle of a token: shown by `tokens list`, named by `tokens revoke`.
pub type TokenId = [u8; 8];

impl Store {
    /// The token with this id, if issued.
    pub fn token(&self, id: &TokenId) -> Result<Option<TokenRecord>> {
        self.get(Cf::Tokens, id)?
            .map(|v| records::decode(&v).map_err(|r| corrupt(Cf::Tokens, id, r)))
            .transpose()
    }

    /// Every token, in id order.
    pub fn tokens(&self) -> Result<Vec<(TokenId, TokenRecord)>> {
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

    /// Writes (issues or updates) a token, synced to disk before returning.
    pub fn put_token(&self, id: &TokenId, record: &TokenRecord) -> Result<()> {
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        self.db
            .put_cf_opt(self.cf(Cf::Tokens), id, records::encode(record), &sync)
            .map_err(|e| self.rocks(e))
    }
}
