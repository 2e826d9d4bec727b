//! `GET /`: the seller portal page — static HTML with a little JavaScript that calls the API
//! with the seller's token. No build step: the file is compiled into the binary.

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

/// The page: `page.html` beside this file.
const PAGE: &str = include_str!("page.html");

/// Serves the page. Its script and style are inline and it fetches only this server, which
/// the content security policy states, so injected markup could neither load nor send anything.
pub(super) async fn page() -> Response {
    let mut response = Html(PAGE).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}
