//! The certificate a TLS listener presents, and where it comes from.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The current certificate, swapped in place when it is renewed or reloaded; existing
/// connections keep the one they were established with.
#[derive(Debug, Default)]
pub struct CertificateStore {
    current: RwLock<Option<Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for CertificateStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl CertificateStore {
    /// Replaces the certificate.
    pub fn set(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(key));
    }
}

/// Reads a PEM certificate chain and private key.
pub fn load_pem(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, String> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| format!("cannot read certificate file {}: {e}", cert_file.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "certificate file {} is not valid PEM: {e}",
                cert_file.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "certificate file {} holds no certificate",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("cannot read private key file {}: {e}", key_file.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("private key in {} is not usable: {e}", key_file.display()))?;
    let key = CertifiedKey::new(certs, signing);
    key.keys_match().map_err(|e| {
        format!(
            "{} and {} do not belong together: {e}",
            cert_file.display(),
            key_file.display()
        )
    })?;
    Ok(key)
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reloads the files into `store` on SIGHUP and whenever either file changes (checked
/// every two seconds). A bad file is logged and the current certificate kept.
pub fn watch_files(store: Arc<CertificateStore>, cert_file: PathBuf, key_file: PathBuf) {
    tokio::spawn(async move {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(
                    "cannot watch SIGHUP ({e}); certificates reload on file change only"
                );
                None
            }
        };
        let mut seen = (modified(&cert_file), modified(&key_file));
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            let hup = async {
                match hangup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let reason = tokio::select! {
                _ = hup => "SIGHUP",
                _ = tick.tick() => {
                    let now = (modified(&cert_file), modified(&key_file));
                    if now == seen { continue }
                    "file change"
                }
            };
            seen = (modified(&cert_file), modified(&key_file));
            match load_pem(&cert_file, &key_file) {
                Ok(key) => {
                    store.set(key);
                    tracing::info!(reason, "TLS certificate reloaded");
                }
                Err(e) => tracing::error!(
                    reason,
                    "TLS certificate not reloaded, keeping the current one: {e}"
                ),
            }
        }
    });
}

/// Files of the generated local CA and the server certificate it signed.
#[derive(Debug, Clone)]
pub struct LocalCa {
    /// The CA certificate clients should trust.
    pub ca_file: PathBuf,
    /// The server certificate chain.
    pub cert_file: PathBuf,
    /// The server key.
    pub key_file: PathBuf,
}

pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), String> {
    let _ = fs::remove_file(path);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// For test mode on a fresh machine: a local CA and a certificate for `localhost`,
/// `127.0.0.1` and `::1`, kept in `<data_dir>/tls`. The CA's private key is used once
/// and never stored, so the CA cannot sign anything else.
pub fn local_ca(data_dir: &Path) -> Result<LocalCa, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let data_dir = fs::canonicalize(data_dir)
        .map_err(|e| format!("cannot resolve {}: {e}", data_dir.display()))?;
    let dir = data_dir.join("tls");
    let files = LocalCa {
        ca_file: dir.join("ca.pem"),
        cert_file: dir.join("cert.pem"),
        key_file: dir.join("key.pem"),
    };
    if files.ca_file.exists() && files.cert_file.exists() && files.key_file.exists() {
        return Ok(files);
    }
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let failed = |e: rcgen::Error| format!("cannot generate the local test certificate: {e}");
    let now = time_now();
    let ca_key = KeyPair::generate().map_err(failed)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "Tessera local test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(825);
    let ca_cert = ca.self_signed(&ca_key).map_err(failed)?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().map_err(failed)?;
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(failed)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Path building and strict checkers (sslyze's Mozilla profile) want the AKI.
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.not_before = now - time::Duration::days(1);
    leaf.not_after = now + time::Duration::days(365);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(failed)?;
    fs::write(&files.ca_file, ca_cert.pem())
        .map_err(|e| format!("cannot write {}: {e}", files.ca_file.display()))?;
    fs::write(&files.cert_file, leaf_cert.pem() + &ca_cert.pem())
        .map_err(|e| format!("cannot write {}: {e}", files.cert_file.display()))?;
    write_private(&files.key_file, &leaf_key.serialize_pem())?;
    Ok(files)
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
