//! Captures, refunds and the release of an authorization are asked of the processor
//! outside the store's write lock: while a connector's call is out, other payments go
//! on, and the object it is for is fenced against other changes. Each call carries a
//! name that a retry after a crash uses again, and a refund whose request never records
//! the processor's answer is carried on by a scheduled job.
//!
//! The gateway runs in-process (`tessera_benches::gateway_with`) with a processor that
//! holds the first call of the kind a test picks until the test lets it go.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;
use tessera_benches::Gateway;
use tessera_core::ports::{Processor, RefundDecision};
use tessera_processor::Simulator;

/// Longest a test waits for anything; only reached when the behaviour under test is
/// broken (a request held up by a call it should not wait for).
const PATIENCE: Duration = Duration::from_secs(20);

/// The simulator, except that the first call of the held kind tells the test it arrived
/// (its operation's name) and waits until the test releases it.
struct HeldProcessor {
    held: &'static str,
    holding: AtomicBool,
    arrived: Mutex<Sender<String>>,
    release: Mutex<Receiver<()>>,
    names: Mutex<Vec<String>>,
}

impl HeldProcessor {
    fn call(&self, kind: &str, operation: &str) {
        self.names.lock().unwrap().push(operation.to_owned());
        if kind == self.held && !self.holding.swap(true, Ordering::SeqCst) {
            self.arrived
                .lock()
                .unwrap()
                .send(operation.to_owned())
                .unwrap();
            // Bounded, so a broken test ends instead of hanging.
            let _ = self.release.lock().unwrap().recv_timeout(PATIENCE * 2);
        }
    }
}

impl Processor for HeldProcessor {
    fn capture(&self, operation: &str, processor_data: &str, amount: i64) -> bool {
        self.call("capture", operation);
        Simulator::default().capture(operation, processor_data, amount)
    }

    fn refund(&self, operation: &str, processor_data: &str, amount: i64) -> RefundDecision {
        self.call("refund", operation);
        Simulator::default().refund(operation, processor_data, amount)
    }

    fn void(&self, operation: &str, processor_data: &str) {
        self.call("void", operation);
        Simulator::default().void(operation, processor_data)
    }

    fn will_dispute(&self, processor_data: &str) -> bool {
        Simulator::default().will_dispute(processor_data)
    }
}

/// A gateway whose processor holds calls of kind `held`.
struct Held {
    gateway: Arc<Gateway>,
    processor: Arc<HeldProcessor>,
    arrived: Receiver<String>,
    release: Sender<()>,
}

fn held(kind: &'static str) -> Held {
    let (arrived_tx, arrived) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let processor = Arc::new(HeldProcessor {
        held: kind,
        holding: AtomicBool::new(false),
        arrived: Mutex::new(arrived_tx),
        release: Mutex::new(release_rx),
        names: Mutex::new(Vec::new()),
    });
    let gateway = Arc::new(tessera_benches::gateway_with(processor.clone()));
    Held {
        gateway,
        processor,
        arrived,
        release,
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).expect("a JSON answer")
}

/// A manual-capture intent, confirmed: `requires_capture`.
fn authorized(gateway: &Gateway) -> Value {
    authorized_with(gateway, "pm_card_visa")
}

/// A manual-capture intent of 4100 paid with `payment_method`, confirmed.
fn authorized_with(gateway: &Gateway, payment_method: &str) -> Value {
    let intent = json(&gateway.post(
        "/v1/payment_intents",
        &format!("amount=4100&currency=usd&payment_method={payment_method}&capture_method=manual&confirm=true"),
    ));
    assert_eq!(intent["status"], "requires_capture", "{intent}");
    intent
}

/// Sends a request on a thread of its own; the answer comes on the returned channel.
fn send(gateway: &Arc<Gateway>, path: String, body: impl Into<String>) -> Receiver<(u16, Value)> {
    let (tx, rx) = mpsc::channel();
    let (gateway, body) = (gateway.clone(), body.into());
    thread::spawn(move || {
        let (status, body) = gateway.request("POST", &path, &body);
        let _ = tx.send((status, json(&body)));
    });
    rx
}

/// A payment is made start to finish while the processor holds `call`.
fn another_payment_goes_through(gateway: &Arc<Gateway>, call: &str) {
    let other = send(
        gateway,
        "/v1/payment_intents".to_owned(),
        "amount=700&currency=usd&payment_method=pm_card_visa&confirm=true",
    );
    let (status, paid) = other.recv_timeout(PATIENCE).unwrap_or_else(|_| {
        panic!("another payment waited for the processor's {call}: the call holds the store's write lock")
    });
    assert_eq!(
        (status, &paid["status"]),
        (200, &Value::from("succeeded")),
        "{paid}"
    );
}

/// While the processor holds the call of `held`, another payment is made start to
/// finish and the intent refuses `refused` with the fence's message; then the held call
/// is let go and answers. Returns the held call's answer.
fn while_held(held: &Held, intent: &Value, call: &str, refused: &str, doing: &str) -> Value {
    let id = intent["id"].as_str().unwrap();
    let answer = send(
        &held.gateway,
        format!("/v1/payment_intents/{id}/{call}"),
        "",
    );
    let operation = held
        .arrived
        .recv_timeout(PATIENCE)
        .expect("the call reached the processor");
    let charge = intent["latest_charge"].as_str().unwrap();
    let expected_name = if call == "capture" { "capture" } else { "void" };
    assert_eq!(operation, format!("{charge}/{expected_name}"));

    another_payment_goes_through(&held.gateway, &format!("{call} of {id}"));

    // The intent itself is fenced: other changes are refused, its state is as it was.
    let (status, body) =
        held.gateway
            .request("POST", &format!("/v1/payment_intents/{id}/{refused}"), "");
    let body = json(&body);
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("being {doing} by another request")),
        "{body}"
    );
    let (_, now) = held
        .gateway
        .request("GET", &format!("/v1/payment_intents/{id}"), "");
    assert_eq!(json(&now)["status"], "requires_capture");

    held.release.send(()).unwrap();
    let (status, body) = answer
        .recv_timeout(PATIENCE)
        .expect("the held call answered once released");
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn a_capture_at_the_processor_holds_up_no_other_payment() {
    let held = held("capture");
    let intent = authorized(&held.gateway);
    let captured = while_held(&held, &intent, "capture", "cancel", "captured");
    assert_eq!(captured["status"], "succeeded");
    assert_eq!(captured["amount_received"], 4100);
    let charge = charge(&held.gateway, intent["latest_charge"].as_str().unwrap());
    assert_eq!(
        (&charge["captured"], &charge["amount_captured"]),
        (&Value::from(true), &Value::from(4100))
    );
    // Captured once, under the charge's name; the recorded outcome finished the job.
    let names = held.processor.names.lock().unwrap().clone();
    assert_eq!(
        names.iter().filter(|n| n.ends_with("/capture")).count(),
        1,
        "{names:?}"
    );
    assert_eq!(
        tessera_api::jobs::run_due_jobs_at(&held.gateway.app, in_ms(120_000)),
        0
    );
}

#[test]
fn the_release_of_an_authorization_holds_up_no_other_payment() {
    let held = held("void");
    let intent = authorized(&held.gateway);
    let canceled = while_held(&held, &intent, "cancel", "capture", "canceled");
    assert_eq!(canceled["status"], "canceled");
    let charge = charge(&held.gateway, intent["latest_charge"].as_str().unwrap());
    assert_eq!(
        (&charge["refunded"], &charge["amount_refunded"]),
        (&Value::from(true), &Value::from(4100))
    );
    // The intent is free again: a second cancel is refused for its status, not its fence.
    let id = intent["id"].as_str().unwrap();
    let (status, body) =
        held.gateway
            .request("POST", &format!("/v1/payment_intents/{id}/cancel"), "");
    assert_eq!(status, 400, "{body}");
}

/// The account's events of `kind`.
fn events(gateway: &Gateway, kind: &str) -> Vec<Value> {
    let (_, page) = gateway.request("GET", &format!("/v1/events?type={kind}&limit=100"), "");
    json(&page)["data"].as_array().cloned().unwrap_or_default()
}

/// A charge of `amount`, captured.
fn captured_charge(gateway: &Gateway, amount: u32) -> String {
    let intent = json(&gateway.post(
        "/v1/payment_intents",
        &format!("amount={amount}&currency=usd&payment_method=pm_card_visa&confirm=true"),
    ));
    intent["latest_charge"].as_str().unwrap().to_owned()
}

/// Sends a refund of `amount` of charge `charge_id`, which the processor holds; returns
/// where its answer will come and the refund's id, as the processor was asked.
fn refund_held(held: &Held, charge_id: &str, amount: u32) -> (Receiver<(u16, Value)>, String) {
    let answer = send(
        &held.gateway,
        "/v1/refunds".to_owned(),
        format!("charge={charge_id}&amount={amount}"),
    );
    let refund_id = held
        .arrived
        .recv_timeout(PATIENCE)
        .expect("the refund reached the processor");
    (answer, refund_id)
}

fn charge(gateway: &Gateway, id: &str) -> Value {
    json(&gateway.request("GET", &format!("/v1/charges/{id}"), "").1)
}

#[test]
fn a_refund_at_the_processor_holds_up_no_other_payment_or_refund() {
    let held = held("refund");
    let gateway = &held.gateway;
    let charge_id = captured_charge(gateway, 4100);
    let (first, refund_id) = refund_held(&held, &charge_id, 1000);
    assert!(refund_id.starts_with("re_"), "{refund_id}");

    // Another payment, and another refund of the same charge, go through meanwhile.
    another_payment_goes_through(gateway, &refund_id);
    let (status, second) = gateway.request(
        "POST",
        "/v1/refunds",
        &format!("charge={charge_id}&amount=3100"),
    );
    let second = json(&second);
    assert_eq!(
        (status, &second["status"]),
        (200, &Value::from("succeeded")),
        "{second}"
    );
    // The held refund's amount is reserved: nothing is left to refund.
    let (status, refused) = gateway.request(
        "POST",
        "/v1/refunds",
        &format!("charge={charge_id}&amount=1"),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(json(&refused)["error"]["code"], "charge_already_refunded");
    // Meanwhile the held refund is stored, pending, with no event yet.
    let (_, pending) = gateway.request("GET", &format!("/v1/refunds/{refund_id}"), "");
    assert_eq!(json(&pending)["status"], "pending");
    assert_eq!(events(gateway, "refund.created").len(), 1);

    held.release.send(()).unwrap();
    let (status, refund) = first
        .recv_timeout(PATIENCE)
        .expect("the held refund answered");
    assert_eq!(
        (status, &refund["id"], &refund["status"]),
        (
            200,
            &Value::from(refund_id.as_str()),
            &Value::from("succeeded")
        ),
        "{refund}"
    );
    let charge = charge(gateway, &charge_id);
    assert_eq!(
        (&charge["amount_refunded"], &charge["refunded"]),
        (&Value::from(4100), &Value::from(true))
    );
    assert_eq!(events(gateway, "refund.created").len(), 2);
    assert_eq!(events(gateway, "charge.refunded").len(), 2);
    // Each recorded outcome finished its refund's job: nothing is left to carry on.
    assert_eq!(
        tessera_api::jobs::run_due_jobs_at(&gateway.app, in_ms(120_000)),
        0
    );
}

/// Unix milliseconds `ms` from now.
fn in_ms(ms: u128) -> i64 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + ms) as i64
}

#[test]
fn a_refund_whose_request_never_records_the_answer_is_carried_on_by_the_job() {
    let held = held("refund");
    let gateway = &held.gateway;
    let charge_id = captured_charge(gateway, 2500);
    let (first, refund_id) = refund_held(&held, &charge_id, 900);

    // Its request is as good as stopped: the processor's answer does not come. Past the
    // fence's minute, the job asks again under the refund's own name and records it.
    let later_ms = in_ms(62_000);
    assert_eq!(
        tessera_api::jobs::run_due_jobs_at(&gateway.app, later_ms),
        1
    );
    let (_, refund) = gateway.request("GET", &format!("/v1/refunds/{refund_id}"), "");
    let refund = json(&refund);
    assert_eq!(
        (&refund["status"], &refund["amount"]),
        (&Value::from("succeeded"), &Value::from(900)),
        "{refund}"
    );
    assert!(refund["balance_transaction"].is_string(), "{refund}");
    let names = held.processor.names.lock().unwrap().clone();
    assert_eq!(names, vec![refund_id.clone(), refund_id.clone()]);

    // The first request's answer, when it finally comes, is not recorded a second time.
    held.release.send(()).unwrap();
    let (status, answer) = first
        .recv_timeout(PATIENCE)
        .expect("the first request answered");
    assert_eq!(status, 409, "{answer}");
    let charge = charge(gateway, &charge_id);
    assert_eq!(charge["amount_refunded"], 900);
    let created = events(gateway, "refund.created");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["data"]["object"]["id"], refund_id.as_str());
    assert_eq!(events(gateway, "charge.refunded").len(), 1);
    // Done: the job does not come again.
    assert_eq!(
        tessera_api::jobs::run_due_jobs_at(&gateway.app, later_ms + 120_000),
        0
    );
}

/// Sends `call` (`capture` or `cancel`, with `body`) for an authorized intent, holds it
/// at the processor as if its request had stopped, and lets the job carry it on a
/// minute later. Returns the intent's id, its charge's, and the first request's answer
/// once released (the outcome the job recorded stands).
fn carried_on_by_the_job(
    kind: &'static str,
    call: &str,
    body: &'static str,
) -> (Held, String, String, (u16, Value)) {
    carried_on_by_the_job_paid_with(kind, "pm_card_visa", call, body)
}

/// [`carried_on_by_the_job`] for an intent paid with `payment_method`.
fn carried_on_by_the_job_paid_with(
    kind: &'static str,
    payment_method: &str,
    call: &str,
    body: &'static str,
) -> (Held, String, String, (u16, Value)) {
    let held = held(kind);
    let intent = authorized_with(&held.gateway, payment_method);
    let id = intent["id"].as_str().unwrap().to_owned();
    let charge = intent["latest_charge"].as_str().unwrap().to_owned();
    let first = send(
        &held.gateway,
        format!("/v1/payment_intents/{id}/{call}"),
        body,
    );
    let name = held
        .arrived
        .recv_timeout(PATIENCE)
        .expect("the call reached the processor");
    assert_eq!(
        tessera_api::jobs::run_due_jobs_at(&held.gateway.app, in_ms(62_000)),
        1
    );
    // Asked again under the same name, which a connector's processor takes once.
    assert_eq!(
        *held.processor.names.lock().unwrap(),
        vec![name.clone(), name]
    );
    held.release.send(()).unwrap();
    let answer = first
        .recv_timeout(PATIENCE)
        .expect("the first request answered");
    // Done: the job does not come again.
    assert_eq!(
        tessera_api::jobs::run_due_jobs_at(&held.gateway.app, in_ms(300_000)),
        0
    );
    (held, id, charge, answer)
}

#[test]
fn a_capture_whose_request_never_records_the_answer_is_carried_on_by_the_job() {
    let (held, id, charge_id, (status, answer)) = carried_on_by_the_job(
        "capture",
        "capture",
        "amount_to_capture=3000&metadata[order]=A-17&statement_descriptor_suffix=A17",
    );
    let gateway = &held.gateway;
    assert_eq!(status, 409, "{answer}");
    let (_, intent) = gateway.request("GET", &format!("/v1/payment_intents/{id}"), "");
    let intent = json(&intent);
    // Recorded as the request asked: amount, metadata and descriptor.
    assert_eq!(
        (
            &intent["status"],
            &intent["amount_received"],
            &intent["metadata"]["order"],
            &intent["statement_descriptor_suffix"]
        ),
        (
            &Value::from("succeeded"),
            &Value::from(3000),
            &Value::from("A-17"),
            &Value::from("A17")
        ),
        "{intent}"
    );
    let charge = charge(gateway, &charge_id);
    assert_eq!(
        (&charge["captured"], &charge["amount_captured"]),
        (&Value::from(true), &Value::from(3000))
    );
    assert_eq!(events(gateway, "charge.captured").len(), 1);
    assert_eq!(events(gateway, "payment_intent.succeeded").len(), 1);
}

#[test]
fn a_release_whose_request_never_records_the_answer_is_carried_on_by_the_job() {
    let (held, id, charge_id, (status, answer)) = carried_on_by_the_job(
        "void",
        "cancel",
        "cancellation_reason=requested_by_customer",
    );
    let gateway = &held.gateway;
    assert_eq!(status, 409, "{answer}");
    let (_, intent) = gateway.request("GET", &format!("/v1/payment_intents/{id}"), "");
    let intent = json(&intent);
    assert_eq!(
        (&intent["status"], &intent["cancellation_reason"]),
        (
            &Value::from("canceled"),
            &Value::from("requested_by_customer")
        ),
        "{intent}"
    );
    let charge = charge(gateway, &charge_id);
    assert_eq!(
        (&charge["refunded"], &charge["amount_refunded"]),
        (&Value::from(true), &Value::from(4100))
    );
    assert_eq!(events(gateway, "payment_intent.canceled").len(), 1);
    assert_eq!(events(gateway, "charge.refunded").len(), 1);
}

#[test]
fn a_captured_payment_of_the_dispute_card_is_disputed_in_the_capture_and_by_the_job() {
    // By the request: the dispute is opened with the capture's outcome.
    let gateway = tessera_benches::gateway();
    let intent = authorized_with(&gateway, "pm_card_createDispute");
    let id = intent["id"].as_str().unwrap();
    gateway.post(&format!("/v1/payment_intents/{id}/capture"), "");
    let disputes = events(&gateway, "charge.dispute.created");
    assert_eq!(disputes.len(), 1);
    assert_eq!(
        disputes[0]["data"]["object"]["charge"],
        intent["latest_charge"]
    );

    // By the job, for a capture whose request never recorded the answer: once.
    let (held, _, charge_id, _) =
        carried_on_by_the_job_paid_with("capture", "pm_card_createDispute", "capture", "");
    let disputes = events(&held.gateway, "charge.dispute.created");
    assert_eq!(disputes.len(), 1);
    assert_eq!(disputes[0]["data"]["object"]["charge"], charge_id.as_str());
}
