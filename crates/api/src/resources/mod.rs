//! The Stripe resources, one module each.

pub(crate) mod charges;
pub(crate) mod checkout_sessions;
pub(crate) mod customers;
pub(crate) mod events;
pub(crate) mod payment_intents;
pub(crate) mod payment_methods;
pub(crate) mod radar_lists;
pub(crate) mod radar_rules;
pub(crate) mod refunds;
pub(crate) mod reviews;
pub(crate) mod webhook_deliveries;
pub(crate) mod webhook_endpoints;

use serde_json::{Map, Value, json};
use tessera_core::ApiError;
use tessera_core::ids::ObjectKind;
use tessera_store::{StoredObject, Tx};

use crate::form::{MetadataChange, Params};
use crate::pipeline::{Ctx, Outcome};

/// Loads an object of `kind` in the caller's scope, or Stripe's 404 naming `param`.
pub(crate) fn load(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    kind: ObjectKind,
    id: &str,
    param: &str,
) -> Outcome<StoredObject> {
    match tx.get_object(ctx.scope(), kind.object_name(), id)? {
        Some(found) if found.doc["deleted"] != true || kind == ObjectKind::Customer => Ok(found),
        _ => Err(ApiError::no_such(kind.object_name(), id, param).into()),
    }
}

/// Retrieves an object that is shown as stored.
pub(crate) fn retrieve_plain(ctx: &Ctx<'_>, kind: ObjectKind, id: &str) -> Outcome<Value> {
    Ok(ctx.app.store.read(|tx| load(tx, ctx, kind, id, "id"))?.doc)
}

/// Deletes an object whose deletion needs nothing else done, answering with Stripe's
/// tombstone `{"id", "object", "deleted": true}`.
pub(crate) fn delete_plain(ctx: &Ctx<'_>, kind: ObjectKind, id: &str) -> Outcome<Value> {
    ctx.write(|tx| {
        load(tx, ctx, kind, id, "id")?;
        let tombstone = json!({ "id": id, "object": kind.object_name(), "deleted": true });
        tx.delete_object(ctx.scope(), id, &tombstone)?;
        Ok(tombstone)
    })
}

/// Metadata for a new object.
pub(crate) fn new_metadata(params: &mut Params) -> Result<Value, ApiError> {
    let mut map = Map::new();
    if let Some(change) = params.metadata()? {
        change.apply(&mut map);
    }
    Ok(Value::Object(map))
}

/// Applies a request's metadata change to an existing object's document; the merged
/// result must still have at most 50 keys.
pub(crate) fn update_metadata(
    doc: &mut Value,
    change: Option<MetadataChange>,
) -> Result<(), ApiError> {
    if let Some(change) = change {
        if !doc["metadata"].is_object() {
            doc["metadata"] = json!({});
        }
        if let Some(map) = doc["metadata"].as_object_mut() {
            change.apply(map);
            if map.len() > 50 {
                return Err(ApiError::invalid_request(
                    "metadata",
                    "Invalid metadata: an object can have at most 50 metadata keys; remove some by setting them to an empty value.",
                ));
            }
        }
    }
    Ok(())
}

/// Takes an optional string field for an update: absent leaves it, empty clears it.
pub(crate) fn update_string(
    params: &mut Params,
    doc: &mut Value,
    field: &str,
) -> Result<(), ApiError> {
    if let Some(v) = params.raw_str(field)? {
        doc[field] = if v.is_empty() {
            Value::Null
        } else {
            Value::String(v)
        };
    }
    Ok(())
}

/// An address the shopper's browser is sent to (`return_url`, `success_url`): absolute
/// http or https, at most 2048 characters, nothing that could split a header.
pub(crate) fn absolute_url(value: String, param: &str) -> Result<String, ApiError> {
    let ok = (value.starts_with("https://") || value.starts_with("http://"))
        && value.len() <= 2048
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(value)
    } else {
        Err(ApiError::invalid_request(
            param,
            format!("Invalid URL: {param} must be an absolute http or https URL."),
        ))
    }
}

/// A billing or customer address from `address[line1]`….
pub(crate) fn address(params: &mut Params, name: &str) -> Result<Option<Value>, ApiError> {
    let Some(mut a) = params.map(name)? else {
        return Ok(None);
    };
    let mut out = json!({ "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null });
    for field in ["city", "country", "line1", "line2", "postal_code", "state"] {
        if let Some(v) = a.string(field)? {
            out[field] = Value::String(v);
        }
    }
    a.finish()?;
    Ok(Some(out))
}
