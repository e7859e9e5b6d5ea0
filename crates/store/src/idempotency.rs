//! Idempotency records: the first response for a key is kept and replayed.

use rusqlite::{OptionalExtension, params};

use crate::{Scope, StoreError, Tx};

/// A request still marked in flight after this many seconds was abandoned by a
/// process that died; the key may be claimed again.
const ABANDONED_AFTER_SECS: i64 = 60;

/// What to do with a request carrying an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use: execute it, then store the response.
    Execute,
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

impl Tx<'_> {
    /// Claims `key` for a request whose parameters hash to `request_hash`.
    pub fn claim_idempotency_key(
        &self,
        scope: &Scope,
        key: &str,
        endpoint: &str,
        request_hash: &[u8],
        now: i64,
    ) -> Result<IdempotencyClaim, StoreError> {
        let existing = self
            .conn
            .prepare_cached("SELECT request_hash, endpoint, status, body, started_at FROM idempotency WHERE account = ?1 AND livemode = ?2 AND key = ?3")?
            .query_row(
                params![scope.account, scope.livemode, key],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<u16>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()?;
        match existing {
            None => {
                self.conn.prepare_cached("INSERT INTO idempotency (account, livemode, key, request_hash, endpoint, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(
                    params![scope.account, scope.livemode, key, request_hash, endpoint, now],
                )?;
                Ok(IdempotencyClaim::Execute)
            }
            Some((hash, stored_endpoint, status, body, started)) => {
                if stored_endpoint != endpoint || hash != request_hash {
                    return Ok(IdempotencyClaim::Mismatch);
                }
                match (status, body) {
                    (Some(status), Some(body)) => Ok(IdempotencyClaim::Replay { status, body }),
                    _ if now - started > ABANDONED_AFTER_SECS => {
                        self.conn.prepare_cached("UPDATE idempotency SET started_at = ?4 WHERE account = ?1 AND livemode = ?2 AND key = ?3")?.execute(
                            params![scope.account, scope.livemode, key, now],
                        )?;
                        Ok(IdempotencyClaim::Execute)
                    }
                    _ => Ok(IdempotencyClaim::InFlight),
                }
            }
        }
    }

    /// Stores the response of an executed request.
    pub fn complete_idempotency_key(
        &self,
        scope: &Scope,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        self.conn.prepare_cached("UPDATE idempotency SET status = ?4, body = ?5 WHERE account = ?1 AND livemode = ?2 AND key = ?3")?.execute(
            params![scope.account, scope.livemode, key, status, body],
        )?;
        Ok(())
    }

    /// Forgets a claim whose request was rejected before it executed.
    pub fn release_idempotency_key(&self, scope: &Scope, key: &str) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM idempotency WHERE account = ?1 AND livemode = ?2 AND key = ?3 AND status IS NULL")?.execute(
            params![scope.account, scope.livemode, key],
        )?;
        Ok(())
    }
}
