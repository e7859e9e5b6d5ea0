//! Events: one for every state change, written in the same transaction as the change.

use std::sync::atomic::{AtomicI64, Ordering};

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tessera_core::ids::ObjectKind;
use tessera_crypto::random;
use tessera_store::{NewObject, Tx};

use crate::pipeline::{API_VERSION, Ctx, Failure, Outcome, unix_now};

/// Records an event of `kind` about `object`, with the attributes it changed.
pub(crate) fn record<O: Serialize + ?Sized>(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    kind: &str,
    object: &O,
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

/// The `created` of an event recorded now: the time of the write that records it, never
/// earlier than an event this process recorded before.
///
/// Events are recorded inside writes, which hold the store's one write lock in turn and
/// commit in that order. Stamped then, rather than when their request began, events are
/// created in the order they become visible. Lists run by `created`, so a poller walking
/// forward from the newest event it has seen (`ending_before`) misses none, even when
/// the request that began first is the last to write.
fn created_now() -> i64 {
    static LATEST: AtomicI64 = AtomicI64::new(0);
    let now = unix_now();
    LATEST.fetch_max(now, Ordering::Relaxed).max(now)
}

/// Records an event outside an API request (a shopper's 3-D Secure challenge).
/// `now` is the time its deliveries are due from; the event is created when it is
/// written ([`created_now`]).
pub(crate) fn record_as<O: Serialize + ?Sized>(
    tx: &Tx<'_>,
    scope: &tessera_store::Scope,
    now: i64,
    request: Option<(&str, Option<&str>)>,
    kind: &str,
    object: &O,
    previous: Option<Value>,
) -> Outcome<()> {
    let id = random::object_id(ObjectKind::Event.prefix());
    let endpoints = subscribed_endpoints(tx, scope, kind)?;
    let (request_id, idempotency_key) = match request {
        Some((id, key)) => (Some(id), key),
        None => (None, None),
    };
    // Serialised straight from the borrowed object: events carry a full snapshot, and
    // copying it into a new JSON tree first was a measurable share of each payment.
    let created = created_now();
    let doc = EventDoc {
        api_version: API_VERSION,
        created,
        data: EventData {
            object,
            previous_attributes: previous.as_ref(),
        },
        id: &id,
        livemode: scope.livemode,
        object: "event",
        pending_webhooks: endpoints.len(),
        request: EventRequest {
            id: request_id,
            idempotency_key,
        },
        kind,
    };
    tx.insert_object(
        scope,
        &NewObject {
            id: &id,
            kind: "event",
            created,
            // Listed by type (`GET /v1/events?type=`); nothing looks events up by the
            // object they carry, so they are not indexed by it: three fewer index
            // entries per payment, each one more page in the commit.
            ref1: Some(kind),
            ref2: None,
            doc: &doc,
            private: None,
        },
    )?;
    // Fan-out in the event's own transaction: an event that exists has its deliveries.
    for endpoint in endpoints {
        tessera_webhooks::records::create(tx, scope, now, &id, &endpoint)?;
    }
    Ok(())
}

/// An object's document serialised once, for its own row and for the snapshot its
/// event carries: a payment's intent and charge were each serialised twice.
pub(crate) fn serialised(doc: &Value) -> Outcome<Box<RawValue>> {
    serde_json::value::to_raw_value(doc).map_err(|e| Failure::Internal(e.to_string()))
}

/// An event's wire document (fields in the order a `Value` object keeps them).
#[derive(Serialize)]
struct EventDoc<'a, O: ?Sized> {
    api_version: &'a str,
    created: i64,
    data: EventData<'a, O>,
    id: &'a str,
    livemode: bool,
    object: &'a str,
    pending_webhooks: usize,
    request: EventRequest<'a>,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct EventData<'a, O: ?Sized> {
    object: &'a O,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_attributes: Option<&'a Value>,
}

#[derive(Serialize)]
struct EventRequest<'a> {
    id: Option<&'a str>,
    idempotency_key: Option<&'a str>,
}

/// Every event type Tessera emits: what `enabled_events` may name.
pub(crate) const EVENT_TYPES: &[&str] = &[
    "card_testing.detected",
    "charge.captured",
    "charge.dispute.created",
    "charge.failed",
    "charge.refunded",
    "charge.succeeded",
    "checkout.session.completed",
    "checkout.session.expired",
    "customer.created",
    "customer.deleted",
    "customer.updated",
    "payment_intent.amount_capturable_updated",
    "payment_intent.canceled",
    "payment_intent.created",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "payment_intent.succeeded",
    "payment_method.attached",
    "payment_method.detached",
    "payment_method.updated",
    "refund.created",
    "refund.failed",
    "refund.updated",
    "review.closed",
    "review.opened",
];

/// Ids of the account's enabled endpoints subscribed to `kind`.
fn subscribed_endpoints(
    tx: &Tx<'_>,
    scope: &tessera_store::Scope,
    kind: &str,
) -> Outcome<Vec<String>> {
    let query = tessera_store::ListQuery {
        kind: "webhook_endpoint",
        limit: 100,
        ..Default::default()
    };
    let Some(page) = tx.list_objects(scope, &query)? else {
        return Ok(Vec::new());
    };
    Ok(page
        .data
        .iter()
        .filter(|e| e["status"] == "enabled")
        .filter(|e| {
            e["enabled_events"]
                .as_array()
                .is_some_and(|types| types.iter().any(|t| t == "*" || t == kind))
        })
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tessera_store::{ListQuery, Scope, Store};

    fn scope() -> Scope {
        Scope {
            account: "acct_a".into(),
            livemode: false,
        }
    }

    /// A page of the scope's events (ten at most) that `q` selects.
    fn events(store: &Store, scope: &Scope, q: ListQuery<'_>) -> Vec<Value> {
        let q = ListQuery {
            kind: "event",
            limit: 10,
            ..q
        };
        store
            .read(|tx| tx.list_objects(scope, &q))
            .unwrap()
            .unwrap()
            .data
    }

    #[test]
    fn an_event_is_listed_by_its_type_and_not_indexed_by_its_object() {
        let (_dir, store) = crate::scratch_store();
        let scope = scope();
        let object = json!({ "id": "pi_1", "object": "payment_intent" });
        store
            .write(|tx| {
                record_as(
                    tx,
                    &scope,
                    1_700_000_000,
                    None,
                    "payment_intent.succeeded",
                    &object,
                    None,
                )
            })
            .unwrap();
        let listed = |ref1, ref2| {
            let q = ListQuery {
                ref1,
                ref2,
                ..Default::default()
            };
            events(&store, &scope, q)
        };
        let by_type = listed(Some("payment_intent.succeeded"), None);
        assert_eq!(by_type.len(), 1);
        assert_eq!(by_type[0]["data"]["object"], object);
        assert!(listed(Some("charge.succeeded"), None).is_empty());
        assert!(listed(None, Some("pi_1")).is_empty());
    }

    /// A request that began first can write last: its event must still come after
    /// the events a poller has already seen, or polling forward would skip it.
    #[test]
    fn an_event_is_created_when_it_is_written_so_polling_forward_misses_none() {
        let (_dir, store) = crate::scratch_store();
        let scope = scope();
        let record = |request_began: i64, id: &str| {
            store
                .write(|tx| {
                    record_as(
                        tx,
                        &scope,
                        request_began,
                        None,
                        "customer.created",
                        &json!({ "id": id, "object": "customer" }),
                        None,
                    )
                })
                .unwrap()
        };
        let page = |ending_before| {
            let q = ListQuery {
                ending_before,
                ..Default::default()
            };
            events(&store, &scope, q)
        };
        let now = unix_now();
        record(now, "cus_first");
        let seen = page(None);
        assert_eq!(seen.len(), 1);
        let newest = seen[0]["id"].as_str().unwrap().to_owned();
        assert!(seen[0]["created"].as_i64().unwrap() >= now);
        // Its request began a minute before the first one's, and wrote after it.
        record(now - 60, "cus_second");
        let after = page(Some(&newest));
        assert_eq!(
            after.len(),
            1,
            "the later event is listed after the one seen"
        );
        assert_eq!(after[0]["data"]["object"]["id"], "cus_second");
        assert!(after[0]["created"].as_i64() >= seen[0]["created"].as_i64());
    }

    #[test]
    fn an_event_document_is_stripes_shape_with_keys_in_order() {
        let object = json!({ "id": "pi_1", "object": "payment_intent", "status": "succeeded" });
        let previous = json!({ "status": "requires_confirmation" });
        let doc = EventDoc {
            api_version: API_VERSION,
            created: 1_700_000_000,
            data: EventData {
                object: &object,
                previous_attributes: Some(&previous),
            },
            id: "evt_1",
            livemode: false,
            object: "event",
            pending_webhooks: 2,
            request: EventRequest {
                id: Some("req_1"),
                idempotency_key: None,
            },
            kind: "payment_intent.succeeded",
        };
        let expected = json!({
            "id": "evt_1",
            "object": "event",
            "api_version": API_VERSION,
            "created": 1_700_000_000,
            "data": { "object": object, "previous_attributes": previous },
            "livemode": false,
            "pending_webhooks": 2,
            "request": { "id": "req_1", "idempotency_key": null },
            "type": "payment_intent.succeeded",
        });
        // The same text a `Value` would have given: same keys, same order.
        assert_eq!(serde_json::to_string(&doc).unwrap(), expected.to_string());
        let without = EventDoc {
            data: EventData {
                object: &object,
                previous_attributes: None,
            },
            ..doc
        };
        let text = serde_json::to_string(&without).unwrap();
        assert!(!text.contains("previous_attributes"));
    }
}
