//! List parameters (`limit`, cursors, `created`) and the list envelope.

use serde_json::{Value, json};
use tessera_core::ApiError;
use tessera_core::ids::ObjectKind;
use tessera_store::{CreatedFilter, ListQuery};

use crate::form::Params;
use crate::pipeline::{Ctx, Outcome};

/// Pagination parameters taken from a request.
pub(crate) struct Page {
    limit: u32,
    starting_after: Option<String>,
    ending_before: Option<String>,
    created: CreatedFilter,
}

impl Page {
    /// Takes `limit`, `starting_after`, `ending_before` and `created` from `params`.
    pub(crate) fn take(params: &mut Params) -> Result<Page, ApiError> {
        let limit = match params.int("limit")? {
            None => 10,
            Some(l) if (1..=100).contains(&l) => l as u32,
            Some(_) => {
                return Err(ApiError::invalid_request(
                    "limit",
                    "Invalid limit: must be between 1 and 100.",
                ));
            }
        };
        let starting_after = params.string("starting_after")?;
        let ending_before = params.string("ending_before")?;
        if starting_after.is_some() && ending_before.is_some() {
            return Err(ApiError::invalid_request(
                "ending_before",
                "You may only specify one of these parameters: starting_after, ending_before.",
            ));
        }
        Ok(Page {
            limit,
            starting_after,
            ending_before,
            created: created_filter(params, "created")?,
        })
    }

    /// Runs the page query for `kind` and wraps the result as a Stripe list.
    pub(crate) fn fetch(
        &self,
        ctx: &Ctx<'_>,
        kind: ObjectKind,
        url: &str,
        refs: (Option<&str>, Option<&str>),
    ) -> Outcome<Value> {
        let query = ListQuery {
            kind: kind.object_name(),
            ref1: refs.0,
            ref2: refs.1,
            created: self.created.clone(),
            limit: self.limit,
            starting_after: self.starting_after.as_deref(),
            ending_before: self.ending_before.as_deref(),
        };
        let page = ctx
            .app
            .store
            .read(|tx| tx.list_objects(ctx.scope(), &query))?;
        let Some(page) = page else {
            let (param, id) = match &self.starting_after {
                Some(id) => ("starting_after", id),
                None => (
                    "ending_before",
                    self.ending_before.as_ref().expect("a cursor was given"),
                ),
            };
            return Err(ApiError::no_such(kind.object_name(), id, param).into());
        };
        Ok(json!({ "object": "list", "url": url, "has_more": page.has_more, "data": page.data }))
    }
}

/// `created=…` or `created[gt|gte|lt|lte]=…`.
fn created_filter(params: &mut Params, name: &str) -> Result<CreatedFilter, ApiError> {
    if params.is_map(name) {
        let mut m = params.map(name)?.expect("checked above");
        let f = CreatedFilter {
            gt: m.int("gt")?,
            gte: m.int("gte")?,
            lt: m.int("lt")?,
            lte: m.int("lte")?,
        };
        m.finish()?;
        return Ok(f);
    }
    Ok(match params.int(name)? {
        Some(t) => CreatedFilter {
            gte: Some(t),
            lte: Some(t),
            ..Default::default()
        },
        None => CreatedFilter::default(),
    })
}
