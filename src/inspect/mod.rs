//! `inspect`: everything an operator needs to understand one seller's recommendations — what
//! the seller sells, which products weigh in its vector, each recommendation with *why*, and
//! what was left out because the seller already lists it.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Serialize;

use crate::features::text::cosine;
use crate::model::{GRAPH_MODEL, GraphModel, Selection};
use crate::recommend::{CategoryChoice, RecommendError, RecommendOptions, Recommender, Result};
use crate::store::{Id, Namespace, RecList, Store};
use crate::vectors::ActiveModel;

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

/// The evidence behind a recommendation.
#[derive(Debug, Serialize)]
pub struct Why {
    /// The seller's listed products most similar to it.
    pub similar_listed: Vec<Similar>,
    /// The seller's listed products bought together with it, with pair counts.
    pub copurchased_with: Vec<Copurchased>,
}

/// A listed product and its cosine similarity to the recommendation.
#[derive(Debug, Serialize)]
pub struct Similar {
    /// The listed product.
    #[serde(flatten)]
    pub product: Product,
    /// Cosine similarity.
    pub cosine: f32,
}

/// A listed product co-purchased with the recommendation.
#[derive(Debug, Serialize)]
pub struct Copurchased {
    /// The listed product.
    #[serde(flatten)]
    pub product: Product,
    /// Customers who bought both.
    pub count: u64,
}

/// How many listed products `why` names at most.
const WHY_SIMILAR: usize = 3;

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
        .model::<GraphModel>(GRAPH_MODEL)?
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

    // The same listed products explain many recommendations: read each one once.
    let described: RefCell<HashMap<Id, Product>> = RefCell::default();
    let describe = |p: Id| -> Result<Product> {
        if let Some(known) = described.borrow().get(&p) {
            return Ok(known.clone());
        }
        let text = store.product_text(p)?.unwrap_or_default();
        let product = Product {
            product: store.external(Namespace::Product, p)?,
            title: text.title,
            category: text.category,
        };
        described.borrow_mut().insert(p, product.clone());
        Ok(product)
    };
    let mut listed_vectors: HashMap<Id, Vec<f32>> = HashMap::new();
    for &p in &listed {
        if let Some(v) = model.product(store, p)? {
            listed_vectors.insert(p, v);
        }
    }
    let mut recommendations = Vec::new();
    let shown_items = list.iter().flat_map(|l| &l.items);
    for (rank, rec) in shown_items.take(limit.unwrap_or(usize::MAX)).enumerate() {
        let v = model.product(store, rec.product)?.unwrap_or_default();
        let mut similar: Vec<(Id, f32)> = listed_vectors
            .iter()
            .map(|(&p, lv)| (p, cosine(&v, lv)))
            .collect();
        similar.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        similar.truncate(WHY_SIMILAR);
        let mut copurchased: Vec<(Id, u64)> = store
            .copurchases_of(rec.product)?
            .into_iter()
            .filter(|(p, _)| listed.contains(p))
            .collect();
        copurchased.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        recommendations.push(Item {
            rank: rank + 1,
            product: describe(rec.product)?,
            score: rec.score,
            why: Why {
                similar_listed: similar
                    .into_iter()
                    .map(|(p, c)| {
                        Ok(Similar {
                            product: describe(p)?,
                            cosine: c,
                        })
                    })
                    .collect::<Result<_>>()?,
                copurchased_with: copurchased
                    .into_iter()
                    .map(|(p, count)| {
                        Ok(Copurchased {
                            product: describe(p)?,
                            count,
                        })
                    })
                    .collect::<Result<_>>()?,
            },
        });
    }
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
                    product: describe(p)?,
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
        recommendations,
        excluded_already_listed: live
            .iter()
            .flat_map(|c| &c.excluded)
            .map(|&p| describe(p))
            .collect::<Result<_>>()?,
    })
}

/// The options `inspect` recomputes the live list with.
pub fn live_options(category: Option<&str>) -> RecommendOptions {
    RecommendOptions {
        category: category.map_or(CategoryChoice::Primary, |c| CategoryChoice::Named(c.into())),
        ..RecommendOptions::default()
    }
}
