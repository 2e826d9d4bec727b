//! Merge operators: counters accumulate without a read, and "first wins" records keep the
//! value of the first write (a listing keeps the drop and time it first appeared).

use rocksdb::MergeOperands;

/// Name under which the counter operator is registered (part of the on-disk format).
pub(crate) const ADD_U64: &str = "demandlink.add_u64";
/// Name under which the first-wins operator is registered (part of the on-disk format).
pub(crate) const FIRST_WINS: &str = "demandlink.first_wins";

pub(crate) fn decode_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(b)
}

/// Sums little-endian u64 operands onto the existing value (saturating: a counter never wraps).
pub(crate) fn add_u64(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &MergeOperands,
) -> Option<Vec<u8>> {
    let start = existing.map(decode_u64).unwrap_or(0);
    let total = operands
        .iter()
        .fold(start, |acc, op| acc.saturating_add(decode_u64(op)));
    Some(total.to_le_bytes().to_vec())
}

/// Keeps the existing value, else the oldest operand. Associative, so it also serves as the
/// partial merge.
pub(crate) fn first_wins(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &MergeOperands,
) -> Option<Vec<u8>> {
    existing
        .or_else(|| operands.iter().next())
        .map(<[u8]>::to_vec)
}
