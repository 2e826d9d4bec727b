//! Key encodings. Ids are fixed-width big-endian so that byte order equals numeric order and a
//! prefix scan over the first id walks one node's adjacency.

/// Internal ids are dense `u32`s, one sequence per [`Namespace`].
pub type Id = u32;

/// The kind of external id: sellers and products are interned separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// Seller ids (`seller_id` columns).
    Seller,
    /// Product ids (`product_id`, `product_a`, `product_b` columns).
    Product,
}

impl Namespace {
    pub(crate) fn tag(self) -> u8 {
        match self {
            Namespace::Seller => b's',
            Namespace::Product => b'p',
        }
    }

    pub(crate) fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            b's' => Some(Namespace::Seller),
            b'p' => Some(Namespace::Product),
            _ => None,
        }
    }

    /// The word used in messages and dumps.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Namespace::Seller => "seller",
            Namespace::Product => "product",
        }
    }
}

pub(crate) fn id(id: Id) -> [u8; 4] {
    id.to_be_bytes()
}

pub(crate) fn pair(a: Id, b: Id) -> [u8; 8] {
    let mut k = [0u8; 8];
    k[..4].copy_from_slice(&a.to_be_bytes());
    k[4..].copy_from_slice(&b.to_be_bytes());
    k
}

/// `ids` key: namespace tag then the external id's UTF-8 bytes.
pub(crate) fn external(ns: Namespace, ext: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + ext.len());
    k.push(ns.tag());
    k.extend_from_slice(ext.as_bytes());
    k
}

/// `entities` key: namespace tag then the internal id.
pub(crate) fn entity(ns: Namespace, id: Id) -> [u8; 5] {
    let mut k = [0u8; 5];
    k[0] = ns.tag();
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// Reads a big-endian id at `at`; `None` when the key is too short (a corrupt key).
pub(crate) fn read_id(key: &[u8], at: usize) -> Option<Id> {
    key.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_keys_sort_numerically() {
        let mut keys: Vec<[u8; 8]> = [(2, 1), (1, 300), (1, 2), (256, 0)]
            .iter()
            .map(|&(a, b)| pair(a, b))
            .collect();
        keys.sort();
        let decoded: Vec<(Id, Id)> = keys
            .iter()
            .map(|k| (read_id(k, 0).unwrap(), read_id(k, 4).unwrap()))
            .collect();
        assert_eq!(decoded, vec![(1, 2), (1, 300), (2, 1), (256, 0)]);
    }

    #[test]
    fn namespaces_do_not_collide() {
        assert_ne!(
            external(Namespace::Seller, "x1"),
            external(Namespace::Product, "x1")
        );
        assert_eq!(
            Namespace::from_tag(entity(Namespace::Product, 7)[0]),
            Some(Namespace::Product)
        );
    }
}
