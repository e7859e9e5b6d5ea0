//! Charges: one per payment attempt. Built by PaymentIntent confirmation; read here.

use serde_json::value::RawValue;
use serde_json::{Value, json};
use tessera_core::card::Check;
use tessera_core::ids::ObjectKind;
use tessera_core::ports::{Authorization, Decision, ThreeDSecureResult};
use tessera_crypto::random;
use tessera_store::{Encoded, NewObject, Tx};

use super::load;
use crate::form::Params;
use crate::list::Page;
use crate::pipeline::{Ctx, Outcome};

fn check(c: Option<Check>) -> Value {
    c.map_or(Value::Null, |c| {
        serde_json::to_value(c).unwrap_or(Value::Null)
    })
}

/// What the risk engine and the rules made of an attempt.
#[derive(Debug, Clone)]
pub(crate) struct Screening {
    /// `normal`, `elevated` or `highest`.
    pub risk_level: &'static str,
    /// 0–100.
    pub risk_score: u8,
    /// The account rule that blocked the attempt or sent it to review (`outcome.rule`);
    /// `None` when Radar's default rules or the engine decided.
    pub rule: Option<Value>,
    /// Blocked after the network approved it (a rule on the CVC check): the
    /// authorization was voided.
    pub blocked_after_authorization: bool,
    /// Let through, but placed in the review queue.
    pub review: bool,
}

/// The charge `outcome` for an authorization and its screening.
fn outcome(auth: &Authorization, s: &Screening) -> Value {
    let (risk_level, risk_score) = (s.risk_level, s.risk_score);
    let base = |network_status: &str, reason: Option<&str>, seller_message: &str, kind: &str| {
        json!({
            "network_advice_code": null, "network_decline_code": null,
            "network_status": network_status, "reason": reason,
            "risk_level": risk_level, "risk_score": risk_score, "rule": s.rule,
            "seller_message": seller_message, "type": kind,
        })
    };
    let by_rule = s.rule.is_some();
    match &auth.decision {
        Decision::Blocked => base(
            if s.blocked_after_authorization {
                "approved_by_network"
            } else {
                "not_sent_to_network"
            },
            Some(if by_rule {
                "rule"
            } else {
                "highest_risk_level"
            }),
            if by_rule {
                "Tessera blocked this payment by one of your rules."
            } else {
                "Tessera blocked this payment as too risky."
            },
            "blocked",
        ),
        Decision::Approved if s.review => base(
            "approved_by_network",
            Some(if by_rule {
                "rule"
            } else {
                "elevated_risk_level"
            }),
            if by_rule {
                "One of your rules placed this payment in your manual review queue."
            } else {
                "Tessera evaluated this payment as having elevated risk, and placed it in your manual review queue."
            },
            "manual_review",
        ),
        Decision::Approved => base(
            "approved_by_network",
            None,
            "Payment complete.",
            "authorized",
        ),
        Decision::Declined {
            code, decline_code, ..
        } => base(
            "declined_by_network",
            Some(decline_code.unwrap_or(code)),
            &match decline_code {
                Some(d) => format!("The bank returned the decline code `{d}`."),
                None => format!("The bank declined the payment ({code})."),
            },
            "issuer_declined",
        ),
        Decision::AuthenticationRequired => Value::Null,
    }
}

/// Everything a new charge records about its attempt.
pub(crate) struct Attempt<'a> {
    pub payment_intent: &'a Value,
    pub payment_method: &'a Value,
    pub authorization: &'a Authorization,
    pub captured: bool,
    pub failure: Option<(&'a str, &'a str)>,
    /// What the risk engine and the rules decided.
    pub screening: &'a Screening,
}

/// A new charge's document for an attempt, built before the write that stores it
/// ([`insert`]): nothing in it depends on what is stored, and a write holds the
/// store's one write lock for as long as it runs.
pub(crate) fn new_doc(ctx_scope: &tessera_store::Scope, now: i64, a: &Attempt<'_>) -> Value {
    let id = random::object_id(ObjectKind::Charge.prefix());
    let pi = a.payment_intent;
    let pm = a.payment_method;
    let card = &pm["card"];
    let auth = a.authorization;
    let succeeded = a.failure.is_none();
    let amount = pi["amount"].as_i64().unwrap_or(0);
    let three_d_secure = match auth.three_d_secure {
        None => Value::Null,
        Some(r) => json!({
            "authentication_flow": if r == ThreeDSecureResult::Frictionless { "frictionless" } else { "challenge" },
            "electronic_commerce_indicator": "05",
            "result": "authenticated",
            "result_reason": null,
            "transaction_id": random::base62(24),
            "version": "2.2.0",
        }),
    };
    json!({
        "id": id,
        "object": "charge",
        "amount": amount,
        "amount_captured": 0,
        "amount_refunded": 0,
        "application": null,
        "application_fee": null,
        "application_fee_amount": null,
        "balance_transaction": null,
        "billing_details": pm["billing_details"],
        "calculated_statement_descriptor": pi["statement_descriptor"].as_str().unwrap_or("TESSERA"),
        "captured": false,
        "created": now,
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": false,
        "failure_balance_transaction": null,
        "failure_code": a.failure.map(|f| f.0),
        "failure_message": a.failure.map(|f| f.1),
        "fraud_details": {},
        "livemode": ctx_scope.livemode,
        "metadata": {},
        "on_behalf_of": null,
        "outcome": outcome(auth, a.screening),
        "paid": succeeded,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": if succeeded { json!(amount) } else { Value::Null },
                "authorization_code": if succeeded { json!(random::base62(6).to_uppercase()) } else { Value::Null },
                "brand": card["brand"],
                "checks": {
                    "address_line1_check": check(auth.checks.address_line1_check),
                    "address_postal_code_check": check(auth.checks.address_postal_code_check),
                    "cvc_check": check(auth.checks.cvc_check),
                },
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "extended_authorization": { "status": "disabled" },
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "installments": null,
                "last4": card["last4"],
                "mandate": null,
                "network": card["brand"],
                "network_token": { "used": false },
                "regulated_status": "unregulated",
                "three_d_secure": three_d_secure,
                "wallet": null,
            },
            "type": "card",
        },
        "receipt_email": pi["receipt_email"],
        "receipt_number": null,
        "receipt_url": null,
        "refunded": false,
        "review": null,
        "shipping": null,
        "source_transfer": null,
        "statement_descriptor": pi["statement_descriptor"],
        "statement_descriptor_suffix": pi["statement_descriptor_suffix"],
        "status": if succeeded { "succeeded" } else { "failed" },
        "transfer_data": null,
        "transfer_group": null,
    })
}

/// A new charge made ready before the write that stores it: its document as it will
/// be stored (with its balance transaction when money moved, and the review the
/// attempt opens, if any), serialised and encoded ahead of the write, which holds the
/// store's one write lock ([`tessera_store::Encoded`]).
pub(crate) struct NewCharge {
    /// The charge's document.
    pub(crate) doc: Value,
    /// Its JSON, for its event.
    pub(crate) json: Box<RawValue>,
    row: Encoded,
    private: Value,
    balance_transaction: Option<BalanceTransaction>,
}

/// Makes charge `doc` (from [`new_doc`] for the same attempt) ready to be written
/// ([`insert`]): with its balance transaction when money moved, and `review` (the id
/// of the review the attempt opens) if any.
pub(crate) fn prepare(
    now: i64,
    a: &Attempt<'_>,
    mut doc: Value,
    review: Option<&str>,
) -> Outcome<NewCharge> {
    let pi = a.payment_intent;
    let balance_transaction = if a.failure.is_none() && a.captured {
        let amount = pi["amount"].as_i64().unwrap_or(0);
        let txn = BalanceTransaction::of_charge(now, &doc, amount)?;
        mark_captured(&mut doc, amount, &txn.id);
        Some(txn)
    } else {
        None
    };
    if let Some(review) = review {
        doc["review"] = json!(review);
    }
    let json = crate::events::serialised(&doc)?;
    Ok(NewCharge {
        row: Encoded::new(&*json)?,
        json,
        doc,
        private: json!({ "processor_data": a.authorization.processor_data }),
        balance_transaction,
    })
}

/// Writes a new charge made ready by [`prepare`], and its balance transaction.
pub(crate) fn insert(tx: &Tx<'_>, scope: &tessera_store::Scope, charge: &NewCharge) -> Outcome<()> {
    if let Some(txn) = &charge.balance_transaction {
        txn.insert(tx, scope)?;
    }
    let doc = &charge.doc;
    tx.insert_object(
        scope,
        &NewObject {
            id: doc["id"].as_str().unwrap_or_default(),
            kind: "charge",
            created: doc["created"].as_i64().unwrap_or_default(),
            ref1: doc["customer"].as_str(),
            ref2: doc["payment_intent"].as_str(),
            doc: &charge.row,
            private: Some(&charge.private),
        },
    )?;
    Ok(())
}

/// The connector's data for a charge's authorization, from the charge's private
/// document, for its capture, refund or release.
pub(crate) fn processor_data_of(charge_private: &Value) -> String {
    charge_private["processor_data"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Marks `amount` of a charge document captured and writes its balance transaction.
pub(crate) fn capture_in_doc(
    tx: &Tx<'_>,
    scope: &tessera_store::Scope,
    now: i64,
    doc: &mut Value,
    amount: i64,
) -> Outcome<()> {
    let txn = BalanceTransaction::of_charge(now, doc, amount)?;
    txn.insert(tx, scope)?;
    mark_captured(doc, amount, &txn.id);
    Ok(())
}

/// Marks `amount` of a charge document captured, with balance transaction `txn`.
fn mark_captured(doc: &mut Value, amount: i64, txn: &str) {
    doc["captured"] = json!(true);
    doc["amount_captured"] = json!(amount);
    doc["balance_transaction"] = json!(txn);
}

/// Writes a balance transaction of `kind` for `amount` of `currency` moved by
/// `source` (a charge or a refund) and returns its id.
pub(crate) fn balance_transaction(
    tx: &Tx<'_>,
    scope: &tessera_store::Scope,
    now: i64,
    source: &str,
    amount: i64,
    currency: Value,
    kind: &str,
) -> Outcome<String> {
    let txn = BalanceTransaction::new(now, source, amount, &currency, kind)?;
    txn.insert(tx, scope)?;
    Ok(txn.id)
}

/// A new balance transaction, encoded for the write that stores it.
struct BalanceTransaction {
    id: String,
    source: String,
    created: i64,
    row: Encoded,
}

impl BalanceTransaction {
    /// `amount` of charge `doc` captured.
    fn of_charge(now: i64, doc: &Value, amount: i64) -> Outcome<BalanceTransaction> {
        let id = doc["id"].as_str().unwrap_or_default();
        BalanceTransaction::new(now, id, amount, &doc["currency"], "charge")
    }

    /// `amount` of `currency` moved by `source` (a charge or a refund), as `kind`.
    fn new(
        now: i64,
        source: &str,
        amount: i64,
        currency: &Value,
        kind: &str,
    ) -> Outcome<BalanceTransaction> {
        let id = random::object_id(ObjectKind::BalanceTransaction.prefix());
        let doc = json!({
            "id": id,
            "object": "balance_transaction",
            "amount": amount,
            "available_on": now + 2 * 86_400,
            "created": now,
            "currency": currency,
            "description": null,
            "exchange_rate": null,
            "fee": 0,
            "fee_details": [],
            "net": amount,
            "reporting_category": kind,
            "source": source,
            "status": "pending",
            "type": kind,
        });
        Ok(BalanceTransaction {
            row: Encoded::new(&doc)?,
            id,
            source: source.to_owned(),
            created: now,
        })
    }

    fn insert(&self, tx: &Tx<'_>, scope: &tessera_store::Scope) -> Outcome<()> {
        tx.insert_object(
            scope,
            &NewObject {
                id: &self.id,
                kind: "balance_transaction",
                created: self.created,
                ref1: Some(&self.source),
                ref2: None,
                doc: &self.row,
                private: None,
            },
        )?;
        Ok(())
    }
}

/// Saves a charge document with its indexed customer and PaymentIntent.
pub(crate) fn save(
    tx: &Tx<'_>,
    scope: &tessera_store::Scope,
    doc: &Value,
    private: &Value,
) -> Outcome<()> {
    let id = doc["id"].as_str().unwrap_or_default();
    tx.update_object(
        scope,
        id,
        (doc["customer"].as_str(), doc["payment_intent"].as_str()),
        doc,
        Some(private),
    )?;
    Ok(())
}

/// `GET /v1/charges/:id`
pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    Ok(ctx
        .app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::Charge, id, "id"))?
        .doc)
}

/// `GET /v1/charges?customer=…&payment_intent=…`
pub(crate) fn list(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let page = Page::take(p)?;
    let customer = p.string("customer")?;
    let payment_intent = p.string("payment_intent")?;
    p.finish()?;
    page.fetch(
        ctx,
        ObjectKind::Charge,
        "/v1/charges",
        (customer.as_deref(), payment_intent.as_deref()),
    )
}
