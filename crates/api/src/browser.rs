//! What the browser origin (Tessera's vault origin: tessera.js, the card-fields frame,
//! hosted pages) needs from the API: the calls a browser makes with a publishable key,
//! the 3-D Secure challenge shown inside the merchant's page, and which merchant
//! origins may frame Tessera's pages.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use serde_json::Value;
use tessera_crypto::api_key::{self, KeyKind};
use tessera_store::Scope;

use crate::app::App;
use crate::three_d_secure::{self, Framing};
use crate::{pipeline, security_headers};

/// The most merchant origins an account may register.
pub const MAX_MERCHANT_ORIGINS: usize = 20;

/// The API calls a browser makes (with a publishable key, authorised by the pipeline
/// like any call) and the 3-D Secure challenge, framable by the account's merchant
/// origins. `tls` as in [`crate::router`].
pub fn router(app: Arc<App>, tls: bool) -> Router {
    let routes = Router::new()
        .route("/v1/payment_methods", post(pipeline::handle))
        .route("/v1/payment_intents/{id}", get(pipeline::handle))
        .route("/v1/payment_intents/{id}/confirm", post(pipeline::handle))
        .route("/3d_secure/result", get(three_d_secure::result))
        .route(
            "/3d_secure/{payment_intent}/{token}",
            get(three_d_secure::show).post(three_d_secure::submit),
        )
        .layer(axum::Extension(Framing))
        .with_state(app);
    security_headers::apply(routes, tls)
}

/// Text made safe to place in HTML, in element content and in quoted attributes.
pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Checks a merchant origin as an account registers it: `https://shop.example` or
/// `http://127.0.0.1:8080`, scheme and host (and port), nothing else.
pub fn parse_merchant_origin(origin: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "{origin:?} is not an origin: give the scheme, host and port only, e.g. https://shop.example"
        )
    };
    let (scheme, rest) = origin.split_once("://").ok_or_else(bad)?;
    if !["https", "http"].contains(&scheme) {
        return Err(bad());
    }
    let host_ok = !rest.is_empty()
        && rest.len() <= 253
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !host_ok {
        return Err(bad());
    }
    Ok(format!("{scheme}://{}", rest.to_ascii_lowercase()))
}

/// The `frame-ancestors` sources for an account's pages: its registered merchant
/// origins; with none registered, any origin in test mode on a loopback gateway, and
/// no one otherwise.
pub fn frame_ancestors(app: &App, scope: &Scope) -> String {
    let settings = app
        .store
        .read(|tx| tx.account_settings(&scope.account))
        .unwrap_or(Value::Null);
    let origins: Vec<&str> = settings["merchant_origins"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !origins.is_empty() {
        origins.join(" ")
    } else if !scope.livemode && app.config.any_merchant_origin_in_test {
        "*".to_owned()
    } else {
        "'none'".to_owned()
    }
}

/// [`frame_ancestors`] for the account that owns PaymentIntent `id`.
pub(crate) fn frame_ancestors_of_intent(app: &App, id: &str) -> String {
    match app.store.read(|tx| tx.scope_of("payment_intent", id)) {
        Ok(Some(scope)) => frame_ancestors(app, &scope),
        _ => "'none'".to_owned(),
    }
}

/// The account and mode of a publishable key, if it is one and is valid.
pub fn publishable_scope(app: &App, key: &str) -> Option<Scope> {
    let (kind, livemode) = api_key::parse_prefix(key)?;
    if kind != KeyKind::Publishable {
        return None;
    }
    let hash = api_key::hash(&app.key_hash_key, key);
    let record = app.store.read(|tx| tx.find_api_key(&hash)).ok()??;
    let valid = !record.revoked && record.kind == kind.as_str() && record.livemode == livemode;
    valid.then_some(Scope {
        account: record.account,
        livemode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merchant_origins_are_scheme_host_and_port() {
        assert_eq!(
            parse_merchant_origin("https://Shop.Example").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            parse_merchant_origin("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "shop.example",
            "ftp://shop.example",
            "https://shop.example/pay",
            "https://",
            "https://a b",
            "https://shop.example'; script-src *",
        ] {
            assert!(parse_merchant_origin(bad).is_err(), "{bad}");
        }
    }
}

/// A Checkout Session as its hosted page shows it.
#[derive(Debug, Clone)]
pub struct CheckoutView {
    /// `cs_test_…`
    pub id: String,
    /// `open`, `complete` or `expired`.
    pub status: String,
    /// Lower-case ISO currency.
    pub currency: String,
    /// The total, in the currency's minor unit, as the merchant's server priced it.
    pub amount_total: i64,
    /// (name, quantity, line total in minor units)
    pub items: Vec<(String, i64, i64)>,
    /// Prefilled email, if the merchant gave one.
    pub customer_email: Option<String>,
    /// Where the shopper goes when they leave without paying.
    pub cancel_url: Option<String>,
}

/// What the hosted page does next.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckoutStep {
    /// Send the shopper there: the challenge, or the merchant's success page.
    Redirect(String),
    /// Show the shopper this message and let them try again.
    Error(String),
}

/// Checkout Session `id`, found by its id alone (what the hosted page's address
/// carries), with its account and mode.
fn session(app: &App, id: &str) -> Option<(Scope, tessera_store::StoredObject)> {
    let kind = tessera_core::ids::ObjectKind::CheckoutSession.object_name();
    app.store
        .read(|tx| {
            let Some(scope) = tx.scope_of(kind, id)? else {
                return Ok(None);
            };
            Ok::<_, tessera_store::StoreError>(tx.get_object(&scope, kind, id)?.map(|s| (scope, s)))
        })
        .ok()?
}

/// The PaymentIntent a session pays with.
fn intent_of(app: &App, scope: &Scope, session: &Value) -> Option<tessera_store::StoredObject> {
    let id = session["payment_intent"].as_str()?;
    let kind = tessera_core::ids::ObjectKind::PaymentIntent.object_name();
    app.store.read(|tx| tx.get_object(scope, kind, id)).ok()?
}

/// The session `id` (its id is what the hosted page's address carries).
pub fn checkout_session(app: &App, id: &str) -> Option<CheckoutView> {
    let (_, found) = session(app, id)?;
    let doc = &found.doc;
    let items = found.private["line_items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    (
                        i["description"].as_str().unwrap_or_default().to_owned(),
                        i["quantity"].as_i64().unwrap_or(0),
                        i["amount_total"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Some(CheckoutView {
        id: id.to_owned(),
        status: doc["status"].as_str().unwrap_or_default().to_owned(),
        currency: doc["currency"].as_str().unwrap_or_default().to_owned(),
        amount_total: doc["amount_total"].as_i64().unwrap_or(0),
        items,
        customer_email: doc["customer_email"].as_str().map(str::to_owned),
        cancel_url: doc["cancel_url"].as_str().map(str::to_owned),
    })
}

fn success_url(doc: &Value, id: &str) -> String {
    doc["success_url"]
        .as_str()
        .unwrap_or_default()
        .replace("{CHECKOUT_SESSION_ID}", id)
}

fn message_of(answer: &str) -> String {
    serde_json::from_str::<Value>(answer)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "The payment could not be completed. Try again.".to_owned())
}

/// The fields the hosted page may send: the card and who pays. Anything else (an
/// amount, a currency) is not taken from the browser.
const CHECKOUT_FIELDS: [&str; 6] = [
    "card[number]",
    "card[exp_month]",
    "card[exp_year]",
    "card[cvc]",
    "billing_details[name]",
    "billing_details[email]",
];

/// Pays session `id` with the card the hosted page posted (`form`, urlencoded): the
/// card becomes a PaymentMethod and the session's PaymentIntent is confirmed with it,
/// both through the pipeline as the shopper's browser (`connection`) would.
pub fn checkout_pay(
    app: &App,
    id: &str,
    form: &[u8],
    connection: Option<crate::Connection>,
) -> CheckoutStep {
    let closed = || CheckoutStep::Error("This checkout is no longer open.".to_owned());
    let Some((scope, session)) = session(app, id) else {
        return closed();
    };
    if session.doc["status"] != "open" {
        return closed();
    }
    let Some(intent) = intent_of(app, &scope, &session.doc) else {
        return closed();
    };
    let intent_id = intent.doc["id"].as_str().unwrap_or_default();
    let mut body = form_urlencoded::Serializer::new(String::new());
    body.append_pair("type", "card");
    for (k, v) in form_urlencoded::parse(form) {
        if CHECKOUT_FIELDS.contains(&k.as_ref()) {
            body.append_pair(&k, &v);
        }
    }
    let shopper = crate::auth::Caller::shopper(scope.clone());
    // The card passes through here on its way to the vault: wiped once sent.
    let body = zeroize::Zeroizing::new(body.finish());
    // A POST through the pipeline as the shopper: the answer, or the step that shows
    // its error.
    let post = |path: &str, body: &[u8]| -> Result<Value, CheckoutStep> {
        let (status, answer) =
            app.call_with("POST", path, (None, None), body, Some(&shopper), connection);
        if status != 200 {
            return Err(CheckoutStep::Error(message_of(&answer)));
        }
        Ok(serde_json::from_str(&answer).unwrap_or_default())
    };
    let pm = match post("/v1/payment_methods", body.as_bytes()) {
        Ok(pm) => pm,
        Err(step) => return step,
    };
    let return_url = format!("{}/checkout/{id}/return", app.config.browser_base());
    let confirm = form_urlencoded::Serializer::new(String::new())
        .append_pair("payment_method", pm["id"].as_str().unwrap_or_default())
        .append_pair(
            "client_secret",
            intent.doc["client_secret"].as_str().unwrap_or_default(),
        )
        .append_pair("return_url", &return_url)
        .finish();
    let intent = match post(
        &format!("/v1/payment_intents/{intent_id}/confirm"),
        confirm.as_bytes(),
    ) {
        Ok(intent) => intent,
        Err(step) => return step,
    };
    match intent["status"].as_str() {
        Some("requires_action") => CheckoutStep::Redirect(
            intent["next_action"]["redirect_to_url"]["url"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
        Some("succeeded" | "requires_capture" | "processing") => {
            CheckoutStep::Redirect(success_url(&session.doc, id))
        }
        _ => CheckoutStep::Error("The payment could not be completed. Try again.".to_owned()),
    }
}

/// Where the shopper goes after the 3-D Secure challenge of session `id`: the
/// merchant's success page once paid, else back to the hosted page with the reason.
pub fn checkout_return(app: &App, id: &str) -> CheckoutStep {
    let Some((scope, session)) = session(app, id) else {
        return CheckoutStep::Error("This checkout is no longer open.".to_owned());
    };
    if session.doc["status"] == "complete" {
        return CheckoutStep::Redirect(success_url(&session.doc, id));
    }
    let intent = intent_of(app, &scope, &session.doc);
    let message = intent
        .as_ref()
        .and_then(|i| i.doc["last_payment_error"]["message"].as_str())
        .unwrap_or("The payment was not completed. Try again.");
    CheckoutStep::Error(message.to_owned())
}
