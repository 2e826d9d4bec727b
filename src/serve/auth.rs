//! Access tokens of the seller portal: issuing (a random secret shown once, only its SHA-256
//! stored), revoking, listing, and checking the `Authorization: Bearer …` of a request.
//!
//! A token is `dlk_` + 64 hex digits (256 random bits from the OS). Its id — the first 8 bytes
//! of the digest — is the store key and the public handle `tokens list` and `tokens revoke`
//! use. A lookup by id reveals nothing useful through its timing (the id is a hash of what the
//! caller sent), and the full digests are then compared in constant time.

use crate::clock;
use rand::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};

use crate::store::{Namespace, Store, StoreError, TokenId, TokenRecord, TokenSubject};

/// What every token starts with, so a leaked one is recognisable (e.g. by secret scanners).
const PREFIX: &str = "dlk_";
/// Random bytes per token.
const SECRET_BYTES: usize = 32;

/// Errors of token administration (`demandlink tokens …`).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// `--seller` names no seller of the database.
    #[error("unknown seller `{0}`")]
    UnknownSeller(String),
    /// `tokens revoke` was given an id that no token has.
    #[error("no token with id `{0}` (see `demandlink tokens list`)")]
    UnknownToken(String),
    /// The OS random source failed.
    #[error("cannot read OS randomness: {0}")]
    Random(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a request's credentials were refused (all answered 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Malformed, unknown, or not matching its digest.
    Invalid,
    /// Issued, then revoked.
    Revoked,
}

/// A newly issued token: the secret (shown once) and its public id.
pub struct Issued {
    /// The secret to hand to the seller; not stored anywhere.
    pub secret: String,
    /// Public handle, 16 hex digits.
    pub id: String,
}

/// One row of `tokens list`: never the secret.
pub struct Listed {
    /// Public handle, 16 hex digits.
    pub id: String,
    /// Whom it speaks for.
    pub subject: TokenSubject,
    /// Unix seconds when issued.
    pub created_at: u64,
    /// Unix seconds when revoked.
    pub revoked_at: Option<u64>,
}

/// Issues a token for `subject` (a seller must exist) and stores its digest.
pub fn issue(store: &Store, subject: TokenSubject) -> Result<Issued, TokenError> {
    if let TokenSubject::Seller(seller) = &subject
        && store.lookup(Namespace::Seller, seller)?.is_none()
    {
        return Err(TokenError::UnknownSeller(seller.clone()));
    }
    loop {
        let mut bytes = [0u8; SECRET_BYTES];
        SysRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| TokenError::Random(e.to_string()))?;
        let secret = format!("{PREFIX}{}", hex(&bytes));
        let digest = digest(&secret);
        let id = token_id(&digest);
        // Two secrets sharing a 64-bit id is a 2^-64 event; re-drawing keeps ids unique anyway.
        if store.token(&id)?.is_some() {
            continue;
        }
        store.put_token(
            &id,
            &TokenRecord {
                digest,
                subject,
                created_at: clock::unix_secs(),
                revoked_at: None,
            },
        )?;
        return Ok(Issued {
            secret,
            id: hex(&id),
        });
    }
}

/// Revokes the token with this public id (or this secret); revoking twice keeps the first time.
pub fn revoke(store: &Store, id_or_secret: &str) -> Result<Listed, TokenError> {
    let unknown = || TokenError::UnknownToken(id_or_secret.to_string());
    let id = if id_or_secret.starts_with(PREFIX) {
        token_id(&digest(id_or_secret))
    } else {
        parse_id(id_or_secret).ok_or_else(unknown)?
    };
    let mut record = store.token(&id)?.ok_or_else(unknown)?;
    if record.revoked_at.is_none() {
        record.revoked_at = Some(clock::unix_secs());
        store.put_token(&id, &record)?;
    }
    Ok(listed(id, record))
}

/// Every token, without secrets.
pub fn list(store: &Store) -> Result<Vec<Listed>, TokenError> {
    Ok(store
        .tokens()?
        .into_iter()
        .map(|(id, r)| listed(id, r))
        .collect())
}

/// Checks an `Authorization` header value and returns whom the token speaks for.
pub(crate) fn authenticate(
    store: &Store,
    authorization: Option<&[u8]>,
) -> Result<Result<TokenSubject, Refusal>, StoreError> {
    let Some(value) = authorization else {
        return Ok(Err(Refusal::Missing));
    };
    let Some(secret) = bearer(value) else {
        return Ok(Err(Refusal::Missing));
    };
    if !well_formed(secret) {
        return Ok(Err(Refusal::Invalid));
    }
    let digest = digest(secret);
    let Some(record) = store.token(&token_id(&digest))? else {
        return Ok(Err(Refusal::Invalid));
    };
    if !constant_time_eq(&digest, &record.digest) {
        return Ok(Err(Refusal::Invalid));
    }
    if record.revoked_at.is_some() {
        return Ok(Err(Refusal::Revoked));
    }
    Ok(Ok(record.subject))
}

/// The credentials of `Bearer <credentials>` (scheme case-insensitive, RFC 9110).
fn bearer(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start())
}

fn well_formed(secret: &str) -> bool {
    secret.strip_prefix(PREFIX).is_some_and(|h| {
        h.len() == 2 * SECRET_BYTES && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn token_id(digest: &[u8; 32]) -> TokenId {
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    id
}

/// Equality whose running time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

fn parse_id(text: &str) -> Option<TokenId> {
    if text.len() != 16 {
        return None;
    }
    let mut id = [0u8; 8];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn listed(id: TokenId, r: TokenRecord) -> Listed {
    Listed {
        id: hex(&id),
        subject: r.subject,
        created_at: r.created_at,
        revoked_at: r.revoked_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing_and_token_shape() {
        assert_eq!(bearer(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer(b"bearer  abc "), Some("abc"));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer"), None);
        let ok = format!("{PREFIX}{}", "0a".repeat(SECRET_BYTES));
        assert!(well_formed(&ok));
        assert!(!well_formed(&ok[..ok.len() - 1]));
        assert!(!well_formed(&ok.to_uppercase()));
        assert_eq!(
            parse_id(&hex(&[1, 2, 3, 4, 5, 6, 7, 255])),
            Some([1, 2, 3, 4, 5, 6, 7, 255])
        );
        assert_eq!(parse_id("zz"), None);
    }

    #[test]
    fn constant_time_eq_compares_every_byte() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(constant_time_eq(&a, &b));
        b[31] ^= 1;
        assert!(!constant_time_eq(&a, &b));
    }
}
