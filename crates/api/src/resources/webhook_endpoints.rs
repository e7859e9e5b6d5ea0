//! Webhook endpoints: `/v1/webhook_endpoints`. The signing secret is shown once, at
//! creation (and when rolled); it is stored encrypted and never appears in events,
//! logs or later responses.

use serde_json::{Value, json};
use tessera_core::ApiError;
use tessera_core::ids::ObjectKind;
use tessera_crypto::{random, webhook};
use tessera_store::NewObject;

use super::{load, new_metadata, update_metadata};
use crate::events::EVENT_TYPES;
use crate::form::{Params, printable};
use crate::list::Page;
use crate::pipeline::{API_VERSION, Ctx, Outcome};

/// Stripe's limit of endpoints per account and mode.
const MAX_ENDPOINTS: usize = 16;

/// Longest overlap of a rolled secret.
const MAX_OVERLAP_SECS: i64 = 86_400;

fn url(value: String, ctx: &Ctx<'_>) -> Result<String, ApiError> {
    let https = value.starts_with("https://");
    let parsed = tessera_webhooks::attempt::parse(&value);
    if parsed.is_err() || value.len() > 2048 || value.contains(char::is_whitespace) {
        return Err(ApiError::invalid_request(
            "url",
            "Invalid URL: url must be an absolute https:// (or, in test mode, http://) URL with a host.",
        ));
    }
    if ctx.scope().livemode && !https {
        return Err(ApiError::invalid_request(
            "url",
            "Live-mode webhook endpoints must use https://.",
        ));
    }
    Ok(value)
}

fn enabled_events(p: &mut Params) -> Result<Option<Vec<String>>, ApiError> {
    let Some(types) = p.strings("enabled_events")? else {
        return Ok(None);
    };
    if types.is_empty() {
        return Err(ApiError::invalid_request(
            "enabled_events",
            "enabled_events must name at least one event type, or *.",
        ));
    }
    if let Some(bad) = types
        .iter()
        .find(|t| *t != "*" && !EVENT_TYPES.contains(&t.as_str()))
    {
        return Err(ApiError::invalid_request(
            "enabled_events",
            format!(
                "Invalid event type '{}': Tessera emits {}.",
                printable(bad),
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    Ok(Some(types))
}

/// `POST /v1/webhook_endpoints`
pub(crate) fn create(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let url = url(p.required("url")?, ctx)?;
    let types = enabled_events(p)?.ok_or_else(|| ApiError::missing("enabled_events"))?;
    let description = p.string("description")?;
    let metadata = new_metadata(p)?;
    p.string("api_version")?;
    p.finish()?;
    let id = random::object_id("we_");
    let secret = webhook::generate_secret();
    let doc = json!({
        "id": id,
        "object": "webhook_endpoint",
        "api_version": API_VERSION,
        "application": null,
        "created": ctx.now,
        "description": description,
        "enabled_events": types,
        "livemode": ctx.scope().livemode,
        "metadata": metadata,
        "status": "enabled",
        "url": url,
    });
    let private = json!({ "secrets": [{ "sealed": webhook::seal_secret(&ctx.app.webhook_secret_key, &id, &secret), "expires_at": null }] });
    ctx.write(|tx| {
        let query = tessera_store::ListQuery {
            kind: "webhook_endpoint",
            limit: 100,
            ..Default::default()
        };
        let existing = tx
            .list_objects(ctx.scope(), &query)?
            .map_or(0, |p| p.data.len());
        if existing >= MAX_ENDPOINTS {
            return Err(ApiError::bad_request(format!(
                "An account can have at most {MAX_ENDPOINTS} webhook endpoints per mode."
            ))
            .into());
        }
        tx.insert_object(
            ctx.scope(),
            &NewObject {
                id: &id,
                kind: "webhook_endpoint",
                created: ctx.now,
                ref1: None,
                ref2: None,
                doc: &doc,
                private: Some(&private),
            },
        )?;
        Ok(())
    })?;
    let mut shown = doc;
    shown["secret"] = json!(secret.as_str());
    Ok(shown)
}

/// `GET /v1/webhook_endpoints/:id`
pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    Ok(ctx
        .app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::WebhookEndpoint, id, "id"))?
        .doc)
}

/// `POST /v1/webhook_endpoints/:id`
pub(crate) fn update(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let new_url = p.string("url")?.map(|u| url(u, ctx)).transpose()?;
    let types = enabled_events(p)?;
    let description = p.raw_str("description")?;
    let disabled = p.bool("disabled")?;
    let metadata = p.metadata()?;
    p.finish()?;
    ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::WebhookEndpoint, id, "id")?;
        let mut doc = found.doc;
        if let Some(u) = &new_url {
            doc["url"] = json!(u);
        }
        if let Some(t) = &types {
            doc["enabled_events"] = json!(t);
        }
        if let Some(d) = &description {
            doc["description"] = if d.is_empty() { Value::Null } else { json!(d) };
        }
        let mut private = found.private;
        if let Some(off) = disabled {
            doc["status"] = json!(if off { "disabled" } else { "enabled" });
            if !off {
                // Enabled again: the failure clock and its notice start over.
                if let Some(fields) = doc.as_object_mut() {
                    fields.remove("disabled_notice");
                }
                private["failing_since_ms"] = Value::Null;
            }
        }
        update_metadata(&mut doc, metadata)?;
        tx.update_object(ctx.scope(), id, (None, None), &doc, Some(&private))?;
        Ok(doc)
    })
}

/// `DELETE /v1/webhook_endpoints/:id`
pub(crate) fn delete(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    super::delete_plain(ctx, ObjectKind::WebhookEndpoint, id)
}

/// `GET /v1/webhook_endpoints`
pub(crate) fn list(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let page = Page::take(p)?;
    p.finish()?;
    page.fetch(
        ctx,
        ObjectKind::WebhookEndpoint,
        "/v1/webhook_endpoints",
        (None, None),
    )
}

/// `POST /v1/webhook_endpoints/:id/roll_secret`: a new secret; the previous one stays
/// valid for `expire_previous_after` seconds (deliveries meanwhile carry both).
pub(crate) fn roll_secret(ctx: &Ctx<'_>, id: &str, p: &mut Params) -> Outcome<Value> {
    let overlap = p.int("expire_previous_after")?.unwrap_or(0);
    if !(0..=MAX_OVERLAP_SECS).contains(&overlap) {
        return Err(ApiError::invalid_request(
            "expire_previous_after",
            format!("expire_previous_after must be between 0 and {MAX_OVERLAP_SECS} seconds."),
        )
        .into());
    }
    p.finish()?;
    let secret = webhook::generate_secret();
    let doc = ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::WebhookEndpoint, id, "id")?;
        let mut kept: Vec<Value> = found.private["secrets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s["expires_at"].as_i64().is_none_or(|t| t > ctx.now))
            .map(|mut s| {
                if s["expires_at"].is_null() {
                    s["expires_at"] = json!(ctx.now + overlap);
                }
                s
            })
            .filter(|s| overlap > 0 || s["expires_at"].as_i64().is_some_and(|t| t > ctx.now))
            .collect();
        kept.insert(0, json!({ "sealed": webhook::seal_secret(&ctx.app.webhook_secret_key, id, &secret), "expires_at": null }));
        tx.update_object(ctx.scope(), id, (None, None), &found.doc, Some(&json!({ "secrets": kept })))?;
        Ok::<_, crate::pipeline::Failure>(found.doc)
    })?;
    let mut shown = doc;
    shown["secret"] = json!(secret.as_str());
    Ok(shown)
}
