//! The encoder's arithmetic on one computation block, forward and hand-written backward:
//! heterogeneous mean aggregation `h_v ← act(W_self·h_v + Σ_r W_r·mean_{u∈S_r(v)} h_u + b_kind)`,
//! the L2 normalisation of the output, and the scored binary cross-entropy
//! `σ(α·cos(z_s, z_p) + β)`. Every function here has a finite-difference test.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, s};

use crate::features::calibrate::sigmoid;
use serde::{Deserialize, Serialize};

/// A dense matrix stored row-major, serialisable for checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tensor {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows × cols` values, row-major.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A zero matrix.
    pub(crate) fn zeros(rows: usize, cols: usize) -> Tensor {
        Tensor {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// The matrix as an ndarray view.
    pub(crate) fn view(&self) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((self.rows, self.cols), &self.data).expect("shape matches data")
    }

    /// The matrix as a mutable ndarray view.
    pub(crate) fn view_mut(&mut self) -> ArrayViewMut2<'_, f32> {
        ArrayViewMut2::from_shape((self.rows, self.cols), &mut self.data)
            .expect("shape matches data")
    }
}

/// All trainable dense parameters: per layer `W_self` (d_in × d_out), one `W_r` per relation
/// (d_in × d_out) and a bias per node kind (2 × d_out: sellers, products); then `[α, β]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Params {
    /// Tensors in layer order, the score's `[α, β]` last.
    pub tensors: Vec<Tensor>,
    /// Relations per layer.
    pub relations: usize,
}

impl Params {
    /// Zero parameters of the given shape: `dims[l] → dims[l + 1]` for each layer.
    pub(crate) fn zeros(dims: &[usize], relations: usize) -> Params {
        let mut tensors = Vec::new();
        for w in dims.windows(2) {
            for _ in 0..=relations {
                tensors.push(Tensor::zeros(w[0], w[1]));
            }
            tensors.push(Tensor::zeros(2, w[1]));
        }
        tensors.push(Tensor::zeros(1, 2));
        Params { tensors, relations }
    }

    /// Zero parameters shaped like `other` (a gradient buffer).
    pub(crate) fn zeros_like(other: &Params) -> Params {
        Params {
            tensors: other
                .tensors
                .iter()
                .map(|t| Tensor::zeros(t.rows, t.cols))
                .collect(),
            relations: other.relations,
        }
    }

    /// Number of layers.
    pub(crate) fn layers(&self) -> usize {
        (self.tensors.len() - 1) / (self.relations + 2)
    }

    fn at(&self, layer: usize, k: usize) -> &Tensor {
        &self.tensors[layer * (self.relations + 2) + k]
    }

    fn at_mut(&mut self, layer: usize, k: usize) -> &mut Tensor {
        let i = layer * (self.relations + 2) + k;
        &mut self.tensors[i]
    }

    /// `W_self` of a layer.
    pub(crate) fn w_self(&self, layer: usize) -> ArrayView2<'_, f32> {
        self.at(layer, 0).view()
    }

    /// `W_r` of a layer.
    pub(crate) fn w_rel(&self, layer: usize, r: usize) -> ArrayView2<'_, f32> {
        self.at(layer, 1 + r).view()
    }

    /// The bias rows (sellers, products) of a layer.
    pub(crate) fn bias(&self, layer: usize) -> ArrayView2<'_, f32> {
        self.at(layer, 1 + self.relations).view()
    }

    /// Score slope α.
    pub(crate) fn alpha(&self) -> f32 {
        self.tensors.last().expect("score tensor").data[0]
    }

    /// Score intercept β.
    pub(crate) fn beta(&self) -> f32 {
        self.tensors.last().expect("score tensor").data[1]
    }

    /// Adds `other` into `self`, tensor by tensor.
    pub(crate) fn add_assign(&mut self, other: &Params) {
        for (a, b) in self.tensors.iter_mut().zip(&other.tensors) {
            for (x, y) in a.data.iter_mut().zip(&b.data) {
                *x += y;
            }
        }
    }
}

/// One computation block (a message-flow graph): the `n_dst` destination nodes are the first
/// `n_dst` of `src`, and `adjacency[r]` lists, per destination, the positions in `src` of its
/// sampled neighbours under relation `r`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Block {
    /// Destination count.
    pub n_dst: usize,
    /// Source node indices (graph node space); destinations first.
    pub src: Vec<u32>,
    /// Whether each destination is a seller (selects the bias row).
    pub dst_is_seller: Vec<bool>,
    /// Per relation: CSR over destinations of positions in `src`.
    pub adjacency: Vec<BlockAdjacency>,
}

/// Sampled neighbours of one relation in a block.
#[derive(Clone, Debug, Default)]
pub(crate) struct BlockAdjacency {
    /// `n_dst + 1` offsets.
    pub indptr: Vec<u32>,
    /// Positions in the block's `src`.
    pub indices: Vec<u32>,
    /// One weight per entry of `indices`, summing to 1 over each destination's neighbours; or
    /// empty: the plain mean.
    pub weights: Vec<f32>,
}

impl BlockAdjacency {
    fn row(&self, i: usize) -> &[u32] {
        &self.indices[self.indptr[i] as usize..self.indptr[i + 1] as usize]
    }

    /// Destination `i`'s neighbours with the weight of each in its mean.
    fn weighted_row(&self, i: usize) -> impl Iterator<Item = (u32, f32)> + '_ {
        let range = self.indptr[i] as usize..self.indptr[i + 1] as usize;
        let plain = 1.0 / range.len().max(1) as f32;
        let weights = self.weights.get(range.clone());
        self.indices[range]
            .iter()
            .enumerate()
            .map(move |(k, &j)| (j, weights.map_or(plain, |w| w[k])))
    }
}

/// What the backward pass of a layer needs from its forward pass.
pub(crate) struct LayerCache {
    input: Array2<f32>,
    aggregated: Vec<Aggregate>,
    pre: Array2<f32>,
    /// The layer is the last (no ReLU).
    last: bool,
}

/// One relation's mean over the destinations that have neighbours under it. The others'
/// means are zero and add nothing, so their rows are left out of the relation's matrix
/// products: a relation leaves one node kind only (sellers list, products are listed and
/// bought together), so about half of every relation's rows were zeros multiplied.
struct Aggregate {
    /// The destinations with neighbours, ascending.
    rows: Vec<usize>,
    /// Their means, one row each.
    mean: Array2<f32>,
}

/// Mean (weighted, when the relation has weights) of each destination's neighbours' rows of
/// `h`, for the destinations that have neighbours.
fn mean_aggregate(adj: &BlockAdjacency, h: ArrayView2<f32>, n_dst: usize) -> Aggregate {
    let rows: Vec<usize> = (0..n_dst)
        .filter(|&i| adj.indptr[i + 1] > adj.indptr[i])
        .collect();
    let mut mean = Array2::zeros((rows.len(), h.ncols()));
    for (mut row, &i) in mean.outer_iter_mut().zip(&rows) {
        // Unweighted relations keep summing first and dividing once, so graphs without
        // co-purchase counts train as before the weights existed.
        if !adj.weights.is_empty() {
            for (j, w) in adj.weighted_row(i) {
                row.scaled_add(w, &h.row(j as usize));
            }
            continue;
        }
        let nbrs = adj.row(i);
        for &j in nbrs {
            row += &h.row(j as usize);
        }
        row /= nbrs.len() as f32;
    }
    Aggregate { rows, mean }
}

/// Forward pass of layer `layer` over `block`; `h` holds the rows of `block.src`. ReLU unless
/// `last`.
pub(crate) fn forward(
    params: &Params,
    layer: usize,
    block: &Block,
    h: Array2<f32>,
    last: bool,
) -> (Array2<f32>, LayerCache) {
    let n = block.n_dst;
    let mut pre = h.slice(s![..n, ..]).dot(&params.w_self(layer));
    let aggregated: Vec<Aggregate> = block
        .adjacency
        .iter()
        .map(|adj| mean_aggregate(adj, h.view(), n))
        .collect();
    for (r, a) in aggregated.iter().enumerate() {
        let part = a.mean.dot(&params.w_rel(layer, r));
        for (&i, row) in a.rows.iter().zip(part.outer_iter()) {
            let mut dst = pre.row_mut(i);
            dst += &row;
        }
    }
    let bias = params.bias(layer);
    for (mut row, &seller) in pre.outer_iter_mut().zip(&block.dst_is_seller) {
        row += &bias.row(usize::from(!seller));
    }
    let out = if last {
        pre.clone()
    } else {
        pre.mapv(|x| x.max(0.0))
    };
    (
        out,
        LayerCache {
            input: h,
            aggregated,
            pre,
            last,
        },
    )
}

/// Backward pass of layer `layer`: adds the parameter gradients into `grads` and returns the
/// gradient with respect to the layer's input rows: all of them, or with `wanted` (one flag
/// per input row) only the flagged ones, in order. The input layer's gradient is needed for its
/// trainable identity rows alone; sellers and cold products need no scatter into their rows.
pub(crate) fn backward(
    params: &Params,
    layer: usize,
    block: &Block,
    cache: LayerCache,
    mut d_out: Array2<f32>,
    grads: &mut Params,
    wanted: Option<&[bool]>,
) -> Array2<f32> {
    let n = block.n_dst;
    if !cache.last {
        d_out.zip_mut_with(&cache.pre, |d, &p| {
            if p <= 0.0 {
                *d = 0.0
            }
        });
    }
    let d_pre = d_out;
    let input_dst = cache.input.slice(s![..n, ..]);
    grads
        .at_mut(layer, 0)
        .view_mut()
        .scaled_add(1.0, &input_dst.t().dot(&d_pre));
    // The row of `d_in` of each input row, if wanted.
    let slots: Vec<Option<usize>> = match wanted {
        None => (0..cache.input.nrows()).map(Some).collect(),
        Some(flags) => flags
            .iter()
            .scan(0, |next, &on| {
                let slot = on.then_some(*next);
                *next += usize::from(on);
                Some(slot)
            })
            .collect(),
    };
    let rows = slots.iter().flatten().count();
    let mut d_in = Array2::<f32>::zeros((rows, cache.input.ncols()));
    let d_self = d_pre.dot(&params.w_self(layer).t());
    for (row, slot) in d_self.outer_iter().zip(&slots) {
        if let Some(k) = *slot {
            d_in.row_mut(k).assign(&row);
        }
    }
    for (r, (a, adj)) in cache.aggregated.iter().zip(&block.adjacency).enumerate() {
        let d_rows = d_pre.select(Axis(0), &a.rows);
        grads
            .at_mut(layer, 1 + r)
            .view_mut()
            .scaled_add(1.0, &a.mean.t().dot(&d_rows));
        let d_agg = d_rows.dot(&params.w_rel(layer, r).t());
        for (&i, g) in a.rows.iter().zip(d_agg.outer_iter()) {
            for (j, w) in adj.weighted_row(i) {
                if let Some(k) = slots[j as usize] {
                    d_in.row_mut(k).scaled_add(w, &g);
                }
            }
        }
    }
    let relations = params.relations;
    let mut d_bias = grads.at_mut(layer, 1 + relations).view_mut();
    for (row, &seller) in d_pre.outer_iter().zip(&block.dst_is_seller) {
        d_bias.row_mut(usize::from(!seller)).scaled_add(1.0, &row);
    }
    d_in
}

/// Rows scaled to unit length (a zero row stays zero), and the norms used.
pub(crate) fn normalize_rows(h: &Array2<f32>) -> (Array2<f32>, Vec<f32>) {
    let norms: Vec<f32> = h
        .outer_iter()
        .map(|r| r.dot(&r).sqrt().max(1e-12))
        .collect();
    let mut z = h.clone();
    for (mut row, &n) in z.outer_iter_mut().zip(&norms) {
        row /= n;
    }
    (z, norms)
}

/// Gradient through [`normalize_rows`]: `dh = (dz − z·(z·dz)) / ‖h‖`.
pub(crate) fn normalize_backward(z: &Array2<f32>, norms: &[f32], dz: Array2<f32>) -> Array2<f32> {
    let mut dh = dz;
    for ((mut d, zr), &n) in dh.outer_iter_mut().zip(z.outer_iter()).zip(norms) {
        let proj = zr.dot(&d);
        d.scaled_add(-proj, &zr);
        d /= n;
    }
    dh
}

/// One scored pair: rows `a` (a seller) and `b` (a product) of the output, the label, and the
/// pair's weight in the loss.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pair {
    /// Row of the seller.
    pub a: u32,
    /// Row of the product.
    pub b: u32,
    /// 1 for a listing, 0 for a negative.
    pub label: f32,
    /// Weight in the loss.
    pub weight: f32,
}

/// The weighted binary cross-entropy of `σ(α·cos + β)` over `pairs` of rows of the unit rows
/// `z`: the loss, `dL/dz`, and `dL/dα`, `dL/dβ`.
pub(crate) fn pair_loss(
    z: &Array2<f32>,
    pairs: &[Pair],
    alpha: f32,
    beta: f32,
) -> (f64, Array2<f32>, [f32; 2]) {
    let mut dz = Array2::<f32>::zeros(z.raw_dim());
    let (mut loss, mut d_alpha, mut d_beta) = (0f64, 0f32, 0f32);
    for p in pairs {
        let (a, b) = (p.a as usize, p.b as usize);
        let cos = z.row(a).dot(&z.row(b));
        let logit = alpha * cos + beta;
        // log(1 + e^x) computed stably.
        let softplus = |x: f32| x.max(0.0) + (-x.abs()).exp().ln_1p();
        loss += f64::from(
            p.weight
                * if p.label > 0.5 {
                    softplus(-logit)
                } else {
                    softplus(logit)
                },
        );
        let d_logit = p.weight * (sigmoid(logit) - p.label);
        d_alpha += d_logit * cos;
        d_beta += d_logit;
        let d_cos = d_logit * alpha;
        let zb = z.row(b).to_owned();
        let za = z.row(a).to_owned();
        dz.row_mut(a).scaled_add(d_cos, &zb);
        dz.row_mut(b).scaled_add(d_cos, &za);
    }
    (loss, dz, [d_alpha, d_beta])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    fn random(rng: &mut Xoshiro256PlusPlus, rows: usize, cols: usize) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |_| rng.random::<f32>() * 2.0 - 1.0)
    }

    fn random_params(rng: &mut Xoshiro256PlusPlus, dims: &[usize], relations: usize) -> Params {
        let mut p = Params::zeros(dims, relations);
        for t in &mut p.tensors {
            for x in &mut t.data {
                *x = rng.random::<f32>() * 2.0 - 1.0;
            }
        }
        p
    }

    /// 7 sources, the first 4 are destinations; relation 0 gives destination 2 no neighbours,
    /// and one neighbour list repeats a source.
    fn block() -> Block {
        let adj = |rows: &[&[u32]]| {
            let mut a = BlockAdjacency {
                indptr: vec![0],
                ..BlockAdjacency::default()
            };
            for r in rows {
                a.indices.extend_from_slice(r);
                a.indptr.push(a.indices.len() as u32);
            }
            a
        };
        Block {
            n_dst: 4,
            src: (0..7).collect(),
            dst_is_seller: vec![true, false, false, true],
            adjacency: vec![
                adj(&[&[4, 5], &[6], &[], &[1, 2, 4]]),
                adj(&[&[6], &[0, 5, 5], &[3], &[4]]),
                adj(&[&[2], &[4], &[5, 6], &[]]),
            ],
        }
    }

    /// Central difference of `f` at `x[i]`.
    fn numeric(x: &mut [f32], i: usize, f: &mut dyn FnMut(&[f32]) -> f64) -> f64 {
        const EPS: f32 = 1e-3;
        let keep = x[i];
        x[i] = keep + EPS;
        let up = f(x);
        x[i] = keep - EPS;
        let down = f(x);
        x[i] = keep;
        (up - down) / (2.0 * f64::from(EPS))
    }

    fn assert_close(analytic: f32, numeric: f64, what: &str) {
        let (a, n) = (f64::from(analytic), numeric);
        assert!(
            (a - n).abs() <= 2e-3 + 1e-2 * a.abs().max(n.abs()),
            "{what}: analytic {a} vs numeric {n}"
        );
    }

    /// [`block`] with weighted means on its last relation (a co-purchase relation over
    /// counts): unequal weights summing to 1 per destination.
    fn weighted_block() -> Block {
        let mut b = block();
        b.adjacency[2].weights = vec![1.0, 1.0, 0.8, 0.2];
        b
    }

    fn check_layer(last: bool, weighted: bool) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let params = random_params(&mut rng, &[5, 4], 3);
        let block = if weighted { weighted_block() } else { block() };
        let h = random(&mut rng, 7, 5);
        let c = random(&mut rng, 4, 4);
        let loss = |p: &Params, h: &Array2<f32>| -> f64 {
            let (out, _) = forward(p, 0, &block, h.clone(), last);
            out.iter()
                .zip(c.iter())
                .map(|(o, c)| f64::from(o * c))
                .sum()
        };
        let (_, cache) = forward(&params, 0, &block, h.clone(), last);
        let mut grads = Params::zeros_like(&params);
        let d_in = backward(&params, 0, &block, cache, c.clone(), &mut grads, None);

        // The layer has no score tensor: check all but the last.
        let tensors = params.tensors.len() - 1;
        check_all(&params, &grads, tensors, &h, &d_in, &loss);
    }

    /// Checks the first `tensors` parameter gradients and the input gradient `d_in` of the
    /// scalar `loss(params, input)` against central differences.
    fn check_all(
        params: &Params,
        grads: &Params,
        tensors: usize,
        h: &Array2<f32>,
        d_in: &Array2<f32>,
        loss: &dyn Fn(&Params, &Array2<f32>) -> f64,
    ) {
        for t in 0..tensors {
            for i in 0..params.tensors[t].data.len() {
                let mut p = params.clone();
                let n = numeric(&mut p.tensors[t].data.clone(), i, &mut |x| {
                    p.tensors[t].data = x.to_vec();
                    loss(&p, h)
                });
                assert_close(grads.tensors[t].data[i], n, &format!("tensor {t}[{i}]"));
            }
        }
        let mut flat = h.clone().into_raw_vec_and_offset().0;
        for i in 0..flat.len() {
            let n = numeric(&mut flat, i, &mut |x| {
                loss(
                    params,
                    &Array2::from_shape_vec(h.raw_dim(), x.to_vec()).unwrap(),
                )
            });
            assert_close(d_in.as_slice().unwrap()[i], n, &format!("input[{i}]"));
        }
    }

    #[test]
    fn relu_layer_gradients_match_finite_differences() {
        check_layer(false, false);
    }

    #[test]
    fn linear_last_layer_gradients_match_finite_differences() {
        check_layer(true, false);
    }

    #[test]
    fn weighted_mean_gradients_match_finite_differences() {
        check_layer(false, true);
        check_layer(true, true);
    }

    #[test]
    fn the_wanted_input_rows_get_their_gradient_rows_of_all() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let params = random_params(&mut rng, &[5, 4], 3);
        let block = weighted_block();
        let h = random(&mut rng, 7, 5);
        let d_out = random(&mut rng, 4, 4);
        let wanted = [false, true, true, false, true, false, true];
        let run = |wanted: Option<&[bool]>| {
            let (_, cache) = forward(&params, 0, &block, h.clone(), false);
            let mut grads = Params::zeros_like(&params);
            let d_in = backward(&params, 0, &block, cache, d_out.clone(), &mut grads, wanted);
            (d_in, grads)
        };
        let (all, grads_all) = run(None);
        let (some, grads_some) = run(Some(&wanted));
        let rows: Vec<usize> = (0..7).filter(|&i| wanted[i]).collect();
        assert_eq!(some, all.select(Axis(0), &rows));
        for (a, b) in grads_all.tensors.iter().zip(&grads_some.tensors) {
            assert_eq!(a.data, b.data);
        }
    }

    #[test]
    fn a_weighted_mean_weighs_each_neighbour_and_equal_weights_are_the_plain_mean() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let h = random(&mut rng, 7, 5);
        let mut adj = block().adjacency.remove(2);
        let plain = mean_aggregate(&adj, h.view(), 4);
        adj.weights = vec![1.0, 1.0, 0.5, 0.5];
        let equal = mean_aggregate(&adj, h.view(), 4);
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(
            plain.mean.as_slice().unwrap(),
            equal.mean.as_slice().unwrap()
        ));
        adj.weights = vec![1.0, 1.0, 0.8, 0.2];
        let weighted = mean_aggregate(&adj, h.view(), 4);
        let expected = &h.row(5) * 0.8 + &h.row(6) * 0.2;
        assert!(close(
            &weighted.mean.row(2).to_vec(),
            expected.as_slice().unwrap()
        ));
        // Destination 3 has no partners: its mean is zero, so it is left out.
        assert_eq!(weighted.rows, [0, 1, 2]);
    }

    #[test]
    fn normalised_pair_loss_gradients_match_finite_differences() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let h = random(&mut rng, 5, 4);
        let pairs = [
            Pair {
                a: 0,
                b: 2,
                label: 1.0,
                weight: 0.5,
            },
            Pair {
                a: 0,
                b: 3,
                label: 0.0,
                weight: 0.25,
            },
            Pair {
                a: 1,
                b: 3,
                label: 1.0,
                weight: 0.5,
            },
            Pair {
                a: 1,
                b: 4,
                label: 0.0,
                weight: 0.25,
            },
            Pair {
                a: 0,
                b: 4,
                label: 0.0,
                weight: 0.25,
            },
        ];
        let (alpha, beta) = (3.0f32, -0.5f32);
        let loss = |h: &Array2<f32>, alpha: f32, beta: f32| {
            pair_loss(&normalize_rows(h).0, &pairs, alpha, beta).0
        };
        let (z, norms) = normalize_rows(&h);
        let (_, dz, [d_alpha, d_beta]) = pair_loss(&z, &pairs, alpha, beta);
        let dh = normalize_backward(&z, &norms, dz);
        let mut flat = h.clone().into_raw_vec_and_offset().0;
        for i in 0..flat.len() {
            let n = numeric(&mut flat, i, &mut |x| {
                loss(
                    &Array2::from_shape_vec((5, 4), x.to_vec()).unwrap(),
                    alpha,
                    beta,
                )
            });
            assert_close(dh.as_slice().unwrap()[i], n, &format!("h[{i}]"));
        }
        let n = numeric(&mut [alpha, beta], 0, &mut |x| loss(&h, x[0], x[1]));
        assert_close(d_alpha, n, "alpha");
        let n = numeric(&mut [alpha, beta], 1, &mut |x| loss(&h, x[0], x[1]));
        assert_close(d_beta, n, "beta");
    }

    #[test]
    fn two_stacked_layers_backpropagate_through_normalisation_and_loss() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let params = random_params(&mut rng, &[5, 4, 3], 3);
        // Bottom block: 7 sources → 4 destinations; top block: those 4 → 2 scored nodes.
        let bottom = block();
        let top = Block {
            n_dst: 3,
            src: (0..4).collect(),
            dst_is_seller: vec![true, false, false],
            adjacency: vec![
                BlockAdjacency {
                    indptr: vec![0, 2, 2, 2],
                    indices: vec![1, 3],
                    ..BlockAdjacency::default()
                },
                BlockAdjacency {
                    indptr: vec![0, 0, 1, 2],
                    indices: vec![0, 3],
                    ..BlockAdjacency::default()
                },
                BlockAdjacency {
                    indptr: vec![0, 0, 1, 3],
                    indices: vec![3, 2, 3],
                    ..BlockAdjacency::default()
                },
            ],
        };
        let pairs = [
            Pair {
                a: 0,
                b: 1,
                label: 1.0,
                weight: 1.0,
            },
            Pair {
                a: 0,
                b: 2,
                label: 0.0,
                weight: 1.0,
            },
        ];
        let run = |p: &Params, h: &Array2<f32>| {
            let (h1, c0) = forward(p, 0, &bottom, h.clone(), false);
            let (h2, c1) = forward(p, 1, &top, h1, true);
            let (z, norms) = normalize_rows(&h2);
            let (loss, dz, d_score) = pair_loss(&z, &pairs, p.alpha(), p.beta());
            (loss, c0, c1, z, norms, dz, d_score)
        };
        let h = random(&mut rng, 7, 5);
        let (_, c0, c1, z, norms, dz, d_score) = run(&params, &h);
        let mut grads = Params::zeros_like(&params);
        grads.tensors.last_mut().unwrap().data = d_score.to_vec();
        let d2 = normalize_backward(&z, &norms, dz);
        let d1 = backward(&params, 1, &top, c1, d2, &mut grads, None);
        let d0 = backward(&params, 0, &bottom, c0, d1, &mut grads, None);
        let tensors = params.tensors.len();
        check_all(&params, &grads, tensors, &h, &d0, &|p, h| run(p, h).0);
    }
}
