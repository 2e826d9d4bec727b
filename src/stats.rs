//! Database statistics: what is in the store, by a full scan of the graph column families.

use serde::Serialize;

use crate::store::{DropState, Namespace, Result, Store};

/// Co-purchase pairs need at least this count to become graph edges (the graph's default).
pub const DEFAULT_COPURCHASE_THRESHOLD: u64 = 2;

/// Everything `demandlink stats` reports. Field names are the stable JSON keys.
#[derive(Debug, Serialize, PartialEq)]
pub struct Stats {
    /// Sellers known to the database.
    pub sellers: u64,
    /// Product counts.
    pub products: ProductCounts,
    /// Seller–product listing edges.
    pub listings: u64,
    /// Distinct unordered co-purchase pairs.
    pub copurchase_pairs: u64,
    /// Pairs whose accumulated count reaches the threshold.
    pub copurchase_pairs_above_threshold: u64,
    /// The threshold used for the line above.
    pub copurchase_threshold: u64,
    /// Page views.
    pub views: ViewCounts,
    /// `1 − listings / (sellers × products)`.
    pub sparsity: f64,
    /// Listings per seller, over all sellers (sellers without listings count as 0).
    pub listings_per_seller: Distribution,
    /// Drops in application order.
    pub drops: Vec<DropStats>,
}

/// Product counts by role.
#[derive(Debug, Serialize, PartialEq)]
pub struct ProductCounts {
    /// All products.
    pub total: u64,
    /// Products with at least one listing.
    pub listed: u64,
    /// Products on the current high-demand list.
    pub high_demand: u64,
    /// Products neither listed nor on the current high-demand list.
    pub auxiliary: u64,
    /// Products without a `products.tsv` description.
    pub without_text: u64,
}

/// View counts over all periods.
#[derive(Debug, Serialize, PartialEq)]
pub struct ViewCounts {
    /// Periods (drops) that carried views.
    pub periods: u64,
    /// Products with at least one view record.
    pub products_with_views: u64,
    /// Sum of all views.
    pub total: u64,
}

/// A few order statistics of a distribution.
#[derive(Debug, Serialize, PartialEq)]
pub struct Distribution {
    /// Median (lower median for even counts).
    pub median: u64,
    /// 90th percentile (nearest rank).
    pub p90: u64,
    /// Maximum.
    pub max: u64,
}

/// One drop's row counts.
#[derive(Debug, Serialize, PartialEq)]
pub struct DropStats {
    /// Sequence number (also the drop's period).
    pub seq: u32,
    /// Folder name.
    pub name: String,
    /// `applied` or `applying` (interrupted; rerun ingest to finish).
    pub state: &'static str,
    /// Per file: rows, applied, rejected.
    pub files: Vec<FileStats>,
    /// Sellers first named by the drop.
    pub(crate) new_sellers: u64,
    /// Products first named by the drop.
    pub(crate) new_products: u64,
    /// Products first named outside `products.tsv`.
    pub(crate) products_without_text: u64,
}

/// One file of a drop.
#[derive(Debug, Serialize, PartialEq)]
pub struct FileStats {
    /// File name.
    pub(crate) name: String,
    /// Data rows.
    pub(crate) rows: u64,
    /// Rows applied.
    pub applied: u64,
    /// Rows rejected.
    pub rejected: u64,
}

/// Computes the statistics with one pass over each graph column family.
pub fn compute(store: &Store, copurchase_threshold: u64) -> Result<Stats> {
    let sellers = u64::from(store.entity_count(Namespace::Seller)?);
    let products = store.entity_count(Namespace::Product)? as usize;

    let mut per_seller = vec![0u64; sellers as usize];
    let mut listed = vec![false; products];
    let mut listings = 0u64;
    store.for_each_listing(|s, p, _| {
        listings += 1;
        per_seller[s as usize] += 1;
        listed[p as usize] = true;
    })?;

    let (mut pairs, mut above) = (0u64, 0u64);
    store.for_each_copurchase(|a, b, count| {
        if a < b {
            pairs += 1;
            above += u64::from(count >= copurchase_threshold);
        }
    })?;

    let mut viewed = vec![false; products];
    let mut periods = Vec::new();
    let mut total_views = 0u64;
    store.for_each_views(|p, period, views| {
        viewed[p as usize] = true;
        total_views += views;
        if !periods.contains(&period) {
            periods.push(period);
        }
    })?;

    let mut high_demand = vec![false; products];
    if let Some(period) = store.high_demand_period()? {
        for p in store.high_demand(period)? {
            high_demand[p as usize] = true;
        }
    }
    let count = |v: &[bool]| v.iter().filter(|&&b| b).count() as u64;
    let auxiliary = listed
        .iter()
        .zip(&high_demand)
        .filter(|&(&l, &h)| !l && !h)
        .count() as u64;
    let with_text = store.products_with_text()?;

    let cells = sellers as f64 * products as f64;
    Ok(Stats {
        sellers,
        products: ProductCounts {
            total: products as u64,
            listed: count(&listed),
            high_demand: count(&high_demand),
            auxiliary,
            without_text: products as u64 - with_text,
        },
        listings,
        copurchase_pairs: pairs,
        copurchase_pairs_above_threshold: above,
        copurchase_threshold,
        views: ViewCounts {
            periods: periods.len() as u64,
            products_with_views: count(&viewed),
            total: total_views,
        },
        sparsity: if cells > 0.0 {
            1.0 - listings as f64 / cells
        } else {
            1.0
        },
        listings_per_seller: distribution(per_seller),
        drops: store
            .drops()?
            .into_iter()
            .map(|d| DropStats {
                seq: d.seq,
                name: d.name,
                state: match d.state {
                    DropState::Applied => "applied",
                    DropState::Applying => "applying",
                },
                files: d
                    .files
                    .into_iter()
                    .map(|f| FileStats {
                        name: f.name,
                        rows: f.rows,
                        applied: f.applied,
                        rejected: f.rejected,
                    })
                    .collect(),
                new_sellers: d.new_sellers,
                new_products: d.new_products,
                products_without_text: d.products_without_text,
            })
            .collect(),
    })
}

fn distribution(mut values: Vec<u64>) -> Distribution {
    if values.is_empty() {
        return Distribution {
            median: 0,
            p90: 0,
            max: 0,
        };
    }
    values.sort_unstable();
    let rank =
        |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    Distribution {
        median: values[(values.len() - 1) / 2],
        p90: rank(0.9),
        max: values[values.len() - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::distribution;

    #[test]
    fn order_statistics() {
        let d = distribution(vec![5, 1, 3, 2, 4, 10, 7, 6, 9, 8]);
        assert_eq!((d.median, d.p90, d.max), (5, 9, 10));
        let d = distribution(vec![4]);
        assert_eq!((d.median, d.p90, d.max), (4, 4, 4));
    }
}
