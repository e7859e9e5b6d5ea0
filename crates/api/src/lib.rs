//! The Stripe-compatible `/v1` API.
//!
//! A request goes through one pipeline ([`pipeline`]): route to a typed [`routes::Call`],
//! read the body within the size limit, decode the form ([`form`]), authenticate the
//! key and check what it may do ([`auth`]), claim the idempotency key, execute the
//! resource operation in one store transaction with its events, expand, answer. The
//! resources live in [`resources`], one module per Stripe resource.
//!
//! This crate never names a card-number type: card fields go to the vault through
//! `tessera_core::ports::CardVault` as zeroizing strings.
#![forbid(unsafe_code)]
// Stripe objects are large JSON literals.
#![recursion_limit = "256"]

pub mod accounts;
mod app;
mod auth;
pub mod browser;
pub mod card_testing;
mod events;
mod expand;
pub mod form;
mod idempotency;
pub mod jobs;
mod list;
mod pipeline;
pub mod rate_limit;
mod resources;
mod risk;
mod routes;
mod security_headers;
mod three_d_secure;

pub use app::{App, AppConfig, webhook_secret_key};
pub use pipeline::Connection;
pub use security_headers::apply as with_security_headers;
pub use tessera_store::Scope;

/// For tests: a store in a fresh temporary directory, which lives as long as the
/// returned guard.
#[cfg(test)]
pub(crate) fn scratch_store() -> (tempfile::TempDir, tessera_store::Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = tessera_store::Store::open(&dir.path().join("t.db")).unwrap();
    (dir, store)
}

use std::sync::Arc;

use axum::Router;

/// The HTTP routes of the merchant API and the pages it serves (3-D Secure challenge),
/// with Tessera's security headers. `tls` says whether the listener serving them speaks
/// TLS (HSTS is sent only then).
pub fn router(app: Arc<App>, tls: bool) -> Router {
    let routes = Router::new()
        .route(
            "/3d_secure/result",
            axum::routing::get(three_d_secure::result),
        )
        .route(
            "/3d_secure/{payment_intent}/{token}",
            axum::routing::get(three_d_secure::show).post(three_d_secure::submit),
        )
        .fallback(pipeline::handle)
        .with_state(app);
    security_headers::apply(routes, tls)
}
