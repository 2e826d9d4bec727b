//! Human-readable evaluation output: the method table, the ablation table of the published
//! system, and a Recall@K-against-K plot as SVG (no plotting dependency needed).

use std::fmt::Write;

use super::harness::{EvalReport, MethodResult};

/// The ablation rows of the published results table, and the evaluation rows that stand for
/// them (see [`super::harness::ablation_configs`]).
const ABLATION: [(&str, Option<&str>); 4] = [
    ("MF baseline (ALS on listings)", Some("als")),
    (
        "graph model, listing edges only, random init, uniform sampling",
        Some("graph_listing_random"),
    ),
    (
        "+ text features, auxiliary and co-purchase nodes",
        Some("graph_text_copurchase"),
    ),
    ("+ stratified edge sampling", Some("graph_stratified")),
];

/// Every method of a report, the model first: `(name, result)`.
pub fn methods(r: &EvalReport) -> Vec<(String, &MethodResult)> {
    let mut out = vec![(format!("model ({})", r.model), &r.model_result)];
    out.extend(r.baselines.iter().map(|(n, m)| (n.clone(), m)));
    out
}

fn row(name: &str, m: Option<&MethodResult>, ks: &[usize]) -> String {
    let mut line = format!("| {name} |");
    match m {
        Some(m) => {
            for k in ks {
                let v = m
                    .metrics
                    .get(&format!("recall@{k}"))
                    .copied()
                    .unwrap_or(f64::NAN);
                let _ = write!(line, " {v:.4} |");
            }
            let ndcg = m.metrics.get("ndcg@100").copied().unwrap_or(f64::NAN);
            let _ = write!(
                line,
                " {ndcg:.4} | {:.1} s | {:.0} MiB |",
                m.train_seconds, m.peak_rss_mib
            );
        }
        None => {
            for _ in ks {
                line.push_str(" not available |");
            }
            line.push_str(" not available | — | — |");
        }
    }
    line
}

fn header(ks: &[usize]) -> String {
    let cols: Vec<String> = ks.iter().map(|k| format!("Recall@{k}")).collect();
    let sep = "---|".repeat(ks.len() + 4);
    format!(
        "| method | {} | NDCG@100 | training time | peak memory |\n|{sep}",
        cols.join(" | ")
    )
}

/// The table of every method.
pub fn methods_table(r: &EvalReport, ks: &[usize]) -> String {
    let mut out = header(ks);
    for (name, m) in methods(r) {
        out.push('\n');
        out.push_str(&row(&name, Some(m), ks));
    }
    out
}

/// The ablation table (published rows, filled where this build has the method).
pub fn ablation_table(r: &EvalReport, ks: &[usize]) -> String {
    let mut out = header(ks);
    for (name, key) in ABLATION {
        out.push('\n');
        out.push_str(&row(name, key.and_then(|k| r.baselines.get(k)), ks));
    }
    out
}

/// The ablation rows as JSON (`null` metrics where not available).
pub fn ablation_json(r: &EvalReport) -> serde_json::Value {
    serde_json::Value::Array(
        ABLATION
            .iter()
            .map(|(name, key)| {
                let m = key.and_then(|k| r.baselines.get(k));
                serde_json::json!({
                    "row": name,
                    "available": m.is_some(),
                    "metrics": m.map(|m| &m.metrics),
                    "train_seconds": m.map(|m| m.train_seconds),
                    "peak_rss_mib": m.map(|m| m.peak_rss_mib),
                })
            })
            .collect(),
    )
}

/// A line plot of Recall@K against K, one line per method.
pub fn recall_svg(r: &EvalReport, ks: &[usize]) -> String {
    const COLOURS: [&str; 8] = [
        "#1b6ac9", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d5a97", "#30638e", "#555555",
    ];
    let (w, h, left, bottom, top, right) = (720.0, 420.0, 60.0, 50.0, 20.0, 200.0);
    let max_k = ks.iter().copied().max().unwrap_or(1) as f64;
    let x = |k: usize| left + (k as f64 / max_k) * (w - left - right);
    let y = |v: f64| top + (1.0 - v) * (h - top - bottom);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for i in 0..=5 {
        let v = f64::from(i) / 5.0;
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{2:.1}\" y2=\"{2:.1}\" stroke=\"#ddd\"/><text x=\"{1}\" y=\"{3:.1}\" text-anchor=\"end\">{v:.1}</text>",
            w - right,
            left - 6.0,
            y(v),
            y(v) + 4.0
        );
    }
    for &k in ks {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{k}</text>",
            x(k),
            h - bottom + 18.0
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">K</text><text x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">Recall@K</text>",
        (left + w - right) / 2.0,
        h - 8.0,
        h / 2.0,
        h / 2.0
    );
    for (i, (name, m)) in methods(r).iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = ks
            .iter()
            .filter_map(|&k| {
                m.metrics
                    .get(&format!("recall@{k}"))
                    .map(|v| format!("{:.1},{:.1}", x(k), y(*v)))
            })
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        let ly = top + 18.0 * i as f64 + 10.0;
        let _ = writeln!(
            s,
            "<line x1=\"{0}\" x2=\"{1}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"3\"/><text x=\"{2}\" y=\"{3}\">{4}</text>",
            w - right + 10.0,
            w - right + 30.0,
            w - right + 36.0,
            ly + 4.0,
            name.replace('&', "&amp;").replace('<', "&lt;")
        );
    }
    s.push_str("</svg>\n");
    s
}
