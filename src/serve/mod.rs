//! `serve`: the seller portal — an HTTP server over the database, read as a RocksDB secondary
//! instance so it keeps serving while a refresh writes, and sees the refresh without a restart.
//!
//! Routes: `GET /` (the page, [`page`]), `GET /healthz` (no token: whether the index behind
//! the lists is whole and the last refresh succeeded), `GET /api/v1/me`, `GET /api/v1/me/recommendations`,
//! `GET /api/v1/sellers/{id}/recommendations` (operator tokens; a seller token gets its own
//! list for its own id and `404` for any other). Every API request carries
//! `Authorization: Bearer <token>` ([`auth`]); answers and errors are JSON ([`api`]).
//!
//! Freshness: the server catches up with the writer when the tokens stamp changed since its
//! last catch-up — so a token issued or revoked before a request arrived is seen by that
//! request — and otherwise at most every [`MAX_STALENESS`], so a refresh's new lists appear
//! within that time. (Catching up on every request cost a third of the throughput.)

pub(crate) mod api;
pub mod auth;
mod page;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::store::{OpenMode, Store, StoreError, TokenSubject};
use api::{ApiError, Params};
use auth::Refusal;

/// How old the view of recommendations may get before a request catches up.
pub(crate) const MAX_STALENESS: Duration = Duration::from_millis(100);

/// Longest request target (path and query) accepted, in bytes.
const MAX_URI_BYTES: usize = 2048;
/// Largest total size of the request headers accepted, in bytes.
const MAX_HEADER_BYTES: usize = 8192;

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The runtime or the listener failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves the database in `db` on `addr` until Ctrl-C or SIGTERM; `ready` is called with the
/// bound address (useful with port 0) once requests are accepted.
pub fn run(db: &Path, addr: SocketAddr, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let store = Store::open(db, OpenMode::Secondary)?;
    let portal = Arc::new(Portal {
        store,
        caught_up: Mutex::new(CaughtUp::default()),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Requests block on RocksDB for well under a millisecond: a few threads keep both
        // cores busy without piling up threads under load.
        .max_blocking_threads(8)
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        ready(listener.local_addr()?);
        axum::serve(listener, router(portal))
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        Ok(())
    })
}

/// The shared state: the store and what its view has caught up with.
struct Portal {
    store: Store,
    caught_up: Mutex<CaughtUp>,
}

/// The last catch-up: when it started and the tokens stamp read before it.
#[derive(Default)]
struct CaughtUp {
    started: Option<Instant>,
    stamp: Option<String>,
}

impl Portal {
    /// Makes the view include every token write done before this call, and recommendations
    /// at most [`MAX_STALENESS`] old.
    fn fresh(&self) -> Result<(), StoreError> {
        let stamp = self.store.tokens_stamp()?;
        let mut last = self.caught_up.lock().unwrap_or_else(|e| e.into_inner());
        let recent = last
            .started
            .is_some_and(|started| started.elapsed() < MAX_STALENESS);
        if recent && last.stamp == stamp {
            return Ok(());
        }
        let started = Instant::now();
        self.store.catch_up()?;
        *last = CaughtUp {
            started: Some(started),
            stamp,
        };
        Ok(())
    }

    /// Runs `answer` on a blocking thread after the freshness and token checks, as JSON.
    async fn answer<T: Serialize + Send + 'static>(
        self: Arc<Self>,
        headers: HeaderMap,
        answer: impl FnOnce(&Store, TokenSubject) -> Result<T, ApiError> + Send + 'static,
    ) -> Response {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        let work = tokio::task::spawn_blocking(move || {
            self.fresh()?;
            let subject =
                auth::authenticate(&self.store, authorization.as_deref())?.map_err(unauthorized)?;
            answer(&self.store, subject)
        });
        match work.await {
            Ok(Ok(value)) => api::json_response(StatusCode::OK, &value),
            Ok(Err(e)) => e.into_response(),
            Err(e) => {
                tracing::error!("request task failed: {e}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "request failed",
                )
                .into_response()
            }
        }
    }
}

fn unauthorized(refusal: Refusal) -> ApiError {
    let (code, message) = match refusal {
        Refusal::Missing => ("missing_token", "send `Authorization: Bearer <token>`"),
        Refusal::Invalid => ("invalid_token", "the token is not valid"),
        Refusal::Revoked => ("token_revoked", "the token was revoked; ask for a new one"),
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// The seller a `/me` request is about: the token's own.
fn own_seller(subject: TokenSubject) -> Result<String, ApiError> {
    match subject {
        TokenSubject::Seller(seller) => Ok(seller),
        TokenSubject::Operator => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "operator_token",
            "an operator token has no seller of its own: use /api/v1/sellers/{id}/recommendations",
        )),
    }
}

fn query_pairs(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|_| ApiError::bad_parameter("query", "a URL-encoded `name=value&…` string".into()))
}

/// `GET /healthz` needs no token: probes and operators read it without one.
async fn healthz(State(portal): State<Arc<Portal>>) -> Response {
    let work = tokio::task::spawn_blocking(move || {
        portal.fresh()?;
        api::health(&portal.store)
    });
    match work.await {
        Ok(Ok(health)) => api::json_response(StatusCode::OK, &health),
        Ok(Err(e)) => e.into_response(),
        Err(e) => {
            tracing::error!("health task failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn me(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    portal
        .answer(headers, move |store, subject| {
            let seller = own_seller(subject)?;
            api::no_params(&query_pairs(query)?)?;
            api::me(store, &seller)
        })
        .await
}

async fn my_recommendations(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    portal
        .answer(headers, move |store, subject| {
            let seller = own_seller(subject)?;
            let params = Params::parse(&query_pairs(query)?)?;
            api::recommendations(store, &seller, &params)
        })
        .await
}

async fn seller_recommendations(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    seller: Result<UrlPath<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    portal
        .answer(headers, move |store, subject| {
            let UrlPath(seller) = seller.map_err(|_| ApiError::not_found())?;
            // Whose list it is decides before anything else is looked at, so a seller token
            // learns nothing about other sellers, not even whether they exist.
            match subject {
                TokenSubject::Operator => {}
                TokenSubject::Seller(own) if own == seller => {}
                TokenSubject::Seller(_) => return Err(ApiError::not_found()),
            }
            let params = Params::parse(&query_pairs(query)?)?;
            api::recommendations(store, &seller, &params)
        })
        .await
}

async fn not_found() -> Response {
    ApiError::not_found().into_response()
}

/// Refuses what no route takes before routing (other methods, over-long targets or headers,
/// any body), adds the headers every answer carries, and logs each request — its method and
/// path only: the query and the headers (where the token is) are never logged.
async fn guard(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let refused = if method != Method::GET && method != Method::HEAD {
        Some(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "only GET is served",
        ))
    } else if request.uri().to_string().len() > MAX_URI_BYTES {
        Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is over {MAX_URI_BYTES} bytes"),
        ))
    } else if request
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum::<usize>()
        > MAX_HEADER_BYTES
    {
        Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request headers are over {MAX_HEADER_BYTES} bytes"),
        ))
    } else if request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
    {
        Some(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_not_allowed",
            "requests take no body",
        ))
    } else {
        None
    };
    let mut response = match refused {
        Some(e) => {
            let mut r = e.into_response();
            // The unread body (or the rest of an over-long request) makes the connection
            // unusable for another request.
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    tracing::info!(
        "{method} {path} {} {} µs",
        response.status().as_u16(),
        started.elapsed().as_micros()
    );
    response
}

fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(page::page))
        .route("/healthz", get(healthz))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/recommendations", get(my_recommendations))
        .route(
            "/api/v1/sellers/{seller}/recommendations",
            get(seller_recommendations),
        )
        .fallback(not_found)
        .with_state(portal)
        .layer(middleware::from_fn(guard))
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
