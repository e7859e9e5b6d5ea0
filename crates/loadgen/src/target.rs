//! Where the load goes: the base URL, the loopback-only rule, and the connector.
//!
//! The connector hands out a [`Stream`]: plain TCP for `http://`, or TLS (rustls on ring,
//! the workspace's one crypto provider) for `https://` with the CA given by `--ca-cert`.
//! Nothing above this module knows which.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The message for an `https://` base URL without a CA.
pub const HTTPS_NEEDS_CA: &str = "an https:// base URL needs --ca-cert FILE: the PEM CA that signed the \
     gateway's certificate (TESSERA_TLS_SELF_SIGNED=true tessera serve prints its path, and \
     ready.json has it as \"ca\")";

/// A parsed, checked base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The address connected to (always loopback).
    pub addr: SocketAddr,
    /// The `Host` header value (host and port as given).
    pub host_header: String,
    /// The base URL as given, for reports.
    pub base_url: String,
    /// For `https://`: the name the certificate must carry, and the CA file.
    pub tls: Option<TlsTarget>,
}

/// What a TLS connection checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTarget {
    /// Host name or IP address the certificate must be valid for.
    pub server_name: ServerName<'static>,
    /// PEM file with the CA certificate(s) to trust, and no others.
    pub ca_cert: PathBuf,
}

/// Whether an address is a loopback address: 127.0.0.0/8, ::1, or ::ffff:127.x.y.z.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Parses `http://HOST[:PORT][/]` or `https://…` and refuses every host that is not
/// loopback.
///
/// Accepted hosts: IPv4 literals in 127.0.0.0/8, `[::1]`, and `localhost` (which must
/// resolve to loopback addresses only). Other host names are refused without looking
/// them up. `https://` needs `ca_cert`; `http://` refuses one.
pub fn parse_base_url(url: &str, ca_cert: Option<&PathBuf>) -> Result<Target, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("base URL {url:?} must look like http://127.0.0.1:PORT"))?;
    let (https, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "http" => (false, 80),
        "https" => (true, 443),
        other => return Err(format!("base URL scheme {other:?} is not http or https")),
    };
    match (https, ca_cert) {
        (true, None) => return Err(HTTPS_NEEDS_CA.into()),
        (false, Some(_)) => {
            return Err("--ca-cert is only for an https:// base URL".into());
        }
        _ => {}
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if !(path.is_empty() || path == "/") {
        return Err(format!(
            "base URL {url:?} must not have a path: give http://HOST:PORT, without /v1"
        ));
    }
    if authority.contains(['@', '?', '#']) {
        return Err(format!(
            "base URL {url:?} must be just http://HOST:PORT (no user, query or fragment)"
        ));
    }
    let (host, port) = split_host_port(authority, default_port)
        .ok_or_else(|| format!("base URL {url:?}: cannot read host and port"))?;
    let refuse = || {
        format!(
            "refusing base URL {url:?}: tessera-loadgen only sends load to this machine's \
             loopback interface (127.0.0.0/8, ::1, localhost), and {host:?} is not loopback"
        )
    };
    let addr = if let Ok(ip) = host.parse::<IpAddr>() {
        if !is_loopback(ip) {
            return Err(refuse());
        }
        SocketAddr::new(ip.to_canonical(), port)
    } else if host.eq_ignore_ascii_case("localhost") {
        let resolved: Vec<SocketAddr> = ("localhost", port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve localhost: {e}"))?
            .collect();
        if resolved.is_empty() || !resolved.iter().all(|a| is_loopback(a.ip())) {
            return Err(format!(
                "refusing base URL {url:?}: localhost resolves to {resolved:?} here, \
                 which is not loopback only"
            ));
        }
        *resolved
            .iter()
            .find(|a| a.is_ipv4())
            .unwrap_or(&resolved[0])
    } else {
        return Err(refuse());
    };
    let tls = match ca_cert {
        Some(ca) if https => {
            let server_name = match host.parse::<IpAddr>() {
                Ok(ip) => ServerName::IpAddress(ip.into()),
                Err(_) => ServerName::try_from(host.to_ascii_lowercase())
                    .map_err(|_| format!("base URL {url:?}: {host:?} is not a valid TLS name"))?,
            };
            Some(TlsTarget {
                server_name,
                ca_cert: ca.clone(),
            })
        }
        _ => None,
    };
    Ok(Target {
        addr,
        host_header: authority.to_owned(),
        base_url: url.trim_end_matches('/').to_owned(),
        tls,
    })
}

/// Splits `host[:port]` or `[v6][:port]`.
fn split_host_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        },
    };
    Some((host, port))
}

/// Opens connections to a [`Target`].
#[derive(Clone)]
pub struct Connector {
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Connector {
    /// A connector for a checked target; reads the CA file for `https://`.
    pub fn new(target: &Target) -> Result<Connector, String> {
        // Checked again here so that no code path can connect anywhere else.
        if !is_loopback(target.addr.ip()) {
            return Err(format!("{} is not a loopback address", target.addr));
        }
        let tls = match &target.tls {
            None => None,
            Some(t) => Some((tls_connector(&t.ca_cert)?, t.server_name.clone())),
        };
        Ok(Connector {
            addr: target.addr,
            tls,
        })
    }

    /// Opens one connection (TCP_NODELAY set; for `https://` after the TLS handshake).
    pub async fn connect(&self) -> io::Result<Stream> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some((connector, name)) => Ok(Stream::Tls(Box::new(
                connector.connect(name.clone(), tcp).await?,
            ))),
        }
    }
}

/// A TLS client trusting only the CA certificate(s) in `ca_file`; offers HTTP/1.1.
fn tls_connector(ca_file: &Path) -> Result<TlsConnector, String> {
    let shown = ca_file.display();
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| format!("cannot read --ca-cert {shown}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("--ca-cert {shown}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("--ca-cert {shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("--ca-cert {shown} holds no certificate"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// One connection to the gateway.
#[derive(Debug)]
pub enum Stream {
    /// Plain HTTP over TCP.
    Plain(TcpStream),
    /// HTTP over TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> Target {
        parse_base_url(url, None).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn accepts_loopback() {
        let t = ok("http://127.0.0.1:4242");
        assert_eq!(t.addr, "127.0.0.1:4242".parse().unwrap());
        assert_eq!(t.host_header, "127.0.0.1:4242");
        assert_eq!(t.base_url, "http://127.0.0.1:4242");
        assert_eq!(ok("http://127.8.9.10:1/").addr.port(), 1);
        assert_eq!(ok("http://[::1]:8420").addr, "[::1]:8420".parse().unwrap());
        assert_eq!(ok("HTTP://127.0.0.1").addr.port(), 80);
        assert!(ok("http://localhost:4242").addr.ip().is_loopback());
        assert!(ok("http://LocalHost:4242").addr.ip().is_loopback());
        // IPv4-mapped loopback is loopback, and is connected to as plain IPv4.
        assert_eq!(
            ok("http://[::ffff:127.0.0.1]:9").addr,
            "127.0.0.1:9".parse().unwrap()
        );
    }

    #[test]
    fn refuses_everything_else() {
        for url in [
            "http://10.0.0.1:4242",
            "http://192.168.1.1",
            "http://172.16.0.1:80",
            "http://8.8.8.8:443",
            "http://0.0.0.0:4242",
            "http://[::]:4242",
            "http://[::ffff:10.0.0.1]:4242",
            "http://[2001:db8::1]:4242",
            "http://example.com",
            "http://localhost.example.com:4242",
            "http://127.0.0.1.nip.io:4242",
            "http://127.1:4242",
            "http://2130706433:4242",
            "http://user@127.0.0.1:4242",
            "http://evil.com#@127.0.0.1:4242",
        ] {
            let err = parse_base_url(url, None).expect_err(url);
            assert!(
                err.contains("refusing") || err.contains("must be just"),
                "{url}: {err}"
            );
        }
    }

    #[test]
    fn refuses_malformed() {
        for url in [
            "127.0.0.1:4242",
            "ftp://127.0.0.1",
            "http://127.0.0.1:4242/v1",
            "http://127.0.0.1:0",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:x",
            "http://",
            "http://[::1",
            "http://::1:4242",
        ] {
            assert!(parse_base_url(url, None).is_err(), "{url} was accepted");
        }
    }

    #[test]
    fn https_needs_a_ca() {
        assert_eq!(
            parse_base_url("https://127.0.0.1:4242", None),
            Err(HTTPS_NEEDS_CA.to_owned())
        );
        let ca = PathBuf::from("ca.pem");
        assert!(parse_base_url("http://127.0.0.1:4242", Some(&ca)).is_err());
        let t = parse_base_url("https://127.0.0.1:4242", Some(&ca)).unwrap();
        let tls = t.tls.unwrap();
        assert_eq!(tls.ca_cert, ca);
        assert!(matches!(tls.server_name, ServerName::IpAddress(_)));
        let t = parse_base_url("https://localhost", Some(&ca)).unwrap();
        assert_eq!(t.addr.port(), 443);
        assert_eq!(
            t.tls.unwrap().server_name,
            ServerName::try_from("localhost").unwrap()
        );
        // The loopback rule holds for https too.
        let err = parse_base_url("https://10.0.0.1:4242", Some(&ca)).unwrap_err();
        assert!(err.contains("refusing"), "{err}");
    }

    #[test]
    fn ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let t = parse_base_url("https://127.0.0.1:4242", Some(&empty)).unwrap();
        let err = Connector::new(&t).err().unwrap();
        assert!(err.contains("no certificate"), "{err}");
        let missing = dir.path().join("missing.pem");
        let t = parse_base_url("https://127.0.0.1:4242", Some(&missing)).unwrap();
        assert!(Connector::new(&t).err().unwrap().contains("cannot read"));
    }
}
