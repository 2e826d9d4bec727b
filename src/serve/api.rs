//! The JSON API, version 1: response shapes (their field names are a stable interface), query
//! parameters, errors with stable codes, and the store reads behind each answer.
//!
//! Lists are the stored ones (`demandlink recommend`); the server computes nothing. A category
//! without a stored list answers an empty list with `computed_at: null`, and `GET /api/v1/me`
//! names the categories that have one.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::index::stage as index_stage;
use crate::index::{Depth, Health as IndexHealth};
use crate::inspect::{self, Item};
use crate::progress::NoProgress;
use crate::recommend::RecommendError;
use crate::store::{DropState, JobState, Namespace, Store, StoreError};

/// Recommendations per answer unless `k` says otherwise.
pub(crate) const DEFAULT_K: usize = 20;
/// Largest `k` (the stored lists hold at most `recommend --k`, 100 by default).
pub(crate) const MAX_K: usize = 100;
/// Longest category name accepted, in bytes.
const MAX_CATEGORY_BYTES: usize = 200;

/// `GET /api/v1/me`: the seller the token speaks for.
#[derive(Debug, Serialize)]
pub(crate) struct Me {
    /// External seller id.
    pub seller: String,
    /// Display name, if known.
    pub name: Option<String>,
    /// The category the portal shows first.
    pub primary_category: String,
    /// The seller's listing categories and the categories with a stored list, primary first,
    /// then most recommendations.
    pub categories: Vec<CategorySummary>,
    /// Name of the last quarterly drop applied (e.g. `q2`).
    pub quarter: Option<String>,
    /// Unix seconds of the newest of the seller's stored lists.
    pub refreshed_at: Option<u64>,
}

/// `GET /healthz`: whether the database behind the portal is whole. The portal serves the
/// stored lists of the last good run either way; this tells an operator what needs repair.
/// Needs no token, so it names no file and no seller.
#[derive(Debug, Serialize)]
pub(crate) struct Health {
    /// `ok`, or `degraded` with `problems`.
    pub status: &'static str,
    /// The index generation the stored lists were computed with (`null`: none yet).
    pub index_generation: Option<u32>,
    /// Its files: `whole`, `unrecorded` (built before hashes were recorded), `damaged` or
    /// `none`.
    pub index: &'static str,
    /// What is wrong, one line each, with the command that repairs it.
    pub problems: Vec<String>,
}

/// One category of a seller.
#[derive(Debug, Serialize)]
pub(crate) struct CategorySummary {
    /// Category name (as in `?category=`).
    pub category: String,
    /// The seller's listings in it.
    pub listings: u32,
    /// Stored recommendations in it (0: no list, or an empty one).
    pub recommendations: usize,
}

/// `GET …/recommendations`: one category's list, best first, each with why.
#[derive(Debug, Serialize)]
pub(crate) struct Recommendations {
    /// External seller id.
    pub seller: String,
    /// Category of the list.
    pub category: String,
    /// The seller's primary category.
    pub primary_category: String,
    /// Name of the last quarterly drop applied.
    pub quarter: Option<String>,
    /// Unix seconds when the list was computed (`None`: no stored list for this category).
    pub computed_at: Option<u64>,
    /// Model that produced the list.
    pub model: String,
    /// At most this many recommendations are returned.
    pub k: usize,
    /// Decimals that tell the returned scores apart ([`inspect::score_decimals`]).
    pub score_decimals: usize,
    /// The list.
    pub recommendations: Vec<Item>,
}

/// Query parameters of the recommendations endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Params {
    /// `category` (default: the seller's primary category).
    pub category: Option<String>,
    /// `k`, 1 to [`MAX_K`].
    pub k: usize,
}

impl Params {
    /// Parses the decoded query pairs; unknown, repeated or invalid parameters are refused.
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<Params, ApiError> {
        let mut params = Params {
            category: None,
            k: DEFAULT_K,
        };
        let mut seen_k = false;
        for (name, value) in pairs {
            match name.as_str() {
                "category" if params.category.is_none() => {
                    if value.is_empty()
                        || value.len() > MAX_CATEGORY_BYTES
                        || value.chars().any(char::is_control)
                        // What invalid UTF-8 in the query decodes to.
                        || value.contains(char::REPLACEMENT_CHARACTER)
                    {
                        return Err(ApiError::bad_parameter(
                            "category",
                            format!("a category name of 1 to {MAX_CATEGORY_BYTES} bytes"),
                        ));
                    }
                    params.category = Some(value.clone());
                }
                "k" if !seen_k => {
                    seen_k = true;
                    params.k = value
                        .parse()
                        .ok()
                        .filter(|k| (1..=MAX_K).contains(k))
                        .ok_or_else(|| {
                            ApiError::bad_parameter("k", format!("an integer from 1 to {MAX_K}"))
                        })?;
                }
                "category" | "k" => {
                    return Err(ApiError::bad_parameter(
                        if name == "k" { "k" } else { "category" },
                        "given once".into(),
                    ));
                }
                _ => return Err(unknown_parameter(name, "`category` and `k`")),
            }
        }
        Ok(params)
    }
}

/// Refuses the query of an endpoint that takes no parameters.
pub(crate) fn no_params(pairs: &[(String, String)]) -> Result<(), ApiError> {
    match pairs.first() {
        Some((name, _)) => Err(unknown_parameter(name, "no parameters")),
        None => Ok(()),
    }
}

fn unknown_parameter(name: &str, takes: &str) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "unknown_parameter",
        message: format!("this endpoint takes {takes}"),
        // The name is the caller's own input; echo it only when short and plain.
        parameter: Some(if name.len() <= 40 && !name.chars().any(char::is_control) {
            name.to_string()
        } else {
            "?".into()
        }),
    }
}

/// The name of the last drop applied: the marketplace quarter the data is from.
fn quarter(store: &Store) -> Result<Option<String>, ApiError> {
    Ok(store
        .drops()?
        .into_iter()
        .rev()
        .find(|d| d.state == DropState::Applied)
        .map(|d| d.name))
}

/// `GET /healthz`: the active index generation's files (quick check) and the refresh stages
/// that failed.
pub(crate) fn health(store: &Store) -> Result<Health, ApiError> {
    let mut problems = Vec::new();
    let (index_generation, index) =
        match index_stage::active_health(store, Depth::Quick, &NoProgress) {
            Ok(None) => (None, "none"),
            Ok(Some((g, state))) => (
                Some(g),
                match state {
                    IndexHealth::Whole => "whole",
                    IndexHealth::Unrecorded => "unrecorded",
                    IndexHealth::Damaged(_) => {
                        problems.push(format!(
                            "index generation {g} is damaged: run `demandlink index` (or \
                             `refresh`) to rebuild it from the store"
                        ));
                        "damaged"
                    }
                },
            ),
            Err(e) => {
                tracing::error!("checking the index: {e}");
                problems.push("the index cannot be checked (see the server's log)".into());
                (store.active_index()?.map(|(g, _)| g), "damaged")
            }
        };
    for (stage, record) in store.refresh_jobs()? {
        if let JobState::Failed { .. } = record.state {
            problems.push(format!(
                "the last refresh failed in {}: the portal serves the lists of the last good \
                 run; see `demandlink jobs`",
                stage.name()
            ));
        }
    }
    Ok(Health {
        status: if problems.is_empty() {
            "ok"
        } else {
            "degraded"
        },
        index_generation,
        index,
        problems,
    })
}

/// Answers `GET /api/v1/me` for a seller (external id).
pub(crate) fn me(store: &Store, seller: &str) -> Result<Me, ApiError> {
    let id = store
        .lookup(Namespace::Seller, seller)?
        .ok_or_else(ApiError::not_found)?;
    let record = store.seller(id)?.unwrap_or_default();
    let profile = store.profile(id)?.unwrap_or_default();
    let lists = store.recommendations(id)?;
    let mut categories: Vec<CategorySummary> = profile
        .categories
        .iter()
        .map(|(category, listings)| CategorySummary {
            category: category.clone(),
            listings: *listings,
            recommendations: 0,
        })
        .collect();
    for (category, list) in &lists {
        match categories.iter_mut().find(|c| &c.category == category) {
            Some(c) => c.recommendations = list.items.len(),
            None => categories.push(CategorySummary {
                category: category.clone(),
                listings: 0,
                recommendations: list.items.len(),
            }),
        }
    }
    let primary = &profile.primary_category;
    categories.sort_by(|a, b| {
        (&b.category == primary)
            .cmp(&(&a.category == primary))
            .then(b.recommendations.cmp(&a.recommendations))
            .then(a.category.cmp(&b.category))
    });
    Ok(Me {
        seller: seller.to_string(),
        name: record.name,
        primary_category: profile.primary_category.clone(),
        categories,
        quarter: quarter(store)?,
        refreshed_at: lists.iter().map(|(_, l)| l.computed_at).max(),
    })
}

/// Answers a recommendations request for a seller (external id).
pub(crate) fn recommendations(
    store: &Store,
    seller: &str,
    params: &Params,
) -> Result<Recommendations, ApiError> {
    let i = inspect::inspect(
        store,
        seller,
        params.category.as_deref(),
        Some(params.k),
        None,
    )?;
    Ok(Recommendations {
        seller: i.seller,
        category: i.category,
        primary_category: i.primary_category,
        quarter: quarter(store)?,
        computed_at: i.computed_at,
        model: i.model,
        k: params.k,
        score_decimals: i.score_decimals,
        recommendations: i.recommendations,
    })
}

/// An error answer: `{"error": {"code", "message", "parameter"?}}` with its HTTP status. The
/// codes are a stable interface (see docs/operations.md).
#[derive(Debug)]
pub(crate) struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human explanation.
    pub message: String,
    /// The query parameter at fault, for 400s.
    pub parameter: Option<String>,
}

impl ApiError {
    /// A plain error without a parameter.
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            parameter: None,
        }
    }

    /// 400 naming the parameter and what it must be.
    pub(crate) fn bad_parameter(parameter: &'static str, must_be: String) -> ApiError {
        ApiError {
            parameter: Some(parameter.into()),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                format!("`{parameter}` must be {must_be}"),
            )
        }
    }

    /// 404, the same for "no such seller" and "not yours", so a seller token cannot learn
    /// which sellers exist.
    pub(crate) fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        // Logged in full here; the caller only learns that the server failed.
        tracing::error!("store: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to read its database",
        )
    }
}

impl From<RecommendError> for ApiError {
    fn from(e: RecommendError) -> ApiError {
        match e {
            RecommendError::UnknownSeller(_) => ApiError::not_found(),
            RecommendError::NoModel | RecommendError::NoIndex => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "no recommendations computed yet",
            ),
            RecommendError::Store(e) => e.into(),
            other => {
                tracing::error!("recommendations: {other}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server failed to read its recommendations",
                )
            }
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorFields<'a>,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorFields {
                code: self.code,
                message: &self.message,
                parameter: self.parameter.as_deref(),
            },
        };
        let mut response = json_response(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"demandlink\""),
            );
        }
        response
    }
}

/// A JSON response with this status.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            tracing::error!("serialising an answer: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn parameters_are_checked_and_named() {
        assert_eq!(
            Params::parse(&pairs(&[("category", "Toys"), ("k", "5")])).unwrap(),
            Params {
                category: Some("Toys".into()),
                k: 5
            }
        );
        assert_eq!(Params::parse(&[]).unwrap().k, DEFAULT_K);
        for (bad, parameter) in [
            (vec![("k", "0")], "k"),
            (vec![("k", "101")], "k"),
            (vec![("k", "x")], "k"),
            (vec![("k", "1"), ("k", "2")], "k"),
            (vec![("category", "")], "category"),
            (vec![("category", "a\u{7}")], "category"),
            (vec![("seller", "s1")], "seller"),
        ] {
            let e = Params::parse(&pairs(&bad)).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(e.parameter.as_deref(), Some(parameter), "{bad:?}");
        }
    }
}
