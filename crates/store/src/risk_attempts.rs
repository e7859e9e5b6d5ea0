//! Payment attempts as the risk engine saw them: what its velocity counters are
//! rebuilt from after a restart, and what a new rule is replayed on in a dry run.

use rusqlite::params;
use serde_json::Value;

use crate::{Document, Encoded, Scope, StoreError, Tx, documents};

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskAttempt {
    /// The account and mode.
    pub scope: Scope,
    /// Unix seconds.
    pub at: i64,
    /// The charge that records the attempt's outcome.
    pub charge: String,
    /// Declined by the issuer or blocked.
    pub declined: bool,
    /// What the velocity counters count it under (JSON object).
    pub keys: Value,
    /// The attribute values rules were evaluated on (JSON object; stored compressed
    /// like an object's document, see `documents`).
    pub signals: Value,
}

/// What the velocity counters count of one recorded attempt: its signals and its
/// charge are left in the store ([`Tx::for_each_counted_attempt_since`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CountedAttempt {
    /// The account and mode.
    pub scope: Scope,
    /// Unix seconds.
    pub at: i64,
    /// Declined by the issuer or blocked.
    pub declined: bool,
    /// What the velocity counters count it under (JSON object).
    pub keys: Value,
}

/// An attempt encoded for the write that records it ([`RiskAttempt::encode`]), so a
/// write holding the store's one write lock only stores it.
#[derive(Debug, Clone)]
pub struct EncodedRiskAttempt {
    scope: Scope,
    at: i64,
    charge: String,
    declined: bool,
    keys: String,
    signals: Encoded,
}

impl RiskAttempt {
    /// Serialises and compresses the attempt for [`Tx::insert_encoded_risk_attempt`].
    pub fn encode(&self) -> Result<EncodedRiskAttempt, StoreError> {
        Ok(EncodedRiskAttempt {
            scope: self.scope.clone(),
            at: self.at,
            charge: self.charge.clone(),
            declined: self.declined,
            keys: serde_json::to_string(&self.keys)?,
            signals: Encoded::new(&self.signals)?,
        })
    }
}

impl Tx<'_> {
    /// Records an attempt.
    pub fn insert_risk_attempt(&self, attempt: &RiskAttempt) -> Result<(), StoreError> {
        self.insert_encoded_risk_attempt(&attempt.encode()?)
    }

    /// Records an attempt encoded before the write.
    pub fn insert_encoded_risk_attempt(
        &self,
        attempt: &EncodedRiskAttempt,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO risk_attempts (account, livemode, at, charge, declined, keys, signals)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                attempt.scope.account,
                attempt.scope.livemode,
                attempt.at,
                attempt.charge,
                attempt.declined,
                attempt.keys,
                attempt.signals.stored()?,
            ])?;
        Ok(())
    }

    /// Attempts at or after `since` (unix seconds), oldest first: of one scope, or of
    /// every scope when `scope` is `None`. At most `limit`.
    pub fn risk_attempts_since(
        &self,
        scope: Option<&Scope>,
        since: i64,
        limit: u32,
    ) -> Result<Vec<RiskAttempt>, StoreError> {
        let mut attempts = Vec::new();
        self.for_each_risk_attempt_since(scope, since, limit, |a| attempts.push(a))?;
        Ok(attempts)
    }

    /// Hands the attempts of [`Tx::risk_attempts_since`] to `each` one at a time, as
    /// they are read, and returns how many: a dry run replays up to hundreds of
    /// thousands, and holds one at a time.
    pub fn for_each_risk_attempt_since(
        &self,
        scope: Option<&Scope>,
        since: i64,
        limit: u32,
        mut each: impl FnMut(RiskAttempt),
    ) -> Result<u64, StoreError> {
        let columns = format!("SELECT {COUNTED}, charge, signals FROM risk_attempts");
        let (mut statement, rows);
        match scope {
            Some(s) => {
                statement = self.conn.prepare_cached(&format!(
                    "{columns} WHERE account = ?1 AND livemode = ?2 AND at >= ?3 ORDER BY at, seq LIMIT ?4"
                ))?;
                rows = statement.query(params![s.account, s.livemode, since, limit])?;
            }
            None => {
                statement = self.conn.prepare_cached(&format!(
                    "{columns} WHERE at >= ?1 ORDER BY at, seq LIMIT ?2"
                ))?;
                rows = statement.query(params![since, limit])?;
            }
        }
        each_row(rows, |row| {
            let counted = counted(row)?;
            each(RiskAttempt {
                scope: counted.scope,
                at: counted.at,
                charge: row.get(5)?,
                declined: counted.declined,
                keys: counted.keys,
                signals: documents::decode(row.get(6)?)?,
            });
            Ok(())
        })
    }

    /// Hands each attempt at or after `since` (unix seconds), of every scope, oldest
    /// first and at most `limit`, to `each` as it is read; returns how many. For the
    /// velocity counters after a restart: a week of attempts can be millions, so none
    /// is kept once counted, and the signals (compressed JSON, a few hundred bytes
    /// each, decoded to much more) are not read.
    pub fn for_each_counted_attempt_since(
        &self,
        since: i64,
        limit: u32,
        mut each: impl FnMut(CountedAttempt),
    ) -> Result<u64, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {COUNTED} FROM risk_attempts WHERE at >= ?1 ORDER BY at, seq LIMIT ?2"
        ))?;
        each_row(statement.query(params![since, limit])?, |row| {
            each(counted(row)?);
            Ok(())
        })
    }

    /// Deletes the oldest attempts made before `before` (unix seconds), at most `limit`
    /// of them (one short write however many have aged); returns how many.
    pub fn prune_risk_attempts(&self, before: i64, limit: u32) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM risk_attempts WHERE seq IN
                 (SELECT seq FROM risk_attempts WHERE at < ?1 ORDER BY at LIMIT ?2)",
            )?
            .execute(params![before, limit])?)
    }
}

/// The columns [`counted`] reads, first in a query's row.
const COUNTED: &str = "account, livemode, at, declined, keys";

/// What the velocity counters count of a row that starts with [`COUNTED`].
fn counted(row: &rusqlite::Row<'_>) -> Result<CountedAttempt, StoreError> {
    let keys: String = row.get(4)?;
    Ok(CountedAttempt {
        scope: Scope {
            account: row.get(0)?,
            livemode: row.get(1)?,
        },
        at: row.get(2)?,
        declined: row.get(3)?,
        keys: serde_json::from_str(&keys)?,
    })
}

/// Hands every row of `rows` to `each`, as it is read; returns how many.
fn each_row(
    mut rows: rusqlite::Rows<'_>,
    mut each: impl FnMut(&rusqlite::Row<'_>) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let mut read = 0;
    while let Some(row) = rows.next()? {
        each(row)?;
        read += 1;
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attempts_are_kept_per_scope_in_time_order() {
        let (_dir, store) = crate::scratch_store();
        let scope = |a: &str| Scope {
            account: a.into(),
            livemode: false,
        };
        let attempt = |a: &str, at: i64, charge: &str| RiskAttempt {
            scope: scope(a),
            at,
            charge: charge.into(),
            declined: at % 2 == 0,
            keys: json!({"card": "fp"}),
            signals: json!({"amount_in_usd": 5.0}),
        };
        store
            .write(|tx| {
                tx.insert_risk_attempt(&attempt("acct_a", 300, "ch_3"))?;
                tx.insert_risk_attempt(&attempt("acct_a", 100, "ch_1"))?;
                tx.insert_risk_attempt(&attempt("acct_b", 200, "ch_2"))?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let (mine, all) = store
            .read(|tx| {
                Ok::<_, StoreError>((
                    tx.risk_attempts_since(Some(&scope("acct_a")), 0, 10)?,
                    tx.risk_attempts_since(None, 150, 10)?,
                ))
            })
            .unwrap();
        let charges = |v: &[RiskAttempt]| v.iter().map(|a| a.charge.clone()).collect::<Vec<_>>();
        assert_eq!(charges(&mine), ["ch_1", "ch_3"]);
        assert_eq!(charges(&all), ["ch_2", "ch_3"]);
        assert_eq!(mine[0], attempt("acct_a", 100, "ch_1"));
        // The oldest go first, a window at a time, and nothing from `before` on.
        let pruned = store.write(|tx| tx.prune_risk_attempts(250, 1)).unwrap();
        assert_eq!(pruned, 1);
        let left = store
            .read(|tx| tx.risk_attempts_since(None, 0, 10))
            .unwrap();
        assert_eq!(charges(&left), ["ch_2", "ch_3"]);
        let pruned = store.write(|tx| tx.prune_risk_attempts(250, 10)).unwrap();
        assert_eq!(pruned, 1);
        let left = store
            .read(|tx| tx.risk_attempts_since(None, 0, 10))
            .unwrap();
        assert_eq!(charges(&left), ["ch_3"]);
        assert_eq!(
            store.write(|tx| tx.prune_risk_attempts(250, 10)).unwrap(),
            0
        );
    }

    #[test]
    fn attempts_are_counted_one_at_a_time_without_their_signals() {
        let (_dir, store) = crate::scratch_store();
        let attempt = |account: &str, at: i64, card: &str| RiskAttempt {
            scope: Scope {
                account: account.into(),
                livemode: at % 3 == 0,
            },
            at,
            charge: format!("ch_{at}"),
            declined: at % 2 == 0,
            keys: json!({"card": card, "ip": "127.0.0.1"}),
            signals: json!({"amount_in_usd": 5.0}),
        };
        let stored = [
            attempt("acct_a", 300, "fp_3"),
            attempt("acct_b", 100, "fp_1"),
            attempt("acct_a", 200, "fp_2"),
            attempt("acct_a", 400, "fp_4"),
        ];
        store
            .write(|tx| {
                for a in &stored {
                    tx.insert_risk_attempt(a)?;
                }
                // Signals that cannot be read: counting does not read them.
                tx.conn.execute(
                    "UPDATE risk_attempts SET signals = x'09' WHERE charge = 'ch_300'",
                    [],
                )?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let counted = |since, limit| {
            let mut seen = Vec::new();
            let n = store
                .read(|tx| tx.for_each_counted_attempt_since(since, limit, |a| seen.push(a)))
                .unwrap();
            assert_eq!(n, seen.len() as u64);
            seen
        };
        let expected = |a: &RiskAttempt| CountedAttempt {
            scope: a.scope.clone(),
            at: a.at,
            declined: a.declined,
            keys: a.keys.clone(),
        };
        assert_eq!(
            counted(150, 10),
            [
                expected(&stored[2]),
                expected(&stored[0]),
                expected(&stored[3])
            ]
        );
        assert_eq!(counted(0, 2), [expected(&stored[1]), expected(&stored[2])]);
        assert_eq!(counted(500, 10), []);
        // Whereas reading the attempts for a dry run needs their signals.
        let e = store
            .read(|tx| tx.risk_attempts_since(None, 0, 10))
            .unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
    }

    /// Signals are stored compressed; those stored as text before are still read.
    #[test]
    fn signals_are_stored_compressed_and_text_ones_from_before_are_still_read() {
        let (_dir, store) = crate::scratch_store();
        let scope = Scope {
            account: "acct_a".into(),
            livemode: false,
        };
        let signals = json!({"amount_in_usd": 20.0, "declined_charges_per_card_number_daily": 0.0});
        let attempt = |charge: &str| RiskAttempt {
            scope: scope.clone(),
            at: 100,
            charge: charge.into(),
            declined: false,
            keys: json!({"card": "fp"}),
            signals: signals.clone(),
        };
        store
            .write(|tx| {
                tx.insert_risk_attempt(&attempt("ch_new"))?;
                tx.insert_risk_attempt(&attempt("ch_old"))?;
                tx.conn.execute(
                    "UPDATE risk_attempts SET signals = ?1 WHERE charge = 'ch_old'",
                    [signals.to_string()],
                )?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let class = |charge: &str| {
            crate::storage_class(
                &store,
                "SELECT typeof(signals) FROM risk_attempts WHERE charge = ?1",
                charge,
            )
        };
        assert_eq!(
            (class("ch_new").as_str(), class("ch_old").as_str()),
            ("blob", "text")
        );
        let read = store
            .read(|tx| tx.risk_attempts_since(Some(&scope), 0, 10))
            .unwrap();
        assert_eq!(read, [attempt("ch_new"), attempt("ch_old")]);
    }
}
