//! Turns a cosine similarity into a probability: `score = σ(α·cos + β)`, with α, β fitted by
//! logistic regression on balanced examples — a seller's own listing (positive, the seller
//! vector computed without that product) against a random product (negative). With balanced
//! classes, 0.5 means "as likely to be one of the seller's listings as not": above it, the
//! product looks more like what the seller lists than like the catalogue at large.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The content model's calibration (`model` column family, name `content`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContentModel {
    /// Slope on the cosine similarity.
    pub alpha: f32,
    /// Intercept.
    pub beta: f32,
    /// Positive examples used for the fit.
    pub positives: u64,
    /// Negative examples used for the fit.
    pub negatives: u64,
}

impl ContentModel {
    /// Used until a fit is possible: cos 0 ↦ 0.5 would recommend everything mildly similar, so
    /// the default puts 0.5 at cos 0.5.
    pub(crate) fn uncalibrated() -> Self {
        ContentModel {
            alpha: 10.0,
            beta: -5.0,
            positives: 0,
            negatives: 0,
        }
    }
}

/// The logistic function.
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Fits α, β by Newton's method on the log-loss of `(cosine, label)` examples, with a small
/// ridge penalty so separable data still gives finite values. `None` without both classes.
pub(crate) fn fit(examples: &[(f32, bool)]) -> Option<ContentModel> {
    let positives = examples.iter().filter(|e| e.1).count() as u64;
    let negatives = examples.len() as u64 - positives;
    let rows: Vec<([f32; 1], bool, f32)> = examples.iter().map(|&(x, y)| ([x], y, 1.0)).collect();
    let w = fit_logistic(&rows)?;
    Some(ContentModel {
        alpha: w[0],
        beta: w[1],
        positives,
        negatives,
    })
}

/// Weighted logistic regression by Newton's method: the coefficients of the `N` features and
/// then the intercept, for `(features, label, weight)` examples; a small ridge penalty keeps
/// separable data finite. `None` without both classes. The sums over examples run in parallel
/// over fixed chunks added in chunk order, so the fit does not depend on the thread count (the
/// graph model's score fit has up to a million examples).
pub(crate) fn fit_logistic<const N: usize>(examples: &[([f32; N], bool, f32)]) -> Option<Vec<f32>> {
    if !(examples.iter().any(|e| e.1) && examples.iter().any(|e| !e.1)) {
        return None;
    }
    let n = N + 1;
    let total: f64 = examples.iter().map(|e| f64::from(e.2)).sum();
    let ridge = 1e-6 * total;
    // The linear predictor; the last coefficient is the intercept.
    let predictor = |w: &[f64], f: &[f32; N]| -> f64 {
        f.iter().zip(w).map(|(&v, a)| a * f64::from(v)).sum::<f64>() + w[N]
    };
    // The penalised log-loss, for the step-halving line search that keeps Newton stable on
    // nearly separable data.
    let loss = |w: &[f64]| -> f64 {
        let data: f64 = sum_chunks(examples, |chunk| {
            chunk
                .iter()
                .map(|(f, label, weight)| {
                    let z = predictor(w, f);
                    let softplus = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
                    f64::from(*weight) * if *label { softplus(-z) } else { softplus(z) }
                })
                .sum::<f64>()
        });
        ridge * w[..N].iter().map(|v| v * v).sum::<f64>() / 2.0 + data
    };
    let mut w = vec![0f64; n];
    w[0] = 1.0;
    let mut current = loss(&w);
    for _ in 0..50 {
        // The gradient (first n) and Hessian (row-major n × n after it) of the data term.
        let sums: Vec<f64> = sum_chunks(examples, |chunk| {
            let mut acc = vec![0f64; n + n * n];
            let (grad, hess) = acc.split_at_mut(n);
            let mut x = vec![1f64; n];
            for (f, label, weight) in chunk {
                for (xi, &v) in x.iter_mut().zip(f) {
                    *xi = f64::from(v);
                }
                let p = 1.0 / (1.0 + (-predictor(&w, f)).exp());
                let weight = f64::from(*weight);
                let r = weight * (p - if *label { 1.0 } else { 0.0 });
                let c = weight * p * (1.0 - p);
                for i in 0..n {
                    grad[i] += r * x[i];
                    for j in 0..n {
                        hess[i * n + j] += c * x[i] * x[j];
                    }
                }
            }
            acc
        });
        let grad: Vec<f64> = (0..n)
            .map(|i| sums[i] + if i < N { ridge * w[i] } else { 0.0 })
            .collect();
        let hess: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        let diagonal = match (i == j, i < N) {
                            (false, _) => 0.0,
                            (true, true) => ridge,
                            (true, false) => 1e-9,
                        };
                        sums[n + i * n + j] + diagonal
                    })
                    .collect()
            })
            .collect();
        let step = solve(hess, grad)?;
        let mut t = 1.0;
        let next = loop {
            let candidate: Vec<f64> = w.iter().zip(&step).map(|(wi, si)| wi - t * si).collect();
            let l = loss(&candidate);
            if l <= current || t < 1e-6 {
                break (candidate, l);
            }
            t /= 2.0;
        };
        let moved: f64 = w.iter().zip(&next.0).map(|(a, b)| (a - b).abs()).sum();
        (w, current) = next;
        if moved < 1e-9 {
            break;
        }
    }
    Some(w.into_iter().map(|v| v as f32).collect())
}

/// `part` of fixed chunks of `examples`, computed in parallel and added in chunk order.
fn sum_chunks<E: Sync, S: Summable + Send>(examples: &[E], part: impl Fn(&[E]) -> S + Sync) -> S {
    const CHUNK: usize = 16_384;
    let parts: Vec<S> = examples.par_chunks(CHUNK).map(&part).collect();
    parts
        .into_iter()
        .reduce(S::add)
        .expect("at least one example")
}

/// A partial sum of [`sum_chunks`].
trait Summable {
    fn add(self, other: Self) -> Self;
}

impl Summable for f64 {
    fn add(self, other: Self) -> Self {
        self + other
    }
}

impl Summable for Vec<f64> {
    fn add(mut self, other: Self) -> Self {
        for (a, b) in self.iter_mut().zip(other) {
            *a += b;
        }
        self
    }
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting; `None` when singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (top, rest) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (i, row) in rest.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[col + 1 + i] -= f * b[col];
        }
    }
    let mut x = vec![0f64; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_logistic_relation() {
        // Labels drawn deterministically from σ(8·x − 2): the fit must land near (8, −2).
        let mut examples = Vec::new();
        let mut state = 12345u64;
        for i in 0..20_000 {
            let x = (i % 200) as f32 / 100.0 - 1.0;
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 33) as f32 / (1u64 << 31) as f32;
            examples.push((x, u < sigmoid(8.0 * x - 2.0)));
        }
        let m = fit(&examples).unwrap();
        assert!((m.alpha - 8.0).abs() < 0.8, "{m:?}");
        assert!((m.beta + 2.0).abs() < 0.3, "{m:?}");
    }

    #[test]
    fn needs_both_classes() {
        assert_eq!(fit(&[(0.5, true), (0.7, true)]), None);
    }
}
