//! Events: `/v1/events`.

use serde_json::Value;
use tessera_core::ids::ObjectKind;

use super::load;
use crate::form::Params;
use crate::list::Page;
use crate::pipeline::{Ctx, Outcome};

/// `GET /v1/events/:id`
pub(crate) fn retrieve(ctx: &Ctx<'_>, id: &str) -> Outcome<Value> {
    Ok(ctx
        .app
        .store
        .read(|tx| load(tx, ctx, ObjectKind::Event, id, "id"))?
        .doc)
}

/// `GET /v1/events?type=…`
pub(crate) fn list(ctx: &Ctx<'_>, p: &mut Params) -> Outcome<Value> {
    let page = Page::take(p)?;
    let kind = p.string("type")?;
    p.take("delivery_success");
    p.finish()?;
    page.fetch(
        ctx,
        ObjectKind::Event,
        "/v1/events",
        (kind.as_deref(), None),
    )
}
