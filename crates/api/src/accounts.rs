//! Accounts and API keys: created by the CLI and at first start, shown once.

use serde_json::{Map, Value};
use tessera_crypto::api_key::{self, KeyKind};
use tessera_crypto::{MasterKey, random};
use tessera_store::{NewApiKey, Store, StoreError};
use zeroize::Zeroizing;

use crate::app::api_key_hash_key;
use crate::pipeline::unix_now;

/// A new account's id and its first keys. The keys exist in clear only here.
pub struct NewAccount {
    /// `acct_…`
    pub id: String,
    /// `sk_test_…`
    pub secret_key: Zeroizing<String>,
    /// `pk_test_…`
    pub publishable_key: Zeroizing<String>,
}

/// Resources a restricted key can be granted.
pub const RESOURCES: &[&str] = &[
    "payment_intents",
    "payment_methods",
    "charges",
    "refunds",
    "customers",
    "events",
    "webhook_endpoints",
    "reviews",
    "radar_rules",
    "radar_value_lists",
    "checkout_sessions",
];

/// Creates a test-mode account with a secret and a publishable key.
pub fn create_account(store: &Store, master: &MasterKey) -> Result<NewAccount, KeyError> {
    let id = random::object_id("acct_");
    store.write(|tx| tx.create_account(&id, unix_now()))?;
    let secret_key = create_key(store, master, &id, KeyKind::Secret, false, None)?;
    let publishable_key = create_key(store, master, &id, KeyKind::Publishable, false, None)?;
    Ok(NewAccount {
        id,
        secret_key,
        publishable_key,
    })
}

/// Why a key could not be created.
#[derive(Debug)]
pub enum KeyError {
    /// No such account.
    NoSuchAccount(String),
    /// A permission names an unknown resource or access level.
    BadPermission(String),
    /// Storage failed.
    Store(StoreError),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::NoSuchAccount(a) => write!(f, "no account {a} in this data directory"),
            KeyError::BadPermission(p) => write!(
                f,
                "invalid permission '{p}': use RESOURCE=read|write with RESOURCE one of {}",
                RESOURCES.join(", ")
            ),
            KeyError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl From<StoreError> for KeyError {
    fn from(e: StoreError) -> KeyError {
        KeyError::Store(e)
    }
}

/// Parses `payment_intents=write` style grants into the stored JSON.
pub fn parse_permissions(grants: &[String]) -> Result<String, KeyError> {
    let mut map = Map::new();
    for g in grants {
        let (resource, access) = g
            .split_once('=')
            .ok_or_else(|| KeyError::BadPermission(g.clone()))?;
        if !RESOURCES.contains(&resource) || !["read", "write"].contains(&access) {
            return Err(KeyError::BadPermission(g.clone()));
        }
        map.insert(resource.to_owned(), Value::String(access.to_owned()));
    }
    Ok(Value::Object(map).to_string())
}

/// Creates a key for an existing account, in test or live mode; restricted keys carry
/// permissions JSON.
pub fn create_key(
    store: &Store,
    master: &MasterKey,
    account: &str,
    kind: KeyKind,
    livemode: bool,
    permissions: Option<&str>,
) -> Result<Zeroizing<String>, KeyError> {
    let key = api_key::generate(kind, livemode);
    let hash = api_key::hash(&api_key_hash_key(master), &key);
    store.write(|tx| {
        if !tx.account_exists(account)? {
            return Err(KeyError::NoSuchAccount(account.to_owned()));
        }
        tx.insert_api_key(&NewApiKey {
            hash: &hash,
            account,
            kind: kind.as_str(),
            livemode,
            last4: &key[key.len() - 4..],
            permissions: if kind == KeyKind::Restricted {
                Some(permissions.unwrap_or("{}"))
            } else {
                None
            },
            created: unix_now(),
        })?;
        Ok(())
    })?;
    Ok(key)
}

/// Revokes a key; false when Tessera does not know it.
pub fn revoke_key(store: &Store, master: &MasterKey, key: &str) -> Result<bool, StoreError> {
    let hash = api_key::hash(&api_key_hash_key(master), key);
    store.write(|tx| tx.revoke_api_key(&hash, unix_now()))
}
