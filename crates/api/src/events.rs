//! Events: one for every state change, written in the same transaction as the change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{LazyLock, Mutex};

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tessera_core::ids::ObjectKind;
use tessera_crypto::random;
use tessera_store::{Document, Encoded, NewObject, Tx};

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

/// The latest `created` of an event this process recorded ([`created_now`]).
static LATEST: AtomicI64 = AtomicI64::new(0);

/// The `created` of an event recorded now: the time of the write that records it, never
/// earlier than an event this process recorded before.
///
/// Events are recorded inside writes, which hold the store's one write lock in turn and
/// commit in that order. Stamped then, rather than when their request began, events are
/// created in the order they become visible. Lists run by `created`, so a poller walking
/// forward from the newest event it has seen (`ending_before`) misses none, even when
/// the request that began first is the last to write.
fn created_now() -> i64 {
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
    let event = Prepared::new(request, kind, object, previous);
    record_prepared(tx, scope, now, event)
}

/// An event made ready before the write that records it: its id, and its document
/// encoded as it will be stored if, when the write records it, it is created in the
/// same second and for the same endpoints as expected ([`prepare`]).
pub(crate) struct Prepared<'a, O: ?Sized> {
    id: String,
    kind: &'a str,
    object: &'a O,
    previous: Option<Value>,
    request: Option<(&'a str, Option<&'a str>)>,
    /// The `created` and endpoints it was encoded with, and its encoded document.
    encoded: Option<(i64, Vec<String>, Encoded)>,
}

/// An event of `kind` about `object` for the request of `ctx`, encoded now, before
/// the write that records it ([`record_prepared`]): for events written under the
/// store's one write lock on every payment, where encoding them was a seventh of the
/// time the lock was held. It is encoded as created now and for the endpoints the
/// account's last event was delivered to; should the write find another second or
/// other endpoints, it encodes the event again.
pub(crate) fn prepare<'a, O: Serialize + ?Sized>(
    ctx: &'a Ctx<'_>,
    kind: &'a str,
    object: &'a O,
    previous: Option<Value>,
) -> Outcome<Prepared<'a, O>> {
    let request = Some((ctx.request_id, ctx.idempotency_key));
    prepare_as(ctx.scope(), request, kind, object, previous)
}

/// [`prepare`] for `request` in `scope`.
fn prepare_as<'a, O: Serialize + ?Sized>(
    scope: &tessera_store::Scope,
    request: Option<(&'a str, Option<&'a str>)>,
    kind: &'a str,
    object: &'a O,
    previous: Option<Value>,
) -> Outcome<Prepared<'a, O>> {
    let mut event = Prepared::new(request, kind, object, previous);
    let created = LATEST.load(Ordering::Relaxed).max(unix_now());
    let endpoints = expected_subscribers(scope, kind);
    let encoded = Encoded::new(&event.doc(scope, created, endpoints.len()))?;
    event.encoded = Some((created, endpoints, encoded));
    Ok(event)
}

impl<'a, O: Serialize + ?Sized> Prepared<'a, O> {
    /// A new event, with its id, not encoded yet.
    fn new(
        request: Option<(&'a str, Option<&'a str>)>,
        kind: &'a str,
        object: &'a O,
        previous: Option<Value>,
    ) -> Prepared<'a, O> {
        Prepared {
            id: random::object_id(ObjectKind::Event.prefix()),
            kind,
            object,
            previous,
            request,
            encoded: None,
        }
    }

    /// Its row, created at `created`, with `doc` as its document.
    fn row<'d, D: Document + ?Sized>(&'d self, created: i64, doc: &'d D) -> NewObject<'d, D> {
        NewObject {
            id: &self.id,
            kind: "event",
            created,
            // Listed by type (`GET /v1/events?type=`); nothing looks events up by the
            // object they carry, so they are not indexed by it: three fewer index
            // entries per payment, each one more page in the commit.
            ref1: Some(self.kind),
            ref2: None,
            doc,
            private: None,
        }
    }

    /// Its wire document, created at `created` for `pending_webhooks` endpoints.
    fn doc(
        &self,
        scope: &tessera_store::Scope,
        created: i64,
        pending_webhooks: usize,
    ) -> EventDoc<'_, O> {
        let (request_id, idempotency_key) = match self.request {
            Some((id, key)) => (Some(id), key),
            None => (None, None),
        };
        EventDoc {
            api_version: API_VERSION,
            created,
            data: EventData {
                object: self.object,
                previous_attributes: self.previous.as_ref(),
            },
            id: &self.id,
            livemode: scope.livemode,
            object: "event",
            pending_webhooks,
            request: EventRequest {
                id: request_id,
                idempotency_key,
            },
            kind: self.kind,
        }
    }
}

/// Records `event` (see [`record_as`]) and its deliveries: with the document it was
/// encoded with, if it is created in that second for those endpoints.
pub(crate) fn record_prepared<O: Serialize + ?Sized>(
    tx: &Tx<'_>,
    scope: &tessera_store::Scope,
    now: i64,
    event: Prepared<'_, O>,
) -> Outcome<()> {
    let endpoints = subscribers(&enabled_endpoints(tx, scope)?, event.kind);
    let created = created_now();
    match &event.encoded {
        Some((at, expected, encoded)) if *at == created && *expected == endpoints => {
            tx.insert_object(scope, &event.row(created, encoded))?;
        }
        // Serialised straight from the borrowed object: events carry a full snapshot,
        // and copying it into a new JSON tree first was a measurable share of each
        // payment.
        _ => {
            let doc = event.doc(scope, created, endpoints.len());
            tx.insert_object(scope, &event.row(created, &doc))?;
        }
    }
    // Fan-out in the event's own transaction: an event that exists has its deliveries.
    for endpoint in endpoints {
        tessera_webhooks::records::create(tx, scope, now, &event.id, &endpoint)?;
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

/// An enabled webhook endpoint: its id and the event types it is subscribed to (`*`:
/// every type).
#[derive(Debug, Clone, PartialEq)]
struct Subscription {
    id: String,
    types: Vec<String>,
}

/// The account's enabled endpoints, read in the write that records an event, and
/// remembered as what the account's next event is expected to go to ([`prepare`]).
fn enabled_endpoints(tx: &Tx<'_>, scope: &tessera_store::Scope) -> Outcome<Vec<Subscription>> {
    let query = tessera_store::ListQuery {
        kind: "webhook_endpoint",
        limit: 100,
        ..Default::default()
    };
    let endpoints: Vec<Subscription> = match tx.list_objects(scope, &query)? {
        None => Vec::new(),
        Some(page) => page
            .data
            .iter()
            .filter(|e| e["status"] == "enabled")
            .filter_map(|e| {
                let types = e["enabled_events"].as_array()?;
                Some(Subscription {
                    id: e["id"].as_str()?.to_owned(),
                    types: types
                        .iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect(),
                })
            })
            .collect(),
    };
    let mut seen = SEEN_ENDPOINTS.lock().unwrap_or_else(|p| p.into_inner());
    let mode = usize::from(scope.livemode);
    match seen.get_mut(&scope.account) {
        Some(modes) => {
            if modes[mode] != endpoints {
                modes[mode].clone_from(&endpoints);
            }
        }
        None => {
            if seen.len() >= SEEN_ENDPOINTS_KEPT {
                seen.clear();
            }
            let mut modes: [Vec<Subscription>; 2] = Default::default();
            modes[mode].clone_from(&endpoints);
            seen.insert(scope.account.clone(), modes);
        }
    }
    Ok(endpoints)
}

/// What an event is expected to find ([`prepare`]): per account, the endpoints its
/// last event found in test and in live mode.
static SEEN_ENDPOINTS: LazyLock<Mutex<HashMap<String, [Vec<Subscription>; 2]>>> =
    LazyLock::new(Mutex::default);

/// Accounts [`SEEN_ENDPOINTS`] remembers before it starts over.
const SEEN_ENDPOINTS_KEPT: usize = 1024;

/// The ids of the endpoints subscribed to `kind` that the account's last event found
/// ([`enabled_endpoints`]); none if it had none since this process started.
fn expected_subscribers(scope: &tessera_store::Scope, kind: &str) -> Vec<String> {
    let seen = SEEN_ENDPOINTS.lock().unwrap_or_else(|p| p.into_inner());
    seen.get(&scope.account)
        .map(|modes| subscribers(&modes[usize::from(scope.livemode)], kind))
        .unwrap_or_default()
}

/// The ids of those of `endpoints` subscribed to events of `kind`.
fn subscribers(endpoints: &[Subscription], kind: &str) -> Vec<String> {
    endpoints
        .iter()
        .filter(|e| e.types.iter().any(|t| t == "*" || t == kind))
        .map(|e| e.id.clone())
        .collect()
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

    /// Records `event` in `scope` in a write of its own; returns it as listed.
    fn record_listed(store: &Store, scope: &Scope, event: Prepared<'_, Value>) -> Value {
        let id = event.id.clone();
        store
            .write(|tx| record_prepared(tx, scope, unix_now(), event))
            .unwrap();
        let listed = events(store, scope, ListQuery::default());
        listed.into_iter().find(|e| e["id"] == id.as_str()).unwrap()
    }

    /// Writes webhook endpoint `id` of `scope`, enabled for every event or not.
    fn endpoint(store: &Store, scope: &Scope, id: &str, enabled: bool) {
        let doc = json!({
            "id": id, "object": "webhook_endpoint", "enabled_events": ["*"],
            "status": if enabled { "enabled" } else { "disabled" },
        });
        store
            .write(|tx| {
                if tx.get_private(scope, "webhook_endpoint", id)?.is_some() {
                    return tx.update_object(scope, id, (None, None), &doc, None);
                }
                let row = NewObject {
                    id,
                    kind: "webhook_endpoint",
                    created: unix_now(),
                    ref1: None,
                    ref2: None,
                    doc: &doc,
                    private: None,
                };
                tx.insert_object(scope, &row)
            })
            .unwrap();
    }

    /// An event made ready before its write is recorded for the endpoints the write
    /// finds, not for those it was encoded with: one created meanwhile gets it, and
    /// one disabled meanwhile does not.
    #[test]
    fn a_prepared_event_goes_to_the_endpoints_its_write_finds() {
        let (_dir, store) = crate::scratch_store();
        let scope = Scope {
            account: random::object_id("acct"),
            livemode: false,
        };
        let object = json!({ "id": "cus_1", "object": "customer" });
        let prepare = || prepare_as(&scope, None, "customer.created", &object, None).unwrap();

        let first = prepare();
        assert_eq!(first.encoded.as_ref().unwrap().1, Vec::<String>::new());
        endpoint(&store, &scope, "we_1", true);
        let recorded = record_listed(&store, &scope, first);
        assert_eq!(recorded["pending_webhooks"], 1);
        assert_eq!(recorded["data"]["object"], object);

        // The write found we_1: the next event is encoded for it, and recorded as is.
        let second = prepare();
        assert_eq!(second.encoded.as_ref().unwrap().1, vec!["we_1".to_owned()]);
        assert_eq!(record_listed(&store, &scope, second)["pending_webhooks"], 1);

        let third = prepare();
        endpoint(&store, &scope, "we_1", false);
        assert_eq!(record_listed(&store, &scope, third)["pending_webhooks"], 0);
    }

    /// An event made ready in one second and written in a later one is created when
    /// it is written, as any event is (see the test above on polling forward).
    #[test]
    fn a_prepared_event_written_a_second_later_is_created_then() {
        let (_dir, store) = crate::scratch_store();
        let scope = scope();
        let object = json!({ "id": "cus_1", "object": "customer" });
        let mut event = prepare_as(&scope, None, "customer.created", &object, None).unwrap();
        let (created, endpoints, _) = event.encoded.take().unwrap();
        let stale = Encoded::new(&event.doc(&scope, created - 5, endpoints.len())).unwrap();
        event.encoded = Some((created - 5, endpoints, stale));
        let recorded = record_listed(&store, &scope, event);
        assert!(recorded["created"].as_i64().unwrap() >= created);
    }

    /// Made ready in the second it is written, an event is stored as it was encoded:
    /// the same document that recording it in the write would have made.
    #[test]
    fn a_prepared_event_is_the_event_its_write_would_have_recorded() {
        let (_dir, store) = crate::scratch_store();
        let scope = scope();
        let object = json!({ "id": "pi_1", "object": "payment_intent" });
        let previous = Some(json!({ "status": "requires_confirmation" }));
        let request = Some(("req_1", Some("key_1")));
        let kind = "payment_intent.succeeded";
        let event = prepare_as(&scope, request, kind, &object, previous).unwrap();
        let (created, _, encoded) = event.encoded.as_ref().unwrap();
        let expected = event.doc(&scope, *created, 0);
        let as_written = Encoded::new(&expected).unwrap();
        assert_eq!(encoded.stored().unwrap(), as_written.stored().unwrap());
        let mut expected = serde_json::to_value(&expected).unwrap();
        let recorded = record_listed(&store, &scope, event);
        // (Unless the write came in the next second: then it was encoded again.)
        expected["created"] = recorded["created"].clone();
        assert_eq!(recorded, expected);
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
