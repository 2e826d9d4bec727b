//! Quarterly drops: a dataset cut by listing time into one drop per calendar quarter, with each
//! quarter's held-out pairs (the next quarter's new listings), to replay a dataset through
//! `refresh` and evaluate it after every quarter (the temporal protocol).
//!
//! A listing pair goes to the quarter of its first `ts` (UTC). A product's `products.tsv` row
//! goes to the drop of its first listing (unlisted products to the first drop), a co-purchase
//! row to the drop where its later product first appears, and each drop's `views.tsv` counts
//! the drop's own listings per product (a dataset's views are usually counts of the same
//! interactions, so copying them would leak later quarters into earlier ones).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use serde::Serialize;

use super::dataset::{self, Lines, Listings, TsvWriter};
use super::error::SplitError;
use super::split::empty_output;
use crate::ingest::{FileKind, Row};

/// One quarter's drop, as written to `quarters.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuarterReport {
    /// The drop's name, e.g. `2016Q3` (the first drop is named for its last quarter).
    pub(crate) name: String,
    /// Listing pairs in the drop.
    pub(crate) listings: u64,
    /// Product descriptions in the drop.
    pub(crate) products: u64,
    /// Co-purchase rows in the drop.
    pub(crate) copurchases: u64,
    /// Pairs of the next quarter whose seller and product are known by the end of this one
    /// (`heldout/<name>.tsv`); `None` for the last quarter.
    pub(crate) heldout: Option<u64>,
}

/// Cuts `dataset` into `out/drops/<quarter>/` (each with a `_READY` marker),
/// `out/heldout/<quarter>.tsv` and `out/quarters.json`; `out` must not exist or be empty.
/// The quarters up to `from` (e.g. `2016Q1`) make up the first drop together.
pub fn quarters(
    dataset: &Path,
    out: &Path,
    from: Option<&str>,
) -> Result<Vec<QuarterReport>, SplitError> {
    let (listings_path, l) = Listings::of_dataset(dataset)?;
    if let Some(line) = l.missing_ts {
        return Err(SplitError::Bad {
            path: listings_path,
            line,
            reason: "no `ts`: quarterly drops need every listing's time".into(),
        });
    }
    let from = from.map(parse_quarter).transpose()?;

    // Drop of each pair: its quarter, or the first drop for quarters before `from`.
    let quarter_of = |p: &dataset::Pair| quarter(p.ts.expect("checked above"));
    let first = l.pairs.iter().map(quarter_of).min().expect("pairs exist");
    let start = from.map_or(first, |f| f.max(first));
    let drop_of = |q: (i64, u32)| q.max(start);
    let mut names: BTreeMap<(i64, u32), String> = BTreeMap::new();
    for p in &l.pairs {
        let q = quarter_of(p);
        let name = names.entry(drop_of(q)).or_default();
        // The first drop is named for the last quarter it holds.
        let label = label(q);
        if *name < label {
            *name = label;
        }
    }
    let order: Vec<(i64, u32)> = names.keys().copied().collect();
    let index: HashMap<(i64, u32), usize> =
        order.iter().enumerate().map(|(i, q)| (*q, i)).collect();
    let pair_drop: Vec<usize> = l
        .pairs
        .iter()
        .map(|p| index[&drop_of(quarter_of(p))])
        .collect();
    let mut seller_first = vec![usize::MAX; l.sellers.len()];
    let mut product_first = vec![usize::MAX; l.products.len()];
    for (p, &d) in l.pairs.iter().zip(&pair_drop) {
        let s = &mut seller_first[p.seller as usize];
        *s = (*s).min(d);
        let q = &mut product_first[p.product as usize];
        *q = (*q).min(d);
    }
    let first_drop_of = |id: &str| {
        l.product_index
            .get(id)
            .map_or(0, |&p| product_first[p as usize])
    };

    empty_output(out)?;
    let dirs: Vec<std::path::PathBuf> = names.values().map(|n| out.join("drops").join(n)).collect();
    for dir in &dirs {
        fs::create_dir_all(dir).map_err(|source| SplitError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    let mut reports: Vec<QuarterReport> = names
        .values()
        .map(|name| QuarterReport {
            name: name.clone(),
            listings: 0,
            products: 0,
            copurchases: 0,
            heldout: None,
        })
        .collect();

    // Listings and views, per drop.
    let mut writers = open_all(&dirs, "listings.tsv", "seller_id\tproduct_id\tts")?;
    let mut views: Vec<HashMap<u32, u64>> = vec![HashMap::new(); dirs.len()];
    for (p, &d) in l.pairs.iter().zip(&pair_drop) {
        writers[d].line(format_args!(
            "{}\t{}\t{}",
            l.sellers[p.seller as usize],
            l.products[p.product as usize],
            p.ts.expect("checked above")
        ))?;
        reports[d].listings += 1;
        *views[d].entry(p.product).or_default() += 1;
    }
    finish_all(writers)?;
    let mut writers = open_all(&dirs, "views.tsv", "product_id\tviews")?;
    for (w, counts) in writers.iter_mut().zip(&views) {
        let mut counts: Vec<(&u32, &u64)> = counts.iter().collect();
        counts.sort();
        for (p, v) in counts {
            w.line(format_args!("{}\t{v}", l.products[*p as usize]))?;
        }
    }
    finish_all(writers)?;

    // Product text in the drop of the product's first listing; co-purchases where their later
    // product first appears.
    for (kind, header) in [
        (
            FileKind::Products,
            "product_id\tcategory\ttitle\tattributes",
        ),
        (FileKind::Copurchases, "product_a\tproduct_b\tcount"),
    ] {
        let Some(src) = dataset::find(dataset, kind.stem())? else {
            continue;
        };
        let mut writers = open_all(&dirs, &format!("{}.tsv", kind.stem()), header)?;
        let mut lines = Lines::open(&src)?;
        let (h, _) = lines.header(kind)?;
        while let Some((line, text)) = lines.next_line()? {
            let bad = |reason| SplitError::Bad {
                path: src.clone(),
                line,
                reason,
            };
            match h.row(text).map_err(bad)? {
                Row::Product {
                    id,
                    category,
                    title,
                    attributes,
                } => {
                    let d = first_drop_of(id);
                    writers[d].line(format_args!("{id}\t{category}\t{title}\t{attributes}"))?;
                    reports[d].products += 1;
                }
                Row::Copurchase { a, b, count } => {
                    let d = first_drop_of(a).max(first_drop_of(b));
                    writers[d].line(format_args!("{a}\t{b}\t{count}"))?;
                    reports[d].copurchases += 1;
                }
                _ => unreachable!("the header parses rows of its kind"),
            }
        }
        finish_all(writers)?;
    }

    // Held-out pairs of drop t: the next drop's pairs between a seller and a product both
    // known by the end of drop t.
    let heldout_dir = out.join("heldout");
    fs::create_dir_all(&heldout_dir).map_err(|source| SplitError::Write {
        path: heldout_dir.clone(),
        source,
    })?;
    let last = reports.len() - 1;
    for (t, report) in reports.iter_mut().enumerate().take(last) {
        let mut w = TsvWriter::create(&heldout_dir.join(format!("{}.tsv", report.name)))?;
        w.line(format_args!("seller_id\tproduct_id"))?;
        let mut n = 0;
        for (p, &d) in l.pairs.iter().zip(&pair_drop) {
            if d == t + 1
                && seller_first[p.seller as usize] <= t
                && product_first[p.product as usize] <= t
            {
                w.line(format_args!(
                    "{}\t{}",
                    l.sellers[p.seller as usize], l.products[p.product as usize]
                ))?;
                n += 1;
            }
        }
        w.finish()?;
        report.heldout = Some(n);
    }

    for dir in &dirs {
        let ready = dir.join(crate::watch::READY);
        fs::write(&ready, "").map_err(|source| SplitError::Write {
            path: ready,
            source,
        })?;
    }
    let json_path = out.join("quarters.json");
    let json = serde_json::to_string_pretty(&reports).map_err(|e| SplitError::Write {
        path: json_path.clone(),
        source: std::io::Error::other(e),
    })?;
    fs::write(&json_path, json + "\n").map_err(|source| SplitError::Write {
        path: json_path,
        source,
    })?;
    Ok(reports)
}

fn open_all(
    dirs: &[std::path::PathBuf],
    file: &str,
    header: &str,
) -> Result<Vec<TsvWriter>, SplitError> {
    dirs.iter()
        .map(|d| {
            let mut w = TsvWriter::create(&d.join(file))?;
            w.line(format_args!("{header}"))?;
            Ok(w)
        })
        .collect()
}

fn finish_all(writers: Vec<TsvWriter>) -> Result<(), SplitError> {
    writers.into_iter().try_for_each(TsvWriter::finish)
}

/// The UTC calendar quarter (year, 1–4) of unix seconds.
fn quarter(ts: i64) -> (i64, u32) {
    let (year, month) = civil(ts.div_euclid(86_400));
    (year, (month - 1) / 3 + 1)
}

fn label((year, q): (i64, u32)) -> String {
    format!("{year:04}Q{q}")
}

fn parse_quarter(s: &str) -> Result<(i64, u32), SplitError> {
    s.split_once('Q')
        .and_then(|(y, q)| Some((y.parse().ok()?, q.parse().ok()?)))
        .filter(|(_, q): &(i64, u32)| (1..=4).contains(q))
        .ok_or_else(|| SplitError::Option(format!("quarter `{s}` (expected e.g. 2016Q1)")))
}

/// Year and month (1–12) of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_of_known_dates() {
        assert_eq!(quarter(0), (1970, 1));
        assert_eq!(quarter(1_004_054_400), (2001, 4)); // 2001-10-26
        assert_eq!(quarter(1_459_468_799), (2016, 1)); // 2016-03-31 23:59:59
        assert_eq!(quarter(1_459_468_800), (2016, 2)); // 2016-04-01
        assert_eq!(quarter(-1), (1969, 4));
        assert_eq!(parse_quarter("2016Q3").unwrap(), (2016, 3));
        assert!(parse_quarter("2016Q5").is_err());
    }

    #[test]
    fn drops_heldout_and_order() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        fs::create_dir_all(&data).unwrap();
        // 2015Q4, 2016Q1 (twice s1-p1: first ts counts), 2016Q2.
        fs::write(
            data.join("listings.tsv"),
            "seller_id\tproduct_id\tts\n\
             s1\tp1\t1446336000\n\
             s2\tp2\t1452000000\n\
             s1\tp1\t1453000000\n\
             s1\tp2\t1462000000\n\
             s3\tp3\t1462000000\n",
        )
        .unwrap();
        fs::write(
            data.join("products.tsv"),
            "product_id\tcategory\ttitle\np1\tA\tone\np2\tA\ttwo\np3\tB\tthree\np4\tB\tfour\n",
        )
        .unwrap();
        fs::write(
            data.join("copurchases.tsv"),
            "product_a\tproduct_b\tcount\np1\tp3\t2\n",
        )
        .unwrap();
        let out = tmp.path().join("out");
        let r = quarters(&data, &out, Some("2016Q1")).unwrap();
        let names: Vec<&str> = r.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, ["2016Q1", "2016Q2"]);
        assert_eq!((r[0].listings, r[0].products, r[0].copurchases), (2, 3, 0));
        assert_eq!((r[1].listings, r[1].products, r[1].copurchases), (2, 1, 1));
        // s1-p2 is new in 2016Q2 with both ends known; s3-p3 is not.
        assert_eq!(r[0].heldout, Some(1));
        let heldout = fs::read_to_string(out.join("heldout/2016Q1.tsv")).unwrap();
        assert_eq!(heldout, "seller_id\tproduct_id\ns1\tp2\n");
        assert!(out.join("drops/2016Q2/_READY").exists());
        let views = fs::read_to_string(out.join("drops/2016Q1/views.tsv")).unwrap();
        assert_eq!(views, "product_id\tviews\np1\t1\np2\t1\n");
    }
}
