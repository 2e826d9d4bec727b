//! Recommendations: for each seller, the top-K candidates of a category by score, excluding
//! what the seller already lists, keeping scores at or above the threshold.
//!
//! Retrieval is by cosine similarity in the ANN index (over-fetching by the number of the
//! seller's own listings among the candidates, so exclusions never shorten the list), plus the
//! candidates co-purchased with the seller's listings and the best of its categories' members
//! when the model's score has those terms; each is then scored exactly from the stored vectors
//! by the active model ([`ActiveModel::score`]), where 0.5 means "more likely one of this
//! seller's kind of product than not".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde::{Deserialize, Serialize};

use crate::affinity::{Affinity, Categories};
use crate::clock;
use crate::copurchase::{Links, Partners};
use crate::cosine::{cosine, dot, normalize};
use crate::features;
use crate::features::text::category_at;
use crate::index::{
    Ann, ArroyReader, BestK, ExactIndex, IndexError,
    stage::{self, StageError, candidates},
};
use crate::progress::{Cancelled, Progress};
use crate::store::{Id, Job, Namespace, Rec, RecList, StageBatch, Store, StoreError};
use crate::vectors::ActiveModel;

/// Errors of the recommend stage (and of `inspect`, which reuses it).
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    /// Nothing to recommend with yet.
    #[error("no active model: run `demandlink featurize` first")]
    NoModel,
    /// No index yet.
    #[error("no index: run `demandlink index` first")]
    NoIndex,
    /// The index holds another model's vectors (a model was trained since it was built).
    #[error(
        "the index was built from model generation {index}, but the active model is generation \
         {active}: run `demandlink index` (or `refresh`) first"
    )]
    StaleIndex {
        /// Model generation of the index.
        index: u32,
        /// Active model generation.
        active: u32,
    },
    /// The active graph model scores co-purchase links but its partner lists are missing
    /// (written by a build that did not store them).
    #[error(
        "model generation {0} has no stored co-purchase partner lists: retrain with \
         `demandlink train --full`"
    )]
    NoPartners(u32),
    /// The seller is not in the database.
    #[error("unknown seller `{0}`")]
    UnknownSeller(String),
    /// A category the index does not have.
    #[error("no candidates in category `{category}`; categories with candidates: {known}")]
    UnknownCategory {
        /// What was asked.
        category: String,
        /// What exists, comma-separated.
        known: String,
    },
    /// Stopped on request after a commit; rerunning continues.
    #[error("interrupted after a commit; rerun the same command to continue where it stopped")]
    Cancelled(#[from] Cancelled),
    /// The ANN index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<StageError> for RecommendError {
    /// Opening the active index fails only with the index's or the store's errors.
    fn from(e: StageError) -> Self {
        match e {
            StageError::Index(e) => RecommendError::Index(e),
            StageError::Store(e) => RecommendError::Store(e),
            StageError::NoModel => RecommendError::NoModel,
            StageError::NoCandidates => RecommendError::NoIndex,
        }
    }
}

/// Result type of recommend.
pub(crate) type Result<T> = std::result::Result<T, RecommendError>;

/// Which category lists to compute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CategoryChoice {
    /// The seller's primary category.
    Primary,
    /// One named category.
    Named(String),
    /// Every category of the index.
    All,
}

/// Which nearest-neighbour search serves a full recommend run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Search {
    /// Exact search in memory up to [`EXACT_UP_TO`] candidates, the ANN index above.
    Auto,
    /// Always exact search in memory.
    Exact,
    /// Always the on-disk ANN index.
    Index,
}

/// Options of `demandlink recommend`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecommendOptions {
    /// List length.
    pub k: usize,
    /// Minimum score.
    pub threshold: f32,
    /// Which categories.
    pub category: CategoryChoice,
    /// Sellers per committed chunk.
    pub batch: usize,
    /// Nearest-neighbour search for full runs (single sellers always use the index).
    pub search: Search,
}

impl Default for RecommendOptions {
    fn default() -> Self {
        RecommendOptions {
            k: 100,
            threshold: 0.5,
            category: CategoryChoice::Primary,
            batch: 2_000,
            search: Search::Auto,
        }
    }
}

/// A computed list plus what was left out of it.
#[derive(Clone, Debug)]
pub struct Computed {
    /// Category of the list.
    pub category: String,
    /// The list.
    pub list: RecList,
    /// Products the index returned that the seller already lists.
    pub(crate) excluded: Vec<Id>,
}

/// Computes lists for sellers against one index generation.
pub struct Recommender<'a> {
    store: &'a Store,
    ann: ArroyReader,
    model: ActiveModel,
    index_generation: u32,
    /// Candidate unit vectors and categories, when preloaded (all sellers); `None` reads the
    /// few vectors one seller needs from the store instead (`--seller`, `inspect`).
    candidates: Option<Table>,
    /// Exact search over the preloaded candidates, used instead of `ann` when there are few
    /// enough of them (see [`EXACT_UP_TO`]).
    exact: Option<ExactIndex>,
    /// The cosine below which a candidate without co-purchase links cannot reach the
    /// threshold; the exact search skips those (linked candidates are scored regardless).
    min_cosine: f32,
    opts: RecommendOptions,
    /// Co-purchase partners, when the model's score has a link term; without preloaded
    /// candidates, restricted to the high-demand list (when there is one).
    partners: Option<Partners<'a>>,
    /// Every product's category and the candidates in each, when the model's score has a
    /// category term.
    categories: Option<(Categories, HashMap<u32, Members>)>,
    category_depth: usize,
}

/// Up to this many candidates, exact search over vectors in memory is faster than the arroy
/// trees (measured: 2.3 ms against 2.8 ms per query at 100 k × 128 d over all items, and a
/// category of 8 k items scans in a tenth of the trees' time), and it is exact.
pub(crate) const EXACT_UP_TO: usize = 150_000;

impl<'a> Recommender<'a> {
    /// The recommender over the store's active index generation ([`RecommendError::NoIndex`]
    /// without one): loads the active model and, with `preload` (for many sellers), the
    /// candidates' vectors. The one constructor of `recommend`, `inspect` and `refresh`.
    pub fn open(store: &'a Store, opts: RecommendOptions, preload: bool) -> Result<Self> {
        let (generation, reader) = stage::open_active(store)?.ok_or(RecommendError::NoIndex)?;
        let depth = features::category_depth(store)?;
        Self::new(store, reader, generation, opts, depth, preload)
    }

    fn new(
        store: &'a Store,
        ann: ArroyReader,
        index_generation: u32,
        opts: RecommendOptions,
        category_depth: usize,
        preload: bool,
    ) -> Result<Self> {
        let model = ActiveModel::load(store)?.ok_or(RecommendError::NoModel)?;
        if let Some((_, index_model)) = store.active_index()?
            && index_model != model.generation
        {
            return Err(RecommendError::StaleIndex {
                index: index_model,
                active: model.generation,
            });
        }
        let (candidates, exact) = if preload {
            let all = candidates(store, &model, category_depth)?.items;
            let exact_wanted = match opts.search {
                Search::Auto => all.len() <= EXACT_UP_TO,
                Search::Exact => true,
                Search::Index => false,
            };
            let exact = match all.first() {
                Some((_, _, v)) if exact_wanted => {
                    Some(ExactIndex::new(v.len(), all.iter().cloned())?)
                }
                _ => None,
            };
            (Some(Table::new(all)), exact)
        } else {
            (None, None)
        };
        let generation = model.generation;
        if model.uses_links() && !store.has_partners(generation)? {
            return Err(RecommendError::NoPartners(generation));
        }
        let partners = match (model.uses_links(), &candidates) {
            (false, _) => None,
            (true, Some(table)) => Some(Partners::load(store, generation)?.only(table.ids())),
            // One seller's links, to the candidates only: the second step then reads no list
            // of a product that cannot be recommended.
            (true, None) => Some(match store.high_demand_period()? {
                Some(period) => Partners::lazy(store, generation).only(store.high_demand(period)?),
                None => Partners::lazy(store, generation),
            }),
        };
        let categories = match model.uses_category() {
            true => {
                let all = Categories::load(store)?;
                let candidate_ids: Vec<Id> = match &candidates {
                    Some(table) => table.ids().collect(),
                    None => match store.high_demand_period()? {
                        Some(period) => store.high_demand(period)?,
                        None => (0..store.entity_count(Namespace::Product)?).collect(),
                    },
                };
                let mut ids: HashMap<u32, Vec<Id>> = HashMap::default();
                for p in candidate_ids {
                    if let Some(c) = all.of(p) {
                        ids.entry(c).or_default().push(p);
                    }
                }
                let members = ids
                    .into_iter()
                    .map(|(c, mut ids)| {
                        ids.sort_unstable();
                        (c, Members::new(ids, candidates.as_ref()))
                    })
                    .collect();
                Some((all, members))
            }
            false => None,
        };
        let min_cosine = model
            .min_cosine(opts.threshold)
            .unwrap_or(f32::NEG_INFINITY);
        Ok(Recommender {
            store,
            ann,
            model,
            index_generation,
            candidates,
            exact,
            min_cosine,
            opts,
            partners,
            categories,
            category_depth,
        })
    }

    /// The nearest-neighbour search in use.
    fn search(&self) -> &dyn Ann {
        match &self.exact {
            Some(exact) => exact,
            None => &self.ann,
        }
    }

    /// The active model.
    pub fn model(&self) -> &ActiveModel {
        &self.model
    }

    /// The lists of one seller (empty when the seller has no vector).
    pub fn lists(&self, seller: Id) -> Result<Vec<Computed>> {
        let Some(asked) = self.ask(seller)? else {
            return Ok(Vec::new());
        };
        let nearest = asked
            .wanted
            .iter()
            .map(|(category, wanted)| self.nearest(category, &asked.query, *wanted))
            .collect::<Result<Vec<_>>>()?;
        self.answer(asked, nearest)
    }

    /// The lists of many sellers, in their order. With the exact search, the sellers that want
    /// one category are searched together ([`ExactIndex::nearest_above_many`]).
    pub(crate) fn lists_of(&self, sellers: &[Id]) -> Result<Vec<Vec<Computed>>> {
        let Some(exact) = &self.exact else {
            return sellers.iter().map(|&s| self.lists(s)).collect();
        };
        let asked = sellers
            .iter()
            .map(|&s| self.ask(s))
            .collect::<Result<Vec<_>>>()?;
        // (seller, list) positions per category, so each category is one search.
        let mut by_category: BTreeMap<&str, Vec<(usize, usize)>> = BTreeMap::new();
        for (i, a) in asked.iter().enumerate() {
            for (j, (category, wanted)) in a.iter().flat_map(|a| a.wanted.iter()).enumerate() {
                if *wanted > 0 {
                    by_category.entry(category).or_default().push((i, j));
                }
            }
        }
        let mut nearest: Vec<Vec<Vec<(u32, f32)>>> = asked
            .iter()
            .map(|a| vec![Vec::new(); a.as_ref().map_or(0, |a| a.wanted.len())])
            .collect();
        for (category, at) in &by_category {
            let query = |&(i, _): &(usize, usize)| asked[i].as_ref().expect("asked");
            let queries: Vec<&[f32]> = at.iter().map(|p| query(p).query.as_slice()).collect();
            let ks: Vec<usize> = at.iter().map(|p| query(p).wanted[p.1].1).collect();
            let found = exact.nearest_above_many(Some(category), &queries, &ks, self.min_cosine)?;
            for (&(i, j), found) in at.iter().zip(found) {
                nearest[i][j] = found;
            }
        }
        asked
            .into_iter()
            .zip(nearest)
            .map(|(a, nearest)| match a {
                Some(a) => self.answer(a, nearest),
                None => Ok(Vec::new()),
            })
            .collect()
    }

    /// What one seller's lists need: its unit vector, listings, co-purchase links and the
    /// categories wanted with how many nearest candidates each (`None`: no vector).
    fn ask(&self, seller: Id) -> Result<Option<Asked>> {
        let Some(mut query) = self.model.seller(self.store, seller)? else {
            return Ok(None);
        };
        if query.iter().all(|&x| x == 0.0) {
            return Ok(None);
        }
        // Unit length once, so a preloaded (unit) candidate's cosine is one dot product.
        normalize(&mut query);
        let known = self.search().categories();
        let categories: Vec<String> = match &self.opts.category {
            CategoryChoice::Primary => {
                let primary = self
                    .store
                    .profile(seller)?
                    .map(|p| p.primary_category)
                    .unwrap_or_default();
                vec![primary]
            }
            CategoryChoice::Named(c) => {
                if !known.contains(c) {
                    return Err(RecommendError::UnknownCategory {
                        category: c.clone(),
                        known: known.join(", "),
                    });
                }
                vec![c.clone()]
            }
            CategoryChoice::All => known.clone(),
        };
        let listed: Vec<Id> = self
            .store
            .listings_of(seller)?
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let links = match &self.partners {
            Some(partners) => partners.link_scores(&listed)?,
            None => Links::default(),
        };
        let affinity = match &self.categories {
            Some((categories, _)) => categories.affinity(listed.iter().copied()),
            None => Affinity::default(),
        };
        let listed: HashSet<Id> = listed.into_iter().collect();
        let wanted = categories
            .into_iter()
            .map(|category| {
                // A category without candidates gets an empty list; nothing is searched.
                let wanted = if known.contains(&category) {
                    self.wanted(&category, &listed)
                } else {
                    0
                };
                (category, wanted)
            })
            .collect();
        Ok(Some(Asked {
            query,
            listed,
            links,
            affinity,
            wanted,
        }))
    }

    /// How many nearest candidates a list of `category` needs: `k` plus the seller's own
    /// listings among them, so exclusions never shorten the list (without the candidate table,
    /// all of its listings: an upper bound).
    fn wanted(&self, category: &str, listed: &HashSet<Id>) -> usize {
        let own = match &self.candidates {
            Some(table) => {
                let list = table.list(category);
                listed.iter().filter(|&&p| table.in_list(p, list)).count()
            }
            None => listed.len(),
        };
        self.opts.k + own
    }

    /// The `wanted` nearest candidates of `category` by cosine to the unit vector `query`.
    fn nearest(&self, category: &str, query: &[f32], wanted: usize) -> Result<Vec<(u32, f32)>> {
        if wanted == 0 {
            return Ok(Vec::new());
        }
        Ok(match &self.exact {
            Some(exact) => exact.nearest_above(Some(category), query, wanted, self.min_cosine)?,
            None => self.ann.nearest(Some(category), query, wanted)?,
        })
    }

    /// The lists of one seller from the nearest candidates of each wanted category.
    fn answer(&self, asked: Asked, nearest: Vec<Vec<(u32, f32)>>) -> Result<Vec<Computed>> {
        let computed_at = clock::unix_secs();
        let mut out = Vec::with_capacity(asked.wanted.len());
        for ((category, wanted), nearest) in asked.wanted.iter().zip(nearest) {
            let (items, excluded) = if *wanted > 0 {
                self.top(&asked, category, nearest)?
            } else {
                (Vec::new(), Vec::new())
            };
            out.push(Computed {
                category: category.clone(),
                list: RecList {
                    model: self.model.generation,
                    index_generation: self.index_generation,
                    computed_at,
                    k: self.opts.k as u32,
                    threshold: self.opts.threshold,
                    items,
                },
                excluded,
            });
        }
        Ok(out)
    }

    /// The best `k` of one category: the `nearest` candidates by cosine plus, when the score
    /// has a link term, every candidate co-purchased with one of the seller's products and,
    /// when it has a category term, every candidate in one of the seller's categories, all
    /// scored by the model.
    fn top(
        &self,
        asked: &Asked,
        category: &str,
        nearest: Vec<(u32, f32)>,
    ) -> Result<(Vec<Rec>, Vec<Id>)> {
        let Asked {
            query,
            listed,
            links,
            affinity,
            ..
        } = asked;
        let threshold = self.opts.threshold;
        let list = self.candidates.as_ref().and_then(|t| t.list(category));
        let category_term = |p: Id| match &self.categories {
            Some((categories, _)) => affinity.of(categories, p),
            None => 0.0,
        };
        // The list is the best `k` by (score, then product id) at or above the threshold,
        // whatever order the candidates come in; so a candidate whose score cannot beat the
        // k-th best so far is skipped before its costly checks.
        let mut best = BestK::new(self.opts.k);
        let mut excluded = Vec::new();
        let found: HashSet<Id> = nearest.iter().map(|&(p, _)| p).collect();
        // Every candidate of the list outside `nearest` has at most this cosine.
        let cosine_bound = self.cosine_bound(&nearest, asked.wanted_in(category));
        for (product, _) in nearest {
            if listed.contains(&product) {
                excluded.push(product);
                continue;
            }
            let Some(cos) = self.cosine(query, product)? else {
                continue;
            };
            let link = links.get(&product).copied().unwrap_or_default();
            let score = self.model.score(cos, link, category_term(product));
            if score >= threshold {
                best.push(product, score);
            }
        }
        // Whether a candidate whose score is at most `bound` may still make the list; asked
        // before a candidate's exact score, it skips the costly checks of thousands of them.
        let reaches = |best: &BestK, p: Id, bound: f32| bound >= threshold && best.admits(p, bound);
        if let Some((_, members)) = &self.categories {
            // The rest of a category's members share one category term and have no link, so
            // they rank by cosine alone; a category whose best possible member cannot make
            // the list is skipped whole.
            for (c, term) in affinity.iter() {
                let Some(m) = members.get(&c) else { continue };
                // Id 0 wins every tie: the bound of any member.
                if m.list.is_some() && m.list != list
                    || !reaches(&best, 0, self.model.score(cosine_bound, [0.0; 2], term))
                {
                    continue;
                }
                for (i, &p) in m.ids.iter().enumerate() {
                    let cos = match &m.vectors {
                        Some(v) => dot(query, &v[i * query.len()..(i + 1) * query.len()]),
                        None => match self.model.product(self.store, p)? {
                            Some(v) => cosine(query, &v),
                            None => continue,
                        },
                    };
                    let score = self.model.score(cos, [0.0; 2], term);
                    if score < threshold
                        || !best.admits(p, score)
                        || found.contains(&p)
                        || listed.contains(&p)
                        || links.contains_key(&p)
                        || (m.list.is_none() && !self.is_candidate_in(p, category, list)?)
                    {
                        continue;
                    }
                    best.push(p, score);
                }
            }
        }
        // Every candidate co-purchased with the seller's products (thousands at the reference
        // size), bounded first by its best possible score: the cosine bound and the seller's
        // largest category term, then its own category term.
        let top_term = affinity.iter().map(|(_, t)| t).fold(0.0, f32::max);
        for (&p, &link) in links {
            if !reaches(&best, p, self.model.score(cosine_bound, link, top_term))
                || found.contains(&p)
                || listed.contains(&p)
            {
                continue;
            }
            let term = category_term(p);
            if !reaches(&best, p, self.model.score(cosine_bound, link, term))
                || !self.is_candidate_in(p, category, list)?
            {
                continue;
            }
            let Some(cos) = self.cosine(query, p)? else {
                continue;
            };
            let score = self.model.score(cos, link, term);
            if score >= threshold {
                best.push(p, score);
            }
        }
        let items = best
            .into_sorted()
            .into_iter()
            .map(|(product, score)| Rec { product, score })
            .collect();
        Ok((items, excluded))
    }

    /// A bound on the cosine of the unit query and every candidate of a list outside its
    /// `nearest` (the search's answer for `wanted` candidates), in the direction the score
    /// grows: the exact search returns the list's best cosines, so the others have at most
    /// the least of them (or, when it returned fewer, the least cosine it searches above);
    /// the ANN index promises nothing.
    fn cosine_bound(&self, nearest: &[(u32, f32)], wanted: usize) -> f32 {
        if self.model.calibration.alpha <= 0.0 {
            return -MAX_COSINE;
        }
        if self.exact.is_none() {
            return MAX_COSINE;
        }
        let least = match nearest.len() >= wanted {
            true => nearest
                .iter()
                .map(|&(_, c)| c)
                .fold(f32::INFINITY, f32::min),
            false => self.min_cosine,
        };
        // The search's cosines are matrix products, the scores' dot products: a hair apart.
        (least + COSINE_ROUNDING).min(MAX_COSINE)
    }

    /// The cosine of the unit vector `query` and candidate `p` (`None`: `p` has no vector).
    fn cosine(&self, query: &[f32], p: Id) -> Result<Option<f32>> {
        Ok(match &self.candidates {
            Some(table) => table.get(p).map(|(_, v)| dot(query, v)),
            None => self
                .model
                .product(self.store, p)?
                .map(|v| cosine(query, &v)),
        })
    }
}

/// A bound on the cosine of two unit vectors, with room for rounding.
const MAX_COSINE: f32 = 1.001;

/// How far two computations of one cosine may differ (a thousand times their rounding).
const COSINE_ROUNDING: f32 = 1e-3;

/// The preloaded candidates: unit vectors and the list (index category) of each, by product
/// id through a dense slot table (hash lookups of a candidate were a tenth of `recommend` at
/// the reference size).
struct Table {
    /// List names; candidates name theirs by position, so a candidate's list is checked by
    /// comparing numbers (comparing names was a fifth of `recommend` at the reference size).
    lists: Vec<String>,
    /// Per product id: its row, or [`Table::NONE`].
    slot: Vec<u32>,
    /// Per row: the product id.
    ids: Vec<Id>,
    /// Per row: its list.
    list_of: Vec<u32>,
    /// Rows of `dims` unit vector entries.
    vectors: Vec<f32>,
    dims: usize,
}

impl Table {
    const NONE: u32 = u32::MAX;

    fn new(all: Vec<(Id, String, Vec<f32>)>) -> Table {
        let dims = all.first().map_or(0, |(_, _, v)| v.len());
        let mut table = Table {
            lists: Vec::new(),
            slot: Vec::new(),
            ids: Vec::with_capacity(all.len()),
            list_of: Vec::with_capacity(all.len()),
            vectors: Vec::with_capacity(all.len() * dims),
            dims,
        };
        for (id, category, mut v) in all {
            normalize(&mut v);
            let list = match table.lists.iter().position(|l| *l == category) {
                Some(i) => i,
                None => {
                    table.lists.push(category);
                    table.lists.len() - 1
                }
            };
            let i = id as usize;
            if i >= table.slot.len() {
                table.slot.resize(i + 1, Table::NONE);
            }
            table.slot[i] = table.ids.len() as u32;
            table.ids.push(id);
            table.list_of.push(list as u32);
            table.vectors.extend_from_slice(&v);
        }
        table
    }

    /// Every candidate's product id.
    fn ids(&self) -> impl Iterator<Item = Id> + '_ {
        self.ids.iter().copied()
    }

    /// Candidate `p`'s list and unit vector.
    fn get(&self, p: Id) -> Option<(u32, &[f32])> {
        let row = *self.slot.get(p as usize)?;
        (row != Table::NONE).then(|| {
            let row = row as usize;
            let v = &self.vectors[row * self.dims..(row + 1) * self.dims];
            (self.list_of[row], v)
        })
    }

    /// The position of the list named `category`, if a candidate is in it.
    fn list(&self, category: &str) -> Option<u32> {
        self.lists
            .iter()
            .position(|l| l == category)
            .map(|i| i as u32)
    }

    /// Whether `p` is a candidate of `list`.
    fn in_list(&self, p: Id, list: Option<u32>) -> bool {
        list.is_some_and(|l| self.get(p).is_some_and(|(c, _)| c == l))
    }
}

/// The candidates of one product category (its full path), for the category term.
struct Members {
    /// Ascending.
    ids: Vec<Id>,
    /// Their unit vectors, one row each, when the candidates are preloaded.
    vectors: Option<Vec<f32>>,
    /// The list (index category, a [`Table`] position) they all belong to, when the
    /// candidates are preloaded.
    list: Option<u32>,
}

impl Members {
    fn new(ids: Vec<Id>, table: Option<&Table>) -> Members {
        let Some(table) = table else {
            return Members {
                ids,
                vectors: None,
                list: None,
            };
        };
        let vectors = ids
            .iter()
            .flat_map(|&p| {
                table
                    .get(p)
                    .expect("a member is a candidate")
                    .1
                    .iter()
                    .copied()
            })
            .collect();
        // A full path determines its list: the path cut at the index's depth.
        let list = ids
            .first()
            .and_then(|&p| table.get(p))
            .map(|(list, _)| list);
        Members {
            ids,
            vectors: Some(vectors),
            list,
        }
    }
}

/// One seller's side of its lists (see [`Recommender::ask`]).
struct Asked {
    /// Unit vector.
    query: Vec<f32>,
    listed: HashSet<Id>,
    links: Links,
    affinity: Affinity,
    /// Categories to list, with the nearest candidates each needs (0: none to search).
    wanted: Vec<(String, usize)>,
}

impl Asked {
    /// The nearest candidates searched for `category`.
    fn wanted_in(&self, category: &str) -> usize {
        self.wanted
            .iter()
            .find(|(c, _)| c == category)
            .map_or(0, |&(_, w)| w)
    }
}

impl Recommender<'_> {
    /// Whether a linked product `p` is a candidate of `category` (`list`: its position in the
    /// preloaded [`Table`]). Without preloaded candidates the links reach high-demand products
    /// only (`partners`), so only the category is left to check.
    fn is_candidate_in(&self, p: Id, category: &str, list: Option<u32>) -> Result<bool> {
        if let Some(table) = &self.candidates {
            return Ok(table.in_list(p, list));
        }
        let text = self.store.product_text(p)?;
        let own = text.map(|t| category_at(&t.category, self.category_depth));
        Ok(category.is_empty() || own.as_deref() == Some(category))
    }
}

/// The recommend job's saved state: the run it belongs to and the last seller committed.
#[derive(Debug, Serialize, Deserialize)]
struct RecommendJob {
    opts: RecommendOptions,
    model: u32,
    index_generation: u32,
    cursor: Option<Id>,
    done: bool,
}

const JOB: Job = Job::Recommend;

/// What a full recommend run did.
#[derive(Debug, Serialize)]
pub struct RecommendSummary {
    /// Sellers with a vector.
    pub sellers: u64,
    /// Sellers whose lists this run computed (fewer when it continued an interrupted run).
    pub computed: u64,
    /// Lists written.
    pub lists: u64,
    /// Recommendations written.
    pub items: u64,
    /// Sellers that got an empty list (no candidate above the threshold in their category).
    pub empty: u64,
    /// Wall time.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// Computes and stores every seller's lists, in committed chunks (a rerun with the same
/// options, model and index continues after the last committed seller).
pub fn recommend_all(
    rec: &Recommender,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<RecommendSummary> {
    let start = Instant::now();
    let store = rec.store;
    let mut sellers = Vec::new();
    rec.model.for_each_seller(store, |id, _| sellers.push(id))?;
    let previous: Option<RecommendJob> = store.job(JOB)?;
    let resume_after = previous.and_then(|j| {
        (j.opts == rec.opts
            && j.model == rec.model.generation
            && j.index_generation == rec.index_generation
            && !j.done)
            .then_some(j.cursor)
            .flatten()
    });
    let mut state = RecommendJob {
        opts: rec.opts.clone(),
        model: rec.model.generation,
        index_generation: rec.index_generation,
        cursor: resume_after,
        done: false,
    };
    let todo: Vec<Id> = sellers
        .iter()
        .copied()
        .filter(|s| resume_after.is_none_or(|c| *s > c))
        .collect();
    let mut summary = RecommendSummary {
        sellers: sellers.len() as u64,
        computed: todo.len() as u64,
        lists: 0,
        items: 0,
        empty: 0,
        elapsed: Duration::ZERO,
    };
    tracing::info!(
        sellers = sellers.len(),
        resume_after = ?resume_after,
        index_generation = rec.index_generation,
        "recommend"
    );
    progress.start("recommend", sellers.len() as u64);
    let mut batch = StageBatch::new(store);
    let mut done = (sellers.len() - todo.len()) as u64;
    for chunk in todo.chunks(rec.opts.batch.max(1)) {
        // Sellers searched together per slice: enough rows for a matrix product to pay off.
        let lists: Vec<Vec<Vec<Computed>>> = chunk
            .par_chunks(64)
            .map(|sellers| rec.lists_of(sellers))
            .collect::<Result<_>>()?;
        if let (Some(&first), Some(&last)) = (chunk.first(), chunk.last()) {
            batch.clear_recommendations(first, last);
        }
        for (&seller, computed) in chunk.iter().zip(lists.into_iter().flatten()) {
            for c in computed {
                summary.lists += 1;
                summary.items += c.list.items.len() as u64;
                summary.empty += u64::from(c.list.items.is_empty());
                batch.put_recommendations(seller, &c.category, &c.list);
            }
        }
        state.cursor = chunk.last().copied();
        batch.commit(JOB, &state)?;
        done += chunk.len() as u64;
        progress.set(done);
        if cancel.load(Ordering::Relaxed) {
            progress.finish();
            return Err(RecommendError::Cancelled(Cancelled));
        }
    }
    state.done = true;
    batch.commit(JOB, &state)?;
    progress.finish();
    summary.elapsed = start.elapsed();
    Ok(summary)
}
