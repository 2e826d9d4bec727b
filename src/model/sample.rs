//! Edge sampling: which listing edges are training roots, the negatives drawn for each, and
//! the per-layer computation blocks of a mini-batch (the sampled neighbourhoods, with the
//! root edges excluded and, for simulated-cold products, every listing edge hidden).

use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::index;
use rustc_hash::{FxHashMap, FxHashSet};

use super::graph::{Graph, Relation};
use super::layer::{Block, BlockAdjacency, Pair};
use super::{ModelConfig, Sampling};
use crate::rng::Stream;
use crate::store::Id;

/// The root (training) edges: under stratified sampling, per seller only the edges to
/// high-demand products or to the seller's `top_viewed` most-viewed listed products; under
/// uniform sampling, every listing edge.
pub fn root_edges(graph: &Graph, cfg: &ModelConfig) -> Vec<(Id, Id)> {
    let mut roots = Vec::new();
    for s in 0..graph.sellers {
        let products = graph.lists.neighbours(s);
        if !cfg.seller_identity && products.len() < 2 {
            continue;
        }
        match cfg.sampling {
            Sampling::Uniform => roots.extend(products.iter().map(|&p| (s, p))),
            Sampling::Stratified => {
                let mut ranked: Vec<Id> = products.to_vec();
                // Most viewed first; ties by id, so the choice is reproducible.
                ranked.sort_by(|&a, &b| {
                    graph.views[b as usize]
                        .total_cmp(&graph.views[a as usize])
                        .then(a.cmp(&b))
                });
                for (rank, &p) in ranked.iter().enumerate() {
                    if rank < cfg.top_viewed || graph.high_demand[p as usize] {
                        roots.push((s, p));
                    }
                }
            }
        }
    }
    roots
}

/// Draws negatives from the products a recommendation could name (listed or high-demand, not
/// auxiliary) with probability ∝ (degree + 1)^power, degree counting listing and co-purchase
/// edges.
pub(crate) struct NegativeSampler {
    products: Vec<Id>,
    cumulative: Vec<f64>,
}

impl NegativeSampler {
    /// The sampler of a graph.
    pub(crate) fn new(graph: &Graph, power: f32) -> NegativeSampler {
        let mut products = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0f64;
        for p in 0..graph.products {
            if graph.is_auxiliary(p) {
                continue;
            }
            let degree = graph.listed_by.degree(p) + graph.copurchase.degree(p);
            total += ((degree + 1) as f64).powf(f64::from(power));
            products.push(p);
            cumulative.push(total);
        }
        NegativeSampler {
            products,
            cumulative,
        }
    }

    /// One product, or `None` from an empty pool.
    pub(crate) fn draw(&self, rng: &mut Xoshiro256PlusPlus) -> Option<Id> {
        let total = *self.cumulative.last()?;
        let x = rng.random::<f64>() * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        Some(self.products[i.min(self.products.len() - 1)])
    }
}

/// The blocks and scored pairs of one mini-batch shard.
#[derive(Debug, Default)]
pub struct Sample {
    /// Blocks from the input layer up; the last block's destinations are the scored nodes.
    pub(crate) blocks: Vec<Block>,
    /// Scored pairs, as rows of the last block's destinations.
    pub(crate) pairs: Vec<Pair>,
    /// Products treated as cold in this sample (listing edges and identity rows hidden).
    pub(crate) hidden: FxHashSet<u32>,
    /// The sellers' listings the sample hides, taken out of their text features.
    pub(crate) removal: Removal,
}

/// Whether a sample hides seller `s`'s listing of product `p`: it is one of the sample's root
/// edges, or `p` is a product the sample made cold.
fn hides_listing(
    g: &Graph,
    s: Id,
    p: Id,
    hidden: &FxHashSet<u32>,
    excluded: &FxHashSet<(Id, Id)>,
) -> bool {
    excluded.contains(&(s, p)) || hidden.contains(&g.product_node(p))
}

/// The listings a sample hides from its sellers' text features: its root edges, and every
/// listing of its cold products.
#[derive(Debug, Default)]
pub(crate) struct Removal {
    /// The root edges.
    excluded: FxHashSet<(Id, Id)>,
    /// One bit per seller that lists a cold product or has a root edge; the others, most of
    /// the sellers a sample reaches, lose nothing and need no look at their listings.
    sellers: Vec<u64>,
}

impl Removal {
    /// The removal of a sample's cold products (`hidden`, nodes) and root edges.
    fn new(g: &Graph, hidden: &FxHashSet<u32>, excluded: FxHashSet<(Id, Id)>) -> Removal {
        let mut sellers = vec![0u64; (g.sellers as usize).div_ceil(64)];
        let mut mark = |s: Id| sellers[s as usize / 64] |= 1 << (s % 64);
        for &node in hidden.iter().filter(|&&node| !g.is_seller(node)) {
            g.listed_by
                .neighbours(node - g.sellers)
                .iter()
                .for_each(|&s| mark(s));
        }
        excluded.iter().for_each(|&(s, _)| mark(s));
        Removal { excluded, sellers }
    }

    /// The products in `listed` (seller `s`'s, ascending) that the sample hides from `s`,
    /// ascending; looked up from the smaller side.
    pub(crate) fn of(&self, g: &Graph, s: Id, listed: &[Id], hidden: &FxHashSet<u32>) -> Vec<Id> {
        let marked = self
            .sellers
            .get(s as usize / 64)
            .is_some_and(|bits| bits & (1 << (s % 64)) != 0);
        if !marked {
            return Vec::new();
        }
        if listed.len() <= hidden.len() + self.excluded.len() {
            return listed
                .iter()
                .copied()
                .filter(|&p| hides_listing(g, s, p, hidden, &self.excluded))
                .collect();
        }
        let mut out: Vec<Id> = hidden
            .iter()
            .filter(|&&node| !g.is_seller(node))
            .map(|&node| node - g.sellers)
            .chain(self.excluded.iter().filter(|e| e.0 == s).map(|e| e.1))
            .filter(|&p| listed.binary_search(&p).is_ok())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Neighbour lists longer than this many times the fan-out are sampled by drawing positions.
const DRAW_ABOVE: usize = 4;

/// Draws distinct positions of `raw` at random until `fanout` of them are visible, into `out`
/// as (position, node); false (and `out` unspecified) when too many draws are hidden to be
/// quick, so the caller filters the whole list instead. Each visible neighbour is equally
/// likely, as when sampling from the filtered list.
fn draw_visible(
    raw: &[u32],
    fanout: usize,
    visible: impl Fn(u32) -> Option<u32>,
    rng: &mut Xoshiro256PlusPlus,
    out: &mut Vec<(usize, u32)>,
) -> bool {
    out.clear();
    let mut tried = FxHashSet::default();
    let limit = fanout * DRAW_ABOVE;
    while out.len() < fanout {
        if tried.len() >= limit {
            return false;
        }
        let k = rng.random_range(0..raw.len());
        if tried.insert(k)
            && let Some(node) = visible(raw[k])
        {
            out.push((k, node));
        }
    }
    true
}

/// Builds mini-batch samples over one graph.
pub struct Sampler<'g> {
    graph: &'g Graph,
    cfg: &'g ModelConfig,
    relations: Vec<Relation>,
    negatives: NegativeSampler,
}

/// Node positions of a block's sources while it is assembled.
struct Frontier {
    src: Vec<u32>,
    position: FxHashMap<u32, u32>,
}

impl Frontier {
    fn new(nodes: Vec<u32>) -> Frontier {
        let position = nodes
            .iter()
            .enumerate()
            .map(|(i, &n)| (n, i as u32))
            .collect();
        Frontier {
            src: nodes,
            position,
        }
    }

    fn add(&mut self, node: u32) -> u32 {
        let next = self.src.len() as u32;
        let at = *self.position.entry(node).or_insert(next);
        if at == next {
            self.src.push(node);
        }
        at
    }
}

impl<'g> Sampler<'g> {
    /// A sampler for `graph` under `cfg`.
    pub fn new(graph: &'g Graph, cfg: &'g ModelConfig) -> Sampler<'g> {
        Sampler {
            graph,
            cfg,
            relations: cfg.relations(),
            negatives: NegativeSampler::new(graph, cfg.negative_power),
        }
    }

    /// The sample of `roots`, whose pairs are weighted for a batch of `batch_size` roots.
    pub fn sample(
        &self,
        roots: &[(Id, Id)],
        batch_size: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Sample {
        let g = self.graph;
        let mut top = Frontier::new(Vec::new());
        let mut pairs = Vec::new();
        let weight = 1.0 / batch_size.max(1) as f32;
        let mut per_root: Vec<Vec<Id>> = Vec::with_capacity(roots.len());
        for &(s, p) in roots {
            let mut negs = Vec::with_capacity(self.cfg.negatives + roots.len());
            for _ in 0..self.cfg.negatives {
                match self.negatives.draw(rng) {
                    Some(n) if n != p && !g.lists.contains(s, n) => negs.push(n),
                    _ => {}
                }
            }
            if self.cfg.in_batch_negatives {
                negs.extend(
                    roots
                        .iter()
                        .map(|&(_, q)| q)
                        .filter(|&q| q != p && !g.lists.contains(s, q)),
                );
            }
            per_root.push(negs);
        }
        for (&(s, p), negs) in roots.iter().zip(&per_root) {
            let a = top.add(s);
            let b = top.add(g.product_node(p));
            pairs.push(Pair {
                a,
                b,
                label: 1.0,
                weight,
            });
            let w = if negs.is_empty() {
                0.0
            } else {
                weight / negs.len() as f32
            };
            for &n in negs {
                let b = top.add(g.product_node(n));
                pairs.push(Pair {
                    a,
                    b,
                    label: 0.0,
                    weight: w,
                });
            }
        }
        // Coldness: a share of the scored products lose every listing edge for this batch,
        // as high-demand products have none at inference.
        let hidden: FxHashSet<u32> = top
            .src
            .iter()
            .copied()
            .filter(|&n| !g.is_seller(n) && rng.random::<f32>() < self.cfg.cold_share)
            .collect();
        let excluded: FxHashSet<(Id, Id)> = roots.iter().copied().collect();

        let mut blocks = Vec::with_capacity(self.cfg.layers);
        let mut frontier = top;
        for hop in 0..self.cfg.layers {
            let fanout = match (hop, self.cfg.sampling) {
                (0, _) | (_, Sampling::Uniform) => self.cfg.fanout,
                _ => self.cfg.fanout_deep,
            };
            let (block, next) = self.expand(frontier, fanout, &hidden, &excluded, rng);
            blocks.push(block);
            frontier = next;
        }
        blocks.reverse();
        let removal = Removal::new(g, &hidden, excluded);
        Sample {
            blocks,
            pairs,
            hidden,
            removal,
        }
    }

    /// A block over `nodes` with every neighbour (inference).
    pub(crate) fn full_block(&self, nodes: Vec<u32>) -> Block {
        let mut unused = Stream::UNDRAWN.rng(0, &[]);
        let none = FxHashSet::default();
        self.expand(
            Frontier::new(nodes),
            usize::MAX,
            &none,
            &FxHashSet::default(),
            &mut unused,
        )
        .0
    }

    /// The block whose destinations are `frontier`, with up to `fanout` neighbours per node
    /// and relation, and the next frontier (its sources).
    fn expand(
        &self,
        frontier: Frontier,
        fanout: usize,
        hidden: &FxHashSet<u32>,
        excluded: &FxHashSet<(Id, Id)>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> (Block, Frontier) {
        let n_dst = frontier.src.len();
        let mut next = Frontier::new(frontier.src.clone());
        let mut adjacency = vec![
            BlockAdjacency {
                indptr: vec![0],
                ..BlockAdjacency::default()
            };
            self.relations.len()
        ];
        // Visible neighbours as (position in the raw list, node).
        let mut candidates: Vec<(usize, u32)> = Vec::new();
        let mut picked: Vec<(usize, u32)> = Vec::new();
        for &v in &frontier.src {
            for (r, &rel) in self.relations.iter().enumerate() {
                let row_start = adjacency[r].indices.len();
                let raw = self.raw_neighbours(v, rel, hidden);
                let visible = |u: u32| self.visible(v, rel, u, hidden, excluded);
                let adj = &mut adjacency[r];
                // A node with many neighbours (a popular product has thousands of sellers):
                // draw positions until `fanout` visible ones, rather than filter them all.
                let drawn = raw.len() > fanout.saturating_mul(DRAW_ABOVE)
                    && draw_visible(raw, fanout, visible, rng, &mut picked);
                if !drawn {
                    candidates.clear();
                    candidates.extend(
                        raw.iter()
                            .enumerate()
                            .filter_map(|(k, &u)| visible(u).map(|node| (k, node))),
                    );
                    picked.clear();
                    if candidates.len() <= fanout {
                        picked.extend_from_slice(&candidates);
                    } else {
                        picked.extend(
                            index::sample(rng, candidates.len(), fanout)
                                .iter()
                                .map(|k| candidates[k]),
                        );
                    }
                }
                for &(_, u) in &picked {
                    adj.indices.push(next.add(u));
                }
                if rel == Relation::Copurchase {
                    self.weigh_partners(v, row_start, adj, &picked);
                }
                adj.indptr.push(adj.indices.len() as u32);
            }
        }
        let block = Block {
            n_dst,
            dst_is_seller: frontier
                .src
                .iter()
                .map(|&n| self.graph.is_seller(n))
                .collect(),
            src: next.src.clone(),
            adjacency,
        };
        (block, next)
    }

    /// The weights of product node `v`'s co-purchase partners `picked` (positions in its
    /// neighbour list, and nodes), entered in `adj` from `row_start` on: each pair's weight
    /// over their sum, so the encoder's mean counts a strong pair more than a weak one.
    /// Nothing when the graph's pairs weigh alike (then the relation's weights stay empty: a
    /// plain mean).
    fn weigh_partners(
        &self,
        v: u32,
        row_start: usize,
        adj: &mut BlockAdjacency,
        picked: &[(usize, u32)],
    ) {
        let g = self.graph;
        let weights = &mut adj.weights;
        if g.copurchase_weights.is_empty() || picked.is_empty() {
            return;
        }
        let pair_weights = g.copurchase_weights_of(v - g.sellers);
        weights.extend(picked.iter().map(|&(k, _)| pair_weights[k]));
        let row_weights = &mut weights[row_start..];
        let total: f32 = row_weights.iter().sum();
        let n = row_weights.len() as f32;
        for w in row_weights {
            *w = match total > 0.0 {
                true => *w / total,
                false => 1.0 / n,
            };
        }
    }

    /// Node `v`'s neighbour list under `rel` (store ids; empty when `rel` does not leave `v`'s
    /// kind, or `v` is a product the batch made cold).
    fn raw_neighbours(&self, v: u32, rel: Relation, hidden: &FxHashSet<u32>) -> &'g [u32] {
        let g = self.graph;
        match (rel, g.is_seller(v)) {
            (Relation::Lists, true) => g.lists.neighbours(v),
            (Relation::ListedBy, false) if !hidden.contains(&v) => {
                g.listed_by.neighbours(v - g.sellers)
            }
            (Relation::Copurchase, false) => g.copurchase.neighbours(v - g.sellers),
            _ => &[],
        }
    }

    /// The node index of neighbour `u` (a store id from [`Sampler::raw_neighbours`]) of `v`
    /// under `rel`, if the batch may see it: root edges and cold products' listings are hidden.
    fn visible(
        &self,
        v: u32,
        rel: Relation,
        u: u32,
        hidden: &FxHashSet<u32>,
        excluded: &FxHashSet<(Id, Id)>,
    ) -> Option<u32> {
        let g = self.graph;
        match rel {
            Relation::Lists => {
                (!hides_listing(g, v, u, hidden, excluded)).then_some(g.product_node(u))
            }
            Relation::ListedBy => (!excluded.contains(&(u, v - g.sellers))).then_some(u),
            Relation::Copurchase => Some(g.product_node(u)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_neighbours_are_distinct_visible_and_uniform() {
        // 400 neighbours, every third hidden; fan-out 10.
        let raw: Vec<u32> = (0..400).collect();
        let visible = |u: u32| (!u.is_multiple_of(3)).then_some(u + 1000);
        let mut rng = Stream::TESTS.rng(7, &[]);
        let mut counts = vec![0u32; 400];
        let mut out = Vec::new();
        let rounds = 4000;
        for _ in 0..rounds {
            assert!(draw_visible(&raw, 10, visible, &mut rng, &mut out));
            assert_eq!(out.len(), 10);
            let mut seen = out.clone();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), 10, "a neighbour drawn twice: {out:?}");
            for &(k, node) in &out {
                assert_eq!(node, raw[k] + 1000, "a position and its node");
                assert!(
                    node >= 1000 && (node - 1000) % 3 != 0,
                    "hidden {node} drawn"
                );
                counts[(node - 1000) as usize] += 1;
            }
        }
        // Each of the 266 visible neighbours is expected 4000 · 10 / 266 ≈ 150 times.
        let visible_counts: Vec<u32> = (0..400)
            .filter(|u: &usize| !u.is_multiple_of(3))
            .map(|u| counts[u])
            .collect();
        let (lo, hi) = (
            *visible_counts.iter().min().unwrap(),
            *visible_counts.iter().max().unwrap(),
        );
        assert!(lo > 90 && hi < 220, "counts from {lo} to {hi}");
    }

    #[test]
    fn a_products_partners_are_averaged_by_their_pair_weights() {
        use crate::model::graph::Adjacency;
        use std::sync::Arc;
        // One seller; product 0 bought with 1, 2 and 3, weights 0.6, 0.3 and 0.1 from its side.
        let mut pairs = vec![(0, 1), (0, 2), (0, 3), (1, 0), (2, 0), (3, 0)];
        let copurchase = Adjacency::from_pairs(4, &mut pairs);
        let weights = vec![0.6, 0.3, 0.1, 0.6, 0.3, 0.1];
        let graph = Graph {
            sellers: 1,
            products: 4,
            copurchase: Arc::new(copurchase),
            copurchase_weights: Arc::new(weights),
            views: vec![0.0; 4],
            high_demand: vec![false; 4],
            ..Graph::default()
        };
        let cfg = ModelConfig::default();
        let sampler = Sampler::new(&graph, &cfg);
        let r = cfg
            .relations()
            .iter()
            .position(|&r| r == Relation::Copurchase)
            .unwrap();
        // The seller (no partners) and product 0 (node 1).
        let block = sampler.full_block(vec![0, 1]);
        let adj = &block.adjacency[r];
        let partners: Vec<u32> = adj.indices.iter().map(|&j| block.src[j as usize]).collect();
        assert_eq!(partners, [2, 3, 4]);
        let expected = [0.6, 0.3, 0.1];
        assert!(
            adj.weights
                .iter()
                .zip(expected)
                .all(|(w, e)| (w - e).abs() < 1e-6),
            "{:?}",
            adj.weights
        );
        // Counts that do not vary leave the plain mean.
        let plain = Graph {
            copurchase_weights: Arc::default(),
            ..graph.clone()
        };
        let sampler = Sampler::new(&plain, &cfg);
        assert!(
            sampler.full_block(vec![0, 1]).adjacency[r]
                .weights
                .is_empty()
        );
    }

    #[test]
    fn a_removal_is_every_hidden_listing_of_each_seller() {
        use crate::model::graph::Adjacency;
        use rand::SeedableRng;
        // 30 sellers listing among 50 products at random.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let mut lists: Vec<(u32, u32)> = (0..300)
            .map(|_| (rng.random_range(0..30), rng.random_range(0..50)))
            .collect();
        let mut listed_by: Vec<(u32, u32)> = lists.iter().map(|&(s, p)| (p, s)).collect();
        let graph = Graph {
            sellers: 30,
            products: 50,
            lists: Adjacency::from_pairs(30, &mut lists),
            listed_by: Adjacency::from_pairs(50, &mut listed_by),
            ..Graph::default()
        };
        for _ in 0..20 {
            // Some cold products (as nodes, with a seller node among them) and root edges.
            let mut hidden: FxHashSet<u32> = (0..8).map(|_| rng.random_range(30..80)).collect();
            hidden.insert(3);
            let excluded: FxHashSet<(Id, Id)> = (0..6)
                .map(|_| lists[rng.random_range(0..lists.len())])
                .collect();
            let removal = Removal::new(&graph, &hidden, excluded.clone());
            for s in 0..30 {
                let expected: Vec<Id> = graph
                    .lists
                    .neighbours(s)
                    .iter()
                    .copied()
                    .filter(|&p| hides_listing(&graph, s, p, &hidden, &excluded))
                    .collect();
                let found = removal.of(&graph, s, graph.lists.neighbours(s), &hidden);
                assert_eq!(found, expected, "seller {s}");
            }
        }
    }

    #[test]
    fn mostly_hidden_neighbours_fall_back_to_filtering() {
        let raw: Vec<u32> = (0..400).collect();
        // Only 2 of 400 visible: drawing would take too long, so the caller filters instead.
        let visible = |u: u32| (u < 2).then_some(u);
        let mut out = Vec::new();
        assert!(!draw_visible(
            &raw,
            10,
            visible,
            &mut Stream::TESTS.rng(1, &[]),
            &mut out
        ));
    }
}
