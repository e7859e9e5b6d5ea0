//! The vault itself: its database, tokenization and authorization.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use tessera_core::card::{CardFacts, CardRejection, bin_facts, validate_expiry, year_month_of};
use tessera_core::ports::{
    Authorization, AuthorizationRequest, CardInput, CardVault, Decision, TokenizeError, VaultError,
};
use tessera_crypto::{MasterKey, SubKey, aead, fingerprint};
use zeroize::Zeroizing;

use crate::connector::{ChargeableCard, Connector};
use crate::keys::{DataKeys, now};
use crate::{CardNumber, Cvc};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS data_keys (
    id TEXT PRIMARY KEY,
    wrapped BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);
CREATE TABLE IF NOT EXISTS cards (
    payment_method TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    data_key TEXT NOT NULL REFERENCES data_keys(id),
    pan_ct BLOB NOT NULL,
    cvc_ct BLOB,
    exp_month INTEGER NOT NULL,
    exp_year INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
";

/// The card vault.
pub struct Vault {
    inner: Mutex<Inner>,
    fingerprint_key: SubKey,
    connector: Arc<dyn Connector>,
}

struct Inner {
    db: Connection,
    kek: SubKey,
    keys: DataKeys,
}

/// Why the vault could not open.
#[derive(Debug)]
pub struct VaultOpenError(String);

impl fmt::Display for VaultOpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the card vault could not open: {}", self.0)
    }
}

impl std::error::Error for VaultOpenError {}

/// A card row as stored: payment method, account, data key, PAN and CVC ciphertexts.
type StoredCard = (String, String, String, Vec<u8>, Option<Vec<u8>>);

fn pan_aad(account: &str, payment_method: &str) -> Vec<u8> {
    format!("tessera/pan\0{account}\0{payment_method}").into_bytes()
}

fn cvc_aad(account: &str, payment_method: &str) -> Vec<u8> {
    format!("tessera/cvc\0{account}\0{payment_method}").into_bytes()
}

impl Vault {
    /// Opens (or creates) the vault database at `path`. Keys are derived from the
    /// master key for the vault's purposes alone.
    pub fn open(
        path: &Path,
        master: &MasterKey,
        connector: Arc<dyn Connector>,
    ) -> Result<Vault, VaultOpenError> {
        let db = Connection::open(path)
            .map_err(|e| VaultOpenError(format!("{}: {e}", path.display())))?;
        // Durable commits; erased CVCs are overwritten on disk, not just unlinked.
        db.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;",
        )
        .and_then(|()| db.execute_batch(SCHEMA))
        .map_err(|e| VaultOpenError(e.to_string()))?;
        let kek = master.derive("vault/key-encryption-key");
        let keys = DataKeys::load(&db, &kek).map_err(VaultOpenError)?;
        Ok(Vault {
            inner: Mutex::new(Inner { db, kek, keys }),
            fingerprint_key: master.derive("vault/card-fingerprint"),
            connector,
        })
    }

    /// Starts a new data key: new records are encrypted under it, existing ones stay
    /// readable until [`Vault::reencrypt`] moves them.
    pub fn rotate_data_key(&self) -> Result<String, String> {
        let mut inner = self.lock();
        let Inner { db, kek, keys } = &mut *inner;
        keys.create(db, kek)
    }

    /// Re-encrypts every card stored under a retired data key with the active one.
    /// Returns how many records moved.
    pub fn reencrypt(&self) -> Result<usize, String> {
        let mut inner = self.lock();
        let Inner { db, keys, .. } = &mut *inner;
        let (active_id, active) = keys.active();
        let active_id = active_id.to_owned();
        let tx = db.transaction().map_err(|e| e.to_string())?;
        let rows: Vec<StoredCard> = {
            let mut stmt = tx
                .prepare("SELECT payment_method, account, data_key, pan_ct, cvc_ct FROM cards WHERE data_key != ?1")
                .map_err(|e| e.to_string())?;
            stmt.query_map([&active_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(|e| e.to_string())?
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?
        };
        for (pm, account, key_id, pan_ct, cvc_ct) in &rows {
            let old = keys
                .get(key_id)
                .ok_or_else(|| format!("data key {key_id} is missing"))?;
            let pan = Zeroizing::new(
                aead::open(old, &pan_aad(account, pm), pan_ct).map_err(|e| e.to_string())?,
            );
            let new_pan = aead::seal(active, &pan_aad(account, pm), &pan);
            let new_cvc = match cvc_ct {
                Some(ct) => {
                    let cvc = Zeroizing::new(
                        aead::open(old, &cvc_aad(account, pm), ct).map_err(|e| e.to_string())?,
                    );
                    Some(aead::seal(active, &cvc_aad(account, pm), &cvc))
                }
                None => None,
            };
            tx.execute(
                "UPDATE cards SET data_key = ?1, pan_ct = ?2, cvc_ct = ?3 WHERE payment_method = ?4",
                params![active_id, new_pan, new_cvc, pm],
            )
            .map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())?;
        Ok(rows.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written record: every
        // write is one SQLite statement or transaction.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn store(
        &self,
        account: &str,
        payment_method: &str,
        number: &CardNumber,
        cvc: Option<&Cvc>,
        exp: (u32, u32),
    ) -> Result<CardFacts, TokenizeError> {
        let (funding, country) = bin_facts(number.digits());
        let facts = CardFacts {
            brand: number.brand(),
            last4: number.last4().to_owned(),
            exp_month: exp.0,
            exp_year: exp.1,
            funding,
            country: country.to_owned(),
            fingerprint: fingerprint::card_fingerprint(
                &self.fingerprint_key,
                account,
                number.digits(),
            ),
            three_d_secure_supported: number.brand() != tessera_core::card::Brand::Amex,
        };
        let inner = self.lock();
        let (key_id, key) = inner.keys.active();
        let pan_ct = aead::seal(
            key,
            &pan_aad(account, payment_method),
            number.digits().as_bytes(),
        );
        let cvc_ct = cvc.map(|c| {
            aead::seal(
                key,
                &cvc_aad(account, payment_method),
                c.digits().as_bytes(),
            )
        });
        inner
            .db
            .execute(
                "INSERT INTO cards (payment_method, account, data_key, pan_ct, cvc_ct, exp_month, exp_year, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![payment_method, account, key_id, pan_ct, cvc_ct, exp.0, exp.1, now()],
            )
            .map_err(|e| TokenizeError::Unavailable(e.to_string()))?;
        Ok(facts)
    }
}

impl CardVault for Vault {
    fn tokenize(
        &self,
        account: &str,
        payment_method: &str,
        card: CardInput,
    ) -> Result<CardFacts, TokenizeError> {
        let number = CardNumber::parse(&card.number).map_err(TokenizeError::Rejected)?;
        let exp = validate_expiry(card.exp_month, card.exp_year, year_month_of(now()))
            .map_err(TokenizeError::Rejected)?;
        let cvc = match &card.cvc {
            Some(c) => Some(Cvc::parse(c, number.brand()).map_err(TokenizeError::Rejected)?),
            None => None,
        };
        self.store(account, payment_method, &number, cvc.as_ref(), exp)
    }

    fn tokenize_test_card(
        &self,
        account: &str,
        payment_method: &str,
        alias: &str,
    ) -> Option<Result<CardFacts, TokenizeError>> {
        let number = self.connector.test_card_number(alias)?;
        let number = match CardNumber::parse(number) {
            Ok(n) => n,
            Err(rejection) => return Some(Err(TokenizeError::Rejected(rejection))),
        };
        let (year, _) = year_month_of(now());
        Some(self.store(account, payment_method, &number, None, (12, year + 3)))
    }

    fn authorize(
        &self,
        account: &str,
        payment_method: &str,
        request: &AuthorizationRequest,
    ) -> Result<Authorization, VaultError> {
        let (number, cvc, exp_month, exp_year) = {
            let inner = self.lock();
            let row = inner
                .db
                .query_row(
                    "SELECT data_key, pan_ct, cvc_ct, exp_month, exp_year FROM cards WHERE payment_method = ?1 AND account = ?2",
                    params![payment_method, account],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, Vec<u8>>(1)?,
                            r.get::<_, Option<Vec<u8>>>(2)?,
                            r.get::<_, u32>(3)?,
                            r.get::<_, u32>(4)?,
                        ))
                    },
                )
                .optional()
                .map_err(|e| VaultError::Unavailable(e.to_string()))?
                .ok_or(VaultError::NotFound)?;
            let (key_id, pan_ct, cvc_ct, exp_month, exp_year) = row;
            let key = inner
                .keys
                .get(&key_id)
                .ok_or_else(|| VaultError::Unavailable(format!("data key {key_id} is missing")))?;
            let decrypt = |aad: Vec<u8>, ct: &[u8]| -> Result<Zeroizing<String>, VaultError> {
                let plain = Zeroizing::new(aead::open(key, &aad, ct).map_err(|_| {
                    VaultError::Unavailable("card record failed authentication".into())
                })?);
                std::str::from_utf8(&plain)
                    .map(|s| Zeroizing::new(s.to_owned()))
                    .map_err(|_| VaultError::Unavailable("card record is not text".into()))
            };
            let pan = decrypt(pan_aad(account, payment_method), &pan_ct)?;
            let number = CardNumber::parse(&pan).map_err(|_: CardRejection| {
                VaultError::Unavailable("stored card number is invalid".into())
            })?;
            let cvc = match cvc_ct {
                Some(ct) => {
                    let cvc = decrypt(cvc_aad(account, payment_method), &ct)?;
                    Cvc::parse(&cvc, number.brand()).ok()
                }
                None => None,
            };
            (number, cvc, exp_month, exp_year)
        };
        let card = ChargeableCard {
            number: &number,
            cvc: cvc.as_ref(),
            exp_month,
            exp_year,
            brand: number.brand(),
        };
        let authorization = self.connector.authorize(&card, request);
        if authorization.decision != Decision::AuthenticationRequired && cvc.is_some() {
            // PCI DSS 3.3.1: no CVC is kept once an authorization has been decided.
            self.lock()
                .db
                .execute(
                    "UPDATE cards SET cvc_ct = NULL WHERE payment_method = ?1 AND account = ?2",
                    params![payment_method, account],
                )
                .map_err(|e| VaultError::Unavailable(e.to_string()))?;
        }
        Ok(authorization)
    }
}
