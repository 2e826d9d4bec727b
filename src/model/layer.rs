//! The encoder's arithmetic on one computation block, forward and hand-written backward:
//! heterogeneous mean aggregation `h_v ← act(W_self·h_v + Σ_r W_r·mean_{u∈S_r(v)} h_u + b_kind)`,
//! the L2 normalisation of the output, and the scored binary cross-entropy
//! `σ(α·cos(z_s, z_p) + β)`. Every function here has a finite-difference test.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};

use crate::features::calibrate::sigmoid;
use serde::{Deserialize, Serialize};

/// A dense matrix stored row-major, serialisable for checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows × cols` values, row-major.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Tensor {
        Tensor {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// The matrix as an ndarray view.
    pub fn view(&self) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((self.rows, self.cols), &self.data).expect("shape matches data")
    }

    /// The matrix as a mutable ndarray view.
    pub fn view_mut(&mut self) -> ArrayViewMut2<'_, f32> {
        ArrayViewMut2::from_shape((self.rows, self.cols), &mut self.data)
            .expect("shape matches data")
    }
}

/// All trainable dense parameters: per layer `W_self` (d_in × d_out), one `W_r` per relation
/// (d_in × d_out) and a bias per node kind (2 × d_out: sellers, products); then `[α, β]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Tensors in layer order, the score's `[α, β]` last.
    pub tensors: Vec<Tensor>,
    /// Relations per layer.
    pub relations: usize,
}

impl Params {
    /// Zero parameters of the given shape: `dims[l] → dims[l + 1]` for each layer.
    pub fn zeros(dims: &[usize], relations: usize) -> Params {
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
    pub fn zeros_like(other: &Params) -> Params {
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
    pub fn layers(&self) -> usize {
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
    pub fn w_self(&self, layer: usize) -> ArrayView2<'_, f32> {
        self.at(layer, 0).view()
    }

    /// `W_r` of a layer.
    pub fn w_rel(&self, layer: usize, r: usize) -> ArrayView2<'_, f32> {
        self.at(layer, 1 + r).view()
    }

    /// The bias rows (sellers, products) of a layer.
    pub fn bias(&self, layer: usize) -> ArrayView2<'_, f32> {
        self.at(layer, 1 + self.relations).view()
    }

    /// Score slope α.
    pub fn alpha(&self) -> f32 {
        self.tensors.last().expect("score tensor").data[0]
    }

    /// Score intercept β.
    pub fn beta(&self) -> f32 {
        self.tensors.last().expect("score tensor").data[1]
    }

    /// Adds `other` into `self`, tensor by tensor.
    pub fn add_assign(&mut self, other: &Params) {
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
pub struct Block {
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
pub struct BlockAdjacency {
    /// `n_dst + 1` offsets.
    pub indptr: Vec<u32>,
    /// Positions in the block's `src`.
    pub indices: Vec<u32>,
}

impl BlockAdjacency {
    fn row(&self, i: usize) -> &[u32] {
        &self.indices[self.indptr[i] as usize..self.indptr[i + 1] as usize]
    }
}

/// What the backward pass of a layer needs from its forward pass.
pub struct LayerCache {
    input: Array2<f32>,
    aggregated: Vec<Array2<f32>>,
    pre: Array2<f32>,
}

/// Mean of each destination's neighbours' rows of `h` (zero without neighbours).
fn mean_aggregate(adj: &BlockAdjacency, h: ArrayView2<f32>, n_dst: usize) -> Array2<f32> {
    let mut out = Array2::zeros((n_dst, h.ncols()));
    for (i, mut row) in out.outer_iter_mut().enumerate() {
        let nbrs = adj.row(i);
        if nbrs.is_empty() {
            continue;
        }
        for &j in nbrs {
            row += &h.row(j as usize);
        }
        row /= nbrs.len() as f32;
    }
    out
}

/// Forward pass of layer `layer` over `block`; `h` holds the rows of `block.src`. ReLU unless
/// `last`.
pub fn forward(
    params: &Params,
    layer: usize,
    block: &Block,
    h: Array2<f32>,
    last: bool,
) -> (Array2<f32>, LayerCache) {
    let n = block.n_dst;
    let mut pre = h.slice(s![..n, ..]).dot(&params.w_self(layer));
    let aggregated: Vec<Array2<f32>> = block
        .adjacency
        .iter()
        .map(|adj| mean_aggregate(adj, h.view(), n))
        .collect();
    for (r, a) in aggregated.iter().enumerate() {
        pre += &a.dot(&params.w_rel(layer, r));
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
        },
    )
}

/// Backward pass of layer `layer`: adds the parameter gradients into `grads` and returns the
/// gradient with respect to the layer's input rows.
pub fn backward(
    params: &Params,
    layer: usize,
    block: &Block,
    cache: LayerCache,
    mut d_out: Array2<f32>,
    last: bool,
    grads: &mut Params,
) -> Array2<f32> {
    let n = block.n_dst;
    if !last {
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
    let mut d_in = Array2::<f32>::zeros(cache.input.raw_dim());
    d_in.slice_mut(s![..n, ..])
        .assign(&d_pre.dot(&params.w_self(layer).t()));
    for (r, (a, adj)) in cache.aggregated.iter().zip(&block.adjacency).enumerate() {
        grads
            .at_mut(layer, 1 + r)
            .view_mut()
            .scaled_add(1.0, &a.t().dot(&d_pre));
        let d_agg = d_pre.dot(&params.w_rel(layer, r).t());
        for (i, g) in d_agg.outer_iter().enumerate() {
            let nbrs = adj.row(i);
            if nbrs.is_empty() {
                continue;
            }
            let w = 1.0 / nbrs.len() as f32;
            for &j in nbrs {
                d_in.row_mut(j as usize).scaled_add(w, &g);
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
pub fn normalize_rows(h: &Array2<f32>) -> (Array2<f32>, Vec<f32>) {
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
pub fn normalize_backward(z: &Array2<f32>, norms: &[f32], dz: Array2<f32>) -> Array2<f32> {
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
pub struct Pair {
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
pub fn pair_loss(z: &Array2<f32>, pairs: &[Pair], alpha: f32, beta: f32) -> (f64, Array2<f32>, [f32; 2]) {
    let mut dz = Array2::<f32>::zeros(z.raw_dim());
    let (mut loss, mut d_alpha, mut d_beta) = (0f64, 0f32, 0f32);
    for p in pairs {
        let (a, b) = (p.a as usize, p.b as usize);
        let cos = z.row(a).dot(&z.row(b));
        let logit = alpha * cos + beta;
        // log(1 + e^x) computed stably.
        let softplus = |x: f32| x.max(0.0) + (-x.abs()).exp().ln_1p();
        loss += f64::from(p.weight * if p.label > 0.5 { softplus(-logit) } else { softplus(logit) });
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

