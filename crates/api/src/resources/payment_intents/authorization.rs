//! What becomes of an authorization: captured (`POST /v1/payment_intents/:id/capture`),
//! or released when its intent is canceled (`POST /v1/payment_intents/:id/cancel` of a
//! `requires_capture` intent).
//!
//! The processor is asked outside the store's write lock, so that a connector's network
//! call holds up no other payment:
//! 1. a first write checks the request, fences the intent ([`confirm::mark_fenced`]),
//!    notes what is to be recorded once the processor has answered (`settlement` in its
//!    private document: the capture's amount, descriptors and metadata, or the
//!    cancellation's reason) and schedules [`FINISH`]; it is on disk before the
//!    processor is asked;
//! 2. the processor is asked under a name a retry uses again (`<charge>/capture`,
//!    `<charge>/void`), which a connector gives its processor as the idempotency key, so
//!    the call takes effect once;
//! 3. a second write records the outcome ([`record`]) and finishes the job.
//!
//! Should the request stop before it records the outcome, a retry makes the call again
//! (at once when this gateway serves the store alone, else a minute later), and without
//! a retry the job [`FINISH`] does, a minute later.

use serde_json::{Value, json};
use tessera_core::ApiError;
use tessera_core::ids::ObjectKind;
use tessera_core::payment_intent::{Action, PaymentIntentStatus, Transition};
use tessera_store::{DueJob, Scope, StoredObject, Tx};

use super::confirm::{self, CARRY_ON_AFTER_MS, FencedFor, attempt_in_flight};
use super::{mark_canceled, save, save_in, status_of};
use crate::app::App;
use crate::events;
use crate::form::Params;
use crate::pipeline::{Ctx, Failure, Outcome};
use crate::resources::{charges, checkout_sessions, load, update_metadata};

/// The scheduled action that carries on with a capture or a release whose request
/// stopped before it recorded the processor's answer ([`finish_abandoned`]).
pub(crate) const FINISH: &str = "payment_intent.finish";

/// An intent fenced for a call to the processor, with what the call needs.
struct Fenced {
    id: String,
    what: FencedFor,
    /// The intent's private document as the fence left it.
    private: Value,
    charge_id: String,
    processor_data: String,
}

/// How a fenced call ended, as recorded.
enum Recorded {
    /// The intent after the call.
    Done(Value),
    /// The processor refused the capture; the fence is lifted.
    Refused,
    /// The call outlived its fence and another request carried it on, whose outcome
    /// stands.
    Superseded,
}

/// `POST /v1/payment_intents/:id/capture`
pub(crate) fn capture(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let amount_to_capture = p.int("amount_to_capture")?;
    let metadata = p.metadata()?;
    let descriptor = p.string("statement_descriptor")?;
    let suffix = p.string("statement_descriptor_suffix")?;
    p.bool("final_capture")?;
    p.finish()?;
    let fenced = ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::PaymentIntent, id, "intent")?;
        if let Some(done) = carried_on(ctx, id, &found, PaymentIntentStatus::Succeeded) {
            return Ok(Err(done));
        }
        status_of(&found.doc).apply(Transition::Captured)?;
        confirm::refuse_while_attempt_in_flight(ctx, &found.private)?;
        let capturable = found.doc["amount_capturable"].as_i64().unwrap_or(0);
        let amount = amount_to_capture.unwrap_or(capturable);
        if amount <= 0 || amount > capturable {
            return Err(ApiError::invalid_request(
                "amount_to_capture",
                format!(
                    "amount_to_capture must be between 1 and the amount_capturable ({capturable})."
                ),
            )
            .with_code("amount_too_large")
            .into());
        }
        // The metadata as the capture leaves it, checked now.
        let mut after = json!({ "metadata": found.doc["metadata"] });
        update_metadata(&mut after, metadata)?;
        let settlement = json!({
            "amount": amount,
            "statement_descriptor": descriptor,
            "statement_descriptor_suffix": suffix,
            "metadata": after["metadata"],
        });
        fence(tx, ctx, found, FencedFor::Capture, settlement).map(Ok)
    })?;
    let fenced = match fenced {
        Ok(fenced) => fenced,
        Err(done) => return Ok(done),
    };
    call_and_record(ctx, fenced)
}

/// `POST /v1/payment_intents/:id/cancel`: an intent holding an authorization
/// (`requires_capture`) has it released at the processor first; any other is canceled
/// in one write.
pub(crate) fn cancel(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let reason = p.one_of(
        "cancellation_reason",
        &[
            "duplicate",
            "fraudulent",
            "requested_by_customer",
            "abandoned",
        ],
    )?;
    p.finish()?;
    let fenced = ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::PaymentIntent, id, "intent")?;
        if let Some(done) = carried_on(ctx, id, &found, PaymentIntentStatus::Canceled) {
            return Ok(Err(done));
        }
        let status = status_of(&found.doc);
        status.allows(Action::Cancel)?;
        confirm::refuse_while_attempt_in_flight(ctx, &found.private)?;
        if let Some(session) = checkout_sessions::open_session_of(tx, ctx.scope(), &found.private)? {
            return Err(ApiError::invalid_request(
                "intent",
                format!("You cannot cancel the PaymentIntent of an open Checkout Session. Expire the Checkout Session ({session}) instead."),
            )
            .into());
        }
        if status != PaymentIntentStatus::RequiresCapture {
            let request = Some((ctx.request_id, ctx.idempotency_key));
            return mark_canceled(tx, ctx.scope(), ctx.now, request, found, reason.as_deref())
                .map(Err);
        }
        fence(tx, ctx, found, FencedFor::Cancel, json!({ "reason": reason })).map(Ok)
    })?;
    match fenced {
        Ok(fenced) => call_and_record(ctx, fenced),
        Err(canceled) => Ok(canceled),
    }
}

/// Fences intent `found` for `what`, with the `settlement` to record once the
/// processor has answered, and schedules [`FINISH`] in case no request records it.
fn fence(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    found: StoredObject,
    what: FencedFor,
    settlement: Value,
) -> Outcome<Fenced> {
    let id = found.doc["id"].as_str().unwrap_or_default().to_owned();
    let job = tx.schedule_job(ctx.scope(), ctx.now_ms() + CARRY_ON_AFTER_MS, FINISH, &id)?;
    let mut private = found.private;
    confirm::mark_fenced(&mut private, ctx.now, ctx.app, what);
    private["settlement"] = settlement;
    private["finish_job"] = json!(job);
    save(tx, ctx, &found.doc, &private)?;
    // Should this process stop before the outcome is recorded, a retry with the
    // request's idempotency key is answered with what the call left ([`carried_on`]).
    ctx.set_resume_point(tx, &id)?;
    fenced(tx, ctx.scope(), id, &found.doc, private, what)
}

/// The intent `found` as a call left it (`done`: the status it then has), for a retry
/// of a request with the same idempotency key that fenced it and stopped before it
/// answered, once the call was carried on without it ([`finish_abandoned`]): answered
/// as the first request would have been.
fn carried_on(
    ctx: &Ctx<'_>,
    id: &str,
    found: &StoredObject,
    done: PaymentIntentStatus,
) -> Option<Value> {
    let left = ctx.resume_from() == Some(id)
        && found.private["attempt_started"].is_null()
        && status_of(&found.doc) == done;
    left.then(|| found.doc.clone())
}

/// What a call for intent `doc` (fenced with `private`) needs: its charge.
fn fenced(
    tx: &Tx<'_>,
    scope: &Scope,
    id: String,
    doc: &Value,
    private: Value,
    what: FencedFor,
) -> Outcome<Fenced> {
    let charge_id = doc["latest_charge"].as_str().unwrap_or_default().to_owned();
    let charge_private = tx
        .get_private(scope, ObjectKind::Charge.object_name(), &charge_id)?
        .unwrap_or_default();
    Ok(Fenced {
        id,
        what,
        private,
        processor_data: charges::processor_data_of(&charge_private),
        charge_id,
    })
}

/// Asks the processor for the fenced call; false if it refused a capture.
fn call(app: &App, fenced: &Fenced) -> bool {
    let data = &fenced.processor_data;
    match fenced.what {
        FencedFor::Capture => {
            let amount = fenced.private["settlement"]["amount"].as_i64().unwrap_or(0);
            app.processor
                .capture(&format!("{}/capture", fenced.charge_id), data, amount)
        }
        FencedFor::Cancel => {
            app.processor
                .void(&format!("{}/void", fenced.charge_id), data);
            true
        }
        FencedFor::Authorization => false,
    }
}

/// The request's part: the fence on disk, the call, the outcome recorded. Returns the
/// intent.
fn call_and_record(ctx: &Ctx<'_>, fenced: Fenced) -> Outcome<Value> {
    // Should the flush fail, the job carries on with the fenced call.
    ctx.flush()?;
    let done = call(ctx.app, &fenced);
    let request = Some((ctx.request_id, ctx.idempotency_key));
    let at = (ctx.scope(), ctx.now, request);
    match ctx.write(|tx| record(tx, ctx.app, at, &fenced, done))? {
        Recorded::Done(doc) => Ok(doc),
        Recorded::Refused => Err(ApiError::card(
            "processing_error",
            None,
            "The capture could not be processed. Try again.",
        )
        .into()),
        Recorded::Superseded => Err(confirm::superseded(ctx, &fenced.id, fenced.what, None)),
    }
}

/// Records the outcome of `fenced`'s call (`done`: the processor did it) with its
/// events (for `request`, or for none: the job), and the dispute the simulator's
/// dispute card opens on a capture, as a confirmation does; lifts the fence and
/// finishes the job.
fn record(
    tx: &Tx<'_>,
    app: &App,
    at: (&Scope, i64, Option<(&str, Option<&str>)>),
    fenced: &Fenced,
    done: bool,
) -> Outcome<Recorded> {
    let (scope, now, request) = at;
    let found = tx.get_object(scope, ObjectKind::PaymentIntent.object_name(), &fenced.id)?;
    let Some(found) = found.filter(|f| confirm::holds_fence(&f.private, &fenced.private)) else {
        return Ok(Recorded::Superseded);
    };
    let (mut doc, mut private) = (found.doc, found.private);
    let settlement = private["settlement"].take();
    if let Some(job) = private["finish_job"].take().as_i64() {
        tx.finish_job(job)?;
    }
    private["attempt_started"] = Value::Null;
    if !done {
        save_in(tx, scope, &doc, &private)?;
        return Ok(Recorded::Refused);
    }
    let Some(mut charge) =
        tx.get_object(scope, ObjectKind::Charge.object_name(), &fenced.charge_id)?
    else {
        return Err(Failure::Internal(format!(
            "{} has no charge {}",
            fenced.id, fenced.charge_id
        )));
    };
    if fenced.what == FencedFor::Cancel {
        // The uncaptured amount is back with the shopper.
        charge.doc["refunded"] = json!(true);
        charge.doc["amount_refunded"] = charge.doc["amount"].clone();
        let previous = json!({ "refunded": false, "amount_refunded": 0 });
        save_charge(tx, at, &charge, "charge.refunded", previous)?;
        let found = StoredObject { doc, private };
        let reason = settlement["reason"].as_str();
        return mark_canceled(tx, scope, now, request, found, reason).map(Recorded::Done);
    }
    let amount = settlement["amount"].as_i64().unwrap_or(0);
    let status = status_of(&doc);
    let next = status.apply(Transition::Captured)?;
    charges::capture_in_doc(tx, scope, now, &mut charge.doc, amount)?;
    let previous = json!({ "captured": false, "amount_captured": 0 });
    save_charge(tx, at, &charge, "charge.captured", previous)?;
    if app.processor.will_dispute(&fenced.processor_data) {
        confirm::open_dispute(tx, scope, now, &charge.doc)?;
    }
    doc["status"] = json!(next.as_str());
    doc["amount_received"] = json!(amount);
    doc["amount_capturable"] = json!(0);
    for field in ["statement_descriptor", "statement_descriptor_suffix"] {
        if settlement[field].is_string() {
            doc[field] = settlement[field].clone();
        }
    }
    doc["metadata"] = settlement["metadata"].clone();
    save_in(tx, scope, &doc, &private)?;
    events::record_as(
        tx,
        scope,
        now,
        request,
        "payment_intent.succeeded",
        &doc,
        Some(json!({ "status": status.as_str() })),
    )?;
    Ok(Recorded::Done(doc))
}

/// Saves `charge` as the call left it and records its event (`kind`, with the
/// attributes it had before).
fn save_charge(
    tx: &Tx<'_>,
    (scope, now, request): (&Scope, i64, Option<(&str, Option<&str>)>),
    charge: &StoredObject,
    kind: &str,
    previous: Value,
) -> Outcome<()> {
    charges::save(tx, scope, &charge.doc, &charge.private)?;
    events::record_as(tx, scope, now, request, kind, &charge.doc, Some(previous))
}

/// Carries on with the capture or release that intent `job.object` was fenced for by a
/// request that has not recorded the processor's answer a minute later (its process
/// stopped, or its flush failed): asks the processor again under the same name, which
/// takes effect once, and records the outcome. Runs as the scheduled job [`FINISH`];
/// true once the job is done.
pub(crate) fn finish_abandoned(app: &App, job: &DueJob, now: i64) -> Outcome<bool> {
    let scope = &job.scope;
    let serving = app.store.serving_instance();
    let fenced = app.store.write(|tx| {
        let found = tx.get_object(scope, ObjectKind::PaymentIntent.object_name(), &job.object)?;
        let Some(found) = found.filter(|f| f.private["finish_job"].as_i64() == Some(job.id)) else {
            // Recorded by its request, or carried on by another: nothing to do.
            return Ok::<_, Failure>(Err(tx.finish_job(job.id)?));
        };
        if attempt_in_flight(&found.private, now, serving) {
            tx.reschedule_job(job.id, now * 1000 + CARRY_ON_AFTER_MS)?;
            return Ok(Err(false));
        }
        let what = FencedFor::of(&found.private);
        let mut private = found.private;
        confirm::mark_fenced(&mut private, now, app, what);
        save_in(tx, scope, &found.doc, &private)?;
        fenced(tx, scope, job.object.clone(), &found.doc, private, what).map(Ok)
    })?;
    let fenced = match fenced {
        Ok(fenced) => fenced,
        Err(done) => return Ok(done),
    };
    let done = call(app, &fenced);
    app.store.write(|tx| {
        if let Recorded::Done(_) = record(tx, app, (scope, now, None), &fenced, done)? {
            tracing::warn!(payment_intent = %fenced.id, call = ?fenced.what, "carried on with a processor call whose request stopped before the answer was recorded");
        }
        Ok(true)
    })
}
