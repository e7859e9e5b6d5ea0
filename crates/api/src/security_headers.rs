//! Headers on every response: what the browser may do with it and how it may reach us.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;

/// Two years, subdomains included, as the seed guides and SSL Labs expect.
const HSTS: &str = "max-age=63072000; includeSubDomains";

/// For HTML pages that do not set their own policy.
const DEFAULT_HTML_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Adds Tessera's security headers to every response of `router`; HSTS only when the
/// listener serving it speaks TLS.
pub fn apply(router: Router, tls: bool) -> Router {
    router.layer(axum::middleware::map_response(
        move |mut response: Response| async move {
            let h = response.headers_mut();
            let set =
                |h: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
                    h.entry(name).or_insert(HeaderValue::from_static(value));
                };
            if tls {
                set(h, header::STRICT_TRANSPORT_SECURITY, HSTS);
            }
            set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
            set(h, header::REFERRER_POLICY, "no-referrer");
            set(
                h,
                header::HeaderName::from_static("permissions-policy"),
                "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
            );
            set(
                h,
                header::HeaderName::from_static("cross-origin-opener-policy"),
                "same-origin",
            );
            set(
                h,
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "same-origin",
            );
            set(h, header::CACHE_CONTROL, "no-store");
            let html = h
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html"));
            // Pages with their own policy (the 3-D Secure challenge) keep it.
            if html && !h.contains_key(header::CONTENT_SECURITY_POLICY) {
                set(h, header::CONTENT_SECURITY_POLICY, DEFAULT_HTML_CSP);
                set(h, header::X_FRAME_OPTIONS, "DENY");
            }
            h.remove(header::SERVER);
            response
        },
    ))
}
