//! Cosine arithmetic on `f32` slices: dot products, norms, unit length, cosine similarity —
//! the one home of it for text vectors, seller vectors, the indexes, recommend and ALS.
//!
//! Two summation orders live here on purpose. [`dot`] (and [`usable_norm`] and [`unit`], built
//! on it) sums in eight lanes so that the compiler vectorises it: the indexes' and ALS's hot
//! loops. [`normalize`] and [`cosine`] sum left to right: featurize, seller vectors,
//! calibration and recommend's scores outside the preloaded table. The orders differ in the
//! last bits, and stored vectors and lists were computed with each, so moving a caller from one
//! to the other changes results; that is why both stay (the model's ndarray rows use ndarray's
//! own `dot`, for the same reason).

/// Dot product. Eight independent accumulators let the compiler vectorise the loop (a single
/// running sum is a serial dependency chain it must not reorder).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut lanes = [0.0f32; 8];
    let (a_body, a_tail) = a.split_at(a.len() - a.len() % 8);
    let (b_body, b_tail) = b.split_at(a_body.len());
    for (x, y) in a_body.chunks_exact(8).zip(b_body.chunks_exact(8)) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

/// The Euclidean norm ([`dot`]'s order) when it is usable for cosine similarity (finite and
/// non-zero).
pub(crate) fn usable_norm(vector: &[f32]) -> Option<f32> {
    let norm = dot(vector, vector).sqrt();
    (norm.is_finite() && norm > 0.0).then_some(norm)
}

/// `vector` scaled to length 1 by its [`usable_norm`], or `None` when it has none.
pub(crate) fn unit(vector: &[f32]) -> Option<Vec<f32>> {
    let norm = usable_norm(vector)?;
    Some(vector.iter().map(|x| x / norm).collect())
}

/// Scales `v` to unit length in place, its norm summed left to right (leaves the zero vector
/// alone).
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine similarity of two vectors, summed left to right (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_sum_for_odd_lengths() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.25).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn zero_and_nan_vectors_have_no_usable_norm() {
        assert_eq!(usable_norm(&[0.0, 0.0]), None);
        assert_eq!(usable_norm(&[f32::NAN, 1.0]), None);
        assert_eq!(usable_norm(&[3.0, 4.0]), Some(5.0));
    }

    #[test]
    fn normalize_and_unit_give_length_one_and_cosine_ignores_length() {
        let mut v = vec![3.0, 4.0, 0.0];
        normalize(&mut v);
        assert_eq!(v, [0.6, 0.8, 0.0]);
        assert_eq!(unit(&[3.0, 4.0, 0.0]), Some(vec![0.6, 0.8, 0.0]));
        let mut zero = vec![0.0; 3];
        normalize(&mut zero);
        assert_eq!(zero, [0.0; 3]);
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[1.0, 2.0], &[0.0, 0.0]), 0.0);
    }
}
