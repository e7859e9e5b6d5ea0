//! Reviews: payments Tessera let through but wants a person to look at. Opened here
//! when an attempt's risk is elevated; listing and closing them arrives with the
//! fraud-prevention work.

use serde_json::{Value, json};
use tessera_core::ids::ObjectKind;
use tessera_crypto::random;
use tessera_store::{NewObject, Tx};

use crate::events;
use crate::pipeline::{Ctx, Outcome};

/// Opens a review of `charge` (a succeeded attempt on `payment_intent`); returns its id.
pub(crate) fn open(tx: &Tx<'_>, ctx: &Ctx<'_>, charge: &Value, reason: &str) -> Outcome<String> {
    let id = random::object_id(ObjectKind::Review.prefix());
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
            id: &id,
            kind: "review",
            created: ctx.now,
            ref1: charge["id"].as_str(),
            ref2: charge["payment_intent"].as_str(),
            doc: &doc,
            private: None,
        },
    )?;
    events::record(tx, ctx, "review.opened", &doc, None)?;
    Ok(id)
}
