//! Evaluation splits of a dataset folder into a training drop (`out/train/`), the held-out
//! (seller, product) pairs (`out/heldout.tsv`) and the split's parameters and statistics
//! (`out/split.json`).
//!
//! Three modes (DESIGN.md, "Evaluation protocol"): **cold** hides every listing of a set H of
//! products and asks for them back — the situation high-demand products are in; **temporal**
//! trains on listings up to a cutoff and asks for the pairs that first appear after it;
//! **random** hides a share of each seller's listings.
//!
//! Held-out items are chosen by a seeded hash of their external ids rather than by a random
//! number stream, so a split depends only on the seed and the ids: it survives `rand` releases
//! and a reordering of the input rows. Output rows follow the order of first appearance in
//! `listings.tsv`, so the same input and options give the same bytes.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use xxhash_rust::xxh3::{Xxh3, xxh3_64_with_seed};

use super::dataset::{self, Listings, TsvWriter};
use super::error::SplitError;
use crate::ingest::{FileKind, Row};

/// How the held-out pairs are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SplitMode {
    /// Among products listed by ≥ 2 distinct sellers, hold out a `share` as the high-demand set
    /// H: every listing of H leaves training (H keeps its text, co-purchases and views),
    /// `train/high_demand.tsv` is H, and the held-out pairs are all listings of H by sellers
    /// that keep at least one training listing.
    Cold {
        /// Share of the eligible products put in H, in (0, 1]; at least one product.
        share: f64,
    },
    /// Train on listings with `ts` ≤ the cutoff; hold out the pairs first listed after it, for
    /// sellers and products that have a training listing. Every listing needs a `ts`.
    Temporal {
        /// Where the cutoff falls.
        cutoff: Cutoff,
    },
    /// For each seller with at least `min_listings` listings, hold out `share` of them (at least
    /// one, and never all: a seller without training listings cannot be evaluated).
    Random {
        /// Share of each eligible seller's listings held out, in (0, 1).
        share: f64,
        /// Sellers with fewer listings keep all of them (≥ 2).
        min_listings: usize,
    },
}

impl SplitMode {
    /// Cold split holding out 10 % of the products that have ≥ 2 sellers.
    pub fn cold() -> SplitMode {
        SplitMode::Cold { share: 0.10 }
    }

    /// Temporal split at the 0.8 quantile of the listing timestamps.
    pub fn temporal() -> SplitMode {
        SplitMode::Temporal {
            cutoff: Cutoff::Quantile(0.8),
        }
    }

    /// Random split holding out 20 % of each listing set of ≥ 3 listings.
    pub fn random() -> SplitMode {
        SplitMode::Random {
            share: 0.2,
            min_listings: 3,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            SplitMode::Cold { .. } => "cold",
            SplitMode::Temporal { .. } => "temporal",
            SplitMode::Random { .. } => "random",
        }
    }
}

/// The cutoff of a temporal split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cutoff {
    /// The smallest first-listing time such that at least this share (in (0, 1]) of the
    /// distinct pairs were first listed at or before it.
    Quantile(f64),
    /// An explicit time in unix seconds.
    At(i64),
}

/// Options of [`split`].
#[derive(Clone, Debug, PartialEq)]
pub struct SplitOptions {
    /// How pairs are held out.
    pub mode: SplitMode,
    /// Seed of the held-out choice (cold and random).
    pub seed: u64,
    /// Write `train/views.tsv` as the number of training listings per product (products with
    /// none are omitted, which ingest reads as 0 views) instead of copying `views.tsv`. On
    /// datasets whose views are counts of the same interactions as the listings, copying them
    /// would leak the held-out pairs into the popularity signal.
    pub views_from_listings: bool,
}

impl Default for SplitOptions {
    /// Cold, seed 0, views recomputed: the leak-free choice for the reference datasets, whose
    /// views are derived from the listings.
    fn default() -> Self {
        SplitOptions {
            mode: SplitMode::cold(),
            seed: 0,
            views_from_listings: true,
        }
    }
}

/// Parameters and statistics of a split, as written to `split.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SplitReport {
    /// `cold`, `temporal` or `random`.
    pub(crate) mode: String,
    /// The seed.
    pub(crate) seed: u64,
    /// Share of products (cold) or of each seller's listings (random) held out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) share: Option<f64>,
    /// Random: the fewest listings a seller needs to have some held out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) min_listings: Option<usize>,
    /// Temporal: the quantile the cutoff was taken at, when it was not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) quantile: Option<f64>,
    /// Temporal: the cutoff in unix seconds (training pairs have first `ts` ≤ cutoff).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cutoff: Option<i64>,
    /// Whether `train/views.tsv` was recomputed from the training listings.
    pub(crate) views_from_listings: bool,
    /// Data rows of `listings.tsv`, duplicates included.
    pub(crate) listing_rows: u64,
    /// Distinct (seller, product) pairs.
    pub(crate) listing_pairs: u64,
    /// Distinct sellers with a listing.
    pub(crate) sellers: u64,
    /// Distinct products with a listing.
    pub(crate) listed_products: u64,
    /// Pairs in `train/listings.tsv`.
    pub(crate) train_pairs: u64,
    /// Pairs in `heldout.tsv`.
    pub(crate) heldout_pairs: u64,
    /// Pairs in neither: cold, listings of H by sellers left without training listings;
    /// temporal, pairs after the cutoff whose seller or product has no training listing.
    pub(crate) excluded_pairs: u64,
    /// Sellers with at least one held-out pair.
    pub(crate) sellers_evaluated: u64,
    /// Sellers with listings but none in training; they cannot be evaluated.
    pub(crate) sellers_without_train: u64,
    /// Cold: products listed by ≥ 2 distinct sellers, the pool H is drawn from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) eligible_products: Option<u64>,
    /// Cold: |H|, the products of `train/high_demand.tsv`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) high_demand: Option<u64>,
    /// Products a recommender ranks: H for cold; otherwise every product named in
    /// `listings.tsv` or `products.tsv`.
    pub(crate) candidates: u64,
    /// Dataset files the split did not read (not carried into `train/`), by name.
    pub(crate) skipped: Vec<String>,
}

/// Which pairs go where, by index into [`Listings::pairs`].
struct Division {
    in_train: Vec<bool>,
    /// In pair order.
    heldout: Vec<usize>,
    /// Cold: H by product index, ascending.
    high_demand: Option<Vec<u32>>,
    eligible: Option<u64>,
    cutoff: Option<i64>,
}

/// Drop files carried into `train/` unchanged (up to decompression and line endings).
const COPIED: [FileKind; 4] = [
    FileKind::Sellers,
    FileKind::Products,
    FileKind::Vectors,
    FileKind::Copurchases,
];

/// Splits the dataset folder `dataset` into `out/train/`, `out/heldout.tsv` and
/// `out/split.json`; `out` must not exist or be empty. Listings are read and checked before
/// anything is written; an error while copying the other files leaves a partial `out`.
pub fn split(dataset: &Path, out: &Path, opts: &SplitOptions) -> Result<SplitReport, SplitError> {
    check(&opts.mode)?;
    let (listings_path, listings) = Listings::of_dataset(dataset)?;
    let division = match opts.mode {
        SplitMode::Cold { share } => cold(&listings, share, opts.seed)?,
        SplitMode::Temporal { cutoff } => temporal(&listings, cutoff)?,
        SplitMode::Random {
            share,
            min_listings,
        } => random(&listings, share, min_listings, opts.seed),
    };

    create_output(out)?;
    let train = out.join("train");
    let mut read = vec![listings_path.clone()];
    write_listings(&train.join("listings.tsv"), &listings, &division.in_train)?;
    write_heldout(&out.join("heldout.tsv"), &listings, &division.heldout)?;
    if let Some(h) = &division.high_demand {
        let mut w = TsvWriter::create(&train.join("high_demand.tsv"))?;
        w.line(format_args!("product_id"))?;
        for &p in h {
            w.line(format_args!("{}", listings.products[p as usize]))?;
        }
        w.finish()?;
    }

    let mut unlisted_products: HashSet<String> = HashSet::new();
    for kind in COPIED {
        let Some(src) = dataset::find(dataset, kind.stem())? else {
            continue;
        };
        let dst = train.join(format!("{}.tsv", kind.stem()));
        dataset::copy(&src, &dst, kind, |header, line, text| {
            if kind != FileKind::Products {
                return Ok(());
            }
            match header.row(text) {
                Ok(Row::Product { id, .. }) => {
                    if !listings.product_index.contains_key(id) && !unlisted_products.contains(id) {
                        unlisted_products.insert(id.to_owned());
                    }
                    Ok(())
                }
                Ok(_) => unreachable!("a products header parses product rows"),
                Err(reason) => Err(SplitError::Bad {
                    path: src.clone(),
                    line,
                    reason,
                }),
            }
        })?;
        read.push(src);
    }
    if opts.views_from_listings {
        write_views(&train.join("views.tsv"), &listings, &division.in_train)?;
    } else if let Some(src) = dataset::find(dataset, FileKind::Views.stem())? {
        dataset::copy(
            &src,
            &train.join("views.tsv"),
            FileKind::Views,
            |_, _, _| Ok(()),
        )?;
        read.push(src);
    }

    let report = report(
        opts,
        &listings,
        &division,
        unlisted_products.len() as u64,
        skipped(dataset, &read)?,
    );
    let json_path = out.join("split.json");
    let json = serde_json::to_string_pretty(&report).map_err(|e| SplitError::Write {
        path: json_path.clone(),
        source: io::Error::other(e),
    })?;
    fs::write(&json_path, json + "\n").map_err(|source| SplitError::Write {
        path: json_path,
        source,
    })?;
    Ok(report)
}

fn check(mode: &SplitMode) -> Result<(), SplitError> {
    let bad = |what: String| Err(SplitError::Option(what));
    match *mode {
        SplitMode::Cold { share } if !(share > 0.0 && share <= 1.0) => {
            bad(format!("cold share {share} (expected 0 < share ≤ 1)"))
        }
        SplitMode::Temporal {
            cutoff: Cutoff::Quantile(q),
        } if !(q > 0.0 && q <= 1.0) => {
            bad(format!("temporal quantile {q} (expected 0 < quantile ≤ 1)"))
        }
        SplitMode::Random { share, .. } if !(share > 0.0 && share < 1.0) => {
            bad(format!("random share {share} (expected 0 < share < 1)"))
        }
        SplitMode::Random { min_listings, .. } if min_listings < 2 => bad(format!(
            "random min_listings {min_listings} (expected ≥ 2: a seller keeps one listing)"
        )),
        _ => Ok(()),
    }
}

/// `share` of `n`, rounded to the nearest whole number.
fn share_of(n: usize, share: f64) -> usize {
    (share * n as f64).round() as usize
}

fn cold(l: &Listings, share: f64, seed: u64) -> Result<Division, SplitError> {
    let mut sellers_of = vec![0u32; l.products.len()];
    for p in &l.pairs {
        sellers_of[p.product as usize] += 1;
    }
    // Ties of the 64-bit hash are broken by the id so the order is total.
    let mut eligible: Vec<(u64, &str, u32)> = (0..l.products.len() as u32)
        .filter(|&p| sellers_of[p as usize] >= 2)
        .map(|p| {
            let id = l.products[p as usize].as_str();
            (xxh3_64_with_seed(id.as_bytes(), seed), id, p)
        })
        .collect();
    if eligible.is_empty() {
        return Err(SplitError::NoColdCandidates(l.path.clone()));
    }
    eligible.sort_unstable();
    let mut in_h = vec![false; l.products.len()];
    for &(_, _, p) in &eligible[..share_of(eligible.len(), share).max(1)] {
        in_h[p as usize] = true;
    }
    let in_train: Vec<bool> = l.pairs.iter().map(|p| !in_h[p.product as usize]).collect();
    let train_of = train_listings_per_seller(l, &in_train);
    let heldout = (0..l.pairs.len())
        .filter(|&i| {
            let p = l.pairs[i];
            in_h[p.product as usize] && train_of[p.seller as usize] > 0
        })
        .collect();
    Ok(Division {
        in_train,
        heldout,
        high_demand: Some(
            (0..l.products.len() as u32)
                .filter(|&p| in_h[p as usize])
                .collect(),
        ),
        eligible: Some(eligible.len() as u64),
        cutoff: None,
    })
}

fn temporal(l: &Listings, cutoff: Cutoff) -> Result<Division, SplitError> {
    if !l.ts_column {
        return Err(SplitError::Bad {
            path: l.path.clone(),
            line: 1,
            reason: "the header has no `ts` column (a temporal split needs \
                     seller_id, product_id, ts)"
                .into(),
        });
    }
    let ts: Option<Vec<i64>> = l.pairs.iter().map(|p| p.ts).collect();
    let (None, Some(ts)) = (l.missing_ts, ts) else {
        return Err(SplitError::Bad {
            path: l.path.clone(),
            line: l.missing_ts.unwrap_or(1),
            reason: "listing without `ts` (a temporal split needs unix seconds on every listing)"
                .into(),
        });
    };
    let cutoff = match cutoff {
        Cutoff::At(t) => t,
        Cutoff::Quantile(q) => {
            let mut sorted = ts.clone();
            sorted.sort_unstable();
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[rank - 1]
        }
    };
    let in_train: Vec<bool> = ts.iter().map(|&t| t <= cutoff).collect();
    let train_of = train_listings_per_seller(l, &in_train);
    let mut product_in_train = vec![false; l.products.len()];
    for (p, _) in l.pairs.iter().zip(&in_train).filter(|(_, t)| **t) {
        product_in_train[p.product as usize] = true;
    }
    let heldout = (0..l.pairs.len())
        .filter(|&i| {
            let p = l.pairs[i];
            !in_train[i] && train_of[p.seller as usize] > 0 && product_in_train[p.product as usize]
        })
        .collect();
    Ok(Division {
        in_train,
        heldout,
        high_demand: None,
        eligible: None,
        cutoff: Some(cutoff),
    })
}

fn random(l: &Listings, share: f64, min_listings: usize, seed: u64) -> Division {
    let mut by_seller: Vec<Vec<usize>> = vec![Vec::new(); l.sellers.len()];
    for (i, p) in l.pairs.iter().enumerate() {
        by_seller[p.seller as usize].push(i);
    }
    let mut in_train = vec![true; l.pairs.len()];
    for (seller, pairs) in by_seller.iter().enumerate() {
        if pairs.len() < min_listings {
            continue;
        }
        let seller = l.sellers[seller].as_str();
        let mut keyed: Vec<(u64, &str, usize)> = pairs
            .iter()
            .map(|&i| {
                let product = l.products[l.pairs[i].product as usize].as_str();
                let mut h = Xxh3::with_seed(seed);
                h.update(seller.as_bytes());
                h.update(b"\t");
                h.update(product.as_bytes());
                (h.digest(), product, i)
            })
            .collect();
        keyed.sort_unstable();
        let n = share_of(pairs.len(), share).clamp(1, pairs.len() - 1);
        for &(_, _, i) in &keyed[..n] {
            in_train[i] = false;
        }
    }
    let heldout = (0..l.pairs.len()).filter(|&i| !in_train[i]).collect();
    Division {
        in_train,
        heldout,
        high_demand: None,
        eligible: None,
        cutoff: None,
    }
}

fn train_listings_per_seller(l: &Listings, in_train: &[bool]) -> Vec<u32> {
    let mut n = vec![0u32; l.sellers.len()];
    for (p, _) in l.pairs.iter().zip(in_train).filter(|(_, t)| **t) {
        n[p.seller as usize] += 1;
    }
    n
}

fn create_output(out: &Path) -> Result<(), SplitError> {
    empty_output(out)?;
    fs::create_dir_all(out.join("train")).map_err(|source| SplitError::Write {
        path: out.to_owned(),
        source,
    })
}

/// Checks that the output folder does not exist or is empty, so that no file of an earlier
/// split survives into this one.
pub(super) fn empty_output(out: &Path) -> Result<(), SplitError> {
    if out.exists() {
        let mut entries = fs::read_dir(out).map_err(|source| SplitError::Write {
            path: out.to_owned(),
            source,
        })?;
        if entries.next().is_some() {
            return Err(SplitError::OutputNotEmpty(out.to_owned()));
        }
    }
    Ok(())
}

fn write_listings(path: &Path, l: &Listings, in_train: &[bool]) -> Result<(), SplitError> {
    let mut w = TsvWriter::create(path)?;
    if l.ts_column {
        w.line(format_args!("seller_id\tproduct_id\tts"))?;
    } else {
        w.line(format_args!("seller_id\tproduct_id"))?;
    }
    for (p, _) in l.pairs.iter().zip(in_train).filter(|(_, t)| **t) {
        let (s, pr) = (
            &l.sellers[p.seller as usize],
            &l.products[p.product as usize],
        );
        match (l.ts_column, p.ts) {
            (false, _) => w.line(format_args!("{s}\t{pr}"))?,
            (true, Some(ts)) => w.line(format_args!("{s}\t{pr}\t{ts}"))?,
            (true, None) => w.line(format_args!("{s}\t{pr}\t"))?,
        }
    }
    w.finish()
}

fn write_heldout(path: &Path, l: &Listings, heldout: &[usize]) -> Result<(), SplitError> {
    let mut w = TsvWriter::create(path)?;
    w.line(format_args!("seller_id\tproduct_id"))?;
    for &i in heldout {
        let p = l.pairs[i];
        w.line(format_args!(
            "{}\t{}",
            l.sellers[p.seller as usize], l.products[p.product as usize]
        ))?;
    }
    w.finish()
}

fn write_views(path: &Path, l: &Listings, in_train: &[bool]) -> Result<(), SplitError> {
    let mut views = vec![0u64; l.products.len()];
    for (p, _) in l.pairs.iter().zip(in_train).filter(|(_, t)| **t) {
        views[p.product as usize] += 1;
    }
    let mut w = TsvWriter::create(path)?;
    w.line(format_args!("product_id\tviews"))?;
    for (product, &v) in l.products.iter().zip(&views).filter(|(_, v)| **v > 0) {
        w.line(format_args!("{product}\t{v}"))?;
    }
    w.finish()
}

/// Names of the dataset's entries that are not in `read`, sorted.
fn skipped(dataset: &Path, read: &[PathBuf]) -> Result<Vec<String>, SplitError> {
    let read_err = |source| SplitError::Open {
        path: dataset.to_owned(),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dataset).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        if !read
            .iter()
            .any(|r| r.file_name() == Some(&entry.file_name()))
        {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn report(
    opts: &SplitOptions,
    l: &Listings,
    d: &Division,
    unlisted_products: u64,
    skipped: Vec<String>,
) -> SplitReport {
    let train_pairs = d.in_train.iter().filter(|&&t| t).count() as u64;
    let train_of = train_listings_per_seller(l, &d.in_train);
    let evaluated: HashSet<u32> = d.heldout.iter().map(|&i| l.pairs[i].seller).collect();
    let (share, min_listings, quantile) = match opts.mode {
        SplitMode::Cold { share } => (Some(share), None, None),
        SplitMode::Temporal {
            cutoff: Cutoff::Quantile(q),
        } => (None, None, Some(q)),
        SplitMode::Temporal { .. } => (None, None, None),
        SplitMode::Random {
            share,
            min_listings,
        } => (Some(share), Some(min_listings), None),
    };
    let high_demand = d.high_demand.as_ref().map(|h| h.len() as u64);
    SplitReport {
        mode: opts.mode.name().to_owned(),
        seed: opts.seed,
        share,
        min_listings,
        quantile,
        cutoff: d.cutoff,
        views_from_listings: opts.views_from_listings,
        listing_rows: l.rows,
        listing_pairs: l.pairs.len() as u64,
        sellers: l.sellers.len() as u64,
        listed_products: l.products.len() as u64,
        train_pairs,
        heldout_pairs: d.heldout.len() as u64,
        excluded_pairs: l.pairs.len() as u64 - train_pairs - d.heldout.len() as u64,
        sellers_evaluated: evaluated.len() as u64,
        sellers_without_train: train_of.iter().filter(|&&n| n == 0).count() as u64,
        eligible_products: d.eligible,
        high_demand,
        candidates: high_demand.unwrap_or(l.products.len() as u64 + unlisted_products),
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    type Pairs = BTreeMap<(String, String), i64>;

    /// Listing rows of the fixture: 30 sellers over 40 products with 2–7 listings each, some
    /// duplicated (later and earlier), and one seller whose only products are popular ones.
    fn listing_rows() -> Vec<(String, String, i64)> {
        let mut rows = Vec::new();
        for s in 0..30 {
            for j in 0..2 + s % 6 {
                let p = (s * 7 + j * 3) % 40;
                let ts = 1_000 + ((s * 13 + j * 29) % 50) * 10;
                rows.push((format!("s{s:02}"), format!("p{p:02}"), ts as i64));
            }
            if s % 5 == 0 {
                let (seller, product, ts) = rows[rows.len() - 1].clone();
                rows.push((seller.clone(), product.clone(), ts + 1_000));
                rows.push((seller, product, ts - 5));
            }
        }
        for p in ["p00", "p07"] {
            rows.push(("s_popular".into(), p.into(), 1_100));
        }
        rows
    }

    /// Distinct pairs with their first `ts`.
    fn source_pairs() -> Pairs {
        let mut pairs = Pairs::new();
        for (s, p, ts) in listing_rows() {
            let first = pairs.entry((s, p)).or_insert(ts);
            *first = (*first).min(ts);
        }
        pairs
    }

    fn write(path: &Path, text: &str) {
        fs::write(path, text).unwrap();
    }

    /// A dataset folder with every kind of file; listings as `.tsv.gz` with CRLF line endings
    /// and a blank line when `gz`.
    fn dataset(dir: &Path, gz: bool) -> PathBuf {
        let ds = dir.join("dataset");
        fs::create_dir_all(&ds).unwrap();
        let mut listings = String::from("seller_id\tproduct_id\tts\n");
        for (s, p, ts) in listing_rows() {
            listings += &format!("{s}\t{p}\t{ts}\n");
        }
        if gz {
            let text = listings
                .replace('\n', "\r\n")
                .replacen("\r\n", "\r\n\r\n", 3);
            let mut enc = GzEncoder::new(Vec::new(), Compression::default());
            enc.write_all(text.as_bytes()).unwrap();
            fs::write(ds.join("listings.tsv.gz"), enc.finish().unwrap()).unwrap();
        } else {
            write(&ds.join("listings.tsv"), &listings);
        }
        let mut products = String::from("product_id\tcategory\ttitle\n");
        for p in (0..40)
            .map(|p| format!("p{p:02}"))
            .chain(["p98".into(), "p99".into()])
        {
            products += &format!("{p}\tFood > Tea\tTea {p}\n");
        }
        write(&ds.join("products.tsv"), &products);
        let mut views = String::from("product_id\tviews\n");
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for (_, p) in source_pairs().keys() {
            *counts.entry(p.clone()).or_default() += 1;
        }
        for (p, n) in &counts {
            views += &format!("{p}\t{n}\n");
        }
        write(&ds.join("views.tsv"), &views);
        write(
            &ds.join("copurchases.tsv"),
            "product_a\tproduct_b\tcount\np00\tp01\t1\np02\tp98\t2\n",
        );
        write(&ds.join("sellers.tsv"), "seller_id\tname\ns00\tTea Shop\n");
        write(
            &ds.join("vectors.tsv"),
            "product_id\tv1\tv2\np00\t0.5\t-1\n",
        );
        write(
            &ds.join("coviews.tsv"),
            "product_a\tproduct_b\tcount\np00\tp02\t1\n",
        );
        write(&ds.join("high_demand.tsv"), "product_id\np03\n");
        write(&ds.join("README.md"), "# fixture\n");
        ds
    }

    /// Data rows of an output TSV, after checking its header.
    fn rows(path: &Path, header: &str) -> Vec<Vec<String>> {
        let text = fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(header), "{}", path.display());
        lines
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    }

    fn pair_set(path: &Path, header: &str) -> BTreeSet<(String, String)> {
        let rows = rows(path, header);
        let set: BTreeSet<_> = rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
        assert_eq!(
            set.len(),
            rows.len(),
            "{}: a pair appears twice",
            path.display()
        );
        set
    }

    fn train_pairs(out: &Path) -> Vec<(String, String, i64)> {
        rows(&out.join("train/listings.tsv"), "seller_id\tproduct_id\tts")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[2].parse().unwrap()))
            .collect()
    }

    fn opts(mode: SplitMode, seed: u64) -> SplitOptions {
        SplitOptions {
            mode,
            seed,
            views_from_listings: true,
        }
    }

    fn files_in(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn cold_holds_out_every_listing_of_h() {
        let tmp = tempfile::tempdir().unwrap();
        let ds = dataset(tmp.path(), false);
        let out = tmp.path().join("out");
        let report = split(&ds, &out, &opts(SplitMode::Cold { share: 0.3 }, 1)).unwrap();

        let pairs = source_pairs();
        let mut sellers_of: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, p) in pairs.keys() {
            *sellers_of.entry(p).or_default() += 1;
        }
        let eligible = sellers_of.values().filter(|&&n| n >= 2).count();
        let h: BTreeSet<String> = rows(&out.join("train/high_demand.tsv"), "product_id")
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        assert_eq!(h.len(), (0.3 * eligible as f64).round() as usize);
        assert!(h.iter().all(|p| sellers_of[p.as_str()] >= 2));

        let train = pair_set(&out.join("train/listings.tsv"), "seller_id\tproduct_id\tts");
        let expected: BTreeSet<_> = pairs
            .keys()
            .filter(|(_, p)| !h.contains(p))
            .cloned()
            .collect();
        assert_eq!(train, expected, "train = every pair outside H");
        let kept: BTreeSet<&String> = train.iter().map(|(s, _)| s).collect();
        let heldout = pair_set(&out.join("heldout.tsv"), "seller_id\tproduct_id");
        let expected: BTreeSet<_> = pairs
            .keys()
            .filter(|(s, p)| h.contains(p) && kept.contains(s))
            .cloned()
            .collect();
        assert_eq!(
            heldout, expected,
            "held out = H's pairs of sellers with training"
        );
        assert!(heldout.is_disjoint(&train));

        assert_eq!(report.high_demand, Some(h.len() as u64));
        assert_eq!(report.candidates, h.len() as u64);
        assert_eq!(report.eligible_products, Some(eligible as u64));
        assert_eq!(report.train_pairs, train.len() as u64);
        assert_eq!(report.heldout_pairs, heldout.len() as u64);
        assert_eq!(
            report.train_pairs + report.heldout_pairs + report.excluded_pairs,
            pairs.len() as u64
        );
        assert_eq!(report.listing_rows, listing_rows().len() as u64);
        assert_eq!(report.listing_pairs, pairs.len() as u64);
        let json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(out.join("split.json")).unwrap()).unwrap();
        assert_eq!(json["mode"], "cold");
        assert_eq!(json["heldout_pairs"], heldout.len());

        // Unknown files and the dataset's own high-demand list stay behind.
        let expected: BTreeSet<String> = [
            "copurchases",
            "high_demand",
            "listings",
            "products",
            "sellers",
            "vectors",
            "views",
        ]
        .iter()
        .map(|s| format!("{s}.tsv"))
        .collect();
        assert_eq!(files_in(&out.join("train")), expected);
        assert_eq!(
            report.skipped,
            ["README.md", "coviews.tsv", "high_demand.tsv", "views.tsv"]
        );
        assert_eq!(
            fs::read(out.join("train/products.tsv")).unwrap(),
            fs::read(ds.join("products.tsv")).unwrap()
        );
    }

    #[test]
    fn cold_does_not_evaluate_sellers_left_without_listings() {
        let tmp = tempfile::tempdir().unwrap();
        let ds = dataset(tmp.path(), false);
        let out = tmp.path().join("out");
        // Every eligible product in H: s_popular lists only p00 and p07, both eligible.
        let report = split(&ds, &out, &opts(SplitMode::Cold { share: 1.0 }, 0)).unwrap();
        let heldout = pair_set(&out.join("heldout.tsv"), "seller_id\tproduct_id");
        let train = pair_set(&out.join("train/listings.tsv"), "seller_id\tproduct_id\tts");
        assert!(train.iter().all(|(s, _)| s != "s_popular"));
        assert!(heldout.iter().all(|(s, _)| s != "s_popular"));
        assert!(report.sellers_without_train >= 1);
        assert!(report.excluded_pairs >= 2);
        assert_eq!(
            report.sellers_evaluated,
            heldout
                .iter()
                .map(|(s, _)| s)
                .collect::<BTreeSet<_>>()
                .len() as u64
        );
    }

    #[test]
    fn temporal_respects_time() {
        let tmp = tempfile::tempdir().unwrap();
        let ds = dataset(tmp.path(), false);
        let out = tmp.path().join("out");
        let report = split(&ds, &out, &opts(SplitMode::temporal(), 0)).unwrap();
        let cutoff = report.cutoff.unwrap();
        let pairs = source_pairs();

        let train = train_pairs(&out);
        assert!(
            train
                .iter()
                .all(|(s, p, ts)| *ts <= cutoff && pairs[&(s.clone(), p.clone())] == *ts)
        );
        let heldout = pair_set(&out.join("heldout.tsv"), "seller_id\tproduct_id");
        assert!(heldout.iter().all(|pair| pairs[pair] > cutoff));
        let sellers: BTreeSet<&String> = train.iter().map(|(s, _, _)| s).collect();
        let products: BTreeSet<&String> = train.iter().map(|(_, p, _)| p).collect();
        let expected: BTreeSet<_> = pairs
            .iter()
            .filter(|((s, p), ts)| **ts > cutoff && sellers.contains(s) && products.contains(p))
            .map(|(pair, _)| pair.clone())
            .collect();
        assert_eq!(heldout, expected);
        assert!(!heldout.is_empty());
        // The cutoff is the 0.8 quantile of first-listing times.
        let share = train.len() as f64 / pairs.len() as f64;
        assert!(share >= 0.8, "{share}");
        assert!(
            pairs.values().filter(|&&t| t < cutoff).count()
                < (0.8 * pairs.len() as f64).ceil() as usize
        );
        assert!(!out.join("train/high_demand.tsv").exists());
        assert_eq!(
            report.candidates, 42,
            "40 listed products and 2 only in products.tsv"
        );

        let out = tmp.path().join("explicit");
        let at = SplitMode::Temporal {
            cutoff: Cutoff::At(1_200),
        };
        let report = split(&ds, &out, &opts(at, 0)).unwrap();
        assert_eq!(report.cutoff, Some(1_200));
        assert!(train_pairs(&out).iter().all(|(_, _, ts)| *ts <= 1_200));
    }

    #[test]
    fn temporal_needs_a_ts_on_every_listing() {
        let tmp = tempfile::tempdir().unwrap();
        let ds = tmp.path().join("ds");
        fs::create_dir(&ds).unwrap();
        write(
            &ds.join("listings.tsv"),
            "seller_id\tproduct_id\tts\ns1\tp1\t10\n\ns1\tp2\t\n",
        );
        let e = split(&ds, &tmp.path().join("a"), &opts(SplitMode::temporal(), 0)).unwrap_err();
        assert!(
            e.to_string()
                .contains("listings.tsv:4: listing without `ts`"),
            "{e}"
        );

        write(&ds.join("listings.tsv"), "seller_id\tproduct_id\ns1\tp1\n");
        let e = split(&ds, &tmp.path().join("b"), &opts(SplitMode::temporal(), 0)).unwrap_err();
        assert!(
            e.to_string()
                .contains("listings.tsv:1: the header has no `ts` column"),
            "{e}"
        );
    }

    #[test]
    fn random_holds_out_a_fifth_of_each_seller() {
        let tmp = tempfile::tempdir().unwrap();
        let ds = dataset(tmp.path(), false);
        let out = tmp.path().join("out");
        let report = split(&ds, &out, &opts(SplitMode::random(), 3)).unwrap();
        let pairs = source_pairs();
        let train = pair_set(&out.join("train/listings.tsv"), "seller_id\tproduct_id\tts");
        let heldout = pair_set(&out.join("heldout.tsv"), "seller_id\tproduct_id");
        assert!(train.is_disjoint(&heldout));
        assert_eq!(train.len() + heldout.len(), pairs.len());

        let mut per_seller: BTreeMap<&String, (usize, usize)> = BTreeMap::new();
        for (s, _) in pairs.keys() {
            per_seller.entry(s).or_default().0 += 1;
        }
        for (s, _) in &heldout {
            per_seller.get_mut(s).unwrap().1 += 1;
        }
        for (s, (n, held)) in per_seller {
            if n < 3 {
                assert_eq!(held, 0, "{s} has {n} listings");
            } else {
                assert_eq!(
                    held,
                    ((0.2 * n as f64).round() as usize).clamp(1, n - 1),
                    "{s}"
                );
            }
        }
        assert!(!out.join("train/high_demand.tsv").exists());
        assert_eq!(report.sellers_without_train, 0);
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_split() {
        let tmp = tempfile::tempdir().unwrap();
        let ds = dataset(tmp.path(), false);
        for mode in [SplitMode::Cold { share: 0.3 }, SplitMode::random()] {
            let run = |name: &str, seed: u64| {
                let out = tmp.path().join(format!("{}-{name}", mode.name()));
                split(&ds, &out, &opts(mode, seed)).unwrap();
                let mut files = BTreeMap::new();
                for f in ["heldout.tsv", "split.json"] {
                    files.insert(f.to_owned(), fs::read(out.join(f)).unwrap());
                }
                for f in files_in(&out.join("train")) {
                    files.insert(f.clone(), fs::read(out.join("train").join(&f)).unwrap());
                }
                files
            };
            let a = run("a", 1);
            assert_eq!(a, run("b", 1), "{}", mode.name());
            assert_ne!(
                a["heldout.tsv"],
                run("c", 2)["heldout.tsv"],
                "{}",
                mode.name()
            );
        }
    }

    #[test]
    fn gzip_crlf_and_blank_lines_read_like_plain() {
        let tmp = tempfile::tempdir().unwrap();
        let plain = dataset(&tmp.path().join("plain"), false);
        let gz = dataset(&tmp.path().join("gz"), true);
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        let ra = split(&plain, &a, &opts(SplitMode::cold(), 4)).unwrap();
        let rb = split(&gz, &b, &opts(SplitMode::cold(), 4)).unwrap();
        assert_eq!(ra, rb);
        for f in ["heldout.tsv", "train/listings.tsv", "train/high_demand.tsv"] {
            assert_eq!(
                fs::read(a.join(f)).unwrap(),
                fs::read(b.join(f)).unwrap(),
                "{f}"
            );
        }
    }

    #[test]
    fn views_are_recomputed_from_training_listings_or_copied() {
        let tmp = tempfile::tempdir().unwrap();
        let ds = dataset(tmp.path(), false);
        let out = tmp.path().join("recomputed");
        split(&ds, &out, &opts(SplitMode::cold(), 0)).unwrap();
        let mut counts: HashMap<String, u64> = HashMap::new();
        for (_, p, _) in train_pairs(&out) {
            *counts.entry(p).or_default() += 1;
        }
        let views: HashMap<String, u64> = rows(&out.join("train/views.tsv"), "product_id\tviews")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap()))
            .collect();
        assert_eq!(
            views, counts,
            "products without training listings are omitted"
        );

        let out = tmp.path().join("copied");
        let copy = SplitOptions {
            views_from_listings: false,
            ..opts(SplitMode::cold(), 0)
        };
        split(&ds, &out, &copy).unwrap();
        assert_eq!(
            fs::read(out.join("train/views.tsv")).unwrap(),
            fs::read(ds.join("views.tsv")).unwrap()
        );
    }

    #[test]
    fn refuses_a_used_output_folder_and_bad_options() {
        let tmp = tempfile::tempdir().unwrap();
        let ds = dataset(tmp.path(), false);
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        write(&out.join("old.tsv"), "x\n");
        let e = split(&ds, &out, &SplitOptions::default()).unwrap_err();
        assert!(matches!(e, SplitError::OutputNotEmpty(_)), "{e}");
        let e = split(
            &ds,
            &tmp.path().join("o2"),
            &opts(SplitMode::Cold { share: 0.0 }, 0),
        );
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("expected 0 < share ≤ 1")
        );
        let e = split(
            &tmp.path().join("none"),
            &tmp.path().join("o3"),
            &SplitOptions::default(),
        );
        assert!(matches!(e.unwrap_err(), SplitError::NoDataset(_)));
    }

    #[test]
    fn a_bad_listing_row_names_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let ds = tmp.path().join("ds");
        fs::create_dir(&ds).unwrap();
        write(
            &ds.join("listings.tsv"),
            "seller_id\tproduct_id\ns1\tp1\ns2\n",
        );
        let e = split(&ds, &tmp.path().join("o"), &SplitOptions::default()).unwrap_err();
        assert!(
            e.to_string().contains("listings.tsv:3: wrong column count"),
            "{e}"
        );
    }
}
