//! Accounts and API keys (stored only as keyed hashes).

use rusqlite::{OptionalExtension, params};

use crate::{StoreError, Tx};

/// A key to store: its hash and what it may do.
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    /// Keyed hash of the key.
    pub hash: &'a [u8],
    /// Owning account.
    pub account: &'a str,
    /// `secret`, `restricted` or `publishable`.
    pub kind: &'a str,
    /// Live or test.
    pub livemode: bool,
    /// Last four characters, to recognise it by.
    pub last4: &'a str,
    /// Restricted keys: JSON object of resource → `read` | `write`.
    pub permissions: Option<&'a str>,
    /// Unix seconds.
    pub created: i64,
}

/// A stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Owning account.
    pub account: String,
    /// `secret`, `restricted` or `publishable`.
    pub kind: String,
    /// Live or test.
    pub livemode: bool,
    /// Restricted keys' permissions as JSON.
    pub permissions: Option<String>,
    /// Whether it was revoked.
    pub revoked: bool,
}

impl Tx<'_> {
    /// Creates an account.
    pub fn create_account(&self, id: &str, created: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO accounts (id, created) VALUES (?1, ?2)")?
            .execute(params![id, created])?;
        Ok(())
    }

    /// Whether the account exists.
    pub fn account_exists(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The account's settings (a JSON object; `{}` when none were set).
    pub fn account_settings(&self, id: &str) -> Result<serde_json::Value, StoreError> {
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT settings FROM accounts WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(text
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| serde_json::json!({})))
    }

    /// Replaces the account's settings; false when there is no such account.
    pub fn set_account_settings(
        &self,
        id: &str,
        settings: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("UPDATE accounts SET settings = ?2 WHERE id = ?1")?
            .execute(params![id, settings.to_string()])?
            == 1)
    }

    /// Ids of every account, oldest first.
    pub fn account_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM accounts ORDER BY created, id")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    /// Number of accounts.
    pub fn account_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM accounts")?
            .query_row([], |r| r.get(0))?)
    }

    /// Stores a key's hash.
    pub fn insert_api_key(&self, key: &NewApiKey<'_>) -> Result<(), StoreError> {
        self.conn.prepare_cached("INSERT INTO api_keys (hash, account, kind, livemode, last4, permissions, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?.execute(
            params![key.hash, key.account, key.kind, key.livemode, key.last4, key.permissions, key.created],
        )?;
        Ok(())
    }

    /// Finds a key by its hash.
    pub fn find_api_key(&self, hash: &[u8]) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT account, kind, livemode, permissions, revoked_at IS NOT NULL FROM api_keys WHERE hash = ?1")?
            .query_row(
                [hash],
                |r| {
                    Ok(ApiKeyRecord {
                        account: r.get(0)?,
                        kind: r.get(1)?,
                        livemode: r.get(2)?,
                        permissions: r.get(3)?,
                        revoked: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Revokes a key; false when no such key exists.
    pub fn revoke_api_key(&self, hash: &[u8], at: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE api_keys SET revoked_at = ?2 WHERE hash = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![hash, at])?
            == 1)
    }
}
