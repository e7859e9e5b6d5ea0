//! Payments objects: wire documents with indexed references, listed newest first.

use rusqlite::{OptionalExtension, params, types::Value as SqlValue};
use serde_json::Value;

use crate::{Scope, StoreError, Tx};

/// An object to insert. Its document is anything that serialises to the wire JSON
/// (usually a `Value`; an event borrows the object it carries instead of copying it).
#[derive(Debug)]
pub struct NewObject<'a, D: serde::Serialize + ?Sized = Value> {
    /// Its id (`pi_…`).
    pub id: &'a str,
    /// Its kind, the wire `object` name.
    pub kind: &'a str,
    /// Unix seconds.
    pub created: i64,
    /// First indexed reference (see the API's resources for what each kind keeps here).
    pub ref1: Option<&'a str>,
    /// Second indexed reference.
    pub ref2: Option<&'a str>,
    /// The wire document.
    pub doc: &'a D,
    /// State never shown on the wire.
    pub private: Option<&'a Value>,
}

/// A stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    /// The wire document.
    pub doc: Value,
    /// The private document (`Value::Null` when none).
    pub private: Value,
}

/// A `created` filter: `created[gt]=…` and friends, or an exact `created=…`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreatedFilter {
    /// Strictly after.
    pub gt: Option<i64>,
    /// At or after.
    pub gte: Option<i64>,
    /// Strictly before.
    pub lt: Option<i64>,
    /// At or before.
    pub lte: Option<i64>,
}

/// A page request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery<'a> {
    /// Kind to list.
    pub kind: &'a str,
    /// Only objects with this first reference.
    pub ref1: Option<&'a str>,
    /// Only objects with this second reference.
    pub ref2: Option<&'a str>,
    /// Creation-time bounds.
    pub created: CreatedFilter,
    /// Page size, 1–100.
    pub limit: u32,
    /// Objects older than this one (its id).
    pub starting_after: Option<&'a str>,
    /// Objects newer than this one (its id).
    pub ending_before: Option<&'a str>,
}

/// A page of objects, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// The documents.
    pub data: Vec<Value>,
    /// Whether more objects lie beyond the page in the direction of travel.
    pub has_more: bool,
}

impl Tx<'_> {
    /// Inserts a new object.
    pub fn insert_object<D: serde::Serialize + ?Sized>(
        &self,
        scope: &Scope,
        obj: &NewObject<'_, D>,
    ) -> Result<(), StoreError> {
        let doc = serde_json::to_string(obj.doc)?;
        let private = obj.private.map(serde_json::to_string).transpose()?;
        self.conn.prepare_cached("INSERT INTO objects (id, account, livemode, kind, created, ref1, ref2, doc, private)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?.execute(
            params![
                obj.id,
                scope.account,
                scope.livemode,
                obj.kind,
                obj.created,
                obj.ref1,
                obj.ref2,
                doc,
                private,
            ],
        )?;
        Ok(())
    }

    /// Replaces an object's wire document and references, and its private document
    /// when `private` is given (`None` keeps the private document as it is).
    pub fn update_object(
        &self,
        scope: &Scope,
        id: &str,
        refs: (Option<&str>, Option<&str>),
        doc: &Value,
        private: Option<&Value>,
    ) -> Result<(), StoreError> {
        let (doc, private) = (
            serde_json::to_string(doc)?,
            private.map(serde_json::to_string).transpose()?,
        );
        let n = self.conn.prepare_cached("UPDATE objects SET ref1 = ?4, ref2 = ?5, doc = ?6, private = COALESCE(?7, private) WHERE id = ?1 AND account = ?2 AND livemode = ?3")?.execute(
            params![id, scope.account, scope.livemode, refs.0, refs.1, doc, private],
        )?;
        if n != 1 {
            return Err(StoreError::new(format!("update of missing object {id}")));
        }
        Ok(())
    }

    /// Marks an object deleted: it is no longer listed and its document becomes `doc`.
    pub fn delete_object(&self, scope: &Scope, id: &str, doc: &Value) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE objects SET deleted = 1, ref1 = NULL, ref2 = NULL, doc = ?4, private = NULL
             WHERE id = ?1 AND account = ?2 AND livemode = ?3",
            )?
            .execute(params![
                id,
                scope.account,
                scope.livemode,
                serde_json::to_string(doc)?
            ])?;
        Ok(())
    }

    /// Fetches an object of `kind` by id within the scope (deleted ones included).
    pub fn get_object(
        &self,
        scope: &Scope,
        kind: &str,
        id: &str,
    ) -> Result<Option<StoredObject>, StoreError> {
        let row = self
            .conn
            .prepare_cached("SELECT doc, private FROM objects WHERE id = ?1 AND account = ?2 AND livemode = ?3 AND kind = ?4")?
            .query_row(
                params![id, scope.account, scope.livemode, kind],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)),
            )
            .optional()?;
        row.map(|(doc, private)| {
            Ok(StoredObject {
                doc: serde_json::from_str(&doc)?,
                private: match private {
                    Some(p) => serde_json::from_str(&p)?,
                    None => Value::Null,
                },
            })
        })
        .transpose()
    }

    /// The scope an object belongs to, found by id alone (for links a shopper follows,
    /// such as a 3-D Secure challenge, which carry no API key).
    pub fn scope_of(&self, kind: &str, id: &str) -> Result<Option<Scope>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT account, livemode FROM objects WHERE id = ?1 AND kind = ?2")?
            .query_row(params![id, kind], |r| {
                Ok(Scope {
                    account: r.get(0)?,
                    livemode: r.get(1)?,
                })
            })
            .optional()?)
    }

    fn seq_of(&self, scope: &Scope, kind: &str, id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT seq FROM objects WHERE id = ?1 AND account = ?2 AND livemode = ?3 AND kind = ?4")?
            .query_row(
                params![id, scope.account, scope.livemode, kind],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Lists objects newest first. A cursor id that names no object of the kind gives
    /// `Ok(None)`, so the API can name the bad parameter.
    pub fn list_objects(
        &self,
        scope: &Scope,
        q: &ListQuery<'_>,
    ) -> Result<Option<ListPage>, StoreError> {
        let mut sql = String::from(
            "SELECT doc FROM objects WHERE account = ? AND livemode = ? AND kind = ? AND deleted = 0",
        );
        let mut args: Vec<SqlValue> = vec![
            SqlValue::Text(scope.account.clone()),
            SqlValue::Integer(i64::from(scope.livemode)),
            SqlValue::Text(q.kind.to_owned()),
        ];
        let mut push = |clause: &str, v: SqlValue| {
            sql.push_str(clause);
            args.push(v);
        };
        if let Some(r) = q.ref1 {
            push(" AND ref1 = ?", SqlValue::Text(r.to_owned()));
        }
        if let Some(r) = q.ref2 {
            push(" AND ref2 = ?", SqlValue::Text(r.to_owned()));
        }
        let c = &q.created;
        for (clause, bound) in [
            (" AND created > ?", c.gt),
            (" AND created >= ?", c.gte),
            (" AND created < ?", c.lt),
            (" AND created <= ?", c.lte),
        ] {
            if let Some(b) = bound {
                push(clause, SqlValue::Integer(b));
            }
        }
        let ascending = q.ending_before.is_some();
        if let Some(cursor) = q.starting_after {
            let Some(seq) = self.seq_of(scope, q.kind, cursor)? else {
                return Ok(None);
            };
            push(" AND seq < ?", SqlValue::Integer(seq));
        } else if let Some(cursor) = q.ending_before {
            let Some(seq) = self.seq_of(scope, q.kind, cursor)? else {
                return Ok(None);
            };
            push(" AND seq > ?", SqlValue::Integer(seq));
        }
        push(
            if ascending {
                " ORDER BY seq ASC LIMIT ?"
            } else {
                " ORDER BY seq DESC LIMIT ?"
            },
            SqlValue::Integer(i64::from(q.limit) + 1),
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let docs = stmt
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = docs.len() > q.limit as usize;
        let mut data = docs
            .into_iter()
            .take(q.limit as usize)
            .map(|d| serde_json::from_str(&d))
            .collect::<Result<Vec<Value>, _>>()?;
        if ascending {
            data.reverse();
        }
        Ok(Some(ListPage { data, has_more }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use serde_json::json;

    fn scope(account: &str) -> Scope {
        Scope {
            account: account.into(),
            livemode: false,
        }
    }

    fn ids(page: &ListPage) -> Vec<String> {
        page.data
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn lists_by_reference_use_the_partial_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        for (column, index) in [
            ("ref1", "objects_by_ref1_set"),
            ("ref2", "objects_by_ref2_set"),
        ] {
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT doc FROM objects WHERE account = ? AND livemode = ? AND kind = ? AND deleted = 0 AND {column} = ? ORDER BY seq DESC LIMIT ?"
            );
            let plan: Vec<String> = store
                .read(|tx| {
                    let mut stmt = tx.conn.prepare(&sql)?;
                    let rows = stmt
                        .query_map(
                            rusqlite::params!["acct_a", false, "charge", "pi_1", 11],
                            |r| r.get::<_, String>(3),
                        )?
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok::<_, StoreError>(rows)
                })
                .unwrap();
            assert!(
                plan.iter().any(|step| step.contains(index)),
                "{column} lookups should use {index}: {plan:?}"
            );
        }
    }

    #[test]
    fn a_store_from_the_first_schema_gets_the_partial_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(Store::open(&path).unwrap());
        {
            let old = rusqlite::Connection::open(&path).unwrap();
            old.execute_batch(
                "DROP INDEX objects_by_ref1_set; DROP INDEX objects_by_ref2_set;
                 CREATE INDEX objects_by_ref1 ON objects(account, livemode, kind, ref1, seq);
                 CREATE INDEX objects_by_ref2 ON objects(account, livemode, kind, ref2, seq);",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let names: Vec<String> = store
            .read(|tx| {
                let mut stmt = tx.conn.prepare(
                    "SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'objects_by_ref%' ORDER BY name",
                )?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok::<_, StoreError>(rows)
            })
            .unwrap();
        assert_eq!(names, ["objects_by_ref1_set", "objects_by_ref2_set"]);
    }

    #[test]
    fn pages_walk_newest_first_in_both_directions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let s = scope("acct_a");
        store
            .write(|tx| {
                for i in 0..5 {
                    let id = format!("cus_{i}");
                    tx.insert_object(
                        &s,
                        &NewObject {
                            id: &id,
                            kind: "customer",
                            created: 100 + i,
                            ref1: None,
                            ref2: None,
                            doc: &json!({"id": id}),
                            private: None,
                        },
                    )?;
                }
                // Another account's object never shows.
                tx.insert_object(
                    &scope("acct_b"),
                    &NewObject {
                        id: "cus_x",
                        kind: "customer",
                        created: 1,
                        ref1: None,
                        ref2: None,
                        doc: &json!({"id": "cus_x"}),
                        private: None,
                    },
                )?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        store
            .read(|tx| {
                let q = |after, before, limit| ListQuery {
                    kind: "customer",
                    limit,
                    starting_after: after,
                    ending_before: before,
                    ..Default::default()
                };
                let first = tx.list_objects(&s, &q(None, None, 2))?.unwrap();
                assert_eq!(ids(&first), ["cus_4", "cus_3"]);
                assert!(first.has_more);
                let next = tx.list_objects(&s, &q(Some("cus_3"), None, 10))?.unwrap();
                assert_eq!(ids(&next), ["cus_2", "cus_1", "cus_0"]);
                assert!(!next.has_more);
                let back = tx.list_objects(&s, &q(None, Some("cus_1"), 2))?.unwrap();
                assert_eq!(ids(&back), ["cus_3", "cus_2"]);
                assert!(back.has_more);
                assert!(
                    tx.list_objects(&s, &q(Some("cus_x"), None, 2))?.is_none(),
                    "other account's cursor"
                );
                let created = ListQuery {
                    kind: "customer",
                    limit: 10,
                    created: CreatedFilter {
                        gte: Some(102),
                        lt: Some(104),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                assert_eq!(
                    ids(&tx.list_objects(&s, &created)?.unwrap()),
                    ["cus_3", "cus_2"]
                );
                assert!(
                    tx.get_object(&scope("acct_b"), "customer", "cus_1")?
                        .is_none()
                );
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let s = scope("acct_a");
        let r: Result<(), StoreError> = store.write(|tx| {
            tx.insert_object(
                &s,
                &NewObject {
                    id: "pi_1",
                    kind: "payment_intent",
                    created: 1,
                    ref1: None,
                    ref2: None,
                    doc: &json!({}),
                    private: None,
                },
            )?;
            Err(StoreError::new("boom".into()))
        });
        assert!(r.is_err());
        let found = store
            .read(|tx| tx.get_object(&s, "payment_intent", "pi_1"))
            .unwrap();
        assert!(found.is_none());
    }
}
