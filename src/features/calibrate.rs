//! Turns a cosine similarity into a probability: `score = σ(α·cos + β)`, with α, β fitted by
//! logistic regression on balanced examples — a seller's own listing (positive, the seller
//! vector computed without that product) against a random product (negative). With balanced
//! classes, 0.5 means "as likely to be one of the seller's listings as not": above it, the
//! product looks more like what the seller lists than like the catalogue at large.

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

/// Name of the content model record.
pub const CONTENT_MODEL: &str = "content";

impl ContentModel {
    /// Used until a fit is possible: cos 0 ↦ 0.5 would recommend everything mildly similar, so
    /// the default puts 0.5 at cos 0.5.
    pub fn uncalibrated() -> Self {
        ContentModel {
            alpha: 10.0,
            beta: -5.0,
            positives: 0,
            negatives: 0,
        }
    }

    /// Probability that a product with this cosine similarity is the seller's kind of product.
    pub fn score(&self, cosine: f32) -> f32 {
        sigmoid(self.alpha * cosine + self.beta)
    }
}

/// The logistic function.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Fits α, β by Newton's method on the log-loss of `(cosine, label)` examples, with a small
/// ridge penalty so separable data still gives finite values. `None` without both classes.
pub fn fit(examples: &[(f32, bool)]) -> Option<ContentModel> {
    let positives = examples.iter().filter(|e| e.1).count() as u64;
    let negatives = examples.len() as u64 - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let (mut a, mut b) = (1f64, 0f64);
    let ridge = 1e-6 * examples.len() as f64;
    for _ in 0..50 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (ridge * a, 0.0, ridge, 0.0, 1e-9);
        for &(x, y) in examples {
            let x = f64::from(x);
            let p = 1.0 / (1.0 + (-(a * x + b)).exp());
            let r = p - if y { 1.0 } else { 0.0 };
            ga += r * x;
            gb += r;
            let w = p * (1.0 - p);
            haa += w * x * x;
            hab += w * x;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() + db.abs() < 1e-9 {
            break;
        }
    }
    Some(ContentModel {
        alpha: a as f32,
        beta: b as f32,
        positives,
        negatives,
    })
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
