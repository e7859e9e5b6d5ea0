//! Events: one for every state change, written in the same transaction as the change.

use serde_json::{Value, json};
use tessera_core::ids::ObjectKind;
use tessera_crypto::random;
use tessera_store::{NewObject, Tx};

use crate::pipeline::{API_VERSION, Ctx, Outcome};

/// Records an event of `kind` about `object`, with the attributes it changed.
pub(crate) fn record(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    kind: &str,
    object: &Value,
    previous: Option<Value>,
) -> Outcome<()> {
    record_as(
        tx,
        ctx.scope(),
        ctx.now,
        Some((ctx.request_id, ctx.idempotency_key)),
        kind,
        object,
        previous,
    )
}

/// Records an event outside an API request (a shopper's 3-D Secure challenge).
pub(crate) fn record_as(
    tx: &Tx<'_>,
    scope: &tessera_store::Scope,
    now: i64,
    request: Option<(&str, Option<&str>)>,
    kind: &str,
    object: &Value,
    previous: Option<Value>,
) -> Outcome<()> {
    let id = random::object_id(ObjectKind::Event.prefix());
    let mut data = json!({ "object": object });
    if let Some(previous) = previous {
        data["previous_attributes"] = previous;
    }
    let doc = json!({
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": now,
        "data": data,
        "livemode": scope.livemode,
        "pending_webhooks": 0,
        "request": match request {
            Some((id, key)) => json!({ "id": id, "idempotency_key": key }),
            None => json!({ "id": null, "idempotency_key": null }),
        },
        "type": kind,
    });
    tx.insert_object(
        scope,
        &NewObject {
            id: &id,
            kind: "event",
            created: now,
            ref1: Some(kind),
            ref2: object["id"].as_str(),
            doc: &doc,
            private: None,
        },
    )?;
    Ok(())
}

/// The attributes of `before` that differ in `after`, with their old values.
pub(crate) fn previous_attributes(before: &Value, after: &Value) -> Value {
    let mut changed = serde_json::Map::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, v) in b {
            if a.get(k) != Some(v) {
                changed.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(changed)
}
