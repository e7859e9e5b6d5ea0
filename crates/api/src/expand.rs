//! `expand[]`: replace ids in a response by the objects they name, along dot paths
//! up to four levels (`latest_charge.balance_transaction`, `data.customer`).

use serde_json::Value;
use tessera_core::ApiError;
use tessera_core::ids::ObjectKind;
use tessera_store::Tx;

use crate::form::printable;
use crate::pipeline::{Ctx, Outcome};

/// Applies every expansion path to `value`.
pub(crate) fn apply(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    mut value: Value,
    paths: &[String],
) -> Outcome<Value> {
    for path in paths {
        let segments: Vec<&str> = path.split('.').collect();
        expand_path(tx, ctx, &mut value, &segments, path)?;
    }
    Ok(value)
}

fn cannot(path: &str) -> ApiError {
    ApiError::invalid_request(
        "expand",
        format!("This property cannot be expanded ({}).", printable(path)),
    )
}

fn expand_path(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    value: &mut Value,
    segments: &[&str],
    path: &str,
) -> Outcome<()> {
    let Some((field, rest)) = segments.split_first() else {
        return Ok(());
    };
    if *field == "data" && value["object"] == "list" {
        if let Some(items) = value["data"].as_array_mut() {
            for item in items {
                expand_path(tx, ctx, item, rest, path)?;
            }
        }
        return Ok(());
    }
    let Some(slot) = value.as_object_mut().and_then(|o| o.get_mut(*field)) else {
        return Err(cannot(path).into());
    };
    if let Some(id) = slot.as_str() {
        let kind = ObjectKind::of_id(id).ok_or_else(|| cannot(path))?;
        let found = tx.get_object(ctx.scope(), kind.object_name(), id)?;
        // An id pointing at nothing stays an id, as on Stripe for deleted objects.
        if let Some(found) = found {
            *slot = found.doc;
        }
    } else if !slot.is_object() && !slot.is_null() {
        return Err(cannot(path).into());
    }
    if slot.is_object() {
        expand_path(tx, ctx, slot, rest, path)?;
    }
    Ok(())
}
