//! A minimal HTTP/1.1 client: one keep-alive connection per client task, over whatever
//! [`Stream`](crate::target::Stream) the connector gives.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

use crate::target::Connector;

/// Sent with every request, as the SDKs send their own.
const USER_AGENT: &str = concat!("tessera-loadgen/", env!("CARGO_PKG_VERSION"));
/// The API version the official SDKs pin (see shared/STRIPE_WIRE.md).
const STRIPE_VERSION: &str = "2026-10-28.endive";

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Connecting, sending or reading failed.
    Connection,
    /// No complete response within the timeout.
    Timeout,
}

impl Failure {
    /// The label used in error tables.
    pub fn label(self) -> &'static str {
        match self {
            Failure::Connection => "connection",
            Failure::Timeout => "timeout",
        }
    }
}

/// One request to make.
pub struct Call<'a> {
    /// GET or POST.
    pub method: Method,
    /// Path and query, e.g. `/v1/payment_intents?limit=10`.
    pub path: &'a str,
    /// Secret key for `Authorization: Bearer`, if any.
    pub bearer: Option<&'a str>,
    /// Form body (POST).
    pub form: Option<String>,
    /// `Idempotency-Key` (POST).
    pub idempotency_key: Option<String>,
}

/// One client: a connection that is opened on first use and reopened after a failure.
pub struct Client {
    connector: Arc<Connector>,
    host: HeaderValue,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    /// A client that connects lazily.
    pub fn new(connector: Arc<Connector>, host: &str, timeout: Duration) -> Client {
        Client {
            connector,
            host: HeaderValue::from_str(host).unwrap_or(HeaderValue::from_static("localhost")),
            timeout,
            sender: None,
        }
    }

    /// Sends one request and reads the whole response.
    pub async fn send(&mut self, call: Call<'_>) -> Result<Reply, Failure> {
        match tokio::time::timeout(self.timeout, self.send_inner(call)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(failure)) => {
                self.sender = None;
                Err(failure)
            }
            Err(_) => {
                self.sender = None;
                Err(Failure::Timeout)
            }
        }
    }

    async fn send_inner(&mut self, call: Call<'_>) -> Result<Reply, Failure> {
        let request = self.build(call)?;
        let sender = self.ready_sender().await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| Failure::Connection)?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| Failure::Connection)?
            .to_bytes();
        Ok(Reply { status, body })
    }

    fn build(&self, call: Call<'_>) -> Result<Request<Full<Bytes>>, Failure> {
        let mut builder = Request::builder()
            .method(call.method)
            .uri(call.path)
            .header(header::HOST, self.host.clone())
            .header(header::USER_AGENT, USER_AGENT)
            .header("Stripe-Version", STRIPE_VERSION);
        if let Some(key) = call.bearer {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        if let Some(key) = call.idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        let body = match call.form {
            Some(form) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Full::new(Bytes::from(form))
            }
            None => Full::new(Bytes::new()),
        };
        // Only malformed keys or paths can fail here; report them as a connection-level
        // failure rather than panicking in a worker.
        builder.body(body).map_err(|_| Failure::Connection)
    }

    /// The connection's sender once it can take a request, reconnecting if the server
    /// closed the previous connection (that is not counted as an error).
    async fn ready_sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, Failure> {
        if let Some(sender) = self.sender.as_mut()
            && sender.ready().await.is_err()
        {
            self.sender = None;
        }
        if self.sender.is_none() {
            let stream = self
                .connector
                .connect()
                .await
                .map_err(|_| Failure::Connection)?;
            let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|_| Failure::Connection)?;
            tokio::spawn(async move {
                // Ends when the sender is dropped or the server closes the connection.
                let _ = connection.await;
            });
            sender.ready().await.map_err(|_| Failure::Connection)?;
            self.sender = Some(sender);
        }
        self.sender.as_mut().ok_or(Failure::Connection)
    }
}

/// Encodes `application/x-www-form-urlencoded` pairs the way the SDKs do (brackets
/// percent-encoded).
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(pairs.len() * 24);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, k);
        out.push('=');
        encode_into(&mut out, v);
    }
    out
}

fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(
            form(&[
                ("card[number]", "4242"),
                ("amount", "1000"),
                ("x", "a b&c=d/é")
            ]),
            "card%5Bnumber%5D=4242&amount=1000&x=a%20b%26c%3Dd%2F%C3%A9"
        );
        assert_eq!(form(&[]), "");
    }
}
