//! Durable SQLite with group commit.
//!
//! Every acknowledged write must be on disk, but one fsync per request caps a gateway
//! at the disk's fsync rate, and an fsync made while holding the database's write lock
//! stalls every other writer for its whole duration. So:
//!
//! - Each write runs its closure inside a savepoint of one open group transaction
//!   and returns without waiting for a commit. A closure that fails rolls back its
//!   own savepoint only. A write of one statement needs no savepoint
//!   ([`Unit::execute`]): a failed statement undoes itself. The writes of one unit of
//!   work (an API request) are made through a [`Unit`], which is acknowledged only
//!   after [`Unit::flush`]. (A full disk or an I/O error can make SQLite roll back the
//!   whole transaction instead: then every unit in it fails, as when a commit fails.)
//! - A flush commits the open transaction (everything any unit wrote so far, at most
//!   [`MAX_BATCH`] writers or [`MAX_BATCH_AGE`] per transaction), which only writes
//!   its pages to the write-ahead log (`synchronous=NORMAL`); the write lock is then
//!   released and the log is synced with `fdatasync` outside it. One sync runs at a
//!   time and covers every commit finished before it started; units that flush
//!   meanwhile wait for it, and the next sync's leader commits all their writes at
//!   once. So a commit, and its pages written to the log, serve many requests' writes,
//!   and a request sleeps once, in its flush, instead of once per write.
//! - A unit returns from its flush only after a sync that started after its commit:
//!   its work is in the log on disk, exactly as with `synchronous=FULL`. (SQLite
//!   itself syncs the log before each checkpoint copies it into the database file.)
//!   A failed commit fails the flush (and any later write) of every unit in it.
//!
//! Reads ([`Database::read`]) use separate connections with their own snapshot;
//! [`Database::read_latest`] reads on the write connection, writes not yet committed
//! included.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Thread;
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
    /// Highest epoch whose commit has finished (successfully or not). Written with the
    /// write lock held; read without it.
    finished: AtomicU64,
    /// The epoch of the latest failed commit (0: none), readable without the write lock:
    /// a unit that began after it needs no look at [`Writer::failures`].
    latest_failure: AtomicU64,
    flush: Mutex<Flush>,
    /// Every commit up to this epoch is on disk ([`Flush`] holds it; read without it).
    durable: AtomicU64,
    readers: Mutex<Vec<Connection>>,
    _checkpointer: Checkpointer,
}

/// Copies the write-ahead log into the database file in the background, so the log
/// does not grow without bound.
///
/// Passive checkpoints never block writers, but under sustained load they never let
/// the log start over either: some reader always holds a snapshot inside it, and the
/// log kept growing (36 GB after ten minutes at ~450 payments/s). So when a passive
/// checkpoint finds the log longer than [`RESTART_AFTER_BYTES`], a RESTART one
/// follows at once: it takes the write lock between two group transactions, copies
/// what was written since the passive one, syncs the database file and waits for the
/// readers of old snapshots to finish (reads are short), holding new writers off
/// meanwhile, so the next commit writes the log from its beginning; and the log file
/// is cut back to a little more than that length ([`wal_size_limit`]) when that
/// happens. (The RESTART used to run on its own, copying the whole log with writers
/// held off, and twice each time.) When
/// nothing was written for a whole period and the log is all copied, a TRUNCATE
/// checkpoint gives its file back: an idle gateway's log takes no room.
///
/// A RESTART holds every writer off while it syncs the database file with all that the
/// passive checkpoints copied into it since the last one (passive ones sync it only
/// when they catch the log up, which under sustained writes they never quite do):
/// 50–100 ms once a second with a 32 MB log, 150–300 ms every five seconds with 256 MB
/// on a slow machine. How often it comes decides how many payments it catches, and so
/// the tail of the answers' latency: hence a log of a few hundred megabytes.
struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often the background checkpoint runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// The log's length (its frames' pages, in bytes) after which a checkpoint makes it
/// start over. At ~1,000 payments/s a payment's ~30 frames of 2 KB fill 256 MB in
/// about five seconds; with 32 MB (16 Ki frames of 2 KB) the RESTART came more than
/// once a second and its stalls were the slowest percent of payments (PERFORMANCE.md).
pub const RESTART_AFTER_BYTES: i64 = 256 * 1024 * 1024;

/// How long a RESTART checkpoint waits for readers before trying again later.
const RESTART_PATIENCE: Duration = Duration::from_millis(100);

/// The size the log file is cut back to when it starts over, in bytes (320 MB for
/// the gateway's databases): a little more than the length after which it starts over,
/// so a log that starts over is written over in place rather than cut and grown again
/// each time.
fn wal_size_limit(restart_after_bytes: i64) -> i64 {
    restart_after_bytes + restart_after_bytes / 4
}

impl Checkpointer {
    fn start(path: &Path, restart_after_bytes: i64) -> rusqlite::Result<Checkpointer> {
        let conn = Connection::open(path)?;
        configure(&conn)?;
        // A database made before PAGE_SIZE keeps its own page size.
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let restart_after_frames = restart_after_bytes / page_size.max(512);
        // A RESTART checkpoint holds new writers off while it waits for readers: it
        // looks again every 100 µs (read transactions are that short) and gives up
        // after RESTART_PATIENCE (trying again next time), so a write waits at most
        // about that long for it. SQLite's own busy timeout sleeps 1, 2, 5, 10… ms
        // between looks: a stall of milliseconds for every writer, every time.
        conn.busy_handler(Some(|attempts| {
            std::thread::sleep(BUSY_LOOK_EVERY);
            BUSY_LOOK_EVERY * (attempts as u32) < RESTART_PATIENCE
        }))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                // (frames in the log, frames copied into the database)
                let checkpoint = |mode: &str| {
                    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                    })
                };
                let mut frames_before = 0;
                while !stopping.load(Ordering::SeqCst) {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    // A busy or failed checkpoint is simply tried again later.
                    let Ok((frames, copied)) = checkpoint("PASSIVE") else {
                        frames_before = 0;
                        continue;
                    };
                    if frames > 0 && frames == copied && frames == frames_before {
                        // Nothing written for a whole period and all of it copied: the
                        // gateway is idle, so the log file goes back to nothing (after a
                        // burst it kept its size until the next write).
                        let _ = checkpoint("TRUNCATE");
                    } else if frames > restart_after_frames {
                        let _ = checkpoint("RESTART");
                    }
                    frames_before = frames;
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

/// The writes of one unit of work, such as an API request: each joins the open group
/// transaction and returns at once, without waiting for a commit; the unit is
/// acknowledged after [`Unit::flush`], which commits and syncs them all, sharing the
/// commit and the sync with whatever other units wrote meanwhile. A unit dropped
/// without a flush commits its writes (so no transaction is left open), but does not
/// wait for the disk.
pub struct Unit<'db> {
    db: &'db Database,
    /// The first and the latest group transaction holding the unit's writes; 0: none.
    first: AtomicU64,
    last: AtomicU64,
}

impl Unit<'_> {
    fn joined(&self, epoch: u64) {
        let _ = self
            .first
            .compare_exchange(0, epoch, Ordering::SeqCst, Ordering::SeqCst);
        self.last.store(epoch, Ordering::SeqCst);
    }

    /// Runs `f` as one of the unit's writes, inside the open group transaction, and
    /// returns as soon as `f` has run. Other writes see its work at once (they run on
    /// the same connection); readers see it once it is committed ([`Unit::commit`], or
    /// the flush). Refused if an earlier write of the unit was lost with a failed
    /// commit, so a unit never builds on work that is gone.
    pub fn write<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<rusqlite::Error> + From<CommitFailed>,
    {
        self.db.write_in(self, f)
    }

    /// Runs one statement as one of the unit's writes, like [`Unit::write`] but without
    /// a savepoint: a statement is atomic by itself (if it fails, SQLite undoes what it
    /// changed), so the two extra statements a savepoint takes, and the copies of the
    /// pages it journals, are saved. Returns how many rows the statement changed.
    pub fn execute<E>(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, E>
    where
        E: From<rusqlite::Error> + From<CommitFailed>,
    {
        self.db.execute_in(self, sql, params)
    }

    /// Returns once every write of the unit is committed: visible to readers.
    pub fn commit(&self) -> Result<(), CommitFailed> {
        self.db.commit_unit(self)
    }

    /// Returns once every write of the unit is committed and on disk.
    pub fn flush(&self) -> Result<(), CommitFailed> {
        self.db.flush_unit(self)
    }
}

impl Drop for Unit<'_> {
    fn drop(&mut self) {
        let _ = self.db.commit_unit(self);
    }
}

struct Writer {
    conn: Connection,
    /// The epoch of the open transaction, and when it began.
    open: Option<(u64, Instant)>,
    members: usize,
    last_epoch: u64,
    failures: VecDeque<(u64, String)>,
}

impl Writer {
    /// Whether every transaction holding some of `unit`'s writes committed, and if
    /// not, why. (A failure between the unit's first and last transaction counts, even
    /// if none of the unit's writes was in it: erring towards an error answer is safe.)
    fn outcome_of(&self, unit: &Unit<'_>) -> Result<(), CommitFailed> {
        let first = unit.first.load(Ordering::SeqCst);
        let last = unit.last.load(Ordering::SeqCst);
        if first == 0 {
            return Ok(());
        }
        match self
            .failures
            .iter()
            .find(|(e, _)| (first..=last).contains(e))
        {
            Some((_, why)) => Err(CommitFailed(why.clone())),
            None => Ok(()),
        }
    }
}

struct Flush {
    in_progress: bool,
    /// Units waiting for a flush to cover the epoch they name, each parked on its
    /// thread: the leader of a sync wakes exactly those it covered, and one that it did
    /// not, to lead the next. (A condition variable woke them all, and every one of
    /// them then queued for this lock just to find out whether it was done.)
    waiting: Vec<(u64, Thread)>,
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

/// Page size of a database this module creates. A commit writes every page it changed
/// whole, and a write's savepoint copies each page before changing it; most of a
/// commit's pages are index leaves (one per kind of object per index) in which a few
/// small entries changed, so smaller pages mean fewer bytes copied, logged and synced
/// for the same work. 2 KB still holds a whole document (a charge is ~1.8 KB).
/// A database created with another page size keeps it: SQLite changes the page size of
/// a database in WAL mode only by rebuilding it.
pub const PAGE_SIZE: u32 = 2048;

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // Before the first table is created, which is when a new database takes it.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    // Room for every statement the store and the vault use, so none is evicted and
    // parsed again.
    conn.set_prepared_statement_cache_capacity(128);
    // Plans that do not depend on bound values: otherwise SQLite prepares a cached
    // statement again each time a value its planner looked at is bound anew (it did,
    // for every event's webhook-endpoint lookup).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; \
         PRAGMA mmap_size=268435456; PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;",
    )?;
    conn.busy_handler(Some(wait_briefly))
}

/// How often a connection waiting for a lock looks again.
const BUSY_LOOK_EVERY: Duration = Duration::from_micros(100);

/// How long a write waits for a lock held by another connection (a checkpoint, or
/// another process such as the operator's command line) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits for a lock in short steps (see [`BUSY_LOOK_EVERY`]), at most [`BUSY_TIMEOUT`].
fn wait_briefly(attempts: i32) -> bool {
    std::thread::sleep(BUSY_LOOK_EVERY);
    BUSY_LOOK_EVERY * (attempts as u32) < BUSY_TIMEOUT
}

/// Runs a fixed statement through the statement cache (no re-parsing).
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

impl Database {
    /// Opens (or creates) the database at `path` and runs `schema` on it.
    pub fn open(path: &Path, schema: &str) -> rusqlite::Result<Database> {
        Database::open_with_log(path, schema, RESTART_AFTER_BYTES)
    }

    /// [`Database::open`], with the log made to start over after `restart_after_bytes`
    /// (and cut back to a quarter more than that) instead of [`RESTART_AFTER_BYTES`].
    fn open_with_log(
        path: &Path,
        schema: &str,
        restart_after_bytes: i64,
    ) -> rusqlite::Result<Database> {
        let wal_size_limit = wal_size_limit(restart_after_bytes);
        let conn = Connection::open(path)?;
        configure(&conn)?;
        conn.execute_batch(schema)?;
        // Commits write the log; Database flushes it (see the module documentation).
        // Checkpoints run on their own connection and thread, not inside commits.
        // The writer reads through the memory map; its page cache holds the pages a
        // transaction changes, and SQLite scans all of it at every commit, so 2 MB.
        conn.execute_batch(&format!(
            "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={wal_size_limit}; PRAGMA cache_size=-2048"
        ))?;
        let checkpointer = Checkpointer::start(path, restart_after_bytes)?;
        Ok(Database {
            path: path.to_owned(),
            writer: Mutex::new(Writer {
                conn,
                open: None,
                members: 0,
                last_epoch: 0,
                failures: VecDeque::new(),
            }),
            finished: AtomicU64::new(0),
            latest_failure: AtomicU64::new(0),
            flush: Mutex::new(Flush {
                in_progress: false,
                waiting: Vec::new(),
                wal: None,
                failed: None,
            }),
            durable: AtomicU64::new(0),
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
        let unit = self.unit();
        let value = unit.write(f)?;
        unit.flush()?;
        Ok(value)
    }

    /// [`Database::write`] for one statement: without a savepoint ([`Unit::execute`]).
    /// Returns how many rows it changed.
    pub fn execute<E>(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, E>
    where
        E: From<rusqlite::Error> + From<CommitFailed>,
    {
        let unit = self.unit();
        let changed = unit.execute::<E>(sql, params)?;
        unit.flush()?;
        Ok(changed)
    }

    /// Runs one statement ([`Unit::execute`]) as part of a group commit and returns
    /// once it is committed: visible to readers, and on disk at the next flush (the
    /// background checkpoint syncs the log too). For a write whose durability may lag
    /// its answer by a moment. Returns how many rows it changed.
    pub fn execute_unflushed<E>(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, E>
    where
        E: From<rusqlite::Error> + From<CommitFailed>,
    {
        let unit = self.unit();
        let changed = unit.execute::<E>(sql, params)?;
        unit.commit()?;
        Ok(changed)
    }

    /// Runs one statement in the open group transaction if another unit's write there
    /// will commit it, and otherwise as [`Database::execute_unflushed`]. A unit commits
    /// its writes when it flushes or is dropped, so while the open transaction holds a
    /// unit's write, a statement joining it is committed with that write (under load,
    /// within a few milliseconds) and needs no commit of its own: no pages written to
    /// the log for it alone. [`Database::read_latest`] sees it at once, snapshot
    /// readers once committed. Should that commit fail, the statement is lost with it
    /// and no caller hears of it: for a write that something else makes good (the
    /// vault's CVC erasure, which the CVC expiry repeats).
    pub fn execute_carried<E>(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, E>
    where
        E: From<rusqlite::Error> + From<CommitFailed>,
    {
        {
            let mut w = self.lock_writer();
            if let Some((epoch, _)) = w.open
                && w.members > 0
            {
                // Not a member: the members are the units that will commit it.
                let outcome = w
                    .conn
                    .prepare_cached(sql)
                    .and_then(|mut statement| statement.execute(params));
                if outcome.is_err() {
                    self.lost_if_rolled_back(&mut w, epoch);
                }
                return Ok(outcome?);
            }
        }
        self.execute_unflushed(sql, params)
    }

    /// Returns once every write made so far (by any unit, committed or in the open
    /// group transaction) is committed and on disk.
    pub fn flush_all(&self) -> Result<(), CommitFailed> {
        let epoch = self.lock_writer().last_epoch;
        if epoch == 0 {
            return Ok(());
        }
        self.flush_through(epoch)
    }

    /// A unit of work: writes acknowledged together (see [`Unit`]).
    pub fn unit(&self) -> Unit<'_> {
        Unit {
            db: self,
            first: AtomicU64::new(0),
            last: AtomicU64::new(0),
        }
    }

    /// Locks the writer for one of `unit`'s writes, with the group transaction open:
    /// the lock, the transaction's epoch and when it was opened.
    fn writer_for<E>(&self, unit: &Unit<'_>) -> Result<(MutexGuard<'_, Writer>, u64, Instant), E>
    where
        E: From<rusqlite::Error> + From<CommitFailed>,
    {
        let mut w = self.lock_writer();
        w.outcome_of(unit)?;
        if w.open.is_none() {
            run(&w.conn, "BEGIN IMMEDIATE")?;
            w.last_epoch += 1;
            w.open = Some((w.last_epoch, Instant::now()));
            w.members = 0;
        }
        let (epoch, opened) = w.open.expect("a transaction is open");
        Ok((w, epoch, opened))
    }

    /// After one of `unit`'s writes (`succeeded`: it is part of the open transaction):
    /// counts it, and commits the transaction once it is full or old enough.
    fn wrote(&self, w: &mut Writer, unit: &Unit<'_>, epoch: u64, opened: Instant, succeeded: bool) {
        if succeeded {
            w.members += 1;
            unit.joined(epoch);
        } else if self.lost_if_rolled_back(w, epoch) {
            unit.joined(epoch);
            return;
        }
        // A transaction is committed when a flush needs it, or when it is this full
        // or this old; its writers do not wait for that.
        if w.members >= MAX_BATCH || opened.elapsed() >= MAX_BATCH_AGE {
            self.commit(w, epoch);
        }
    }

    /// After a failed write in transaction `epoch`. Some errors (a full disk, an I/O
    /// error) make SQLite roll back the whole transaction, not just the statement or
    /// the savepoint: the writes of every unit in it are lost, and a write made as if
    /// it were still open would commit on its own. Then the transaction is marked lost
    /// ([`Database::lost`]); says whether it was.
    fn lost_if_rolled_back(&self, w: &mut Writer, epoch: u64) -> bool {
        if !w.conn.is_autocommit() {
            return false;
        }
        self.lost(
            w,
            epoch,
            "SQLite rolled the transaction back after a failed write".to_owned(),
        );
        true
    }

    fn execute_in<E>(
        &self,
        unit: &Unit<'_>,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<usize, E>
    where
        E: From<rusqlite::Error> + From<CommitFailed>,
    {
        let (mut w, epoch, opened) = self.writer_for::<E>(unit)?;
        let outcome = w
            .conn
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute(params));
        self.wrote(&mut w, unit, epoch, opened, outcome.is_ok());
        Ok(outcome?)
    }

    fn write_in<T, E>(
        &self,
        unit: &Unit<'_>,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<rusqlite::Error> + From<CommitFailed>,
    {
        let (mut w, epoch, opened) = self.writer_for::<E>(unit)?;
        run(&w.conn, "SAVEPOINT writer")?;
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&w.conn)));
        let succeeded = matches!(outcome, Ok(Ok(_)));
        let closed = if succeeded {
            run(&w.conn, "RELEASE writer")
        } else {
            run(&w.conn, "ROLLBACK TO writer").and_then(|()| run(&w.conn, "RELEASE writer"))
        };
        self.wrote(&mut w, unit, epoch, opened, succeeded && closed.is_ok());
        drop(w);
        let value = match outcome {
            Err(panic) => resume_unwind(panic),
            Ok(result) => result?,
        };
        closed?;
        Ok(value)
    }

    fn commit_unit(&self, unit: &Unit<'_>) -> Result<(), CommitFailed> {
        let epoch = unit.last.load(Ordering::SeqCst);
        if epoch == 0 {
            return Ok(());
        }
        if self.finished.load(Ordering::SeqCst) < epoch {
            let mut w = self.lock_writer();
            self.commit_through(&mut w, epoch);
        }
        self.outcome_of(unit)
    }

    fn flush_unit(&self, unit: &Unit<'_>) -> Result<(), CommitFailed> {
        let epoch = unit.last.load(Ordering::SeqCst);
        if epoch == 0 {
            return Ok(());
        }
        self.flush_through(epoch)?;
        self.outcome_of(unit)
    }

    /// Whether the unit's writes committed ([`Writer::outcome_of`]), once they have
    /// finished; without the write lock unless a commit failed since the unit began.
    fn outcome_of(&self, unit: &Unit<'_>) -> Result<(), CommitFailed> {
        let first = unit.first.load(Ordering::SeqCst);
        if self.latest_failure.load(Ordering::SeqCst) < first {
            return Ok(());
        }
        self.lock_writer().outcome_of(unit)
    }

    /// Commits the open transaction if `epoch` (which is it, or an earlier one) has
    /// not finished yet.
    fn commit_through(&self, w: &mut Writer, epoch: u64) {
        if self.finished.load(Ordering::SeqCst) < epoch
            && let Some((open, _)) = w.open
        {
            self.commit(w, open);
        }
    }

    fn commit(&self, w: &mut Writer, epoch: u64) {
        match run(&w.conn, "COMMIT") {
            Ok(()) => {
                w.open = None;
                self.finished.store(epoch, Ordering::SeqCst);
            }
            Err(e) => {
                let _ = run(&w.conn, "ROLLBACK");
                self.lost(w, epoch, e.to_string());
            }
        }
    }

    /// Transaction `epoch` is gone, with every write in it: each of its units is told
    /// why at its flush, and the next write opens a new one.
    fn lost(&self, w: &mut Writer, epoch: u64, why: String) {
        w.failures.push_back((epoch, why));
        if w.failures.len() > FAILURES_KEPT {
            w.failures.pop_front();
        }
        self.latest_failure.store(epoch, Ordering::SeqCst);
        w.open = None;
        self.finished.store(epoch, Ordering::SeqCst);
    }

    /// Returns once every transaction up to `epoch` has finished and the log is on
    /// disk up to the last of them that committed. Whether each commit succeeded is
    /// the caller's to check ([`Writer::outcome_of`]).
    fn flush_through(&self, epoch: u64) -> Result<(), CommitFailed> {
        loop {
            if self.durable.load(Ordering::SeqCst) >= epoch {
                return Ok(());
            }
            let mut f = self.flush.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((upto, why)) = &f.failed
                && *upto >= epoch
            {
                return Err(CommitFailed(format!("flushing the log failed: {why}")));
            }
            if self.durable.load(Ordering::SeqCst) >= epoch {
                return Ok(());
            }
            if f.in_progress {
                // The running sync's leader (or a later one) wakes this thread once a
                // sync covers `epoch`, or to lead one. A wake-up for another reason
                // just looks again.
                let me = std::thread::current();
                if !f.waiting.iter().any(|(_, t)| t.id() == me.id()) {
                    f.waiting.push((epoch, me));
                }
                drop(f);
                std::thread::park();
                continue;
            }
            // Lead a flush: commit the open transaction if it holds work to flush,
            // then sync the log, covering every commit finished so far.
            f.in_progress = true;
            let wal = f.wal.take();
            drop(f);
            let target = {
                let mut w = self.lock_writer();
                self.commit_through(&mut w, epoch);
                self.finished.load(Ordering::SeqCst)
            };
            let wal = match wal {
                Some(file) => Ok(file),
                None => File::options().append(true).open(wal_path(&self.path)),
            };
            let outcome = wal.and_then(|file| file.sync_data().map(|()| file));
            // What accumulated during the sync is committed by the next sync's leader,
            // in one commit with whatever arrives until then.
            let mut f = self.flush.lock().unwrap_or_else(|p| p.into_inner());
            f.in_progress = false;
            match outcome {
                Ok(file) => {
                    f.wal = Some(file);
                    self.durable.fetch_max(target, Ordering::SeqCst);
                }
                Err(e) => f.failed = Some((target, e.to_string())),
            }
            // First the next leader, so its commit and sync start at once; then every
            // unit this sync covered (or failed).
            if let Some(next) = f.waiting.iter().position(|(e, _)| *e > target) {
                f.waiting.swap_remove(next).1.unpark();
            }
            f.waiting.retain(|(e, t)| {
                let covered = *e <= target;
                if covered {
                    t.unpark();
                }
                !covered
            });
        }
    }

    /// Runs `f` on the write connection, between writes: it sees every write made so
    /// far, including those of the open group transaction, which are not committed
    /// yet and may not reach the disk. `f` must only read.
    ///
    /// Cheaper than [`Database::read`] for a lookup or two: a read connection finds the
    /// log changed at the start of nearly every read transaction and reads its pages
    /// again, while the write connection's pages are always current. For data whose
    /// readers never act on a write before it is flushed (the vault's cards: a
    /// PaymentMethod is stored only once its card is on disk).
    pub fn read_latest<T, E: From<rusqlite::Error>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let w = self.lock_writer();
        f(&w.conn)
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
                // No memory map for readers: SQLite drops a reader's whole mapping
                // whenever the log changed since its last read transaction, which
                // under steady writes is every one, and unmapping costs every core a
                // TLB shootdown. Pages are read into a small cache instead (the cache
                // is reset at the start of each such read transaction, so small is cheap).
                c.execute_batch("PRAGMA query_only=ON; PRAGMA mmap_size=0; PRAGMA cache_size=64")?;
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
        // The gateway's log starts over after 256 MB; this one after 32 MB, so the test
        // writes an eighth as much.
        let restart_after_bytes = 32 * 1024 * 1024;
        let db = Arc::new(
            Database::open_with_log(
                &path,
                "CREATE TABLE b (v BLOB NOT NULL)",
                restart_after_bytes,
            )
            .unwrap(),
        );
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
        // Three times the length after which the log must start over.
        let blob = vec![7u8; 256 * 1024];
        let writes = 3 * restart_after_bytes as usize / blob.len();
        // Spread over at least 15 checkpoint periods, as sustained load is: a fast disk
        // takes the whole burst in less than one, and a log that starts over only after
        // the last write is never cut back (SQLite does that at the next write).
        let pace = CHECKPOINT_EVERY * 15 / writes as u32;
        let wal = dir.path().join("t.db-wal");
        let mut largest = 0;
        for _ in 0..writes {
            std::thread::sleep(pace);
            db.write(|c| {
                c.execute("INSERT INTO b (v) VALUES (?1)", [&blob])?;
                Ok::<_, E>(())
            })
            .expect("a write succeeds while the log starts over");
            largest = largest.max(std::fs::metadata(&wal).unwrap().len() as i64);
        }
        stop.store(true, Ordering::SeqCst);
        reader.join().unwrap();
        // Looked at while the writes go on: once they stop, an idle log is truncated
        // to nothing whether or not it ever started over.
        let written = writes as i64 * blob.len() as i64;
        assert!(
            largest < written * 2 / 3,
            "the log grew to {largest} bytes while {written} bytes were written: it never started over"
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

    /// One write of the unit: a row with value `v`.
    fn insert(unit: &Unit<'_>, v: i64) {
        unit.write(|c| {
            c.execute("INSERT INTO t (v) VALUES (?1)", [v])
                .map_err(E::from)
        })
        .unwrap();
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
                        let unit = db.unit();
                        insert(&unit, 1);
                        unit.flush().unwrap();
                        let mine = unit.last.load(Ordering::SeqCst);
                        let durable = db.durable.load(Ordering::SeqCst);
                        assert!(mine >= 1 && durable >= mine);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(count(&db), 200);
        let durable = db.durable.load(Ordering::SeqCst);
        // Every transaction that finished (all committed here) is covered by a sync.
        assert_eq!(durable, db.finished.load(Ordering::SeqCst));
    }

    #[test]
    fn a_new_database_takes_the_small_page_size_and_an_old_one_keeps_its_own() {
        const SCHEMA: &str =
            "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);";
        let dir = tempfile::tempdir().unwrap();
        let page_size = |db: &Database| {
            db.read(|c| c.query_row("PRAGMA page_size", [], |r| r.get::<_, u32>(0)))
                .unwrap()
        };
        let fresh = Database::open(&dir.path().join("new.db"), SCHEMA).unwrap();
        assert_eq!(page_size(&fresh), PAGE_SIZE);

        // A store created before the page size was chosen: 4 KB pages, in WAL mode, with
        // a row in it.
        let old_path = dir.path().join("old.db");
        {
            let c = Connection::open(&old_path).unwrap();
            c.execute_batch(&format!(
                "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; {SCHEMA} INSERT INTO t (v) VALUES ('kept');"
            ))
            .unwrap();
        }
        let old = Database::open(&old_path, SCHEMA).unwrap();
        assert_eq!(page_size(&old), 4096);
        old.write(|c| {
            c.execute("INSERT INTO t (v) VALUES ('new')", [])?;
            Ok::<_, E>(())
        })
        .unwrap();
        let rows: Vec<String> = old
            .read(|c| {
                c.prepare("SELECT v FROM t ORDER BY id")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .unwrap();
        assert_eq!(rows, ["kept", "new"]);
    }

    /// The bundled SQLite is built with the options in `.cargo/config.toml`: without
    /// allocation statistics (a global mutex on every allocation) and with a page cache
    /// of its own for each connection (one shared cache has one mutex for all of them).
    #[test]
    fn sqlite_is_built_without_global_locks_on_allocations_and_page_caches() {
        let (_dir, db) = db();
        let options: Vec<String> = db
            .read(|c| {
                let mut s = c.prepare("PRAGMA compile_options")?;
                let rows = s.query_map([], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            })
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
    }

    #[test]
    fn an_idle_databases_log_is_cut_back_to_nothing() {
        let (dir, db) = db();
        let unit = db.unit();
        for v in 0..2000 {
            insert(&unit, v);
        }
        unit.flush().unwrap();
        let wal = dir.path().join("t.db-wal");
        let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(size() > 0, "the writes went to the log");
        // A period to copy the log, one to see nothing more was written, one to spare.
        let deadline = Instant::now() + CHECKPOINT_EVERY * 10;
        while size() > 0 && Instant::now() < deadline {
            std::thread::sleep(CHECKPOINT_EVERY / 4);
        }
        assert_eq!(size(), 0, "the idle log was not truncated");
        assert_eq!(count(&db), 2000);
        // Writing again starts a new log.
        let unit = db.unit();
        insert(&unit, 1);
        unit.flush().unwrap();
        assert_eq!(count(&db), 2001);
    }

    #[test]
    fn many_units_flushing_at_once_are_each_woken_once_covered() {
        // 48 threads, more than a flush's leader can cover at once: each parks until a
        // sync covers its epoch, or it is woken to lead the next. A lost wake-up hangs
        // a thread, and the test with it.
        let (_dir, db) = db();
        let db = Arc::new(db);
        let threads: Vec<_> = (0..48)
            .map(|i| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for n in 0..40 {
                        let unit = db.unit();
                        for _ in 0..=(i + n) % 3 {
                            insert(&unit, 1);
                            unit.flush().unwrap();
                            assert!(
                                db.durable.load(Ordering::SeqCst)
                                    >= unit.last.load(Ordering::SeqCst)
                            );
                        }
                    }
                })
            })
            .collect();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for t in threads {
                t.join().unwrap();
            }
            let _ = done.send(());
        });
        finished
            .recv_timeout(Duration::from_secs(120))
            .expect("every flushing unit returns");
        let expected: i64 = (0..48)
            .map(|i| (0..40).map(|n| ((i + n) % 3 + 1) as i64).sum::<i64>())
            .sum();
        assert_eq!(count(&db), expected);
    }

    #[test]
    fn a_units_writes_are_seen_by_writers_at_once_by_readers_once_committed() {
        let (_dir, db) = db();
        let unit = db.unit();
        for v in 0..3 {
            insert(&unit, v);
        }
        // Not committed yet: readers do not see the rows, other writers do.
        assert_eq!(count(&db), 0);
        let seen = db
            .unit()
            .write(|c| {
                c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                    .map_err(E::from)
            })
            .unwrap();
        assert_eq!(seen, 3);
        unit.commit().unwrap();
        assert_eq!(count(&db), 3);
        unit.flush().unwrap();
        assert!(db.durable.load(Ordering::SeqCst) >= unit.last.load(Ordering::SeqCst));
    }

    #[test]
    fn a_statement_executed_alone_fails_alone_and_counts_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(
            &dir.path().join("t.db"),
            "CREATE TABLE k (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)",
        )
        .unwrap();
        let unit = db.unit();
        let other = db.unit();
        assert_eq!(
            unit.execute::<E>("INSERT INTO k (id, v) VALUES (1, 1), (2, 2)", [])
                .unwrap(),
            2
        );
        other
            .execute::<E>("INSERT INTO k (id, v) VALUES (?1, ?2)", [3, 3])
            .unwrap();
        // Fails on its second row: its first is undone with it, and no one else's write.
        let failed = unit.execute::<E>("INSERT INTO k (id, v) VALUES (4, 4), (1, 5)", []);
        assert!(matches!(failed, Err(E::Sql(_))));
        assert_eq!(
            unit.execute::<E>("UPDATE k SET v = v + 10 WHERE id <= 2", [])
                .unwrap(),
            2
        );
        unit.flush().unwrap();
        other.flush().unwrap();
        let rows: Vec<(i64, i64)> = db
            .read(|c| {
                c.prepare("SELECT id, v FROM k ORDER BY id")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()
            })
            .unwrap();
        assert_eq!(rows, [(1, 11), (2, 12), (3, 3)]);
        // With and without a flush of its own.
        db.execute::<E>("INSERT INTO k (id, v) VALUES (5, 5)", [])
            .unwrap();
        db.execute_unflushed::<E>("DELETE FROM k WHERE id = 5", [])
            .unwrap();
        assert!(
            db.execute::<E>("INSERT INTO k (id) VALUES (6)", [])
                .is_err()
        );
        let n: i64 = db
            .read(|c| c.query_row("SELECT count(*) FROM k", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn a_transaction_sqlite_rolls_back_is_lost_for_its_units_only() {
        // A full disk makes SQLite roll back the whole transaction, savepoint or not.
        for how in ["one statement", "a savepoint", "carried"] {
            let (_dir, db) = db();
            let pages: i64 = db
                .read(|c| c.query_row("PRAGMA page_count", [], |r| r.get(0)))
                .unwrap();
            db.configure_writer(&format!("PRAGMA max_page_count={}", pages + 8))
                .unwrap();
            let before = db.unit();
            insert(&before, 1);
            let failing = db.unit();
            let big = "INSERT INTO t (v) VALUES (randomblob(300000))";
            let refused = match how {
                "one statement" => failing.execute::<E>(big, []).map(|_| ()),
                "a savepoint" => failing.write(|c| c.execute(big, []).map(|_| ()).map_err(E::from)),
                _ => db.execute_carried::<E>(big, []).map(|_| ()),
            };
            assert!(matches!(refused, Err(E::Sql(_))), "the disk is full");
            let after = db.unit();
            insert(&after, 3);
            assert!(
                before.flush().is_err(),
                "its write was rolled back with the rest"
            );
            if how != "carried" {
                assert!(failing.flush().is_err());
            }
            after.flush().unwrap();
            let values: Vec<i64> = db
                .read(|c| {
                    c.prepare("SELECT v FROM t")?
                        .query_map([], |r| r.get(0))?
                        .collect::<Result<_, _>>()
                })
                .unwrap();
            assert_eq!(values, [3], "{how}");
        }
    }

    #[test]
    fn a_carried_statement_commits_with_a_units_write_or_at_once() {
        let (_dir, db) = db();
        let latest = |db: &Database| {
            db.read_latest(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)))
                .unwrap()
        };
        // No unit's write open: committed at once.
        db.execute_carried::<E>("INSERT INTO t (v) VALUES (1)", [])
            .unwrap();
        assert_eq!(count(&db), 1);
        // Joins a unit's open write, and is committed when that unit flushes.
        let unit = db.unit();
        insert(&unit, 2);
        db.execute_carried::<E>("INSERT INTO t (v) VALUES (3)", [])
            .unwrap();
        assert_eq!((latest(&db), count(&db)), (3, 1));
        unit.flush().unwrap();
        assert_eq!(count(&db), 3);
        // …or when it is dropped without a flush.
        {
            let unit = db.unit();
            insert(&unit, 4);
            db.execute_carried::<E>("DELETE FROM t WHERE v = 1", [])
                .unwrap();
            assert_eq!(count(&db), 3);
        }
        assert_eq!(count(&db), 3);
        let values: Vec<i64> = db
            .read(|c| {
                c.prepare("SELECT v FROM t ORDER BY v")?
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()
            })
            .unwrap();
        assert_eq!(values, [2, 3, 4]);
        // A failing one changes nothing and says so.
        assert!(matches!(
            db.execute_carried::<E>("INSERT INTO t (v) VALUES (NULL)", []),
            Err(E::Sql(_))
        ));
    }

    #[test]
    fn the_latest_reads_see_writes_not_yet_committed() {
        let (_dir, db) = db();
        let unit = db.unit();
        insert(&unit, 1);
        let latest = |db: &Database| {
            db.read_latest(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)))
                .unwrap()
        };
        assert_eq!(latest(&db), 1);
        assert_eq!(count(&db), 0, "a snapshot sees only what is committed");
        unit.flush().unwrap();
        assert_eq!((latest(&db), count(&db)), (1, 1));
    }

    #[test]
    fn a_dropped_unit_leaves_no_transaction_open() {
        let (dir, db) = db();
        {
            let unit = db.unit();
            insert(&unit, 1);
        }
        assert_eq!(count(&db), 1);
        // Another process could take the write lock at once.
        let other = Connection::open(dir.path().join("t.db")).unwrap();
        other.busy_timeout(Duration::ZERO).unwrap();
        other.execute_batch("BEGIN IMMEDIATE; COMMIT").unwrap();
    }

    #[test]
    fn a_failed_commit_fails_every_unit_in_it_and_their_later_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(
            &dir.path().join("t.db"),
            "CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE c (p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        let (bad, bystander) = (db.unit(), db.unit());
        // A deferred foreign key is checked at COMMIT: this write succeeds, its commit fails.
        bad.write(|c| {
            c.execute("INSERT INTO c (p) VALUES (42)", [])
                .map_err(E::from)
        })
        .unwrap();
        bystander
            .write(|c| {
                c.execute("INSERT INTO p (id) VALUES (1)", [])
                    .map_err(E::from)
            })
            .unwrap();
        assert!(
            bystander.flush().is_err(),
            "its write shared the failed commit"
        );
        assert!(bad.flush().is_err());
        let later = bad.write(|c| {
            c.execute("INSERT INTO p (id) VALUES (2)", [])
                .map_err(E::from)
        });
        assert!(
            matches!(later, Err(E::Commit(_))),
            "a unit does not build on lost work"
        );
        let n: i64 = db
            .read(|c| {
                c.query_row(
                    "SELECT (SELECT count(*) FROM p) + (SELECT count(*) FROM c)",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(n, 0);
        // The database goes on: a new unit writes and flushes.
        let next = db.unit();
        next.write(|c| {
            c.execute("INSERT INTO p (id) VALUES (3)", [])
                .map_err(E::from)
        })
        .unwrap();
        next.flush().unwrap();
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
        let unit = db.unit();
        insert(&unit, 8);
        unit.flush().unwrap();
        assert_eq!(count(&db), 1);
    }
}
