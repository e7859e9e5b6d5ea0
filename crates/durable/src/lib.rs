//! Durable SQLite with group commit.
//!
//! Every acknowledged write must be on disk (`synchronous=FULL`), but one fsync per
//! request caps a gateway at the disk's fsync rate. [`Database::write`] lets concurrent
//! writers share one: each writer runs its closure inside a savepoint of the one open
//! transaction, and the last writer in line commits for everyone (at most
//! [`MAX_BATCH`] writers per commit). A writer returns only after the commit that holds
//! its work has reached the disk, so durability per call is unchanged. A closure that
//! fails rolls back its own savepoint only.
//!
//! Reads ([`Database::read`]) use separate connections with their own snapshot, so they
//! never see work that is not yet committed.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// Most writers whose work one commit carries.
pub const MAX_BATCH: usize = 128;

/// Longest a transaction stays open waiting for more writers.
const MAX_BATCH_AGE: Duration = Duration::from_millis(4);

/// How many failed commits are remembered for their waiting writers.
const FAILURES_KEPT: usize = 64;

/// A database file opened for group-committed writes and snapshot reads.
pub struct Database {
    path: PathBuf,
    writer: Mutex<Writer>,
    committed: Condvar,
    queued: AtomicUsize,
    readers: Mutex<Vec<Connection>>,
}

struct Writer {
    conn: Connection,
    /// The epoch of the open transaction, and when it began.
    open: Option<(u64, Instant)>,
    members: usize,
    last_epoch: u64,
    /// Highest epoch whose commit has finished (successfully or not).
    finished: u64,
    failures: VecDeque<(u64, String)>,
}

/// A commit failed: the work of every writer in it is lost and each gets this error.
#[derive(Debug)]
pub struct CommitFailed(pub String);

impl std::fmt::Display for CommitFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "commit failed: {}", self.0)
    }
}

impl std::error::Error for CommitFailed {}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;",
    )
}

impl Database {
    /// Opens (or creates) the database at `path` and runs `schema` on it.
    pub fn open(path: &Path, schema: &str) -> rusqlite::Result<Database> {
        let conn = Connection::open(path)?;
        configure(&conn)?;
        conn.execute_batch(schema)?;
        Ok(Database {
            path: path.to_owned(),
            writer: Mutex::new(Writer {
                conn,
                open: None,
                members: 0,
                last_epoch: 0,
                finished: 0,
                failures: VecDeque::new(),
            }),
            committed: Condvar::new(),
            queued: AtomicUsize::new(0),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Runs extra statements on the write connection outside any transaction
    /// (pragmas such as `secure_delete`).
    pub fn configure_writer(&self, sql: &str) -> rusqlite::Result<()> {
        self.lock_writer().conn.execute_batch(sql)
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        // The writer state stays consistent across a panicking closure: its savepoint
        // is rolled back before the panic continues.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` as part of a group commit and returns once its work is durable (or
    /// rolled back, if `f` failed or the commit failed).
    pub fn write<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<rusqlite::Error> + From<CommitFailed>,
    {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut w = self.lock_writer();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        if w.open.is_none() {
            w.conn.execute_batch("BEGIN IMMEDIATE")?;
            w.last_epoch += 1;
            w.open = Some((w.last_epoch, Instant::now()));
            w.members = 0;
        }
        let (epoch, opened) = w.open.expect("a transaction is open");
        w.conn.execute_batch("SAVEPOINT writer")?;
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&w.conn)));
        let succeeded = matches!(outcome, Ok(Ok(_)));
        let closed = if succeeded {
            w.conn.execute_batch("RELEASE writer")
        } else {
            w.conn.execute_batch("ROLLBACK TO writer; RELEASE writer")
        };
        if succeeded {
            w.members += 1;
        }
        // Commit now unless another writer is about to join and will commit for us.
        let alone = self.queued.load(Ordering::SeqCst) == 0;
        let must_commit = alone || w.members >= MAX_BATCH || opened.elapsed() >= MAX_BATCH_AGE;
        if must_commit {
            self.commit(&mut w, epoch);
        }
        let result = match outcome {
            Err(panic) => {
                drop(w);
                resume_unwind(panic)
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(value)) => value,
        };
        closed?;
        while w.finished < epoch {
            w = self.committed.wait(w).unwrap_or_else(|p| p.into_inner());
        }
        if let Some((_, why)) = w.failures.iter().find(|(e, _)| *e == epoch) {
            return Err(CommitFailed(why.clone()).into());
        }
        Ok(result)
    }

    fn commit(&self, w: &mut Writer, epoch: u64) {
        if let Err(e) = w.conn.execute_batch("COMMIT") {
            let _ = w.conn.execute_batch("ROLLBACK");
            w.failures.push_back((epoch, e.to_string()));
            if w.failures.len() > FAILURES_KEPT {
                w.failures.pop_front();
            }
        }
        w.open = None;
        w.finished = epoch;
        self.committed.notify_all();
    }

    /// Runs `f` on a read-only snapshot of committed data.
    pub fn read<T, E: From<rusqlite::Error>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                configure(&c)?;
                c.execute_batch("PRAGMA query_only=ON")?;
                c
            }
        };
        conn.execute_batch("BEGIN DEFERRED")?;
        let result = f(&conn);
        let ended = conn.execute_batch("COMMIT");
        if ended.is_ok() {
            self.readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
        let value = result?;
        ended?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Debug)]
    enum E {
        Sql(#[allow(dead_code)] rusqlite::Error),
        Commit(#[allow(dead_code)] CommitFailed),
        Refused,
    }
    impl From<rusqlite::Error> for E {
        fn from(e: rusqlite::Error) -> E {
            E::Sql(e)
        }
    }
    impl From<CommitFailed> for E {
        fn from(e: CommitFailed) -> E {
            E::Commit(e)
        }
    }

    fn db() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(
            &dir.path().join("t.db"),
            "CREATE TABLE t (v INTEGER NOT NULL)",
        )
        .unwrap();
        (dir, db)
    }

    fn count(db: &Database) -> i64 {
        db.read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)))
            .unwrap()
    }

    #[test]
    fn concurrent_writers_all_commit_and_failures_roll_back_alone() {
        let (_dir, db) = db();
        let db = Arc::new(db);
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let r = db.write(|c| {
                            c.execute("INSERT INTO t (v) VALUES (?1)", [t * 100 + i])?;
                            if i % 10 == 9 { Err(E::Refused) } else { Ok(()) }
                        });
                        assert_eq!(r.is_ok(), i % 10 != 9);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(count(&db), 16 * 45);
    }

    #[test]
    fn a_write_is_visible_to_readers_once_it_returns() {
        let (dir, db) = db();
        db.write(|c| {
            c.execute("INSERT INTO t (v) VALUES (1)", [])
                .map_err(E::from)
        })
        .unwrap();
        assert_eq!(count(&db), 1);
        // And it is on disk: another connection sees it.
        let other = Connection::open(dir.path().join("t.db")).unwrap();
        let n: i64 = other
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_panicking_writer_leaves_the_database_usable() {
        let (_dir, db) = db();
        let db = Arc::new(db);
        let d = db.clone();
        let joined = std::thread::spawn(move || {
            let _ = d.write(|c| -> Result<(), E> {
                c.execute("INSERT INTO t (v) VALUES (7)", [])?;
                panic!("boom")
            });
        })
        .join();
        assert!(joined.is_err());
        db.write(|c| {
            c.execute("INSERT INTO t (v) VALUES (8)", [])
                .map_err(E::from)
        })
        .unwrap();
        assert_eq!(count(&db), 1);
    }
}
