//! Radar value lists: `/v1/radar/value_lists` and `/v1/radar/value_list_items`, as in
//! Stripe. A rule names a list by its alias (`Block if :email_domain: IN
//! @blocked_domains`); items match case-insensitively unless the list's `item_type`
//! is `case_sensitive_string`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde_json::{Value, json};
use tessera_core::ApiError;
use tessera_core::ids::ObjectKind;
use tessera_crypto::random;
use tessera_risk::{Attribute, Lists, RuleSet, Signals};
use tessera_store::{ListQuery, NewObject, Tx};

use super::{load, new_metadata, radar_rules, update_metadata};
use crate::form::Params;
use crate::list::Page;
use crate::pipeline::{Ctx, Outcome};

/// The item types Stripe defines for value lists.
const ITEM_TYPES: &[&str] = &[
    "card_bin",
    "card_fingerprint",
    "case_sensitive_string",
    "country",
    "customer_id",
    "email",
    "ip_address",
    "sepa_debit_fingerprint",
    "string",
    "us_bank_account_fingerprint",
];

/// Items one list may hold.
const MAX_ITEMS: u32 = 10_000;

/// Lists one account may have.
const MAX_LISTS: u32 = 100;

fn valid_alias(alias: &str) -> bool {
    !alias.is_empty()
        && alias.len() <= 100
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn list_items_url(id: &str) -> String {
    format!("/v1/radar/value_list_items?value_list={id}")
}

/// `POST /v1/radar/value_lists`
pub(crate) fn create(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let alias = p.required("alias")?;
    let name = p.required("name")?;
    let item_type = p
        .one_of("item_type", ITEM_TYPES)?
        .unwrap_or_else(|| "case_sensitive_string".to_owned());
    let metadata = new_metadata(p)?;
    p.finish()?;
    if !valid_alias(&alias) {
        return Err(ApiError::invalid_request(
            "alias",
            "Invalid alias: use letters, digits and underscores (at most 100), as rules name it `@alias`.",
        )
        .into());
    }
    let id = random::object_id(ObjectKind::ValueList.prefix());
    let doc = json!({
        "id": id,
        "object": "radar.value_list",
        "alias": alias,
        "created": ctx.now,
        "created_by": "api",
        "item_type": item_type,
        "list_items": { "object": "list", "data": [], "has_more": false, "total_count": 0, "url": list_items_url(&id) },
        "livemode": ctx.scope().livemode,
        "metadata": metadata,
        "name": name,
    });
    ctx.write(|tx| {
        if find_by_alias(tx, ctx, &alias)?.is_some() {
            return Err(ApiError::invalid_request(
                "alias",
                format!("A value list with alias {alias} already exists."),
            )
            .into());
        }
        let count = tx
            .list_objects(
                ctx.scope(),
                &ListQuery {
                    kind: "radar.value_list",
                    limit: MAX_LISTS,
                    ..Default::default()
                },
            )?
            .map_or(0, |p| p.data.len());
        if count >= MAX_LISTS as usize {
            return Err(ApiError::bad_request(format!(
                "An account can have at most {MAX_LISTS} value lists."
            ))
            .into());
        }
        tx.insert_object(
            ctx.scope(),
            &NewObject {
                id: &id,
                kind: "radar.value_list",
                created: ctx.now,
                ref1: Some(&alias),
                ref2: None,
                doc: &doc,
                private: Some(&json!({ KEYED_ITEMS: true })),
            },
        )?;
        Ok(())
    })?;
    Ok(doc)
}

fn find_by_alias(tx: &Tx<'_>, ctx: &Ctx<'_>, alias: &str) -> Outcome<Option<Value>> {
    let query = ListQuery {
        kind: "radar.value_list",
        ref1: Some(alias),
        limit: 1,
        ..Default::default()
    };
    Ok(tx
        .list_objects(ctx.scope(), &query)?
        .and_then(|p| p.data.into_iter().next()))
}

fn items_of(tx: &Tx<'_>, ctx: &Ctx<'_>, list: &str, limit: u32) -> Outcome<(Vec<Value>, bool)> {
    let query = ListQuery {
        kind: "radar.value_list_item",
        ref1: Some(list),
        limit,
        ..Default::default()
    };
    Ok(tx
        .list_objects(ctx.scope(), &query)?
        .map(|p| (p.data, p.has_more))
        .unwrap_or_default())
}

/// In a list's private document: each of its items has its match key
/// ([`match_key`]) as its second reference, so a payment looks up the values it
/// has instead of reading the list. Lists made before are keyed when an item is next
/// added to them ([`create_item`]); until then a payment reads them whole.
const KEYED_ITEMS: &str = "items_keyed";

/// What a value is matched as in a list: itself in a case-sensitive list, and
/// lower-cased in any other.
fn match_key(case_sensitive: bool, value: &str) -> Cow<'_, str> {
    if case_sensitive {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(value.to_lowercase())
    }
}

fn is_case_sensitive(list: &Value) -> bool {
    list["item_type"] == "case_sensitive_string"
}

/// Whether the list's items are keyed ([`KEYED_ITEMS`]).
fn items_keyed(tx: &Tx<'_>, ctx: &Ctx<'_>, list_id: &str) -> Outcome<bool> {
    Ok(tx
        .get_private(ctx.scope(), "radar.value_list", list_id)?
        .is_some_and(|p| p[KEYED_ITEMS] == true))
}

/// A list's document with its first items, as Stripe shows it.
fn with_items(tx: &Tx<'_>, ctx: &Ctx<'_>, mut doc: Value) -> Outcome<Value> {
    let id = doc["id"].as_str().unwrap_or_default().to_owned();
    let (items, has_more) = items_of(tx, ctx, &id, 10)?;
    let total = tx.count_with_ref1(ctx.scope(), "radar.value_list_item", &id)?;
    doc["list_items"] = json!({
        "object": "list", "data": items, "has_more": has_more,
        "total_count": total, "url": list_items_url(&id),
    });
    Ok(doc)
}

/// `GET /v1/radar/value_lists/:id`
pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    ctx.app.store.read(|tx| {
        let found = load(tx, ctx, ObjectKind::ValueList, id, "id")?;
        with_items(tx, ctx, found.doc)
    })
}

/// `GET /v1/radar/value_lists`
pub(crate) fn list(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let alias = p.string("alias")?;
    let page = Page::take(p)?;
    p.finish()?;
    page.fetch(
        ctx,
        ObjectKind::ValueList,
        "/v1/radar/value_lists",
        (alias.as_deref(), None),
    )
}

/// `POST /v1/radar/value_lists/:id`: alias, name, metadata.
pub(crate) fn update(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let alias = p.string("alias")?;
    let name = p.string("name")?;
    let metadata = p.metadata()?;
    p.finish()?;
    if let Some(a) = &alias
        && !valid_alias(a)
    {
        return Err(ApiError::invalid_request(
            "alias",
            "Invalid alias: use letters, digits and underscores (at most 100).",
        )
        .into());
    }
    ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::ValueList, id, "id")?;
        let mut doc = found.doc;
        if let Some(a) = &alias
            && doc["alias"] != a.as_str()
        {
            if find_by_alias(tx, ctx, a)?.is_some() {
                return Err(ApiError::invalid_request(
                    "alias",
                    format!("A value list with alias {a} already exists."),
                )
                .into());
            }
            refuse_if_used(tx, ctx, doc["alias"].as_str().unwrap_or_default())?;
            doc["alias"] = json!(a);
        }
        if let Some(n) = name {
            doc["name"] = json!(n);
        }
        update_metadata(&mut doc, metadata)?;
        tx.update_object(ctx.scope(), id, (doc["alias"].as_str(), None), &doc, None)?;
        with_items(tx, ctx, doc)
    })
}

/// A list a rule names cannot be deleted or renamed away from under the rule.
fn refuse_if_used(tx: &Tx<'_>, ctx: &Ctx<'_>, alias: &str) -> Outcome<()> {
    let rules = radar_rules::account_rules(tx, ctx.scope())?;
    let used_by = radar_rules::rule_set(&rules)
        .rules()
        .iter()
        .find(|r| r.lists().contains(&alias))
        .map(|r| r.source().to_owned());
    match used_by {
        Some(rule) => Err(ApiError::invalid_request(
            "alias",
            format!("The value list @{alias} is used by the rule `{rule}`; delete the rule first."),
        )
        .into()),
        None => Ok(()),
    }
}

/// `DELETE /v1/radar/value_lists/:id`
pub(crate) fn delete(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::ValueList, id, "id")?;
        refuse_if_used(tx, ctx, found.doc["alias"].as_str().unwrap_or_default())?;
        for item in items_of(tx, ctx, id, MAX_ITEMS)?.0 {
            let item_id = item["id"].as_str().unwrap_or_default();
            let tombstone =
                json!({ "id": item_id, "object": "radar.value_list_item", "deleted": true });
            tx.delete_object(ctx.scope(), item_id, &tombstone)?;
        }
        let tombstone = json!({ "id": id, "object": "radar.value_list", "deleted": true });
        tx.delete_object(ctx.scope(), id, &tombstone)?;
        Ok(tombstone)
    })
}

/// Checks an item's value against its list's type; returns the value to store.
fn check_item(item_type: &str, value: &str) -> Result<String, ApiError> {
    let bad = |what: &str| {
        ApiError::invalid_request(
            "value",
            format!("Invalid value for a {item_type} list: {what}"),
        )
    };
    if value.is_empty() || value.len() > 800 {
        return Err(bad("it must be 1 to 800 characters"));
    }
    match item_type {
        "ip_address" => value
            .parse::<IpAddr>()
            .map(|ip| ip.to_canonical().to_string())
            .map_err(|_| bad("expected an IPv4 or IPv6 address")),
        "country" if value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Ok(value.to_ascii_uppercase())
        }
        "country" => Err(bad("expected a two-letter country code")),
        "card_bin" if value.len() == 6 && value.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(value.to_owned())
        }
        // Six digits only: a value list must never hold more of a card number.
        "card_bin" => Err(bad("expected the card's first six digits")),
        "email" if value.contains('@') => Ok(value.to_owned()),
        "email" => Err(bad("expected an email address")),
        _ => Ok(value.to_owned()),
    }
}

/// `POST /v1/radar/value_list_items`
pub(crate) fn create_item(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let list_id = p.required("value_list")?;
    let value = p.required("value")?;
    p.finish()?;
    ctx.write(|tx| {
        let list = load(tx, ctx, ObjectKind::ValueList, &list_id, "value_list")?.doc;
        let value = check_item(list["item_type"].as_str().unwrap_or("string"), &value)?;
        let key = match_key(is_case_sensitive(&list), &value);
        if !items_keyed(tx, ctx, &list_id)? {
            key_items(tx, ctx, &list, &list_id)?;
        }
        if tx.count_with_ref1(ctx.scope(), "radar.value_list_item", &list_id)?
            >= u64::from(MAX_ITEMS)
        {
            return Err(ApiError::bad_request(format!(
                "A value list can hold at most {MAX_ITEMS} items."
            ))
            .into());
        }
        if !tx
            .second_refs_among(ctx.scope(), "radar.value_list_item", &list_id, &[&key])?
            .is_empty()
        {
            return Err(ApiError::invalid_request(
                "value",
                format!("The value list {list_id} already contains this value."),
            )
            .into());
        }
        let id = random::object_id(ObjectKind::ValueListItem.prefix());
        let doc = json!({
            "id": id,
            "object": "radar.value_list_item",
            "created": ctx.now,
            "created_by": "api",
            "livemode": ctx.scope().livemode,
            "value": value,
            "value_list": list_id,
        });
        tx.insert_object(
            ctx.scope(),
            &NewObject {
                id: &id,
                kind: "radar.value_list_item",
                created: ctx.now,
                ref1: Some(&list_id),
                ref2: Some(&key),
                doc: &doc,
                private: None,
            },
        )?;
        Ok(doc)
    })
}

/// Keys the items of a list made before items were keyed ([`KEYED_ITEMS`]), once,
/// in the write that adds its next item.
fn key_items(tx: &Tx<'_>, ctx: &Ctx<'_>, list: &Value, list_id: &str) -> Outcome<()> {
    let case_sensitive = is_case_sensitive(list);
    let (items, _) = items_of(tx, ctx, list_id, MAX_ITEMS)?;
    for item in &items {
        let (Some(id), Some(value)) = (item["id"].as_str(), item["value"].as_str()) else {
            continue;
        };
        let key = match_key(case_sensitive, value);
        tx.update_object(ctx.scope(), id, (Some(list_id), Some(&key)), item, None)?;
    }
    let mut private = tx
        .get_private(ctx.scope(), "radar.value_list", list_id)?
        .unwrap_or(Value::Null);
    if !private.is_object() {
        private = json!({});
    }
    private[KEYED_ITEMS] = json!(true);
    let refs = (list["alias"].as_str(), None);
    tx.update_object(ctx.scope(), list_id, refs, list, Some(&private))?;
    Ok(())
}

/// `GET /v1/radar/value_list_items?value_list=…`
pub(crate) fn list_items(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let list_id = p.required("value_list")?;
    let value = p.string("value")?;
    let page = Page::take(p)?;
    p.finish()?;
    ctx.app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::ValueList, &list_id, "value_list"))?;
    let mut answer = page.fetch(
        ctx,
        ObjectKind::ValueListItem,
        "/v1/radar/value_list_items",
        (Some(&list_id), None),
    )?;
    if let (Some(v), Some(data)) = (value, answer["data"].as_array_mut()) {
        data.retain(|item| item["value"] == v.as_str());
    }
    Ok(answer)
}

/// `GET /v1/radar/value_list_items/:id`
pub(crate) fn retrieve_item(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    super::retrieve_plain(ctx, ObjectKind::ValueListItem, id)
}

/// `DELETE /v1/radar/value_list_items/:id`
pub(crate) fn delete_item(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    super::delete_plain(ctx, ObjectKind::ValueListItem, id)
}

/// An account's value lists, by alias, as rules read them.
#[derive(Debug, Default)]
pub(crate) struct AccountLists {
    /// alias → (case-sensitive, items; lower-cased when not case-sensitive)
    lists: HashMap<String, (bool, HashSet<String>)>,
}

impl Lists for AccountLists {
    fn contains(&self, list: &str, item: &str) -> Option<bool> {
        let (case_sensitive, items) = self.lists.get(list)?;
        Some(items.contains(match_key(*case_sensitive, item).as_ref()))
    }
}

/// What a payment's rules can ask of the lists they name: for each list, which of the
/// attempt's values (`signals`) the rules look up there it holds, each looked up by
/// its key, whatever the list's size.
pub(crate) fn lists_for_attempt(
    ctx: &Ctx<'_>,
    rules: &RuleSet,
    signals: &Signals,
) -> Outcome<AccountLists> {
    let lookups: Vec<(&str, Attribute)> = rules
        .rules()
        .iter()
        .flat_map(|r| r.list_lookups())
        .collect();
    lists_named(ctx, rules, |tx, list| {
        let id = list["id"].as_str().unwrap_or_default();
        if !items_keyed(tx, ctx, id)? {
            return read_whole(tx, ctx, list);
        }
        let case_sensitive = is_case_sensitive(list);
        let alias = list["alias"].as_str().unwrap_or_default();
        let keys: Vec<Cow<'_, str>> = lookups
            .iter()
            .filter(|(name, _)| *name == alias)
            .filter_map(|(_, attribute)| match attribute {
                Attribute::String(a) => signals.string(*a),
                _ => None,
            })
            .map(|v| match_key(case_sensitive, v))
            .collect();
        let keys: Vec<&str> = keys.iter().map(AsRef::as_ref).collect();
        let held = tx.second_refs_among(ctx.scope(), "radar.value_list_item", id, &keys)?;
        Ok((case_sensitive, held))
    })
}

/// The lists the rule set names, whole: for a dry run, which replays many attempts
/// against them.
pub(crate) fn account_lists(ctx: &Ctx<'_>, rules: &RuleSet) -> Outcome<AccountLists> {
    lists_named(ctx, rules, |tx, list| read_whole(tx, ctx, list))
}

/// The lists the rule set names (only those are read), each as `read` makes it.
fn lists_named(
    ctx: &Ctx<'_>,
    rules: &RuleSet,
    mut read: impl FnMut(&Tx<'_>, &Value) -> Outcome<(bool, HashSet<String>)>,
) -> Outcome<AccountLists> {
    let mut aliases: Vec<&str> = rules.rules().iter().flat_map(|r| r.lists()).collect();
    aliases.sort_unstable();
    aliases.dedup();
    let mut lists = AccountLists::default();
    if aliases.is_empty() {
        return Ok(lists);
    }
    ctx.app.store.read(|tx| {
        for alias in aliases {
            if let Some(list) = find_by_alias(tx, ctx, alias)? {
                lists.lists.insert(alias.to_owned(), read(tx, &list)?);
            }
        }
        Ok::<_, crate::pipeline::Failure>(())
    })?;
    Ok(lists)
}

/// A list's items, all of them (keyed as [`match_key`] does).
fn read_whole(tx: &Tx<'_>, ctx: &Ctx<'_>, list: &Value) -> Outcome<(bool, HashSet<String>)> {
    let case_sensitive = is_case_sensitive(list);
    let id = list["id"].as_str().unwrap_or_default();
    let items = items_of(tx, ctx, id, MAX_ITEMS)?
        .0
        .iter()
        .filter_map(|i| i["value"].as_str())
        .map(|v| match_key(case_sensitive, v).into_owned())
        .collect();
    Ok((case_sensitive, items))
}
