//! An account's fraud rules, in Stripe Radar's syntax: `/v1/radar/rules` (a Tessera
//! extension; Stripe manages rules in its dashboard). A rule is parsed when it is
//! created, so a bad one is refused with the position of the problem; the account's
//! rules, with Radar's default rules, are evaluated before every authorization (see
//! `payment_intents::confirm`).

use serde_json::{Value, json};
use tessera_core::ApiError;
use tessera_core::ids::ObjectKind;
use tessera_crypto::random;
use tessera_risk::{Action, Rule, RuleSet};
use tessera_store::{ListQuery, NewObject, Tx};

use super::load;
use crate::form::Params;
use crate::list::Page;
use crate::pipeline::{Ctx, Outcome};

/// Rules an account may have.
const MAX_RULES: usize = 100;

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Block => "block",
        Action::Review => "review",
        Action::Allow => "allow",
        Action::Request3ds => "request_three_d_secure",
    }
}

/// `POST /v1/radar/rules` with `rule=Block if :amount_in_usd: > 1000`.
pub(crate) fn create(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let text = p.required("rule")?;
    let description = p.string("description")?;
    p.finish()?;
    let rule = Rule::parse(&text)
        .map_err(|e| ApiError::invalid_request("rule", format!("Invalid rule: {e}")))?;
    let id = random::object_id(ObjectKind::RadarRule.prefix());
    let doc = json!({
        "id": id,
        "object": "radar_rule",
        "action": action_name(rule.action()),
        "created": ctx.now,
        "description": description,
        "livemode": ctx.scope().livemode,
        "predicate": rule.source(),
    });
    ctx.write(|tx| {
        if account_rules(tx, ctx.scope())?.len() >= MAX_RULES {
            return Err(ApiError::bad_request(format!(
                "An account can have at most {MAX_RULES} rules."
            ))
            .into());
        }
        tx.insert_object(
            ctx.scope(),
            &NewObject {
                id: &id,
                kind: "radar_rule",
                created: ctx.now,
                ref1: None,
                ref2: None,
                doc: &doc,
                private: None,
            },
        )?;
        Ok(())
    })?;
    Ok(doc)
}

/// `GET /v1/radar/rules`
pub(crate) fn list(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let page = Page::take(p)?;
    p.finish()?;
    page.fetch(ctx, ObjectKind::RadarRule, "/v1/radar/rules", (None, None))
}

/// `GET /v1/radar/rules/:id`
pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    Ok(ctx
        .app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::RadarRule, id, "id"))?
        .doc)
}

/// `DELETE /v1/radar/rules/:id`
pub(crate) fn delete(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    super::delete_plain(ctx, ObjectKind::RadarRule, id)
}

/// The account's rule documents, oldest first.
pub(crate) fn account_rules(tx: &Tx<'_>, scope: &tessera_store::Scope) -> Outcome<Vec<Value>> {
    let query = ListQuery {
        kind: "radar_rule",
        limit: MAX_RULES as u32,
        ..Default::default()
    };
    let mut rules = tx
        .list_objects(scope, &query)?
        .map(|p| p.data)
        .unwrap_or_default();
    rules.reverse();
    Ok(rules)
}

/// The account's rules followed by Radar's defaults, ready to evaluate.
pub(crate) fn rule_set(rules: &[Value]) -> RuleSet {
    let mut set = RuleSet::new(
        rules
            .iter()
            .filter_map(|r| r["predicate"].as_str())
            .filter_map(|text| Rule::parse(text).ok())
            .collect(),
    );
    for default in RuleSet::radar_defaults().rules() {
        set.push(default.clone());
    }
    set
}

/// The `outcome.rule` of a charge decided by the rule with source `text`.
pub(crate) fn outcome_rule(rules: &[Value], text: &str, action: Action) -> Value {
    let id = rules
        .iter()
        .find(|r| r["predicate"] == text)
        .and_then(|r| r["id"].as_str());
    json!({ "id": id, "action": action_name(action), "predicate": text })
}
