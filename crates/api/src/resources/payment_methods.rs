//! PaymentMethods: `/v1/payment_methods`. Card details go straight to the vault;
//! what is stored and shown here are the card facts only.

use serde_json::{Value, json};
use tessera_core::ApiError;
use tessera_core::card::CardFacts;
use tessera_core::ids::ObjectKind;
use tessera_core::ports::{CardInput, TokenizeError};
use tessera_crypto::random;
use tessera_store::{Encoded, NewObject, StoredObject, Tx};
use zeroize::Zeroizing;

use super::{address, load, new_metadata, update_metadata};
use crate::events;
use crate::form::Params;
use crate::list::Page;
use crate::pipeline::{Ctx, Failure, Outcome};

/// Parameters browsers' card libraries send along that carry nothing for Tessera.
const BROWSER_NOISE: [&str; 6] = [
    "payment_user_agent",
    "time_on_page",
    "guid",
    "muid",
    "sid",
    "referrer",
];

fn card_json(facts: &CardFacts, provided: (bool, bool, bool)) -> Value {
    let unchecked = |given: bool| {
        if given {
            json!("unchecked")
        } else {
            Value::Null
        }
    };
    json!({
        "brand": facts.brand.as_str(),
        "checks": {
            "address_line1_check": unchecked(provided.1),
            "address_postal_code_check": unchecked(provided.2),
            "cvc_check": unchecked(provided.0),
        },
        "country": facts.country,
        "display_brand": facts.brand.as_str(),
        "exp_month": facts.exp_month,
        "exp_year": facts.exp_year,
        "fingerprint": facts.fingerprint,
        "funding": facts.funding,
        "generated_from": null,
        "last4": facts.last4,
        "networks": { "available": [facts.brand.as_str()], "preferred": null },
        "regulated_status": "unregulated",
        "three_d_secure_usage": { "supported": facts.three_d_secure_supported },
        "wallet": null,
    })
}

/// Billing details from `billing_details[…]`.
fn billing_details(p: &mut Params) -> Result<Value, ApiError> {
    let mut out = json!({
        "address": { "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null },
        "email": null, "name": null, "phone": null,
    });
    if let Some(mut b) = p.map("billing_details")? {
        if let Some(a) = address(&mut b, "address")? {
            out["address"] = a;
        }
        for field in ["email", "name", "phone"] {
            if let Some(v) = b.string(field)? {
                out[field] = Value::String(v);
            }
        }
        b.finish()?;
    }
    Ok(out)
}

fn tokenize_error(e: TokenizeError) -> Failure {
    match e {
        TokenizeError::Rejected(r) => r.to_api_error().into(),
        TokenizeError::Unavailable(cause) => Failure::Internal(format!("vault: {cause}")),
    }
}

/// Stores the PaymentMethod object for freshly tokenized card facts.
fn store_new(
    ctx: &Ctx<'_>,
    id: &str,
    facts: &CardFacts,
    cvc_given: bool,
    billing: Value,
    metadata: Value,
) -> Outcome<Value> {
    let has_line1 = billing["address"]["line1"].is_string();
    let has_postal = billing["address"]["postal_code"].is_string();
    let doc = json!({
        "id": id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": billing,
        "card": card_json(facts, (cvc_given, has_line1, has_postal)),
        "created": ctx.now,
        "customer": null,
        "livemode": ctx.scope().livemode,
        "metadata": metadata,
        "type": "card",
    });
    // Kept for the risk engine, never shown: the network's view of the card, and
    // where the browser that tokenized it was.
    let private = json!({
        "network_risk": facts.network_risk,
        "client_ip": ctx.client_ip.map(|ip| ip.to_string()),
    });
    // Encoded before the write, which holds the store's one write lock.
    let row = Encoded::new(&doc)?;
    ctx.write(|tx| {
        tx.insert_object(
            ctx.scope(),
            &NewObject {
                id,
                kind: "payment_method",
                created: ctx.now,
                ref1: None,
                ref2: None,
                doc: &row,
                private: Some(&private),
            },
        )?;
        Ok(())
    })?;
    Ok(doc)
}

/// Creates a card PaymentMethod from `type`, `card[…]`, `billing_details[…]` and
/// `metadata` in `p` (a request, or a PaymentIntent's `payment_method_data`).
pub(crate) fn create_card(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    match p.string("type")?.as_deref() {
        Some("card") => {}
        None => return Err(ApiError::missing(&p.name("type")).into()),
        Some(_) => {
            return Err(ApiError::invalid_request(
                &p.name("type"),
                "Invalid type: Tessera supports type=card.",
            )
            .into());
        }
    }
    let Some(mut card) = p.map("card")? else {
        return Err(ApiError::missing(&p.name("card")).into());
    };
    let number = Zeroizing::new(card.required("number")?);
    let exp_month = card
        .small_uint("exp_month")?
        .ok_or_else(|| ApiError::missing(&card.name("exp_month")))?;
    let exp_year = card
        .small_uint("exp_year")?
        .ok_or_else(|| ApiError::missing(&card.name("exp_year")))?;
    let cvc = card.string("cvc")?.map(Zeroizing::new);
    card.finish()?;
    let billing = billing_details(p)?;
    let metadata = new_metadata(p)?;
    for noise in BROWSER_NOISE {
        p.take(noise);
    }
    p.finish()?;
    let id = random::object_id(ObjectKind::PaymentMethod.prefix());
    let cvc_given = cvc.is_some();
    let facts = ctx
        .app
        .vault
        .tokenize(
            &ctx.scope().account,
            &id,
            CardInput {
                number,
                exp_month,
                exp_year,
                cvc,
            },
        )
        .map_err(tokenize_error)?;
    store_new(ctx, &id, &facts, cvc_given, billing, metadata)
}

/// `POST /v1/payment_methods`
pub(crate) fn create(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    create_card(ctx, p)
}

/// Resolves a `payment_method` parameter: an id in the caller's account, or in test
/// mode one of the ready-made test cards (`pm_card_visa`), which creates a fresh one.
pub(crate) fn resolve(ctx: &Ctx<'_>, id: &str, param: &str) -> Outcome<Value> {
    if let Some(found) = ctx
        .app
        .store
        .read(|tx| tx.get_object(ctx.scope(), "payment_method", id))?
    {
        return Ok(found.doc);
    }
    if !ctx.scope().livemode {
        let new_id = random::object_id(ObjectKind::PaymentMethod.prefix());
        if let Some(result) = ctx
            .app
            .vault
            .tokenize_test_card(&ctx.scope().account, &new_id, id)
        {
            let facts = result.map_err(tokenize_error)?;
            let billing = billing_details(&mut Params::default())?;
            return store_new(ctx, &new_id, &facts, false, billing, json!({}));
        }
    }
    Err(ApiError::no_such("payment_method", id, param).into())
}

/// `GET /v1/payment_methods/:id`
pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    Ok(ctx
        .app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::PaymentMethod, id, "payment_method"))?
        .doc)
}

/// `POST /v1/payment_methods/:id`: billing details, expiry and metadata.
pub(crate) fn update(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let billing = if p.has("billing_details") {
        Some(billing_details(p)?)
    } else {
        None
    };
    let metadata = p.metadata()?;
    let mut card_update = Vec::new();
    if let Some(mut card) = p.map("card")? {
        for field in ["exp_month", "exp_year"] {
            if let Some(v) = card.small_uint(field)? {
                card_update.push((field, v));
            }
        }
        card.finish()?;
    }
    p.finish()?;
    ctx.write(|tx| {
        let StoredObject { doc: before, .. } =
            load(tx, ctx, ObjectKind::PaymentMethod, id, "payment_method")?;
        let mut doc = before.clone();
        if let Some(b) = &billing {
            doc["billing_details"] = b.clone();
        }
        for (field, v) in &card_update {
            doc["card"][*field] = json!(v);
        }
        if !(1..=12).contains(&doc["card"]["exp_month"].as_u64().unwrap_or(0)) {
            return Err(ApiError::card(
                "invalid_expiry_month",
                None,
                "Your card's expiration month is invalid.",
            )
            .with_param("card[exp_month]")
            .into());
        }
        update_metadata(&mut doc, metadata)?;
        tx.update_object(
            ctx.scope(),
            id,
            (doc["customer"].as_str(), None),
            &doc,
            None,
        )?;
        events::record(
            tx,
            ctx,
            "payment_method.updated",
            &doc,
            Some(events::previous_attributes(&before, &doc)),
        )?;
        Ok(doc)
    })
}

/// Attaches a PaymentMethod to a customer inside a transaction.
pub(crate) fn attach_in(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    pm: &Value,
    customer: &str,
    param: &str,
) -> Outcome<Value> {
    let pm_id = pm["id"].as_str().unwrap_or_default();
    let found = tx.get_object(ctx.scope(), "customer", customer)?;
    if found.is_none_or(|c| c.doc["deleted"] == true) {
        return Err(ApiError::no_such("customer", customer, param).into());
    }
    match pm["customer"].as_str() {
        Some(c) if c == customer => return Ok(pm.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "This PaymentMethod is already attached to another customer. Detach it first.",
            )
            .with_code("payment_method_unexpected_state")
            .into());
        }
        None => {}
    }
    let mut doc = pm.clone();
    doc["customer"] = json!(customer);
    tx.update_object(ctx.scope(), pm_id, (Some(customer), None), &doc, None)?;
    events::record(
        tx,
        ctx,
        "payment_method.attached",
        &doc,
        Some(json!({ "customer": null })),
    )?;
    Ok(doc)
}

/// Resolves and attaches a PaymentMethod to a customer.
pub(crate) fn attach_to(ctx: &Ctx<'_>, pm_id: &str, customer: &str, param: &str) -> Outcome<Value> {
    let pm = resolve(ctx, pm_id, param)?;
    ctx.app
        .store
        .write(|tx| attach_in(tx, ctx, &pm, customer, "customer"))
}

/// `POST /v1/payment_methods/:id/attach`
pub(crate) fn attach(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let customer = p.required("customer")?;
    p.finish()?;
    attach_to(ctx, id, &customer, "payment_method")
}

/// `POST /v1/payment_methods/:id/detach`
pub(crate) fn detach(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    ctx.write(|tx| {
        let StoredObject { doc: before, .. } =
            load(tx, ctx, ObjectKind::PaymentMethod, id, "payment_method")?;
        if before["customer"].is_null() {
            return Err(
                ApiError::bad_request("The PaymentMethod is not attached to a customer.")
                    .with_code("payment_method_unexpected_state")
                    .into(),
            );
        }
        let mut doc = before.clone();
        doc["customer"] = Value::Null;
        tx.update_object(ctx.scope(), id, (None, None), &doc, None)?;
        events::record(
            tx,
            ctx,
            "payment_method.detached",
            &doc,
            Some(json!({ "customer": before["customer"] })),
        )?;
        Ok(doc)
    })
}

fn take_type(p: &mut Params) -> Result<(), ApiError> {
    match p.string("type")?.as_deref() {
        None | Some("card") => Ok(()),
        Some(_) => Err(ApiError::invalid_request(
            "type",
            "Invalid type: Tessera supports type=card.",
        )),
    }
}

/// `GET /v1/payment_methods?customer=…`
pub(crate) fn list(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let page = Page::take(p)?;
    take_type(p)?;
    let customer = p.string("customer")?;
    p.finish()?;
    page.fetch(
        ctx,
        ObjectKind::PaymentMethod,
        "/v1/payment_methods",
        (customer.as_deref(), None),
    )
}

/// `GET /v1/customers/:id/payment_methods`
pub(crate) fn list_for_customer(ctx: &Ctx<'_>, customer: &str, p: &mut Params) -> Outcome<Value> {
    let page = Page::take(p)?;
    take_type(p)?;
    p.finish()?;
    ctx.app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::Customer, customer, "customer"))?;
    page.fetch(
        ctx,
        ObjectKind::PaymentMethod,
        &format!("/v1/customers/{customer}/payment_methods"),
        (Some(customer), None),
    )
}
