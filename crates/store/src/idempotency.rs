//! Idempotency records: the first response for a key is kept and replayed.

use rusqlite::{OptionalExtension, params, types::Value as SqlValue};

use crate::{Scope, StoreError, Tx, Unit, documents};

/// A request still marked in flight after this many seconds was abandoned by a
/// process that died; the key may be claimed again. (At once, when the process
/// looking serves the store alone: [`KeyUse::serving_alone`].)
const ABANDONED_AFTER_SECS: i64 = 60;

/// What to do with a request carrying an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use: execute it, then store the response.
    Execute,
    /// Used before by a request whose process died before it answered, after it had
    /// begun work on `object` (see [`Tx::set_idempotency_resume`]): execute it again
    /// from that object rather than from the start.
    Resume {
        /// The id of the object the abandoned request was working on.
        object: String,
    },
    /// Seen before with the same parameters: answer this stored response.
    Replay {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
    },
    /// Another request with this key is executing.
    InFlight,
    /// Seen before with other parameters or another endpoint.
    Mismatch,
}

/// A request's use of an idempotency key.
#[derive(Debug, Clone, Copy)]
pub struct KeyUse<'a> {
    /// The key, as the client sent it.
    pub key: &'a str,
    /// `METHOD /path`.
    pub endpoint: &'a str,
    /// Keyed hash of the endpoint and the request's parameters.
    pub request_hash: &'a [u8],
    /// When the request started (unix seconds).
    pub at: i64,
    /// The caller serves the store alone ([`Store::serve_alone`]) and holds the key
    /// for this request in its own process, so no other request of any process is
    /// executing with it: a claim still unanswered in the store was left by a process
    /// that stopped, and is taken over at once rather than after a minute.
    ///
    /// [`Store::serve_alone`]: crate::Store::serve_alone
    pub serving_alone: bool,
}

impl KeyUse<'_> {
    /// Unanswered claims that started before this (unix seconds) are abandoned.
    fn abandoned_before(&self) -> i64 {
        if self.serving_alone {
            i64::MAX
        } else {
            self.at - ABANDONED_AFTER_SECS
        }
    }
}

/// Stores a request's answer, over its claim if it has one.
const COMPLETE_KEY: &str = "INSERT INTO idempotency (account, livemode, key, request_hash, endpoint, started_at, status, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
     ON CONFLICT (account, livemode, key) DO UPDATE SET status = excluded.status, body = excluded.body";

impl Unit<'_> {
    /// [`Tx::complete_idempotency_key`] as a write of its own, the last of a request's:
    /// the answer is compressed before the store's write lock is taken, and the one
    /// statement needs no savepoint.
    pub fn complete_idempotency_key(
        &self,
        scope: &Scope,
        u: &KeyUse<'_>,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        let body = documents::compress(body.as_bytes())?;
        self.inner
            .execute::<StoreError>(COMPLETE_KEY, complete_key_params(scope, u, status, &body))?;
        Ok(())
    }
}

/// The parameters of [`COMPLETE_KEY`], with the answer as stored.
fn complete_key_params<'a>(
    scope: &'a Scope,
    u: &'a KeyUse<'_>,
    status: u16,
    stored_body: &'a [u8],
) -> impl rusqlite::Params + 'a {
    (
        &scope.account,
        scope.livemode,
        u.key,
        u.request_hash,
        u.endpoint,
        u.at,
        status,
        stored_body,
    )
}

impl Tx<'_> {
    /// What to do with a request that carries `key` and whose parameters hash to
    /// `request_hash`, judged from the stored record (a read: nothing is written).
    /// [`IdempotencyClaim::Execute`] for a new key, or for a claim abandoned by a
    /// process that died.
    pub fn look_up_idempotency_key(
        &self,
        scope: &Scope,
        u: &KeyUse<'_>,
    ) -> Result<IdempotencyClaim, StoreError> {
        let existing = self
            .conn
            .prepare_cached("SELECT request_hash, endpoint, status, body, started_at, resume_from FROM idempotency WHERE account = ?1 AND livemode = ?2 AND key = ?3")?
            .query_row(
                params![scope.account, scope.livemode, u.key],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<u16>>(2)?,
                        r.get::<_, SqlValue>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((hash, stored_endpoint, status, body, started, resume_from)) = existing else {
            return Ok(IdempotencyClaim::Execute);
        };
        if stored_endpoint != u.endpoint || hash != u.request_hash {
            return Ok(IdempotencyClaim::Mismatch);
        }
        let body = match body {
            SqlValue::Null => None,
            stored => Some(documents::decode_text(stored)?),
        };
        Ok(match (status, body) {
            (Some(status), Some(body)) => IdempotencyClaim::Replay { status, body },
            _ if started < u.abandoned_before() => match resume_from {
                Some(object) => IdempotencyClaim::Resume { object },
                None => IdempotencyClaim::Execute,
            },
            _ => IdempotencyClaim::InFlight,
        })
    }

    /// Marks `key` in flight for a request that [`Tx::look_up_idempotency_key`] said
    /// to execute (taking over an abandoned claim). Fails if the key was claimed or
    /// completed meanwhile by another process: never two executions of one key.
    ///
    /// A claim taken over is deleted and inserted again rather than updated, so that
    /// records stay in the order their keys were last claimed, which the expiry
    /// ([`Tx::expire_idempotency_keys`]) relies on to stop early.
    pub fn claim_idempotency_key(&self, scope: &Scope, u: &KeyUse<'_>) -> Result<(), StoreError> {
        let insert = || -> Result<usize, StoreError> {
            Ok(self.conn.prepare_cached(
                "INSERT INTO idempotency (account, livemode, key, request_hash, endpoint, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (account, livemode, key) DO NOTHING",
            )?.execute(params![scope.account, scope.livemode, u.key, u.request_hash, u.endpoint, u.at])?)
        };
        if insert()? == 1 {
            return Ok(());
        }
        let abandoned = self.conn.prepare_cached(
            "DELETE FROM idempotency WHERE account = ?1 AND livemode = ?2 AND key = ?3 AND status IS NULL AND started_at < ?4",
        )?.execute(params![scope.account, scope.livemode, u.key, u.abandoned_before()])?;
        if abandoned != 1 || insert()? != 1 {
            // The key itself stays out: the message reaches the log, and a key is
            // whatever the client sent.
            return Err(StoreError::new(
                "the idempotency key was claimed by another process meanwhile".to_owned(),
            ));
        }
        Ok(())
    }

    /// Notes, with the claim of `key`, the object its request is working on, so that
    /// if the process dies before the request answers, a retry with the key carries
    /// on with that object ([`IdempotencyClaim::Resume`]) instead of making another.
    /// Written in the same write as the object's own state, so the two never disagree.
    pub fn set_idempotency_resume(
        &self,
        scope: &Scope,
        key: &str,
        object: &str,
    ) -> Result<(), StoreError> {
        self.conn.prepare_cached(
            "UPDATE idempotency SET resume_from = ?4 WHERE account = ?1 AND livemode = ?2 AND key = ?3 AND status IS NULL",
        )?.execute(params![scope.account, scope.livemode, key, object])?;
        Ok(())
    }

    /// Stores the response of an executed request, claimed or not.
    pub fn complete_idempotency_key(
        &self,
        scope: &Scope,
        u: &KeyUse<'_>,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        let body = documents::compress(body.as_bytes())?;
        self.conn
            .prepare_cached(COMPLETE_KEY)?
            .execute(complete_key_params(scope, u, status, &body))?;
        Ok(())
    }

    /// Deletes the records of keys first used before `before` (unix seconds) among the
    /// `window` oldest records after rowid `after` (0: from the first). Returns how many
    /// it deleted and the last rowid it looked at (`None`: no records there), where the
    /// next step starts. Records are kept in the order their keys were claimed (a claim
    /// taken over moves to the end), so stepping from the first record reaches every
    /// expired one while it looks at no more than a window past them.
    pub fn expire_idempotency_keys(
        &self,
        before: i64,
        after: i64,
        window: u32,
    ) -> Result<(usize, Option<i64>), StoreError> {
        let last: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT max(rowid) FROM (SELECT rowid FROM idempotency WHERE rowid > ?1 ORDER BY rowid LIMIT ?2)",
            )?
            .query_row(params![after, window], |r| r.get(0))?;
        let Some(last) = last else {
            return Ok((0, None));
        };
        let deleted = self
            .conn
            .prepare_cached(
                "DELETE FROM idempotency WHERE rowid > ?1 AND rowid <= ?2 AND started_at < ?3",
            )?
            .execute(params![after, last, before])?;
        Ok((deleted, Some(last)))
    }

    /// Forgets a claim whose request was rejected before it executed.
    pub fn release_idempotency_key(&self, scope: &Scope, key: &str) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM idempotency WHERE account = ?1 AND livemode = ?2 AND key = ?3 AND status IS NULL")?.execute(
            params![scope.account, scope.livemode, key],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn store() -> (tempfile::TempDir, Store, Scope) {
        let (dir, store) = crate::scratch_store();
        let scope = Scope {
            account: "acct_a".into(),
            livemode: false,
        };
        (dir, store, scope)
    }

    fn key_use<'a>(key: &'a str, request_hash: &'a [u8], at: i64) -> KeyUse<'a> {
        KeyUse {
            key,
            endpoint: "POST /v1/x",
            request_hash,
            at,
            serving_alone: false,
        }
    }

    fn look(store: &Store, scope: &Scope, hash: &[u8], now: i64) -> IdempotencyClaim {
        store
            .read(|tx| tx.look_up_idempotency_key(scope, &key_use("k1", hash, now)))
            .unwrap()
    }

    fn look_key(store: &Store, scope: &Scope, key: &str, now: i64) -> IdempotencyClaim {
        store
            .read(|tx| tx.look_up_idempotency_key(scope, &key_use(key, b"h1", now)))
            .unwrap()
    }

    #[test]
    fn a_key_is_claimed_completed_replayed_and_taken_over_once_abandoned() {
        let (_dir, store, scope) = store();
        let claim = |now: i64| {
            store.write(|tx| tx.claim_idempotency_key(&scope, &key_use("k1", b"h1", now)))
        };
        assert_eq!(look(&store, &scope, b"h1", 1000), IdempotencyClaim::Execute);
        claim(1000).unwrap();
        assert_eq!(
            look(&store, &scope, b"h1", 1001),
            IdempotencyClaim::InFlight
        );
        assert!(claim(1001).is_err(), "a key in flight is claimed once");
        assert_eq!(
            look(&store, &scope, b"h2", 1001),
            IdempotencyClaim::Mismatch
        );
        // A claim left by a process that died is taken over once abandoned.
        let later = 1000 + ABANDONED_AFTER_SECS + 1;
        assert_eq!(
            look(&store, &scope, b"h1", later),
            IdempotencyClaim::Execute
        );
        claim(later).unwrap();
        assert_eq!(
            look(&store, &scope, b"h1", later + 1),
            IdempotencyClaim::InFlight
        );
        store
            .write(|tx| {
                tx.complete_idempotency_key(&scope, &key_use("k1", b"h1", later), 200, "{}")
            })
            .unwrap();
        let replay = IdempotencyClaim::Replay {
            status: 200,
            body: "{}".into(),
        };
        assert_eq!(look(&store, &scope, b"h1", later + 10_000), replay);
        // A completed key is never claimed again, nor released.
        assert!(claim(later + 10_000).is_err());
        store
            .write(|tx| tx.release_idempotency_key(&scope, "k1"))
            .unwrap();
        assert_eq!(look(&store, &scope, b"h1", later + 10_000), replay);
        // Other accounts have their own keys.
        let other = Scope {
            account: "acct_b".into(),
            livemode: false,
        };
        assert_eq!(look(&store, &other, b"h1", 1000), IdempotencyClaim::Execute);
    }

    #[test]
    fn expired_keys_are_deleted_a_window_at_a_time_and_younger_ones_kept() {
        let (_dir, store, scope) = store();
        let complete = |key: &str, at: i64| {
            store
                .write(|tx| tx.complete_idempotency_key(&scope, &key_use(key, b"h", at), 200, "{}"))
                .unwrap()
        };
        let claim = |key: &str, at: i64| {
            store
                .write(|tx| tx.claim_idempotency_key(&scope, &key_use(key, b"h", at)))
                .unwrap()
        };
        // Three claims left at 5 by a process that died, five keys used at 100..=104,
        // then the three claims taken over at 500: they move behind the others (kept
        // where they were, they would fill the first window with young records and the
        // expiry would stop there, before the expired ones). Then two more keys.
        for key in ["taken0", "taken1", "taken2"] {
            claim(key, 5);
        }
        for (i, at) in [100, 101, 102, 103, 104].into_iter().enumerate() {
            complete(&format!("old{i}"), at);
        }
        for key in ["taken0", "taken1", "taken2"] {
            claim(key, 500);
        }
        complete("old5", 105);
        complete("young", 400);
        let remaining = || {
            store
                .read(|tx| {
                    tx.conn
                        .prepare("SELECT key FROM idempotency ORDER BY rowid")?
                        .query_map([], |r| r.get::<_, String>(0))?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(StoreError::from)
                })
                .unwrap()
        };
        assert_eq!(
            remaining(),
            [
                "old0", "old1", "old2", "old3", "old4", "taken0", "taken1", "taken2", "old5",
                "young"
            ]
        );
        let step = |after: i64| {
            store
                .write(|tx| tx.expire_idempotency_keys(300, after, 3))
                .unwrap()
        };
        // Windows of three records: the first deletes three, the second two (a taken-
        // over claim is younger), the third finds only young records.
        let (deleted, first) = step(0);
        assert_eq!(deleted, 3);
        let (deleted, second) = step(first.unwrap());
        assert_eq!(deleted, 2);
        assert_eq!(remaining(), ["taken0", "taken1", "taken2", "old5", "young"]);
        let (deleted, third) = step(second.unwrap());
        assert_eq!(deleted, 1);
        assert_eq!(step(third.unwrap()).0, 0);
        assert_eq!(remaining(), ["taken0", "taken1", "taken2", "young"]);
        // A younger key is still replayed, and a taken-over claim is in flight.
        assert_eq!(
            store
                .read(|tx| tx.look_up_idempotency_key(&scope, &key_use("young", b"h", 401)))
                .unwrap(),
            IdempotencyClaim::Replay {
                status: 200,
                body: "{}".into()
            }
        );
        assert_eq!(
            store
                .read(|tx| tx.look_up_idempotency_key(&scope, &key_use("taken0", b"h", 501)))
                .unwrap(),
            IdempotencyClaim::InFlight
        );
    }

    /// The answer a key replays is stored compressed; one stored as text by an earlier
    /// version is replayed as it is.
    #[test]
    fn an_answer_is_stored_compressed_and_one_stored_as_text_still_replays() {
        let (_dir, store, scope) = store();
        let answer = r#"{"id":"pi_1","object":"payment_intent","amount":2000,"currency":"usd","status":"succeeded","metadata":{}}"#;
        store
            .write(|tx| tx.complete_idempotency_key(&scope, &key_use("new", b"h", 5), 200, answer))
            .unwrap();
        store
            .write(|tx| {
                tx.complete_idempotency_key(&scope, &key_use("old", b"h", 5), 200, "{}")?;
                tx.conn.execute(
                    "UPDATE idempotency SET body = ?1 WHERE key = 'old'",
                    [answer],
                )?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let kind = |key: &str| {
            crate::storage_class(
                &store,
                "SELECT typeof(body) FROM idempotency WHERE key = ?1",
                key,
            )
        };
        assert_eq!(
            (kind("new").as_str(), kind("old").as_str()),
            ("blob", "text")
        );
        for key in ["new", "old"] {
            assert_eq!(
                store
                    .read(|tx| tx.look_up_idempotency_key(&scope, &key_use(key, b"h", 6)))
                    .unwrap(),
                IdempotencyClaim::Replay {
                    status: 200,
                    body: answer.into()
                },
                "{key}"
            );
        }
    }

    #[test]
    fn an_answer_is_stored_without_a_claim_and_a_released_claim_is_forgotten() {
        let (_dir, store, scope) = store();
        // A request that wrote nothing else stores its answer in one go.
        store
            .write(|tx| {
                tx.complete_idempotency_key(&scope, &key_use("k1", b"h1", 5), 402, "{\"e\":1}")
            })
            .unwrap();
        assert_eq!(
            look(&store, &scope, b"h1", 6),
            IdempotencyClaim::Replay {
                status: 402,
                body: "{\"e\":1}".into()
            }
        );
        let key2 =
            |tx: &Tx<'_>, now| tx.look_up_idempotency_key(&scope, &key_use("k2", b"h1", now));
        store
            .write(|tx| tx.claim_idempotency_key(&scope, &key_use("k2", b"h1", 5)))
            .unwrap();
        assert_eq!(
            store.read(|tx| key2(tx, 6)).unwrap(),
            IdempotencyClaim::InFlight
        );
        store
            .write(|tx| tx.release_idempotency_key(&scope, "k2"))
            .unwrap();
        assert_eq!(
            store.read(|tx| key2(tx, 6)).unwrap(),
            IdempotencyClaim::Execute
        );
    }

    #[test]
    fn an_abandoned_claim_resumes_from_the_object_its_request_was_working_on() {
        let (_dir, store, scope) = store();
        let claim = |now: i64| {
            store.write(|tx| tx.claim_idempotency_key(&scope, &key_use("k1", b"h1", now)))
        };
        let resume = |object: &str| {
            store
                .write(|tx| tx.set_idempotency_resume(&scope, "k1", object))
                .unwrap()
        };
        claim(1000).unwrap();
        resume("pi_1");
        // While the claim is young its request may still be running.
        assert_eq!(
            look(&store, &scope, b"h1", 1001),
            IdempotencyClaim::InFlight
        );
        let later = 1000 + ABANDONED_AFTER_SECS + 1;
        let resumed = IdempotencyClaim::Resume {
            object: "pi_1".into(),
        };
        assert_eq!(look(&store, &scope, b"h1", later), resumed);
        // Other parameters are still refused, resume point or not.
        assert_eq!(
            look(&store, &scope, b"h1x", later),
            IdempotencyClaim::Mismatch
        );
        // Taken over, the claim starts again without a resume point until its new
        // request writes one.
        claim(later).unwrap();
        let much_later = later + ABANDONED_AFTER_SECS + 1;
        assert_eq!(
            look(&store, &scope, b"h1", much_later),
            IdempotencyClaim::Execute
        );
        resume("pi_1");
        assert_eq!(look(&store, &scope, b"h1", much_later), resumed);
        // An answered key is replayed; a resume point no longer changes it.
        store
            .write(|tx| {
                tx.complete_idempotency_key(&scope, &key_use("k1", b"h1", later), 402, "{}")
            })
            .unwrap();
        resume("pi_2");
        assert_eq!(
            look(&store, &scope, b"h1", much_later),
            IdempotencyClaim::Replay {
                status: 402,
                body: "{}".into()
            }
        );
    }

    #[test]
    fn a_process_serving_the_store_alone_takes_an_unanswered_claim_over_at_once() {
        let (_dir, store, scope) = store();
        let alone = |hash: &'static [u8], at: i64| KeyUse {
            serving_alone: true,
            ..key_use("k1", hash, at)
        };
        store
            .write(|tx| tx.claim_idempotency_key(&scope, &key_use("k1", b"h1", 1000)))
            .unwrap();
        store
            .write(|tx| tx.set_idempotency_resume(&scope, "k1", "pi_1"))
            .unwrap();
        // A second later: in flight to anyone who cannot tell who else serves the store…
        assert_eq!(
            look(&store, &scope, b"h1", 1001),
            IdempotencyClaim::InFlight
        );
        // …and left by a stopped process to the one that serves it alone.
        let look_alone = |hash: &'static [u8]| {
            store
                .read(|tx| tx.look_up_idempotency_key(&scope, &alone(hash, 1001)))
                .unwrap()
        };
        assert_eq!(
            look_alone(b"h1"),
            IdempotencyClaim::Resume {
                object: "pi_1".into()
            }
        );
        assert_eq!(look_alone(b"h2"), IdempotencyClaim::Mismatch);
        store
            .write(|tx| tx.claim_idempotency_key(&scope, &alone(b"h1", 1001)))
            .unwrap();
        // Taken over: a fresh claim without the old resume point.
        assert_eq!(look_alone(b"h1"), IdempotencyClaim::Execute);
        // An answered key is replayed, alone or not, and never claimed again.
        store
            .write(|tx| tx.complete_idempotency_key(&scope, &alone(b"h1", 1001), 200, "{}"))
            .unwrap();
        let replay = IdempotencyClaim::Replay {
            status: 200,
            body: "{}".into(),
        };
        assert_eq!(look_alone(b"h1"), replay);
        assert!(
            store
                .write(|tx| tx.claim_idempotency_key(&scope, &alone(b"h1", 1002)))
                .is_err()
        );
    }

    #[test]
    fn one_process_at_a_time_serves_a_store() {
        let (dir, first, scope) = store();
        assert!(!first.serves_alone());
        first.serve_alone().unwrap();
        assert!(first.serves_alone());
        let first_instance = first.serving_instance().unwrap().to_owned();
        // Asking again changes nothing.
        first.serve_alone().unwrap();
        assert_eq!(first.serving_instance(), Some(first_instance.as_str()));
        // Another opening of the same store (another process, as far as the operating
        // system's lock goes) is refused, and told which process serves it.
        let second = Store::open(&dir.path().join("t.db")).unwrap();
        let refused = second.serve_alone().unwrap_err().to_string();
        assert!(
            refused.contains(&format!(
                "another process serves this store (process {})",
                std::process::id()
            )),
            "{refused}"
        );
        assert!(refused.contains("t.db-serving"), "{refused}");
        assert!(!second.serves_alone());
        // Reads and writes from the second opening still work (the command line).
        second
            .write(|tx| tx.complete_idempotency_key(&scope, &key_use("k9", b"h", 1), 200, "{}"))
            .unwrap();
        // Once the first is gone, the lock is free.
        drop(first);
        second.serve_alone().unwrap();
        assert!(second.serves_alone());
        // Under a name of its own: what the first marked as under way is not its own.
        assert_ne!(second.serving_instance(), Some(first_instance.as_str()));
    }

    #[test]
    fn a_store_from_before_resume_points_gets_the_column_and_keeps_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE idempotency (account TEXT NOT NULL, livemode INTEGER NOT NULL, key TEXT NOT NULL, \
                 request_hash BLOB NOT NULL, endpoint TEXT NOT NULL, status INTEGER, body TEXT, \
                 started_at INTEGER NOT NULL, PRIMARY KEY (account, livemode, key)); \
                 INSERT INTO idempotency VALUES ('acct_a', 0, 'k1', X'6831', 'POST /v1/x', 200, '{}', 1000);",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let scope = Scope {
            account: "acct_a".into(),
            livemode: false,
        };
        assert_eq!(
            look(&store, &scope, b"h1", 1001),
            IdempotencyClaim::Replay {
                status: 200,
                body: "{}".into()
            }
        );
        store
            .write(|tx| tx.claim_idempotency_key(&scope, &key_use("k2", b"h1", 1000)))
            .unwrap();
        store
            .write(|tx| tx.set_idempotency_resume(&scope, "k2", "pi_1"))
            .unwrap();
        assert_eq!(
            look_key(&store, &scope, "k2", 1000 + ABANDONED_AFTER_SECS + 1),
            IdempotencyClaim::Resume {
                object: "pi_1".into()
            }
        );
        drop(store);
        // Opening it again finds the column there.
        Store::open(&path).unwrap();
    }
}
