//! `inspect`: everything an operator needs to understand one seller's recommendations — what
//! the seller sells, which products weigh in its vector, each recommendation with *why*
//! ([`why`]), and what was left out because the seller already lists it.

pub mod why;

use std::cell::RefCell;

use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;

use crate::model::{GraphModel, Selection};
use crate::recommend::{CategoryChoice, RecommendError, RecommendOptions, Recommender, Result};
use crate::store::{Id, ModelRecord, Namespace, RecList, Store};
use crate::vectors::ActiveModel;
pub use why::Why;

/// One seller's inspection; field names are the stable `--json` keys.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// External seller id.
    pub seller: String,
    /// Display name, if known.
    pub name: Option<String>,
    /// Category recommendations default to.
    pub primary_category: String,
    /// `sellers.tsv` or `listings` (most listed category).
    pub primary_category_source: &'static str,
    /// Categories of the seller's listings, most listed first.
    pub categories: Vec<CategoryCount>,
    /// Number of listings.
    pub listings: u32,
    /// Products that weigh most in the seller vector.
    pub anchors: Vec<Anchor>,
    /// Category of the list shown.
    pub category: String,
    /// Active model name.
    pub model: String,
    /// Model generation that produced the list.
    pub model_generation: u32,
    /// The graph model's score and how its training chose it on validation products
    /// (`None`: the content model).
    pub score: Option<Selection>,
    /// Index generation the list was retrieved from.
    pub index_generation: Option<u32>,
    /// Unix seconds when the list was computed (`None`: not computed yet).
    pub computed_at: Option<u64>,
    /// List length asked for.
    pub k: u32,
    /// Score threshold.
    pub threshold: f32,
    /// Decimals that tell the listed scores apart ([`score_decimals`]).
    pub score_decimals: usize,
    /// The list.
    pub recommendations: Vec<Item>,
    /// Products the index returned that the seller already lists (left out of the list).
    pub excluded_already_listed: Vec<Product>,
}

/// A category with the seller's listing count in it.
#[derive(Debug, Serialize)]
pub struct CategoryCount {
    /// Category name.
    pub category: String,
    /// Listings in it.
    pub listings: u32,
}

/// A product that weighs in the seller vector.
#[derive(Debug, Serialize)]
pub struct Anchor {
    /// The product.
    #[serde(flatten)]
    pub product: Product,
    /// Its weight in the view-weighted mean.
    pub weight: f32,
}

/// A product's id, title and category.
#[derive(Debug, Clone, Serialize)]
pub struct Product {
    /// External product id.
    pub product: String,
    /// Title.
    pub title: String,
    /// Category path.
    pub category: String,
}

/// One recommendation.
#[derive(Debug, Serialize)]
pub struct Item {
    /// 1-based rank.
    pub rank: usize,
    /// The product.
    #[serde(flatten)]
    pub product: Product,
    /// Score in [0, 1].
    pub score: f32,
    /// Why it was recommended.
    pub why: Why,
}

/// Inspects `seller` (external id). `category` picks a list other than the primary one;
/// `limit` keeps the first recommendations only (their "why" is the costly part);
/// `recommender` (when an index exists) recomputes what was excluded as already listed.
pub fn inspect(
    store: &Store,
    seller: &str,
    category: Option<&str>,
    limit: Option<usize>,
    recommender: Option<&Recommender>,
) -> Result<Inspection> {
    let id = store
        .lookup(Namespace::Seller, seller)?
        .ok_or_else(|| RecommendError::UnknownSeller(seller.to_string()))?;
    let record = store.seller(id)?.unwrap_or_default();
    let profile = store.profile(id)?.unwrap_or_default();
    let model = ActiveModel::load(store)?.ok_or(RecommendError::NoModel)?;
    let score = store
        .model::<GraphModel>(ModelRecord::Graph)?
        .filter(|g| g.generation == model.generation)
        .map(|g| g.selection);
    let listed: Vec<Id> = store.listings_of(id)?.into_iter().map(|(p, _)| p).collect();
    let shown = category.unwrap_or(&profile.primary_category).to_string();

    let stored: Option<RecList> = store
        .recommendations(id)?
        .into_iter()
        .find_map(|(c, l)| (c == shown).then_some(l));
    let defaults = RecommendOptions::default();
    let live = match recommender {
        Some(r) => r.lists(id)?.into_iter().find(|c| c.category == shown),
        None => None,
    };
    // The stored list is what the seller sees; without one, show the live computation (and
    // say it was never stored: no `computed_at`).
    let computed_at = stored.as_ref().map(|l| l.computed_at);
    let list = stored.or_else(|| live.as_ref().map(|c| c.list.clone()));

    let products = Products::new(store);
    let reasons = why::Reasons::new(store, &products, &model, &listed)?;
    let mut recommendations = Vec::new();
    let shown_items = list.iter().flat_map(|l| &l.items);
    for (rank, rec) in shown_items.take(limit.unwrap_or(usize::MAX)).enumerate() {
        recommendations.push(Item {
            rank: rank + 1,
            product: products.describe(rec.product)?,
            score: rec.score,
            why: reasons.of(rec.product)?,
        });
    }
    let scores: Vec<f32> = recommendations.iter().map(|r| r.score).collect();
    Ok(Inspection {
        seller: seller.to_string(),
        name: record.name,
        primary_category: profile.primary_category.clone(),
        primary_category_source: if profile.primary_from_sellers_file {
            "sellers.tsv"
        } else {
            "listings"
        },
        categories: profile
            .categories
            .iter()
            .map(|(c, n)| CategoryCount {
                category: c.clone(),
                listings: *n,
            })
            .collect(),
        listings: profile.listings,
        anchors: profile
            .anchors
            .iter()
            .map(|&(p, weight)| {
                Ok(Anchor {
                    product: products.describe(p)?,
                    weight,
                })
            })
            .collect::<Result<_>>()?,
        category: shown,
        model: model.name(),
        model_generation: list.as_ref().map_or(model.generation, |l| l.model),
        score,
        index_generation: list.as_ref().map(|l| l.index_generation),
        computed_at,
        k: list.as_ref().map_or(defaults.k as u32, |l| l.k),
        threshold: list.as_ref().map_or(defaults.threshold, |l| l.threshold),
        score_decimals: score_decimals(&scores),
        recommendations,
        excluded_already_listed: live
            .iter()
            .flat_map(|c| &c.excluded)
            .map(|&p| products.describe(p))
            .collect::<Result<_>>()?,
    })
}

/// Products described (external id, title, category) once each: the same listed products
/// explain many recommendations.
struct Products<'a> {
    store: &'a Store,
    known: RefCell<HashMap<Id, Product>>,
}

impl<'a> Products<'a> {
    /// Descriptions read from `store`.
    fn new(store: &'a Store) -> Products<'a> {
        Products {
            store,
            known: RefCell::default(),
        }
    }

    /// Product `p`'s id, title and category.
    fn describe(&self, p: Id) -> Result<Product> {
        if let Some(known) = self.known.borrow().get(&p) {
            return Ok(known.clone());
        }
        let text = self.store.product_text(p)?.unwrap_or_default();
        let product = Product {
            product: self.store.external(Namespace::Product, p)?,
            title: text.title,
            category: text.category,
        };
        self.known.borrow_mut().insert(p, product.clone());
        Ok(product)
    }
}

/// Decimals that print every two different scores of a list (best first) differently: 3, or
/// more where neighbours differ only further down, up to 8 (enough for any two `f32` scores
/// above 1/8, which differ by 2⁻²⁶ or more). The calibrated score saturates near 1: a dense
/// seller's top scores (0.99999, 0.99998, …) would all print `1.000`. Equal scores print equal
/// at any precision; their rank orders them.
pub fn score_decimals(scores: &[f32]) -> usize {
    (3..8)
        .find(|&d| {
            scores
                .windows(2)
                .all(|w| w[0] == w[1] || format!("{:.d$}", w[0]) != format!("{:.d$}", w[1]))
        })
        .unwrap_or(8)
}

/// The options `inspect` recomputes the live list with.
pub fn live_options(category: Option<&str>) -> RecommendOptions {
    RecommendOptions {
        category: category.map_or(CategoryChoice::Primary, |c| CategoryChoice::Named(c.into())),
        ..RecommendOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_decimals_tell_neighbours_apart() {
        assert_eq!(score_decimals(&[]), 3);
        assert_eq!(score_decimals(&[0.9, 0.85, 0.5]), 3);
        // Saturated scores of a dense seller: 1.000 three times at three decimals.
        assert_eq!(score_decimals(&[0.999_994_6, 0.999_984_7, 0.999_980_7]), 6);
        // Equal scores need no more digits; the two largest f32 below 1 need eight.
        assert_eq!(score_decimals(&[1.0, 1.0, 0.5]), 3);
        assert_eq!(score_decimals(&[1.0, 1.0 - f32::EPSILON / 2.0]), 7);
        assert_eq!(
            score_decimals(&[1.0 - f32::EPSILON / 2.0, 1.0 - f32::EPSILON]),
            8
        );
    }
}
