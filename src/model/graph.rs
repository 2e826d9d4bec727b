//! The training graph: an in-memory CSR snapshot of the store's listing and co-purchase edges,
//! with the per-product facts sampling needs (views, high-demand, auxiliary). The store is the
//! source of truth; the snapshot is rebuilt for every training run.

use std::sync::Arc;

use crate::copurchase::{Relation as LinkRelation, Rule, default_threshold};
use crate::rng::{Stream, share_threshold};
use crate::store::{Id, Namespace, Store, StoreError};

/// A relation between node kinds; the encoder has one weight matrix per enabled relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Relation {
    /// Seller → the products it lists.
    Lists,
    /// Product → the sellers that list it.
    ListedBy,
    /// Product → its co-purchase partners ([`crate::copurchase::Rule`]).
    Copurchase,
}

/// Adjacency lists: node `v`'s neighbours are `indices[indptr[v]..indptr[v + 1]]`, ascending.
#[derive(Clone, Debug, Default)]
pub(crate) struct Adjacency {
    indptr: Vec<usize>,
    indices: Vec<u32>,
}

impl Adjacency {
    /// Builds `rows` adjacency lists from `(row, neighbour)` pairs, dropping repeats.
    pub(crate) fn from_pairs(rows: usize, pairs: &mut Vec<(u32, u32)>) -> Adjacency {
        pairs.sort_unstable();
        pairs.dedup();
        let mut indptr = vec![0usize; rows + 1];
        for &(r, _) in pairs.iter() {
            indptr[r as usize + 1] += 1;
        }
        for r in 0..rows {
            indptr[r + 1] += indptr[r];
        }
        let indices = pairs.iter().map(|&(_, n)| n).collect();
        Adjacency { indptr, indices }
    }

    /// The neighbours of `v` (empty past the last row).
    pub(crate) fn neighbours(&self, v: u32) -> &[u32] {
        &self.indices[self.span(v)]
    }

    /// Where `v`'s neighbours are among all stored edges (to index a weight stored per edge).
    pub(crate) fn span(&self, v: u32) -> std::ops::Range<usize> {
        let v = v as usize;
        if v + 1 >= self.indptr.len() {
            return 0..0;
        }
        self.indptr[v]..self.indptr[v + 1]
    }

    /// Number of neighbours of `v`.
    pub(crate) fn degree(&self, v: u32) -> usize {
        self.neighbours(v).len()
    }

    /// Whether `n` is a neighbour of `v`.
    pub(crate) fn contains(&self, v: u32, n: u32) -> bool {
        self.neighbours(v).binary_search(&n).is_ok()
    }

    /// Number of stored (directed) edges.
    pub(crate) fn edges(&self) -> usize {
        self.indices.len()
    }

    /// Where `n` is among all stored edges, if it is a neighbour of `v` (to index a weight
    /// stored per edge).
    pub(crate) fn position(&self, v: u32, n: u32) -> Option<usize> {
        let at = self.neighbours(v).binary_search(&n).ok()?;
        Some(self.indptr[v as usize] + at)
    }
}

/// The default of [`GraphOptions::copurchase_cap`] (see `docs/model.md` for how it was chosen).
pub(crate) const DEFAULT_COPURCHASE_CAP: u32 = 50;

/// Which products and edges the graph keeps.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GraphOptions {
    /// Co-purchase count at which a pair becomes an edge; `None` = automatic
    /// ([`default_threshold`]).
    pub copurchase_threshold: Option<u64>,
    /// Co-purchase partners the encoder aggregates per product, the strongest (highest
    /// counts) first (0: all). The score's link features choose their own relation.
    pub copurchase_cap: u32,
    /// Keep the co-purchase relation.
    pub copurchase: bool,
    /// Keep auxiliary products (neither listed nor high-demand) as co-purchase neighbours.
    pub auxiliary: bool,
    /// View periods (drops) summed for "most viewed".
    pub views_window: u32,
}

impl Default for GraphOptions {
    fn default() -> Self {
        GraphOptions {
            copurchase_threshold: None,
            copurchase_cap: DEFAULT_COPURCHASE_CAP,
            copurchase: true,
            auxiliary: true,
            views_window: 2,
        }
    }
}

/// The snapshot. Node ids are the store's dense ids, per kind.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Number of sellers (ids `0..sellers`).
    pub(crate) sellers: u32,
    /// Number of products (ids `0..products`).
    pub(crate) products: u32,
    /// Seller → products.
    pub(crate) lists: Adjacency,
    /// Product → sellers.
    pub(crate) listed_by: Adjacency,
    /// Product → its co-purchase partners the encoder aggregates: the `copurchase_cap`
    /// strongest (shared, not copied, by [`Graph::hold_out`]: it is the largest relation).
    pub(crate) copurchase: Arc<Adjacency>,
    /// Per edge of `copurchase` (in its order): the pair's weight `w(p, q)` under the default
    /// strength ([`crate::copurchase::Relation`]), by which the encoder averages a product's
    /// partners; empty when the counts do not vary (every pair weighs alike: a plain mean).
    pub(crate) copurchase_weights: Arc<Vec<f32>>,
    /// Views per product over the window.
    pub(crate) views: Vec<f32>,
    /// Whether a product is on the current high-demand list.
    pub(crate) high_demand: Vec<bool>,
    /// Every co-purchase pair at or above the threshold between kept products, once each
    /// (`a < b`) with its count: the score's link features build their relation from it.
    pub(crate) pairs: Arc<Vec<(Id, Id, u64)>>,
    /// The count at which a pair counts.
    pub(crate) threshold: u64,
}

impl Graph {
    /// Reads the snapshot from the store.
    pub fn load(store: &Store, opts: &GraphOptions) -> Result<Graph, StoreError> {
        let sellers = store.entity_count(Namespace::Seller)?;
        let products = store.entity_count(Namespace::Product)?;
        let mut listing = Vec::new();
        store.for_each_listing(|s, p, _| listing.push((s, p)))?;
        let mut by_product: Vec<(u32, u32)> = listing.iter().map(|&(s, p)| (p, s)).collect();
        let lists = Adjacency::from_pairs(sellers as usize, &mut listing);
        let listed_by = Adjacency::from_pairs(products as usize, &mut by_product);
        drop(listing);

        let mut high_demand = vec![false; products as usize];
        if let Some(period) = store.high_demand_period()? {
            for id in store.high_demand(period)? {
                high_demand[id as usize] = true;
            }
        }
        let mut pairs = Vec::new();
        let mut max_count = 0;
        if opts.copurchase {
            store.for_each_copurchase(|a, b, c| {
                max_count = max_count.max(c);
                // Stored from both sides: one is enough.
                if a < b {
                    pairs.push((a, b, c));
                }
            })?;
        }
        let threshold = opts
            .copurchase_threshold
            .unwrap_or_else(|| default_threshold(max_count));
        let kept = |p: Id| opts.auxiliary || high_demand[p as usize] || listed_by.degree(p) > 0;
        pairs.retain(|&(a, b, c)| c >= threshold && kept(a) && kept(b));
        let rule = Rule {
            threshold,
            cap: opts.copurchase_cap,
            ..Rule::default()
        };
        // The cap keeps the highest counts, whatever the strength: the encoder's neighbours
        // are the same under every strength.
        let relation = rule.relation(products as usize, &pairs);
        let mut edges: Vec<(u32, u32)> = relation
            .lists()
            .flat_map(|(p, list)| list.iter().map(move |&(q, _)| (p, q)))
            .collect();
        let copurchase = Adjacency::from_pairs(products as usize, &mut edges);
        drop(edges);
        let mut copurchase_weights = Vec::new();
        if counts_vary(&pairs) {
            copurchase_weights = vec![0.0; copurchase.edges()];
            for (p, list) in relation.lists() {
                for &(q, w) in list {
                    let at = copurchase.position(p, q).expect("an edge of the relation");
                    copurchase_weights[at] = w;
                }
            }
        }
        drop(relation);

        let latest = store.next_drop_seq()?.saturating_sub(1);
        let first = latest.saturating_sub(opts.views_window.max(1) - 1).max(1);
        let mut views = vec![0f32; products as usize];
        store.for_each_views(|p, period, v| {
            if (first..=latest).contains(&period) {
                views[p as usize] += v as f32;
            }
        })?;
        Ok(Graph {
            sellers,
            products,
            lists,
            listed_by,
            copurchase: Arc::new(copurchase),
            copurchase_weights: Arc::new(copurchase_weights),
            views,
            high_demand,
            pairs: Arc::new(pairs),
            threshold,
        })
    }

    /// Total nodes: sellers first, then products.
    pub fn nodes(&self) -> usize {
        (self.sellers + self.products) as usize
    }

    /// The node index of a product.
    pub fn product_node(&self, p: Id) -> u32 {
        self.sellers + p
    }

    /// Whether a node index is a seller.
    pub(crate) fn is_seller(&self, node: u32) -> bool {
        node < self.sellers
    }

    /// Validation products, like the cold split's high-demand set: a seeded `share` (at most
    /// `cap`) of the products listed by at least two sellers.
    pub(crate) fn validation_products(&self, share: f32, cap: usize, seed: u64) -> Vec<Id> {
        validation_products(
            |p| self.listed_by.degree(p),
            &self.high_demand,
            (share, cap, seed),
        )
    }

    /// This graph without any listing edge of `products` (which become cold, as high-demand
    /// products are), and the removed `(seller, product)` edges.
    pub(crate) fn hold_out(&self, products: &[Id]) -> (Graph, Vec<(Id, Id)>) {
        let mut held = vec![false; self.products as usize];
        for &p in products {
            held[p as usize] = true;
        }
        let mut kept = Vec::new();
        let mut removed = Vec::new();
        for s in 0..self.sellers {
            for &p in self.lists.neighbours(s) {
                if held[p as usize] {
                    removed.push((s, p));
                } else {
                    kept.push((s, p));
                }
            }
        }
        let mut by_product: Vec<(u32, u32)> = kept.iter().map(|&(s, p)| (p, s)).collect();
        let graph = Graph {
            lists: Adjacency::from_pairs(self.sellers as usize, &mut kept),
            listed_by: Adjacency::from_pairs(self.products as usize, &mut by_product),
            ..self.clone()
        };
        (graph, removed)
    }

    /// Whether a node has an identity of its own: every seller, and every product with a
    /// listing. Cold products (no listing, like every high-demand product) are represented
    /// by their text and their neighbours only, in training as at inference.
    pub(crate) fn is_warm(&self, node: u32) -> bool {
        self.is_seller(node) || self.listed_by.degree(node - self.sellers) > 0
    }

    /// The weighted co-purchase relation of the link features under `rule` (its threshold
    /// is the graph's).
    pub(crate) fn link_relation(&self, rule: Rule) -> LinkRelation {
        rule.relation(self.products as usize, &self.pairs)
    }

    /// Whether the co-purchase counts vary: without (pre-aggregated "also bought" lists,
    /// every count alike) every [`crate::copurchase::Strength`] weighs pairs alike.
    pub(crate) fn counts_vary(&self) -> bool {
        counts_vary(&self.pairs)
    }

    /// The weights of product `p`'s co-purchase edges the encoder averages by, one per entry
    /// of its neighbour list (empty: a plain mean).
    pub(crate) fn copurchase_weights_of(&self, p: Id) -> &[f32] {
        if self.copurchase_weights.is_empty() {
            return &[];
        }
        &self.copurchase_weights[self.copurchase.span(p)]
    }

    /// Whether a product is auxiliary: neither listed nor high-demand.
    pub(crate) fn is_auxiliary(&self, p: Id) -> bool {
        !self.high_demand[p as usize] && self.listed_by.degree(p) == 0
    }
}

/// [`Graph::validation_products`] from each product's number of sellers (`sellers`) and the
/// high-demand flags, for a reader that streams the store instead of loading a graph (the
/// export, which leaves these products' listings out as training does).
pub(crate) fn validation_products(
    sellers: impl Fn(Id) -> usize,
    high_demand: &[bool],
    (share, cap, seed): (f32, usize, u64),
) -> Vec<Id> {
    let threshold = share_threshold(share);
    let mut picked: Vec<(u64, Id)> = (0..high_demand.len() as Id)
        .filter(|&p| sellers(p) >= 2 && !high_demand[p as usize])
        .map(|p| (Stream::VALIDATION.hash(seed, &[u64::from(p)]), p))
        .filter(|&(h, _)| h < threshold)
        .collect();
    picked.sort_unstable();
    picked.truncate(cap);
    let mut products: Vec<Id> = picked.into_iter().map(|(_, p)| p).collect();
    products.sort_unstable();
    products
}

/// Whether the counts of `pairs` are not all alike.
fn counts_vary(pairs: &[(Id, Id, u64)]) -> bool {
    let mut counts = pairs.iter().map(|&(_, _, c)| c);
    counts
        .next()
        .is_some_and(|first| counts.any(|c| c != first))
}
