//! Durable SQLite with group commit.
//!
//! Every acknowledged write must be on disk, but one fsync per request caps a gateway
//! at the disk's fsync rate, and an fsync made while holding the database's write lock
//! stalls every other writer for its whole duration. So:
//!
//! - [`Database::write`] runs each writer's closure inside a savepoint of one open
//!   transaction; the last writer in line commits for everyone in it (at most
//!   [`MAX_BATCH`] writers or [`MAX_BATCH_AGE`] per transaction). A closure that fails
//!   rolls back its own savepoint only.
//! - The commit itself only writes the transaction's pages to the write-ahead log
//!   (`synchronous=NORMAL`); the write lock is then released, and the log is flushed
//!   to disk with `fdatasync` outside the lock. One flush runs at a time and covers
//!   every commit finished before it started, so a burst of commits shares a flush.
//! - A writer returns only after a flush that started after its commit has completed:
//!   its work is in the log on disk, exactly as with `synchronous=FULL`. (SQLite
//!   itself syncs the log before each checkpoint copies it into the database file.)
//!
//! Reads ([`Database::read`]) use separate connections with their own snapshot.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// Most writers whose work one transaction carries.
pub const MAX_BATCH: usize = 128;

/// Longest a transaction stays open waiting for more writers.
pub const MAX_BATCH_AGE: Duration = Duration::from_millis(4);

/// How many failed commits are remembered for their waiting writers.
const FAILURES_KEPT: usize = 64;

/// A database file opened for group-committed writes and snapshot reads.
pub struct Database {
    path: PathBuf,
    writer: Mutex<Writer>,
    committed: Condvar,
    queued: AtomicUsize,
    /// A flush of the log is running: writers arriving meanwhile join the open
    /// transaction, which the flush's leader commits when it is done.
    flushing: std::sync::atomic::AtomicBool,
    /// Highest epoch whose COMMIT has completed (not necessarily flushed).
    last_committed: AtomicU64,
    flush: Mutex<Flush>,
    flushed: Condvar,
    readers: Mutex<Vec<Connection>>,
    _checkpointer: Checkpointer,
}

/// Copies the write-ahead log into the database file in the background, so the log
/// does not grow without bound.
///
/// Passive checkpoints never block writers, but under sustained load they never let
/// the log start over either: some reader always holds a snapshot inside it, and the
/// log kept growing (36 GB after ten minutes at ~450 payments/s). So when the log
/// holds more than [`RESTART_AFTER_FRAMES`] frames, the checkpoint is a RESTART one:
/// it waits for the readers of old snapshots to finish (reads are short) and holds off
/// new writers meanwhile, so the next commit writes the log from its beginning; and the
/// log file is cut back to [`WAL_SIZE_LIMIT`] when that happens.
struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often the background checkpoint runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Log frames (pages) after which a checkpoint makes the log start over.
pub const RESTART_AFTER_FRAMES: i64 = 16 * 1024;

/// How long a RESTART checkpoint waits for readers before trying again later.
const RESTART_PATIENCE: Duration = Duration::from_millis(100);

/// The size the log file is cut back to when it starts over, in bytes.
pub const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

impl Checkpointer {
    fn start(path: &Path) -> rusqlite::Result<Checkpointer> {
        let conn = Connection::open(path)?;
        configure(&conn)?;
        // A RESTART checkpoint holds new writers off while it waits for readers: it
        // gives up after this long (and tries again next time), so a write waits at
        // most about this long for it, far below the writers' own busy timeout.
        conn.busy_timeout(RESTART_PATIENCE)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut log_frames = 0i64;
                while !stopping.load(Ordering::SeqCst) {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    let sql = if log_frames > RESTART_AFTER_FRAMES {
                        "PRAGMA wal_checkpoint(RESTART)"
                    } else {
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    };
                    // A busy or failed checkpoint is simply tried again later.
                    if let Ok(frames) = conn.query_row(sql, [], |r| r.get::<_, i64>(1)) {
                        log_frames = frames;
                    }
                }
            })
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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

struct Flush {
    /// Every commit up to this epoch is on disk.
    durable: u64,
    in_progress: bool,
    /// The write-ahead log, opened on the first flush.
    wal: Option<File>,
    /// A flush that failed: commits up to this epoch may not be on disk.
    failed: Option<(u64, String)>,
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
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000; \
         PRAGMA mmap_size=268435456; PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;",
    )
}

/// Runs a fixed statement through the statement cache (no re-parsing).
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

impl Database {
    /// Opens (or creates) the database at `path` and runs `schema` on it.
    pub fn open(path: &Path, schema: &str) -> rusqlite::Result<Database> {
        let conn = Connection::open(path)?;
        configure(&conn)?;
        conn.execute_batch(schema)?;
        // Commits write the log; Database flushes it (see the module documentation).
        // Checkpoints run on their own connection and thread, not inside commits.
        conn.execute_batch(&format!(
            "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={WAL_SIZE_LIMIT}"
        ))?;
        let checkpointer = Checkpointer::start(path)?;
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
            flushing: std::sync::atomic::AtomicBool::new(false),
            last_committed: AtomicU64::new(0),
            flush: Mutex::new(Flush {
                durable: 0,
                in_progress: false,
                wal: None,
                failed: None,
            }),
            flushed: Condvar::new(),
            readers: Mutex::new(Vec::new()),
            _checkpointer: checkpointer,
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
        let (value, epoch) = self.commit_write(f)?;
        self.flush_through(epoch)?;
        Ok(value)
    }

    /// Runs `f` as part of a group commit and returns once it is committed: visible to
    /// readers, and durable at the next [`Database::flush`] (or any later durable
    /// write). For a unit of work made of several writes that must all be on disk
    /// before it is acknowledged: write each with this, then flush once.
    pub fn write_unflushed<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<rusqlite::Error> + From<CommitFailed>,
    {
        self.commit_write(f).map(|(value, _)| value)
    }

    /// Returns once every write committed so far is on disk.
    pub fn flush(&self) -> Result<(), CommitFailed> {
        self.flush_through(self.last_committed.load(Ordering::SeqCst))
    }

    fn commit_write<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<(T, u64), E>
    where
        E: From<rusqlite::Error> + From<CommitFailed>,
    {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut w = self.lock_writer();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        if w.open.is_none() {
            run(&w.conn, "BEGIN IMMEDIATE")?;
            w.last_epoch += 1;
            w.open = Some((w.last_epoch, Instant::now()));
            w.members = 0;
        }
        let (epoch, opened) = w.open.expect("a transaction is open");
        run(&w.conn, "SAVEPOINT writer")?;
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&w.conn)));
        let succeeded = matches!(outcome, Ok(Ok(_)));
        let closed = if succeeded {
            run(&w.conn, "RELEASE writer")
        } else {
            run(&w.conn, "ROLLBACK TO writer").and_then(|()| run(&w.conn, "RELEASE writer"))
        };
        if succeeded {
            w.members += 1;
        }
        // Commit now if the disk is idle and nobody is about to join; otherwise leave
        // the transaction open for the next writer or the running flush's leader.
        let idle = !self.flushing.load(Ordering::SeqCst) && self.queued.load(Ordering::SeqCst) == 0;
        if idle || w.members >= MAX_BATCH || opened.elapsed() >= MAX_BATCH_AGE {
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
            let (guard, waited) = self
                .committed
                .wait_timeout(w, MAX_BATCH_AGE)
                .unwrap_or_else(|p| p.into_inner());
            w = guard;
            // Nobody committed our transaction in time: do it ourselves.
            if waited.timed_out() && w.finished < epoch && w.open.is_some_and(|(e, _)| e == epoch) {
                self.commit(&mut w, epoch);
            }
        }
        if let Some((_, why)) = w.failures.iter().find(|(e, _)| *e == epoch) {
            return Err(CommitFailed(why.clone()).into());
        }
        Ok((result, epoch))
    }

    fn commit(&self, w: &mut Writer, epoch: u64) {
        match run(&w.conn, "COMMIT") {
            Ok(()) => self.last_committed.store(epoch, Ordering::SeqCst),
            Err(e) => {
                let _ = run(&w.conn, "ROLLBACK");
                w.failures.push_back((epoch, e.to_string()));
                if w.failures.len() > FAILURES_KEPT {
                    w.failures.pop_front();
                }
            }
        }
        w.open = None;
        w.finished = epoch;
        self.committed.notify_all();
    }

    /// Returns once the write-ahead log is on disk up to `epoch`'s commit.
    fn flush_through(&self, epoch: u64) -> Result<(), CommitFailed> {
        if epoch == 0 {
            return Ok(());
        }
        let mut f = self.flush.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some((upto, why)) = &f.failed
                && *upto >= epoch
            {
                return Err(CommitFailed(format!("flushing the log failed: {why}")));
            }
            if f.durable >= epoch {
                return Ok(());
            }
            if f.in_progress {
                f = self.flushed.wait(f).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Lead a flush covering every commit finished so far.
            f.in_progress = true;
            self.flushing.store(true, Ordering::SeqCst);
            let target = self.last_committed.load(Ordering::SeqCst);
            let wal = match f.wal.take() {
                Some(file) => Ok(file),
                None => File::options().append(true).open(wal_path(&self.path)),
            };
            drop(f);
            let outcome = wal.and_then(|file| file.sync_data().map(|()| file));
            // What accumulated during the flush is committed now, by its leader, so its
            // writers can lead the next flush.
            self.flushing.store(false, Ordering::SeqCst);
            {
                let mut w = self.lock_writer();
                if let Some((open_epoch, _)) = w.open
                    && w.members > 0
                {
                    self.commit(&mut w, open_epoch);
                }
            }
            f = self.flush.lock().unwrap_or_else(|p| p.into_inner());
            f.in_progress = false;
            match outcome {
                Ok(file) => {
                    f.wal = Some(file);
                    f.durable = f.durable.max(target);
                }
                Err(e) => f.failed = Some((target, e.to_string())),
            }
            self.flushed.notify_all();
        }
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
                // Reads come through the memory map; a small page cache keeps the
                // cache reset at the start of each read transaction cheap.
                c.execute_batch("PRAGMA query_only=ON; PRAGMA cache_size=64")?;
                c
            }
        };
        run(&conn, "BEGIN DEFERRED")?;
        let result = f(&conn);
        let ended = run(&conn, "COMMIT");
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

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
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

    #[test]
    fn the_log_starts_over_under_sustained_reads_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Arc::new(Database::open(&path, "CREATE TABLE b (v BLOB NOT NULL)").unwrap());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // A reader that always holds some snapshot, as request threads do under load.
        let reader = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let _: Result<i64, rusqlite::Error> = db.read(|c| {
                        let n = c.query_row("SELECT count(*) FROM b", [], |r| r.get(0))?;
                        std::thread::sleep(Duration::from_millis(2));
                        Ok(n)
                    });
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        // Three times the frames after which the log must start over.
        let blob = vec![7u8; 256 * 1024];
        let writes = 3 * RESTART_AFTER_FRAMES as usize * 4096 / blob.len();
        for _ in 0..writes {
            db.write(|c| {
                c.execute("INSERT INTO b (v) VALUES (?1)", [&blob])?;
                Ok::<_, E>(())
            })
            .expect("a write succeeds while the log starts over");
        }
        std::thread::sleep(CHECKPOINT_EVERY * 10);
        stop.store(true, Ordering::SeqCst);
        reader.join().unwrap();
        let wal = std::fs::metadata(dir.path().join("t.db-wal"))
            .unwrap()
            .len() as i64;
        let written = writes as i64 * blob.len() as i64;
        assert!(
            wal < written / 2,
            "the log holds {wal} bytes after {written} bytes were written: it never started over"
        );
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
    fn every_acknowledged_write_is_covered_by_a_flush() {
        let (_dir, db) = db();
        let db = Arc::new(db);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        db.write(|c| {
                            c.execute("INSERT INTO t (v) VALUES (1)", [])
                                .map_err(E::from)
                        })
                        .unwrap();
                        let committed = db.last_committed.load(Ordering::SeqCst);
                        let durable = db.flush.lock().unwrap().durable;
                        assert!(durable >= 1 && durable <= committed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let durable = db.flush.lock().unwrap().durable;
        assert_eq!(durable, db.last_committed.load(Ordering::SeqCst));
    }

    #[test]
    fn unflushed_writes_are_visible_and_a_flush_makes_them_durable() {
        let (_dir, db) = db();
        for v in 0..3 {
            db.write_unflushed(|c| {
                c.execute("INSERT INTO t (v) VALUES (?1)", [v])
                    .map_err(E::from)
            })
            .unwrap();
        }
        assert_eq!(count(&db), 3);
        db.flush().unwrap();
        assert_eq!(
            db.flush.lock().unwrap().durable,
            db.last_committed.load(Ordering::SeqCst)
        );
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
