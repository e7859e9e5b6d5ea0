//! `disk-probe`: how many fsync-durable commits per second this machine's disk takes,
//! as plain file appends with `fdatasync` and as SQLite transactions in WAL mode with
//! `synchronous=FULL` (the gateway store's settings).

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::stats::Summary;

/// Bytes the file probe's scratch file may reach before it starts over.
const MAX_FILE_BYTES: u64 = 64 << 20;
/// Size of one SQLite row payload (about one PaymentIntent as JSON).
const SQLITE_ROW_BYTES: usize = 1024;

/// What to probe.
#[derive(Debug)]
pub struct ProbeConfig {
    /// Directory for the scratch files.
    pub dir: PathBuf,
    /// Time per probe.
    pub time: Duration,
    /// Bytes per file append.
    pub block_size: usize,
    /// Also probe SQLite.
    pub sqlite: bool,
}

/// One probe's result.
#[derive(Debug)]
pub struct ProbeResult {
    /// Short name.
    pub name: &'static str,
    /// What one commit is.
    pub what: String,
    /// Commits made.
    pub commits: u64,
    /// Time taken.
    pub elapsed: Duration,
    /// Latency of one commit.
    pub latency: Summary,
}

impl ProbeResult {
    fn per_s(&self) -> f64 {
        self.commits as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Removes the scratch files when dropped, also on errors.
struct Scratch(Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

fn scratch_name(dir: &Path, ext: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    dir.join(format!(
        ".tessera-disk-probe-{}-{nanos:x}.{ext}",
        std::process::id()
    ))
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Runs the probes.
pub fn probe(config: &ProbeConfig) -> Result<Vec<ProbeResult>, String> {
    let meta = fs::metadata(&config.dir)
        .map_err(|e| format!("cannot use --dir {}: {e}", config.dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("--dir {} is not a directory", config.dir.display()));
    }
    let mut results = vec![
        probe_file(config).map_err(|e| format!("file probe in {}: {e}", config.dir.display()))?,
    ];
    if config.sqlite {
        results.push(
            probe_sqlite(config)
                .map_err(|e| format!("SQLite probe in {}: {e}", config.dir.display()))?,
        );
    }
    Ok(results)
}

fn probe_file(config: &ProbeConfig) -> std::io::Result<ProbeResult> {
    let path = scratch_name(&config.dir, "dat");
    let _scratch = Scratch(vec![path.clone()]);
    let mut file: File = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)?;
    let block: Vec<u8> = (0..config.block_size).map(|i| (i % 251) as u8).collect();
    let mut samples = Vec::new();
    let mut written = 0u64;
    let start = Instant::now();
    while start.elapsed() < config.time {
        if written + block.len() as u64 > MAX_FILE_BYTES {
            file.set_len(0)?;
            file.sync_all()?;
            written = 0;
        }
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(micros(t.elapsed()));
        written += block.len() as u64;
    }
    let elapsed = start.elapsed();
    Ok(ProbeResult {
        name: "file",
        what: format!("append {} B + fdatasync", config.block_size),
        commits: samples.len() as u64,
        elapsed,
        latency: Summary::of(samples),
    })
}

fn probe_sqlite(config: &ProbeConfig) -> rusqlite::Result<ProbeResult> {
    let path = scratch_name(&config.dir, "db");
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let mut shm = path.clone().into_os_string();
    shm.push("-shm");
    let _scratch = Scratch(vec![path.clone(), wal.into(), shm.into()]);
    let conn = rusqlite::Connection::open(&path)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode is {mode}, not wal"
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous=FULL;
         CREATE TABLE probe (id INTEGER PRIMARY KEY, body BLOB NOT NULL);",
    )?;
    let row: Vec<u8> = (0..SQLITE_ROW_BYTES).map(|i| (i % 251) as u8).collect();
    let mut insert = conn.prepare("INSERT INTO probe (body) VALUES (?1)")?;
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < config.time {
        let t = Instant::now();
        // Autocommit: one transaction, and one WAL fsync, per insert.
        insert.execute([&row])?;
        samples.push(micros(t.elapsed()));
    }
    let elapsed = start.elapsed();
    drop(insert);
    drop(conn);
    Ok(ProbeResult {
        name: "sqlite",
        what: format!("INSERT {SQLITE_ROW_BYTES} B, WAL, synchronous=FULL, 1 txn each"),
        commits: samples.len() as u64,
        elapsed,
        latency: Summary::of(samples),
    })
}

/// The results as JSON.
pub fn to_json(config: &ProbeConfig, results: &[ProbeResult]) -> String {
    let probes: Vec<_> = results
        .iter()
        .map(|r| {
            json!({
                "probe": r.name,
                "commit": r.what,
                "commits": r.commits,
                "seconds": (r.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
                "commits_per_s": (r.per_s() * 10.0).round() / 10.0,
                "p50_ms": r.latency.p50_ms,
                "p99_ms": r.latency.p99_ms,
                "max_ms": r.latency.max_ms,
                "mean_ms": (r.latency.mean_ms * 1000.0).round() / 1000.0,
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({
        "dir": config.dir.display().to_string(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "probes": probes,
    }))
    .unwrap_or_default()
}

/// The results as a table.
pub fn to_table(config: &ProbeConfig, results: &[ProbeResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "disk-probe in {} ({:.1} s per probe)\n",
        config.dir.display(),
        config.time.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "{:<7} {:<50} {:>8} {:>10} {:>8} {:>8} {:>8}",
        "probe", "one commit", "commits", "commits/s", "p50 ms", "p99 ms", "max ms"
    );
    for r in results {
        let _ = writeln!(
            out,
            "{:<7} {:<50} {:>8} {:>10.1} {:>8.3} {:>8.3} {:>8.3}",
            r.name,
            r.what,
            r.commits,
            r.per_s(),
            r.latency.p50_ms,
            r.latency.p99_ms,
            r.latency.max_ms
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let config = ProbeConfig {
            dir: dir.path().to_owned(),
            time: Duration::from_millis(200),
            block_size: 4096,
            sqlite: true,
        };
        let results = probe(&config).unwrap();
        assert_eq!(results.len(), 2);
        for r in &results {
            assert!(r.commits > 0, "{}", r.name);
            assert_eq!(r.latency.count, r.commits);
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "scratch left");
        let json: serde_json::Value = serde_json::from_str(&to_json(&config, &results)).unwrap();
        assert_eq!(json["probes"][1]["probe"], "sqlite");
        assert!(to_table(&config, &results).contains("commits/s"));
    }

    #[test]
    fn refuses_missing_dir() {
        let config = ProbeConfig {
            dir: "/nonexistent/tessera-probe".into(),
            time: Duration::from_millis(10),
            block_size: 16,
            sqlite: false,
        };
        assert!(probe(&config).is_err());
    }
}
