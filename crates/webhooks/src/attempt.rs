//! One delivery attempt: resolve, check every address, connect to a checked one,
//! (TLS), POST, read the first bytes of the answer. Redirects are not followed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::ssrf::AddressPolicy;

/// How an attempt went.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub status: Option<u16>,
    pub latency: Duration,
    pub response_body: String,
    pub error: Option<String>,
}

impl Outcome {
    pub(crate) fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Bytes of the endpoint's answer that are kept.
const KEPT_RESPONSE_BYTES: usize = 2048;

/// Where an endpoint URL points.
pub struct Target {
    host: String,
    port: u16,
    https: bool,
    path: String,
}

/// Parses an endpoint URL: `http` or `https`, a host, an optional port and path.
pub fn parse(url: &str) -> Result<Target, String> {
    let uri: Uri = url
        .parse()
        .map_err(|_| "the endpoint URL is not a valid URL".to_owned())?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("the endpoint URL must be http:// or https://".into()),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or("the endpoint URL has no host")?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    Ok(Target {
        host,
        port,
        https,
        path,
    })
}

/// Resolves the host and keeps the first address the policy allows.
async fn checked_address(
    target: &Target,
    policy: AddressPolicy,
    timeout: Duration,
) -> Result<SocketAddr, String> {
    let addresses: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::time::timeout(
            timeout,
            tokio::net::lookup_host((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| format!("resolving {} timed out", target.host))?
        .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
        .collect(),
    };
    let mut refusals = Vec::new();
    for address in &addresses {
        match policy.refusal(address.ip()) {
            None => return Ok(*address),
            Some(why) => refusals.push(format!("{} ({why})", address.ip())),
        }
    }
    Err(format!(
        "refused before connecting: {} resolves only to addresses webhooks may not reach: {}",
        target.host,
        refusals.join(", ")
    ))
}

/// One attempt to make.
pub(crate) struct Attempt<'a> {
    pub url: &'a str,
    pub body: &'a str,
    pub signature: &'a str,
    pub require_https: bool,
    pub policy: AddressPolicy,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub tls: &'a Arc<rustls::ClientConfig>,
}

/// Makes the attempt. Never panics; every failure is an `error`.
pub(crate) async fn post(r: &Attempt<'_>) -> Outcome {
    let started = Instant::now();
    let result = tokio::time::timeout(r.timeout, post_inner(r)).await;
    let latency = started.elapsed();
    match result {
        Ok(Ok((status, body))) => Outcome {
            status: Some(status),
            latency,
            response_body: body,
            error: None,
        },
        Ok(Err(error)) => Outcome {
            status: None,
            latency,
            response_body: String::new(),
            error: Some(error),
        },
        Err(_) => Outcome {
            status: None,
            latency,
            response_body: String::new(),
            error: Some(format!("no answer within {} ms", r.timeout.as_millis())),
        },
    }
}

async fn post_inner(r: &Attempt<'_>) -> Result<(u16, String), String> {
    let target = parse(r.url)?;
    if r.require_https && !target.https {
        return Err("live-mode deliveries go to https:// endpoints only".into());
    }
    let address = checked_address(&target, r.policy, r.connect_timeout).await?;
    let tcp = tokio::time::timeout(r.connect_timeout, TcpStream::connect(address))
        .await
        .map_err(|_| format!("connecting to {address} timed out"))?
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    if target.https {
        let name = ServerName::try_from(target.host.clone())
            .map_err(|_| "invalid TLS server name".to_owned())?;
        let tls = tokio_rustls::TlsConnector::from(r.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {} failed: {e}", target.host))?;
        send(TokioIo::new(tls), &target, r).await
    } else {
        send(TokioIo::new(tcp), &target, r).await
    }
}

async fn send<I>(io: I, target: &Target, r: &Attempt<'_>) -> Result<(u16, String), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let default_port = if target.https { 443 } else { 80 };
    let host = match (target.host.contains(':'), target.port == default_port) {
        (true, true) => format!("[{}]", target.host),
        (true, false) => format!("[{}]:{}", target.host, target.port),
        (false, true) => target.host.clone(),
        (false, false) => format!("{}:{}", target.host, target.port),
    };
    let request = Request::post(target.path.as_str())
        .header("host", host)
        .header("content-type", "application/json; charset=utf-8")
        .header("user-agent", "Tessera/1.0 (+webhooks)")
        .header("stripe-signature", r.signature)
        .header("cache-control", "no-cache")
        .body(Full::new(Bytes::copy_from_slice(r.body.as_bytes())))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut kept = Vec::new();
    while kept.len() < KEPT_RESPONSE_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    kept.extend_from_slice(
                        &data[..data.len().min(KEPT_RESPONSE_BYTES - kept.len())],
                    );
                }
            }
            _ => break,
        }
    }
    Ok((status, String::from_utf8_lossy(&kept).into_owned()))
}
