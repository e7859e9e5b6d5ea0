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
        let mut page = Page::take_cursors(params)?;
        page.created = created_filter(params, "created")?;
        Ok(page)
    }

    /// Takes `limit`, `starting_after` and `ending_before`: for lists with no `created`
    /// filter.
    pub(crate) fn take_cursors(params: &mut Params) -> Result<Page, ApiError> {
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
            created: CreatedFilter::default(),
        })
    }

    /// A page of `items`, a short list kept inside its parent object (a Checkout
    /// Session's line items), in the list's own order. Cursors are item ids.
    pub(crate) fn slice(
        &self,
        items: &[Value],
        object: &str,
        url: &str,
    ) -> Result<Value, ApiError> {
        let limit = self.limit as usize;
        let position = |id: &str, param: &str| {
            items
                .iter()
                .position(|item| item["id"] == id)
                .ok_or_else(|| ApiError::no_such(object, id, param))
        };
        let (data, has_more) = match (&self.starting_after, &self.ending_before) {
            (Some(after), _) => {
                let rest = &items[position(after, "starting_after")? + 1..];
                (&rest[..rest.len().min(limit)], rest.len() > limit)
            }
            (None, Some(before)) => {
                let rest = &items[..position(before, "ending_before")?];
                (
                    &rest[rest.len().saturating_sub(limit)..],
                    rest.len() > limit,
                )
            }
            (None, None) => (&items[..items.len().min(limit)], items.len() > limit),
        };
        Ok(json!({ "object": "list", "url": url, "has_more": has_more, "data": data }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn page(query: &str) -> Page {
        let mut p = crate::form::decode(query, b"").unwrap();
        let page = Page::take_cursors(&mut p).unwrap();
        p.finish().unwrap();
        page
    }

    fn ids(list: &Value) -> Vec<&str> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn slices_walk_a_kept_list_in_its_order() {
        let items: Vec<Value> = (0..5).map(|i| json!({ "id": format!("li_{i}") })).collect();
        let first = page("limit=2").slice(&items, "item", "/u").unwrap();
        assert_eq!(ids(&first), ["li_0", "li_1"]);
        assert_eq!(first["has_more"], true);
        let next = page("limit=2&starting_after=li_3")
            .slice(&items, "item", "/u")
            .unwrap();
        assert_eq!(ids(&next), ["li_4"]);
        assert_eq!(next["has_more"], false);
        let back = page("limit=2&ending_before=li_3")
            .slice(&items, "item", "/u")
            .unwrap();
        assert_eq!(ids(&back), ["li_1", "li_2"]);
        assert_eq!(back["has_more"], true);
        let unknown = page("starting_after=li_9").slice(&items, "item", "/u");
        assert_eq!(
            unknown.unwrap_err().param.as_deref(),
            Some("starting_after")
        );
        // No creation filter on kept lists: `created` is an unknown parameter there.
        let mut p = crate::form::decode("created=1", b"").unwrap();
        Page::take_cursors(&mut p).unwrap();
        assert_eq!(p.finish().unwrap_err().param.as_deref(), Some("created"));
    }
}
