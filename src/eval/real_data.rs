//! Checks on the real datasets of `../shared/data` (outside the repository, so the tests are
//! ignored and skip a missing dataset). Run by hand:
//! `cargo test --release --lib eval::real_data -- --ignored --nocapture --test-threads 1`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::als::fit;
use super::dataset::Lines;
use super::{AlsOptions, Csr, SplitMode, SplitOptions, evaluate, split, stack_copurchases};

fn dataset(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    dir.is_dir().then_some(dir)
}

/// A split read back: ids interned in order of appearance.
#[derive(Default)]
struct Loaded {
    sellers: HashMap<String, u32>,
    products: HashMap<String, u32>,
    listings: Vec<(u32, u32, f32)>,
    copurchases: Vec<(u32, u32, f32)>,
    heldout: HashMap<u32, HashSet<u32>>,
    high_demand: Vec<u32>,
}

fn id(map: &mut HashMap<String, u32>, name: &str) -> u32 {
    let next = map.len() as u32;
    *map.entry(name.to_owned()).or_insert(next)
}

/// The data rows of a TSV file as fields.
fn each_row(path: &Path, mut f: impl FnMut(&[&str])) {
    let mut lines = Lines::open(path).unwrap();
    lines.next_line().unwrap();
    while let Some((_, text)) = lines.next_line().unwrap() {
        f(&text.split('\t').collect::<Vec<_>>());
    }
}

fn load(dataset: &Path, out: &Path) -> Loaded {
    let mut l = Loaded::default();
    // Products take ids in the dataset's order, not in held-out order: ties of equal scores
    // are broken by id, and held-out order would leak the answer into them.
    each_row(&dataset.join("products.tsv"), |r| {
        id(&mut l.products, r[0]);
    });
    each_row(&out.join("train/listings.tsv"), |r| {
        let (s, p) = (id(&mut l.sellers, r[0]), id(&mut l.products, r[1]));
        l.listings.push((s, p, 1.0));
    });
    each_row(&out.join("heldout.tsv"), |r| {
        let (s, p) = (id(&mut l.sellers, r[0]), id(&mut l.products, r[1]));
        l.heldout.entry(s).or_default().insert(p);
    });
    each_row(&out.join("train/copurchases.tsv"), |r| {
        let (a, b) = (id(&mut l.products, r[0]), id(&mut l.products, r[1]));
        l.copurchases.push((a, b, r[2].parse().unwrap()));
    });
    let high_demand = out.join("train/high_demand.tsv");
    if high_demand.exists() {
        each_row(&high_demand, |r| {
            let p = id(&mut l.products, r[0]);
            l.high_demand.push(p);
        });
    }
    l
}

fn check_dataset(name: &str) {
    let Some(ds) = dataset(name) else {
        eprintln!("{name}: not present, skipped");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for mode in [
        SplitMode::cold(),
        SplitMode::temporal(),
        SplitMode::random(),
    ] {
        let out = tmp.path().join(format!("{mode:?}"));
        let t = Instant::now();
        let opts = SplitOptions {
            mode,
            ..SplitOptions::default()
        };
        let report = split(&ds, &out, &opts).unwrap();
        eprintln!(
            "{name} {mode:?} in {:.2}s: {}",
            t.elapsed().as_secs_f64(),
            serde_json::to_string(&report).unwrap()
        );
        let l = load(&ds, &out);
        let train: HashSet<(u32, u32)> = l.listings.iter().map(|&(s, p, _)| (s, p)).collect();
        for (s, items) in &l.heldout {
            assert!(items.iter().all(|p| !train.contains(&(*s, *p))));
        }
    }

    let out = tmp.path().join("Cold { share: 0.1 }");
    let l = load(&ds, &out);
    let (sellers, products) = (l.sellers.len(), l.products.len());
    let listings = Csr::from_triplets(sellers, products, &l.listings);
    let candidates = &l.high_demand;
    let rank = |model: &super::AlsModel| -> HashMap<u32, Vec<u32>> {
        l.heldout
            .keys()
            .map(|&s| {
                let top = model.recommend(s, 100, &HashSet::new(), Some(candidates));
                (s, top.into_iter().map(|(p, _)| p).collect())
            })
            .collect()
    };
    // Plain ALS is not a baseline here: H has no listings, so its factors are all zero.
    let plain = fit(&listings, &AlsOptions::default());
    for &h in candidates {
        assert!(plain.item_factors.row(h as usize).iter().all(|&v| v == 0.0));
    }
    let variants = [
        ("stacked", 1.0, AlsOptions::default()),
        (
            "stacked a=10",
            1.0,
            AlsOptions {
                alpha: 10.0,
                ..AlsOptions::default()
            },
        ),
    ];
    for (label, weight, opts) in variants {
        let matrix = stack_copurchases(&listings, &l.copurchases, weight);
        let t = Instant::now();
        let model = fit(&matrix, &opts);
        let fit_time = t.elapsed().as_secs_f64();
        let metrics = evaluate(&rank(&model), &l.heldout, &[20, 100], candidates.len());
        eprintln!(
            "{name} cold ALS {label} ({} rows, {} nnz, d={}): fit {fit_time:.2}s, {:?}",
            matrix.rows(),
            matrix.nnz(),
            opts.factors,
            metrics.to_map()
        );
    }
}

#[test]
#[ignore = "reads ../shared/data, outside the repository"]
fn amazon_magazines_2018() {
    check_dataset("amazon_magazines_2018");
}

#[test]
#[ignore = "reads ../shared/data, outside the repository"]
fn amazon_grocery_2014() {
    check_dataset("amazon_grocery_2014");
}
