//! The simulated 3-D Secure challenge a shopper completes in test mode.
//!
//! `next_action.redirect_to_url.url` points here. The page offers "Complete" and
//! "Fail"; the answer moves the PaymentIntent on and sends the shopper back to the
//! merchant's `return_url` with Stripe's query parameters.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::App;
use crate::form::printable;
use crate::pipeline::Failure;
use crate::resources::payment_intents::complete_challenge;

use crate::browser::escape_html as escape;

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// On the browser origin the challenge is shown inside the merchant's page (a modal
/// frame opened by tessera.js): these are the origins that may frame it.
#[derive(Clone)]
pub(crate) struct Framing;

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    framed_page(status, title, body, "'none'")
}

fn framed_page(status: StatusCode, title: &str, body: &str, frame_ancestors: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
         <body><main><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title)
    );
    // The form posts here and is then redirected to the merchant's return_url, which
    // form-action also governs; the page runs no script at all.
    let csp = format!(
        "default-src 'none'; form-action 'self' https: http:; frame-ancestors {frame_ancestors}; base-uri 'none'"
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // no-store, nosniff and the rest come from the router's security-headers layer.
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

/// `GET /3d_secure/:payment_intent/:token`
pub(crate) async fn show(
    State(app): State<Arc<App>>,
    framing: Option<axum::Extension<Framing>>,
    Path((pi, token)): Path<(String, String)>,
) -> Response {
    if !is_token(&pi) || !is_token(&token) {
        return page(
            StatusCode::NOT_FOUND,
            "Authentication link not valid",
            "<p>This link is not valid.</p>",
        );
    }
    let body = format!(
        "<p>Tessera test mode: this page stands in for your bank's 3-D Secure check.</p>\
         <form method=\"post\" action=\"/3d_secure/{pi}/{token}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <button type=\"submit\" name=\"result\" value=\"complete\">Complete authentication</button> \
         <button type=\"submit\" name=\"result\" value=\"fail\">Fail authentication</button>\
         </form>",
        pi = escape(&pi),
        token = escape(&token)
    );
    let ancestors = match framing {
        Some(_) => crate::browser::frame_ancestors_of_intent(&app, &pi),
        None => "'none'".to_owned(),
    };
    framed_page(
        StatusCode::OK,
        "Authenticate your payment",
        &body,
        &ancestors,
    )
}

/// The challenge form.
#[derive(Deserialize)]
pub(crate) struct Answer {
    result: String,
    #[serde(default)]
    token: Option<String>,
}

/// `POST /3d_secure/:payment_intent/:token`
pub(crate) async fn submit(
    State(app): State<Arc<App>>,
    Path((pi, token)): Path<(String, String)>,
    Form(answer): Form<Answer>,
) -> Response {
    let authenticated = match answer.result.as_str() {
        "complete" => true,
        "fail" => false,
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                "Unknown answer",
                "<p>Choose complete or fail.</p>",
            );
        }
    };
    if answer.token.as_deref().is_some_and(|t| t != token) || !is_token(&pi) || !is_token(&token) {
        return page(
            StatusCode::BAD_REQUEST,
            "Authentication link not valid",
            "<p>This link is not valid.</p>",
        );
    }
    let result =
        tokio::task::spawn_blocking(move || complete_challenge(&app, &pi, &token, authenticated))
            .await;
    let (intent, return_url) = match result {
        Ok(Ok(r)) => r,
        Ok(Err(Failure::Api(e))) => {
            return page(
                StatusCode::BAD_REQUEST,
                "Authentication not possible",
                &format!("<p>{}</p>", escape(&e.message)),
            );
        }
        Ok(Err(Failure::Internal(cause))) => {
            tracing::error!("3-D Secure completion failed: {cause}");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Try again in a moment.</p>",
            );
        }
        Err(join) => {
            tracing::error!("3-D Secure completion panicked: {join}");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Try again in a moment.</p>",
            );
        }
    };
    let status = intent["status"].as_str().unwrap_or_default();
    let redirect_status = if ["succeeded", "requires_capture", "processing"].contains(&status) {
        "succeeded"
    } else {
        "failed"
    };
    let id = intent["id"].as_str().unwrap_or_default();
    let secret = intent["client_secret"].as_str().unwrap_or_default();
    match return_url {
        Some(url) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            let location = format!(
                "{url}{sep}payment_intent={id}&payment_intent_client_secret={secret}&redirect_status={redirect_status}"
            );
            let mut response = StatusCode::SEE_OTHER.into_response();
            match HeaderValue::from_str(&location) {
                Ok(v) => {
                    response.headers_mut().insert(header::LOCATION, v);
                }
                Err(_) => {
                    return page(
                        StatusCode::BAD_REQUEST,
                        "Return address not valid",
                        "<p>The merchant's return address is not valid.</p>",
                    );
                }
            }
            response
        }
        // No return_url: the shopper lands on Tessera's own result page.
        None => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            let location =
                format!("/3d_secure/result?payment_intent={id}&redirect_status={redirect_status}");
            if let Ok(v) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            response
        }
    }
}

/// Where a shopper without a `return_url` lands.
#[derive(Deserialize)]
pub(crate) struct ResultQuery {
    #[serde(default)]
    payment_intent: String,
    #[serde(default)]
    redirect_status: String,
}

/// `GET /3d_secure/result`
pub(crate) async fn result(axum::extract::Query(q): axum::extract::Query<ResultQuery>) -> Response {
    let done = q.redirect_status == "succeeded";
    page(
        StatusCode::OK,
        if done {
            "Authentication complete"
        } else {
            "Authentication failed"
        },
        &format!(
            "<p>Payment {} {}. You can close this window and return to the shop.</p>",
            escape(&printable(&q.payment_intent)),
            if done {
                "was authenticated"
            } else {
                "was not authenticated"
            }
        ),
    )
}
