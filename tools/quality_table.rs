//! Tables of Recall@K over several cold splits, from the `eval.json` files `tools/quality.sh`
//! (or `tools/model_eval.sh`) writes: per dataset, every method's mean ± standard error over
//! the splits, and the model's paired difference from the best baseline at each K.
//!
//! Usage: `cargo run --release --example quality_table -- DATASET=DIR/eval.json[,DIR/eval.json…] …`
//! (one argument per dataset: its name, `=`, its splits' files), or
//! `… -- --ablation LABEL=VARIANT_FILES|DEFAULT_FILES …`: one row per variant, its model's
//! Recall@K minus the default model's, paired by split (the files in the same split order).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::Value;

const KS: [usize; 4] = [10, 20, 50, 100];

/// Recall@K per method (the model first) of one split.
type Split = BTreeMap<String, [f64; 4]>;

fn read(path: &str) -> Result<Split> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let json: Value = serde_json::from_str(&text).with_context(|| format!("{path}: not JSON"))?;
    let recalls = |metrics: &Value| -> Result<[f64; 4]> {
        let mut out = [0.0; 4];
        for (o, k) in out.iter_mut().zip(KS) {
            *o = metrics[format!("recall@{k}")]
                .as_f64()
                .with_context(|| format!("{path}: no recall@{k}"))?;
        }
        Ok(out)
    };
    let mut split = Split::new();
    split.insert("model".into(), recalls(&json["metrics"])?);
    if let Some(baselines) = json["baselines"].as_object() {
        for (name, b) in baselines {
            let metrics = b.get("metrics").unwrap_or(b);
            split.insert(name.clone(), recalls(metrics)?);
        }
    }
    Ok(split)
}

/// Mean and standard error of the mean.
fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

fn table(name: &str, splits: &[Split]) {
    let methods: Vec<&String> = splits[0].keys().collect();
    println!(
        "### {name} ({} cold split{})\n",
        splits.len(),
        if splits.len() == 1 { "" } else { "s" }
    );
    println!("| method | Recall@10 | Recall@20 | Recall@50 | Recall@100 |");
    println!("|---|---|---|---|---|");
    let column = |m: &str, k: usize| -> Vec<f64> { splits.iter().map(|s| s[m][k]).collect() };
    let mut order: Vec<&String> = methods.clone();
    // The model first, then the baselines by Recall@100.
    order.sort_by(|a, b| {
        let key = |m: &str| (m != "model", -mean_se(&column(m, 3)).0);
        key(a).partial_cmp(&key(b)).expect("finite")
    });
    for m in order {
        let cells: Vec<String> = (0..4)
            .map(|k| {
                let (mean, se) = mean_se(&column(m, k));
                format!("{mean:.4} ± {se:.4}")
            })
            .collect();
        let label = if m == "model" { "**graph model**" } else { m };
        println!("| {label} | {} |", cells.join(" | "));
    }
    println!();
    println!("| K | best baseline | model − best (paired, mean ± SE) | model / best |");
    println!("|---|---|---|---|");
    for (k, cutoff) in KS.iter().enumerate() {
        let Some(best) = methods
            .iter()
            .filter(|m| m.as_str() != "model" && !m.starts_with("graph_"))
            .max_by(|a, b| {
                mean_se(&column(a, k))
                    .0
                    .partial_cmp(&mean_se(&column(b, k)).0)
                    .expect("finite")
            })
        else {
            continue;
        };
        let diffs: Vec<f64> = splits.iter().map(|s| s["model"][k] - s[*best][k]).collect();
        let (d, se) = mean_se(&diffs);
        let ratio = mean_se(&column("model", k)).0 / mean_se(&column(best, k)).0;
        println!("| {cutoff} | {best} | {d:+.4} ± {se:.4} | {ratio:.3} |");
    }
    println!();
}

/// One ablation row: the variant's model minus the default's, paired by split.
fn ablation_row(label: &str, variant: &[Split], default: &[Split]) -> Result<()> {
    if variant.len() != default.len() {
        bail!(
            "{label}: {} variant splits against {} default splits",
            variant.len(),
            default.len()
        );
    }
    let cells: Vec<String> = (0..KS.len())
        .map(|k| {
            let diffs: Vec<f64> = variant
                .iter()
                .zip(default)
                .map(|(v, d)| v["model"][k] - d["model"][k])
                .collect();
            let (d, se) = mean_se(&diffs);
            format!("{d:+.4} ± {se:.4}")
        })
        .collect();
    println!("| {label} | {} |", cells.join(" | "));
    Ok(())
}

fn splits(files: &str) -> Result<Vec<Split>> {
    files.split(',').map(read).collect()
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        bail!(
            "usage: quality_table DATASET=DIR/eval.json[,DIR/eval.json…] … | \
             --ablation LABEL=VARIANT_FILES|DEFAULT_FILES …"
        );
    }
    if args[0] == "--ablation" {
        println!(
            "| variant − default (paired, mean ± SE) | Recall@10 | Recall@20 | Recall@50 | Recall@100 |"
        );
        println!("|---|---|---|---|---|");
        for arg in args.drain(1..) {
            let Some((label, files)) = arg.split_once('=') else {
                bail!("{arg}: expected LABEL=VARIANT_FILES|DEFAULT_FILES");
            };
            let Some((variant, default)) = files.split_once('|') else {
                bail!("{arg}: expected VARIANT_FILES|DEFAULT_FILES");
            };
            ablation_row(label, &splits(variant)?, &splits(default)?)?;
        }
        println!();
        return Ok(());
    }
    for arg in args {
        let Some((name, files)) = arg.split_once('=') else {
            bail!("{arg}: expected DATASET=FILE[,FILE…]");
        };
        table(name, &splits(files)?);
    }
    Ok(())
}
