//! What every request needs: the store, the vault, the processor and the API's keys.

use std::sync::Arc;

use tessera_core::ports::{CardVault, Processor};
use tessera_crypto::{MasterKey, SubKey};
use tessera_store::Store;

/// Settings of the API listener.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The address browsers reach this API at (`http://127.0.0.1:4242`), for the
    /// 3-D Secure links Tessera hands out.
    pub public_url: String,
    /// How long a client may take to send a request body.
    pub body_read_timeout: std::time::Duration,
    /// Request rate limits.
    pub rate_limits: crate::rate_limit::RateLimits,
    /// Card-testing defence thresholds.
    pub card_testing: crate::card_testing::CardTestingPolicy,
    /// The browser origin (the vault origin: tessera.js, card fields, hosted pages),
    /// when it is served; 3-D Secure links then point there.
    pub browser_url: Option<String>,
    /// Test mode on loopback: any merchant origin may frame Tessera's pages when the
    /// account registered none.
    pub any_merchant_origin_in_test: bool,
}

impl AppConfig {
    /// Where a shopper's browser goes for Tessera's pages (challenge, hosted checkout):
    /// the vault origin when it is served, else the API's address; no trailing slash.
    pub fn browser_base(&self) -> &str {
        self.browser_url
            .as_deref()
            .unwrap_or(&self.public_url)
            .trim_end_matches('/')
    }
}

/// Shared state of the API.
pub struct App {
    pub(crate) store: Arc<Store>,
    pub(crate) vault: Arc<dyn CardVault>,
    pub(crate) processor: Arc<dyn Processor>,
    pub(crate) key_hash_key: SubKey,
    pub(crate) request_hash_key: SubKey,
    pub(crate) webhook_secret_key: SubKey,
    pub(crate) config: AppConfig,
    pub(crate) limiter: crate::rate_limit::Limiter,
    pub(crate) card_testing: crate::card_testing::CardTestingGuard,
    pub(crate) risk: tessera_risk::Engine,
    /// Idempotency keys whose requests are executing in this process.
    pub(crate) idempotency_in_flight: crate::idempotency::InFlight,
}

impl App {
    /// Builds the API state. API keys are looked up by a hash keyed from the master key.
    /// The risk engine starts without history: a gateway that serves payments calls
    /// [`App::restore_risk_history`] before it does.
    pub fn new(
        store: Arc<Store>,
        vault: Arc<dyn CardVault>,
        processor: Arc<dyn Processor>,
        master: &MasterKey,
        config: AppConfig,
        risk: tessera_risk::Engine,
    ) -> App {
        let card_testing = config.card_testing;
        App {
            store,
            vault,
            processor,
            key_hash_key: api_key_hash_key(master),
            request_hash_key: master.derive("api/idempotency-request-hash"),
            webhook_secret_key: webhook_secret_key(master),
            config,
            limiter: crate::rate_limit::Limiter::new(),
            card_testing: crate::card_testing::CardTestingGuard::new(card_testing),
            risk,
            idempotency_in_flight: Default::default(),
        }
    }

    /// Rebuilds the risk engine's velocity counters from the past week's attempts.
    pub fn restore_risk_history(&self) -> Result<(), String> {
        crate::risk::restore_history(&self.store, &self.risk)
    }
}

/// The key webhook signing secrets are stored encrypted under; shared with the worker
/// that signs deliveries.
pub fn webhook_secret_key(master: &MasterKey) -> SubKey {
    master.derive("webhooks/secret-encryption")
}

/// The key API keys are hashed under; shared with the CLI that creates keys.
pub(crate) fn api_key_hash_key(master: &MasterKey) -> SubKey {
    master.derive("api/api-key-hash")
}
