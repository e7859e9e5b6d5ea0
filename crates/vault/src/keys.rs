//! Data-encryption keys: generated at random, stored only wrapped by the KEK, one
//! active at a time. A retired key still decrypts but never encrypts.

use std::collections::HashMap;

use rusqlite::{Connection, params};
use tessera_crypto::{SubKey, aead, random};

/// The unwrapped DEKs of the vault, by id, and which one encrypts new records.
pub(crate) struct DataKeys {
    keys: HashMap<String, SubKey>,
    active: String,
}

impl DataKeys {
    /// Loads every DEK, creating the first one on a new vault.
    pub(crate) fn load(db: &Connection, kek: &SubKey) -> Result<DataKeys, String> {
        let mut keys = HashMap::new();
        let mut active = None;
        {
            let mut stmt = db
                .prepare("SELECT id, wrapped, retired_at FROM data_keys ORDER BY created_at")
                .map_err(|e| e.to_string())?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                    ))
                })
                .map_err(|e| e.to_string())?;
            for row in rows {
                let (id, wrapped, retired) = row.map_err(|e| e.to_string())?;
                let dek = aead::unwrap_key(kek, &id, &wrapped)
                    .map_err(|_| format!("data key {id} does not unwrap: wrong master key?"))?;
                if retired.is_none() {
                    active = Some(id.clone());
                }
                keys.insert(id, dek);
            }
        }
        let mut this = DataKeys {
            keys,
            active: active.clone().unwrap_or_default(),
        };
        if active.is_none() {
            this.create(db, kek)?;
        }
        Ok(this)
    }

    /// Makes a new active DEK and retires the previous one.
    pub(crate) fn create(&mut self, db: &Connection, kek: &SubKey) -> Result<String, String> {
        let id = random::object_id("dek_");
        let dek = SubKey::from_bytes(random::bytes32());
        let wrapped = aead::wrap_key(kek, &id, &dek);
        let now = now();
        db.execute(
            "UPDATE data_keys SET retired_at = ?1 WHERE retired_at IS NULL",
            [now],
        )
        .map_err(|e| e.to_string())?;
        db.execute(
            "INSERT INTO data_keys (id, wrapped, created_at) VALUES (?1, ?2, ?3)",
            params![id, wrapped, now],
        )
        .map_err(|e| e.to_string())?;
        self.keys.insert(id.clone(), dek);
        self.active = id.clone();
        Ok(id)
    }

    /// The key that encrypts new records, with its id.
    pub(crate) fn active(&self) -> (&str, &SubKey) {
        (&self.active, &self.keys[&self.active])
    }

    /// A key by id, retired or not.
    pub(crate) fn get(&self, id: &str) -> Option<&SubKey> {
        self.keys.get(id)
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
