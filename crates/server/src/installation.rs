//! An installation of Tessera on disk: its data directory, master key, store and
//! vault, and the commands that run or manage it.

use std::fs;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use tessera_api::accounts::{self, NewAccount};
use tessera_api::{App, AppConfig};
use tessera_crypto::MasterKey;
use tessera_crypto::api_key::KeyKind;
use tessera_processor::Simulator;
use tessera_store::Store;
use tessera_vault::Vault;

use crate::config::{CertificateSource, Config, Mode};
use crate::scheduling;
use crate::transport::certificates::{self, CertificateStore};
use crate::transport::listener::{self, Limits};
use crate::transport::{self, acme, redirect};

struct Installation {
    master: MasterKey,
    store: Arc<Store>,
}

impl Installation {
    /// The account named, or the only one when none is named.
    fn account_or_only(&self, account: Option<&str>) -> Result<String, String> {
        if let Some(a) = account {
            return Ok(a.to_owned());
        }
        let ids = self
            .store
            .read(|tx| tx.account_ids())
            .map_err(|e| e.to_string())?;
        match ids.as_slice() {
            [only] => Ok(only.clone()),
            [] => {
                Err("no account yet: run `tessera serve` once, or `tessera accounts create`".into())
            }
            _ => Err(format!(
                "several accounts exist; choose one with --account ({})",
                ids.join(", ")
            )),
        }
    }
}

fn open(config: &Config) -> Result<Installation, String> {
    let dir = &config.data_dir;
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
    }
    let master = match std::env::var("TESSERA_MASTER_KEY") {
        Ok(text) => MasterKey::parse(&text).map_err(|e| e.to_string())?,
        Err(_) => MasterKey::load_or_create(&config.master_key_file).map_err(|e| e.to_string())?,
    };
    let store = Store::open(&dir.join("tessera.db")).map_err(|e| e.to_string())?;
    Ok(Installation {
        master,
        store: Arc::new(store),
    })
}

fn open_vault(config: &Config, master: &MasterKey) -> Result<Vault, String> {
    let dir = config.data_dir.join("vault");
    if !dir.exists() {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create vault directory {}: {e}", dir.display()))?;
    }
    Vault::open(
        &dir.join("vault.db"),
        master,
        Arc::new(Simulator::with_latency(config.simulator_latency)),
    )
    .map_err(|e| e.to_string())
}

fn print_account(account: &NewAccount) {
    println!("Tessera created test-mode account {}", account.id);
    println!("  secret key:      {}", account.secret_key.as_str());
    println!("  publishable key: {}", account.publishable_key.as_str());
}

fn write_ready_file(
    path: &Path,
    api: &str,
    vault: &str,
    http: Option<&str>,
    ca: Option<&Path>,
) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let mut body = serde_json::json!({ "api": api, "vault": vault, "pid": std::process::id() });
    if let Some(http) = http {
        body["http"] = serde_json::json!(http);
    }
    if let Some(ca) = ca {
        body["ca"] = serde_json::json!(ca.display().to_string());
    }
    let body = body.to_string();
    fs::write(&tmp, body)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write ready file {}: {e}", path.display()))
}

/// `tessera serve`
pub fn serve(config: &Config, ready_file: Option<&Path>) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file or journal gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // Before the store, the vault and the runtime start their threads: they inherit it.
    match scheduling::apply(config.thread_scheduling) {
        Ok(()) => {
            tracing::info!(thread_scheduling = %config.thread_scheduling, "threads scheduled")
        }
        Err(e) => tracing::warn!("{e}; the threads keep the kernel's default scheduling"),
    }
    let Installation { master, store } = open(config)?;
    // One gateway per data directory, for as long as it runs: a second one is refused
    // before it opens the vault or a port.
    store.serve_alone().map_err(|e| e.to_string())?;
    let vault = open_vault(config, &master)?;
    let first_start = store
        .read(|tx| tx.account_count())
        .map_err(|e| e.to_string())?
        == 0;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let limits = Limits { max_connections: config.max_connections, header_read_timeout: config.header_read_timeout };
        let challenges: acme::Challenges = Default::default();
        let (stop_redirects, stopped) = tokio::sync::watch::channel(false);

        // The plain-HTTP listener comes first: ACME validation reaches it.
        let mut http_url = None;
        if let Some(http_addr) = config.http_listen {
            let http_listener = tokio::net::TcpListener::bind(http_addr)
                .await
                .map_err(|e| format!("cannot listen on {http_addr}: {e}"))?;
            http_url = Some(format!("http://{}", http_listener.local_addr().map_err(|e| e.to_string())?));
            let public_host = config.public_url.as_deref().and_then(public_host);
            let router = redirect::router(challenges.clone(), addr.port(), public_host);
            let mut stopped = stopped.clone();
            tokio::spawn(listener::serve(http_listener, None, router, limits, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }));
        }

        let certificates = Arc::new(CertificateStore::default());
        let mut ca_file = None;
        match &config.tls {
            None => {}
            Some(CertificateSource::Files { cert_file, key_file }) => {
                certificates.set(certificates::load_pem(cert_file, key_file)?);
                certificates::watch_files(certificates.clone(), cert_file.clone(), key_file.clone());
            }
            Some(CertificateSource::SelfSigned) => {
                let local = certificates::local_ca(&config.data_dir)?;
                certificates.set(certificates::load_pem(&local.cert_file, &local.key_file)?);
                ca_file = Some(local.ca_file);
            }
            Some(CertificateSource::Acme(settings)) => {
                tracing::info!(domains = %settings.domains.join(","), directory = %settings.directory, "obtaining a certificate with ACME");
                acme::ensure(settings, &config.data_dir, &challenges, &certificates).await?;
                acme::renew_in_background(settings.clone(), config.data_dir.clone(), challenges.clone(), certificates.clone());
            }
        }
        let tls = config.tls.is_some();
        let acceptor = match tls {
            true => Some(tokio_rustls::TlsAcceptor::from(transport::server_config(certificates.clone())?)),
            false => None,
        };
        let api_url = format!("{}://{addr}", if tls { "https" } else { "http" });
        // The vault origin: tessera.js, the card-fields frame and the challenge, on an
        // origin of their own.
        let vault_listener = tokio::net::TcpListener::bind(config.vault_listen)
            .await
            .map_err(|e| format!("cannot listen on {} (vault origin): {e}", config.vault_listen))?;
        let vault_addr = vault_listener.local_addr().map_err(|e| e.to_string())?;
        let vault_url = config
            .vault_public_url
            .clone()
            .unwrap_or_else(|| format!("{}://{vault_addr}", if tls { "https" } else { "http" }));
        if first_start {
            let account = accounts::create_account(&store, &master).map_err(|e| e.to_string())?;
            print_account(&account);
            println!();
            println!("These keys are shown once. Try them with the official Stripe SDK:");
            println!();
            println!("    import stripe");
            println!("    client = stripe.StripeClient(\"{}\", base_addresses={{\"api\": \"{api_url}\"}})", account.secret_key.as_str());
            println!("    pi = client.v1.payment_intents.create(params={{\"amount\": 1000, \"currency\": \"usd\", \"payment_method\": \"pm_card_visa\", \"confirm\": True}})");
            println!("    print(pi.status)  # succeeded");
            println!();
        }
        let vault = Arc::new(vault);
        let app = Arc::new(App::new(
            store.clone(),
            vault.clone(),
            Arc::new(Simulator::with_latency(config.simulator_latency)),
            &master,
            AppConfig {
                max_body_bytes: config.max_body_bytes,
                public_url: config.public_url.clone().unwrap_or_else(|| api_url.clone()),
                body_read_timeout: config.header_read_timeout * 3,
                rate_limits: config.rate_limits,
                card_testing: config.card_testing,
                browser_url: Some(vault_url.clone()),
                any_merchant_origin_in_test: config.mode == Mode::Test && vault_addr.ip().is_loopback(),
            },
            risk_engine(config)?,
        ));
        app.restore_risk_history()?;
        match tessera_api::jobs::carry_on_left_calls_at_once(&app) {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                calls = n,
                "carrying on processor calls (captures, releases, refunds) whose requests stopped before recording the answer"
            ),
            Err(e) => return Err(format!("cannot bring forward the jobs that carry on stopped processor calls: {e}")),
        }
        {
            let mut stopped = stopped.clone();
            let router = tessera_elements::router(app.clone(), tls);
            tokio::spawn(listener::serve(vault_listener, acceptor.clone(), router, limits, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }));
        }
        let workers = spawn_workers(app.clone(), vault.clone(), config.cvc_ttl_seconds);
        let deliveries = Arc::new(tessera_webhooks::Worker::new(
            store.clone(),
            tessera_api::webhook_secret_key(&master),
            tessera_webhooks::WorkerConfig {
                policy: tessera_webhooks::ssrf::AddressPolicy { allow_loopback: config.mode == Mode::Test },
                require_https: config.mode == Mode::Live,
                retry_base: config.webhooks.retry_base,
                retry_max: config.webhooks.retry_max,
                give_up_after: config.webhooks.give_up_after,
                disable_after: config.webhooks.disable_after,
                connect_timeout: std::time::Duration::from_secs(5).min(config.webhooks.timeout),
                timeout: config.webhooks.timeout,
                concurrency: 16,
            },
        ))
        .spawn();
        let mode = match config.mode {
            Mode::Test => "test mode",
            Mode::Live => "live mode",
        };
        if tls {
            println!("Tessera {mode}: API listening on {api_url} (TLS 1.2/1.3)");
        } else {
            println!("Tessera {mode}: plain HTTP on loopback only. API listening on {api_url}");
        }
        println!("Vault origin (tessera.js, card fields): {vault_url}/v1/tessera.js (SRI hashes: {vault_url}/assets.json)");
        if let Some(ca) = &ca_file {
            println!("Local test CA: {}", ca.display());
            println!("  trust it: Python stripe.ca_bundle_path = \"{0}\"; Node NODE_EXTRA_CA_CERTS={0}; curl --cacert {0}", ca.display());
        }
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, tls, data_dir = %config.data_dir.display(), "tessera serving ({mode})");
        if let Some(path) = ready_file {
            write_ready_file(path, &api_url, &vault_url, http_url.as_deref(), ca_file.as_deref())?;
        }
        listener::serve(listener, acceptor, tessera_api::router(app, tls), limits, shutdown_signal()).await;
        let _ = stop_redirects.send(true);
        workers.abort();
        deliveries.abort();
        // No checkout continues past a clean stop: erase every CVC still held.
        match tokio::task::spawn_blocking(move || vault.erase_unused_cvcs(0)).await {
            Ok(Ok(n)) => tracing::info!(erased = n, "erased unused CVCs at shutdown"),
            Ok(Err(e)) => tracing::error!("could not erase unused CVCs at shutdown: {e}"),
            Err(e) => tracing::error!("CVC erasure panicked: {e}"),
        }
        Ok::<(), String>(())
    })?;
    tracing::info!("tessera stopped");
    Ok(())
}

/// The host name of a configured public URL (`https://pay.example.com:8443/x` → `pay.example.com`).
fn public_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    (!host.is_empty()).then(|| host.to_owned())
}

/// Background work: scheduled jobs (every 250 ms) and the expiry of CVCs that no
/// payment used (every minute, and once at start for what a crash left behind); and,
/// beside them so that a long backlog never holds the jobs up, the records kept only
/// for a while: idempotency keys older than a day and risk attempts older than the
/// longest dry run (every minute, and once at start).
fn spawn_workers(
    app: Arc<App>,
    vault: Arc<Vault>,
    cvc_ttl_seconds: i64,
) -> tokio::task::JoinHandle<()> {
    let retention_app = app.clone();
    let retention = async move {
        let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            let app = retention_app.clone();
            let expired = tokio::task::spawn_blocking(move || {
                (
                    tessera_api::jobs::expire_idempotency_keys(&app),
                    tessera_api::jobs::prune_risk_attempts(&app),
                )
            });
            let Ok((keys, attempts)) = expired.await else {
                continue;
            };
            match keys {
                Ok(n) if n > 0 => {
                    tracing::info!(expired = n, "expired idempotency keys older than a day")
                }
                Err(e) => tracing::error!("idempotency key expiry failed: {e}"),
                _ => {}
            }
            match attempts {
                Ok(n) if n > 0 => {
                    tracing::info!(
                        pruned = n,
                        "pruned risk attempts older than the longest rule dry run"
                    )
                }
                Err(e) => tracing::error!("risk attempt pruning failed: {e}"),
                _ => {}
            }
        }
    };
    let jobs_and_cvcs = async move {
        let mut jobs = tokio::time::interval(std::time::Duration::from_millis(250));
        let mut cvcs = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = jobs.tick() => {
                    let app = app.clone();
                    let _ = tokio::task::spawn_blocking(move || tessera_api::jobs::run_due_jobs(&app)).await;
                }
                _ = cvcs.tick() => {
                    let vault = vault.clone();
                    match tokio::task::spawn_blocking(move || vault.erase_unused_cvcs(cvc_ttl_seconds)).await {
                        Ok(Ok(n)) if n > 0 => tracing::info!(erased = n, "erased expired unused CVCs"),
                        Ok(Err(e)) => tracing::error!("CVC expiry failed: {e}"),
                        _ => {}
                    }
                }
            }
        }
    };
    // One task polls both loops: stopping it stops both.
    tokio::spawn(async move {
        tokio::join!(retention, jobs_and_cvcs);
    })
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

/// `tessera accounts create`
pub fn create_account(config: &Config) -> Result<(), String> {
    let inst = open(config)?;
    let account = accounts::create_account(&inst.store, &inst.master).map_err(|e| e.to_string())?;
    print_account(&account);
    Ok(())
}

/// `tessera accounts configure`
pub fn configure_account(
    config: &Config,
    account: &str,
    block_cvc_failures: Option<bool>,
    merchant_origins: Option<&[String]>,
) -> Result<(), String> {
    let merchant_origins = match merchant_origins {
        Some(list) if list.len() > tessera_api::browser::MAX_MERCHANT_ORIGINS => {
            return Err(format!(
                "at most {} merchant origins",
                tessera_api::browser::MAX_MERCHANT_ORIGINS
            ));
        }
        Some(list) => Some(
            list.iter()
                .map(|o| tessera_api::browser::parse_merchant_origin(o))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let inst = open(config)?;
    let settings = inst
        .store
        .write(|tx| {
            let mut settings = tx.account_settings(account)?;
            if let Some(block) = block_cvc_failures {
                settings["block_cvc_failures"] = serde_json::json!(block);
            }
            if let Some(origins) = &merchant_origins {
                settings["merchant_origins"] = serde_json::json!(origins);
            }
            Ok::<_, tessera_store::StoreError>(
                tx.set_account_settings(account, &settings)?
                    .then_some(settings),
            )
        })
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no account {account} in this data directory"))?;
    println!("{settings}");
    Ok(())
}

/// Runs one API call as the operator on an account (`tessera rules …`) and prints the
/// answer; an error answer is an error naming what was wrong.
pub fn operator_call(
    config: &Config,
    account: Option<&str>,
    live: bool,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(), String> {
    let inst = open(config)?;
    let account = inst.account_or_only(account)?;
    if !inst
        .store
        .read(|tx| tx.account_exists(&account))
        .map_err(|e| e.to_string())?
    {
        return Err(format!("no account {account} in this data directory"));
    }
    let vault = open_vault(config, &inst.master)?;
    let app = App::new(
        inst.store.clone(),
        Arc::new(vault),
        Arc::new(Simulator::with_latency(config.simulator_latency)),
        &inst.master,
        AppConfig {
            max_body_bytes: config.max_body_bytes,
            public_url: config.public_url.clone().unwrap_or_default(),
            body_read_timeout: config.header_read_timeout,
            rate_limits: config.rate_limits,
            card_testing: config.card_testing,
            browser_url: None,
            any_merchant_origin_in_test: false,
        },
        risk_engine(config)?,
    );
    let (status, answer) = app.call_as_operator(&account, live, method, path, body.as_bytes());
    let json: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
    if status >= 400 {
        return Err(json["error"]["message"]
            .as_str()
            .unwrap_or(&answer)
            .to_owned());
    }
    println!("{}", serde_json::to_string_pretty(&json).unwrap_or(answer));
    Ok(())
}

/// The risk engine: the bundled model and reference data, or the files `[risk]` names.
pub fn risk_engine(config: &Config) -> Result<tessera_risk::Engine, String> {
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
    };
    let model = match &config.risk.model {
        Some(path) => tessera_risk::Model::from_json(&read(path, "risk model")?)
            .map_err(|e| format!("risk model {}: {e}", path.display()))?,
        None => tessera_risk::Model::bundled(),
    };
    let ip_countries = match &config.risk.ip_country_database {
        Some(path) => tessera_risk::IpCountries::parse(&read(path, "IP-to-country database")?)
            .map_err(|e| format!("IP-to-country database {}: {e}", path.display()))?,
        None => tessera_risk::IpCountries::bundled_test(),
    };
    let mut disposable = tessera_risk::DisposableDomains::bundled();
    if let Some(path) = &config.risk.disposable_email_domains {
        disposable.extend(&read(path, "disposable email domain list")?);
    }
    tracing::info!(
        model = model.version(),
        ip_ranges = ip_countries.len(),
        disposable_domains = disposable.len(),
        "risk engine ready"
    );
    Ok(tessera_risk::Engine::new(model, ip_countries, disposable))
}

/// `tessera keys create`
pub fn create_key(
    config: &Config,
    kind: KeyKind,
    livemode: bool,
    account: Option<&str>,
    permissions: &[String],
) -> Result<(), String> {
    let inst = open(config)?;
    let account = inst.account_or_only(account)?;
    if kind != KeyKind::Restricted && !permissions.is_empty() {
        return Err("--permission applies to restricted keys only".into());
    }
    let permissions = match kind {
        KeyKind::Restricted => {
            Some(accounts::parse_permissions(permissions).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let key = accounts::create_key(
        &inst.store,
        &inst.master,
        &account,
        kind,
        livemode,
        permissions.as_deref(),
    )
    .map_err(|e| e.to_string())?;
    println!("{}", key.as_str());
    Ok(())
}

/// `tessera keys revoke`
pub fn revoke_key(config: &Config, key: &str) -> Result<(), String> {
    let inst = open(config)?;
    if accounts::revoke_key(&inst.store, &inst.master, key.trim()).map_err(|e| e.to_string())? {
        println!("revoked");
        Ok(())
    } else {
        Err("no such key (or it is already revoked)".into())
    }
}

/// `tessera vault rotate-key`
pub fn rotate_vault_key(config: &Config) -> Result<(), String> {
    let inst = open(config)?;
    let id = open_vault(config, &inst.master)?.rotate_data_key()?;
    println!(
        "new data key {id} encrypts new cards; run `tessera vault reencrypt` to move existing ones"
    );
    Ok(())
}

/// `tessera vault reencrypt`
pub fn reencrypt_vault(config: &Config) -> Result<(), String> {
    let inst = open(config)?;
    let moved = open_vault(config, &inst.master)?.reencrypt()?;
    println!("re-encrypted {moved} card(s) under the active data key");
    Ok(())
}
