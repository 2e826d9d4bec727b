//! Micro-benchmarks of the hot kernels, on a real database: the sample drops `data/q1` and
//! `data/q2` run once per bench run through the binary (`ingest`, `featurize`, `train
//! --epochs 2`, `index`) in a temporary folder, then each kernel is timed through the
//! library on what that built.
//!
//! `cargo bench --bench kernels` (add a name to run a subset, e.g. `-- sample/`). The
//! sample data is small (150 sellers, 1.3 k products): these figures compare kernels and
//! builds with each other, they are not the costs of a full-size run.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::ArrayView1;

use demandlink::features::{SellerOptions, TextModel, weighted_mean};
use demandlink::index::{Ann, ArroyIndex, ArroyReader, BuildOptions};
use demandlink::model::sample::{Sampler, root_edges};
use demandlink::model::train::noise_table;
use demandlink::model::{Graph, IdentityRows, ModelConfig, Trainer};
use demandlink::progress::NoProgress;
use demandlink::rng::Stream;
use demandlink::store::{Id, IndexFiles, ModelRecord, Namespace, OpenMode, Store};
use demandlink::vectors::ActiveModel;

/// Results per nearest-neighbour query.
const K: usize = 100;

/// Root edges per sampled batch (the default `--batch`).
const BATCH: usize = 128;

/// The database built from the sample drops, open read-only, and what every bench reads.
struct Fixture {
    store: Store,
    /// Sellers with at least one listing, ascending.
    sellers: Vec<Id>,
    /// The external ids of `sellers`.
    external: Vec<String>,
    /// The active (graph) model's vector of each seller that has a usable one.
    queries: Vec<Vec<f32>>,
    /// Removed last, after the store has closed.
    dir: tempfile::TempDir,
}

/// Runs `demandlink ARGS --db DB`, failing with its output when it fails.
fn demandlink(args: &[&str], db: &Path) -> Result<()> {
    let out = Command::new(env!("CARGO_BIN_EXE_demandlink"))
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .with_context(|| format!("running demandlink {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "demandlink {} failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Builds the database from the sample drops with the binary and opens it read-only.
fn setup() -> Result<Fixture> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("db");
    let folder = |name: &str| data.join(name).to_string_lossy().into_owned();
    demandlink(&["ingest", &folder("q1"), &folder("q2")], &db)?;
    demandlink(&["featurize"], &db)?;
    demandlink(&["train", "--epochs", "2"], &db)?;
    demandlink(&["index"], &db)?;

    let store = Store::open(&db, OpenMode::ReadOnly)?;
    let mut sellers = Vec::new();
    store.for_each_listing(|s, _, _| {
        if sellers.last() != Some(&s) {
            sellers.push(s);
        }
    })?;
    let external = sellers
        .iter()
        .map(|&s| store.external(Namespace::Seller, s))
        .collect::<Result<Vec<_>, _>>()?;
    let model = ActiveModel::load(&store)?.context("no active model after train")?;
    let mut queries = Vec::new();
    for &s in &sellers {
        if let Some(v) = model.seller(&store, s)?
            && v.iter().any(|&x| x != 0.0)
        {
            queries.push(v);
        }
    }
    ensure!(!queries.is_empty(), "no seller has a vector");
    Ok(Fixture {
        store,
        sellers,
        external,
        queries,
        dir,
    })
}

/// The `i`-th item of `items`, cycling: each iteration of a bench takes the next one.
fn cycle<'a, T>(items: &'a [T], i: &mut usize) -> &'a T {
    let item = &items[*i % items.len()];
    *i += 1;
    item
}

/// `store/listings_of`: one seller's listings, a prefix scan over the big-endian
/// `(seller, product)` keys of `listings_by_seller` with each value decoded, cycling through
/// every seller. `store/lookup`: one external seller id to its internal id, a point read of
/// the `ids` key (namespace tag + external id), cycling likewise.
fn store_reads(c: &mut Criterion, f: &Fixture) {
    let mut i = 0;
    c.bench_function("store/listings_of", |b| {
        b.iter(|| f.store.listings_of(*cycle(&f.sellers, &mut i)).unwrap())
    });
    let mut i = 0;
    c.bench_function("store/lookup", |b| {
        b.iter(|| {
            let id = cycle(&f.external, &mut i);
            f.store.lookup(Namespace::Seller, id).unwrap()
        })
    });
}

/// `sample/batch_128`: the blocks and pairs of one mini-batch of 128 root edges under the
/// default model configuration — negatives, coldness, and 2 hops of neighbour sampling over
/// the CSR graph — with one generator carried across iterations.
fn sampling(c: &mut Criterion, graph: &Graph, cfg: &ModelConfig) {
    let roots = root_edges(graph, cfg);
    assert!(roots.len() >= BATCH, "only {} root edges", roots.len());
    let sampler = Sampler::new(graph, cfg);
    let mut rng = Stream::BENCH_SAMPLES.rng(cfg.seed, &[]);
    c.bench_function("sample/batch_128", |b| {
        b.iter(|| sampler.sample(&roots[..BATCH], BATCH, &mut rng))
    });
}

/// `train/step_128`: one training batch — sampling, forward, backward, Adam and AdaGrad
/// updates — over the default 4 shards in parallel, starting from fresh weights and running
/// on through the epochs (each of which ends with a partial batch: the sample has 437 root
/// edges). The inputs are the noise table plus each product's text vector, as
/// `train` builds them (without its unit-length noise for products that have no text).
fn train_step(c: &mut Criterion, f: &Fixture, graph: &Graph, cfg: &ModelConfig) -> Result<()> {
    let dims = f
        .store
        .model::<TextModel>(ModelRecord::Text)?
        .context("no text model after featurize")?
        .config
        .dim;
    let mut base = noise_table(cfg, dims, graph.nodes());
    f.store.for_each_feature(|p, feature| {
        let node = graph.product_node(p) as usize;
        if feature.vector.len() == dims {
            base.row_mut(node)
                .scaled_add(1.0, &ArrayView1::from(&feature.vector[..]));
        }
    })?;
    let rows = IdentityRows::zeros(base.nrows(), base.ncols());
    let state = Trainer::fresh_state(cfg, dims);
    let mut trainer = Trainer::new(graph, cfg, state, base, rows, None);
    c.bench_function("train/step_128", |b| b.iter(|| trainer.step()));
    Ok(())
}

/// `features/seller_mean`: one seller's vector, the view-weighted mean of the text vectors
/// of its listed products, with the weights `featurize` uses (views over the default window,
/// all 1 when none has views), cycling through every seller. Gathering the inputs is not
/// timed.
fn seller_mean(c: &mut Criterion, f: &Fixture) -> Result<()> {
    let products = f.store.entity_count(Namespace::Product)? as usize;
    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; products];
    f.store
        .for_each_feature(|p, feature| vectors[p as usize] = Some(feature.vector))?;
    let dim = vectors.iter().flatten().next().map_or(0, Vec::len);
    let latest = f.store.next_drop_seq()?.saturating_sub(1);
    let first = latest
        .saturating_sub(SellerOptions::default().window - 1)
        .max(1);
    let mut views = vec![0u64; products];
    f.store.for_each_views(|p, period, v| {
        if (first..=latest).contains(&period) {
            views[p as usize] += v;
        }
    })?;
    let mut inputs = Vec::new();
    for &s in &f.sellers {
        let listed: Vec<Id> = f
            .store
            .listings_of(s)?
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let any_views = listed.iter().any(|&p| views[p as usize] > 0);
        inputs.push(
            listed
                .iter()
                .map(|&p| {
                    let w = if any_views {
                        views[p as usize] as f64
                    } else {
                        1.0
                    };
                    (w, vectors[p as usize].as_deref())
                })
                .collect::<Vec<_>>(),
        );
    }
    let mut i = 0;
    c.bench_function("features/seller_mean", |b| {
        b.iter(|| weighted_mean(dim, cycle(&inputs, &mut i).iter().copied()))
    });
    Ok(())
}

/// `index/arroy_query_k100`: the 100 nearest candidates over all categories of one seller's
/// vector, from the generation `demandlink index` built and activated (the graph model's
/// vectors of the high-demand list), cycling through the sellers' vectors. The sample's
/// candidates are fewer than the query's search width (`100 × n_trees × search_k_factor`),
/// so `ArroyReader` answers every sample query by scanning the stored vectors (exact).
///
/// `index/arroy_trees_k100`: the same queries against an index of every product vector of
/// the active model built here with 4 trees and search factor 1, so that the search width
/// (400) is below the item count and the query walks arroy's trees.
fn index_queries(c: &mut Criterion, f: &Fixture) -> Result<()> {
    let (generation, _) = f.store.active_index()?.context("no active index")?;
    let record = f.store.model::<IndexFiles>(ModelRecord::IndexFiles)?;
    let reader = demandlink::index::open_reader(&f.store.index_dir(), generation, record.as_ref())?;
    query_bench(c, "index/arroy_query_k100", &reader, &f.queries)?;

    let model = ActiveModel::load(&f.store)?.context("no active model")?;
    let mut items = Vec::new();
    model.for_each_product(&f.store, |p, v| {
        if v.iter().any(|&x| x != 0.0) {
            items.push((p, String::new(), v));
        }
    })?;
    let dims = items.first().map_or(0, |(_, _, v)| v.len());
    let n_trees = 4;
    ensure!(
        K * n_trees < items.len(),
        "{} products: too few for a tree search",
        items.len()
    );
    let trees = ArroyIndex::open(&f.dir.path().join("trees"))?;
    let opts = BuildOptions {
        n_trees: Some(n_trees),
        seed: 0,
        search_k_factor: 1,
    };
    trees.build(1, dims, items, &opts, &NoProgress, &AtomicBool::new(false))?;
    query_bench(c, "index/arroy_trees_k100", &trees.reader(1)?, &f.queries)
}

/// Benches `reader.nearest(None, query, K)` cycling through `queries`, after checking that
/// one answers `K` results.
fn query_bench(
    c: &mut Criterion,
    id: &str,
    reader: &ArroyReader,
    queries: &[Vec<f32>],
) -> Result<()> {
    let found = reader.nearest(None, &queries[0], K)?.len();
    ensure!(found == K.min(reader.len(None)), "{id}: {found} results");
    let mut i = 0;
    c.bench_function(id, |b| {
        b.iter(|| {
            reader
                .nearest(None, cycle(queries, &mut i).as_slice(), K)
                .unwrap()
        })
    });
    Ok(())
}

/// Every benchmark, on one database built once.
fn kernels(c: &mut Criterion) {
    if let Err(e) = all(c) {
        panic!("{e:#}");
    }
}

/// [`kernels`], with errors as values.
fn all(c: &mut Criterion) -> Result<()> {
    let f = setup().context("building the sample database")?;
    let cfg = ModelConfig::default();
    let graph = Graph::load(&f.store, &cfg.graph)?;
    store_reads(c, &f);
    sampling(c, &graph, &cfg);
    train_step(c, &f, &graph, &cfg)?;
    seller_mean(c, &f)?;
    index_queries(c, &f)
}

criterion_group! {
    name = benches;
    // Seven benchmarks at ~4.5 s each, plus a few seconds of setup: about 35 s in all.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = kernels
}
criterion_main!(benches);
