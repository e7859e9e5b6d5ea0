//! Refunds: `/v1/refunds`. Partial refunds add up to at most the captured amount.

use serde_json::{Value, json};
use tessera_core::ApiError;
use tessera_core::ids::ObjectKind;
use tessera_core::ports::RefundDecision;
use tessera_crypto::random;
use tessera_store::{NewObject, Scope, Tx};

use super::{load, new_metadata, update_metadata};
use crate::events::{self, previous_attributes};
use crate::form::Params;
use crate::list::Page;
use crate::pipeline::{Ctx, Failure, Outcome};
use crate::resources::charges::{self, balance_transaction};

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

/// `POST /v1/refunds`
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
    let processor = &ctx.app.processor;
    ctx.write(|tx| {
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
        let processor_data = charge.private["processor_data"].as_str().unwrap_or_default();
        let decision = processor.refund(processor_data, amount);
        let id = random::object_id(ObjectKind::Refund.prefix());
        // A refund the issuer will fail is accepted first and fails a moment later,
        // as at a real issuer: see `fail_refund`, run by the job worker.
        let status = match decision {
            RefundDecision::Succeeded | RefundDecision::Failed => "succeeded",
            RefundDecision::Pending => "pending",
        };
        let txn = balance_transaction(tx, ctx.scope(), ctx.now, &id, -amount, charge_doc["currency"].clone(), "refund")?;
        let doc = json!({
            "id": id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": txn,
            "charge": charge_id,
            "created": ctx.now,
            "currency": charge_doc["currency"],
            "destination_details": { "card": { "reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund" }, "type": "card" },
            "metadata": metadata,
            "payment_intent": charge_doc["payment_intent"],
            "reason": reason,
            "receipt_number": null,
            "source_transfer_reversal": null,
            "status": status,
            "transfer_reversal": null,
        });
        let intent_id = charge_doc["payment_intent"].as_str().map(str::to_owned);
        let refs = (Some(charge_id.as_str()), intent_id.as_deref());
        tx.insert_object(ctx.scope(), &NewObject { id: &id, kind: "refund", created: ctx.now, ref1: refs.0, ref2: refs.1, doc: &doc, private: None })?;
        events::record(tx, ctx, "refund.created", &doc, None)?;
        let before = charge_doc.clone();
        charge_doc["amount_refunded"] = json!(refunded + amount);
        charge_doc["refunded"] = json!(refunded + amount == captured);
        charges::save(tx, ctx.scope(), &charge_doc, &charge.private)?;
        events::record(tx, ctx, "charge.refunded", &charge_doc, Some(previous_attributes(&before, &charge_doc)))?;
        if decision == RefundDecision::Failed {
            tx.schedule_job(ctx.scope(), ctx.now_ms() + REFUND_FAILURE_DELAY_MS, FAIL_REFUND, &id)?;
        }
        Ok::<_, Failure>(doc)
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
