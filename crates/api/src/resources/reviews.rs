//! Reviews: payments Tessera let through but wants a person to look at. Opened when
//! an attempt's risk is elevated; `/v1/reviews` lists the open ones, retrieves, and
//! approves (closes) them.

use serde_json::{Value, json};
use tessera_core::ids::ObjectKind;
use tessera_store::{NewObject, Tx};

use crate::events;
use crate::form::Params;
use crate::list::Page;
use crate::pipeline::{Ctx, Outcome};
use crate::resources::load;

/// The second reference of an open review, which the list filters on.
const OPEN: &str = "open";

/// Opens review `id` (a new review id) of `charge`, a succeeded attempt on
/// `payment_intent` whose document names the review already.
pub(crate) fn open(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    id: &str,
    charge: &Value,
    reason: &str,
) -> Outcome<()> {
    let doc = json!({
        "id": id,
        "object": "review",
        "billing_zip": charge["billing_details"]["address"]["postal_code"],
        "charge": charge["id"],
        "closed_reason": null,
        "created": ctx.now,
        "ip_address": null,
        "ip_address_location": null,
        "livemode": ctx.scope().livemode,
        "open": true,
        "opened_reason": reason,
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "session": null,
    });
    tx.insert_object(
        ctx.scope(),
        &NewObject {
            id,
            kind: "review",
            created: ctx.now,
            ref1: charge["id"].as_str(),
            ref2: Some(OPEN),
            doc: &doc,
            private: None,
        },
    )?;
    events::record(tx, ctx, "review.opened", &doc, None)?;
    Ok(())
}

/// `GET /v1/reviews`: open reviews, newest first (as on Stripe).
pub(crate) fn list(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let page = Page::take(p)?;
    p.finish()?;
    page.fetch(ctx, ObjectKind::Review, "/v1/reviews", (None, Some(OPEN)))
}

/// `GET /v1/reviews/:id`
pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    Ok(ctx
        .app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::Review, id, "review"))?
        .doc)
}

/// `POST /v1/reviews/:id/approve`: closes an open review as approved.
pub(crate) fn approve(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::Review, id, "review")?;
        let mut doc = found.doc;
        if doc["open"] != true {
            return Err(tessera_core::ApiError::bad_request(format!(
                "This review is already closed ({}).",
                doc["closed_reason"].as_str().unwrap_or("closed")
            ))
            .with_code("review_already_closed")
            .into());
        }
        doc["open"] = json!(false);
        doc["closed_reason"] = json!("approved");
        doc["reason"] = json!("approved");
        tx.update_object(
            ctx.scope(),
            id,
            (doc["charge"].as_str(), Some("closed")),
            &doc,
            None,
        )?;
        events::record(
            tx,
            ctx,
            "review.closed",
            &doc,
            Some(json!({ "open": true, "reason": "rule", "closed_reason": null })),
        )?;
        Ok(doc)
    })
}
