//! Payments objects: wire documents with indexed references, listed newest first.

use rusqlite::{OptionalExtension, params, types::Value as SqlValue};
use serde_json::Value;

use crate::{Scope, StoreError, Tx, documents, documents::Document};

/// An object to insert. Its document is anything that serialises to the wire JSON
/// (usually a `Value`; an event borrows the object it carries instead of copying it),
/// or that JSON [`Encoded`](crate::Encoded) before the write.
#[derive(Debug)]
pub struct NewObject<'a, D: Document + ?Sized = Value> {
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

/// [`Tx::count_with_ref1`]: account, livemode, kind, first reference.
const COUNT_WITH_REF1: &str = "SELECT count(*) FROM objects
     WHERE account = ?1 AND livemode = ?2 AND kind = ?3 AND ref1 = ?4";

/// [`Tx::second_refs_among`], for one candidate: account, livemode, kind, second
/// reference, first reference.
const HAS_SECOND_REF: &str = "SELECT 1 FROM objects INDEXED BY objects_by_ref2_created
     WHERE account = ?1 AND livemode = ?2 AND kind = ?3 AND ref2 = ?4 AND ref1 = ?5
     LIMIT 1";

impl Tx<'_> {
    /// Inserts a new object.
    pub fn insert_object<D: Document + ?Sized>(
        &self,
        scope: &Scope,
        obj: &NewObject<'_, D>,
    ) -> Result<(), StoreError> {
        let doc = obj.doc.stored()?;
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
    pub fn update_object<D: Document + ?Sized>(
        &self,
        scope: &Scope,
        id: &str,
        refs: (Option<&str>, Option<&str>),
        doc: &D,
        private: Option<&Value>,
    ) -> Result<(), StoreError> {
        let (doc, private) = (
            doc.stored()?,
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
                documents::encode(doc)?
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
        let row = self.object_row(
            "SELECT doc, private FROM objects WHERE id = ?1 AND account = ?2 AND livemode = ?3 AND kind = ?4",
            scope,
            kind,
            id,
            |r| Ok((r.get::<_, SqlValue>(0)?, r.get::<_, Option<String>>(1)?)),
        )?;
        row.map(|(doc, private)| {
            Ok(StoredObject {
                doc: documents::decode(doc)?,
                private: parse_private(private)?,
            })
        })
        .transpose()
    }

    /// The private document of an object of `kind` (`null` if it has none), read
    /// without its wire document; `None` if there is no such object. For a check under
    /// the write lock that need not parse the larger wire document.
    pub fn get_private(
        &self,
        scope: &Scope,
        kind: &str,
        id: &str,
    ) -> Result<Option<Value>, StoreError> {
        let private = self.object_row(
            "SELECT private FROM objects WHERE id = ?1 AND account = ?2 AND livemode = ?3 AND kind = ?4",
            scope,
            kind,
            id,
            |r| r.get::<_, Option<String>>(0),
        )?;
        private.map(parse_private).transpose()
    }

    /// Runs `sql`, a fixed statement that selects from the object of kind `?4` with id
    /// `?1` in the scope (`?2`, `?3`), and maps its row with `row`; `None` if there is
    /// no such object. The object readers share it, so they bind the same way.
    fn object_row<T>(
        &self,
        sql: &str,
        scope: &Scope,
        kind: &str,
        id: &str,
        row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row(params![id, scope.account, scope.livemode, kind], row)
            .optional()?)
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

    /// Where an object stands in its kind's list: its `created` and insertion order.
    fn list_position(
        &self,
        scope: &Scope,
        kind: &str,
        id: &str,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        self.object_row(
            "SELECT created, seq FROM objects WHERE id = ?1 AND account = ?2 AND livemode = ?3 AND kind = ?4",
            scope,
            kind,
            id,
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Lists objects newest first: by `created`, then by insertion order among objects
    /// created in the same second. A cursor id that names no object of the kind gives
    /// `Ok(None)`, so the API can name the bad parameter.
    pub fn list_objects(
        &self,
        scope: &Scope,
        q: &ListQuery<'_>,
    ) -> Result<Option<ListPage>, StoreError> {
        let Some((sql, args)) = self.list_sql(scope, q)? else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let docs = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                r.get::<_, SqlValue>(0)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = docs.len() > q.limit as usize;
        let mut data = docs
            .into_iter()
            .take(q.limit as usize)
            .map(documents::decode)
            .collect::<Result<Vec<Value>, _>>()?;
        if q.ending_before.is_some() {
            data.reverse();
        }
        Ok(Some(ListPage { data, has_more }))
    }

    /// How many live objects of `kind` have `ref1` as their first reference. Counted in
    /// the index by first reference alone: a deleted object keeps no references
    /// ([`Tx::delete_object`]), so no document is read.
    pub fn count_with_ref1(
        &self,
        scope: &Scope,
        kind: &str,
        ref1: &str,
    ) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .prepare_cached(COUNT_WITH_REF1)?
            .query_row(params![scope.account, scope.livemode, kind, ref1], |r| {
                r.get(0)
            })?)
    }

    /// Of `candidates`, those that a live object of `kind` with first reference `ref1`
    /// has as its second reference: one lookup in the index by second reference for
    /// each, whatever the number of such objects (a value list's items, say).
    pub fn second_refs_among(
        &self,
        scope: &Scope,
        kind: &str,
        ref1: &str,
        candidates: &[&str],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut found = std::collections::HashSet::new();
        let mut statement = self.conn.prepare_cached(HAS_SECOND_REF)?;
        for candidate in candidates {
            if !found.contains(*candidate)
                && statement.exists(params![
                    scope.account,
                    scope.livemode,
                    kind,
                    candidate,
                    ref1
                ])?
            {
                found.insert((*candidate).to_owned());
            }
        }
        Ok(found)
    }

    /// The query for a page and its arguments (`None` for a cursor that names nothing).
    /// A page walking back (`ending_before`) is read oldest first and reversed.
    fn list_sql(
        &self,
        scope: &Scope,
        q: &ListQuery<'_>,
    ) -> Result<Option<(String, Vec<SqlValue>)>, StoreError> {
        let mut sql = String::from(
            "SELECT doc FROM objects WHERE account = ? AND livemode = ? AND kind = ? AND deleted = 0",
        );
        let mut args: Vec<SqlValue> = vec![
            SqlValue::Text(scope.account.clone()),
            SqlValue::Integer(i64::from(scope.livemode)),
            SqlValue::Text(q.kind.to_owned()),
        ];
        let c = &q.created;
        for (clause, value) in [
            (
                " AND ref1 = ?",
                q.ref1.map(|r| SqlValue::Text(r.to_owned())),
            ),
            (
                " AND ref2 = ?",
                q.ref2.map(|r| SqlValue::Text(r.to_owned())),
            ),
            (" AND created > ?", c.gt.map(SqlValue::Integer)),
            (" AND created >= ?", c.gte.map(SqlValue::Integer)),
            (" AND created < ?", c.lt.map(SqlValue::Integer)),
            (" AND created <= ?", c.lte.map(SqlValue::Integer)),
        ] {
            if let Some(v) = value {
                sql.push_str(clause);
                args.push(v);
            }
        }
        let cursor = match (q.starting_after, q.ending_before) {
            (Some(id), _) => Some((id, " AND (created, seq) < (?, ?)")),
            (None, Some(id)) => Some((id, " AND (created, seq) > (?, ?)")),
            (None, None) => None,
        };
        if let Some((id, clause)) = cursor {
            let Some((created, seq)) = self.list_position(scope, q.kind, id)? else {
                return Ok(None);
            };
            sql.push_str(clause);
            args.extend([SqlValue::Integer(created), SqlValue::Integer(seq)]);
        }
        sql.push_str(if q.ending_before.is_some() {
            " ORDER BY created ASC, seq ASC LIMIT ?"
        } else {
            " ORDER BY created DESC, seq DESC LIMIT ?"
        });
        args.push(SqlValue::Integer(i64::from(q.limit) + 1));
        Ok(Some((sql, args)))
    }
}

/// A stored private document: `null` when the object has none.
fn parse_private(private: Option<String>) -> Result<Value, StoreError> {
    Ok(match private {
        Some(p) => serde_json::from_str(&p)?,
        None => Value::Null,
    })
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
    fn objects_are_counted_and_found_by_their_references_through_the_indexes_alone() {
        let (_dir, store) = crate::scratch_store();
        let (a, b) = (scope("acct_a"), scope("acct_b"));
        let item = |tx: &Tx<'_>, s: &Scope, id: &str, list: &str, value: &str| {
            tx.insert_object(
                s,
                &NewObject {
                    id,
                    kind: "radar.value_list_item",
                    created: 1,
                    ref1: Some(list),
                    ref2: Some(value),
                    doc: &json!({ "id": id }),
                    private: None,
                },
            )
        };
        store
            .write(|tx| {
                item(tx, &a, "rsli_1", "rsl_1", "x")?;
                item(tx, &a, "rsli_2", "rsl_1", "y")?;
                item(tx, &a, "rsli_3", "rsl_1", "gone")?;
                item(tx, &a, "rsli_4", "rsl_2", "z")?;
                item(tx, &b, "rsli_5", "rsl_1", "z")?;
                tx.delete_object(&a, "rsli_3", &json!({ "id": "rsli_3", "deleted": true }))
            })
            .unwrap();
        let (count, found) = store
            .read(|tx| {
                Ok::<_, StoreError>((
                    tx.count_with_ref1(&a, "radar.value_list_item", "rsl_1")?,
                    tx.second_refs_among(
                        &a,
                        "radar.value_list_item",
                        "rsl_1",
                        &["x", "z", "gone", "x", "w"],
                    )?,
                ))
            })
            .unwrap();
        assert_eq!(count, 2);
        assert_eq!(found, ["x".to_owned()].into());
        // Neither reads the table: the count walks one index, each lookup seeks another.
        let plan = |sql: &str, args: &[&str]| {
            let mut values = vec![SqlValue::Text("acct_a".into()), SqlValue::Integer(0)];
            values.extend(args.iter().map(|a| SqlValue::Text((*a).into())));
            query_plan(&store, sql, values).join("; ")
        };
        assert_eq!(
            plan(COUNT_WITH_REF1, &["radar.value_list_item", "rsl_1"]),
            "SEARCH objects USING COVERING INDEX objects_by_ref1_created (account=? AND livemode=? AND kind=? AND ref1=?)"
        );
        assert!(
            plan(HAS_SECOND_REF, &["radar.value_list_item", "x", "rsl_1"])
                .contains("USING INDEX objects_by_ref2_created (account=? AND livemode=? AND kind=? AND ref2=?)")
        );
    }

    /// The steps of SQLite's plan for `sql` with `args`.
    fn query_plan(store: &Store, sql: &str, args: Vec<SqlValue>) -> Vec<String> {
        store
            .read(|tx| {
                let mut stmt = tx.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok::<_, StoreError>(rows)
            })
            .unwrap()
    }

    fn insert(tx: &Tx<'_>, s: &Scope, id: &str, created: i64, ref1: Option<&str>) {
        tx.insert_object(
            s,
            &NewObject {
                id,
                kind: "customer",
                created,
                ref1,
                ref2: ref1,
                doc: &json!({ "id": id, "created": created }),
                private: None,
            },
        )
        .unwrap();
    }

    #[test]
    fn a_private_document_is_read_without_the_wire_document() {
        let (_dir, store) = crate::scratch_store();
        let s = scope("acct_a");
        let private = json!({ "attempts": 2, "attempt_started": 1_800_000_000, "attempt_by": "p-1", "nested": { "x": [1] } });
        store
            .write(|tx| {
                tx.insert_object(
                    &s,
                    &NewObject {
                        id: "pi_1",
                        kind: "payment_intent",
                        created: 1,
                        ref1: None,
                        ref2: None,
                        doc: &json!({ "id": "pi_1" }),
                        private: Some(&private),
                    },
                )?;
                insert(tx, &s, "cus_1", 1, None);
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let read =
            |kind: &str, id: &str, s: &Scope| store.read(|tx| tx.get_private(s, kind, id)).unwrap();
        assert_eq!(read("payment_intent", "pi_1", &s), Some(private.clone()));
        // An object without a private document has `null`.
        assert_eq!(read("customer", "cus_1", &s), Some(Value::Null));
        // Another kind, another account, no such id: nothing.
        assert_eq!(read("charge", "pi_1", &s), None);
        assert_eq!(read("payment_intent", "pi_1", &scope("acct_b")), None);
        assert_eq!(read("payment_intent", "pi_2", &s), None);
    }

    fn index_names(store: &Store) -> Vec<String> {
        store
            .read(|tx| {
                let mut stmt = tx.conn.prepare(
                    "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'objects' AND sql IS NOT NULL ORDER BY name",
                )?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok::<_, StoreError>(rows)
            })
            .unwrap()
    }

    #[test]
    fn every_page_query_walks_an_index_without_sorting() {
        let (_dir, store) = crate::scratch_store();
        let s = scope("acct_a");
        store
            .write(|tx| {
                insert(tx, &s, "cus_1", 100, Some("x"));
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let query = |ref1, ref2, after, before, gte| ListQuery {
            kind: "customer",
            ref1,
            ref2,
            created: CreatedFilter {
                gte,
                ..Default::default()
            },
            limit: 10,
            starting_after: after,
            ending_before: before,
        };
        for (q, index) in [
            (
                query(None, None, None, None, None),
                "objects_by_kind_created",
            ),
            (
                query(None, None, Some("cus_1"), None, None),
                "objects_by_kind_created",
            ),
            (
                query(None, None, None, Some("cus_1"), Some(5)),
                "objects_by_kind_created",
            ),
            (
                query(Some("x"), None, None, None, None),
                "objects_by_ref1_created",
            ),
            (
                query(Some("x"), None, Some("cus_1"), None, None),
                "objects_by_ref1_created",
            ),
            (
                query(None, Some("x"), None, Some("cus_1"), None),
                "objects_by_ref2_created",
            ),
        ] {
            let (sql, args) = store.read(|tx| tx.list_sql(&s, &q)).unwrap().unwrap();
            let plan = query_plan(&store, &sql, args);
            assert!(
                plan.iter().any(|step| step.contains(index)),
                "{q:?} should use {index}: {plan:?}"
            );
            assert!(
                !plan.iter().any(|step| step.contains("TEMP B-TREE")),
                "{q:?} should not sort: {plan:?}"
            );
        }
    }

    /// A store made by the current schema, then given an earlier one's indexes by
    /// `earlier` (SQL run on it directly), then opened again.
    fn reopened_after(earlier: &str) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(Store::open(&path).unwrap());
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(earlier)
            .unwrap();
        let store = Store::open(&path).unwrap();
        assert_eq!(
            index_names(&store),
            [
                "objects_by_kind_created",
                "objects_by_ref1_created",
                "objects_by_ref2_created"
            ]
        );
        (dir, store)
    }

    #[test]
    fn a_store_from_an_earlier_schema_gets_the_indexes_by_created() {
        let (_dir, store) = reopened_after(
            "DROP INDEX objects_by_kind_created; DROP INDEX objects_by_ref1_created;
             DROP INDEX objects_by_ref2_created;
             CREATE INDEX objects_by_kind ON objects(account, livemode, kind, seq);
             CREATE INDEX objects_by_ref1 ON objects(account, livemode, kind, ref1, seq);
             CREATE INDEX objects_by_ref2_set ON objects(account, livemode, kind, ref2, seq) WHERE ref2 IS NOT NULL;
             INSERT INTO objects (id, account, livemode, kind, created, ref1, doc)
             VALUES ('cus_old', 'acct_a', 0, 'customer', 7, 'x', '{\"id\":\"cus_old\"}');",
        );
        let page = store
            .read(|tx| {
                tx.list_objects(
                    &scope("acct_a"),
                    &ListQuery {
                        kind: "customer",
                        ref1: Some("x"),
                        limit: 10,
                        ..Default::default()
                    },
                )
            })
            .unwrap()
            .unwrap();
        assert_eq!(ids(&page), ["cus_old"]);
    }

    /// Revision 0c97386 gave each kind an index of its own instead; its revert drops
    /// them when such a store opens (see the schema).
    #[test]
    fn a_store_with_an_index_per_kind_gets_one_for_every_kind_back() {
        let (_dir, store) = reopened_after(
            "DROP INDEX objects_by_kind_created;
             CREATE INDEX objects_customer_by_created ON objects(account, livemode, created, seq) WHERE kind = 'customer';
             CREATE INDEX objects_radar_value_list_by_created ON objects(account, livemode, created, seq) WHERE kind = 'radar.value_list';
             INSERT INTO objects (id, account, livemode, kind, created, doc)
             VALUES ('cus_old', 'acct_a', 0, 'customer', 7, '{\"id\":\"cus_old\"}');",
        );
        let q = ListQuery {
            kind: "customer",
            limit: 10,
            ..Default::default()
        };
        let page = store
            .read(|tx| tx.list_objects(&scope("acct_a"), &q))
            .unwrap()
            .unwrap();
        assert_eq!(ids(&page), ["cus_old"]);
    }

    /// `seq`, the order within a second, comes from SQLite's next rowid in a new store,
    /// and from AUTOINCREMENT in a store made before (which keeps it): lists run the
    /// same in both.
    #[test]
    fn insertion_order_holds_with_and_without_autoincrement() {
        let dir = tempfile::tempdir().unwrap();
        let old_path = dir.path().join("old.db");
        rusqlite::Connection::open(&old_path)
            .unwrap()
            .execute_batch(&crate::SCHEMA.replace(
                "seq INTEGER PRIMARY KEY,",
                "seq INTEGER PRIMARY KEY AUTOINCREMENT,",
            ))
            .unwrap();
        let s = scope("acct_a");
        for (path, sequenced) in [(dir.path().join("new.db"), 0), (old_path, 1)] {
            let store = Store::open(&path).unwrap();
            store
                .write(|tx| {
                    for id in ["cus_b", "cus_c", "cus_a"] {
                        insert(tx, &s, id, 5, None);
                    }
                    Ok::<_, StoreError>(())
                })
                .unwrap();
            let (page, counted) = store
                .read(|tx| {
                    let q = ListQuery {
                        kind: "customer",
                        limit: 10,
                        ..Default::default()
                    };
                    let counted: i64 = tx.conn.query_row(
                        "SELECT count(*) FROM sqlite_sequence WHERE name = 'objects'",
                        [],
                        |r| r.get(0),
                    )?;
                    Ok::<_, StoreError>((tx.list_objects(&s, &q)?.unwrap(), counted))
                })
                .unwrap();
            assert_eq!(
                ids(&page),
                ["cus_a", "cus_c", "cus_b"],
                "{}",
                path.display()
            );
            assert_eq!(counted, sequenced, "{}", path.display());
        }
    }

    /// Documents are stored compressed (see `documents`); a store written before that
    /// keeps its documents as JSON text, read and listed beside the new ones, and
    /// compressed when next written.
    #[test]
    fn documents_are_stored_compressed_and_text_ones_from_before_are_still_read() {
        let (_dir, store) = crate::scratch_store();
        let s = scope("acct_a");
        store
            .write(|tx| {
                insert(tx, &s, "cus_new", 2, None);
                tx.conn.execute(
                    "INSERT INTO objects (id, account, livemode, kind, created, doc)
                     VALUES ('cus_old', 'acct_a', 0, 'customer', 1, '{\"id\":\"cus_old\",\"created\":1}')",
                    [],
                )?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let stored = |id: &str| {
            crate::storage_class(&store, "SELECT typeof(doc) FROM objects WHERE id = ?1", id)
        };
        assert_eq!(
            (stored("cus_new").as_str(), stored("cus_old").as_str()),
            ("blob", "text")
        );
        let (old, page) = store
            .read(|tx| {
                let old = tx.get_object(&s, "customer", "cus_old")?.unwrap();
                let query = ListQuery {
                    kind: "customer",
                    limit: 10,
                    ..Default::default()
                };
                Ok::<_, StoreError>((old, tx.list_objects(&s, &query)?.unwrap()))
            })
            .unwrap();
        assert_eq!(old.doc, json!({ "id": "cus_old", "created": 1 }));
        assert_eq!(ids(&page), ["cus_new", "cus_old"]);
        store
            .write(|tx| {
                tx.update_object(
                    &s,
                    "cus_old",
                    (None, None),
                    &json!({ "id": "cus_old", "created": 1, "name": "Jenny" }),
                    None,
                )
            })
            .unwrap();
        assert_eq!(stored("cus_old"), "blob");
        let old = store
            .read(|tx| tx.get_object(&s, "customer", "cus_old"))
            .unwrap()
            .unwrap();
        assert_eq!(old.doc["name"], "Jenny");
    }

    /// A request stamps `created` when it starts, so a request that started a second
    /// earlier can reach the store after one that started later. Its object still lists
    /// below the later one, in every direction a client can walk.
    #[test]
    fn lists_follow_created_when_writes_land_out_of_order() {
        let (_dir, store) = crate::scratch_store();
        let s = scope("acct_a");
        store
            .write(|tx| {
                // In insertion order: created 101, 100, 102, 101, 103.
                for (id, created) in [
                    ("cus_b", 101),
                    ("cus_a", 100),
                    ("cus_d", 102),
                    ("cus_c", 101),
                    ("cus_e", 103),
                ] {
                    insert(tx, &s, id, created, Some("x"));
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let newest_first = ["cus_e", "cus_d", "cus_c", "cus_b", "cus_a"];
        store
            .read(|tx| {
                for ref1 in [None, Some("x")] {
                    let q = |after, before, limit| ListQuery {
                        kind: "customer",
                        ref1,
                        limit,
                        starting_after: after,
                        ending_before: before,
                        ..Default::default()
                    };
                    let all = tx.list_objects(&s, &q(None, None, 10))?.unwrap();
                    assert_eq!(ids(&all), newest_first, "ref1 {ref1:?}");
                    let mut walked: Vec<String> = Vec::new();
                    loop {
                        let after = walked.last().cloned();
                        let page = tx
                            .list_objects(
                                &s,
                                &ListQuery {
                                    starting_after: after.as_deref(),
                                    ..q(None, None, 2)
                                },
                            )?
                            .unwrap();
                        walked.extend(ids(&page));
                        if !page.has_more {
                            break;
                        }
                    }
                    assert_eq!(walked, newest_first, "forward, ref1 {ref1:?}");
                    let back = tx.list_objects(&s, &q(None, Some("cus_b"), 2))?.unwrap();
                    assert_eq!(ids(&back), ["cus_d", "cus_c"], "back, ref1 {ref1:?}");
                    assert!(back.has_more);
                    let next = tx.list_objects(&s, &q(Some("cus_c"), None, 1))?.unwrap();
                    assert_eq!(ids(&next), ["cus_b"], "after, ref1 {ref1:?}");
                    assert!(next.has_more);
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }

    #[test]
    fn pages_walk_newest_first_in_both_directions() {
        let (_dir, store) = crate::scratch_store();
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
        let (_dir, store) = crate::scratch_store();
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
