//! Certificates from an ACME CA (Let's Encrypt, or Debian's `pebble` in tests) with the
//! HTTP-01 challenge, which the plain-HTTP listener answers. Issued certificates are kept
//! in `<data_dir>/tls/acme` and renewed 60 days after issuance (ACME certificates
//! commonly live 90); both times are settings.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};

use super::certificates::{CertificateStore, load_pem, write_private};

/// What to ask the ACME CA for.
#[derive(Debug, Clone)]
pub struct AcmeSettings {
    /// Names the certificate covers.
    pub domains: Vec<String>,
    /// Contact URI (`mailto:ops@example.com`).
    pub contact: String,
    /// The CA's directory URL.
    pub directory: String,
    /// An extra root to trust for the CA's own HTTPS (test CAs); none for public CAs.
    pub ca_file: Option<PathBuf>,
    /// A certificate this old is renewed.
    pub renew_after: Duration,
    /// How often renewal is checked.
    pub renew_check: Duration,
}

/// Pending HTTP-01 challenges: token → key authorization.
pub type Challenges = Arc<RwLock<HashMap<String, String>>>;

/// Default age at which a certificate is renewed (ACME certificates commonly live 90 days).
pub const RENEW_AFTER: Duration = Duration::from_secs(60 * 86_400);

/// Default interval between renewal checks.
pub const RENEW_CHECK: Duration = Duration::from_secs(12 * 3600);

fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("acme")
}

/// Loads a stored certificate that is not yet due for renewal; issues one otherwise.
pub async fn ensure(
    settings: &AcmeSettings,
    data_dir: &Path,
    challenges: &Challenges,
    store: &CertificateStore,
) -> Result<(), String> {
    let dir = dir(data_dir);
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let fresh = fs::metadata(&cert)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < settings.renew_after);
    let stored_names = fs::read_to_string(dir.join("domains")).unwrap_or_default();
    if fresh
        && stored_names == settings.domains.join(",")
        && let Ok(k) = load_pem(&cert, &key)
    {
        store.set(k);
        return Ok(());
    }
    issue(settings, &dir, challenges).await?;
    store.set(load_pem(&cert, &key)?);
    tracing::info!(domains = %settings.domains.join(","), "ACME certificate obtained");
    Ok(())
}

/// Keeps the certificate renewed: checks every `renew_check` (twice a day by default).
pub fn renew_in_background(
    settings: AcmeSettings,
    data_dir: PathBuf,
    challenges: Challenges,
    store: Arc<CertificateStore>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(settings.renew_check);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = ensure(&settings, &data_dir, &challenges, &store).await {
                tracing::error!("ACME renewal failed, will retry: {e}");
            }
        }
    });
}

async fn issue(settings: &AcmeSettings, dir: &Path, challenges: &Challenges) -> Result<(), String> {
    let acme = |what: &str| {
        let what = what.to_owned();
        move |e: instant_acme::Error| format!("ACME {what}: {e}")
    };
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let builder = match &settings.ca_file {
        Some(root) => Account::builder_with_root(root).map_err(acme("client"))?,
        None => Account::builder().map_err(acme("client"))?,
    };
    let contact = [settings.contact.as_str()];
    let (account, _credentials) = builder
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            None,
        )
        .await
        .map_err(acme("account"))?;
    let identifiers: Vec<Identifier> = settings
        .domains
        .iter()
        .map(|d| Identifier::Dns(d.clone()))
        .collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(acme("order"))?;
    let mut tokens = Vec::new();
    {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(acme("authorization"))?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("ACME authorization is {other:?}")),
            }
            let mut challenge = authorization
                .challenge(ChallengeType::Http01)
                .ok_or("the ACME CA offers no HTTP-01 challenge")?;
            let token = challenge.token.clone();
            let key_authorization = challenge.key_authorization().as_str().to_owned();
            challenges
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(token.clone(), key_authorization);
            tokens.push(token);
            challenge.set_ready().await.map_err(acme("challenge"))?;
        }
    }
    let retry = RetryPolicy::default();
    let status = order.poll_ready(&retry).await;
    let cleanup = || {
        let mut map = challenges.write().unwrap_or_else(|p| p.into_inner());
        for t in &tokens {
            map.remove(t);
        }
    };
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            cleanup();
            return Err(format!("ACME order: {e}"));
        }
    };
    cleanup();
    if status != OrderStatus::Ready {
        return Err(format!(
            "ACME order is {status:?}; the CA could not validate the HTTP-01 challenge"
        ));
    }
    let key = rcgen::KeyPair::generate().map_err(|e| format!("certificate key: {e}"))?;
    let csr = rcgen::CertificateParams::new(settings.domains.clone())
        .and_then(|p| p.serialize_request(&key))
        .map_err(|e| format!("certificate request: {e}"))?;
    order
        .finalize_csr(csr.der())
        .await
        .map_err(acme("finalize"))?;
    let chain = order
        .poll_certificate(&retry)
        .await
        .map_err(acme("certificate"))?;
    write_private(&dir.join("key.pem"), &key.serialize_pem())?;
    fs::write(dir.join("cert.pem"), chain)
        .map_err(|e| format!("cannot store the certificate: {e}"))?;
    fs::write(dir.join("domains"), settings.domains.join(","))
        .map_err(|e| format!("cannot store the names: {e}"))?;
    Ok(())
}
