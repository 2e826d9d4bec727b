//! The stacked co-purchase matrix: seller rows on top, one pseudo-user row per product below,
//! so that ALS learns item factors from co-purchases as well as from listings — which gives
//! products without listings (cold, high-demand) factors of their own.

use super::csr::Csr;

/// Stacks `listings` (sellers × products) over one row per product holding its co-purchase
/// partners: row `listings.rows() + p` has `weight · count` at column `q` for every pair
/// `(p, q, count)` or `(q, p, count)` of `copurchases` (pairs are unordered; repeated pairs
/// add up). Seller `s` stays row `s`; the result has `listings.cols` columns.
///
/// # Panics
/// When a product id is not below `listings.cols`.
pub(crate) fn stack_copurchases(
    listings: &Csr,
    copurchases: &[(u32, u32, f32)],
    weight: f32,
) -> Csr {
    let sellers = listings.rows();
    let mut entries: Vec<(u32, u32, f32)> =
        Vec::with_capacity(listings.nnz() + 2 * copurchases.len());
    for s in 0..sellers {
        let (cols, vals) = listings.row(s);
        entries.extend(cols.iter().zip(vals).map(|(&c, &v)| (s as u32, c, v)));
    }
    let base = sellers as u32;
    for &(a, b, count) in copurchases {
        entries.push((base + a, b, weight * count));
        entries.push((base + b, a, weight * count));
    }
    Csr::from_triplets(sellers + listings.cols, listings.cols, &entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_become_rows_under_the_sellers() {
        let listings = Csr::from_triplets(2, 3, &[(0, 0, 1.0), (1, 2, 1.0)]);
        let m = stack_copurchases(&listings, &[(0, 1, 2.0), (1, 0, 1.0), (2, 1, 1.0)], 0.5);
        assert_eq!(m.rows(), 5);
        assert_eq!(m.cols, 3);
        assert_eq!(m.row(0), listings.row(0));
        assert_eq!(m.row(1), listings.row(1));
        // Product 0: partner 1 from (0,1,2) and (1,0,1): 0.5·3.
        assert_eq!(m.row(2), (&[1u32][..], &[1.5f32][..]));
        assert_eq!(m.row(3), (&[0u32, 2][..], &[1.5f32, 0.5][..]));
        assert_eq!(m.row(4), (&[1u32][..], &[0.5f32][..]));
    }
}
