//! Webhook deliveries: one per event and subscribed endpoint, with every attempt
//! recorded. Created with the event (see `events::record_as`), carried out by the
//! webhook worker (`tessera-webhooks`). Listing them and retrying one on demand are
//! Tessera extensions to the Stripe API.

use serde_json::Value;
use tessera_core::ids::ObjectKind;
use tessera_webhooks::records;

use super::load;
use crate::form::Params;
use crate::list::Page;
use crate::pipeline::{Ctx, Outcome};

/// `GET /v1/webhook_deliveries?event=…&webhook_endpoint=…`
pub(crate) fn list(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let page = Page::take(p)?;
    let event = p.string("event")?;
    let endpoint = p.string("webhook_endpoint")?;
    p.finish()?;
    page.fetch(
        ctx,
        ObjectKind::WebhookDelivery,
        "/v1/webhook_deliveries",
        (event.as_deref(), endpoint.as_deref()),
    )
}

/// `GET /v1/webhook_deliveries/:id`
pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    Ok(ctx
        .app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::WebhookDelivery, id, "id"))?
        .doc)
}

/// `POST /v1/webhook_deliveries/:id/retry`: attempt it again now, whatever its state.
pub(crate) fn retry(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::WebhookDelivery, id, "id")?;
        Ok(records::retry_now(tx, ctx.scope(), found.doc, ctx.now)?)
    })
}
