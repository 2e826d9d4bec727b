//! What the commands print: text tables and reports on stdout, `--json` objects, and the eval
//! report files. **API boundary**: with the progress bars and the error line, the only output
//! of the program (besides `tracing` logs).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::checkpoint::CheckpointInfo;
use crate::eval::{self, QuarterReport, SplitReport, harness::EvalReport};
use crate::export::ExportSummary;
use crate::features::{FeaturizeSummary, SellerSummary};
use crate::import::ImportSummary;
use crate::index::Comparison;
use crate::index::stage::StageSummary;
use crate::ingest::{Outcome, Summary};
use crate::inspect::{self, Inspection, Product, Why};
use crate::model::{Selection, TrainSummary};
use crate::recommend::{Computed, RecommendSummary};
use crate::refresh::{self, Finished, Report};
use crate::serve::auth::{Issued, Listed};
use crate::stats::Stats;
use crate::store::{self, JobRecord, JobState, Namespace, RefreshStage, Store, TokenSubject};
use crate::verify;
use crate::watch::WatchSummary;

/// One JSON object on one line.
pub(super) fn json_line(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// One JSON value, indented.
pub(super) fn json_pretty(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `ingest`: one drop applied, or found applied before.
pub(super) fn ingested(dir: &Path, outcome: &Outcome) {
    match outcome {
        Outcome::AlreadyApplied { name, seq } => println!(
            "{}: already applied as drop #{seq} `{name}`; nothing to do",
            dir.display()
        ),
        Outcome::Applied(s) => applied(s),
    }
}

/// `train` (and a refresh's train stage): the model generation, its training and its score.
pub(super) fn trained(t: &TrainSummary) {
    if t.up_to_date {
        println!(
            "train: model generation {} is up to date (same drops, vectors and options); nothing to do",
            t.generation
        );
        return;
    }
    let first = t
        .epoch_losses
        .first()
        .map_or("-".into(), |l| format!("{l:.4}"));
    let last = t
        .epoch_losses
        .last()
        .map_or("-".into(), |l| format!("{l:.4}"));
    println!(
        "train: model generation {}{}{}: {} epochs over {} root edges in {:.1} s ({:.0} root edges/s); loss {first} → {last}; {} node embeddings written in {:.1} s",
        t.generation,
        if t.resumed { " (resumed)" } else { "" },
        if t.fine_tuned {
            " (fine-tuned from the previous model)"
        } else {
            ""
        },
        t.epochs,
        t.root_edges,
        t.train_seconds,
        t.root_edges as f64 * f64::from(t.epochs) / t.train_seconds.max(1e-9),
        t.nodes,
        t.infer_seconds,
    );
    if let Some(e) = &t.early_stopping {
        let recalls: Vec<String> = e
            .validation_recall
            .iter()
            .map(|r| format!("{r:.4}"))
            .collect();
        println!(
            "  epochs chosen on the validation products: the weights of epoch {} of {} trained (patience {}); Recall@100 of the cosine per epoch: {}",
            e.best_epoch,
            e.validation_recall.len(),
            e.patience,
            recalls.join(" ")
        );
    }
    selection(&t.selection);
}

/// `export`: the files written and what they were taken from.
pub(super) fn exported(s: &ExportSummary) {
    let m = &s.manifest;
    if s.up_to_date {
        println!(
            "export: {} already holds this export (same drops, vectors and model); nothing to do",
            s.out.display()
        );
        return;
    }
    let rows = |table: &str| -> u64 {
        m.files
            .iter()
            .filter(|f| f.table == table)
            .map(|f| f.rows)
            .sum()
    };
    println!(
        "export: {} sellers, {} products, {} listings, {} co-purchase edges (count ≥ {}, at most {} per product) in {} files of {} part(s){} to {}",
        rows("seller"),
        rows("product"),
        rows("lists"),
        rows("copurchase"),
        m.threshold,
        m.config.graph.copurchase_cap,
        m.files.len(),
        m.parts,
        match s.kept {
            0 => String::new(),
            n => format!(" ({n} kept from the interrupted run)"),
        },
        s.out.display()
    );
    println!(
        "  taken after {} drops, featurize run {}, model generation {}; the listings of {} validation products are left out for the score fit on import",
        m.drops, m.featurize_run, m.model_generation, m.held_products
    );
}

/// `import-embeddings`: the generation made active and its score.
pub(super) fn imported(s: &ImportSummary) {
    if s.up_to_date {
        println!(
            "import-embeddings: model generation {} already holds these embeddings; nothing to do",
            s.generation
        );
        return;
    }
    println!(
        "import-embeddings: model generation {}{} is active: {} seller and {} product vectors of {} dimensions from {} files; run `index` and `recommend` next",
        s.generation,
        if s.resumed { " (resumed)" } else { "" },
        s.sellers,
        s.products,
        s.dim,
        s.files
    );
    selection(&s.selection);
}

/// The score and the validation table it was chosen from.
pub(super) fn selection(s: &Selection) {
    let [a, w1, w2, w3, b] = s.score;
    println!("score = σ({a:.3}·cos {w1:+.3}·link₁ {w2:+.3}·link₂ {w3:+.3}·cat {b:+.3})");
    if s.table.is_empty() {
        println!("  (no validation products: the trained score, no link terms)");
        return;
    }
    println!(
        "  chosen on {} validation products ranked by {} sellers, among {} structures; best of each relation (validation Recall at {} / {} of {}, standing for @100 / @20):",
        s.products, s.sellers, s.tried, s.cutoffs[0], s.cutoffs[1], s.products
    );
    for t in &s.table {
        println!(
            "  {} {:.4} / {:.4}  {}",
            if t.chosen { "*" } else { " " },
            t.recall[0],
            t.recall[1],
            t.describe()
        );
    }
}

/// One drop applied: rows per file, new ids, rejects.
pub(super) fn applied(s: &Summary) {
    let r = &s.record;
    let applied: u64 = r.files.iter().map(|f| f.applied).sum();
    let files: Vec<String> = r
        .files
        .iter()
        .map(|f| {
            if f.rejected > 0 {
                format!("{} {} ({} rejected)", f.name, f.applied, f.rejected)
            } else {
                format!("{} {}", f.name, f.applied)
            }
        })
        .collect();
    let secs = s.elapsed.as_secs_f64();
    println!(
        "{}: {} drop #{} in {secs:.2} s ({:.0} rows/s): {}; {} new sellers, {} new products ({} without text)",
        r.name,
        if s.resumed {
            "finished interrupted"
        } else {
            "applied"
        },
        r.seq,
        applied as f64 / secs.max(1e-9),
        files.join(", "),
        r.new_sellers,
        r.new_products,
        r.products_without_text,
    );
    for rej in &s.rejects {
        println!("  rejected {}:{}: {}", rej.file, rej.line, rej.reason);
    }
    let total_rejected: u64 = r.files.iter().map(|f| f.rejected).sum();
    if let Some(path) = &s.rejects_file
        && total_rejected > s.rejects.len() as u64
    {
        println!(
            "  … {} rejected rows in all, listed in {}",
            total_rejected,
            path.display()
        );
    }
    if !s.ignored.is_empty() {
        println!("  ignored (not drop files): {}", s.ignored.join(", "));
    }
}

/// Product vectors computed.
pub(super) fn featurized(f: &FeaturizeSummary) {
    println!(
        "featurize: {} product vectors of dimension {} ({} recomputed, {} imported; IDF {}) in {:.2} s",
        f.products,
        f.dim,
        f.recomputed,
        f.imported,
        if f.idf_refreshed {
            "refreshed".to_string()
        } else {
            format!("kept, drift {:.4}", f.idf_drift)
        },
        f.elapsed.as_secs_f64()
    );
}

/// Seller vectors computed and the score calibrated.
pub(super) fn sellers(s: &SellerSummary) {
    let c = &s.calibration;
    println!(
        "sellers: {} seller vectors ({} recomputed) in {:.2} s; score = σ({:.2}·cos {:+.2}) fitted on {} + {} examples",
        s.sellers,
        s.recomputed,
        s.elapsed.as_secs_f64(),
        c.alpha,
        c.beta,
        c.positives,
        c.negatives
    );
}

/// A new index generation.
pub(super) fn indexed(s: &StageSummary) {
    if let Some(reason) = &s.repaired {
        println!(
            "index: generation {} was damaged ({reason}); rebuilt from the store",
            s.generation - 1
        );
    }
    println!(
        "index: generation {} with {} candidates ({}) in {} categories{} in {:.2} s",
        s.generation,
        s.candidates,
        if s.high_demand {
            "the high-demand list"
        } else {
            "every product: no high-demand list"
        },
        s.categories,
        if s.skipped > 0 {
            format!(", {} without a vector left out", s.skipped)
        } else {
            String::new()
        },
        s.elapsed.as_secs_f64()
    );
}

/// Every seller's lists stored.
pub(super) fn recommended(s: &RecommendSummary) {
    // The rate is of the sellers this run computed: a continued run did only the rest.
    let continued = match s.computed < s.sellers {
        true => format!(" ({} computed in this run)", s.computed),
        false => String::new(),
    };
    println!(
        "recommend: {} sellers{continued}, {} lists, {} recommendations ({} empty lists) in {:.2} s ({:.0} sellers/s)",
        s.sellers,
        s.lists,
        s.items,
        s.empty,
        s.elapsed.as_secs_f64(),
        s.computed as f64 / s.elapsed.as_secs_f64().max(1e-9)
    );
}

/// Prints what a refresh (or a watch's refresh) reports as it goes.
pub(super) fn refresh_event(event: refresh::Event) {
    match event {
        refresh::Event::AlreadyApplied { path, name, seq } => println!(
            "{}: already applied as drop #{seq} `{name}`; skipped",
            path.display()
        ),
        refresh::Event::Validated {
            name,
            rows,
            resumes,
        } => println!(
            "{name}: validated, {rows} rows{}",
            if resumes {
                "; continuing its interrupted ingest"
            } else {
                ""
            }
        ),
        refresh::Event::UpToDate { stage } => println!("{stage}: up to date"),
        refresh::Event::Checkpoint { info } => println!(
            "checkpoint: `{}` kept ({} drops); `demandlink restore --to {}` goes back to it",
            info.id, info.drops, info.id
        ),
        refresh::Event::Finished {
            stage,
            result,
            elapsed,
        } => match result {
            Finished::Ingest(drops) if drops.is_empty() => {
                println!("{stage}: no new drop ({:.2} s)", elapsed.as_secs_f64())
            }
            Finished::Ingest(drops) => drops.iter().for_each(applied),
            Finished::Featurize(f, s) => {
                featurized(f);
                sellers(s);
            }
            Finished::Train(None) => println!("train: the content model is served"),
            Finished::Train(Some(t)) => trained(t),
            Finished::Index(s) => indexed(s),
            Finished::IndexCurrent(g) => {
                println!("index: generation {g} already holds the current candidates; kept")
            }
            Finished::Recommend(s) => recommended(s),
        },
    }
}

/// The rows of `demandlink jobs`: the refresh stages in chain order.
pub(super) fn jobs(jobs: &[(RefreshStage, JobRecord)], json: bool) -> Result<()> {
    let order = refresh::stage_order();
    let mut jobs: Vec<&(RefreshStage, JobRecord)> = jobs.iter().collect();
    jobs.sort_by_key(|(stage, _)| order.iter().position(|s| s == stage));
    if json {
        let rows: Vec<serde_json::Value> = jobs
            .iter()
            .map(|(stage, r)| {
                let mut row = serde_json::json!({
                    "stage": stage.name(),
                    "state": job_state_label(&r.state),
                    "drop": r.drop,
                    "started_at": r.started_at,
                    "ended_at": r.ended_at,
                });
                match &r.state {
                    JobState::Running {
                        pid,
                        phase,
                        done,
                        total,
                    } => {
                        row["pid"] = serde_json::json!(pid);
                        row["progress"] =
                            serde_json::json!({"phase": phase, "done": done, "total": total});
                    }
                    JobState::Failed { error } => row["error"] = serde_json::json!(error),
                    _ => {}
                }
                row
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if jobs.is_empty() {
        println!("no refresh has run on this database yet");
    }
    for (stage, r) in jobs {
        let detail = match &r.state {
            JobState::Running {
                pid,
                phase,
                done,
                total,
            } => format!("pid {pid}, {phase} {done}/{total}"),
            JobState::Failed { error } => format!("error: {error}"),
            _ => String::new(),
        };
        let time = |t: Option<u64>| t.map_or("-".to_string(), |t| format!("unix {t}"));
        println!(
            "{:<10} {:<12} drop #{:<4} started {:<16} ended {:<16} {detail}",
            stage.name(),
            job_state_label(&r.state),
            r.drop,
            time(r.started_at),
            time(r.ended_at),
        );
    }
    Ok(())
}

/// A job's state in one word; a running job whose process is gone was killed.
fn job_state_label(state: &JobState) -> &'static str {
    match state {
        JobState::Pending => "pending",
        JobState::Running { pid, .. } if store::process_gone(*pid) => "killed",
        JobState::Running { .. } => "running",
        JobState::Done => "done",
        JobState::Failed { .. } => "failed",
        JobState::Interrupted => "interrupted",
    }
}

/// `inspect`: the seller, its anchors, and each recommendation with why.
pub(super) fn inspection(i: &Inspection) {
    println!(
        "seller {}{}",
        i.seller,
        i.name
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    );
    println!(
        "primary category: {} (from {}); {} listings",
        category_label(&i.primary_category),
        i.primary_category_source,
        i.listings
    );
    let cats: Vec<String> = match i.categories.as_slice() {
        [only] if only.category.is_empty() => {
            vec![format!("none ({} listings without one)", only.listings)]
        }
        all => all
            .iter()
            .map(|c| format!("{} {}", category_label(&c.category), c.listings))
            .collect(),
    };
    println!("categories: {}", cats.join(", "));
    println!("anchor products (weight in the seller vector):");
    for a in &i.anchors {
        println!("  {:.3}  {}", a.weight, product_label(&a.product));
    }
    let when = i
        .computed_at
        .map_or("not stored yet (computed now)".to_string(), |t| {
            format!("computed at unix {t}")
        });
    println!(
        "recommendations for {}: model {} (generation {}), index generation {}, k {}, threshold {}, {}",
        category_label(&i.category),
        i.model,
        i.model_generation,
        i.index_generation
            .map_or("-".to_string(), |g| g.to_string()),
        i.k,
        i.threshold,
        when
    );
    if let Some(score) = &i.score {
        selection(score);
    }
    let d = i.score_decimals;
    for r in &i.recommendations {
        println!(
            "{:>4}  {:.d$}  {}  [{}]",
            r.rank,
            r.score,
            product_label(&r.product),
            category_label(&r.product.category)
        );
        why(&r.why, i.listings);
    }
    if !i.excluded_already_listed.is_empty() {
        let ex: Vec<&str> = i
            .excluded_already_listed
            .iter()
            .map(|p| p.product.as_str())
            .collect();
        println!("excluded (already listed): {}", ex.join(", "));
    }
}

/// One recommendation's reasons, a kind per block: the label, then one reason per line.
fn why(w: &Why, listings: u32) {
    let reasons = |label: &str, lines: Vec<String>| {
        for (n, line) in lines.iter().enumerate() {
            println!("        {:<13} {line}", if n == 0 { label } else { "" });
        }
    };
    let mut bought: Vec<String> = w
        .copurchased_with
        .iter()
        .map(|c| {
            format!(
                "{:<5} {}",
                format!("×{}", c.count),
                product_label(&c.product)
            )
        })
        .collect();
    if w.copurchased_more > 0 {
        bought.push(format!("and {} more", w.copurchased_more));
    }
    reasons("bought with", bought);
    let category = match (&w.category.name, w.category.listings) {
        (None, _) => "no category".to_string(),
        (Some(_), 0) => format!("none of the {listings} listings share it"),
        (Some(_), n) => format!("{n} of the {listings} listings share it"),
    };
    reasons("category", vec![category]);
    let similar = w
        .similar_listed
        .iter()
        .map(|s| format!("{:<5.2} {}", s.cosine, product_label(&s.product)))
        .collect();
    reasons("similar to", similar);
}

/// A product's id, then its title when it has one.
fn product_label(p: &Product) -> String {
    match p.title.is_empty() {
        true => p.product.clone(),
        false => format!("{:<12} {}", p.product, p.title),
    }
}

/// A category name, or "no category" for the empty one (products without a category path).
fn category_label(category: &str) -> &str {
    match category.is_empty() {
        true => "no category",
        false => category,
    }
}

/// `stats`: counts, one per line.
pub(super) fn stats(s: &Stats) {
    let p = &s.products;
    println!("sellers                 {}", s.sellers);
    println!(
        "products                {} (listed {}, high-demand {}, auxiliary {}, without text {})",
        p.total, p.listed, p.high_demand, p.auxiliary, p.without_text
    );
    println!("listing edges           {}", s.listings);
    println!(
        "co-purchase pairs       {} ({} with count ≥ {})",
        s.copurchase_pairs, s.copurchase_pairs_above_threshold, s.copurchase_threshold
    );
    println!(
        "views                   {} over {} period(s), {} products viewed",
        s.views.total, s.views.periods, s.views.products_with_views
    );
    println!("sparsity                {:.6}", s.sparsity);
    let d = &s.listings_per_seller;
    println!(
        "listings per seller     median {}, p90 {}, max {}",
        d.median, d.p90, d.max
    );
    for drop in &s.drops {
        let rows: u64 = drop.files.iter().map(|f| f.applied).sum();
        let rejected: u64 = drop.files.iter().map(|f| f.rejected).sum();
        println!(
            "drop #{:<3} {:<20} {:<9} {} rows, {} rejected",
            drop.seq, drop.name, drop.state, rows, rejected
        );
    }
}

/// `recommend --seller`: the seller's lists, one line per recommendation.
pub(super) fn seller_lists(
    store: &Store,
    external: &str,
    model: &str,
    lists: &[Computed],
) -> Result<()> {
    for c in lists {
        println!(
            "{external} — {} ({} recommendations, model {model})",
            c.category,
            c.list.items.len(),
        );
        let scores: Vec<f32> = c.list.items.iter().map(|i| i.score).collect();
        let d = inspect::score_decimals(&scores);
        for (rank, item) in c.list.items.iter().enumerate() {
            let text = store.product_text(item.product)?.unwrap_or_default();
            println!(
                "{:>4}  {:.d$}  {:<12} {}",
                rank + 1,
                item.score,
                store.external(Namespace::Product, item.product)?,
                text.title
            );
        }
    }
    Ok(())
}

/// `index check`: the ANN index's recall at `k` against exact search, and latencies.
pub(super) fn index_check(c: &Comparison, k: usize, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "sellers": c.queries,
                format!("ann_recall@{k}"): c.recall,
                "ann_ms_per_query": c.ann_ms_per_query,
                "exact_ms_per_query": c.exact_ms_per_query,
            })
        );
    } else {
        println!(
            "index check: {} sellers, ANN recall@{k} {:.4} against exact search; {:.3} ms per query (exact {:.3} ms)",
            c.queries, c.recall, c.ann_ms_per_query, c.exact_ms_per_query
        );
    }
}

/// `split --mode quarterly`: the drops written and how to use them.
pub(super) fn quarters(r: &[QuarterReport], out: &Path) -> Result<()> {
    json_pretty(&r)?;
    println!(
        "{} quarterly drops written to {}/drops (apply them in name order with refresh); \
         after each, evaluate with --heldout {}/heldout/<drop>.tsv",
        r.len(),
        out.display(),
        out.display()
    );
    Ok(())
}

/// `split`: the split's report and how to use it.
pub(super) fn split(r: &SplitReport, out: &Path) -> Result<()> {
    json_pretty(r)?;
    println!(
        "split written to {}: ingest {}/train, then evaluate with --heldout {}/heldout.tsv",
        out.display(),
        out.display(),
        out.display()
    );
    Ok(())
}

/// `eval --report FILE`: a Markdown report at `path` with the Recall@K plot beside it
/// (`FILE.svg`).
pub(super) fn eval_report(
    path: &Path,
    db: &Path,
    heldout: &Path,
    r: &EvalReport,
    k: &[usize],
) -> Result<()> {
    let svg = path.with_extension("svg");
    std::fs::write(&svg, eval::report::recall_svg(r, k))
        .with_context(|| format!("cannot write {}", svg.display()))?;
    let md = format!(
        "# Evaluation\n\nDatabase `{}`, held-out pairs `{}`: {} sellers, {} candidates, {} pairs ({} skipped).\n\n{}\n\n![Recall@K]({})\n\n## Ablation\n\n{}\n",
        db.display(),
        heldout.display(),
        r.sellers,
        r.candidates,
        r.heldout_pairs,
        r.heldout_skipped,
        eval::report::methods_table(r, k),
        svg.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        eval::report::ablation_table(r, k),
    );
    std::fs::write(path, md).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// `eval --json`: metrics of the model and each baseline, timings, and the ablation if asked.
pub(super) fn eval_json(r: &EvalReport, ablation: bool) -> Result<()> {
    let baselines: serde_json::Map<String, serde_json::Value> = r
        .baselines
        .iter()
        .map(|(n, m)| {
            (
                n.clone(),
                serde_json::to_value(&m.metrics).unwrap_or_default(),
            )
        })
        .collect();
    let mut out = serde_json::json!({
        "model": r.model,
        "sellers": r.sellers,
        "candidates": r.candidates,
        "metrics": r.metrics,
        "baselines": baselines,
        "timings": eval::report::methods(r).iter().map(|(n, m)| (n.clone(), serde_json::json!({"train_seconds": m.train_seconds, "rank_seconds": m.rank_seconds, "peak_rss_mib": m.peak_rss_mib}))).collect::<serde_json::Map<_, _>>(),
    });
    if ablation {
        out["ablation"] = eval::report::ablation_json(r);
    }
    json_pretty(&out)
}

/// `eval`: the headline Recall@K, the methods table (with baselines) and the ablation table.
pub(super) fn eval_text(r: &EvalReport, k: &[usize], baselines: bool, ablation: bool) {
    println!(
        "eval: {} sellers, {} candidates, {} held-out pairs ({} skipped)",
        r.sellers, r.candidates, r.heldout_pairs, r.heldout_skipped
    );
    let max = k.iter().max().copied().unwrap_or(100);
    println!(
        "Recall@{max} = {:.4} (model {})",
        r.metrics
            .get(&format!("recall@{max}"))
            .copied()
            .unwrap_or(0.0),
        r.model
    );
    if baselines {
        println!("{}", eval::report::methods_table(r, k));
    }
    if ablation {
        println!("\nablation:\n{}", eval::report::ablation_table(r, k));
    }
}

/// `serve`: where the portal listens.
pub(super) fn serving(db: &Path, bound: SocketAddr) {
    println!("serving {} on http://{bound}/", db.display());
}

/// `refresh`: what the run did.
pub(super) fn refreshed(r: &Report) {
    if r.stages_run == 0 {
        println!(
            "refresh: nothing to do: no new drop, every stage is up to date (latest drop #{})",
            r.last_drop
        );
    } else {
        println!(
            "refresh: done ({} drop(s) applied, {} stage(s) run; latest drop #{})",
            r.drops_applied, r.stages_run, r.last_drop
        );
    }
}

/// `watch`: what it did before it stopped.
pub(super) fn watched(s: &WatchSummary) {
    println!(
        "watch: stopped; {} drop(s) refreshed, {} failed",
        s.refreshed, s.failed
    );
}

/// `tokens issue`: the secret alone on stdout, so `$(demandlink tokens issue …)` captures it.
pub(super) fn token_issued(issued: &Issued) {
    println!("{}", issued.secret);
    eprintln!(
        "token {} issued; it is shown only now (only its hash is stored)",
        issued.id
    );
}

/// `tokens revoke`.
pub(super) fn token_revoked(t: &Listed) {
    println!("token {} ({}) revoked", t.id, subject_label(&t.subject));
}

/// `tokens list`: id, subject, issue and revocation times (never the secrets).
pub(super) fn tokens(tokens: &[Listed], json: bool) -> Result<()> {
    if json {
        let rows: Vec<serde_json::Value> = tokens
            .iter()
            .map(|t| {
                serde_json::json!({
                    "id": t.id,
                    "seller": match &t.subject {
                        TokenSubject::Seller(s) => Some(s),
                        TokenSubject::Operator => None,
                    },
                    "operator": t.subject == TokenSubject::Operator,
                    "created_at": t.created_at,
                    "revoked_at": t.revoked_at,
                })
            })
            .collect();
        return json_pretty(&rows);
    }
    for t in tokens {
        println!(
            "{}  {:<20} issued at unix {}{}",
            t.id,
            subject_label(&t.subject),
            t.created_at,
            t.revoked_at
                .map_or(String::new(), |r| format!(", revoked at unix {r}"))
        );
    }
    Ok(())
}

/// Whom a token reads for.
fn subject_label(subject: &TokenSubject) -> String {
    match subject {
        TokenSubject::Seller(s) => format!("seller {s}"),
        TokenSubject::Operator => "operator".into(),
    }
}

/// `dump`: every record of the store, one line per key.
pub(super) fn dump(store: &Store) -> Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    store.dump(&mut out)?;
    out.flush()?;
    Ok(())
}

/// `verify`: every part with what it checked and what is wrong.
pub(super) fn verified(r: &verify::Report, json: bool) -> Result<()> {
    if json {
        return json_pretty(&serde_json::json!({ "whole": r.whole(), "parts": r.parts }));
    }
    for part in &r.parts {
        let verdict = match part.problems.len() {
            0 => "ok".to_string(),
            n => format!("{n} problem(s)"),
        };
        println!("{}: {verdict}", part.name);
        for line in &part.checked {
            println!("  checked  {line}");
        }
        for line in &part.problems {
            println!("  WRONG    {line}");
        }
    }
    println!("verify: {}", if r.whole() { "whole" } else { "damaged" });
    Ok(())
}

/// `checkpoints`: one line per checkpoint, oldest first.
pub(super) fn checkpoints(list: &[CheckpointInfo], json: bool) -> Result<()> {
    if json {
        let rows: Vec<_> = list
            .iter()
            .map(|c| serde_json::json!({ "checkpoint": c, "bytes": c.bytes }))
            .collect();
        return json_pretty(&rows);
    }
    if list.is_empty() {
        println!("no checkpoints (refresh takes one before it applies a new drop)");
    }
    for c in list {
        println!(
            "{:<16} taken {} (unix {}), {} drops, index generation {}, {:.1} MB",
            c.id,
            age(c.created_at),
            c.created_at,
            c.drops,
            c.index_generation
                .map_or("none".to_string(), |g| g.to_string()),
            c.bytes as f64 / 1e6
        );
    }
    Ok(())
}

/// How long ago a unix time was, roughly.
fn age(unix: u64) -> String {
    let secs = crate::clock::unix_secs().saturating_sub(unix);
    match secs {
        0..120 => format!("{secs} s ago"),
        120..7200 => format!("{} min ago", secs / 60),
        7200..172_800 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// `restore`: where the database is now.
pub(super) fn restored(db: &Path, c: &CheckpointInfo) {
    println!(
        "restore: {} is back to checkpoint `{}` ({} drops, index generation {})",
        db.display(),
        c.id,
        c.drops,
        c.index_generation
            .map_or("none".to_string(), |g| g.to_string())
    );
}
