//! The co-purchase relation and the link features of a seller and a product over it.
//!
//! The relation ([`Rule`]): each product's partners are the pairs at or above a count
//! threshold, at most `cap` of them — the highest counts. `p ~ h` reads "h is one of p's
//! partners"; with a cap it need not hold both ways. The features: the direct term
//! `link₁(s, h) = Σ_{p listed by s} 1[p ~ h] / √(deg p · deg h)` and the two-step term
//! `link₂(s, h) = Σ_q link₁(s, q) · 1[q ~ h] / √(deg q · deg h)` (`deg` = number of partners:
//! both steps normalised alike, so a popular product is not favoured at the second). The graph
//! model's score adds them, with weights fitted on validation products, to its cosine term;
//! training computes them on the in-memory graph, recommend and eval from the store — one
//! relation and one formula for all three.

use rustc_hash::FxHashMap as HashMap;

use crate::store::{Id, Result, Store};

/// Which co-purchase pairs make a product's partners.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rule {
    /// Count at which a pair counts.
    pub threshold: u64,
    /// Partners kept per product (0: all). Popular products have thousands of partners on a
    /// large marketplace, and the two-step link walks partners of partners: the cap bounds
    /// that walk, keeping the strongest pairs.
    pub cap: u32,
}

impl Rule {
    /// The rule of the link features over a relation of `pairs` directed pairs at or above
    /// the threshold: this one, without its cap when there are at most `uncapped_up_to`
    /// pairs. The cap bounds the two-step walk on a large marketplace; on a small one it only
    /// drops pairs — and without counts ("also bought" lists) it drops them at random,
    /// cutting the popular products through which most two-step paths run.
    pub fn for_links(&self, pairs: usize, uncapped_up_to: usize) -> Rule {
        match pairs <= uncapped_up_to {
            true => Rule { cap: 0, ..*self },
            false => *self,
        }
    }

    /// The partners of `p` among its `(partner, count)` pairs, ascending: those at or above
    /// the threshold, and of them the `cap` with the highest counts. Equal counts are broken
    /// by a hash of the pair (the same from either side), not by id, so no product is
    /// favoured for its place in the id order — "also bought" lists without counts tie
    /// throughout.
    pub fn partners(&self, p: Id, pairs: impl IntoIterator<Item = (Id, u64)>) -> Vec<Id> {
        let mut kept: Vec<(Id, u64)> = pairs
            .into_iter()
            .filter(|&(q, c)| c >= self.threshold && q != p)
            .collect();
        let cap = self.cap as usize;
        if cap > 0 && kept.len() > cap {
            let order = |&(q, c): &(Id, u64)| (std::cmp::Reverse(c), pair_hash(p, q), q);
            kept.select_nth_unstable_by_key(cap - 1, order);
            kept.truncate(cap);
        }
        let mut ids: Vec<Id> = kept.into_iter().map(|(q, _)| q).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The relation over `pairs` (`(a, b, count)`, each pair given from one side or both):
    /// `(product, partner)` for every product's partners, ascending.
    pub fn relation(&self, mut pairs: Vec<(Id, Id, u64)>) -> Vec<(Id, Id)> {
        let reversed: Vec<(Id, Id, u64)> = pairs.iter().map(|&(a, b, c)| (b, a, c)).collect();
        pairs.extend(reversed);
        // A pair given from both sides once per side: keep its highest count.
        pairs.sort_unstable_by_key(|&(a, b, c)| (a, b, std::cmp::Reverse(c)));
        pairs.dedup_by_key(|&mut (a, b, _)| (a, b));
        let mut out = Vec::new();
        for group in pairs.chunk_by(|x, y| x.0 == y.0) {
            let p = group[0].0;
            out.extend(
                self.partners(p, group.iter().map(|&(_, q, c)| (q, c)))
                    .into_iter()
                    .map(|q| (p, q)),
            );
        }
        out
    }
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

/// `[link₁, link₂]` per linked product.
pub type Links = HashMap<Id, [f32; 2]>;

/// The link features of a seller listing `listed`, given each product's partners and degree
/// (its number of partners, at least 1), for the products `keep` accepts. `kept_partners(q)`
/// is `partners(q)` filtered by `keep` (or all of them, when `keep` takes all): the second
/// step walks those lists only, since on a dense graph the two-step neighbourhood is millions
/// of products and few of them are candidates.
pub fn link_scores<'n>(
    listed: impl IntoIterator<Item = Id>,
    mut partners: impl FnMut(Id) -> Result<&'n [Id]>,
    mut kept_partners: impl FnMut(Id) -> Result<&'n [Id]>,
    keep: impl Fn(Id) -> bool,
    degree: impl Fn(Id) -> f32,
) -> Result<Links> {
    let direct = direct_links(listed, &mut partners, &degree)?;
    let mut links: Links = direct
        .iter()
        .filter(|&(&h, _)| keep(h))
        .map(|(&h, &w)| (h, [w, 0.0]))
        .collect();
    let mut firsts: Vec<(Id, f32)> = direct.into_iter().collect();
    // Sum in id order so the floating-point result does not depend on hash order.
    firsts.sort_unstable_by_key(|&(q, _)| q);
    for (q, w) in firsts {
        let step = w / degree(q).sqrt();
        for &h in kept_partners(q)? {
            links.entry(h).or_default()[1] += step;
        }
    }
    // deg h is common to every path into h: one lookup per product, not per path.
    for (&h, l) in links.iter_mut() {
        l[1] /= degree(h).sqrt();
    }
    Ok(links)
}

/// [`link_scores`] for the products `only` (others are left out): the second step runs from
/// each of them back over the products it is a partner of (`partnered_by(h)`, ascending)
/// instead of from every first-step product, which on a dense graph is far less work when
/// `only` is short. Equal, bit for bit, to [`link_scores`] on those products.
pub fn link_scores_of<'n>(
    listed: impl IntoIterator<Item = Id>,
    mut partners: impl FnMut(Id) -> Result<&'n [Id]>,
    mut partnered_by: impl FnMut(Id) -> Result<&'n [Id]>,
    degree: impl Fn(Id) -> f32,
    only: &[Id],
) -> Result<Links> {
    let direct = direct_links(listed, &mut partners, &degree)?;
    let mut links = Links::default();
    for &h in only {
        let mut two = 0f32;
        for &q in partnered_by(h)? {
            if let Some(&w) = direct.get(&q) {
                two += w / degree(q).sqrt();
            }
        }
        two /= degree(h).sqrt();
        let one = direct.get(&h).copied().unwrap_or_default();
        if one != 0.0 || two != 0.0 {
            links.insert(h, [one, two]);
        }
    }
    Ok(links)
}

/// link₁ of every product one step from `listed`.
fn direct_links<'n>(
    listed: impl IntoIterator<Item = Id>,
    partners: &mut impl FnMut(Id) -> Result<&'n [Id]>,
    degree: impl Fn(Id) -> f32,
) -> Result<HashMap<Id, f32>> {
    let mut direct: HashMap<Id, f32> = HashMap::default();
    for p in listed {
        let ps = partners(p)?;
        if ps.is_empty() {
            continue;
        }
        let dp = ps.len() as f32;
        for &h in ps {
            *direct.entry(h).or_default() += 1.0 / (dp * degree(h)).sqrt();
        }
    }
    Ok(direct)
}

/// The degree (at least 1) of a product whose partners `list` gives (`None`: none).
fn degree_of(list: Option<&Vec<Id>>) -> f32 {
    list.map_or(1, |ps| ps.len().max(1)) as f32
}

/// Where partner lists come from.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    /// The store's co-purchase counts under a rule (for a model trained in memory).
    Counts(Rule),
    /// The lists stored with a graph-model generation: the relation it was trained and
    /// fitted on, read back without scanning every count of every partner.
    Model(u32),
}

/// Co-purchase partners read from the store: all at once for bulk work, or for one seller's
/// products on demand.
pub struct Partners<'a> {
    store: &'a Store,
    source: Source,
    loaded: Option<HashMap<Id, Vec<Id>>>,
    /// Per product id: whether its links are wanted (`None`: every product's).
    wanted: Option<Vec<bool>>,
    /// With `wanted` and everything loaded: each product's wanted partners.
    wanted_partners: HashMap<Id, Vec<Id>>,
    /// With everything loaded: each product's degree, by id (a dense table: the second step
    /// looks up every product it reaches).
    degrees: Vec<f32>,
}

impl<'a> Partners<'a> {
    /// Partners read on demand.
    pub fn lazy(store: &'a Store, source: Source) -> Partners<'a> {
        Partners {
            store,
            source,
            loaded: None,
            wanted: None,
            wanted_partners: HashMap::default(),
            degrees: Vec::new(),
        }
    }

    /// The same, computing links to `products` only (the candidates a caller ranks).
    pub fn only(mut self, products: impl IntoIterator<Item = Id>) -> Partners<'a> {
        let mut wanted = Vec::new();
        for p in products {
            let p = p as usize;
            if p >= wanted.len() {
                wanted.resize(p + 1, false);
            }
            wanted[p] = true;
        }
        if let Some(all) = &self.loaded {
            let is_wanted = |p: &Id| wanted.get(*p as usize).copied().unwrap_or(false);
            self.wanted_partners = all
                .iter()
                .map(|(&q, ps)| (q, ps.iter().copied().filter(is_wanted).collect::<Vec<_>>()))
                .filter(|(_, ps)| !ps.is_empty())
                .collect();
        }
        self.wanted = Some(wanted);
        self
    }

    /// Every pair read now (one scan).
    pub fn load(store: &'a Store, source: Source) -> Result<Partners<'a>> {
        let mut all: HashMap<Id, Vec<Id>> = HashMap::default();
        match source {
            Source::Counts(rule) => {
                let mut pairs = Vec::new();
                store.for_each_copurchase(|a, b, c| {
                    if c >= rule.threshold {
                        pairs.push((a, b, c));
                    }
                })?;
                for (p, q) in rule.relation(pairs) {
                    all.entry(p).or_default().push(q);
                }
            }
            Source::Model(generation) => store.for_each_partners(generation, |p, ps| {
                all.insert(p, ps);
            })?,
        }
        let mut degrees = vec![1.0; all.keys().max().map_or(0, |&p| p as usize + 1)];
        for (&p, ps) in &all {
            degrees[p as usize] = degree_of(Some(ps));
        }
        Ok(Partners {
            store,
            source,
            loaded: Some(all),
            wanted: None,
            wanted_partners: HashMap::default(),
            degrees,
        })
    }

    /// The link features of a seller listing `listed`.
    pub fn link_scores(&self, listed: &[Id]) -> Result<Links> {
        fn partners_of(all: &HashMap<Id, Vec<Id>>, p: Id) -> Result<&[Id]> {
            Ok(all.get(&p).map_or(&[][..], Vec::as_slice))
        }
        let keep = |p: Id| {
            self.wanted
                .as_ref()
                .is_none_or(|w| w.get(p as usize).copied().unwrap_or(false))
        };
        if let Some(all) = &self.loaded {
            let of = |p| partners_of(all, p);
            let degree = |p: Id| self.degrees.get(p as usize).copied().unwrap_or(1.0);
            return match self.wanted {
                Some(_) => {
                    let kept = |p| partners_of(&self.wanted_partners, p);
                    link_scores(listed.iter().copied(), of, kept, keep, degree)
                }
                None => link_scores(listed.iter().copied(), of, of, keep, degree),
            };
        }
        // The listed products' partners, theirs (for degrees and the second step), and those
        // of the second step's products that are kept (for their degrees), each read once.
        let mut fetched: HashMap<Id, Vec<Id>> = HashMap::default();
        let fetch = |p: Id, fetched: &mut HashMap<Id, Vec<Id>>| -> Result<()> {
            if let std::collections::hash_map::Entry::Vacant(e) = fetched.entry(p) {
                e.insert(self.read(p)?);
            }
            Ok(())
        };
        let mut firsts = Vec::new();
        for &p in listed {
            fetch(p, &mut fetched)?;
            for h in fetched[&p].clone() {
                fetch(h, &mut fetched)?;
                firsts.push(h);
            }
        }
        for q in firsts {
            for h in fetched[&q].clone() {
                if keep(h) {
                    fetch(h, &mut fetched)?;
                }
            }
        }
        let of = |p| partners_of(&fetched, p);
        let degree = |p: Id| degree_of(fetched.get(&p));
        if self.wanted.is_none() {
            return link_scores(listed.iter().copied(), of, of, keep, degree);
        }
        // Read lazily for one seller: the filter is cheap next to the reads.
        let kept: HashMap<Id, Vec<Id>> = fetched
            .iter()
            .map(|(&q, ps)| (q, ps.iter().copied().filter(|&h| keep(h)).collect()))
            .collect();
        link_scores(
            listed.iter().copied(),
            of,
            |p| partners_of(&kept, p),
            keep,
            degree,
        )
    }

    fn read(&self, p: Id) -> Result<Vec<Id>> {
        match self.source {
            Source::Counts(rule) => Ok(rule.partners(p, self.store.copurchases_of(p)?)),
            Source::Model(generation) => self.store.partners(generation, p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_and_two_step_links_over_the_sellers_products() {
        // 0 ~ 1, 0 ~ 2, 3 ~ 1: a seller listing 0 and 3.
        let adj: HashMap<Id, Vec<Id>> =
            [(0, vec![1, 2]), (1, vec![0, 3]), (2, vec![0]), (3, vec![1])]
                .into_iter()
                .collect();
        let of = |p: Id| Ok(adj.get(&p).map_or(&[][..], Vec::as_slice));
        let degree = |p: Id| degree_of(adj.get(&p));
        let s = link_scores([0, 3], of, of, |_| true, degree).unwrap();
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        // Direct: h = 1 from 0 (deg 2) and 3 (deg 1), deg 1 = 2; h = 2 from 0.
        let one = 1.0 / (2f32 * 2.0).sqrt() + 1.0 / (1f32 * 2.0).sqrt();
        let two = 1.0 / (2f32 * 1.0).sqrt();
        assert!(close(s[&1][0], one) && close(s[&2][0], two));
        // Two steps: through 1 (deg 2) to 0 (deg 2) and 3 (deg 1), through 2 (deg 1) to 0.
        let via = |w: f32, dq: f32, dh: f32| w / (dq * dh).sqrt();
        assert!(close(s[&0][1], via(one, 2.0, 2.0) + via(two, 1.0, 2.0)));
        assert!(close(s[&3][1], via(one, 2.0, 1.0)));
        assert!(close(s[&0][0], 0.0) && close(s[&1][1], 0.0));
    }

    /// A pseudo-random relation over 60 products, a few of them dense, under `rule`:
    /// each product's partners, and the products each is a partner of.
    fn random_relation(rule: Rule) -> (HashMap<Id, Vec<Id>>, HashMap<Id, Vec<Id>>) {
        let mut pairs = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..400 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (a, b) = ((x % 60) as Id, ((x >> 20) % (5 + x % 55)) as Id);
            pairs.push((a, b, 1 + (x >> 40) % 3));
        }
        let mut partners: HashMap<Id, Vec<Id>> = HashMap::default();
        let mut partnered_by: HashMap<Id, Vec<Id>> = HashMap::default();
        for (p, q) in rule.relation(pairs) {
            partners.entry(p).or_default().push(q);
            partnered_by.entry(q).or_default().push(p);
        }
        (partners, partnered_by)
    }

    #[test]
    fn links_of_some_products_equal_the_full_computation_on_them_both_ways() {
        for cap in [0, 3] {
            let (adj, rev) = random_relation(Rule { threshold: 1, cap });
            if cap > 0 {
                assert!(adj.values().all(|ps| ps.len() <= 3));
                assert!(
                    rev.values().any(|ps| ps.len() > 3),
                    "a capped relation is one-sided"
                );
            }
            let of = |p: Id| Ok(adj.get(&p).map_or(&[][..], Vec::as_slice));
            let of_rev = |p: Id| Ok(rev.get(&p).map_or(&[][..], Vec::as_slice));
            let listed = [3, 17, 42, 8];
            let degree = |p: Id| degree_of(adj.get(&p));
            let all = link_scores(listed, of, of, |_| true, degree).unwrap();
            let only: Vec<Id> = (0..60).filter(|p| p % 3 == 0).collect();
            let expected: Links = all.into_iter().filter(|(h, _)| h % 3 == 0).collect();
            assert!(!expected.is_empty());
            let some = link_scores_of(listed, of, of_rev, degree, &only).unwrap();
            assert_eq!(some, expected);
            let kept: HashMap<Id, Vec<Id>> = adj
                .iter()
                .map(|(&q, ps)| (q, ps.iter().copied().filter(|h| h % 3 == 0).collect()))
                .collect();
            let kept_of = |p: Id| Ok(kept.get(&p).map_or(&[][..], Vec::as_slice));
            let some = link_scores(listed, of, kept_of, |h| h % 3 == 0, degree).unwrap();
            assert_eq!(some, expected);
        }
    }

    #[test]
    fn a_rule_keeps_the_strongest_pairs_at_or_above_its_threshold() {
        let rule = Rule {
            threshold: 2,
            cap: 3,
        };
        // Product 0: 1 is under the threshold, 0 is itself; 5 and 6 count most; one of the
        // three pairs counting 3 is dropped.
        let pairs = [(1, 1), (0, 9), (2, 3), (3, 3), (4, 3), (5, 7), (6, 4)];
        let kept = rule.partners(0, pairs);
        assert_eq!(kept.len(), 3);
        assert!(kept.contains(&5) && kept.contains(&6));
        assert!(kept.iter().all(|q| [2, 3, 4, 5, 6].contains(q)));
        // The tie is broken by the pair, not by the order given or by id.
        let reversed: Vec<(Id, u64)> = pairs.iter().rev().copied().collect();
        assert_eq!(rule.partners(0, reversed), kept);
        let one = Rule {
            threshold: 2,
            cap: 1,
        };
        let tie_winners: Vec<Id> = (0..40)
            .map(|p| one.partners(100 + p, [(1, 3), (2, 3), (3, 3)])[0])
            .collect();
        assert!([1, 2, 3].iter().all(|w| tie_winners.contains(w)));
        // Cap 0 keeps every pair at or above the threshold.
        let all = Rule {
            threshold: 2,
            cap: 0,
        }
        .partners(0, pairs);
        assert_eq!(all, [2, 3, 4, 5, 6]);
        // The link features lift the cap on a relation of at most the given size only.
        assert_eq!(rule.for_links(10, 10).cap, 0);
        assert_eq!(rule.for_links(11, 10), rule);
    }

    #[test]
    fn the_relation_from_all_pairs_equals_each_products_own_partners() {
        // Bulk (train, recommend) and one product at a time (inspect) must agree.
        let rule = Rule {
            threshold: 1,
            cap: 2,
        };
        let pairs = vec![(0, 1, 5), (0, 2, 1), (0, 3, 2), (2, 3, 4), (1, 3, 1)];
        let relation = rule.relation(pairs.clone());
        for p in 0..4 {
            let own: Vec<(Id, u64)> = pairs
                .iter()
                .flat_map(|&(a, b, c)| [(a, b, c), (b, a, c)])
                .filter(|&(a, _, _)| a == p)
                .map(|(_, b, c)| (b, c))
                .collect();
            let bulk: Vec<Id> = relation.iter().filter(|r| r.0 == p).map(|r| r.1).collect();
            assert_eq!(rule.partners(p, own), bulk, "product {p}");
        }
        assert_eq!(rule.partners(0, [(1, 5), (2, 1), (3, 2)]), [1, 3]);
    }
}
