//! Delivery records: created with their event, updated after each attempt.

use serde_json::{Value, json};
use tessera_crypto::random;
use tessera_store::{NewObject, Scope, StoreError, Tx};

use crate::DELIVER;

/// Creates the delivery of `event` to `endpoint` and schedules its first attempt now.
pub fn create(
    tx: &Tx<'_>,
    scope: &Scope,
    now: i64,
    event: &str,
    endpoint: &str,
) -> Result<(), StoreError> {
    let id = random::object_id("whd_");
    let doc = json!({
        "id": id,
        "object": "webhook_delivery",
        "attempt_count": 0,
        "attempts": [],
        "created": now,
        "event": event,
        "livemode": scope.livemode,
        "next_attempt": now,
        "status": "pending",
        "webhook_endpoint": endpoint,
    });
    tx.insert_object(
        scope,
        &NewObject {
            id: &id,
            kind: "webhook_delivery",
            created: now,
            ref1: Some(event),
            ref2: Some(endpoint),
            doc: &doc,
            private: None,
        },
    )?;
    tx.schedule_job(scope, now * 1000, DELIVER, &id)?;
    Ok(())
}

/// Saves a delivery document.
pub fn save(tx: &Tx<'_>, scope: &Scope, doc: &Value) -> Result<(), StoreError> {
    let id = doc["id"].as_str().unwrap_or_default();
    tx.update_object(
        scope,
        id,
        (doc["event"].as_str(), doc["webhook_endpoint"].as_str()),
        doc,
        None,
    )
}

/// Schedules another attempt of delivery `id` now, whatever its state.
pub fn retry_now(
    tx: &Tx<'_>,
    scope: &Scope,
    mut doc: Value,
    now: i64,
) -> Result<Value, StoreError> {
    if doc["status"] == "succeeded" {
        // Pending again on its event until this attempt succeeds.
        adjust_pending(tx, scope, doc["event"].as_str().unwrap_or_default(), 1)?;
    }
    doc["status"] = json!("pending");
    doc["next_attempt"] = json!(now);
    save(tx, scope, &doc)?;
    tx.schedule_job(
        scope,
        now * 1000,
        DELIVER,
        doc["id"].as_str().unwrap_or_default(),
    )?;
    Ok(doc)
}

/// Changes an event's `pending_webhooks` by `delta`.
pub fn adjust_pending(
    tx: &Tx<'_>,
    scope: &Scope,
    event: &str,
    delta: i64,
) -> Result<(), StoreError> {
    if let Some(found) = tx.get_object(scope, "event", event)? {
        let mut doc = found.doc;
        let pending = doc["pending_webhooks"].as_i64().unwrap_or(0) + delta;
        doc["pending_webhooks"] = json!(pending.max(0));
        tx.update_object(
            scope,
            event,
            (doc["type"].as_str(), doc["data"]["object"]["id"].as_str()),
            &doc,
            None,
        )?;
    }
    Ok(())
}
