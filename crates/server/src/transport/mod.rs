//! How clients reach Tessera: TLS (rustls on the ring provider, TLS 1.2 and 1.3 with
//! ECDHE and AEAD only, ALPN h2 and http/1.1), certificates from files, a generated local
//! CA or ACME, listeners with connection, header and time limits, and the plain-HTTP
//! listener that only redirects to HTTPS and answers ACME challenges.

pub mod acme;
pub mod certificates;
pub mod listener;
pub mod redirect;

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::ResolvesServerCert;

/// The TLS configuration every HTTPS listener uses.
pub fn server_config(
    certificates: Arc<dyn ResolvesServerCert>,
) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // ring's suites are all ECDHE key exchange with AEAD ciphers: no RSA key exchange,
    // no CBC. rustls has no renegotiation, compression or SSLv3/TLS 1.0/1.1 at all.
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}
