//! Refunds: `/v1/refunds`. Partial refunds add up to at most the captured amount.

use serde_json::{Value, json};
use tessera_core::ApiError;
use tessera_core::ids::ObjectKind;
use tessera_core::ports::RefundDecision;
use tessera_crypto::random;
use tessera_store::{DueJob, NewObject, Scope, StoredObject, Tx};

use super::{load, new_metadata, update_metadata};
use crate::app::App;
use crate::events::{self, previous_attributes};
use crate::form::Params;
use crate::list::Page;
use crate::pipeline::{Ctx, Failure, Outcome};
use crate::resources::charges::{self, balance_transaction, processor_data_of};
use crate::resources::payment_intents::confirm::{CARRY_ON_AFTER_MS, attempt_in_flight};

/// The scheduled action that fails an accepted refund.
pub(crate) const FAIL_REFUND: &str = "refund.fail";

/// How long after creation the simulated issuer fails a refund.
const REFUND_FAILURE_DELAY_MS: i64 = 1_000;

/// Fails refund `id`: the money stays with the merchant and the charge is refundable
/// again. Runs as a scheduled job, in the job's transaction.
pub(crate) fn fail_refund(tx: &Tx<'_>, scope: &Scope, now: i64, id: &str) -> Outcome<()> {
    let Some(found) = tx.get_object(scope, "refund", id)? else {
        return Ok(());
    };
    let before = found.doc;
    if before["status"] == "failed" {
        return Ok(());
    }
    let mut doc = before.clone();
    let amount = doc["amount"].as_i64().unwrap_or(0);
    let charge_id = doc["charge"].as_str().unwrap_or_default().to_owned();
    doc["status"] = json!("failed");
    doc["failure_reason"] = json!("expired_or_canceled_card");
    doc["failure_balance_transaction"] = json!(balance_transaction(
        tx,
        scope,
        now,
        id,
        amount,
        doc["currency"].clone(),
        "refund_failure"
    )?);
    tx.update_object(
        scope,
        id,
        (doc["charge"].as_str(), doc["payment_intent"].as_str()),
        &doc,
        None,
    )?;
    if let Some(charge) = tx.get_object(scope, "charge", &charge_id)? {
        let mut charge_doc = charge.doc;
        let refunded = charge_doc["amount_refunded"].as_i64().unwrap_or(0) - amount;
        charge_doc["amount_refunded"] = json!(refunded.max(0));
        charge_doc["refunded"] = json!(false);
        charges::save(tx, scope, &charge_doc, &charge.private)?;
    }
    let previous = previous_attributes(&before, &doc);
    events::record_as(
        tx,
        scope,
        now,
        None,
        "refund.failed",
        &doc,
        Some(previous.clone()),
    )?;
    events::record_as(tx, scope, now, None, "refund.updated", &doc, Some(previous))?;
    Ok(())
}

/// The scheduled action that carries on with a refund whose request stopped while the
/// processor was asked ([`finish_abandoned`]).
pub(crate) const FINISH_REFUND: &str = "refund.finish";

/// `POST /v1/refunds`
///
/// The processor is asked outside the store's write lock, so that a connector's
/// network call holds up no other payment:
/// 1. a first write checks the refund, stores it as `pending` and fenced for its call
///    (`attempt_started`, `attempt_by` in its private document), reserves its amount
///    on the charge, so that refunds made at the same time add up to at most what was
///    captured, and schedules [`FINISH_REFUND`]; it is on disk before the processor is
///    asked;
/// 2. the processor refunds under the refund's id, so a refund asked again after a
///    crash takes effect once;
/// 3. a second write records the outcome and its events ([`record_outcome`]).
///
/// A retry with the request's idempotency key, after its process stopped, carries on
/// with the refund the first request stored; without a retry, [`FINISH_REFUND`] does.
pub(crate) fn create(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let charge_param = p.string("charge")?;
    let intent_param = p.string("payment_intent")?;
    let amount = p.int("amount")?;
    let reason = p.one_of(
        "reason",
        &["duplicate", "fraudulent", "requested_by_customer"],
    )?;
    let metadata = new_metadata(p)?;
    p.finish()?;
    if charge_param.is_some() && intent_param.is_some() {
        return Err(ApiError::invalid_request(
            "payment_intent",
            "You may only specify one of these parameters: charge, payment_intent.",
        )
        .into());
    }
    let resumed = ctx
        .resume_from()
        .filter(|id| id.starts_with(ObjectKind::Refund.prefix()));
    let fenced = ctx.write(|tx| {
        if let Some(id) = resumed
            && let Some(found) = tx.get_object(ctx.scope(), "refund", id)?
        {
            // Stored by an earlier request with this key, whose process stopped.
            return take_over(tx, ctx, found);
        }
        let (charge_id, param) = match (&charge_param, &intent_param) {
            (Some(c), _) => (c.clone(), "charge"),
            (None, Some(pi)) => {
                let intent = load(tx, ctx, ObjectKind::PaymentIntent, pi, "payment_intent")?.doc;
                if intent["status"] != "succeeded" {
                    return Err(ApiError::invalid_request(
                        "payment_intent",
                        format!("This PaymentIntent ({}) does not have a successful charge to refund.", intent["id"].as_str().unwrap_or_default()),
                    )
                    .into());
                }
                (intent["latest_charge"].as_str().unwrap_or_default().to_owned(), "payment_intent")
            }
            (None, None) => return Err(ApiError::missing("charge").into()),
        };
        let charge = load(tx, ctx, ObjectKind::Charge, &charge_id, param)?;
        let mut charge_doc = charge.doc;
        if charge_doc["status"] != "succeeded" || charge_doc["captured"] != true {
            return Err(ApiError::invalid_request(param, "This charge has not been captured, so there is nothing to refund. Cancel the PaymentIntent instead.")
                .with_code("charge_not_refundable")
                .into());
        }
        let captured = charge_doc["amount_captured"].as_i64().unwrap_or(0);
        let refunded = charge_doc["amount_refunded"].as_i64().unwrap_or(0);
        let remaining = captured - refunded;
        if remaining <= 0 {
            return Err(ApiError::invalid_request(param, format!("Charge {charge_id} has already been refunded."))
                .with_code("charge_already_refunded")
                .into());
        }
        let amount = amount.unwrap_or(remaining);
        if amount <= 0 {
            return Err(ApiError::invalid_request("amount", "Refund amount must be a positive integer.").into());
        }
        if amount > remaining {
            return Err(ApiError::invalid_request(
                "amount",
                format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})."),
            )
            .with_code("amount_too_large")
            .into());
        }
        let id = random::object_id(ObjectKind::Refund.prefix());
        let doc = json!({
            "id": id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": null,
            "charge": charge_id,
            "created": ctx.now,
            "currency": charge_doc["currency"],
            "destination_details": { "card": { "reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund" }, "type": "card" },
            "metadata": metadata,
            "payment_intent": charge_doc["payment_intent"],
            "reason": reason,
            "receipt_number": null,
            "source_transfer_reversal": null,
            "status": "pending",
            "transfer_reversal": null,
        });
        let job = tx.schedule_job(ctx.scope(), ctx.now_ms() + CARRY_ON_AFTER_MS, FINISH_REFUND, &id)?;
        let private = fence(ctx.now, ctx.app.store.serving_instance(), Some(job));
        let intent_id = charge_doc["payment_intent"].as_str().map(str::to_owned);
        let refs = (Some(charge_id.as_str()), intent_id.as_deref());
        tx.insert_object(ctx.scope(), &NewObject { id: &id, kind: "refund", created: ctx.now, ref1: refs.0, ref2: refs.1, doc: &doc, private: Some(&private) })?;
        // Reserved now: a refund made meanwhile sees what is left.
        charge_doc["amount_refunded"] = json!(refunded + amount);
        charge_doc["refunded"] = json!(refunded + amount == captured);
        charges::save(tx, ctx.scope(), &charge_doc, &charge.private)?;
        ctx.set_resume_point(tx, &id)?;
        Ok(Ok(Fenced { id, amount, private, processor_data: processor_data_of(&charge.private) }))
    })?;
    let fenced = match fenced {
        Ok(fenced) => fenced,
        Err(finished) => return Ok(finished),
    };
    // The refund and its fence are on disk before the processor is asked; should the
    // flush fail, the scheduled job carries on with it.
    ctx.flush()?;
    let decision = ctx
        .app
        .processor
        .refund(&fenced.id, &fenced.processor_data, fenced.amount);
    let request = Some((ctx.request_id, ctx.idempotency_key));
    match ctx.write(|tx| record_outcome(tx, ctx.scope(), ctx.now, request, &fenced, decision))? {
        Some(doc) => Ok(doc),
        None => Err(ApiError::refund_in_progress().into()),
    }
}

/// A refund fenced for its call to the processor.
struct Fenced {
    id: String,
    amount: i64,
    /// The refund's private document as the fence left it.
    private: Value,
    processor_data: String,
}

/// A refund's private document while its processor call is under way: from `now`, by
/// this process (see [`attempt_in_flight`]), with the [`FINISH_REFUND`] job that carries
/// it on should no request record the outcome (`job`; finished when one does).
fn fence(now: i64, serving: Option<&str>, job: Option<i64>) -> Value {
    json!({ "attempt_started": now, "attempt_by": serving, "finish_job": job })
}

/// Carries on with refund `found`, stored by a request whose process stopped: its
/// outcome if it was recorded (`Err`, answered as it is), else fenced again for its
/// call to the processor, by this process. Refused while another request has the
/// processor's answer still to come.
fn take_over(tx: &Tx<'_>, ctx: &Ctx<'_>, found: StoredObject) -> Outcome<Result<Fenced, Value>> {
    let (scope, now, serving) = (ctx.scope(), ctx.now, ctx.app.store.serving_instance());
    if found.private["attempt_started"].is_null() {
        return Ok(Err(found.doc));
    }
    if attempt_in_flight(&found.private, now, serving) {
        return Err(ApiError::refund_in_progress().into());
    }
    fence_again(tx, scope, now, serving, &found).map(Ok)
}

/// Fences refund `found` for its call to the processor from `now`, by this process,
/// over the fence of a request that stopped.
fn fence_again(
    tx: &Tx<'_>,
    scope: &Scope,
    now: i64,
    serving: Option<&str>,
    found: &StoredObject,
) -> Outcome<Fenced> {
    let doc = &found.doc;
    let id = doc["id"].as_str().unwrap_or_default().to_owned();
    let private = fence(now, serving, found.private["finish_job"].as_i64());
    tx.update_object(scope, &id, refs_of(doc), doc, Some(&private))?;
    let charge_id = doc["charge"].as_str().unwrap_or_default();
    let charge_private = tx
        .get_private(scope, "charge", charge_id)?
        .unwrap_or_default();
    Ok(Fenced {
        amount: doc["amount"].as_i64().unwrap_or(0),
        id,
        private,
        processor_data: processor_data_of(&charge_private),
    })
}

fn refs_of(doc: &Value) -> (Option<&str>, Option<&str>) {
    (doc["charge"].as_str(), doc["payment_intent"].as_str())
}

/// Records what the processor answered for refund `fenced`: its status, balance
/// transaction and events (`refund.created`, `charge.refunded`; for `request`, or for
/// none: a scheduled job). `None` if the refund is no longer fenced for this call (it
/// outlived its fence and was carried on by another, whose outcome stands).
fn record_outcome(
    tx: &Tx<'_>,
    scope: &Scope,
    now: i64,
    request: Option<(&str, Option<&str>)>,
    fenced: &Fenced,
    decision: RefundDecision,
) -> Outcome<Option<Value>> {
    let Some(found) = tx.get_object(scope, "refund", &fenced.id)? else {
        return Ok(None);
    };
    if found.private != fenced.private {
        return Ok(None);
    }
    let mut doc = found.doc;
    // A refund the issuer will fail is accepted first and fails a moment later, as at
    // a real issuer: see `fail_refund`, run by the job worker.
    doc["status"] = json!(match decision {
        RefundDecision::Succeeded | RefundDecision::Failed => "succeeded",
        RefundDecision::Pending => "pending",
    });
    doc["balance_transaction"] = json!(balance_transaction(
        tx,
        scope,
        now,
        &fenced.id,
        -fenced.amount,
        doc["currency"].clone(),
        "refund"
    )?);
    tx.update_object(scope, &fenced.id, refs_of(&doc), &doc, Some(&json!({})))?;
    if let Some(job) = found.private["finish_job"].as_i64() {
        tx.finish_job(job)?;
    }
    events::record_as(tx, scope, now, request, "refund.created", &doc, None)?;
    let charge_id = doc["charge"].as_str().unwrap_or_default();
    if let Some(charge) = tx.get_object(scope, "charge", charge_id)? {
        // The amount was reserved on the charge when the refund was stored.
        let charge_doc = charge.doc;
        let mut before = charge_doc.clone();
        let refunded = charge_doc["amount_refunded"].as_i64().unwrap_or(0);
        before["amount_refunded"] = json!(refunded - fenced.amount);
        before["refunded"] = json!(false);
        events::record_as(
            tx,
            scope,
            now,
            request,
            "charge.refunded",
            &charge_doc,
            Some(previous_attributes(&before, &charge_doc)),
        )?;
    }
    if decision == RefundDecision::Failed {
        tx.schedule_job(
            scope,
            now * 1000 + REFUND_FAILURE_DELAY_MS,
            FAIL_REFUND,
            &fenced.id,
        )?;
    }
    Ok(Some(doc))
}

/// Carries on with refund `id`, stored by a request that has not recorded the
/// processor's answer a minute later (its process stopped, or its flush failed): asks
/// the processor again under the refund's id, which takes effect once, and records the
/// outcome. Runs as the scheduled job [`FINISH_REFUND`]; true once the job is done.
pub(crate) fn finish_abandoned(app: &App, job: &DueJob, now: i64) -> Outcome<bool> {
    let scope = &job.scope;
    let serving = app.store.serving_instance();
    let fenced = app.store.write(|tx| {
        let found = tx.get_object(scope, "refund", &job.object)?;
        let Some(found) = found.filter(|f| !f.private["attempt_started"].is_null()) else {
            // Recorded by its request (or gone): nothing to carry on with.
            return Ok::<_, Failure>(Err(tx.finish_job(job.id)?));
        };
        if attempt_in_flight(&found.private, now, serving) {
            tx.reschedule_job(job.id, now * 1000 + CARRY_ON_AFTER_MS)?;
            return Ok(Err(false));
        }
        fence_again(tx, scope, now, serving, &found).map(Ok)
    })?;
    let fenced = match fenced {
        Ok(fenced) => fenced,
        Err(done) => return Ok(done),
    };
    let decision = app
        .processor
        .refund(&fenced.id, &fenced.processor_data, fenced.amount);
    app.store.write(|tx| {
        // Finishes this job too, unless another request recorded the outcome first
        // (and finished it then).
        if record_outcome(tx, scope, now, None, &fenced, decision)?.is_some() {
            tracing::warn!(refund = %fenced.id, "carried on with a refund whose request stopped before the processor's answer was recorded");
        }
        Ok(true)
    })
}

/// `GET /v1/refunds/:id`
pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    Ok(ctx
        .app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::Refund, id, "id"))?
        .doc)
}

/// `POST /v1/refunds/:id`: metadata only.
pub(crate) fn update(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let metadata = p.metadata()?;
    p.finish()?;
    ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::Refund, id, "id")?;
        let before = found.doc.clone();
        let mut doc = found.doc;
        update_metadata(&mut doc, metadata)?;
        tx.update_object(
            ctx.scope(),
            id,
            (doc["charge"].as_str(), doc["payment_intent"].as_str()),
            &doc,
            None,
        )?;
        events::record(
            tx,
            ctx,
            "refund.updated",
            &doc,
            Some(previous_attributes(&before, &doc)),
        )?;
        Ok(doc)
    })
}

/// `GET /v1/refunds?charge=…&payment_intent=…`
pub(crate) fn list(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let page = Page::take(p)?;
    let charge = p.string("charge")?;
    let payment_intent = p.string("payment_intent")?;
    p.finish()?;
    page.fetch(
        ctx,
        ObjectKind::Refund,
        "/v1/refunds",
        (charge.as_deref(), payment_intent.as_deref()),
    )
}
