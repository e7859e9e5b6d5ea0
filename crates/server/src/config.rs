//! Configuration: defaults, then a TOML file, then `TESSERA_*` environment variables,
//! then command-line flags; validated once at start with messages that say what to fix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tessera_api::card_testing::CardTestingPolicy;
use tessera_api::rate_limit::{Rate, RateLimits};

use crate::scheduling::ThreadScheduling;
use crate::transport::acme::AcmeSettings;

/// Settings a TOML file may give. Unknown keys are an error, so a typo is not ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `test` or `live`.
    pub mode: Option<String>,
    /// Where the store, the vault and the master key live.
    pub data_dir: Option<PathBuf>,
    /// Address of the API listener.
    pub listen: Option<String>,
    /// Plain-HTTP listener that redirects to HTTPS and answers ACME challenges.
    pub http_listen: Option<String>,
    /// Address of the vault origin's listener (tessera.js, card fields, hosted pages).
    pub vault_listen: Option<String>,
    /// The address browsers reach the vault origin at, if not its listen address.
    pub vault_public_url: Option<String>,
    /// The address browsers and SDKs reach the API at, if not the listen address.
    pub public_url: Option<String>,
    /// Largest request body, in bytes.
    pub max_body_bytes: Option<usize>,
    /// Master key file, if not `<data_dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// How long the vault keeps the CVC of a card no payment has used, in seconds.
    pub cvc_ttl_seconds: Option<i64>,
    /// Open connections at most.
    pub max_connections: Option<usize>,
    /// How long the simulated processor takes to answer each call, in ms.
    pub simulator_latency_ms: Option<u64>,
    /// `batch` or `normal`: how the kernel schedules the gateway's threads.
    pub thread_scheduling: Option<String>,
    /// Time allowed for the TLS handshake and for each request's headers, in ms.
    pub header_read_timeout_ms: Option<u64>,
    /// Certificates.
    pub tls: Option<TlsFile>,
    /// Request rate limits.
    pub rate_limit: Option<RateLimitFile>,
    /// Webhook delivery.
    pub webhooks: Option<WebhooksFile>,
    /// Card-testing defence.
    pub card_testing: Option<CardTestingFile>,
    /// Fraud screening's model and reference data.
    pub risk: Option<RiskFile>,
}

/// `[risk]`: files that replace or extend the bundled model and reference data.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskFile {
    /// A risk model file (`tessera-risk-logistic/1`), instead of the bundled one.
    pub model: Option<PathBuf>,
    /// An IP-to-country database (CSV: first,last,country), instead of the bundled
    /// test database.
    pub ip_country_database: Option<PathBuf>,
    /// More disposable email domains, one per line, added to the bundled list.
    pub disposable_email_domains: Option<PathBuf>,
}

/// `[card_testing]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardTestingFile {
    /// Window declines are counted over, seconds.
    pub window_seconds: Option<u64>,
    /// Declines from one address that block it.
    pub ip_declines: Option<u32>,
    /// Declines across an account that mean it is under attack.
    pub account_declines: Option<u32>,
    /// The per-address threshold while under attack.
    pub ip_declines_under_attack: Option<u32>,
    /// How long a blocked address stays blocked, seconds.
    pub block_seconds: Option<u64>,
}

/// `[webhooks]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksFile {
    /// Gap before the first retry, ms.
    pub retry_base_ms: Option<u64>,
    /// Longest gap between attempts, ms.
    pub retry_max_ms: Option<u64>,
    /// Abandon a delivery this long after its event, seconds.
    pub give_up_seconds: Option<u64>,
    /// Disable an endpoint failing for this long, seconds.
    pub disable_after_seconds: Option<u64>,
    /// Whole-attempt timeout, ms.
    pub timeout_ms: Option<u64>,
}

/// `[tls]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// PEM certificate chain.
    pub cert_file: Option<PathBuf>,
    /// PEM private key.
    pub key_file: Option<PathBuf>,
    /// Generate a local CA and a localhost certificate (test mode).
    pub self_signed: Option<bool>,
    /// `[tls.acme]`
    pub acme: Option<AcmeFile>,
}

/// `[tls.acme]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeFile {
    /// Names to certify.
    pub domains: Option<Vec<String>>,
    /// `mailto:` contact.
    pub contact: Option<String>,
    /// Directory URL (default Let's Encrypt).
    pub directory: Option<String>,
    /// Extra root for the ACME server's own certificate.
    pub ca_file: Option<PathBuf>,
    /// Renew a certificate this many seconds after issuance (default 60 days).
    pub renew_after_seconds: Option<u64>,
    /// Check for renewal this often, seconds (default 12 hours).
    pub renew_check_seconds: Option<u64>,
}

/// `[rate_limit]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFile {
    /// Per secret or restricted key.
    pub key_per_second: Option<f64>,
    /// Burst per key.
    pub key_burst: Option<f64>,
    /// Per client IP.
    pub ip_per_second: Option<f64>,
    /// Burst per IP.
    pub ip_burst: Option<f64>,
    /// Per publishable key.
    pub publishable_per_second: Option<f64>,
    /// Burst per publishable key.
    pub publishable_burst: Option<f64>,
}

/// Test mode (simulated processor, plain HTTP allowed on loopback) or live mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Test mode.
    Test,
    /// Live mode: TLS only.
    Live,
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone)]
pub enum CertificateSource {
    /// PEM files, reloaded on SIGHUP and on change.
    Files {
        /// Chain.
        cert_file: PathBuf,
        /// Key.
        key_file: PathBuf,
    },
    /// A generated local CA (test mode).
    SelfSigned,
    /// An ACME CA.
    Acme(AcmeSettings),
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Test or live.
    pub mode: Mode,
    /// Data directory.
    pub data_dir: PathBuf,
    /// API listener address.
    pub listen: SocketAddr,
    /// Where the vault origin (tessera.js, card fields, hosted pages) listens: its own
    /// origin, apart from the API's and the merchant's.
    pub vault_listen: SocketAddr,
    /// The address browsers reach the vault origin at (behind a proxy or a name), if
    /// not its listen address.
    pub vault_public_url: Option<String>,
    /// Redirecting plain-HTTP listener.
    pub http_listen: Option<SocketAddr>,
    /// Public address, if configured.
    pub public_url: Option<String>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Master key file.
    pub master_key_file: PathBuf,
    /// CVC time-to-live for cards never charged.
    pub cvc_ttl_seconds: i64,
    /// Certificate source; `None` means plain HTTP (test mode on loopback only).
    pub tls: Option<CertificateSource>,
    /// Connection cap.
    pub max_connections: usize,
    /// How long the simulated processor takes to answer each call.
    pub simulator_latency: Duration,
    /// How the kernel schedules the gateway's threads.
    pub thread_scheduling: ThreadScheduling,
    /// Handshake and header timeout.
    pub header_read_timeout: Duration,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Webhook delivery schedule and limits.
    pub webhooks: WebhookSettings,
    /// Card-testing defence.
    pub card_testing: CardTestingPolicy,
    /// Risk model and reference data files (`None`: the bundled ones).
    pub risk: RiskFile,
}

/// How webhooks are delivered and retried.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    /// Gap before the first retry.
    pub retry_base: Duration,
    /// Longest gap.
    pub retry_max: Duration,
    /// When a delivery is abandoned.
    pub give_up_after: Duration,
    /// When an always-failing endpoint is disabled.
    pub disable_after: Duration,
    /// Whole-attempt timeout.
    pub timeout: Duration,
}

/// Values given on the command line.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config`
    pub config_file: Option<PathBuf>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--listen`
    pub listen: Option<String>,
    /// `--http-listen`
    pub http_listen: Option<String>,
    /// `--vault-listen`
    pub vault_listen: Option<String>,
    /// `--public-url`
    pub public_url: Option<String>,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:4242";
const DEFAULT_MAX_BODY: usize = 256 * 1024;
const DEFAULT_CVC_TTL: i64 = 15 * 60;
const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

fn number<T: std::str::FromStr>(
    name: &str,
    value: Option<String>,
    fallback: Option<T>,
) -> Result<Option<T>, String> {
    match value {
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} '{v}' is not a valid number")),
        None => Ok(fallback),
    }
}

fn seconds(
    name: &str,
    value: Option<String>,
    from_file: Option<u64>,
    fallback: Duration,
) -> Result<Duration, String> {
    match number(name, value, from_file)? {
        Some(0) => Err(format!("{name} must be a positive number of seconds")),
        Some(s) => Ok(Duration::from_secs(s)),
        None => Ok(fallback),
    }
}

fn address(what: &str, text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{what} '{text}' is not an IP:port such as 127.0.0.1:4242"))
}

impl Config {
    /// Resolves the layers. `env` is a lookup so tests can supply their own.
    pub fn resolve(
        flags: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, String> {
        let file_path = flags
            .config_file
            .clone()
            .or_else(|| env("TESSERA_CONFIG").map(PathBuf::from));
        let file = match &file_path {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let mode = match env("TESSERA_MODE").or(file.mode).as_deref() {
            None | Some("test") => Mode::Test,
            Some("live") => Mode::Live,
            Some(other) => return Err(format!("mode '{other}' must be test or live")),
        };
        let data_dir = flags
            .data_dir
            .clone()
            .or_else(|| env("TESSERA_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./tessera-data"));
        let listen_text = flags
            .listen
            .clone()
            .or_else(|| env("TESSERA_LISTEN"))
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = address(
            "listen address (--listen, TESSERA_LISTEN, listen)",
            &listen_text,
        )?;
        let http_listen = flags
            .http_listen
            .clone()
            .or_else(|| env("TESSERA_HTTP_LISTEN"))
            .or(file.http_listen)
            .map(|t| {
                address(
                    "http_listen address (--http-listen, TESSERA_HTTP_LISTEN, http_listen)",
                    &t,
                )
            })
            .transpose()?;
        // The vault origin listens next to the API: one port up by default (4243), or
        // another free port when the API's is chosen by the system.
        let vault_listen = match flags
            .vault_listen
            .clone()
            .or_else(|| env("TESSERA_VAULT_LISTEN"))
            .or(file.vault_listen)
        {
            Some(t) => address(
                "vault_listen address (--vault-listen, TESSERA_VAULT_LISTEN, vault_listen)",
                &t,
            )?,
            None => SocketAddr::new(
                listen.ip(),
                match listen.port() {
                    0 | u16::MAX => 0,
                    p => p + 1,
                },
            ),
        };
        if vault_listen.port() != 0 && vault_listen == listen {
            return Err(format!(
                "vault_listen {vault_listen} is the API's address: the vault origin needs its own port"
            ));
        }
        let public_url = flags
            .public_url
            .clone()
            .or_else(|| env("TESSERA_PUBLIC_URL"))
            .or(file.public_url);
        let vault_public_url = env("TESSERA_VAULT_PUBLIC_URL").or(file.vault_public_url);
        for (name, value) in [
            ("public_url", &public_url),
            ("vault_public_url", &vault_public_url),
        ] {
            if let Some(url) = value
                && (!(url.starts_with("http://") || url.starts_with("https://"))
                    || url.contains(char::is_whitespace))
            {
                return Err(format!(
                    "{name} '{url}' must be an absolute http:// or https:// URL"
                ));
            }
        }
        if mode == Mode::Live
            && let Some(url) = &vault_public_url
            && !url.starts_with("https://")
        {
            return Err(format!(
                "vault_public_url '{url}' must be https:// in live mode: card numbers are typed there"
            ));
        }
        let max_body_bytes = number(
            "TESSERA_MAX_BODY_BYTES",
            env("TESSERA_MAX_BODY_BYTES"),
            file.max_body_bytes,
        )?
        .unwrap_or(DEFAULT_MAX_BODY);
        if !(1024..=16 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(format!(
                "max_body_bytes {max_body_bytes} must be between 1024 and 16777216"
            ));
        }
        let master_key_file = env("TESSERA_MASTER_KEY_FILE")
            .map(PathBuf::from)
            .or(file.master_key_file)
            .unwrap_or_else(|| data_dir.join("master.key"));
        let cvc_ttl_seconds = number(
            "TESSERA_CVC_TTL_SECONDS",
            env("TESSERA_CVC_TTL_SECONDS"),
            file.cvc_ttl_seconds,
        )?
        .unwrap_or(DEFAULT_CVC_TTL);
        if !(1..=86_400).contains(&cvc_ttl_seconds) {
            return Err(format!(
                "cvc_ttl_seconds {cvc_ttl_seconds} must be between 1 and 86400"
            ));
        }
        let simulator_latency_ms = number(
            "TESSERA_SIMULATOR_LATENCY_MS",
            env("TESSERA_SIMULATOR_LATENCY_MS"),
            file.simulator_latency_ms,
        )?
        .unwrap_or(0);
        if simulator_latency_ms > 60_000 {
            return Err(format!(
                "simulator_latency_ms {simulator_latency_ms} must be between 0 and 60000"
            ));
        }
        let thread_scheduling = match env("TESSERA_THREAD_SCHEDULING").or(file.thread_scheduling) {
            Some(text) => ThreadScheduling::parse(&text)?,
            None => ThreadScheduling::default(),
        };
        let max_connections = number(
            "TESSERA_MAX_CONNECTIONS",
            env("TESSERA_MAX_CONNECTIONS"),
            file.max_connections,
        )?
        .unwrap_or(1024);
        if !(1..=1_000_000).contains(&max_connections) {
            return Err(format!(
                "max_connections {max_connections} must be between 1 and 1000000"
            ));
        }
        let header_ms = number(
            "TESSERA_HEADER_READ_TIMEOUT_MS",
            env("TESSERA_HEADER_READ_TIMEOUT_MS"),
            file.header_read_timeout_ms,
        )?
        .unwrap_or(10_000);
        if !(100..=300_000).contains(&header_ms) {
            return Err(format!(
                "header_read_timeout_ms {header_ms} must be between 100 and 300000"
            ));
        }
        let tls = certificate_source(file.tls.unwrap_or_default(), &env)?;
        let webhooks = webhook_settings(file.webhooks.unwrap_or_default(), &env, mode)?;
        let card_testing = card_testing(file.card_testing.unwrap_or_default(), &env)?;
        let rate_limits = rate_limits(file.rate_limit.unwrap_or_default(), &env)?;
        let mut risk = file.risk.unwrap_or_default();
        for (var, slot) in [
            ("TESSERA_RISK_MODEL", &mut risk.model),
            (
                "TESSERA_RISK_IP_COUNTRY_DATABASE",
                &mut risk.ip_country_database,
            ),
            (
                "TESSERA_RISK_DISPOSABLE_EMAIL_DOMAINS",
                &mut risk.disposable_email_domains,
            ),
        ] {
            if let Some(path) = env(var) {
                *slot = Some(PathBuf::from(path));
            }
        }

        match (&tls, mode) {
            (None, Mode::Live) => {
                return Err("live mode serves HTTPS only and no certificate is configured. Give a certificate and key \
                    ([tls] cert_file and key_file, or TESSERA_TLS_CERT_FILE and TESSERA_TLS_KEY_FILE) or let Tessera \
                    obtain one ([tls.acme] domains and contact, or TESSERA_ACME_DOMAINS and TESSERA_ACME_CONTACT, \
                    with http_listen on port 80)"
                    .into());
            }
            (Some(CertificateSource::SelfSigned), Mode::Live) => {
                return Err("a self-signed certificate is for test mode only; live mode needs cert_file/key_file or ACME".into());
            }
            (None, Mode::Test) if !vault_listen.ip().is_loopback() => {
                return Err(format!(
                    "vault_listen address {vault_listen} is not a loopback address, and no certificate is configured. \
                     Plain HTTP is allowed only in test mode on loopback"
                ));
            }
            (None, Mode::Test) if !listen.ip().is_loopback() => {
                return Err(format!(
                    "listen address {listen} is not a loopback address, and no certificate is configured. Plain HTTP is \
                     allowed only in test mode on loopback (127.0.0.1 or ::1); configure [tls] (or TESSERA_TLS_SELF_SIGNED=true \
                     in test mode) to listen elsewhere"
                ));
            }
            (None, _) if http_listen.is_some() => {
                return Err(
                    "http_listen redirects to HTTPS, but no certificate is configured for HTTPS"
                        .into(),
                );
            }
            (Some(CertificateSource::Acme(_)), _) if http_listen.is_none() => {
                return Err("ACME needs http_listen (usually 0.0.0.0:80) to answer the CA's HTTP-01 challenges".into());
            }
            _ => {}
        }
        Ok(Config {
            mode,
            data_dir,
            listen,
            vault_listen,
            vault_public_url: vault_public_url.map(|u| u.trim_end_matches('/').to_owned()),
            http_listen,
            public_url,
            max_body_bytes,
            master_key_file,
            cvc_ttl_seconds,
            tls,
            max_connections,
            simulator_latency: Duration::from_millis(simulator_latency_ms),
            thread_scheduling,
            header_read_timeout: Duration::from_millis(header_ms),
            rate_limits,
            webhooks,
            card_testing,
            risk,
        })
    }
}

fn certificate_source(
    file: TlsFile,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<CertificateSource>, String> {
    let cert_file = env("TESSERA_TLS_CERT_FILE")
        .map(PathBuf::from)
        .or(file.cert_file);
    let key_file = env("TESSERA_TLS_KEY_FILE")
        .map(PathBuf::from)
        .or(file.key_file);
    let self_signed = match env("TESSERA_TLS_SELF_SIGNED").as_deref() {
        Some("true" | "1") => true,
        Some("false" | "0") | None => file.self_signed.unwrap_or(false),
        Some(other) => {
            return Err(format!(
                "TESSERA_TLS_SELF_SIGNED '{other}' must be true or false"
            ));
        }
    };
    let acme_file = file.acme.unwrap_or_default();
    let domains = env("TESSERA_ACME_DOMAINS")
        .map(|d| {
            d.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        })
        .or(acme_file.domains);
    let acme = match domains {
        None => None,
        Some(domains) => {
            if domains.is_empty() {
                return Err("ACME domains is empty: name at least one domain".into());
            }
            let contact = env("TESSERA_ACME_CONTACT").or(acme_file.contact).ok_or(
                "ACME needs a contact (TESSERA_ACME_CONTACT or [tls.acme] contact, e.g. mailto:ops@example.com)",
            )?;
            if !contact.starts_with("mailto:") {
                return Err(format!(
                    "ACME contact '{contact}' must be a mailto: address"
                ));
            }
            Some(CertificateSource::Acme(AcmeSettings {
                domains,
                contact,
                directory: env("TESSERA_ACME_DIRECTORY")
                    .or(acme_file.directory)
                    .unwrap_or_else(|| LETS_ENCRYPT.to_owned()),
                ca_file: env("TESSERA_ACME_CA_FILE")
                    .map(PathBuf::from)
                    .or(acme_file.ca_file),
                renew_after: seconds(
                    "TESSERA_ACME_RENEW_AFTER_SECONDS",
                    env("TESSERA_ACME_RENEW_AFTER_SECONDS"),
                    acme_file.renew_after_seconds,
                    crate::transport::acme::RENEW_AFTER,
                )?,
                renew_check: seconds(
                    "TESSERA_ACME_RENEW_CHECK_SECONDS",
                    env("TESSERA_ACME_RENEW_CHECK_SECONDS"),
                    acme_file.renew_check_seconds,
                    crate::transport::acme::RENEW_CHECK,
                )?,
            }))
        }
    };
    let files = match (cert_file, key_file) {
        (Some(cert_file), Some(key_file)) => Some(CertificateSource::Files {
            cert_file,
            key_file,
        }),
        (None, None) => None,
        _ => return Err("a TLS certificate needs both cert_file and key_file".into()),
    };
    let chosen: Vec<CertificateSource> = [
        files,
        self_signed.then_some(CertificateSource::SelfSigned),
        acme,
    ]
    .into_iter()
    .flatten()
    .collect();
    match chosen.len() {
        0 => Ok(None),
        1 => Ok(chosen.into_iter().next()),
        _ => Err("choose one certificate source: cert_file/key_file, self_signed, or ACME".into()),
    }
}

fn webhook_settings(
    file: WebhooksFile,
    env: &impl Fn(&str) -> Option<String>,
    mode: Mode,
) -> Result<WebhookSettings, String> {
    // Live: retried for up to three days, as merchants expect of Stripe. Test: quicker.
    let (base, max, give_up, disable) = match mode {
        Mode::Live => (60_000, 3 * 3_600_000, 3 * 86_400, 3 * 86_400),
        Mode::Test => (1_000, 60_000, 3_600, 86_400),
    };
    let read = |name: &str, from_file: Option<u64>, fallback: u64| -> Result<u64, String> {
        let v = number(name, env(name), from_file)?.unwrap_or(fallback);
        if v == 0 {
            Err(format!("{name} must be positive"))
        } else {
            Ok(v)
        }
    };
    let settings = WebhookSettings {
        retry_base: Duration::from_millis(read(
            "TESSERA_WEBHOOK_RETRY_BASE_MS",
            file.retry_base_ms,
            base,
        )?),
        retry_max: Duration::from_millis(read(
            "TESSERA_WEBHOOK_RETRY_MAX_MS",
            file.retry_max_ms,
            max,
        )?),
        give_up_after: Duration::from_secs(read(
            "TESSERA_WEBHOOK_GIVE_UP_SECONDS",
            file.give_up_seconds,
            give_up,
        )?),
        disable_after: Duration::from_secs(read(
            "TESSERA_WEBHOOK_DISABLE_AFTER_SECONDS",
            file.disable_after_seconds,
            disable,
        )?),
        timeout: Duration::from_millis(read(
            "TESSERA_WEBHOOK_TIMEOUT_MS",
            file.timeout_ms,
            10_000,
        )?),
    };
    if settings.retry_max < settings.retry_base {
        return Err(
            "TESSERA_WEBHOOK_RETRY_MAX_MS must be at least TESSERA_WEBHOOK_RETRY_BASE_MS".into(),
        );
    }
    Ok(settings)
}

fn card_testing(
    file: CardTestingFile,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<CardTestingPolicy, String> {
    let d = CardTestingPolicy::default();
    let count = |name: &str, from_file: Option<u32>, fallback: u32| -> Result<u32, String> {
        match number(name, env(name), from_file)? {
            Some(0) => Err(format!("{name} must be at least 1")),
            v => Ok(v.unwrap_or(fallback)),
        }
    };
    Ok(CardTestingPolicy {
        window: seconds(
            "TESSERA_CARD_TESTING_WINDOW_SECONDS",
            env("TESSERA_CARD_TESTING_WINDOW_SECONDS"),
            file.window_seconds,
            d.window,
        )?,
        ip_declines: count(
            "TESSERA_CARD_TESTING_IP_DECLINES",
            file.ip_declines,
            d.ip_declines,
        )?,
        account_declines: count(
            "TESSERA_CARD_TESTING_ACCOUNT_DECLINES",
            file.account_declines,
            d.account_declines,
        )?,
        ip_declines_under_attack: count(
            "TESSERA_CARD_TESTING_IP_DECLINES_UNDER_ATTACK",
            file.ip_declines_under_attack,
            d.ip_declines_under_attack,
        )?,
        block_for: seconds(
            "TESSERA_CARD_TESTING_BLOCK_SECONDS",
            env("TESSERA_CARD_TESTING_BLOCK_SECONDS"),
            file.block_seconds,
            d.block_for,
        )?,
    })
}

fn rate_limits(
    file: RateLimitFile,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<RateLimits, String> {
    let d = RateLimits::default();
    let read = |name: &str, from_file: Option<f64>, fallback: f64| -> Result<f64, String> {
        let v = number(name, env(name), from_file)?.unwrap_or(fallback);
        if v > 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(format!("{name} must be a positive number"))
        }
    };
    Ok(RateLimits {
        key: Rate {
            per_second: read(
                "TESSERA_RATE_LIMIT_KEY_PER_SECOND",
                file.key_per_second,
                d.key.per_second,
            )?,
            burst: read("TESSERA_RATE_LIMIT_KEY_BURST", file.key_burst, d.key.burst)?,
        },
        ip: Rate {
            per_second: read(
                "TESSERA_RATE_LIMIT_IP_PER_SECOND",
                file.ip_per_second,
                d.ip.per_second,
            )?,
            burst: read("TESSERA_RATE_LIMIT_IP_BURST", file.ip_burst, d.ip.burst)?,
        },
        publishable: Rate {
            per_second: read(
                "TESSERA_RATE_LIMIT_PUBLISHABLE_PER_SECOND",
                file.publishable_per_second,
                d.publishable.per_second,
            )?,
            burst: read(
                "TESSERA_RATE_LIMIT_PUBLISHABLE_BURST",
                file.publishable_burst,
                d.publishable.burst,
            )?,
        },
    })
}

fn load_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_vault_origin_has_its_own_port_and_address() {
        let c = Config::resolve(&Overrides::default(), env(&[])).unwrap();
        assert_eq!(c.vault_listen, "127.0.0.1:4243".parse().unwrap());
        let c = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_LISTEN", "127.0.0.1:0")]),
        )
        .unwrap();
        assert_eq!(c.vault_listen.port(), 0);
        let err = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_VAULT_LISTEN", "127.0.0.1:4242")]),
        )
        .unwrap_err();
        assert!(err.contains("its own port"), "{err}");
        let err = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_VAULT_LISTEN", "0.0.0.0:4243")]),
        )
        .unwrap_err();
        assert!(
            err.contains("vault_listen") && err.contains("loopback"),
            "{err}"
        );
        let c = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_VAULT_PUBLIC_URL", "https://vault.pay.example/")]),
        )
        .unwrap();
        assert_eq!(
            c.vault_public_url.as_deref(),
            Some("https://vault.pay.example")
        );
        let err = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_VAULT_PUBLIC_URL", "vault.pay.example")]),
        )
        .unwrap_err();
        assert!(err.contains("vault_public_url"), "{err}");
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tessera.toml");
        std::fs::write(
            &file,
            "data_dir = \"/from-file\"\nlisten = \"127.0.0.1:1000\"\n[rate_limit]\nkey_burst = 7\n",
        )
        .unwrap();
        let flags = Overrides {
            config_file: Some(file.clone()),
            ..Default::default()
        };
        let c = Config::resolve(&flags, env(&[])).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from-file"));
        assert_eq!(c.listen.port(), 1000);
        assert_eq!(c.rate_limits.key.burst, 7.0);
        let c = Config::resolve(&flags, env(&[("TESSERA_LISTEN", "127.0.0.1:2000")])).unwrap();
        assert_eq!(c.listen.port(), 2000);
        let flags = Overrides {
            listen: Some("[::1]:3000".into()),
            ..flags
        };
        let c = Config::resolve(&flags, env(&[("TESSERA_LISTEN", "127.0.0.1:2000")])).unwrap();
        assert_eq!(c.listen.port(), 3000);
        assert_eq!(c.master_key_file, PathBuf::from("/from-file/master.key"));
        assert_eq!(c.mode, Mode::Test);
        assert!(c.tls.is_none());
    }

    #[test]
    fn bad_settings_say_what_to_fix() {
        let err = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_LISTEN", "0.0.0.0:80")]),
        )
        .unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        let err = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_LISTEN", "nonsense")]),
        )
        .unwrap_err();
        assert!(err.contains("IP:port"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "lissen = \"127.0.0.1:1\"\n").unwrap();
        let err = Config::resolve(
            &Overrides {
                config_file: Some(file),
                ..Default::default()
            },
            env(&[]),
        )
        .unwrap_err();
        assert!(err.contains("lissen"), "{err}");
        let err = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_MAX_BODY_BYTES", "12")]),
        )
        .unwrap_err();
        assert!(err.contains("max_body_bytes"), "{err}");
        let err = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_SIMULATOR_LATENCY_MS", "60001")]),
        )
        .unwrap_err();
        assert!(err.contains("simulator_latency_ms"), "{err}");
        let ok = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_SIMULATOR_LATENCY_MS", "250")]),
        )
        .unwrap();
        assert_eq!(ok.simulator_latency, Duration::from_millis(250));
        assert_eq!(ok.thread_scheduling, ThreadScheduling::Batch);
        let err = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_THREAD_SCHEDULING", "realtime")]),
        )
        .unwrap_err();
        assert!(err.contains("thread_scheduling 'realtime'"), "{err}");
        let ok = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_THREAD_SCHEDULING", "normal")]),
        )
        .unwrap();
        assert_eq!(ok.thread_scheduling, ThreadScheduling::Normal);
    }

    #[test]
    fn live_mode_demands_a_real_certificate() {
        let err =
            Config::resolve(&Overrides::default(), env(&[("TESSERA_MODE", "live")])).unwrap_err();
        assert!(
            err.contains("certificate") && err.contains("TESSERA_TLS_CERT_FILE"),
            "{err}"
        );
        let err = Config::resolve(
            &Overrides::default(),
            env(&[
                ("TESSERA_MODE", "live"),
                ("TESSERA_TLS_SELF_SIGNED", "true"),
            ]),
        )
        .unwrap_err();
        assert!(err.contains("test mode only"), "{err}");
        let ok = Config::resolve(
            &Overrides::default(),
            env(&[
                ("TESSERA_MODE", "live"),
                ("TESSERA_TLS_CERT_FILE", "/c.pem"),
                ("TESSERA_TLS_KEY_FILE", "/k.pem"),
                ("TESSERA_LISTEN", "0.0.0.0:443"),
            ]),
        )
        .unwrap();
        assert!(matches!(ok.tls, Some(CertificateSource::Files { .. })));
        let err = Config::resolve(
            &Overrides::default(),
            env(&[
                ("TESSERA_ACME_DOMAINS", "pay.example.com"),
                ("TESSERA_ACME_CONTACT", "mailto:ops@example.com"),
            ]),
        )
        .unwrap_err();
        assert!(err.contains("http_listen"), "{err}");
    }
}
