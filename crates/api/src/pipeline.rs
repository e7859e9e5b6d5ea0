//! The request pipeline shared by every `/v1` endpoint.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tessera_core::ApiError;
use tessera_crypto::{keyed_hash, random};
use tessera_store::{IdempotencyClaim, Scope, StoreError};

use crate::app::App;
use crate::auth::{self, Caller};
use crate::form::{self, Params, printable};
use crate::idempotency::Claim;
use crate::rate_limit::Subject;
use crate::routes::Call;
use crate::{expand, resources};

/// Why an operation did not succeed: an answer for the caller, or an internal
/// failure whose cause is logged and never shown.
#[derive(Debug)]
pub(crate) enum Failure {
    Api(ApiError),
    Internal(String),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::Api(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Internal(e.to_string())
    }
}

/// Result of an operation.
pub(crate) type Outcome<T> = Result<T, Failure>;

/// What an operation sees of its request.
pub(crate) struct Ctx<'a> {
    pub app: &'a App,
    pub caller: &'a Caller,
    pub request_id: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub now: i64,
    /// The shopper's address: the peer of a publishable-key call (a browser or an
    /// app). Calls with secret keys come from the merchant's servers and carry none.
    pub client_ip: Option<std::net::IpAddr>,
    /// The request's writes, on disk together before it is answered.
    pub unit: &'a tessera_store::Unit<'a>,
    /// The request's idempotency claim, if it carries a key: written with the
    /// request's first write ([`Ctx::write`]), which sets `claimed`.
    pub claim: Option<&'a Claim>,
    pub claimed: Cell<bool>,
}

impl Ctx<'_> {
    pub(crate) fn scope(&self) -> &Scope {
        &self.caller.scope
    }

    /// The object an earlier request with this request's key was working on when its
    /// process died, if any: the request carries on with it.
    pub(crate) fn resume_from(&self) -> Option<&str> {
        self.claim.and_then(|c| c.resume_from.as_deref())
    }

    /// Notes `object` as what this request is working on, with its idempotency claim,
    /// in the write `tx` (see [`Tx::set_idempotency_resume`]). Nothing without a key.
    ///
    /// [`Tx::set_idempotency_resume`]: tessera_store::Tx::set_idempotency_resume
    pub(crate) fn set_resume_point(&self, tx: &tessera_store::Tx<'_>, object: &str) -> Outcome<()> {
        if let Some(claim) = self.claim {
            tx.set_idempotency_resume(self.scope(), &claim.key, object)?;
        }
        Ok(())
    }

    /// Writes as part of this request. Later writes see the work at once; reads see it
    /// once committed ([`Ctx::commit`]); it is on disk before the request is answered:
    /// the pipeline flushes once, for all of the request's writes, before it responds.
    ///
    /// The first write also claims the request's idempotency key, if it has one; a
    /// write that fails is rolled back with its claim, which then goes with the next.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&tessera_store::Tx<'_>) -> Outcome<T>,
    ) -> Outcome<T> {
        let unclaimed = self.claim.filter(|_| !self.claimed.get());
        let written = self.unit.write(|tx| {
            if let Some(c) = unclaimed {
                tx.claim_idempotency_key(self.scope(), &c.key_use())?;
            }
            f(tx)
        });
        if written.is_ok() && unclaimed.is_some() {
            self.claimed.set(true);
        }
        written
    }

    /// Makes this request's writes so far visible to reads (`app.store.read`).
    pub(crate) fn commit(&self) -> Outcome<()> {
        Ok(self.unit.commit()?)
    }

    /// Puts this request's writes so far on disk.
    pub(crate) fn flush(&self) -> Outcome<()> {
        Ok(self.unit.flush()?)
    }

    /// The request's time in unix milliseconds, for scheduling.
    pub(crate) fn now_ms(&self) -> i64 {
        self.now * 1000
    }
}

/// The API version Tessera's objects and events follow.
pub(crate) const API_VERSION: &str = "2026-10-28.endive";

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

struct Answer {
    status: u16,
    body: String,
    replayed: bool,
    label: &'static str,
    retry_after: Option<u64>,
}

/// How a request reached Tessera, attached to each request by the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// The axum handler behind every `/v1` path.
pub(crate) async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = random::object_id("req_");
    let (parts, body) = request.into_parts();
    // In-process calls (no listener) count as local and secure.
    let connection = parts.extensions.get::<Connection>().copied();
    let ip_limited = connection.and_then(|c| {
        app.limiter
            .take(
                Subject::Ip(c.peer.ip()),
                app.config.rate_limits.ip,
                Instant::now(),
            )
            .err()
    });
    let answer = match Call::parse(&parts.method, parts.uri.path()) {
        _ if ip_limited.is_some() => limited_answer(ip_limited.unwrap_or(1), "rate_limited"),
        None => {
            let path: Vec<String> = parts.uri.path().split('/').map(printable).collect();
            error_answer(
                &ApiError::unrecognized_url(parts.method.as_str(), &path.join("/")),
                "unrouted",
            )
        }
        Some(call) => {
            let label = call.label();
            let announced = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body = if announced.is_some_and(|n| n > app.config.max_body_bytes as u64) {
                // Refused on its announced size, without waiting for the body.
                Err(ApiError::too_large(app.config.max_body_bytes))
            } else if parts.method == Method::POST {
                let read = axum::body::to_bytes(body, app.config.max_body_bytes);
                match tokio::time::timeout(app.config.body_read_timeout, read).await {
                    Ok(Ok(b)) => Ok(b),
                    Ok(Err(_)) => Err(ApiError::too_large(app.config.max_body_bytes)),
                    Err(_) => Err(ApiError::bad_request(
                        "The request body was not received in time.",
                    )
                    .with_code("request_timeout")),
                }
            } else {
                Ok(Bytes::new())
            };
            match body {
                Err(e) => error_answer(&e, label),
                Ok(body) => {
                    let app = app.clone();
                    let id = request_id.clone();
                    let query = parts.uri.query().unwrap_or_default().to_owned();
                    let headers = parts.headers.clone();
                    let method = parts.method.clone();
                    let path = parts.uri.path().to_owned();
                    tokio::task::spawn_blocking(move || {
                        let request = Incoming { method: &method, path: &path, headers: &headers, query: &query, body: &body, connection, operator: None };
                        process(&app, call, &request, &id)
                    })
                    .await
                    .unwrap_or_else(|join_error| {
                        tracing::error!(request_id = %request_id, "request handler panicked: {join_error}");
                        error_answer(&ApiError::internal(), label)
                    })
                }
            }
        }
    };
    tracing::info!(
        request_id = %request_id,
        call = answer.label,
        status = answer.status,
        replayed = answer.replayed,
        ms = started.elapsed().as_millis() as u64,
        "api request"
    );
    respond(answer, &request_id, parts.headers.get("idempotency-key"))
}

/// A request as the pipeline sees it.
struct Incoming<'a> {
    method: &'a Method,
    path: &'a str,
    headers: &'a HeaderMap,
    query: &'a str,
    body: &'a [u8],
    connection: Option<Connection>,
    /// Already authenticated: the operator's command line.
    operator: Option<&'a Caller>,
}

fn limited_answer(retry_after: u64, label: &'static str) -> Answer {
    let mut answer = error_answer(&ApiError::rate_limited(), label);
    answer.retry_after = Some(retry_after);
    answer
}

fn error_answer(e: &ApiError, label: &'static str) -> Answer {
    Answer {
        status: e.status,
        body: e.to_body().to_string(),
        replayed: false,
        label,
        retry_after: None,
    }
}

fn respond(answer: Answer, request_id: &str, idempotency_key: Option<&HeaderValue>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Cache-Control, nosniff and the other security headers come from the router's
    // layer (security_headers), which every response passes through.
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("request-id", v);
    }
    if let Some(k) = idempotency_key {
        headers.insert("idempotency-key", k.clone());
    }
    if let Some(seconds) = answer.retry_after
        && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
    {
        headers.insert(header::RETRY_AFTER, v);
    }
    if answer.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    // The SDKs retry on 409 and 5xx with the same key; say so explicitly.
    let retry = answer.status == 409 || answer.status >= 500;
    headers.insert(
        "stripe-should-retry",
        HeaderValue::from_static(if retry { "true" } else { "false" }),
    );
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, headers, Body::from(answer.body)).into_response()
}

/// Whether a response is kept for idempotent replay: executed outcomes are, requests
/// rejected before execution (bad parameters, wrong state) are not.
fn is_kept(status: u16) -> bool {
    (200..300).contains(&status) || status == 402 || status >= 500
}

fn process(app: &App, call: Call, request: &Incoming<'_>, request_id: &str) -> Answer {
    let Incoming {
        method,
        path,
        headers,
        query,
        body,
        connection,
        operator,
    } = *request;
    let label = call.label();
    let fail = |failure: Failure| -> Answer {
        let e = match failure {
            Failure::Api(e) => e,
            Failure::Internal(cause) => {
                tracing::error!(request_id = %request_id, call = label, "internal error: {cause}");
                ApiError::internal()
            }
        };
        error_answer(&e, label)
    };

    // GET and DELETE ignore bodies (the Node SDK sends a Content-Type on GET).
    let body = if method == Method::POST { body } else { &[] };
    let mut params = match form::decode(query, body) {
        Ok(p) => p,
        Err(e) => return error_answer(&e, label),
    };
    let authenticated = match operator {
        Some(c) => Ok(c.clone()),
        None => app
            .store
            .read(|tx| auth::authenticate(app, tx, headers, &mut params)),
    };
    let caller = match authenticated {
        Ok(c) => c,
        Err(f) => return fail(f),
    };
    if let Err(e) = caller.authorize(&call) {
        return error_answer(&e, label);
    }
    // Live keys travel only over TLS (in-process calls have no network to cross).
    if caller.scope.livemode && connection.is_some_and(|c| !c.tls) {
        let e = ApiError::permission(
            "Live-mode keys must be sent over HTTPS. This request arrived over plain HTTP; use the https:// address, and roll this key if it crossed a network.",
        );
        return error_answer(&e, label);
    }
    if let (true, Some(c)) = (caller.is_publishable(), connection)
        && let Some(retry) =
            app.card_testing
                .blocked(&caller.scope.account, c.peer.ip(), Instant::now())
    {
        let mut e = ApiError::rate_limited();
        e.message =
            "Too many declined card attempts came from this address. Try again later.".to_owned();
        let mut answer = error_answer(&e, label);
        answer.retry_after = Some(retry);
        return answer;
    }
    if connection.is_some() {
        let limits = &app.config.rate_limits;
        let rate = if caller.is_publishable() {
            limits.publishable
        } else {
            limits.key
        };
        if let Err(retry) = app
            .limiter
            .take(Subject::Key(caller.key_hash), rate, Instant::now())
        {
            return limited_answer(retry, label);
        }
    }
    let expand = match params.strings("expand") {
        Ok(e) => e.unwrap_or_default(),
        Err(e) => return error_answer(&e, label),
    };
    if let Some(bad) = expand.iter().find(|p| p.split('.').count() > 4) {
        let e = ApiError::invalid_request(
            "expand",
            format!(
                "You cannot expand more than 4 levels of a property ({}).",
                printable(bad)
            ),
        );
        return error_answer(&e, label);
    }

    let unit = app.store.unit();
    let idempotency_key = match idempotency_key(method, headers) {
        Ok(k) => k,
        Err(e) => return error_answer(&e, label),
    };
    // The key is held until the request has answered (dropped after the flush below).
    let (claim, _held) = match &idempotency_key {
        None => (None, None),
        Some(key) => {
            let Some(held) = app.idempotency_in_flight.hold(&caller.scope, key) else {
                return error_answer(&ApiError::idempotency_in_flight(), label);
            };
            let endpoint = format!("{method} {path}");
            let mut claim = Claim {
                key: key.clone(),
                request_hash: keyed_hash(
                    &app.request_hash_key,
                    format!("{endpoint}\n{}", params.canonical()).as_bytes(),
                ),
                endpoint,
                started_at: unix_now(),
                resume_from: None,
                serving_alone: app.store.serves_alone(),
            };
            let looked_up = app
                .store
                .read(|tx| tx.look_up_idempotency_key(&caller.scope, &claim.key_use()));
            match looked_up {
                Err(e) => return fail(e.into()),
                Ok(IdempotencyClaim::Execute) => {}
                Ok(IdempotencyClaim::Resume { object }) => {
                    tracing::warn!(
                        request_id = %request_id,
                        object = %object,
                        "resuming a request whose process stopped before it answered"
                    );
                    claim.resume_from = Some(object);
                }
                Ok(IdempotencyClaim::Replay { status, body }) => {
                    // The stored answer may come from a request still flushing.
                    if let Err(e) = app.store.flush_all() {
                        return fail(e.into());
                    }
                    return Answer {
                        status,
                        body,
                        replayed: true,
                        retry_after: None,
                        label,
                    };
                }
                Ok(IdempotencyClaim::InFlight) => {
                    return error_answer(&ApiError::idempotency_in_flight(), label);
                }
                Ok(IdempotencyClaim::Mismatch) => {
                    let e = ApiError::idempotency(format!(
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{}' if you meant to execute a different request.",
                        printable(key)
                    ));
                    return error_answer(&e, label);
                }
            }
            (Some(claim), Some(held))
        }
    };

    let ctx = Ctx {
        app,
        caller: &caller,
        request_id,
        idempotency_key: idempotency_key.as_deref(),
        now: unix_now(),
        client_ip: connection
            .filter(|_| caller.is_publishable())
            .map(|c| c.peer.ip().to_canonical()),
        unit: &unit,
        claim: claim.as_ref(),
        claimed: Cell::new(false),
    };
    let outcome = execute(&ctx, call, params).and_then(|value| {
        if expand.is_empty() {
            Ok(value)
        } else {
            // Expansion reads what this request wrote.
            ctx.commit()?;
            app.store.read(|tx| expand::apply(tx, &ctx, value, &expand))
        }
    });
    // serde_json's writer rather than `Display`, which goes through the formatter piece
    // by piece. (A `Value` always serialises: its keys are strings.)
    let outcome = outcome.and_then(|value| {
        serde_json::to_string(&value).map_err(|e| Failure::Internal(e.to_string()))
    });
    let answer = match outcome {
        Ok(body) => Answer {
            status: 200,
            body,
            replayed: false,
            retry_after: None,
            label,
        },
        Err(f) => fail(f),
    };

    if let Some(claim) = &claim {
        let stored = if is_kept(answer.status) {
            unit.complete_idempotency_key(
                &caller.scope,
                &claim.key_use(),
                answer.status,
                &answer.body,
            )
        } else if ctx.claimed.get() {
            unit.write(|tx| tx.release_idempotency_key(&caller.scope, &claim.key))
        } else {
            // Nothing to forget: no write carried the claim.
            Ok(())
        };
        if let Err(e) = stored {
            tracing::error!(request_id = %request_id, "idempotency record not saved: {e}");
        }
    }
    // Card-testing defence: declines answered to browser calls count against the address.
    if let (true, 402, Some(c)) = (caller.is_publishable(), answer.status, connection)
        && let Some(d) =
            app.card_testing
                .record_decline(&caller.scope.account, c.peer.ip(), Instant::now())
    {
        tracing::warn!(
            request_id = %request_id,
            ip = %d.ip,
            declines = d.declines,
            account_under_attack = d.under_attack,
            "card testing detected: publishable-key calls from this address are refused for {} s",
            d.blocked_for.as_secs()
        );
        let alert = serde_json::json!({
            "object": "card_testing_alert",
            "ip_address": d.ip.to_string(),
            "declines": d.declines,
            "account_under_attack": d.under_attack,
            "blocked_for_seconds": d.blocked_for.as_secs(),
        });
        let recorded = unit.write(|tx| {
            crate::events::record_as(
                tx,
                &caller.scope,
                unix_now(),
                Some((request_id, None)),
                "card_testing.detected",
                &alert,
                None,
            )
        });
        if let Err(Failure::Internal(e)) = recorded {
            tracing::error!(request_id = %request_id, "card-testing event not recorded: {e}");
        }
    }
    // Every write this request made is on disk before it is answered.
    if let Err(e) = unit.flush() {
        tracing::error!(request_id = %request_id, "flushing the store failed: {e}");
        return error_answer(&ApiError::internal(), label);
    }
    answer
}

fn idempotency_key(method: &Method, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    if method != Method::POST {
        return Ok(None);
    }
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v.to_str().map_err(|_| {
        ApiError::invalid_request(
            "Idempotency-Key",
            "The Idempotency-Key header must be printable text.",
        )
    })?;
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::invalid_request(
            "Idempotency-Key",
            "The Idempotency-Key header must be between 1 and 255 characters long.",
        ));
    }
    Ok(Some(key.to_owned()))
}

fn execute(ctx: &Ctx<'_>, call: Call, mut params: Params) -> Outcome<Value> {
    use resources::{
        charges, checkout_sessions, customers, events, payment_intents, payment_methods,
        radar_lists, radar_rules, refunds, reviews, webhook_deliveries, webhook_endpoints,
    };
    let p = &mut params;
    // Calls that take no parameters reject stray ones before doing anything.
    let no_params = matches!(
        call,
        Call::CustomerRetrieve(_)
            | Call::CustomerDelete(_)
            | Call::PaymentMethodRetrieve(_)
            | Call::PaymentMethodDetach(_)
            | Call::ChargeRetrieve(_)
            | Call::RefundRetrieve(_)
            | Call::EventRetrieve(_)
            | Call::WebhookEndpointRetrieve(_)
            | Call::WebhookEndpointDelete(_)
            | Call::WebhookDeliveryRetrieve(_)
            | Call::WebhookDeliveryRetry(_)
            | Call::ReviewRetrieve(_)
            | Call::ReviewApprove(_)
            | Call::RadarRuleRetrieve(_)
            | Call::RadarRuleDelete(_)
            | Call::ValueListRetrieve(_)
            | Call::ValueListDelete(_)
            | Call::ValueListItemRetrieve(_)
            | Call::ValueListItemDelete(_)
            | Call::CheckoutSessionRetrieve(_)
            | Call::CheckoutSessionExpire(_)
    );
    if no_params {
        std::mem::take(p).finish()?;
    }
    let value = match call {
        Call::CustomerCreate => customers::create(ctx, p)?,
        Call::CustomerList => customers::list(ctx, p)?,
        Call::CustomerRetrieve(id) => customers::retrieve(ctx, &id)?,
        Call::CustomerUpdate(id) => customers::update(ctx, &id, p)?,
        Call::CustomerDelete(id) => customers::delete(ctx, &id)?,
        Call::CustomerPaymentMethods(id) => payment_methods::list_for_customer(ctx, &id, p)?,
        Call::PaymentMethodCreate => payment_methods::create(ctx, p)?,
        Call::PaymentMethodList => payment_methods::list(ctx, p)?,
        Call::PaymentMethodRetrieve(id) => payment_methods::retrieve(ctx, &id)?,
        Call::PaymentMethodUpdate(id) => payment_methods::update(ctx, &id, p)?,
        Call::PaymentMethodAttach(id) => payment_methods::attach(ctx, &id, p)?,
        Call::PaymentMethodDetach(id) => payment_methods::detach(ctx, &id)?,
        Call::PaymentIntentCreate => payment_intents::create(ctx, p)?,
        Call::PaymentIntentList => payment_intents::list(ctx, p)?,
        Call::PaymentIntentRetrieve(id) => payment_intents::retrieve(ctx, &id, p)?,
        Call::PaymentIntentUpdate(id) => payment_intents::update(ctx, &id, p)?,
        Call::PaymentIntentConfirm(id) => payment_intents::confirm(ctx, &id, p)?,
        Call::PaymentIntentCapture(id) => payment_intents::capture(ctx, &id, p)?,
        Call::PaymentIntentCancel(id) => payment_intents::cancel(ctx, &id, p)?,
        Call::ChargeList => charges::list(ctx, p)?,
        Call::ChargeRetrieve(id) => charges::retrieve(ctx, &id)?,
        Call::RefundCreate => refunds::create(ctx, p)?,
        Call::RefundList => refunds::list(ctx, p)?,
        Call::RefundRetrieve(id) => refunds::retrieve(ctx, &id)?,
        Call::RefundUpdate(id) => refunds::update(ctx, &id, p)?,
        Call::EventList => events::list(ctx, p)?,
        Call::EventRetrieve(id) => events::retrieve(ctx, &id)?,
        Call::WebhookEndpointCreate => webhook_endpoints::create(ctx, p)?,
        Call::WebhookEndpointList => webhook_endpoints::list(ctx, p)?,
        Call::WebhookEndpointRetrieve(id) => webhook_endpoints::retrieve(ctx, &id)?,
        Call::WebhookEndpointUpdate(id) => webhook_endpoints::update(ctx, &id, p)?,
        Call::WebhookEndpointDelete(id) => webhook_endpoints::delete(ctx, &id)?,
        Call::WebhookEndpointRollSecret(id) => webhook_endpoints::roll_secret(ctx, &id, p)?,
        Call::WebhookDeliveryList => webhook_deliveries::list(ctx, p)?,
        Call::WebhookDeliveryRetrieve(id) => webhook_deliveries::retrieve(ctx, &id)?,
        Call::WebhookDeliveryRetry(id) => webhook_deliveries::retry(ctx, &id)?,
        Call::ReviewList => reviews::list(ctx, p)?,
        Call::ReviewRetrieve(id) => reviews::retrieve(ctx, &id)?,
        Call::ReviewApprove(id) => reviews::approve(ctx, &id)?,
        Call::RadarRuleCreate => radar_rules::create(ctx, p)?,
        Call::RadarRuleList => radar_rules::list(ctx, p)?,
        Call::RadarRuleRetrieve(id) => radar_rules::retrieve(ctx, &id)?,
        Call::RadarRuleDelete(id) => radar_rules::delete(ctx, &id)?,
        Call::RadarRuleDryRun => radar_rules::dry_run(ctx, p)?,
        Call::ValueListCreate => radar_lists::create(ctx, p)?,
        Call::ValueListList => radar_lists::list(ctx, p)?,
        Call::ValueListRetrieve(id) => radar_lists::retrieve(ctx, &id)?,
        Call::ValueListUpdate(id) => radar_lists::update(ctx, &id, p)?,
        Call::ValueListDelete(id) => radar_lists::delete(ctx, &id)?,
        Call::ValueListItemCreate => radar_lists::create_item(ctx, p)?,
        Call::ValueListItemList => radar_lists::list_items(ctx, p)?,
        Call::ValueListItemRetrieve(id) => radar_lists::retrieve_item(ctx, &id)?,
        Call::ValueListItemDelete(id) => radar_lists::delete_item(ctx, &id)?,
        Call::CheckoutSessionCreate => checkout_sessions::create(ctx, p)?,
        Call::CheckoutSessionList => checkout_sessions::list(ctx, p)?,
        Call::CheckoutSessionRetrieve(id) => checkout_sessions::retrieve(ctx, &id)?,
        Call::CheckoutSessionExpire(id) => checkout_sessions::expire(ctx, &id)?,
        Call::CheckoutSessionLineItems(id) => checkout_sessions::list_line_items(ctx, &id, p)?,
    };
    Ok(value)
}

impl App {
    /// Runs one `/v1` request in-process through the same pipeline as HTTP requests
    /// (authentication, idempotency, execution, expansion), for embedding programs and
    /// benchmarks. `authorization` is the header value (`Bearer sk_test_…`). Returns
    /// the HTTP status and the JSON body. Blocks: call it from a blocking context.
    pub fn call(
        &self,
        method: &str,
        path_and_query: &str,
        authorization: Option<&str>,
        idempotency_key: Option<&str>,
        body: &[u8],
    ) -> (u16, String) {
        self.call_with(
            method,
            path_and_query,
            (authorization, idempotency_key),
            body,
            None,
            None,
        )
    }

    /// Runs one `/v1` request in-process as the installation's operator on an account
    /// (test or live data), for the command line: `tessera rules …`.
    pub fn call_as_operator(
        &self,
        account: &str,
        livemode: bool,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> (u16, String) {
        let operator = Caller::operator(Scope {
            account: account.to_owned(),
            livemode,
        });
        self.call_with(
            method,
            path_and_query,
            (None, None),
            body,
            Some(&operator),
            None,
        )
    }

    /// One call through the pipeline: with `(authorization, idempotency_key)` headers,
    /// or as an already authenticated caller; `connection` when it stands for a
    /// browser's request (hosted checkout), so the browser's address is screened.
    pub(crate) fn call_with(
        &self,
        method: &str,
        path_and_query: &str,
        (authorization, idempotency_key): (Option<&str>, Option<&str>),
        body: &[u8],
        operator: Option<&Caller>,
        connection: Option<Connection>,
    ) -> (u16, String) {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            return (
                405,
                ApiError::bad_request("Unknown HTTP method.")
                    .to_body()
                    .to_string(),
            );
        };
        let Some(call) = Call::parse(&method, path) else {
            let e = ApiError::unrecognized_url(method.as_str(), &printable(path));
            return (e.status, e.to_body().to_string());
        };
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("authorization", authorization),
            ("idempotency-key", idempotency_key),
        ] {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, v);
            }
        }
        let request_id = random::object_id("req_");
        let request = Incoming {
            method: &method,
            path,
            headers: &headers,
            query,
            body,
            connection,
            operator,
        };
        let answer = process(self, call, &request, &request_id);
        (answer.status, answer.body)
    }
}
