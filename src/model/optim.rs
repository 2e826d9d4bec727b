//! Optimisers: Adam for the dense weights, row-wise AdaGrad for the input-embedding rows: only
//! the rows a batch touched are updated, and each row has one accumulator (the mean squared
//! gradient, as PyTorch-BigGraph does) instead of Adam's two per value — 4.5 M rows × 128
//! values at the reference size would need 2.3 GB per accumulator.

use serde::{Deserialize, Serialize};

use super::layer::Params;

/// Adam's moment estimates for every dense tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Adam {
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    t: u64,
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPS: f32 = 1e-8;

impl Adam {
    /// Zero moments shaped like `params`.
    pub(crate) fn new(params: &Params) -> Adam {
        let zeros = || {
            params
                .tensors
                .iter()
                .map(|t| vec![0.0; t.data.len()])
                .collect()
        };
        Adam {
            m: zeros(),
            v: zeros(),
            t: 0,
        }
    }

    /// One step of size `lr` against `grads`.
    pub(crate) fn step(&mut self, params: &mut Params, grads: &Params, lr: f32) {
        self.t += 1;
        let c1 = 1.0 - BETA1.powi(self.t as i32);
        let c2 = 1.0 - BETA2.powi(self.t as i32);
        for (i, (p, g)) in params.tensors.iter_mut().zip(&grads.tensors).enumerate() {
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            for j in 0..p.data.len() {
                let gj = g.data[j];
                m[j] = BETA1 * m[j] + (1.0 - BETA1) * gj;
                v[j] = BETA2 * v[j] + (1.0 - BETA2) * gj * gj;
                p.data[j] -= lr * (m[j] / c1) / ((v[j] / c2).sqrt() + EPS);
            }
        }
    }
}

/// Row-wise AdaGrad on one row: `acc += mean(g²); row -= lr · g / √(acc + ε)`.
pub(crate) fn adagrad(row: &mut [f32], acc: &mut f32, grad: &[f32], lr: f32) {
    let mean = grad.iter().map(|g| g * g).sum::<f32>() / grad.len().max(1) as f32;
    *acc += mean;
    let step = lr / (*acc + 1e-10).sqrt();
    for (x, g) in row.iter_mut().zip(grad) {
        *x -= step * g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_minimises_a_quadratic() {
        let mut p = Params::zeros(&[2, 1], 0);
        let target = [3.0f32, -2.0];
        let mut adam = Adam::new(&p);
        for _ in 0..2000 {
            let mut g = Params::zeros(&[2, 1], 0);
            for (j, t) in target.iter().enumerate() {
                g.tensors[0].data[j] = 2.0 * (p.tensors[0].data[j] - t);
            }
            adam.step(&mut p, &g, 0.05);
        }
        for (x, t) in p.tensors[0].data.iter().zip(target) {
            assert!((x - t).abs() < 1e-2, "{x} vs {t}");
        }
    }

    #[test]
    fn adagrad_steps_shrink() {
        let (mut row, mut acc) = (vec![0.0f32], 0.0f32);
        adagrad(&mut row, &mut acc, &[1.0], 0.1);
        let first = -row[0];
        adagrad(&mut row, &mut acc, &[1.0], 0.1);
        let second = -row[0] - first;
        assert!((first - 0.1).abs() < 1e-6 && second < first && second > 0.0);
    }
}
