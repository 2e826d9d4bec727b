//! Quality and speed of an approximate index against exact search (`demandlink index check`).

use std::collections::HashSet;
use std::time::Instant;

use super::{Ann, IndexError};

/// Recall and latency of an approximate index measured against exact search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    /// Queries run.
    pub queries: usize,
    /// Mean over queries of `|ann ∩ exact| / |exact|` of the top `k` ids (a query whose exact
    /// answer is empty counts as 1).
    pub recall: f64,
    /// Mean wall time of one `ann` query, in milliseconds, queries run one after another.
    pub ann_ms_per_query: f64,
    /// Mean wall time of one `exact` query, in milliseconds.
    pub exact_ms_per_query: f64,
}

/// Runs every query on `ann` then on `exact` (one thread, so the times are latencies) and
/// compares their top `k` within `category` (`None` = all).
pub(crate) fn compare(
    ann: &dyn Ann,
    exact: &dyn Ann,
    queries: &[Vec<f32>],
    category: Option<&str>,
    k: usize,
) -> Result<Comparison, IndexError> {
    let (approximate, ann_ms) = timed(ann, queries, category, k)?;
    let (truth, exact_ms) = timed(exact, queries, category, k)?;
    let mut recall_sum = 0.0;
    for (found, expected) in approximate.iter().zip(&truth) {
        if expected.is_empty() {
            recall_sum += 1.0;
            continue;
        }
        let found: HashSet<u32> = found.iter().map(|(item, _)| *item).collect();
        let hits = expected
            .iter()
            .filter(|(item, _)| found.contains(item))
            .count();
        recall_sum += hits as f64 / expected.len() as f64;
    }
    let per_query = |ms: f64| {
        if queries.is_empty() {
            0.0
        } else {
            ms / queries.len() as f64
        }
    };
    Ok(Comparison {
        queries: queries.len(),
        recall: if queries.is_empty() {
            1.0
        } else {
            recall_sum / queries.len() as f64
        },
        ann_ms_per_query: per_query(ann_ms),
        exact_ms_per_query: per_query(exact_ms),
    })
}

type Answers = Vec<Vec<(u32, f32)>>;

/// Every query's answer and the total time in milliseconds.
fn timed(
    index: &dyn Ann,
    queries: &[Vec<f32>],
    category: Option<&str>,
    k: usize,
) -> Result<(Answers, f64), IndexError> {
    let start = Instant::now();
    let answers = queries
        .iter()
        .map(|query| index.nearest(category, query, k))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((answers, start.elapsed().as_secs_f64() * 1e3))
}
