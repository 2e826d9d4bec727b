//! The co-purchase relation and the link features of a seller and a product over it.
//!
//! A pair's **strength** is its count transformed ([`Strength`]: presence, log(1 + count) or
//! the count). A product's partners are the pairs at or above a count threshold, at most `cap`
//! of them — the strongest ([`Rule`]). Every kept pair is weighted symmetrically,
//! `w(p, q) = T(c) / √(S_p · S_q)` with `S_p` the summed strength of p's partners, so a product
//! bought with everything weighs little from either side ([`Relation`]). The link features of
//! a seller s and a product h are the walks over these weights:
//! `link₁(s, h) = Σ_{p listed by s} w(p, h)` and `link₂(s, h) = Σ_q link₁(s, q) · w(q, h)`.
//!
//! One formula for everything that reads co-purchase: the graph model's score adds the two
//! features (with weights chosen on validation products) to its cosine term; training
//! computes them on the in-memory graph, recommend, inspect and eval from the lists stored
//! with the model; and `eval`'s co-purchase baselines are the same features alone.

use std::collections::hash_map::Entry;

use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;
use serde::{Deserialize, Serialize};

use crate::store::{Id, Result, Store};

/// How a pair's co-purchase count becomes its strength.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
pub enum Strength {
    /// 1 for every pair: only whether the pair is there.
    Presence,
    /// log(1 + count): counts matter, an order of magnitude more counts a step more.
    #[default]
    Log,
    /// The count itself.
    Count,
}

impl Strength {
    /// Every strength, in the order selection tries them.
    pub(crate) const ALL: [Strength; 3] = [Strength::Presence, Strength::Log, Strength::Count];

    /// The strength of a pair bought together `count` times.
    pub(crate) fn of(self, count: u64) -> f32 {
        match self {
            Strength::Presence => 1.0,
            Strength::Log => (count as f32).ln_1p(),
            Strength::Count => count as f32,
        }
    }

    /// Its name on the command line and in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Strength::Presence => "presence",
            Strength::Log => "log",
            Strength::Count => "count",
        }
    }
}

/// Which co-purchase pairs make a product's partners, and how they weigh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Rule {
    /// Count at which a pair counts.
    pub threshold: u64,
    /// Partners kept per product (0: all), the strongest first.
    pub cap: u32,
    /// How a count weighs.
    pub strength: Strength,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cap = match self.cap {
            0 => "all partners".to_string(),
            n => format!("{n} strongest partners"),
        };
        write!(
            f,
            "{} strength, count ≥ {}, {cap}",
            self.strength.name(),
            self.threshold
        )
    }
}

impl Rule {
    /// Keeps the `cap` strongest of `p`'s partners (all of them at or above the threshold),
    /// those with the highest counts (the strongest under every [`Strength`]), and sorts them
    /// by id, dropping repeats. Equal counts are broken by a hash of the pair (the same from
    /// either side), not by id, so no product is favoured for its place in the id order —
    /// "also bought" lists without counts tie throughout.
    pub(crate) fn cap_partners(&self, p: Id, kept: &mut Vec<(Id, u64)>) {
        kept.sort_unstable_by_key(|&(q, c)| (q, std::cmp::Reverse(c)));
        kept.dedup_by_key(|&mut (q, _)| q);
        let cap = self.cap as usize;
        if cap > 0 && kept.len() > cap {
            let order = |&(q, c): &(Id, u64)| (std::cmp::Reverse(c), pair_hash(p, q), q);
            kept.select_nth_unstable_by_key(cap - 1, order);
            kept.truncate(cap);
            kept.sort_unstable_by_key(|&(q, _)| q);
        }
    }

    /// The weighted relation over `products` products from `pairs` (`(a, b, count)`, each
    /// pair given from one side or both; a pair given twice keeps its higher count).
    pub(crate) fn relation(&self, products: usize, pairs: &[(Id, Id, u64)]) -> Relation {
        // A CSR of both directions, filled by counting (no global sort of every pair).
        let mut start = vec![0usize; products + 1];
        for &(a, b, c) in pairs {
            if c >= self.threshold && a != b {
                start[a as usize + 1] += 1;
                start[b as usize + 1] += 1;
            }
        }
        for p in 0..products {
            start[p + 1] += start[p];
        }
        let mut fill = start.clone();
        let mut both = vec![(0, 0); start[products]];
        for &(a, b, c) in pairs {
            if c >= self.threshold && a != b {
                both[fill[a as usize]] = (b, c);
                fill[a as usize] += 1;
                both[fill[b as usize]] = (a, c);
                fill[b as usize] += 1;
            }
        }
        drop(fill);
        // Each product's list is capped on its own: in parallel, each list in its own order,
        // so the relation does not depend on the thread count.
        let lists: Vec<Vec<(Id, u64)>> = (0..products)
            .into_par_iter()
            .map(|p| {
                let mut list = both[start[p]..start[p + 1]].to_vec();
                self.cap_partners(p as Id, &mut list);
                list
            })
            .collect();
        drop(both);
        let strength = self.strength;
        let sums: Vec<f32> = lists
            .par_iter()
            .map(|list| list.iter().map(|&(_, c)| strength.of(c)).sum())
            .collect();
        let weighted: Vec<Vec<(Id, f32)>> = lists
            .into_par_iter()
            .enumerate()
            .map(|(p, list)| {
                list.into_iter()
                    .map(|(q, c)| {
                        // q has this pair too, so it kept at least one partner (its strongest,
                        // when capped): both sums are positive for counts of 1 or more.
                        let norm = (sums[p] * sums[q as usize]).sqrt();
                        let w = match norm > 0.0 {
                            true => strength.of(c) / norm,
                            false => 0.0,
                        };
                        (q, w)
                    })
                    .collect()
            })
            .collect();
        Relation::from_lists(weighted)
    }
}

/// The count at which a pair counts unless told otherwise: 2, or 1 when no pair counts more
/// than 1 (pre-aggregated "also bought" lists carry no counts, and a threshold of 2 would
/// drop every pair).
pub(crate) fn default_threshold(max_count: u64) -> u64 {
    if max_count > 1 { 2 } else { 1 }
}

/// A hash of an unordered pair of products, for tie-breaking.
fn pair_hash(a: Id, b: Id) -> u64 {
    let (lo, hi) = (a.min(b), a.max(b));
    // splitmix64's finaliser: a fixed, well-mixed bijection.
    let mut x = (u64::from(lo) << 32 | u64::from(hi)).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Each product's partners with the pair's weight `w(p, q)`, ascending by partner: product
/// `p`'s are `pairs[indptr[p]..indptr[p + 1]]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Relation {
    indptr: Vec<usize>,
    pairs: Vec<(Id, f32)>,
}

impl Relation {
    /// A relation from each product's weighted partners (`lists[p]`, ascending).
    pub(crate) fn from_lists(lists: impl IntoIterator<Item = Vec<(Id, f32)>>) -> Relation {
        let mut indptr = vec![0];
        let mut pairs = Vec::new();
        for list in lists {
            pairs.extend(list);
            indptr.push(pairs.len());
        }
        Relation { indptr, pairs }
    }

    /// The partners of `p` with their weights (empty past the last product).
    pub(crate) fn partners(&self, p: Id) -> &[(Id, f32)] {
        let p = p as usize;
        match p + 1 < self.indptr.len() {
            true => &self.pairs[self.indptr[p]..self.indptr[p + 1]],
            false => &[],
        }
    }

    /// Number of products the relation has rows for.
    pub(crate) fn products(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// The products with partners and their lists.
    pub(crate) fn lists(&self) -> impl Iterator<Item = (Id, &[(Id, f32)])> {
        (0..self.products() as Id)
            .map(|p| (p, self.partners(p)))
            .filter(|(_, l)| !l.is_empty())
    }

    /// Each product's partners that `wanted` accepts.
    pub(crate) fn restricted(&self, wanted: impl Fn(Id) -> bool + Sync) -> Relation {
        let lists: Vec<Vec<(Id, f32)>> = (0..self.products() as Id)
            .into_par_iter()
            .map(|p| {
                self.partners(p)
                    .iter()
                    .copied()
                    .filter(|&(q, _)| wanted(q))
                    .collect()
            })
            .collect();
        Relation::from_lists(lists)
    }

    /// The relation reversed, for the products `wanted` accepts: per product h, the
    /// products q it is a partner of with `w(q, h)`, ascending by q (others' lists empty).
    pub(crate) fn reversed(&self, wanted: impl Fn(Id) -> bool + Sync) -> Relation {
        // Found in parallel, in q order; placed in that order.
        let found: Vec<(Id, Id, f32)> = (0..self.products() as Id)
            .into_par_iter()
            .flat_map_iter(|q| {
                self.partners(q)
                    .iter()
                    .filter(|&&(h, _)| wanted(h))
                    .map(move |&(h, w)| (h, q, w))
            })
            .collect();
        let mut lists: Vec<Vec<(Id, f32)>> = vec![Vec::new(); self.products()];
        for (h, q, w) in found {
            lists[h as usize].push((q, w));
        }
        Relation::from_lists(lists)
    }
}

/// `[link₁, link₂]` per linked product.
pub(crate) type Links = HashMap<Id, [f32; 2]>;

/// The link features of a seller listing `listed`, given each product's weighted partners,
/// for the products `keep` accepts. `kept_partners(q)` is `partners(q)` filtered by `keep`
/// (or all of them, when `keep` takes all): the second step walks those lists only, since on
/// a dense graph the two-step neighbourhood is millions of products and few are candidates.
pub(crate) fn link_scores<'n>(
    listed: impl IntoIterator<Item = Id>,
    mut partners: impl FnMut(Id) -> Result<&'n [(Id, f32)]>,
    mut kept_partners: impl FnMut(Id) -> Result<&'n [(Id, f32)]>,
    keep: impl Fn(Id) -> bool,
) -> Result<Links> {
    SCRATCH.with_borrow_mut(|(direct, two)| {
        // Left over only when an earlier walk failed half-way.
        two.drain().for_each(drop);
        direct.direct_links(listed, &mut partners)?;
        direct.step_into(two, &mut kept_partners)?;
        let mut links = Links::default();
        for (h, w) in direct.drain() {
            if keep(h) {
                links.insert(h, [w, 0.0]);
            }
        }
        for (h, w) in two.drain() {
            links.entry(h).or_default()[1] = w;
        }
        Ok(links)
    })
}

thread_local! {
    /// The link walks' sums, kept between sellers (one pair per thread).
    static SCRATCH: std::cell::RefCell<(Sums, Sums)> = std::cell::RefCell::default();
}

/// Per-product sums, dense by id: on dense co-purchase graphs a seller's walk touches
/// thousands of products, and hashing them was most of `recommend`'s time.
#[derive(Default)]
struct Sums {
    value: Vec<f32>,
    seen: Vec<bool>,
    touched: Vec<Id>,
}

impl Sums {
    fn add(&mut self, id: Id, w: f32) {
        let i = id as usize;
        if i >= self.value.len() {
            self.value.resize(i + 1, 0.0);
            self.seen.resize(i + 1, false);
        }
        if !self.seen[i] {
            self.seen[i] = true;
            self.touched.push(id);
        }
        self.value[i] += w;
    }

    /// Sets the sums to link₁ of every product one step from `listed` (clearing what an
    /// earlier walk that failed half-way left).
    fn direct_links<'n>(
        &mut self,
        listed: impl IntoIterator<Item = Id>,
        partners: &mut impl FnMut(Id) -> Result<&'n [(Id, f32)]>,
    ) -> Result<()> {
        self.drain().for_each(drop);
        for p in listed {
            for &(h, w) in partners(p)? {
                self.add(h, w);
            }
        }
        Ok(())
    }

    /// Adds each touched product's sum, times the weight of each of its `partners`, to
    /// `next`'s sum of that partner: one more step of the walk. In id order, so the
    /// floating-point result does not depend on the order products were touched in.
    fn step_into<'n>(
        &mut self,
        next: &mut Sums,
        partners: &mut impl FnMut(Id) -> Result<&'n [(Id, f32)]>,
    ) -> Result<()> {
        self.touched.sort_unstable();
        for &q in &self.touched {
            let w = self.value[q as usize];
            for &(h, wqh) in partners(q)? {
                next.add(h, w * wqh);
            }
        }
        Ok(())
    }

    /// The sum of `id`, if it was touched.
    fn get(&self, id: Id) -> Option<f32> {
        let i = id as usize;
        self.seen
            .get(i)
            .copied()
            .unwrap_or(false)
            .then(|| self.value[i])
    }

    /// Every touched product with its sum, leaving the sums empty for the next seller.
    fn drain(&mut self) -> impl Iterator<Item = (Id, f32)> + '_ {
        self.touched.drain(..).map(|id| {
            let i = id as usize;
            self.seen[i] = false;
            (id, std::mem::take(&mut self.value[i]))
        })
    }
}

/// [`link_scores`] for the products `only` (others are left out), with the second step walked
/// whichever way is less work for this seller: forward from each first-step product over its
/// partners among `only` (`kept_partners(q)`), or back from each product of `only` over the
/// products it is a partner of (`partnered_by(h)`, ascending, with `w(q, h)`). A seller
/// listing a hub reaches thousands of products, most partnered with none of `only`, and walks
/// back; a seller of a few niche products walks forward. Both add the same terms in the same
/// (id) order: equal, bit for bit, to [`link_scores`] on those products.
pub(crate) fn link_scores_of<'n>(
    listed: impl IntoIterator<Item = Id>,
    partners: impl FnMut(Id) -> Result<&'n [(Id, f32)]>,
    kept_partners: impl FnMut(Id) -> Result<&'n [(Id, f32)]>,
    partnered_by: impl FnMut(Id) -> Result<&'n [(Id, f32)]>,
    only: &[Id],
) -> Result<Links> {
    walk_links_of(
        listed,
        partners,
        kept_partners,
        partnered_by,
        only,
        |forward, back| forward < back,
    )
}

/// [`link_scores_of`], walking forward when `forward(forward steps, steps back)` says so.
fn walk_links_of<'n>(
    listed: impl IntoIterator<Item = Id>,
    mut partners: impl FnMut(Id) -> Result<&'n [(Id, f32)]>,
    mut kept_partners: impl FnMut(Id) -> Result<&'n [(Id, f32)]>,
    mut partnered_by: impl FnMut(Id) -> Result<&'n [(Id, f32)]>,
    only: &[Id],
    forward: impl FnOnce(usize, usize) -> bool,
) -> Result<Links> {
    SCRATCH.with_borrow_mut(|(direct, second)| {
        second.drain().for_each(drop);
        direct.direct_links(listed, &mut partners)?;
        let (mut ahead, mut back) = (0, 0);
        for &q in &direct.touched {
            ahead += kept_partners(q)?.len();
        }
        for &h in only {
            back += partnered_by(h)?.len();
        }
        let forward = forward(ahead, back);
        if forward {
            direct.step_into(second, &mut kept_partners)?;
        }
        let mut links = Links::default();
        for &h in only {
            let two = match forward {
                true => second.get(h).unwrap_or_default(),
                false => {
                    let mut two = 0f32;
                    for &(q, wqh) in partnered_by(h)? {
                        if let Some(w) = direct.get(q) {
                            two += w * wqh;
                        }
                    }
                    two
                }
            };
            let one = direct.get(h).unwrap_or_default();
            if one != 0.0 || two != 0.0 {
                links.insert(h, [one, two]);
            }
        }
        second.drain().for_each(drop);
        direct.drain().for_each(drop);
        Ok(links)
    })
}

/// Co-purchase partners for link features: a whole relation in memory (bulk work), or the
/// lists stored with a graph-model generation read on demand (one seller).
pub(crate) struct Partners<'a> {
    lists: Lists<'a>,
    /// Per product id: whether its links are wanted (`None`: every product's).
    wanted: Option<Vec<bool>>,
    /// With `wanted` and a relation in memory: each product's wanted partners.
    wanted_partners: Relation,
}

enum Lists<'a> {
    Loaded(Relation),
    Lazy { store: &'a Store, generation: u32 },
}

impl<'a> Partners<'a> {
    /// The lists of a graph-model generation, read on demand.
    pub(crate) fn lazy(store: &'a Store, generation: u32) -> Partners<'a> {
        Partners {
            lists: Lists::Lazy { store, generation },
            wanted: None,
            wanted_partners: Relation::default(),
        }
    }

    /// The lists of a graph-model generation, read now (one scan).
    pub(crate) fn load(store: &Store, generation: u32) -> Result<Partners<'a>> {
        let mut lists: Vec<Vec<(Id, f32)>> = Vec::new();
        store.for_each_partners(generation, |p, ps| {
            let p = p as usize;
            if p >= lists.len() {
                lists.resize(p + 1, Vec::new());
            }
            lists[p] = ps;
        })?;
        Ok(Partners::of(Relation::from_lists(lists)))
    }

    /// The relation of `rule` over the store's co-purchase counts (the baselines, and models
    /// trained in memory); a threshold of `None` is [`default_threshold`].
    pub(crate) fn from_counts(
        store: &Store,
        threshold: Option<u64>,
        rule: impl Fn(u64) -> Rule,
    ) -> Result<Partners<'a>> {
        let mut pairs = Vec::new();
        let (mut products, mut max_count) = (0, 0);
        store.for_each_copurchase(|a, b, c| {
            products = products.max(a.max(b) as usize + 1);
            max_count = max_count.max(c);
            // Stored from both sides: one is enough.
            if a < b {
                pairs.push((a, b, c));
            }
        })?;
        let rule = rule(threshold.unwrap_or_else(|| default_threshold(max_count)));
        Ok(Partners::of(rule.relation(products, &pairs)))
    }

    /// A relation in memory.
    pub(crate) fn of(relation: Relation) -> Partners<'a> {
        Partners {
            lists: Lists::Loaded(relation),
            wanted: None,
            wanted_partners: Relation::default(),
        }
    }

    /// The same, computing links to `products` only (the candidates a caller ranks; the
    /// relation in memory keeps only what those links need).
    pub(crate) fn only(mut self, products: impl IntoIterator<Item = Id>) -> Partners<'a> {
        let mut wanted = Vec::new();
        for p in products {
            let p = p as usize;
            if p >= wanted.len() {
                wanted.resize(p + 1, false);
            }
            wanted[p] = true;
        }
        if let Lists::Loaded(all) = &self.lists {
            let is_wanted = |q: Id| wanted.get(q as usize).copied().unwrap_or(false);
            let wanted_partners = all.restricted(is_wanted);
            // The first step needs only the partners that are wanted or have wanted partners
            // of their own (the others add to no link): on a dense graph most do neither, and
            // walking them was most of the walk. Each link keeps its terms, in their order.
            let useful =
                all.restricted(|q| is_wanted(q) || !wanted_partners.partners(q).is_empty());
            self.lists = Lists::Loaded(useful);
            self.wanted_partners = wanted_partners;
        }
        self.wanted = Some(wanted);
        self
    }

    fn keeps(&self, p: Id) -> bool {
        self.wanted
            .as_ref()
            .is_none_or(|w| w.get(p as usize).copied().unwrap_or(false))
    }

    /// The link features of a seller listing `listed`.
    pub(crate) fn link_scores(&self, listed: &[Id]) -> Result<Links> {
        let keep = |p: Id| self.keeps(p);
        let (store, generation) = match &self.lists {
            Lists::Loaded(all) => {
                let of = |p| Ok(all.partners(p));
                return match self.wanted {
                    Some(_) => {
                        let kept = |p| Ok(self.wanted_partners.partners(p));
                        link_scores(listed.iter().copied(), of, kept, keep)
                    }
                    None => link_scores(listed.iter().copied(), of, of, keep),
                };
            }
            Lists::Lazy { store, generation } => (*store, *generation),
        };
        // The listed products' lists, then the first step's (kept partners only), each read
        // once: the weights are stored, so no further list is needed.
        let mut fetched: HashMap<Id, Vec<(Id, f32)>> = HashMap::default();
        for &p in listed {
            if let Entry::Vacant(e) = fetched.entry(p) {
                e.insert(store.partners(generation, p)?);
            }
        }
        let firsts: Vec<Id> = listed
            .iter()
            .flat_map(|p| fetched[p].iter().map(|&(q, _)| q))
            .collect();
        let mut kept: HashMap<Id, Vec<(Id, f32)>> = HashMap::default();
        for q in firsts {
            if let Entry::Vacant(e) = kept.entry(q) {
                let list = match fetched.get(&q) {
                    Some(list) => list.clone(),
                    None => store.partners(generation, q)?,
                };
                e.insert(list.into_iter().filter(|&(h, _)| keep(h)).collect());
            }
        }
        let of = |p: Id| Ok(fetched.get(&p).map_or(&[][..], Vec::as_slice));
        let kept_of = |p: Id| Ok(kept.get(&p).map_or(&[][..], Vec::as_slice));
        link_scores(listed.iter().copied(), of, kept_of, keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation_of(lists: &[(Id, Vec<Id>)]) -> Relation {
        // Presence weights from plain lists (symmetric ones, as a rule without a cap makes).
        let pairs: Vec<(Id, Id, u64)> = lists
            .iter()
            .flat_map(|(p, qs)| qs.iter().map(move |&q| (*p, q, 1)))
            .collect();
        let n = lists
            .iter()
            .map(|(p, _)| *p as usize + 1)
            .max()
            .unwrap_or(0);
        Rule {
            threshold: 1,
            cap: 0,
            strength: Strength::Presence,
        }
        .relation(n, &pairs)
    }

    #[test]
    fn direct_and_two_step_links_over_the_sellers_products() {
        // 0 ~ 1, 0 ~ 2, 3 ~ 1: a seller listing 0 and 3.
        let rel = relation_of(&[(0, vec![1, 2]), (1, vec![0, 3]), (2, vec![0]), (3, vec![1])]);
        let of = |p: Id| Ok(rel.partners(p));
        let s = link_scores([0, 3], of, of, |_| true).unwrap();
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        // Presence: w(p, q) = 1/√(deg p · deg q). Degrees 0: 2, 1: 2, 2: 1, 3: 1.
        // Direct: h = 1 from 0 and 3; h = 2 from 0.
        let one = 1.0 / (2f32 * 2.0).sqrt() + 1.0 / (1f32 * 2.0).sqrt();
        let two = 1.0 / (2f32 * 1.0).sqrt();
        assert!(close(s[&1][0], one) && close(s[&2][0], two));
        // Two steps: through 1 to 0 and 3, through 2 to 0.
        let via = |w: f32, dq: f32, dh: f32| w / (dq * dh).sqrt();
        assert!(close(s[&0][1], via(one, 2.0, 2.0) + via(two, 1.0, 2.0)));
        assert!(close(s[&3][1], via(one, 2.0, 1.0)));
        assert!(close(s[&0][0], 0.0) && close(s[&1][1], 0.0));
    }

    #[test]
    fn counts_weigh_pairs_by_strength_normalised_on_both_sides() {
        // 0–1 bought together 9 times, 0–2 once, 1–3 3 times.
        let pairs = [(0, 1, 9), (0, 2, 1), (1, 3, 3)];
        for strength in Strength::ALL {
            let rule = Rule {
                threshold: 1,
                cap: 0,
                strength,
            };
            let rel = rule.relation(4, &pairs);
            let t = |c| strength.of(c);
            let s = [t(9) + t(1), t(9) + t(3), t(1), t(3)];
            let w = |a: usize, b: usize, c| t(c) / (s[a] * s[b]).sqrt();
            let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
            assert_eq!(rel.partners(0).len(), 2);
            assert!(close(rel.partners(0)[0].1, w(0, 1, 9)));
            assert!(close(rel.partners(0)[1].1, w(0, 2, 1)));
            assert!(close(rel.partners(1)[0].1, w(1, 0, 9)));
            assert!(close(rel.partners(3)[0].1, w(3, 1, 3)));
            // Symmetric: the same weight from either side.
            assert_eq!(rel.partners(1)[0].1, rel.partners(0)[0].1);
        }
        // Log strength: an order of magnitude more counts weighs about a step more.
        assert!((Strength::Log.of(9) - 10f32.ln()).abs() < 1e-6);
        assert_eq!(Strength::Count.of(9), 9.0);
        assert_eq!(Strength::Presence.of(9), 1.0);
    }

    /// A pseudo-random relation over 60 products, a few of them dense, under `rule`:
    /// each product's partners, and the products each is a partner of.
    fn random_relation(rule: Rule) -> (Relation, Relation) {
        let mut pairs = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..400 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (a, b) = ((x % 60) as Id, ((x >> 20) % (5 + x % 55)) as Id);
            pairs.push((a, b, 1 + (x >> 40) % 3));
        }
        let rel = rule.relation(60, &pairs);
        let rev = rel.reversed(|_| true);
        (rel, rev)
    }

    #[test]
    fn links_of_some_products_equal_the_full_computation_on_them_both_ways() {
        for cap in [0, 3] {
            for strength in Strength::ALL {
                let rule = Rule {
                    threshold: 1,
                    cap,
                    strength,
                };
                let (adj, rev) = random_relation(rule);
                if cap > 0 {
                    assert!((0..60).all(|p| adj.partners(p).len() <= 3));
                    assert!(
                        (0..60).any(|p| rev.partners(p).len() > 3),
                        "a capped relation is one-sided"
                    );
                }
                let of = |p: Id| Ok(adj.partners(p));
                let of_rev = |p: Id| Ok(rev.partners(p));
                let listed = [3, 17, 42, 8];
                let all = link_scores(listed, of, of, |_| true).unwrap();
                let only: Vec<Id> = (0..60).filter(|p| p % 3 == 0).collect();
                let expected: Links = all.into_iter().filter(|(h, _)| h % 3 == 0).collect();
                assert!(!expected.is_empty());
                let kept = adj.restricted(|h| h % 3 == 0);
                let kept_of = |p: Id| Ok(kept.partners(p));
                for forward in [true, false] {
                    let some =
                        walk_links_of(listed, of, kept_of, of_rev, &only, |_, _| forward).unwrap();
                    assert_eq!(some, expected, "forward: {forward}");
                }
                let some = link_scores_of(listed, of, kept_of, of_rev, &only).unwrap();
                assert_eq!(some, expected);
                // The first step restricted to the products that reach `only` (score selection).
                let first = adj.restricted(|q| q % 3 == 0 || !kept.partners(q).is_empty());
                let first_of = |p: Id| Ok(first.partners(p));
                let some = link_scores_of(listed, first_of, kept_of, of_rev, &only).unwrap();
                assert_eq!(some, expected);
                let some = link_scores(listed, of, kept_of, |h| h % 3 == 0).unwrap();
                assert_eq!(some, expected);
            }
        }
    }

    /// The partners `rule` keeps for product `p` from its `(partner, count)` pairs alone.
    fn kept(rule: &Rule, p: Id, pairs: &[(Id, u64)]) -> Vec<Id> {
        let triples: Vec<(Id, Id, u64)> = pairs.iter().map(|&(q, c)| (p, q, c)).collect();
        let products = pairs.iter().map(|&(q, _)| q).chain([p]).max().unwrap() as usize + 1;
        let relation = rule.relation(products, &triples);
        relation.partners(p).iter().map(|r| r.0).collect()
    }

    #[test]
    fn a_rule_keeps_the_strongest_pairs_at_or_above_its_threshold() {
        let rule = Rule {
            threshold: 2,
            cap: 3,
            strength: Strength::Log,
        };
        // Product 0: 1 is under the threshold, 0 is itself; 5 and 6 count most; one of the
        // three pairs counting 3 is dropped.
        let pairs = [(1, 1), (0, 9), (2, 3), (3, 3), (4, 3), (5, 7), (6, 4)];
        let strongest = kept(&rule, 0, &pairs);
        assert_eq!(strongest.len(), 3);
        assert!(strongest.contains(&5) && strongest.contains(&6));
        assert!(strongest.iter().all(|q| [2, 3, 4, 5, 6].contains(q)));
        // The tie is broken by the pair, not by the order given or by id.
        let reversed: Vec<(Id, u64)> = pairs.iter().rev().copied().collect();
        assert_eq!(kept(&rule, 0, &reversed), strongest);
        let one = Rule { cap: 1, ..rule };
        let tie_winners: Vec<Id> = (0..40)
            .map(|p| kept(&one, 100 + p, &[(1, 3), (2, 3), (3, 3)])[0])
            .collect();
        assert!([1, 2, 3].iter().all(|w| tie_winners.contains(w)));
        // Cap 0 keeps every pair at or above the threshold.
        assert_eq!(kept(&Rule { cap: 0, ..rule }, 0, &pairs), [2, 3, 4, 5, 6]);
    }

    #[test]
    fn the_relation_from_all_pairs_keeps_each_products_own_partners() {
        // Who a product keeps depends on its own pairs only, not on its partners' other pairs.
        let rule = Rule {
            threshold: 1,
            cap: 2,
            strength: Strength::Count,
        };
        let pairs = vec![(0, 1, 5), (0, 2, 1), (0, 3, 2), (2, 3, 4), (1, 3, 1)];
        let relation = rule.relation(4, &pairs);
        for p in 0..4 {
            let own: Vec<(Id, u64)> = pairs
                .iter()
                .flat_map(|&(a, b, c)| [(a, b, c), (b, a, c)])
                .filter(|&(a, _, _)| a == p)
                .map(|(_, b, c)| (b, c))
                .collect();
            let bulk: Vec<Id> = relation.partners(p).iter().map(|r| r.0).collect();
            assert_eq!(kept(&rule, p, &own), bulk, "product {p}");
        }
        assert_eq!(
            relation.partners(0).iter().map(|r| r.0).collect::<Vec<_>>(),
            [1, 3]
        );
        // A pair given from both sides counts once.
        let twice = rule.relation(4, &[(0, 1, 5), (1, 0, 5)]);
        assert_eq!(twice.partners(0).len(), 1);
        assert!((twice.partners(0)[0].1 - 1.0).abs() < 1e-6);
    }
}
