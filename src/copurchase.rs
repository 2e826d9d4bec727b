//! The co-purchase link features of a seller and a product: the direct term
//! `link₁(s, h) = Σ_{p listed by s} 1[p ~ h] / √(deg p · deg h)` and the two-step term
//! `link₂(s, h) = Σ_q link₁(s, q) · 1[q ~ h] / deg q`, over co-purchase pairs at or above the
//! graph's threshold (`deg` = partners at or above it). The graph model's score adds them,
//! with weights fitted on validation products, to its cosine term; training computes them on
//! the in-memory graph, recommend and eval from the store — one formula for all three.

use rustc_hash::FxHashMap as HashMap;

use crate::store::{Id, Result, Store};

/// `[link₁, link₂]` per linked product.
pub type Links = HashMap<Id, [f32; 2]>;

/// The link features of a seller listing `listed`, given each product's partners, for the
/// products `keep` accepts. `kept_partners(q)` is `partners(q)` filtered by `keep` (or all of
/// them, when `keep` takes all): the second step walks those lists only, since on a dense
/// graph the two-step neighbourhood is millions of products and few of them are candidates.
pub fn link_scores<'n>(
    listed: impl IntoIterator<Item = Id>,
    mut partners: impl FnMut(Id) -> Result<&'n [Id]>,
    mut kept_partners: impl FnMut(Id) -> Result<&'n [Id]>,
    keep: impl Fn(Id) -> bool,
) -> Result<Links> {
    let (direct, degree) = direct_links(listed, &mut partners)?;
    let mut links: Links = direct
        .iter()
        .filter(|&(&h, _)| keep(h))
        .map(|(&h, &w)| (h, [w, 0.0]))
        .collect();
    let mut firsts: Vec<(Id, f32)> = direct.into_iter().collect();
    // Sum in id order so the floating-point result does not depend on hash order.
    firsts.sort_unstable_by_key(|&(q, _)| q);
    for (q, w) in firsts {
        let step = w / degree[&q];
        for &h in kept_partners(q)? {
            links.entry(h).or_default()[1] += step;
        }
    }
    Ok(links)
}

/// [`link_scores`] for the products `only` (others are left out): the second step runs from
/// each of them back over its own partners instead of from every first-step product, which on
/// a dense graph (popular products have thousands of partners) is far less work when `only`
/// is short. Equal, bit for bit, to [`link_scores`] on those products.
pub fn link_scores_of<'n>(
    listed: impl IntoIterator<Item = Id>,
    mut partners: impl FnMut(Id) -> Result<&'n [Id]>,
    only: &[Id],
) -> Result<Links> {
    let (direct, degree) = direct_links(listed, &mut partners)?;
    let mut links = Links::default();
    for &h in only {
        let mut two = 0f32;
        let mut qs: Vec<Id> = partners(h)?.to_vec();
        qs.sort_unstable();
        for q in qs {
            if let Some(&w) = direct.get(&q) {
                two += w / degree[&q];
            }
        }
        let one = direct.get(&h).copied().unwrap_or_default();
        if one != 0.0 || two != 0.0 {
            links.insert(h, [one, two]);
        }
    }
    Ok(links)
}

/// link₁ of every product one step from `listed`, and the degree (at least 1) of each.
fn direct_links<'n>(
    listed: impl IntoIterator<Item = Id>,
    partners: &mut impl FnMut(Id) -> Result<&'n [Id]>,
) -> Result<(HashMap<Id, f32>, HashMap<Id, f32>)> {
    let mut direct: HashMap<Id, f32> = HashMap::default();
    let mut degree: HashMap<Id, f32> = HashMap::default();
    for p in listed {
        let ps = partners(p)?;
        if ps.is_empty() {
            continue;
        }
        let dp = ps.len() as f32;
        for &h in ps {
            let dh = match degree.get(&h) {
                Some(&d) => d,
                None => {
                    let d = partners(h)?.len().max(1) as f32;
                    degree.insert(h, d);
                    d
                }
            };
            *direct.entry(h).or_default() += 1.0 / (dp * dh).sqrt();
        }
    }
    Ok((direct, degree))
}

/// Co-purchase partners read from the store, at or above a threshold: all at once for bulk
/// work, or for one seller's products on demand.
pub struct Partners<'a> {
    store: &'a Store,
    threshold: u64,
    loaded: Option<HashMap<Id, Vec<Id>>>,
    /// Per product id: whether its links are wanted (`None`: every product's).
    wanted: Option<Vec<bool>>,
    /// With `wanted` and everything loaded: each product's wanted partners.
    wanted_partners: HashMap<Id, Vec<Id>>,
}

impl<'a> Partners<'a> {
    /// Partners read on demand.
    pub fn lazy(store: &'a Store, threshold: u64) -> Partners<'a> {
        Partners {
            store,
            threshold,
            loaded: None,
            wanted: None,
            wanted_partners: HashMap::default(),
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
    pub fn load(store: &'a Store, threshold: u64) -> Result<Partners<'a>> {
        let mut all: HashMap<Id, Vec<Id>> = HashMap::default();
        store.for_each_copurchase(|a, b, c| {
            if c >= threshold && a != b {
                all.entry(a).or_default().push(b);
            }
        })?;
        Ok(Partners {
            store,
            threshold,
            loaded: Some(all),
            wanted: None,
            wanted_partners: HashMap::default(),
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
            return match self.wanted {
                Some(_) => {
                    let kept = |p| partners_of(&self.wanted_partners, p);
                    link_scores(listed.iter().copied(), of, kept, keep)
                }
                None => link_scores(listed.iter().copied(), of, of, keep),
            };
        }
        // The listed products' partners, and theirs (for degrees and the second step), each
        // read once.
        let mut fetched: HashMap<Id, Vec<Id>> = HashMap::default();
        let fetch = |p: Id, fetched: &mut HashMap<Id, Vec<Id>>| -> Result<()> {
            if let std::collections::hash_map::Entry::Vacant(e) = fetched.entry(p) {
                e.insert(self.read(p)?);
            }
            Ok(())
        };
        for &p in listed {
            fetch(p, &mut fetched)?;
            for h in fetched[&p].clone() {
                fetch(h, &mut fetched)?;
            }
        }
        let of = |p| partners_of(&fetched, p);
        if self.wanted.is_none() {
            return link_scores(listed.iter().copied(), of, of, keep);
        }
        // Read lazily for one seller: the filter is cheap next to the reads.
        let kept: HashMap<Id, Vec<Id>> = fetched
            .iter()
            .map(|(&q, ps)| (q, ps.iter().copied().filter(|&h| keep(h)).collect()))
            .collect();
        link_scores(listed.iter().copied(), of, |p| partners_of(&kept, p), keep)
    }

    fn read(&self, p: Id) -> Result<Vec<Id>> {
        Ok(self
            .store
            .copurchases_of(p)?
            .into_iter()
            .filter(|&(q, c)| c >= self.threshold && q != p)
            .map(|(q, _)| q)
            .collect())
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
        let s = link_scores([0, 3], of, of, |_| true).unwrap();
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        // Direct: h = 1 from 0 (deg 2) and 3 (deg 1), deg 1 = 2; h = 2 from 0.
        let one = 1.0 / (2f32 * 2.0).sqrt() + 1.0 / (1f32 * 2.0).sqrt();
        let two = 1.0 / (2f32 * 1.0).sqrt();
        assert!(close(s[&1][0], one) && close(s[&2][0], two));
        // Two steps: through 1 (deg 2) to 0 and 3, through 2 (deg 1) to 0.
        assert!(close(s[&0][1], one / 2.0 + two) && close(s[&3][1], one / 2.0));
        assert!(close(s[&0][0], 0.0) && close(s[&1][1], 0.0));
    }

    #[test]
    fn links_of_some_products_equal_the_full_computation_on_them_both_ways() {
        // A pseudo-random graph of 60 products, symmetric, with a few dense ones.
        let mut adj: HashMap<Id, Vec<Id>> = HashMap::default();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..400 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (a, b) = ((x % 60) as Id, ((x >> 20) % (5 + x % 55)) as Id);
            if a != b {
                adj.entry(a).or_default().push(b);
                adj.entry(b).or_default().push(a);
            }
        }
        for v in adj.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        let of = |p: Id| Ok(adj.get(&p).map_or(&[][..], Vec::as_slice));
        let listed = [3, 17, 42, 8];
        let all = link_scores(listed, of, of, |_| true).unwrap();
        let only: Vec<Id> = (0..60).filter(|p| p % 3 == 0).collect();
        let expected: Links = all.into_iter().filter(|(h, _)| h % 3 == 0).collect();
        assert!(!expected.is_empty());
        assert_eq!(link_scores_of(listed, of, &only).unwrap(), expected);
        let kept: HashMap<Id, Vec<Id>> = adj
            .iter()
            .map(|(&q, ps)| (q, ps.iter().copied().filter(|h| h % 3 == 0).collect()))
            .collect();
        let kept_of = |p: Id| Ok(kept.get(&p).map_or(&[][..], Vec::as_slice));
        let some = link_scores(listed, of, kept_of, |h| h % 3 == 0).unwrap();
        assert_eq!(some, expected);
    }
}
