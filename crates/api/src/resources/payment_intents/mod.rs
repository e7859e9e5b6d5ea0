//! PaymentIntents: `/v1/payment_intents`. The attempt itself (authorization,
//! 3-D Secure, outcomes) is in [`confirm`]; what becomes of an authorization (capture,
//! release) in [`authorization`].

mod authorization;
pub(crate) mod confirm;

use serde_json::{Value, json};
use tessera_core::ApiError;
use tessera_core::ids::{ObjectKind, payment_intent_of_client_secret};
use tessera_core::money::{Currency, parse_currency};
use tessera_core::payment_intent::{Action, CaptureMethod, PaymentIntentStatus, Transition};
use tessera_crypto::{constant_time_eq, random};
use tessera_store::{NewObject, Scope, StoredObject, Tx};

use super::{checkout_sessions, load, new_metadata, update_metadata};
use crate::events;
use crate::form::Params;
use crate::list::Page;
use crate::pipeline::{Ctx, Outcome};
use confirm::ConfirmRequest;

pub(crate) use authorization::{FINISH, cancel, capture, finish_abandoned};
pub(crate) use confirm::complete_challenge;

/// The status of a stored PaymentIntent document.
pub(crate) fn status_of(doc: &Value) -> PaymentIntentStatus {
    serde_json::from_value(doc["status"].clone())
        .unwrap_or(PaymentIntentStatus::RequiresPaymentMethod)
}

/// Writes a PaymentIntent document with its indexed customer.
pub(crate) fn save(tx: &Tx<'_>, ctx: &Ctx<'_>, doc: &Value, private: &Value) -> Outcome<()> {
    save_in(tx, ctx.scope(), doc, private)
}

/// [`save`] outside a request (a scheduled job).
pub(crate) fn save_in(tx: &Tx<'_>, scope: &Scope, doc: &Value, private: &Value) -> Outcome<()> {
    save_as(tx, scope, doc, doc, private)
}

/// Saves intent `doc` as `stored`: the same document, its JSON serialised already, or
/// that JSON encoded for storage.
pub(super) fn save_as<D: tessera_store::Document + ?Sized>(
    tx: &Tx<'_>,
    scope: &Scope,
    doc: &Value,
    stored: &D,
    private: &Value,
) -> Outcome<()> {
    let id = doc["id"].as_str().unwrap_or_default();
    tx.update_object(
        scope,
        id,
        (doc["customer"].as_str(), None),
        stored,
        Some(private),
    )?;
    Ok(())
}

/// A new PaymentIntent waiting for a payment method, with a fresh id and client
/// secret and every optional field unset.
pub(crate) fn new_doc(
    ctx: &Ctx<'_>,
    amount: i64,
    currency: Currency,
    capture_method: CaptureMethod,
) -> Value {
    let id = random::object_id(ObjectKind::PaymentIntent.prefix());
    let client_secret = format!("{id}_secret_{}", random::base62(25));
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": { "tip": {} },
        "amount_received": 0,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": null,
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": capture_method.as_str(),
        "client_secret": client_secret,
        "confirmation_method": "automatic",
        "created": ctx.now,
        "currency": currency.code(),
        "customer": null,
        "description": null,
        "last_payment_error": null,
        "latest_charge": null,
        "livemode": ctx.scope().livemode,
        "metadata": {},
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": null,
        "payment_method_configuration_details": null,
        "payment_method_options": { "card": {
            "installments": null, "mandate_options": null, "network": null,
            "request_three_d_secure": "automatic",
        } },
        "payment_method_types": ["card"],
        "processing": null,
        "receipt_email": null,
        "review": null,
        "setup_future_usage": null,
        "shipping": null,
        "source": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": "requires_payment_method",
        "transfer_data": null,
        "transfer_group": null,
    })
}

/// Stores a new PaymentIntent and records `payment_intent.created` (the intent's
/// JSON serialised once for both).
pub(crate) fn insert(tx: &Tx<'_>, ctx: &Ctx<'_>, doc: &Value, private: &Value) -> Outcome<()> {
    let json = events::serialised(doc)?;
    events::record(tx, ctx, CREATED, &*json, None)?;
    insert_row(tx, ctx, doc, &*json, private)
}

/// The event a new intent's creation records.
const CREATED: &str = "payment_intent.created";

/// Writes a new PaymentIntent's row: `doc` as `stored` (the same document, or its
/// JSON serialised already), indexed by its customer.
pub(crate) fn insert_row<D: tessera_store::Document + ?Sized>(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    doc: &Value,
    stored: &D,
    private: &Value,
) -> Outcome<()> {
    tx.insert_object(
        ctx.scope(),
        &NewObject {
            id: doc["id"].as_str().unwrap_or_default(),
            kind: "payment_intent",
            created: ctx.now,
            ref1: doc["customer"].as_str(),
            ref2: None,
            doc: stored,
            private: Some(private),
        },
    )?;
    Ok(())
}

/// Cancels an intent whose authorization, if it held one, has been released, and
/// records `payment_intent.canceled` (for `request`, or for none: a scheduled job).
pub(crate) fn mark_canceled(
    tx: &Tx<'_>,
    scope: &Scope,
    now: i64,
    request: Option<(&str, Option<&str>)>,
    found: StoredObject,
    reason: Option<&str>,
) -> Outcome<Value> {
    let mut doc = found.doc;
    let status = status_of(&doc);
    let next = status.apply(Transition::Canceled)?;
    doc["status"] = json!(next.as_str());
    doc["canceled_at"] = json!(now);
    doc["cancellation_reason"] = json!(reason);
    doc["amount_capturable"] = json!(0);
    doc["next_action"] = Value::Null;
    save_in(tx, scope, &doc, &found.private)?;
    events::record_as(
        tx,
        scope,
        now,
        request,
        "payment_intent.canceled",
        &doc,
        Some(json!({ "status": status.as_str() })),
    )?;
    Ok(doc)
}

/// `payment_method_options[card][request_three_d_secure]`: the outer `None` when
/// `payment_method_options` was not sent at all.
pub(super) fn three_d_secure_option(p: &mut Params) -> Result<Option<Option<String>>, ApiError> {
    let Some(mut options) = p.map("payment_method_options")? else {
        return Ok(None);
    };
    let mut choice = None;
    if let Some(mut card) = options.map("card")? {
        choice = card.one_of("request_three_d_secure", &["automatic", "any", "challenge"])?;
        card.finish()?;
    }
    options.finish()?;
    Ok(Some(choice))
}

/// `setup_future_usage`, where an empty value unsets it.
pub(super) fn setup_future_usage(p: &mut Params) -> Result<Option<String>, ApiError> {
    let value = p.raw_str("setup_future_usage")?;
    if value
        .as_deref()
        .is_some_and(|s| !["", "on_session", "off_session"].contains(&s))
    {
        return Err(ApiError::invalid_request(
            "setup_future_usage",
            "Invalid setup_future_usage: must be on_session or off_session.",
        ));
    }
    Ok(value)
}

/// `payment_method_types` (or its newer name `allowed_payment_method_types`): card only.
pub(super) fn payment_method_types(p: &mut Params) -> Result<(), ApiError> {
    for name in ["payment_method_types", "allowed_payment_method_types"] {
        if let Some(types) = p.strings(name)?
            && types.iter().any(|t| t != "card")
        {
            return Err(ApiError::invalid_request(
                name,
                format!("Invalid {name}: Tessera supports card payments only."),
            ));
        }
    }
    Ok(())
}

fn customer_exists(tx: &Tx<'_>, ctx: &Ctx<'_>, id: &str) -> Outcome<()> {
    match tx.get_object(ctx.scope(), "customer", id)? {
        Some(c) if c.doc["deleted"] != true => Ok(()),
        _ => Err(ApiError::no_such("customer", id, "customer").into()),
    }
}

/// `POST /v1/payment_intents`
pub(crate) fn create(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let amount = p
        .int("amount")?
        .ok_or_else(|| ApiError::missing("amount"))?;
    let currency = parse_currency(&p.required("currency")?, "currency")?;
    currency.validate_amount(amount, "amount")?;
    let capture_method = p.one_of(
        "capture_method",
        &["automatic", "automatic_async", "manual"],
    )?;
    let capture_method = capture_method
        .as_deref()
        .and_then(CaptureMethod::parse)
        .unwrap_or(CaptureMethod::AutomaticAsync);
    p.one_of("confirmation_method", &["automatic", "manual"])?;
    let customer = p.string("customer")?;
    let metadata = new_metadata(p)?;
    let mut strings = json!({});
    for field in [
        "description",
        "receipt_email",
        "statement_descriptor",
        "statement_descriptor_suffix",
    ] {
        strings[field] = p.string(field)?.map_or(Value::Null, Value::String);
    }
    let setup_future_usage = p.one_of("setup_future_usage", &["on_session", "off_session"])?;
    payment_method_types(p)?;
    let automatic_payment_methods = match p.map("automatic_payment_methods")? {
        None => Value::Null,
        Some(mut apm) => {
            let enabled = apm.bool("enabled")?.unwrap_or(false);
            let redirects = apm.one_of("allow_redirects", &["always", "never"])?;
            apm.finish()?;
            json!({ "allow_redirects": redirects, "enabled": enabled })
        }
    };
    let request_three_d_secure = three_d_secure_option(p)?
        .flatten()
        .unwrap_or_else(|| "automatic".to_owned());
    let confirm = p.bool("confirm")?.unwrap_or(false);
    let mut confirm_request = ConfirmRequest::take(p, ctx)?;
    if !confirm && let Some(param) = confirm_request.confirm_only_param() {
        return Err(ApiError::invalid_request(
            param,
            format!("{param} can only be used when confirm=true."),
        )
        .into());
    }
    p.take("use_stripe_sdk");
    p.finish()?;
    if confirm && let Some(id) = ctx.resume_from() {
        // The same request made this intent, then its process died: no second one.
        return confirm::resume(ctx, id, &confirm_request);
    }
    // A missing customer is refused before a payment method is made for the intent
    // (from `payment_method_data`, or a test card such as `pm_card_visa`), so the
    // refusal leaves none behind. The insert looks again, in its write.
    if let Some(c) = &customer {
        ctx.app.store.read(|tx| customer_exists(tx, ctx, c))?;
    }

    let mut doc = new_doc(ctx, amount, currency, capture_method);
    doc["automatic_payment_methods"] = automatic_payment_methods;
    doc["customer"] = json!(customer);
    doc["metadata"] = metadata;
    doc["payment_method_options"]["card"]["request_three_d_secure"] = json!(request_three_d_secure);
    doc["setup_future_usage"] = json!(setup_future_usage);
    for field in [
        "description",
        "receipt_email",
        "statement_descriptor",
        "statement_descriptor_suffix",
    ] {
        doc[field] = strings[field].take();
    }
    if confirm {
        // Created and fenced for its first attempt in one write. A payment method or
        // confirmation that is refused still leaves the intent created, as when the
        // two were separate steps: the fence writes nothing unless it succeeds.
        let new_pm = confirm_request.payment_method_id(ctx);
        // Copied, its event encoded, and its fenced row too, before the write, which
        // holds the store's one write lock (and drops nothing large while it does).
        let unfenced = StoredObject {
            doc: doc.clone(),
            private: json!({}),
        };
        let json = events::serialised(&doc)?;
        let created = events::prepare(ctx, CREATED, &*json, None)?;
        let ready = match &new_pm {
            Ok(Some(pm)) => Some(confirm::Prefenced::new(ctx, &doc, pm, &confirm_request)?),
            _ => None,
        };
        let fenced = ctx.write(|tx| {
            // The intent's row is written once, by the fence: inserted as created and
            // then updated, it was encoded and written twice in this one write.
            created_unstored(tx, ctx, &doc, created)?;
            let fenced = match new_pm {
                Ok(pm) => confirm::fence(
                    tx,
                    ctx,
                    unfenced,
                    pm.as_deref(),
                    &confirm_request,
                    confirm::AttemptKind::New,
                    confirm::Saving::Insert(ready),
                ),
                Err(refused) => Err(refused),
            };
            // Refused: the intent is still created, as it is without the fence. (A fence
            // that fails after storing the intent, on a store error, leaves it stored.)
            let id = doc["id"].as_str().unwrap_or_default();
            if fenced.is_err() && tx.get_private(ctx.scope(), "payment_intent", id)?.is_none() {
                insert_row(tx, ctx, &doc, &*json, &json!({}))?;
            }
            Ok::<_, crate::pipeline::Failure>(fenced)
        })??;
        return confirm::attempt(ctx, fenced);
    }
    // A payment method given without confirm=true is attached now.
    let payment_method = confirm_request.payment_method(ctx)?;
    if let Some(pm) = &payment_method {
        doc["payment_method"] = pm["id"].clone();
        doc["status"] = json!(
            PaymentIntentStatus::RequiresPaymentMethod
                .apply(Transition::PaymentMethodAttached)?
                .as_str()
        );
    }
    Ok(ctx.write(move |tx| insert_new(tx, ctx, doc))?.doc)
}

/// Inserts a new intent, once its customer (if it names one) is known to exist, and
/// returns it as stored.
fn insert_new(tx: &Tx<'_>, ctx: &Ctx<'_>, doc: Value) -> Outcome<StoredObject> {
    if let Some(c) = doc["customer"].as_str() {
        customer_exists(tx, ctx, c)?;
    }
    let private = json!({});
    insert(tx, ctx, &doc, &private)?;
    Ok(StoredObject { doc, private })
}

/// [`insert_new`] but for the row, which the caller writes: the fence of a
/// create-and-confirm stores the intent fenced ([`confirm::Saving::Insert`]), or, if
/// it refuses, the caller stores it as created. `created` is its
/// `payment_intent.created`, made ready before the write.
fn created_unstored<O: serde::Serialize + ?Sized>(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    doc: &Value,
    created: events::Prepared<'_, O>,
) -> Outcome<()> {
    if let Some(c) = doc["customer"].as_str() {
        customer_exists(tx, ctx, c)?;
    }
    events::record_prepared(tx, ctx.scope(), ctx.now, created)
}

/// Checks a `client_secret` against the intent's, in constant time.
fn client_secret_matches(doc: &Value, presented: &str) -> bool {
    let actual = doc["client_secret"].as_str().unwrap_or_default();
    constant_time_eq(actual.as_bytes(), presented.as_bytes())
}

/// Publishable keys must present the intent's client secret; the error does not say
/// whether the intent exists.
pub(crate) fn require_client_secret(
    ctx: &Ctx<'_>,
    doc: &Value,
    presented: Option<&str>,
) -> Result<(), ApiError> {
    if !ctx.caller.is_publishable() && presented.is_none() {
        return Ok(());
    }
    let id = doc["id"].as_str().unwrap_or_default();
    match presented {
        None => Err(ApiError::missing("client_secret")),
        Some(s)
            if payment_intent_of_client_secret(s) == Some(id) && client_secret_matches(doc, s) =>
        {
            Ok(())
        }
        Some(_) => Err(ApiError::no_such("payment_intent", id, "intent")),
    }
}

/// Loads an intent, answering 404 to publishable keys without its client secret.
fn load_for_caller(ctx: &Ctx<'_>, id: &str, client_secret: Option<&str>) -> Outcome<Value> {
    let doc = ctx
        .app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::PaymentIntent, id, "intent"))?
        .doc;
    require_client_secret(ctx, &doc, client_secret)?;
    Ok(doc)
}

/// `GET /v1/payment_intents/:id`
pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let client_secret = p.string("client_secret")?;
    p.finish()?;
    load_for_caller(ctx, id, client_secret.as_deref())
}

/// `POST /v1/payment_intents/:id`
pub(crate) fn update(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let amount = p.int("amount")?;
    let currency = p
        .string("currency")?
        .map(|c| parse_currency(&c, "currency"))
        .transpose()?;
    let customer = p.raw_str("customer")?;
    let capture_method = p.one_of(
        "capture_method",
        &["automatic", "automatic_async", "manual"],
    )?;
    let setup_future_usage = setup_future_usage(p)?;
    let mut strings = Vec::new();
    for field in [
        "description",
        "receipt_email",
        "statement_descriptor",
        "statement_descriptor_suffix",
    ] {
        if let Some(v) = p.raw_str(field)? {
            strings.push((field, v));
        }
    }
    let metadata = p.metadata()?;
    payment_method_types(p)?;
    let three_d_secure =
        three_d_secure_option(p)?.map(|c| c.unwrap_or_else(|| "automatic".to_owned()));
    let payment_method = p.string("payment_method")?;
    p.finish()?;
    let payment_method = payment_method
        .map(|pm| super::payment_methods::resolve(ctx, &pm, "payment_method"))
        .transpose()?;

    ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::PaymentIntent, id, "intent")?;
        let mut doc = found.doc;
        let status = status_of(&doc);
        status.allows(Action::Update)?;
        confirm::refuse_while_attempt_in_flight(ctx, &found.private)?;
        let repricing = [("amount", amount.is_some()), ("currency", currency.is_some())];
        if let Some((param, _)) = repricing.into_iter().find(|(_, given)| *given)
            && let Some(session) = checkout_sessions::open_session_of(tx, ctx.scope(), &found.private)?
        {
            return Err(ApiError::invalid_request(
                param,
                format!("This PaymentIntent is priced by Checkout Session {session}, which is still open: its amount and currency come from the session's line items and cannot be changed."),
            )
            .into());
        }
        let currency = match &currency {
            Some(c) => *c,
            None => parse_currency(doc["currency"].as_str().unwrap_or("usd"), "currency")?,
        };
        if amount.is_some() || currency.code() != doc["currency"] {
            let amount = amount.unwrap_or(doc["amount"].as_i64().unwrap_or(0));
            currency.validate_amount(amount, "amount")?;
            doc["amount"] = json!(amount);
            doc["currency"] = json!(currency.code());
        }
        if let Some(c) = &customer {
            if c.is_empty() {
                doc["customer"] = Value::Null;
            } else {
                customer_exists(tx, ctx, c)?;
                doc["customer"] = json!(c);
            }
        }
        if let Some(m) = &capture_method {
            doc["capture_method"] = json!(m);
        }
        if let Some(s) = &setup_future_usage {
            doc["setup_future_usage"] = if s.is_empty() { Value::Null } else { json!(s) };
        }
        for (field, v) in &strings {
            doc[*field] = if v.is_empty() { Value::Null } else { json!(v) };
        }
        if let Some(choice) = &three_d_secure {
            doc["payment_method_options"]["card"]["request_three_d_secure"] = json!(choice);
        }
        update_metadata(&mut doc, metadata)?;
        if let Some(pm) = &payment_method {
            doc["payment_method"] = pm["id"].clone();
            doc["next_action"] = Value::Null;
            doc["status"] = json!(PaymentIntentStatus::RequiresConfirmation.as_str());
        }
        save(tx, ctx, &doc, &found.private)?;
        Ok(doc)
    })
}

/// `POST /v1/payment_intents/:id/confirm`
pub(crate) fn confirm(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let client_secret = p.string("client_secret")?;
    let request = ConfirmRequest::take(p, ctx)?;
    p.take("use_stripe_sdk");
    p.finish()?;
    load_for_caller(ctx, id, client_secret.as_deref())?;
    if ctx.resume_from() == Some(id) {
        return confirm::resume(ctx, id, &request);
    }
    confirm::run(ctx, id, request)
}

/// `GET /v1/payment_intents?customer=…&created[gte]=…`
pub(crate) fn list(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let page = Page::take(p)?;
    let customer = p.string("customer")?;
    p.finish()?;
    page.fetch(
        ctx,
        ObjectKind::PaymentIntent,
        "/v1/payment_intents",
        (customer.as_deref(), None),
    )
}
