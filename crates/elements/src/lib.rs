//! The vault origin's browser side: what a shopper's browser loads from Tessera.
//!
//! - `tessera.js`, which merchant pages include (with its SRI hash) to mount card
//!   fields and confirm payments;
//! - the card-fields frame (`/elements/card`), where the card number and CVC are typed
//!   and from which they go to Tessera, never through the merchant's page;
//! - the page that closes a 3-D Secure challenge shown in a modal frame
//!   (`/3d_secure/done`); the challenge itself comes from the API's browser routes.
//!
//! Every script, style sheet and page is served from this origin only. Assets are
//! named by their content hash (`/assets/tessera.<hash>.js`) and served immutable;
//! `/assets.json` publishes each one's URL and `sha384` SRI hash, and `/v1/tessera.js`
//! redirects to the current version. Pages carry a strict CSP with a fresh nonce per
//! response (no inline script without it, no `eval`), and the card-fields frame may be
//! framed only by the account's registered merchant origins (any origin in test mode
//! on loopback when none are registered).
#![forbid(unsafe_code)]

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha384};
use tessera_api::App;

/// One file served under `/assets/`.
#[derive(Debug, Clone)]
pub struct Asset {
    /// Its logical name (`tessera.js`).
    pub name: &'static str,
    /// Its content-addressed file name (`tessera.3f2a….js`).
    pub file: String,
    /// `sha384-…`, for `integrity=`.
    pub integrity: String,
    content_type: &'static str,
    body: &'static str,
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, body: &'static str) -> Asset {
        let hash = hex::encode(&Sha256::digest(body.as_bytes())[..8]);
        let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
        Asset {
            name,
            file: format!("{stem}.{hash}.{ext}"),
            integrity: format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(Sha384::digest(body.as_bytes()))
            ),
            content_type,
            body,
        }
    }

    /// Its path on the vault origin.
    pub fn path(&self) -> String {
        format!("/assets/{}", self.file)
    }
}

/// Every asset the vault origin serves.
#[derive(Debug, Clone)]
pub struct Assets {
    list: Vec<Asset>,
}

impl Default for Assets {
    fn default() -> Assets {
        Assets::new()
    }
}

impl Assets {
    /// The bundled assets.
    pub fn new() -> Assets {
        const JS: &str = "text/javascript; charset=utf-8";
        const CSS: &str = "text/css; charset=utf-8";
        Assets {
            list: vec![
                Asset::new("tessera.js", JS, include_str!("../assets/tessera.js")),
                Asset::new("card-frame.js", JS, include_str!("../assets/card-frame.js")),
                Asset::new(
                    "card-frame.css",
                    CSS,
                    include_str!("../assets/card-frame.css"),
                ),
                Asset::new(
                    "challenge-done.js",
                    JS,
                    include_str!("../assets/challenge-done.js"),
                ),
                Asset::new("page.css", CSS, include_str!("../assets/page.css")),
                Asset::new("checkout.js", JS, include_str!("../assets/checkout.js")),
            ],
        }
    }

    /// The asset with logical name `name`.
    pub fn get(&self, name: &str) -> &Asset {
        self.list
            .iter()
            .find(|a| a.name == name)
            .expect("a bundled asset")
    }

    /// Every asset.
    pub fn all(&self) -> &[Asset] {
        &self.list
    }

    /// `/assets.json`: each asset's URL path and SRI hash, so merchant pages (and
    /// their build tools) can pin what they load.
    pub fn manifest(&self) -> serde_json::Value {
        let entries: serde_json::Map<String, serde_json::Value> = self
            .list
            .iter()
            .map(|a| {
                (
                    a.name.to_owned(),
                    serde_json::json!({ "path": a.path(), "integrity": a.integrity }),
                )
            })
            .collect();
        serde_json::Value::Object(entries)
    }
}

struct Origin {
    app: Arc<App>,
    assets: Assets,
}

/// The vault origin's routes: the browser side here, plus the API's browser routes
/// (`tessera_api::browser::router`): publishable-key calls and the 3-D Secure
/// challenge. `tls` as for the API.
pub fn router(app: Arc<App>, tls: bool) -> Router {
    let state = Arc::new(Origin {
        app: app.clone(),
        assets: Assets::new(),
    });
    let pages = Router::new()
        .route("/assets.json", get(manifest))
        .route("/assets/{file}", get(asset))
        .route("/v1/tessera.js", get(latest_tessera_js))
        .route("/elements/card", get(card_frame))
        .route("/3d_secure/done", get(challenge_done))
        .route("/checkout/{id}", get(checkout_page))
        .route("/checkout/{id}/pay", axum::routing::post(checkout_pay))
        .route("/checkout/{id}/return", get(checkout_return))
        .with_state(state);
    tessera_api::with_security_headers(pages, tls).merge(tessera_api::browser::router(app, tls))
}

/// Merchant pages (any origin) load these: readable cross-origin, with CORS for SRI.
fn shared_with_every_origin(h: &mut axum::http::HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
}

async fn manifest(State(origin): State<Arc<Origin>>) -> Response {
    let mut r = axum::Json(origin.assets.manifest()).into_response();
    let h = r.headers_mut();
    shared_with_every_origin(h);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn asset(State(origin): State<Arc<Origin>>, Path(file): Path<String>) -> Response {
    let Some(a) = origin.assets.all().iter().find(|a| a.file == file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut r = a.body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    // Content-addressed: a new version has a new name.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    shared_with_every_origin(h);
    r
}

async fn latest_tessera_js(State(origin): State<Arc<Origin>>) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&origin.assets.get("tessera.js").path()) {
        h.insert(header::LOCATION, v);
    }
    shared_with_every_origin(h);
    r
}

use tessera_api::browser::escape_html as escape;

/// A page of this origin with its CSP: scripts only with this response's nonce,
/// style sheets and fetches only from this origin, framed only by `frame_ancestors`.
fn page(
    status: StatusCode,
    title: &str,
    head: &str,
    body: &str,
    nonce: &str,
    frame_ancestors: &str,
) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title>{head}</head><body>{body}</body></html>",
        title = escape(title)
    );
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; connect-src 'self'; \
         img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {frame_ancestors}"
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

fn nonce() -> String {
    let mut bytes = [0u8; 18];
    tessera_crypto::random::fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn script_tag(a: &Asset, nonce: &str) -> String {
    format!(
        "<script nonce=\"{nonce}\" src=\"{}\" integrity=\"{}\"></script>",
        a.path(),
        a.integrity
    )
}

fn style_tag(a: &Asset) -> String {
    format!(
        "<link rel=\"stylesheet\" href=\"{}\" integrity=\"{}\">",
        a.path(),
        a.integrity
    )
}

#[derive(Deserialize)]
struct CardQuery {
    #[serde(default)]
    key: String,
}

/// `GET /elements/card?key=pk_…&origin=…`: the card-fields frame.
async fn card_frame(State(origin): State<Arc<Origin>>, Query(q): Query<CardQuery>) -> Response {
    let nonce = nonce();
    let app = origin.app.clone();
    let key = q.key.clone();
    let scope = tokio_blocking(move || tessera_api::browser::publishable_scope(&app, &key)).await;
    let Some(scope) = scope else {
        return page(
            StatusCode::BAD_REQUEST,
            "Card fields unavailable",
            &style_tag(origin.assets.get("page.css")),
            "<main><p>This page needs a valid publishable key.</p></main>",
            &nonce,
            "'none'",
        );
    };
    let app = origin.app.clone();
    let ancestors =
        tokio_blocking(move || tessera_api::browser::frame_ancestors(&app, &scope)).await;
    let body = format!(
        "<form id=\"card\" novalidate>{CARD_FIELDS}</form>{}",
        script_tag(origin.assets.get("card-frame.js"), &nonce)
    );
    page(
        StatusCode::OK,
        "Card details",
        &style_tag(origin.assets.get("card-frame.css")),
        &body,
        &nonce,
        &ancestors,
    )
}

/// `GET /3d_secure/done?origin=…`: where the challenge frame lands; tells tessera.js.
async fn challenge_done(State(origin): State<Arc<Origin>>) -> Response {
    let nonce = nonce();
    page(
        StatusCode::OK,
        "Authentication finished",
        &style_tag(origin.assets.get("page.css")),
        &format!(
            "<main><p>Authentication finished. Returning to the shop…</p></main>{}",
            script_tag(origin.assets.get("challenge-done.js"), &nonce)
        ),
        &nonce,
        "*",
    )
}

const CARD_FIELDS: &str = "<div class=\"field\"><label for=\"cardnumber\">Card number</label>\
     <input id=\"cardnumber\" name=\"cardnumber\" inputmode=\"numeric\" autocomplete=\"cc-number\" \
     placeholder=\"1234 1234 1234 1234\" aria-describedby=\"error\" spellcheck=\"false\">\
     <span id=\"brand\" aria-live=\"polite\"></span></div>\
     <div class=\"row\">\
     <div class=\"field\"><label for=\"exp\">Expiry date (MM / YY)</label>\
     <input id=\"exp\" name=\"exp\" inputmode=\"numeric\" autocomplete=\"cc-exp\" placeholder=\"MM / YY\" aria-describedby=\"error\"></div>\
     <div class=\"field\"><label for=\"cvc\">Security code</label>\
     <input id=\"cvc\" name=\"cvc\" inputmode=\"numeric\" autocomplete=\"cc-csc\" placeholder=\"CVC\" aria-describedby=\"error\"></div>\
     </div>\
     <p id=\"error\" role=\"alert\" aria-live=\"assertive\"></p>";

fn is_session_id(id: &str) -> bool {
    (id.starts_with("cs_test_") || id.starts_with("cs_live_"))
        && id.len() <= 80
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn not_found(origin: &Origin, nonce: &str) -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Checkout not found",
        &style_tag(origin.assets.get("page.css")),
        "<main><h1>Checkout not found</h1><p>This checkout link is not valid.</p></main>",
        nonce,
        "'none'",
    )
}

/// The hosted checkout page for session `id`, with `error` shown when a payment
/// attempt just failed.
async fn render_checkout(origin: &Arc<Origin>, id: String, error: Option<String>) -> Response {
    let nonce = nonce();
    if !is_session_id(&id) {
        return not_found(origin, &nonce);
    }
    let app = origin.app.clone();
    let lookup = id.clone();
    let Some(view) =
        tokio_blocking(move || tessera_api::browser::checkout_session(&app, &lookup)).await
    else {
        return not_found(origin, &nonce);
    };
    let currency = tessera_core::money::Currency::parse(&view.currency);
    let money = |amount: i64| match currency {
        Some(c) => format!("{} {}", c.display_amount(amount), c.code().to_uppercase()),
        None => amount.to_string(),
    };
    let head = style_tag(origin.assets.get("page.css"));
    if view.status != "open" {
        let text = if view.status == "complete" {
            "This order is paid. Thank you!"
        } else {
            "This checkout has expired. Return to the shop to start again."
        };
        return page(
            StatusCode::OK,
            "Checkout",
            &head,
            &format!("<main><h1>Checkout</h1><p id=\"closed\">{text}</p></main>"),
            &nonce,
            "'none'",
        );
    }
    let rows: String = view
        .items
        .iter()
        .map(|(name, quantity, amount)| {
            format!(
                "<tr><td>{} × {quantity}</td><td class=\"amount\">{}</td></tr>",
                escape(name),
                money(*amount)
            )
        })
        .collect();
    let cancel = view
        .cancel_url
        .as_deref()
        .map(|u| {
            format!(
                "<a class=\"cancel\" id=\"cancel\" href=\"{}\">Cancel and return to the shop</a>",
                escape(u)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<main><h1>Pay {total}</h1>\
         <table class=\"items\" aria-label=\"Order\">{rows}\
         <tr class=\"total\"><td>Total</td><td class=\"amount\" id=\"total\">{total}</td></tr></table>\
         <form id=\"checkout\" action=\"/checkout/{id}/pay\" novalidate>\
         <div class=\"field\"><label for=\"email\">Email</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" value=\"{email}\"></div>\
         {CARD_FIELDS}\
         <div class=\"field\"><label for=\"name\">Name on card</label>\
         <input id=\"name\" name=\"name\" autocomplete=\"cc-name\"></div>\
         <p id=\"message\" role=\"status\" aria-live=\"polite\">{error}</p>\
         <button id=\"pay\" type=\"submit\">Pay {total}</button></form>{cancel}</main>{card}{checkout}",
        total = money(view.amount_total),
        id = escape(&view.id),
        email = escape(view.customer_email.as_deref().unwrap_or_default()),
        error = escape(error.as_deref().unwrap_or_default()),
        card = script_tag(origin.assets.get("card-frame.js"), &nonce),
        checkout = script_tag(origin.assets.get("checkout.js"), &nonce),
    );
    // Hosted checkout is a top-level page: never framed.
    page(StatusCode::OK, "Checkout", &head, &body, &nonce, "'none'")
}

/// `GET /checkout/:id`
async fn checkout_page(State(origin): State<Arc<Origin>>, Path(id): Path<String>) -> Response {
    render_checkout(&origin, id, None).await
}

/// `POST /checkout/:id/pay` (from the hosted page's script): `{"redirect": url}` to
/// go on (challenge or success page), or `{"error": message}`.
async fn checkout_pay(
    State(origin): State<Arc<Origin>>,
    Path(id): Path<String>,
    connection: Option<axum::Extension<tessera_api::Connection>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // Only the hosted page itself (same origin) pays through here.
    let same_origin = headers
        .get("sec-fetch-site")
        .is_none_or(|v| v.as_bytes() == b"same-origin");
    if !is_session_id(&id) || !same_origin {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({ "error": "This checkout cannot be paid from here." })),
        )
            .into_response();
    }
    let app = origin.app.clone();
    let connection = connection.map(|c| c.0);
    let step =
        tokio_blocking(move || tessera_api::browser::checkout_pay(&app, &id, &body, connection))
            .await;
    let answer = match step {
        tessera_api::browser::CheckoutStep::Redirect(url) => serde_json::json!({ "redirect": url }),
        tessera_api::browser::CheckoutStep::Error(message) => {
            serde_json::json!({ "error": message })
        }
    };
    axum::Json(answer).into_response()
}

/// `GET /checkout/:id/return`: where the 3-D Secure challenge sends the shopper back.
async fn checkout_return(State(origin): State<Arc<Origin>>, Path(id): Path<String>) -> Response {
    if !is_session_id(&id) {
        return not_found(&origin, &nonce());
    }
    let app = origin.app.clone();
    let lookup = id.clone();
    let step = tokio_blocking(move || tessera_api::browser::checkout_return(&app, &lookup)).await;
    match step {
        tessera_api::browser::CheckoutStep::Redirect(url) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        tessera_api::browser::CheckoutStep::Error(message) => {
            render_checkout(&origin, id, Some(message)).await
        }
    }
}

/// Runs a store read off the async workers (the store is synchronous).
async fn tokio_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("a store read does not panic")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_named_by_content_and_carry_sri() {
        let assets = Assets::new();
        let js = assets.get("tessera.js");
        assert!(js.file.starts_with("tessera.") && js.file.ends_with(".js"));
        assert_eq!(js.file.len(), "tessera..js".len() + 16);
        assert!(js.integrity.starts_with("sha384-"));
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&js.integrity["sha384-".len()..])
                .unwrap(),
            Sha384::digest(include_str!("../assets/tessera.js").as_bytes()).to_vec()
        );
        let manifest = assets.manifest();
        assert_eq!(manifest["tessera.js"]["path"], js.path());
        assert_eq!(
            manifest["card-frame.js"]["integrity"],
            assets.get("card-frame.js").integrity
        );
    }

    #[test]
    fn elements_doc_lists_every_asset() {
        let doc = include_str!("../../../docs/ELEMENTS.md");
        for a in Assets::new().all() {
            let row = format!("| `{}` | `{}` | `{}` |", a.name, a.path(), a.integrity);
            assert!(
                doc.contains(&row),
                "docs/ELEMENTS.md's script inventory must list\n{row}"
            );
        }
    }

    #[test]
    fn pages_get_a_nonce_policy_without_eval() {
        let n = nonce();
        let r = page(StatusCode::OK, "t", "", "", &n, "'none'");
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains(&format!("script-src 'nonce-{n}'")));
        assert!(!csp.contains("unsafe"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_ne!(nonce(), n);
    }
}
