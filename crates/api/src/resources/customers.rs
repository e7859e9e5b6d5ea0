//! Customers: `/v1/customers`.

use serde_json::{Value, json};
use tessera_core::ApiError;
use tessera_core::ids::ObjectKind;
use tessera_crypto::random;
use tessera_store::NewObject;

use super::{address, load, new_metadata, update_metadata, update_string};
use crate::events::{self, previous_attributes};
use crate::form::Params;
use crate::list::Page;
use crate::pipeline::{Ctx, Outcome};

const FIELDS: [&str; 4] = ["email", "name", "description", "phone"];

fn validate_email(email: Option<&Value>) -> Result<(), ApiError> {
    if let Some(Value::String(e)) = email
        && (e.len() > 512 || !e.contains('@'))
    {
        return Err(ApiError::invalid_request(
            "email",
            "Invalid email address: it must contain an @.",
        ));
    }
    Ok(())
}

/// `POST /v1/customers`
pub(crate) fn create(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let id = random::object_id(ObjectKind::Customer.prefix());
    let mut doc = json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": ctx.now,
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": null,
        "email": null,
        "invoice_prefix": random::base62(8).to_uppercase(),
        "invoice_settings": { "custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null },
        "livemode": ctx.scope().livemode,
        "metadata": new_metadata(p)?,
        "name": null,
        "next_invoice_sequence": 1,
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null,
    });
    for field in FIELDS {
        update_string(p, &mut doc, field)?;
    }
    validate_email(doc.get("email"))?;
    if let Some(a) = address(p, "address")? {
        doc["address"] = a;
    }
    let payment_method = p.string("payment_method")?;
    p.finish()?;
    ctx.write(|tx| {
        tx.insert_object(
            ctx.scope(),
            &NewObject {
                id: &id,
                kind: "customer",
                created: ctx.now,
                ref1: doc["email"].as_str(),
                ref2: None,
                doc: &doc,
                private: None,
            },
        )?;
        events::record(tx, ctx, "customer.created", &doc, None)
    })?;
    if let Some(pm) = payment_method {
        super::payment_methods::attach_to(ctx, &pm, &id, "payment_method")?;
    }
    Ok(doc)
}

/// `GET /v1/customers/:id`
pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    Ok(ctx
        .app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::Customer, id, "id"))?
        .doc)
}

/// `POST /v1/customers/:id`
pub(crate) fn update(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let metadata = p.metadata()?;
    let mut changes = Vec::new();
    for field in FIELDS {
        if let Some(v) = p.raw_str(field)? {
            changes.push((field, v));
        }
    }
    let new_address = address(p, "address")?;
    p.finish()?;
    ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::Customer, id, "id")?;
        if found.doc["deleted"] == true {
            return Err(ApiError::no_such("customer", id, "id").into());
        }
        let before = found.doc.clone();
        let mut doc = found.doc;
        for (field, v) in &changes {
            doc[*field] = if v.is_empty() {
                Value::Null
            } else {
                Value::String(v.clone())
            };
        }
        validate_email(doc.get("email"))?;
        if let Some(a) = &new_address {
            doc["address"] = a.clone();
        }
        update_metadata(&mut doc, metadata)?;
        tx.update_object(ctx.scope(), id, (doc["email"].as_str(), None), &doc, None)?;
        events::record(
            tx,
            ctx,
            "customer.updated",
            &doc,
            Some(previous_attributes(&before, &doc)),
        )?;
        Ok(doc)
    })
}

/// `DELETE /v1/customers/:id`
pub(crate) fn delete(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::Customer, id, "id")?;
        if found.doc["deleted"] == true {
            return Err(ApiError::no_such("customer", id, "id").into());
        }
        let tombstone = json!({ "id": id, "object": "customer", "deleted": true });
        tx.delete_object(ctx.scope(), id, &tombstone)?;
        events::record(tx, ctx, "customer.deleted", &found.doc, None)?;
        Ok(tombstone)
    })
}

/// `GET /v1/customers`
pub(crate) fn list(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let page = Page::take(p)?;
    let email = p.string("email")?;
    p.finish()?;
    page.fetch(
        ctx,
        ObjectKind::Customer,
        "/v1/customers",
        (email.as_deref(), None),
    )
}
