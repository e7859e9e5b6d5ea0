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
    super::retrieve_plain(ctx, ObjectKind::RadarRule, id)
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

/// The longest replay window of a dry run, in days.
pub(crate) const MAX_DRY_RUN_DAYS: i64 = 90;

/// The most attempts a dry run replays.
const MAX_DRY_RUN_ATTEMPTS: u32 = 200_000;

/// Charges shown as examples of what a rule would change.
const DRY_RUN_EXAMPLES: usize = 20;

/// What an evaluation means for the payment, as `outcome.type` would say it.
fn verdict(decision: &tessera_risk::Decision) -> &'static str {
    match decision.action {
        Some(Action::Block) => "blocked",
        Some(Action::Review) => "manual_review",
        _ => "authorized",
    }
}

/// `POST /v1/radar/rules/dry_run` with `rule=…` and `days=7` (a Tessera extension):
/// replays the account's attempts of the past days through its rules with and without
/// the new rule, and reports what the rule would have changed. Nothing is saved.
pub(crate) fn dry_run(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let text = p.required("rule")?;
    let days = p.int("days")?.unwrap_or(7);
    p.finish()?;
    if !(1..=MAX_DRY_RUN_DAYS).contains(&days) {
        return Err(ApiError::invalid_request(
            "days",
            format!("Invalid days: replay between 1 and {MAX_DRY_RUN_DAYS} days of attempts."),
        )
        .into());
    }
    let rule = Rule::parse(&text)
        .map_err(|e| ApiError::invalid_request("rule", format!("Invalid rule: {e}")))?;
    let rules = ctx.app.store.read(|tx| account_rules(tx, ctx.scope()))?;
    let current = rule_set(&rules);
    let mut with_rule = rules.clone();
    with_rule.push(json!({ "predicate": rule.source() }));
    let proposed = rule_set(&with_rule);
    let lists = crate::resources::radar_lists::account_lists(ctx, &proposed)?;
    let (mut matched, mut changed) = (0u64, 0u64);
    let mut into: std::collections::BTreeMap<&str, u64> = Default::default();
    let mut examples = Vec::new();
    // One attempt at a time: a busy account has hundreds of thousands.
    let attempts = crate::risk::for_each_past_attempt(
        &ctx.app.store,
        ctx.scope(),
        ctx.now,
        days,
        MAX_DRY_RUN_ATTEMPTS,
        |attempt| {
            if rule.matches(&attempt.signals, &lists) {
                matched += 1;
            }
            let before = current.evaluate(&attempt.signals, &lists);
            let after = proposed.evaluate(&attempt.signals, &lists);
            let (from, to) = (verdict(&before), verdict(&after));
            let asks_3ds = after.request_3ds && !before.request_3ds;
            if from == to && !asks_3ds {
                return;
            }
            changed += 1;
            *into
                .entry(if asks_3ds && from == to {
                    "request_three_d_secure"
                } else {
                    to
                })
                .or_default() += 1;
            if examples.len() < DRY_RUN_EXAMPLES {
                examples.push(json!({
                    "charge": attempt.charge,
                    "created": attempt.at,
                    "from": from,
                    "to": to,
                    "request_three_d_secure": asks_3ds,
                }));
            }
        },
    )?;
    Ok(json!({
        "object": "radar.rule_dry_run",
        "rule": rule.source(),
        "action": action_name(rule.action()),
        "days": days,
        "attempts": attempts,
        "truncated": attempts >= u64::from(MAX_DRY_RUN_ATTEMPTS),
        "matched": matched,
        "changed": changed,
        "changed_to": {
            "blocked": into.get("blocked").copied().unwrap_or(0),
            "manual_review": into.get("manual_review").copied().unwrap_or(0),
            "authorized": into.get("authorized").copied().unwrap_or(0),
            "request_three_d_secure": into.get("request_three_d_secure").copied().unwrap_or(0),
        },
        "examples": examples,
    }))
}
