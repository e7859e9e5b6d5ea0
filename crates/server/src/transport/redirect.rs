//! The plain-HTTP listener beside an HTTPS one: answers ACME HTTP-01 challenges and
//! sends everything else to HTTPS with a 308 (method and body preserved).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::acme::Challenges;

#[derive(Clone)]
struct Target {
    challenges: Challenges,
    https_port: u16,
    public_host: Option<String>,
}

/// The router: challenges, then redirects to `https://<host>:<https_port>`. The host is
/// the configured public host when there is one, else the request's own host name.
pub fn router(challenges: Challenges, https_port: u16, public_host: Option<String>) -> Router {
    let target = Target {
        challenges,
        https_port,
        public_host,
    };
    let routes = Router::new()
        .route(
            "/.well-known/acme-challenge/{token}",
            axum::routing::get(challenge),
        )
        .fallback(redirect)
        .with_state(target);
    tessera_api::with_security_headers(routes, false)
}

async fn challenge(State(t): State<Target>, Path(token): Path<String>) -> Response {
    let answer = t
        .challenges
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&token)
        .cloned();
    match answer {
        Some(key_authorization) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            key_authorization,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn host_name(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let name = match host.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next()?),
        None => host.split(':').next()?.to_owned(),
    };
    let plausible = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    plausible.then_some(name)
}

async fn redirect(State(t): State<Target>, headers: HeaderMap, uri: Uri) -> Response {
    let Some(host) = t.public_host.clone().or_else(|| host_name(&headers)) else {
        return (
            StatusCode::BAD_REQUEST,
            "This address serves HTTPS only; send a Host header.",
        )
            .into_response();
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = if t.https_port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{}{path}", t.https_port)
    };
    match HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}
