//! Checkout Sessions: `/v1/checkout/sessions`, payment mode.
//!
//! A session prices a basket on the merchant's server (line items described with
//! `price_data`: Tessera has no Price objects) and creates the PaymentIntent that pays
//! for it at once, with the session's id in the intent's private document. Tessera's
//! hosted page confirms that intent with its client secret; the transaction that
//! records the intent's success also completes the session ([`on_payment_succeeded`]).
//! An open session expires at `expires_at` through a scheduled job ([`EXPIRE_SESSION`])
//! or earlier through `POST …/expire`; either way its intent is canceled.

use serde_json::{Value, json};
use tessera_core::ApiError;
use tessera_core::ids::ObjectKind;
use tessera_core::money::{Currency, MAX_AMOUNT, parse_currency};
use tessera_core::payment_intent::{CaptureMethod, PaymentIntentStatus};
use tessera_crypto::random;
use tessera_store::{NewObject, Scope, StoredObject, Tx};

use super::payment_intents::{self, confirm::attempt_in_flight, status_of};
use super::{absolute_url, load, new_metadata};
use crate::events;
use crate::form::{Params, printable};
use crate::list::Page;
use crate::pipeline::{Ctx, Outcome};

/// The scheduled action that expires a session at its `expires_at`.
pub(crate) const EXPIRE_SESSION: &str = "checkout_session.expire";

/// How long a session stays open at least and at most, in seconds (Stripe's bounds).
const MIN_OPEN_SECS: i64 = 30 * 60;
const MAX_OPEN_SECS: i64 = 24 * 60 * 60;

/// Slack on those bounds: an `expires_at` computed as "now + 30 minutes" on the
/// merchant's server arrives a moment later, by a clock that may differ a little.
const CLOCK_SLACK_SECS: i64 = 60;

/// Line items one session may have (Stripe's limit in payment mode).
const MAX_LINE_ITEMS: usize = 100;

/// Largest quantity of one line item.
const MAX_QUANTITY: i64 = 999;

/// Longest `client_reference_id` (Stripe's limit).
const MAX_REFERENCE_LEN: usize = 200;

/// How long an expiry that found a payment attempt under way waits before trying again.
const EXPIRY_RETRY_MS: i64 = 60_000;

/// The hosted page where the shopper pays for session `id`: on the vault origin
/// (`tessera-elements`), which serves it.
pub(crate) fn checkout_url(ctx: &Ctx<'_>, id: &str) -> String {
    format!("{}/checkout/{id}", ctx.app.config.browser_base())
}

/// One line of the basket, as the merchant's server priced it.
struct LineItem {
    /// `line_items[i][price_data]`, to name its fields in errors.
    price_param: String,
    name: String,
    description: Option<String>,
    currency: Currency,
    unit_amount: i64,
    quantity: i64,
}

impl LineItem {
    /// Takes `line_items[i]`: `price_data[currency|unit_amount|product_data[name|description]]`
    /// and `quantity`.
    fn take(item: &mut Params) -> Result<LineItem, ApiError> {
        if item.has("price") {
            return Err(ApiError::invalid_request(
                &item.name("price"),
                format!(
                    "Tessera has no Price objects: describe the item with {} (currency, unit_amount and product_data[name]) instead of {}.",
                    item.name("price_data"),
                    item.name("price")
                ),
            ));
        }
        let price_param = item.name("price_data");
        let mut price = item
            .map("price_data")?
            .ok_or_else(|| ApiError::missing(&price_param))?;
        let quantity_param = item.name("quantity");
        let quantity = item
            .int("quantity")?
            .ok_or_else(|| ApiError::missing(&quantity_param))?;
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(ApiError::invalid_request(
                &quantity_param,
                format!("Invalid quantity: {quantity_param} must be between 1 and {MAX_QUANTITY}."),
            ));
        }
        item.finish()?;
        let currency_param = price.name("currency");
        let currency = parse_currency(&price.required("currency")?, &currency_param)?;
        let unit_param = price.name("unit_amount");
        let unit_amount = price
            .int("unit_amount")?
            .ok_or_else(|| ApiError::missing(&unit_param))?;
        if !(0..=MAX_AMOUNT).contains(&unit_amount) {
            return Err(ApiError::invalid_request(
                &unit_param,
                format!(
                    "Invalid unit_amount: {unit_param} must be between 0 and {MAX_AMOUNT} (in the currency's smallest unit)."
                ),
            ));
        }
        let product_param = price.name("product_data");
        let mut product = price
            .map("product_data")?
            .ok_or_else(|| ApiError::missing(&format!("{product_param}[name]")))?;
        let name = product.required("name")?;
        let description = product.string("description")?;
        product.finish()?;
        price.finish()?;
        Ok(LineItem {
            price_param,
            name,
            description,
            currency,
            unit_amount,
            quantity,
        })
    }

    fn amount(&self) -> i64 {
        self.unit_amount * self.quantity
    }

    /// The `item` object `GET …/line_items` lists, with its inline price and product.
    fn to_doc(&self, ctx: &Ctx<'_>) -> Value {
        let livemode = ctx.scope().livemode;
        json!({
            "id": random::object_id("li_"),
            "object": "item",
            "amount_discount": 0,
            "amount_subtotal": self.amount(),
            "amount_tax": 0,
            "amount_total": self.amount(),
            "currency": self.currency.code(),
            "description": self.name,
            "price": {
                "id": random::object_id("price_"),
                "object": "price",
                "active": false,
                "billing_scheme": "per_unit",
                "created": ctx.now,
                "currency": self.currency.code(),
                "custom_unit_amount": null,
                "livemode": livemode,
                "lookup_key": null,
                "metadata": {},
                "nickname": null,
                "product": {
                    "id": random::object_id("prod_"),
                    "object": "product",
                    "active": false,
                    "created": ctx.now,
                    "description": self.description,
                    "images": [],
                    "livemode": livemode,
                    "metadata": {},
                    "name": self.name,
                    "type": "service",
                    "updated": ctx.now,
                },
                "recurring": null,
                "tax_behavior": "unspecified",
                "tiers_mode": null,
                "transform_quantity": null,
                "type": "one_time",
                "unit_amount": self.unit_amount,
                "unit_amount_decimal": self.unit_amount.to_string(),
            },
            "quantity": self.quantity,
        })
    }
}

/// `line_items`: at least one, all in one currency. Returns the items, their currency
/// and their total.
fn take_line_items(p: &mut Params) -> Result<(Vec<LineItem>, Currency, i64), ApiError> {
    let mut raw = p.maps("line_items")?.unwrap_or_default();
    if raw.is_empty() {
        return Err(ApiError::invalid_request(
            "line_items",
            "Missing required param: line_items. A payment-mode Checkout Session needs at least one item: line_items[0][price_data][currency|unit_amount|product_data][name] and line_items[0][quantity].",
        )
        .with_code("parameter_missing"));
    }
    if raw.len() > MAX_LINE_ITEMS {
        return Err(ApiError::invalid_request(
            "line_items",
            format!("A Checkout Session can have at most {MAX_LINE_ITEMS} line items."),
        ));
    }
    let items = raw
        .iter_mut()
        .map(LineItem::take)
        .collect::<Result<Vec<_>, _>>()?;
    let currency = items[0].currency;
    if let Some(other) = items.iter().find(|i| i.currency != currency) {
        return Err(ApiError::invalid_request(
            &format!("{}[currency]", other.price_param),
            format!(
                "All line items must be in the same currency: the first is in {}, {}[currency] is {}.",
                currency.code(),
                other.price_param,
                other.currency.code()
            ),
        ));
    }
    // At most 100 × 999 × 99,999,999: no overflow.
    let total: i64 = items.iter().map(LineItem::amount).sum();
    currency
        .validate_amount(total, "line_items")
        .map_err(|mut e| {
            e.message = format!(
                "The line items add up to {total} {} (in the currency's smallest unit). {}",
                currency.code(),
                e.message
            );
            e
        })?;
    Ok((items, currency, total))
}

/// `expires_at`, or the default: 24 hours from now.
fn take_expires_at(p: &mut Params, now: i64) -> Result<i64, ApiError> {
    let Some(at) = p.int("expires_at")? else {
        return Ok(now + MAX_OPEN_SECS);
    };
    if at < now + MIN_OPEN_SECS - CLOCK_SLACK_SECS {
        return Err(ApiError::invalid_request(
            "expires_at",
            "Invalid expires_at: a Checkout Session must stay open at least 30 minutes; set expires_at (unix seconds) 30 minutes to 24 hours from now.",
        ));
    }
    if at > now + MAX_OPEN_SECS + CLOCK_SLACK_SECS {
        return Err(ApiError::invalid_request(
            "expires_at",
            "Invalid expires_at: a Checkout Session can stay open at most 24 hours; set expires_at (unix seconds) 30 minutes to 24 hours from now.",
        ));
    }
    Ok(at)
}

/// What the session's PaymentIntent is created with: `payment_intent_data[…]`.
struct IntentData {
    capture_method: CaptureMethod,
    description: Option<String>,
    metadata: Value,
}

impl IntentData {
    fn take(p: &mut Params) -> Result<IntentData, ApiError> {
        let mut data = IntentData {
            capture_method: CaptureMethod::AutomaticAsync,
            description: None,
            metadata: json!({}),
        };
        if let Some(mut d) = p.map("payment_intent_data")? {
            if let Some(m) = d.one_of(
                "capture_method",
                &["automatic", "automatic_async", "manual"],
            )? {
                data.capture_method = CaptureMethod::parse(&m).unwrap_or(data.capture_method);
            }
            data.description = d.string("description")?;
            data.metadata = new_metadata(&mut d)?;
            d.finish()?;
        }
        Ok(data)
    }
}

fn take_mode(p: &mut Params) -> Result<(), ApiError> {
    match p.string("mode")?.as_deref() {
        Some("payment") => Ok(()),
        None => Err(ApiError::missing("mode")),
        Some(m @ ("setup" | "subscription")) => Err(ApiError::invalid_request(
            "mode",
            format!("Tessera supports mode=payment only; {m} mode is not available."),
        )),
        Some(other) => Err(ApiError::invalid_request(
            "mode",
            format!("Invalid mode: must be payment; got '{}'.", printable(other)),
        )),
    }
}

/// The parameters of `POST /v1/checkout/sessions`, checked.
struct NewSession {
    items: Vec<LineItem>,
    currency: Currency,
    total: i64,
    success_url: String,
    cancel_url: Option<String>,
    customer: Option<String>,
    customer_email: Option<String>,
    client_reference_id: Option<String>,
    expires_at: i64,
    metadata: Value,
    intent: IntentData,
}

impl NewSession {
    fn take(p: &mut Params, now: i64) -> Result<NewSession, ApiError> {
        take_mode(p)?;
        let (items, currency, total) = take_line_items(p)?;
        let success_url = absolute_url(p.required("success_url")?, "success_url")?;
        let cancel_url = p
            .string("cancel_url")?
            .map(|u| absolute_url(u, "cancel_url"))
            .transpose()?;
        let customer = p.string("customer")?;
        let customer_email = p.string("customer_email")?;
        if customer_email
            .as_ref()
            .is_some_and(|e| e.len() > 512 || !e.contains('@'))
        {
            return Err(ApiError::invalid_request(
                "customer_email",
                "Invalid email address: customer_email must contain an @.",
            ));
        }
        if customer.is_some() && customer_email.is_some() {
            return Err(ApiError::invalid_request(
                "customer_email",
                "You may only specify one of these parameters: customer, customer_email.",
            ));
        }
        let client_reference_id = p.string("client_reference_id")?;
        if client_reference_id
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REFERENCE_LEN)
        {
            return Err(ApiError::invalid_request(
                "client_reference_id",
                format!("client_reference_id can be at most {MAX_REFERENCE_LEN} characters long."),
            ));
        }
        let expires_at = take_expires_at(p, now)?;
        let metadata = new_metadata(p)?;
        let intent = IntentData::take(p)?;
        payment_intents::payment_method_types(p)?;
        p.finish()?;
        Ok(NewSession {
            items,
            currency,
            total,
            success_url,
            cancel_url,
            customer,
            customer_email,
            client_reference_id,
            expires_at,
            metadata,
            intent,
        })
    }
}

/// `POST /v1/checkout/sessions`
pub(crate) fn create(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let NewSession {
        items,
        currency,
        total,
        success_url,
        cancel_url,
        customer,
        customer_email,
        client_reference_id,
        expires_at,
        metadata,
        intent: intent_data,
    } = NewSession::take(p, ctx.now)?;
    let id = random::object_id(ObjectKind::CheckoutSession.new_id_prefix(ctx.scope().livemode));
    let mut intent = payment_intents::new_doc(ctx, total, currency, intent_data.capture_method);
    intent["customer"] = json!(customer);
    intent["description"] = json!(intent_data.description);
    intent["metadata"] = intent_data.metadata;
    let doc = json!({
        "id": id,
        "object": "checkout.session",
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": total,
        "amount_total": total,
        "automatic_tax": { "enabled": false, "liability": null, "status": null },
        "billing_address_collection": null,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": null,
        "consent": null,
        "consent_collection": null,
        "created": ctx.now,
        "currency": currency.code(),
        "custom_fields": [],
        "custom_text": { "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null },
        "customer": customer,
        "customer_creation": if customer.is_some() { Value::Null } else { json!("if_required") },
        "customer_details": null,
        "customer_email": customer_email,
        "expires_at": expires_at,
        "invoice": null,
        "invoice_creation": null,
        "livemode": ctx.scope().livemode,
        "locale": null,
        "metadata": metadata,
        "mode": "payment",
        "payment_intent": intent["id"],
        "payment_link": null,
        "payment_method_collection": "if_required",
        "payment_method_options": { "card": { "request_three_d_secure": "automatic" } },
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": { "enabled": false },
        "recovered_from": null,
        "setup_intent": null,
        "shipping_address_collection": null,
        "shipping_cost": null,
        "shipping_options": [],
        "status": "open",
        "submit_type": null,
        "subscription": null,
        "success_url": success_url,
        "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
        "ui_mode": "hosted",
        "url": checkout_url(ctx, &id),
    });
    let private = json!({ "line_items": items.iter().map(|i| i.to_doc(ctx)).collect::<Vec<_>>() });
    ctx.write(|tx| {
        if let Some(c) = &customer {
            let found = load(tx, ctx, ObjectKind::Customer, c, "customer")?;
            if found.doc["deleted"] == true {
                return Err(ApiError::no_such("customer", c, "customer").into());
            }
        }
        payment_intents::insert(tx, ctx, &intent, &json!({ "checkout_session": id }))?;
        tx.insert_object(
            ctx.scope(),
            &NewObject {
                id: &id,
                kind: ObjectKind::CheckoutSession.object_name(),
                created: ctx.now,
                ref1: doc["payment_intent"].as_str(),
                ref2: doc["status"].as_str(),
                doc: &doc,
                private: Some(&private),
            },
        )?;
        tx.schedule_job(ctx.scope(), expires_at * 1000, EXPIRE_SESSION, &id)?;
        Ok(())
    })?;
    Ok(doc)
}

/// Writes a session with its indexed intent and status (what lists filter on).
fn save(tx: &Tx<'_>, scope: &Scope, doc: &Value) -> Outcome<()> {
    tx.update_object(
        scope,
        doc["id"].as_str().unwrap_or_default(),
        (doc["payment_intent"].as_str(), doc["status"].as_str()),
        doc,
        None,
    )?;
    Ok(())
}

/// `GET /v1/checkout/sessions/:id`
pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    super::retrieve_plain(ctx, ObjectKind::CheckoutSession, id)
}

/// `GET /v1/checkout/sessions?payment_intent=…&status=…`
pub(crate) fn list(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let page = Page::take(p)?;
    let payment_intent = p.string("payment_intent")?;
    let status = p.one_of("status", &["open", "complete", "expired"])?;
    p.finish()?;
    page.fetch(
        ctx,
        ObjectKind::CheckoutSession,
        "/v1/checkout/sessions",
        (payment_intent.as_deref(), status.as_deref()),
    )
}

/// `GET /v1/checkout/sessions/:id/line_items`, in the order they were given.
pub(crate) fn list_line_items(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let page = Page::take_cursors(p)?;
    p.finish()?;
    let found = ctx
        .app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::CheckoutSession, id, "session"))?;
    let items = found.private["line_items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let url = format!("/v1/checkout/sessions/{id}/line_items");
    Ok(page.slice(&items, "item", &url)?)
}

/// Why a session was not expired.
#[derive(Debug, PartialEq, Eq)]
enum NotExpired {
    /// It is `complete` or already `expired`.
    NotOpen(String),
    /// Its intent is being authorized right now; the attempt decides first.
    PaymentUnderWay,
}

/// Expires an open session: `status: expired`, no `url`, its intent canceled, and
/// `checkout.session.expired` recorded (for `request`, or for none: the scheduled job).
fn expire_in(
    tx: &Tx<'_>,
    scope: &Scope,
    now: i64,
    request: Option<(&str, Option<&str>)>,
    session: StoredObject,
) -> Outcome<Result<Value, NotExpired>> {
    let mut doc = session.doc;
    if doc["status"] != "open" {
        let status = doc["status"].as_str().unwrap_or_default().to_owned();
        return Ok(Err(NotExpired::NotOpen(status)));
    }
    let intent_id = doc["payment_intent"].as_str().unwrap_or_default();
    if let Some(intent) = tx.get_object(scope, "payment_intent", intent_id)? {
        // The minute's rule alone: expiring a session a minute late is harmless.
        if attempt_in_flight(&intent.private, now, None) {
            return Ok(Err(NotExpired::PaymentUnderWay));
        }
        // An open session's intent holds no authorization (one would have completed
        // the session), so canceling it releases nothing.
        let status = status_of(&intent.doc);
        if !status.is_final() && status != PaymentIntentStatus::RequiresCapture {
            payment_intents::mark_canceled(tx, scope, now, request, intent, Some("automatic"))?;
        }
    }
    doc["status"] = json!("expired");
    doc["url"] = Value::Null;
    save(tx, scope, &doc)?;
    events::record_as(
        tx,
        scope,
        now,
        request,
        "checkout.session.expired",
        &doc,
        None,
    )?;
    Ok(Ok(doc))
}

/// `POST /v1/checkout/sessions/:id/expire`
pub(crate) fn expire(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    ctx.write(|tx| {
        let session = load(tx, ctx, ObjectKind::CheckoutSession, id, "session")?;
        let request = Some((ctx.request_id, ctx.idempotency_key));
        match expire_in(tx, ctx.scope(), ctx.now, request, session)? {
            Ok(doc) => Ok(doc),
            Err(NotExpired::NotOpen(status)) => Err(ApiError::unexpected_state(
                "checkout_session_unexpected_state",
                format!(
                    "Only Checkout Sessions with a status of open can be expired. This Checkout Session has a status of {status}."
                ),
            )
            .into()),
            Err(NotExpired::PaymentUnderWay) => Err(ApiError::unexpected_state(
                "checkout_session_unexpected_state",
                "A payment for this Checkout Session is being authorized right now. Retry in a minute: the session will then be complete or can be expired.",
            )
            .into()),
        }
    })
}

/// Expires session `id` when its time has come. Runs as a scheduled job, in the job's
/// transaction; a session already complete or expired is left alone, and one whose
/// payment is being authorized is looked at again a minute later.
pub(crate) fn expire_due(tx: &Tx<'_>, scope: &Scope, now: i64, id: &str) -> Outcome<()> {
    let Some(session) = tx.get_object(scope, ObjectKind::CheckoutSession.object_name(), id)? else {
        return Ok(());
    };
    if let Err(NotExpired::PaymentUnderWay) = expire_in(tx, scope, now, None, session)? {
        tx.schedule_job(scope, now * 1000 + EXPIRY_RETRY_MS, EXPIRE_SESSION, id)?;
    }
    Ok(())
}

/// The open session that `intent_private` (a PaymentIntent's private document) says
/// the intent pays for, if any: its amount is the session's, and it is canceled by
/// expiring the session.
pub(crate) fn open_session_of(
    tx: &Tx<'_>,
    scope: &Scope,
    intent_private: &Value,
) -> Outcome<Option<String>> {
    let Some(id) = intent_private["checkout_session"].as_str() else {
        return Ok(None);
    };
    let session = tx.get_object(scope, ObjectKind::CheckoutSession.object_name(), id)?;
    Ok(session
        .filter(|s| s.doc["status"] == "open")
        .map(|_| id.to_owned()))
}

/// Completes the session an intent pays for, if it pays for one, when the intent has
/// succeeded or is authorized for capture: called in the transaction that records
/// that outcome, so the session is `complete` exactly when the payment is.
pub(crate) fn on_payment_succeeded(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    intent: &Value,
    intent_private: &Value,
    payment_method: &Value,
) -> Outcome<()> {
    let Some(id) = intent_private["checkout_session"].as_str() else {
        return Ok(());
    };
    let kind = ObjectKind::CheckoutSession.object_name();
    let Some(session) = tx.get_object(ctx.scope(), kind, id)? else {
        return Ok(());
    };
    let mut doc = session.doc;
    if doc["status"] != "open" {
        // Expiry waits for an attempt under way, so only an attempt that outlived its
        // fence gets here.
        tracing::warn!(
            request_id = %ctx.request_id,
            session = id,
            payment_intent = intent["id"].as_str().unwrap_or_default(),
            "a Checkout Session's payment succeeded after the session was {}; the session is left as it is",
            doc["status"].as_str().unwrap_or_default()
        );
        return Ok(());
    }
    doc["status"] = json!("complete");
    doc["payment_status"] = json!("paid");
    doc["url"] = Value::Null;
    doc["customer_details"] = customer_details(tx, ctx.scope(), &doc, payment_method)?;
    save(tx, ctx.scope(), &doc)?;
    events::record(tx, ctx, "checkout.session.completed", &doc, None)
}

/// Who paid, as Checkout reports it: the email the session was given (or its
/// customer's), else the card's billing details.
fn customer_details(
    tx: &Tx<'_>,
    scope: &Scope,
    session: &Value,
    payment_method: &Value,
) -> Outcome<Value> {
    let billing = &payment_method["billing_details"];
    let customer_email = match session["customer"].as_str() {
        Some(c) => tx
            .get_object(scope, "customer", c)?
            .map_or(Value::Null, |found| found.doc["email"].clone()),
        None => Value::Null,
    };
    let email = [
        session["customer_email"].clone(),
        customer_email,
        billing["email"].clone(),
    ]
    .into_iter()
    .find(Value::is_string)
    .unwrap_or(Value::Null);
    Ok(json!({
        "address": billing["address"],
        "email": email,
        "name": billing["name"],
        "phone": billing["phone"],
        "tax_exempt": "none",
        "tax_ids": [],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_store::{Jobs, ListQuery, Store, StoreError};

    fn scope() -> Scope {
        Scope {
            account: "acct_1".into(),
            livemode: false,
        }
    }

    /// An open session expiring at `expires_at`, with its intent in `intent_status`.
    fn open_session(store: &Store, intent_status: &str, intent_private: Value) {
        let s = scope();
        let intent = json!({ "id": "pi_1", "object": "payment_intent", "status": intent_status, "customer": null });
        let session = json!({
            "id": "cs_test_1", "object": "checkout.session", "status": "open",
            "payment_status": "unpaid", "payment_intent": "pi_1",
            "url": "http://127.0.0.1/checkout/cs_test_1", "expires_at": 1_000,
        });
        store
            .write(|tx| {
                for (id, kind, doc, private) in [
                    ("pi_1", "payment_intent", &intent, Some(&intent_private)),
                    ("cs_test_1", "checkout.session", &session, None),
                ] {
                    tx.insert_object(
                        &s,
                        &NewObject {
                            id,
                            kind,
                            created: 1,
                            ref1: None,
                            ref2: None,
                            doc,
                            private,
                        },
                    )?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }

    fn doc(store: &Store, kind: &str, id: &str) -> Value {
        store
            .read(|tx| tx.get_object(&scope(), kind, id))
            .unwrap()
            .unwrap()
            .doc
    }

    fn events_of(store: &Store, kind: &str) -> usize {
        let q = ListQuery {
            kind: "event",
            ref1: Some(kind),
            limit: 10,
            ..Default::default()
        };
        store
            .read(|tx| tx.list_objects(&scope(), &q))
            .unwrap()
            .unwrap()
            .data
            .len()
    }

    fn run_job(store: &Store, now: i64) {
        store
            .write(|tx| expire_due(tx, &scope(), now, "cs_test_1"))
            .map_err(|e| format!("{e:?}"))
            .unwrap();
    }

    #[test]
    fn the_expiry_job_expires_an_open_session_and_cancels_its_intent() {
        let (_dir, store) = crate::scratch_store();
        open_session(
            &store,
            "requires_payment_method",
            json!({ "checkout_session": "cs_test_1" }),
        );
        run_job(&store, 1_000);
        let session = doc(&store, "checkout.session", "cs_test_1");
        assert_eq!(session["status"], "expired");
        assert_eq!(session["url"], Value::Null);
        let intent = doc(&store, "payment_intent", "pi_1");
        assert_eq!(intent["status"], "canceled");
        assert_eq!(intent["cancellation_reason"], "automatic");
        assert_eq!(events_of(&store, "checkout.session.expired"), 1);
        assert_eq!(events_of(&store, "payment_intent.canceled"), 1);
        // Run again (a second worker, a retry): nothing more happens.
        run_job(&store, 1_001);
        assert_eq!(events_of(&store, "checkout.session.expired"), 1);
    }

    #[test]
    fn the_expiry_job_leaves_a_completed_session_alone() {
        let (_dir, store) = crate::scratch_store();
        open_session(
            &store,
            "succeeded",
            json!({ "checkout_session": "cs_test_1" }),
        );
        store
            .write(|tx| {
                let mut d = tx
                    .get_object(&scope(), "checkout.session", "cs_test_1")?
                    .unwrap()
                    .doc;
                d["status"] = json!("complete");
                tx.update_object(&scope(), "cs_test_1", (None, None), &d, None)
            })
            .unwrap();
        run_job(&store, 1_000);
        assert_eq!(
            doc(&store, "checkout.session", "cs_test_1")["status"],
            "complete"
        );
        assert_eq!(doc(&store, "payment_intent", "pi_1")["status"], "succeeded");
        assert_eq!(events_of(&store, "checkout.session.expired"), 0);
    }

    #[test]
    fn the_expiry_job_waits_for_a_payment_under_way() {
        let (_dir, store) = crate::scratch_store();
        let fenced = json!({ "checkout_session": "cs_test_1", "attempt_started": 995 });
        open_session(&store, "requires_confirmation", fenced);
        run_job(&store, 1_000);
        assert_eq!(
            doc(&store, "checkout.session", "cs_test_1")["status"],
            "open"
        );
        assert_eq!(
            doc(&store, "payment_intent", "pi_1")["status"],
            "requires_confirmation"
        );
        let due = store
            .read(|tx| {
                tx.due_jobs(
                    1_000 * 1000 + EXPIRY_RETRY_MS,
                    10,
                    Jobs::Only(EXPIRE_SESSION),
                )
            })
            .unwrap();
        assert_eq!(due.len(), 1, "the expiry is tried again later");
        assert_eq!(due[0].object, "cs_test_1");
        // Once the attempt is stale, the session expires.
        run_job(&store, 2_000);
        assert_eq!(
            doc(&store, "checkout.session", "cs_test_1")["status"],
            "expired"
        );
    }
}
