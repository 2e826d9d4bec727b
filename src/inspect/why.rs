//! Why a product is recommended to a seller: the strongest few reasons of each kind the score
//! weighs, with titles — one structure for `inspect` (its text and `--json`) and the portal's
//! `why`, so the two always say the same. The kinds follow the score's terms: the seller's
//! listed products bought together with it (the link terms), its category and the seller's
//! listings in it (the category term), and the listed products nearest to it by the model's
//! vectors (the cosine term).
//!
//! On a dense co-purchase graph a recommendation is bought with most of a large seller's
//! catalogue, so the co-purchased products are named only up to [`TOP`] and the rest counted.

use std::cell::RefCell;
use std::collections::hash_map::Entry;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde::Serialize;

use super::{Product, Products};
use crate::cosine::cosine;
use crate::features::text::category_at;
use crate::recommend::Result;
use crate::store::{Id, Store};
use crate::vectors::ActiveModel;

/// Reasons of one kind named at most; the rest are counted.
pub const TOP: usize = 3;

/// The evidence behind a recommendation; field names are stable JSON keys (`inspect --json`
/// and the portal).
#[derive(Debug, Serialize)]
pub struct Why {
    /// The seller's listed products bought together with it, the most customers first, at
    /// most [`TOP`].
    pub copurchased_with: Vec<Copurchased>,
    /// How many more of the seller's listed products it was bought together with.
    pub copurchased_more: usize,
    /// Its category and the seller's listings in it.
    pub category: CategoryMatch,
    /// The seller's listed products nearest to it by the model's vectors, nearest first, at
    /// most [`TOP`]. Every listed product has a similarity, so the rest are not counted.
    pub similar_listed: Vec<Similar>,
}

/// A listed product bought together with the recommendation.
#[derive(Debug, Serialize)]
pub struct Copurchased {
    /// The listed product.
    #[serde(flatten)]
    pub product: Product,
    /// Customers who bought both.
    pub count: u64,
    /// What the pair adds to the score's one-step link term, `w(listed, recommended)` (0 when
    /// the score has no link term or the pair is outside the relation it walks, e.g. under
    /// the count threshold).
    pub weight: f32,
}

/// The recommendation's category and how much of the seller's catalogue is in it.
#[derive(Debug, Serialize)]
pub struct CategoryMatch {
    /// Its full category path (`None`: it has none).
    pub name: Option<String>,
    /// The seller's listings in that category (0 without one).
    pub listings: u32,
}

/// A listed product and its cosine similarity to the recommendation.
#[derive(Debug, Serialize)]
pub struct Similar {
    /// The listed product.
    #[serde(flatten)]
    pub product: Product,
    /// Cosine similarity of the model's vectors.
    pub cosine: f32,
}

/// One seller's side of every explanation: its listed products, their vectors and categories,
/// and (when the score has a link term) their co-purchase partners, each read once.
pub(super) struct Reasons<'a> {
    store: &'a Store,
    products: &'a Products<'a>,
    model: &'a ActiveModel,
    listed: HashSet<Id>,
    /// The listed products' vectors, by id.
    vectors: Vec<(Id, Vec<f32>)>,
    /// The seller's listings per full category path.
    in_category: HashMap<String, u32>,
    /// The partner lists (with their weights) of the listed products asked about so far.
    partners: RefCell<HashMap<Id, Vec<(Id, f32)>>>,
}

impl<'a> Reasons<'a> {
    /// The reasons a seller listing `listed` can be given under `model`.
    pub(super) fn new(
        store: &'a Store,
        products: &'a Products<'a>,
        model: &'a ActiveModel,
        listed: &[Id],
    ) -> Result<Reasons<'a>> {
        let mut vectors = Vec::new();
        let mut in_category: HashMap<String, u32> = HashMap::default();
        for &p in listed {
            if let Some(v) = model.product(store, p)? {
                vectors.push((p, v));
            }
            if let Some(c) = full_category(&products.describe(p)?) {
                *in_category.entry(c).or_default() += 1;
            }
        }
        vectors.sort_unstable_by_key(|&(p, _)| p);
        Ok(Reasons {
            store,
            products,
            model,
            listed: listed.iter().copied().collect(),
            vectors,
            in_category,
            partners: RefCell::default(),
        })
    }

    /// Why product `h` is recommended.
    pub(super) fn of(&self, h: Id) -> Result<Why> {
        let mut copurchased = Vec::new();
        for (p, count) in self.store.copurchases_of(h)? {
            if self.listed.contains(&p) {
                copurchased.push((p, count, self.weight(p, h)?));
            }
        }
        // Most customers first, as a reader expects of the counts shown; the link term's
        // weight then prefers the specific pairs among equal counts ("also bought" lists
        // count every pair once).
        copurchased.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.total_cmp(&a.2)).then(a.0.cmp(&b.0)));
        let copurchased_more = copurchased.len().saturating_sub(TOP);
        copurchased.truncate(TOP);

        let name = full_category(&self.products.describe(h)?);
        let listings = name
            .as_ref()
            .and_then(|c| self.in_category.get(c))
            .copied()
            .unwrap_or(0);

        let v = self.model.product(self.store, h)?.unwrap_or_default();
        let mut similar: Vec<(Id, f32)> = self
            .vectors
            .iter()
            .map(|(p, lv)| (*p, cosine(&v, lv)))
            .collect();
        similar.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        similar.truncate(TOP);

        Ok(Why {
            copurchased_with: copurchased
                .into_iter()
                .map(|(p, count, weight)| {
                    Ok(Copurchased {
                        product: self.products.describe(p)?,
                        count,
                        weight,
                    })
                })
                .collect::<Result<_>>()?,
            copurchased_more,
            category: CategoryMatch { name, listings },
            similar_listed: similar
                .into_iter()
                .map(|(p, cosine)| {
                    Ok(Similar {
                        product: self.products.describe(p)?,
                        cosine,
                    })
                })
                .collect::<Result<_>>()?,
        })
    }

    /// `w(p, h)`: what listed product `p` adds to `h`'s one-step link term — the weight of `h`
    /// in `p`'s stored partner list, which under a partner cap may hold `h` when `h`'s own
    /// list does not hold `p`, or the other way round.
    fn weight(&self, p: Id, h: Id) -> Result<f32> {
        if !self.model.uses_links() {
            return Ok(0.0);
        }
        let mut partners = self.partners.borrow_mut();
        let list = match partners.entry(p) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(self.store.partners(self.model.generation, p)?),
        };
        // Stored ascending by partner.
        Ok(list
            .binary_search_by_key(&h, |&(q, _)| q)
            .map_or(0.0, |at| list[at].1))
    }
}

/// A product's full category path as the score's category term reads it (`None`: none).
fn full_category(product: &Product) -> Option<String> {
    Some(category_at(&product.category, usize::MAX)).filter(|c| !c.is_empty())
}
