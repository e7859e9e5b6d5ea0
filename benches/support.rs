//! Fixtures shared by Tessera's microbenchmarks and the server's in-process tests: a
//! complete in-process gateway on a fresh data directory, with the same store, vault
//! and simulator `tessera serve` uses.
#![forbid(unsafe_code)]

use std::sync::Arc;

use tessera_api::{App, AppConfig};
use tessera_core::ports::Processor;
use tessera_crypto::MasterKey;
use tessera_processor::Simulator;
use tessera_store::Store;
use tessera_vault::Vault;

/// A gateway living in a temporary directory.
pub struct Gateway {
    /// The API, called in-process.
    pub app: App,
    /// `Bearer sk_test_…`
    pub authorization: String,
    _dir: tempfile::TempDir,
}

/// A fixed master key, so runs are comparable.
pub fn master_key() -> MasterKey {
    MasterKey::parse(&"42".repeat(32)).expect("a valid 32-byte key")
}

/// Opens a vault in `dir` with the simulator as connector.
pub fn vault(dir: &std::path::Path) -> Vault {
    Vault::open(
        &dir.join("vault.db"),
        &master_key(),
        Arc::new(Simulator::default()),
    )
    .expect("vault opens")
}

/// Starts a fresh gateway with one test account.
pub fn gateway() -> Gateway {
    gateway_with(Arc::new(Simulator::default()))
}

/// Starts a fresh gateway with one test account whose captures, refunds and voids go to
/// `processor` (authorizations go to the simulator, through the vault).
pub fn gateway_with(processor: Arc<dyn Processor>) -> Gateway {
    let dir = tempfile::tempdir().expect("temp dir");
    let master = master_key();
    let store = Arc::new(Store::open(&dir.path().join("tessera.db")).expect("store opens"));
    let account = tessera_api::accounts::create_account(&store, &master).expect("account");
    let app = App::new(
        store,
        Arc::new(vault(dir.path())),
        processor,
        &master,
        AppConfig {
            max_body_bytes: 256 * 1024,
            public_url: "http://127.0.0.1:4242".into(),
            body_read_timeout: std::time::Duration::from_secs(30),
            rate_limits: tessera_api::rate_limit::RateLimits::default(),
            card_testing: tessera_api::card_testing::CardTestingPolicy::default(),
            browser_url: None,
            any_merchant_origin_in_test: false,
        },
        tessera_risk::Engine::bundled(),
    );
    Gateway {
        app,
        authorization: format!("Bearer {}", account.secret_key.as_str()),
        _dir: dir,
    }
}

impl Gateway {
    /// A POST through the full pipeline; panics unless it answers 200.
    pub fn post(&self, path: &str, body: &str) -> String {
        let (status, response) = self.request("POST", path, body);
        assert_eq!(status, 200, "{path}: {response}");
        response
    }

    /// A request through the full pipeline with the account's secret key: its status
    /// and JSON body.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.app.call(
            method,
            path,
            Some(&self.authorization),
            None,
            body.as_bytes(),
        )
    }
}

/// The `"id"` of a JSON object response.
pub fn id_of(json: &str) -> String {
    let start = json.find("\"id\":\"").expect("an id") + 6;
    json[start..start + json[start..].find('"').expect("closing quote")].to_owned()
}
