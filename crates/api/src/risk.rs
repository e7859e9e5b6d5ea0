//! The API's side of fraud screening: what it tells the risk engine about an attempt,
//! what it keeps of each attempt, and how a decision becomes a charge's `outcome`.

use serde_json::{Value, json};
use tessera_core::card::Check;
use tessera_core::ports::{Authorization, ThreeDSecure};
use tessera_risk::{
    Action, Assessment, AttemptFacts, AttemptKeys, Engine, Signals, StringAttribute,
};
use tessera_store::{EncodedRiskAttempt, RiskAttempt, Scope, Store};

use crate::pipeline::{Ctx, Outcome};
use crate::resources::charges::Screening;
use crate::resources::{load, radar_rules};
use tessera_core::ids::ObjectKind;

/// How far back the velocity counters and dry runs look.
pub(crate) const HISTORY_SECS: i64 = 7 * 86_400;

/// The most attempts read back when the gateway starts.
const RESTORE_LIMIT: u32 = 5_000_000;

/// The velocity counters' name for an account and mode.
pub(crate) fn scope_key(scope: &Scope) -> String {
    format!(
        "{}/{}",
        scope.account,
        if scope.livemode { "live" } else { "test" }
    )
}

/// Amounts in a reference currency: the engine thinks in US dollars. Only USD is
/// converted; other currencies leave `:amount_in_usd:` missing rather than guessing
/// an exchange rate.
fn amount_in_usd(doc: &Value) -> Option<f64> {
    (doc["currency"] == "usd")
        .then(|| doc["amount"].as_i64())
        .flatten()
        .map(|minor| minor as f64 / 100.0)
}

/// Assesses a confirmation attempt of intent `doc` with card PaymentMethod `pm`.
pub(crate) fn assess(
    ctx: &Ctx<'_>,
    doc: &Value,
    pm: &Value,
    pm_private: &Value,
    three_d_secure: ThreeDSecure,
) -> Outcome<Assessment> {
    let customer = doc["customer"].as_str();
    let customer_created = match customer {
        Some(id) => ctx
            .app
            .store
            .read(|tx| load(tx, ctx, ObjectKind::Customer, id, "customer"))
            .ok()
            .and_then(|c| c.doc["created"].as_i64()),
        None => None,
    };
    // The shopper's address: where the browser that tokenized the card was, else the
    // caller of this confirmation if it is a browser.
    let ip = pm_private["client_ip"]
        .as_str()
        .and_then(|ip| ip.parse().ok())
        .or(ctx.client_ip);
    let card = &pm["card"];
    let network = &pm_private["network_risk"];
    let facts = AttemptFacts {
        at: ctx.now,
        amount_in_usd: amount_in_usd(doc),
        card_fingerprint: card["fingerprint"].as_str(),
        card_country: card["country"].as_str(),
        card_funding: card["funding"].as_str(),
        card_brand: card["brand"].as_str(),
        billing_country: pm["billing_details"]["address"]["country"].as_str(),
        email: doc["receipt_email"]
            .as_str()
            .or(pm["billing_details"]["email"].as_str()),
        ip,
        customer,
        customer_created,
        three_d_secure: three_d_secure == ThreeDSecure::Authenticated,
        network_risk_score: network["score"].as_u64().and_then(|s| u8::try_from(s).ok()),
        known_fraud: network["known_fraud"] == true,
    };
    Ok(ctx.app.risk.assess(&scope_key(ctx.scope()), &facts))
}

/// The signals after the network answered: the same, with the issuer's checks of the
/// CVC and the billing address.
pub(crate) fn after_authorization(assessment: &Assessment, auth: &Authorization) -> Signals {
    let mut signals = assessment.signals.clone();
    let name = |check: Option<Check>| match check {
        Some(Check::Pass) => "pass",
        Some(Check::Fail) => "fail",
        Some(Check::Unavailable) => "unavailable",
        Some(Check::Unchecked) | None => "unchecked",
    };
    let checks = &auth.checks;
    signals.set_string(StringAttribute::CvcCheck, name(checks.cvc_check));
    signals.set_string(
        StringAttribute::AddressLine1Check,
        name(checks.address_line1_check),
    );
    signals.set_string(
        StringAttribute::AddressZipCheck,
        name(checks.address_postal_code_check),
    );
    signals
}

/// What a rule decision means for the charge: the engine's score and level, and the
/// account rule (not Radar's defaults) that blocked or reviewed, if one did.
pub(crate) fn screening(
    assessment: &Assessment,
    decision: &tessera_risk::Decision,
    rules: &[Value],
) -> Screening {
    let account_rule = |action: Action| {
        (decision.action == Some(action))
            .then_some(decision.rule.as_deref())
            .flatten()
            .filter(|text| !tessera_risk::DEFAULT_RULES.contains(text))
            .map(|text| radar_rules::outcome_rule(rules, text, action))
    };
    let rule = if assessment.known_fraud {
        None
    } else {
        account_rule(Action::Block).or_else(|| account_rule(Action::Review))
    };
    Screening {
        risk_level: assessment.level,
        risk_score: assessment.score,
        rule,
        blocked_after_authorization: false,
        review: !assessment.known_fraud && decision.action == Some(Action::Review),
    }
}

fn keys_json(keys: &AttemptKeys) -> Value {
    json!({ "card": keys.card, "ip": keys.ip, "email": keys.email, "customer": keys.customer })
}

fn keys_from_json(v: &Value) -> AttemptKeys {
    let key = |name: &str| v[name].as_str().map(str::to_owned);
    AttemptKeys {
        card: key("card"),
        ip: key("ip"),
        email: key("email"),
        customer: key("customer"),
    }
}

/// The attempt (with the charge that records it), encoded before the write that keeps
/// it ([`tessera_store::Tx::insert_encoded_risk_attempt`]) for the velocity counters
/// and for dry runs of new rules.
pub(crate) fn attempt_record(
    ctx: &Ctx<'_>,
    assessment: &Assessment,
    charge: &Value,
    declined: bool,
) -> Outcome<EncodedRiskAttempt> {
    let attempt = RiskAttempt {
        scope: ctx.scope().clone(),
        at: ctx.now,
        charge: charge["id"].as_str().unwrap_or_default().to_owned(),
        declined,
        keys: keys_json(&assessment.keys),
        signals: assessment.signals.to_json(),
    };
    Ok(attempt.encode()?)
}

/// Rebuilds the velocity counters from the past week's attempts, counting each as it
/// is read (a week can hold millions of attempts; they are not all held at once).
pub(crate) fn restore_history(store: &Store, engine: &Engine) -> Result<(), String> {
    let since = crate::pipeline::unix_now() - HISTORY_SECS;
    store
        .read(|tx| {
            tx.for_each_counted_attempt_since(since, RESTORE_LIMIT, |a| {
                engine.record(
                    &scope_key(&a.scope),
                    &keys_from_json(&a.keys),
                    a.at,
                    a.declined,
                );
            })
        })
        .map_err(|e| format!("could not read the risk history: {e}"))?;
    Ok(())
}

/// A past attempt, as a dry run replays it.
pub(crate) struct PastAttempt {
    pub charge: String,
    pub at: i64,
    pub signals: Signals,
}

/// Hands the account's attempts of the past `days` to `each`, oldest first, one at a
/// time as they are read (at most `limit`); returns how many.
pub(crate) fn for_each_past_attempt(
    store: &Store,
    scope: &Scope,
    now: i64,
    days: i64,
    limit: u32,
    mut each: impl FnMut(PastAttempt),
) -> Result<u64, tessera_store::StoreError> {
    store.read(|tx| {
        tx.for_each_risk_attempt_since(Some(scope), now - days * 86_400, limit, |a| {
            each(PastAttempt {
                charge: a.charge,
                at: a.at,
                signals: Signals::from_json(&a.signals),
            })
        })
    })
}
