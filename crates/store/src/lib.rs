//! Tessera's durable store.
//!
//! Every payments object is kept as its wire document (the JSON a merchant sees,
//! compressed: see `documents`) plus a private document for state that is never shown
//! (processor references, challenge tokens), with a few indexed columns for the lookups
//! the API makes: by id, by kind in creation order, and by one or two references (a
//! PaymentIntent's customer, an event's type). A state change and the events it causes
//! are written in one transaction ([`Store::write`]), so an acknowledged change never
//! lacks its event.
//!
//! The embedded backend is SQLite in WAL mode with `synchronous=FULL`: a commit is on
//! disk before the API answers.
#![forbid(unsafe_code)]

mod accounts;
mod documents;
mod error;
mod idempotency;
mod jobs;
mod objects;
mod risk_attempts;

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rusqlite::Connection;
use tessera_durable::{CommitFailed, Database};

pub use accounts::{ApiKeyRecord, NewApiKey};
pub use documents::{Document, Encoded};
pub use error::StoreError;
pub use idempotency::{IdempotencyClaim, KeyUse};
pub use jobs::{DueJob, Jobs};
pub use objects::{CreatedFilter, ListPage, ListQuery, NewObject, StoredObject};
pub use risk_attempts::{CountedAttempt, EncodedRiskAttempt, RiskAttempt};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS api_keys (
    hash BLOB PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    last4 TEXT NOT NULL,
    permissions TEXT,
    created INTEGER NOT NULL,
    revoked_at INTEGER
);
-- `seq` is the insertion order. Objects are never deleted (a deleted one is only marked),
-- so SQLite's next rowid, one more than the largest, keeps growing by itself. The
-- AUTOINCREMENT of earlier schemas gave the same numbers, at the cost of a read and a
-- write of `sqlite_sequence` with every insert; stores made with it keep it.
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created INTEGER NOT NULL,
    ref1 TEXT,
    ref2 TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL,
    private TEXT
);
-- Lists run newest first by `created`, then by insertion order within a second (a
-- request stamps `created` when it starts, so two concurrent ones can commit in the
-- other order). Only objects that have a reference are indexed by it (most kinds
-- leave one or both empty), so an insert writes fewer index entries. These replace
-- the indexes of earlier schemas, which ran in insertion order alone.
DROP INDEX IF EXISTS objects_by_kind;
DROP INDEX IF EXISTS objects_by_ref1;
DROP INDEX IF EXISTS objects_by_ref2;
DROP INDEX IF EXISTS objects_by_ref1_set;
DROP INDEX IF EXISTS objects_by_ref2_set;
-- One index per kind, which revision 0c97386 made in place of objects_by_kind_created
-- and its revert took back (docs/PERFORMANCE.md, sixteenth session): a store that
-- revision opened drops them, and writes no more index pages than any other.
DROP INDEX IF EXISTS objects_payment_intent_by_created;
DROP INDEX IF EXISTS objects_payment_method_by_created;
DROP INDEX IF EXISTS objects_customer_by_created;
DROP INDEX IF EXISTS objects_charge_by_created;
DROP INDEX IF EXISTS objects_refund_by_created;
DROP INDEX IF EXISTS objects_event_by_created;
DROP INDEX IF EXISTS objects_balance_transaction_by_created;
DROP INDEX IF EXISTS objects_dispute_by_created;
DROP INDEX IF EXISTS objects_review_by_created;
DROP INDEX IF EXISTS objects_webhook_endpoint_by_created;
DROP INDEX IF EXISTS objects_webhook_delivery_by_created;
DROP INDEX IF EXISTS objects_radar_rule_by_created;
DROP INDEX IF EXISTS objects_radar_value_list_by_created;
DROP INDEX IF EXISTS objects_radar_value_list_item_by_created;
DROP INDEX IF EXISTS objects_checkout_session_by_created;
CREATE INDEX IF NOT EXISTS objects_by_kind_created ON objects(account, livemode, kind, created, seq);
CREATE INDEX IF NOT EXISTS objects_by_ref1_created ON objects(account, livemode, kind, ref1, created, seq) WHERE ref1 IS NOT NULL;
CREATE INDEX IF NOT EXISTS objects_by_ref2_created ON objects(account, livemode, kind, ref2, created, seq) WHERE ref2 IS NOT NULL;
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    due_at_ms INTEGER NOT NULL,
    account TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_due ON jobs(due_at_ms, id);
CREATE TABLE IF NOT EXISTS idempotency (
    account TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    key TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    endpoint TEXT NOT NULL,
    status INTEGER,
    body TEXT,
    started_at INTEGER NOT NULL,
    resume_from TEXT,
    PRIMARY KEY (account, livemode, key)
);
-- Pruned oldest first, so the newest attempt's `seq` stays the largest, as above.
CREATE TABLE IF NOT EXISTS risk_attempts (
    seq INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    at INTEGER NOT NULL,
    charge TEXT NOT NULL,
    declined INTEGER NOT NULL,
    keys TEXT NOT NULL,
    signals TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS risk_attempts_by_time ON risk_attempts(at);
CREATE INDEX IF NOT EXISTS risk_attempts_by_account ON risk_attempts(account, livemode, at);
";

/// The account and mode every object belongs to: test and live data never mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `acct_…`
    pub account: String,
    /// Live mode (`sk_live_`) or test mode.
    pub livemode: bool,
}

/// The embedded SQLite store.
pub struct Store {
    db: Database,
    /// `<database>-serving`, locked by the process that serves the store.
    serving_lock_path: PathBuf,
    /// Once this process serves the store ([`Store::serve_alone`]).
    serving: OnceLock<Serving>,
}

/// The lock of a process that serves the store, and the name its writes go by.
struct Serving {
    _lock: File,
    instance: String,
}

/// A transaction on the store; objects, events and keys are read and written through it.
pub struct Tx<'a> {
    conn: &'a Connection,
}

/// Columns added since a table was first created, which an older store gets when it
/// opens: (table, column, its definition).
const ADDED_COLUMNS: &[AddedColumn] = &[("idempotency", "resume_from", "TEXT")];

type AddedColumn = (&'static str, &'static str, &'static str);

impl Tx<'_> {
    /// The columns of [`ADDED_COLUMNS`] this store's tables lack.
    fn missing_columns(&self) -> Result<Vec<AddedColumn>, StoreError> {
        let mut missing = Vec::new();
        for &(table, column, definition) in ADDED_COLUMNS {
            let present: bool = self.conn.query_row(
                "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
                [table, column],
                |r| r.get(0),
            )?;
            if !present {
                missing.push((table, column, definition));
            }
        }
        Ok(missing)
    }

    fn add_columns(&self, columns: &[AddedColumn]) -> Result<(), StoreError> {
        for (table, column, definition) in columns {
            self.conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {definition}"
            ))?;
        }
        Ok(())
    }
}

/// A write's failure: the caller's own error, or the store's.
enum WriteError<E> {
    Caller(E),
    Store(StoreError),
}

impl<E> From<rusqlite::Error> for WriteError<E> {
    fn from(e: rusqlite::Error) -> Self {
        WriteError::Store(e.into())
    }
}

impl<E> From<CommitFailed> for WriteError<E> {
    fn from(e: CommitFailed) -> Self {
        WriteError::Store(e.into())
    }
}

impl Store {
    /// Opens or creates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = Database::open(path, SCHEMA)
            .map_err(|e| StoreError::new(format!("{}: {e}", path.display())))?;
        let mut serving_lock_path = path.as_os_str().to_owned();
        serving_lock_path.push("-serving");
        let store = Store {
            db,
            serving_lock_path: serving_lock_path.into(),
            serving: OnceLock::new(),
        };
        // Looked for with a read: a store that has them all opens without a write.
        let in_path = |e: StoreError| StoreError::new(format!("{}: {e}", path.display()));
        let missing = store.read(|tx| tx.missing_columns()).map_err(in_path)?;
        if !missing.is_empty() {
            // Looked for again in the write: another process may have added them since.
            store
                .write(|tx| tx.add_columns(&tx.missing_columns()?))
                .map_err(in_path)?;
        }
        Ok(store)
    }

    /// Makes this process the only one serving the store, until it exits: it locks
    /// `<database>-serving` (and writes its process id there) or says which process
    /// serves the store already. The operating system drops the lock when the process
    /// ends, however it ends. A process that serves the store alone knows that every
    /// request in flight is its own, so a claim on an idempotency key that none of its
    /// requests holds was left by a process that stopped ([`KeyUse::serving_alone`]).
    /// Other processes (the command line) still read and write the store meanwhile.
    pub fn serve_alone(&self) -> Result<(), StoreError> {
        if self.serves_alone() {
            return Ok(());
        }
        let path = &self.serving_lock_path;
        let in_path = |e: std::io::Error| StoreError::new(format!("{}: {e}", path.display()));
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(in_path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = match pid.trim() {
                    "" => String::new(),
                    pid => format!(" (process {pid})"),
                };
                return Err(StoreError::new(format!(
                    "another process serves this store{pid}: {} is locked. Stop it, or give this one a data directory of its own",
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(in_path(e)),
        }
        // Rewritten only once locked: the process id is the lock holder's.
        file.set_len(0).map_err(in_path)?;
        file.rewind().map_err(in_path)?;
        let pid = std::process::id();
        writeln!(file, "{pid}").map_err(in_path)?;
        // A process id with the time it began serving: never the same for two processes.
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let _ = self.serving.set(Serving {
            _lock: file,
            instance: format!("{pid}-{since}"),
        });
        Ok(())
    }

    /// Whether this process serves the store alone ([`Store::serve_alone`]).
    pub fn serves_alone(&self) -> bool {
        self.serving.get().is_some()
    }

    /// The name of this process as the one serving the store alone, for what it marks
    /// as its own in the store (an intent's attempt under way): a mark that carries
    /// another name was left by a process that stopped. `None` if it does not serve
    /// the store.
    pub fn serving_instance(&self) -> Option<&str> {
        self.serving.get().map(|s| s.instance.as_str())
    }

    /// Runs `f` in a write transaction. It returns once `f`'s work is durably committed
    /// (concurrent writers share the commit), or rolled back if `f` or the commit failed.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.db
            .write(|conn| f(&Tx { conn }).map_err(WriteError::Caller))
            .map_err(WriteError::into_caller)
    }

    /// A unit of work: the writes of one request, acknowledged together after
    /// [`Unit::flush`] (see [`tessera_durable::Unit`]).
    pub fn unit(&self) -> Unit<'_> {
        Unit {
            inner: self.db.unit(),
        }
    }

    /// Returns once everything written so far, by any request, is committed and on
    /// disk: for answering from what a read saw, when it may not be synced yet.
    pub fn flush_all(&self) -> Result<(), StoreError> {
        Ok(self.db.flush_all()?)
    }

    /// Runs `f` on a consistent snapshot of committed data.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.db
            .read(|conn| f(&Tx { conn }).map_err(WriteError::Caller))
            .map_err(WriteError::into_caller)
    }
}

/// The writes of one request: each returns as soon as it has run (later writes see
/// it, readers only once committed); the request answers only after [`Unit::flush`].
pub struct Unit<'s> {
    inner: tessera_durable::Unit<'s>,
}

impl Unit<'_> {
    /// Runs `f` as one of the unit's writes. If it fails, its work is rolled back.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.inner
            .write(|conn| f(&Tx { conn }).map_err(WriteError::Caller))
            .map_err(WriteError::into_caller)
    }

    /// Returns once the unit's writes so far are committed: visible to reads.
    pub fn commit(&self) -> Result<(), StoreError> {
        Ok(self.inner.commit()?)
    }

    /// Returns once the unit's writes so far are committed and on disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        Ok(self.inner.flush()?)
    }
}

impl<E> WriteError<E> {
    fn into_caller(self) -> E
    where
        E: From<StoreError>,
    {
        match self {
            WriteError::Caller(e) => e,
            WriteError::Store(e) => E::from(e),
        }
    }
}

/// A store in a directory of its own, removed when the directory is dropped: keep it
/// alive as long as the store.
#[cfg(test)]
pub(crate) fn scratch_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    (dir, store)
}

/// How SQLite stores the value `sql` selects for `key` (`typeof(…)`: "text", "blob"…).
#[cfg(test)]
pub(crate) fn storage_class(store: &Store, sql: &str, key: &str) -> String {
    store
        .read(|tx| {
            tx.conn
                .query_row(sql, [key], |r| r.get::<_, String>(0))
                .map_err(StoreError::from)
        })
        .unwrap()
}
