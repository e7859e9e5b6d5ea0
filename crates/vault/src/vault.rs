//! The vault itself: its database, tokenization and authorization.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use rusqlite::{OptionalExtension, params};
use tessera_core::card::{CardFacts, bin_facts, validate_expiry, year_month_of};
use tessera_core::ports::{
    Authorization, AuthorizationRequest, CardInput, CardVault, Decision, TokenizeError, VaultError,
};
use tessera_crypto::{MasterKey, SubKey, aead, fingerprint};
use tessera_durable::{CommitFailed, Database};
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
-- The cards still holding a CVC, by age: the CVC expiry (ERASE_UNUSED_CVCS, every
-- minute) finds them here. Without it, the expiry read every card ever stored, under
-- the vault's write lock, and each card created meanwhile waited for it (51 ms with
-- a million cards stored: the `cvc_expiry` benchmark). A card leaves the index when
-- its CVC is erased, at its authorization or by the expiry, so the index holds only
-- the CVCs of checkouts still under way.
CREATE INDEX IF NOT EXISTS cards_holding_cvc ON cards(created_at) WHERE cvc_ct IS NOT NULL;
";

/// Erases the CVCs of cards created at or before `?1` (Unix seconds).
const ERASE_UNUSED_CVCS: &str =
    "UPDATE cards SET cvc_ct = NULL WHERE cvc_ct IS NOT NULL AND created_at <= ?1";

/// The card vault.
pub struct Vault {
    db: Database,
    kek: SubKey,
    keys: RwLock<DataKeys>,
    fingerprint_key: SubKey,
    connector: Arc<dyn Connector>,
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

/// A failure inside the vault's database; its text is for logs only.
#[derive(Debug)]
struct DbError(String);

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        DbError(e.to_string())
    }
}

impl From<CommitFailed> for DbError {
    fn from(e: CommitFailed) -> DbError {
        DbError(e.to_string())
    }
}

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
        let db = Database::open(path, SCHEMA)
            .map_err(|e| VaultOpenError(format!("{}: {e}", path.display())))?;
        // Erased CVCs are overwritten on disk, not just unlinked.
        db.configure_writer("PRAGMA secure_delete=ON")
            .map_err(|e| VaultOpenError(e.to_string()))?;
        let kek = master.derive("vault/key-encryption-key");
        let keys = db
            .write(|conn| DataKeys::load(conn, &kek).map_err(DbError))
            .map_err(|e| VaultOpenError(e.0))?;
        Ok(Vault {
            db,
            kek,
            keys: RwLock::new(keys),
            fingerprint_key: master.derive("vault/card-fingerprint"),
            connector,
        })
    }

    fn keys(&self) -> RwLockReadGuard<'_, DataKeys> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a new data key: new records are encrypted under it, existing ones stay
    /// readable until [`Vault::reencrypt`] moves them.
    pub fn rotate_data_key(&self) -> Result<String, String> {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        self.db
            .write(|conn| keys.create(conn, &self.kek).map_err(DbError))
            .map_err(|e| e.0)
    }

    /// Re-encrypts every card stored under a retired data key with the active one.
    /// Returns how many records moved.
    pub fn reencrypt(&self) -> Result<usize, String> {
        let keys = self.keys();
        let (active_id, active) = keys.active();
        self.db
            .write(|conn| {
                let rows: Vec<StoredCard> = {
                    let mut stmt = conn.prepare(
                        "SELECT payment_method, account, data_key, pan_ct, cvc_ct FROM cards WHERE data_key != ?1",
                    )?;
                    stmt.query_map([active_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                        .collect::<Result<_, _>>()?
                };
                for (pm, account, key_id, pan_ct, cvc_ct) in &rows {
                    let old = keys
                        .get(key_id)
                        .ok_or_else(|| DbError(format!("data key {key_id} is missing")))?;
                    let reseal = |aad: Vec<u8>, ct: &[u8]| -> Result<Vec<u8>, DbError> {
                        let plain = Zeroizing::new(aead::open(old, &aad, ct).map_err(|e| DbError(e.to_string()))?);
                        Ok(aead::seal(active, &aad, &plain))
                    };
                    let new_pan = reseal(pan_aad(account, pm), pan_ct)?;
                    let new_cvc = cvc_ct.as_ref().map(|ct| reseal(cvc_aad(account, pm), ct)).transpose()?;
                    conn.prepare_cached("UPDATE cards SET data_key = ?1, pan_ct = ?2, cvc_ct = ?3 WHERE payment_method = ?4")?.execute(
                        params![active_id, new_pan, new_cvc, pm],
                    )?;
                }
                Ok(rows.len())
            })
            .map_err(|e: DbError| e.0)
    }

    /// Erases the CVCs of cards created more than `older_than_secs` ago that no
    /// authorization has used (a PaymentMethod created and never charged). With 0,
    /// erases every CVC still held. Returns how many were erased.
    pub fn erase_unused_cvcs(&self, older_than_secs: i64) -> Result<usize, String> {
        let cutoff = now() - older_than_secs;
        self.db
            .write(|conn| {
                conn.prepare_cached(ERASE_UNUSED_CVCS)?
                    .execute([cutoff])
                    .map_err(DbError::from)
            })
            .map_err(|e| e.0)
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
            network_risk: self.connector.network_risk(number),
        };
        let keys = self.keys();
        let (key_id, key) = keys.active();
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
        self.db
            .execute::<DbError>(
                "INSERT INTO cards (payment_method, account, data_key, pan_ct, cvc_ct, exp_month, exp_year, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![payment_method, account, key_id, pan_ct, cvc_ct, exp.0, exp.1, now()],
            )
            .map_err(|e| TokenizeError::Unavailable(e.0))?;
        Ok(facts)
    }

    /// Decrypts a stored card: its number, CVC (while held) and expiry.
    fn open_card(
        &self,
        account: &str,
        payment_method: &str,
    ) -> Result<(CardNumber, Option<Cvc>, u32, u32), VaultError> {
        // On the write connection: its pages are current, where a read connection would
        // read the card's pages again (the log changes between nearly any two reads).
        // A card is on disk before its PaymentMethod exists, and the CVC's erasure is
        // seen here as soon as it is made.
        let row = self
            .db
            .read_latest(|conn| {
                conn.prepare_cached("SELECT data_key, pan_ct, cvc_ct, exp_month, exp_year FROM cards WHERE payment_method = ?1 AND account = ?2")?.query_row(
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
            })
            .map_err(|e: rusqlite::Error| VaultError::Unavailable(e.to_string()))?
            .ok_or(VaultError::NotFound)?;
        let (key_id, pan_ct, cvc_ct, exp_month, exp_year) = row;
        let keys = self.keys();
        let key = keys
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
        let number = CardNumber::parse(&pan)
            .map_err(|_| VaultError::Unavailable("stored card number is invalid".into()))?;
        let cvc = match cvc_ct {
            Some(ct) => Cvc::parse(
                &decrypt(cvc_aad(account, payment_method), &ct)?,
                number.brand(),
            )
            .ok(),
            None => None,
        };
        Ok((number, cvc, exp_month, exp_year))
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
        let (number, cvc, exp_month, exp_year) = self.open_card(account, payment_method)?;
        let card = ChargeableCard {
            number: &number,
            cvc: cvc.as_ref(),
            exp_month,
            exp_year,
            brand: number.brand(),
        };
        let authorization = self.connector.authorize(&card, request);
        if authorization.decision != Decision::AuthenticationRequired && cvc.is_some() {
            // PCI DSS 3.3.1: no CVC is kept once an authorization has been decided. The
            // erasure is seen at once by the next authorization (`open_card` reads the
            // latest writes), is committed with the card being stored meanwhile, if
            // any, or else at once, and reaches the disk with the next flush or the
            // background checkpoint's log sync (within a fraction of a second).
            let erased = self.db.execute_carried::<DbError>(
                "UPDATE cards SET cvc_ct = NULL WHERE payment_method = ?1 AND account = ?2",
                params![payment_method, account],
            );
            // The processor has decided: its answer stands, or the payment would be
            // recorded as failed when it was authorized. The CVC expiry erases what is
            // left (`cvc_ttl_seconds`, checked every minute).
            if let Err(e) = erased {
                tracing::error!(
                    payment_method,
                    "the CVC was not erased after the authorization; the CVC expiry will erase it: {}",
                    e.0
                );
            }
        }
        Ok(authorization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cvc_expiry_seeks_the_cards_holding_a_cvc_instead_of_reading_every_card() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {ERASE_UNUSED_CVCS}"))
            .unwrap()
            .query_map([0], |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            plan,
            ["SEARCH cards USING INDEX cards_holding_cvc (created_at<?)"]
        );
    }
}
