//! Running a workload: client tasks, warm-up, the duration or count bound, progress, and
//! gathering the numbers into a [`Report`].

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::time::timeout_at;

use crate::http::Client;
use crate::server_cpu::{self, ServerCpu};
use crate::stats::Summary;
use crate::target::{Connector, Target, parse_base_url};
use crate::workload::{FlowOutcome, FlowShared, Keys, Workload, check_keys, run_flow};

/// The most client tasks one run may have.
pub const MAX_CONCURRENCY: usize = 4096;
/// PaymentIntents the `read` workload creates before it starts.
const READ_FIXTURES: usize = 20;

/// Command-line values before checking.
pub struct RawRunArgs {
    /// `--base-url`.
    pub base_url: String,
    /// `--secret-key`.
    pub secret_key: String,
    /// `--publishable-key`.
    pub publishable_key: Option<String>,
    /// `--workload`.
    pub workload: Workload,
    /// `--concurrency`.
    pub concurrency: usize,
    /// `--duration`.
    pub duration: Option<Duration>,
    /// `--count`.
    pub count: Option<u64>,
    /// `--warmup`.
    pub warmup: Duration,
    /// `--interval`.
    pub interval: Duration,
    /// `--timeout`.
    pub timeout: Duration,
    /// `--threads`.
    pub threads: usize,
    /// `--quiet`.
    pub quiet: bool,
    /// `--ca-cert`.
    pub ca_cert: Option<PathBuf>,
    /// `--server-pid`.
    pub server_pid: Option<u32>,
}

/// How the measured part of a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// After this long.
    Duration(Duration),
    /// After this many flows.
    Count(u64),
}

/// A checked run configuration.
#[derive(Debug)]
pub struct RunConfig {
    /// Where to.
    pub target: Target,
    /// Keys.
    pub keys: Keys,
    /// What.
    pub workload: Workload,
    /// Client tasks.
    pub concurrency: usize,
    /// When to stop.
    pub bound: Bound,
    /// Unmeasured lead-in.
    pub warmup: Duration,
    /// Throughput series step.
    pub interval: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Runtime threads.
    pub threads: usize,
    /// No progress line.
    pub quiet: bool,
    /// The server process whose CPU time is measured.
    pub server_pid: Option<u32>,
}

impl RunConfig {
    /// Checks the command line: loopback-only target, test keys, sane numbers.
    pub fn from_args(a: RawRunArgs) -> Result<RunConfig, String> {
        let target = parse_base_url(&a.base_url, a.ca_cert.as_ref())?;
        let keys = check_keys(a.workload, a.secret_key, a.publishable_key)?;
        if a.concurrency == 0 || a.concurrency > MAX_CONCURRENCY {
            return Err(format!(
                "--concurrency must be between 1 and {MAX_CONCURRENCY}"
            ));
        }
        let bound = match (a.duration, a.count) {
            (Some(_), Some(_)) => return Err("give --duration or --count, not both".into()),
            (_, Some(0)) => return Err("--count must be at least 1".into()),
            (_, Some(n)) => Bound::Count(n),
            (Some(d), None) if d.is_zero() => return Err("--duration must be more than 0".into()),
            (Some(d), None) => Bound::Duration(d),
            (None, None) => Bound::Duration(Duration::from_secs(30)),
        };
        if a.interval < Duration::from_millis(100) {
            return Err("--interval must be at least 100ms".into());
        }
        if a.timeout.is_zero() {
            return Err("--timeout must be more than 0".into());
        }
        if a.threads == 0 || a.threads > 64 {
            return Err("--threads must be between 1 and 64".into());
        }
        if let Some(pid) = a.server_pid {
            server_cpu::sample(pid)?;
        }
        Ok(RunConfig {
            target,
            keys,
            workload: a.workload,
            concurrency: a.concurrency,
            bound,
            warmup: a.warmup,
            interval: a.interval,
            timeout: a.timeout,
            threads: a.threads,
            quiet: a.quiet,
            server_pid: a.server_pid,
        })
    }
}

/// Errors of one request kind and label.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorCount {
    /// Request kind.
    pub request: String,
    /// HTTP status, `connection`, `timeout`, or a check that failed (`status_…`).
    pub error: String,
    /// How many.
    pub count: u64,
}

/// One step of the throughput series.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalPoint {
    /// Start, seconds after measurement began.
    pub start_s: f64,
    /// End (the last step may be shorter).
    pub end_s: f64,
    /// Flows completed in it.
    pub flows: u64,
}

/// The result of a run.
#[derive(Debug)]
pub struct Report {
    /// Workload name.
    pub workload: &'static str,
    /// Base URL.
    pub base_url: String,
    /// Client tasks.
    pub concurrency: usize,
    /// Runtime threads.
    pub threads: usize,
    /// The bound.
    pub bound: Bound,
    /// Warm-up.
    pub warmup: Duration,
    /// Measured time.
    pub measured: Duration,
    /// Flows that completed without error.
    pub flows_completed: u64,
    /// Flows that ended in an error.
    pub flows_failed: u64,
    /// Successful requests.
    pub requests_ok: u64,
    /// Failed requests (error statuses, connection errors, failed checks).
    pub requests_failed: u64,
    /// Latency per request kind, in flow order.
    pub latency: Vec<(String, Summary)>,
    /// Errors while measuring.
    pub errors: Vec<ErrorCount>,
    /// Errors during warm-up (not in the numbers above).
    pub warmup_errors: u64,
    /// Series step.
    pub interval: Duration,
    /// Throughput series.
    pub series: Vec<IntervalPoint>,
    /// The server's CPU time in the measured window (`--server-pid`).
    pub server_cpu: Option<ServerCpu>,
}

/// Live counters for the progress line.
#[derive(Default)]
struct Live {
    flows: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
}

struct Shared {
    flow: FlowShared,
    connector: Arc<Connector>,
    host: String,
    timeout: Duration,
    measure_from: Instant,
    deadline: Option<Instant>,
    count: Option<u64>,
    tickets: AtomicU64,
    interval: Duration,
    live: Live,
}

/// What one client task measured.
struct TaskStats {
    samples: Vec<Vec<u32>>,
    errors: BTreeMap<(usize, String), u64>,
    flows_ok: u64,
    flows_failed: u64,
    warmup_errors: u64,
    buckets: Vec<u64>,
    last_done: Option<Instant>,
}

impl TaskStats {
    fn new(kinds: usize) -> Self {
        TaskStats {
            samples: vec![Vec::new(); kinds],
            errors: BTreeMap::new(),
            flows_ok: 0,
            flows_failed: 0,
            warmup_errors: 0,
            buckets: Vec::new(),
            last_done: None,
        }
    }

    fn commit(&mut self, outcome: FlowOutcome, done: Instant, shared: &Shared) {
        let requests = outcome.samples.len() as u64 + u64::from(outcome.error.is_some());
        for (kind, micros) in outcome.samples {
            self.samples[kind].push(micros);
        }
        match outcome.error {
            Some(key) => {
                *self.errors.entry(key).or_default() += 1;
                self.flows_failed += 1;
                shared.live.errors.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.flows_ok += 1;
                let since = done.saturating_duration_since(shared.measure_from);
                let bucket = (since.as_nanos() / shared.interval.as_nanos()) as usize;
                if self.buckets.len() <= bucket {
                    self.buckets.resize(bucket + 1, 0);
                }
                self.buckets[bucket] += 1;
                shared.live.flows.fetch_add(1, Ordering::Relaxed);
            }
        }
        shared.live.requests.fetch_add(requests, Ordering::Relaxed);
        self.last_done = Some(self.last_done.map_or(done, |d| d.max(done)));
    }
}

/// Runs the configured load and gathers the report.
pub fn run(config: RunConfig) -> Result<Report, String> {
    let runtime = if config.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(run_async(config))
}

fn idempotency_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("loadgen-{:x}-{:x}", std::process::id(), nanos)
}

fn card_expiry_year() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    1970 + (secs / 31_556_952) as u32 + 4
}

async fn run_async(config: RunConfig) -> Result<Report, String> {
    let connector = Arc::new(Connector::new(&config.target)?);
    let mut flow = FlowShared::new(
        config.workload,
        config.keys.clone(),
        card_expiry_year(),
        idempotency_prefix(),
    );
    // One connection and one request check the gateway, TLS and the secret key before
    // any load starts.
    connector
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", config.target.base_url))?;
    let mut probe = Client::new(
        connector.clone(),
        &config.target.host_header,
        config.timeout,
    );
    crate::workload::preflight(&mut probe, &flow)
        .await
        .map_err(|e| format!("{e} (gateway {})", config.target.base_url))?;
    if config.workload == Workload::Read {
        flow.read_ids = crate::workload::create_read_fixtures(&mut probe, &flow, READ_FIXTURES)
            .await
            .map_err(|e| format!("{e} (gateway {})", config.target.base_url))?;
    }
    drop(probe);

    let start = Instant::now();
    let measure_from = start + config.warmup;
    let (deadline, count) = match config.bound {
        Bound::Duration(d) => (Some(measure_from + d), None),
        Bound::Count(n) => (None, Some(n)),
    };
    let shared = Arc::new(Shared {
        flow,
        connector,
        host: config.target.host_header.clone(),
        timeout: config.timeout,
        measure_from,
        deadline,
        count,
        tickets: AtomicU64::new(0),
        interval: config.interval,
        live: Live::default(),
    });

    // The server's CPU time is sampled where the measured window starts and, for a
    // duration, where it ends (for a count: once the last flow is done).
    let cpu_samples = config.server_pid.map(|pid| {
        let at = |when: Instant| async move {
            tokio::time::sleep_until(when.into()).await;
            server_cpu::sample(pid)
        };
        (
            pid,
            tokio::spawn(at(measure_from)),
            deadline.map(|d| tokio::spawn(at(d))),
        )
    });
    let progress = (!config.quiet).then(|| tokio::spawn(progress(shared.clone(), config.bound)));
    let workers: Vec<_> = (0..config.concurrency)
        .map(|_| tokio::spawn(worker(shared.clone())))
        .collect();
    let mut all = Vec::with_capacity(workers.len());
    for w in workers {
        all.push(w.await.map_err(|e| format!("a client task failed: {e}"))?);
    }
    if let Some(p) = progress {
        p.abort();
        let _ = p.await;
        if std::io::stderr().is_terminal() {
            eprint!("\r{:79}\r", "");
        }
    }
    let server_cpu = match cpu_samples {
        Some((pid, from, to)) => {
            let from = from.await.map_err(|e| e.to_string()).and_then(|s| s);
            let to = match to {
                Some(t) => t.await.map_err(|e| e.to_string()).and_then(|s| s),
                None => server_cpu::sample(pid),
            };
            match from.and_then(|f| to.map(|t| ServerCpu::between(pid, f, t))) {
                Ok(cpu) => Some(cpu),
                Err(e) => {
                    // The numbers of the run are still worth having.
                    eprintln!("tessera-loadgen: server CPU not measured: {e}");
                    None
                }
            }
        }
        None => None,
    };
    Ok(assemble(&config, &shared, all, server_cpu))
}

async fn worker(shared: Arc<Shared>) -> TaskStats {
    let kinds = shared.flow.workload.kinds().len();
    let mut stats = TaskStats::new(kinds);
    let mut client = Client::new(shared.connector.clone(), &shared.host, shared.timeout);
    loop {
        let started = Instant::now();
        if shared.deadline.is_some_and(|d| started >= d) {
            break;
        }
        let measured = started >= shared.measure_from;
        if measured
            && let Some(n) = shared.count
            && shared.tickets.fetch_add(1, Ordering::Relaxed) >= n
        {
            break;
        }
        let flow = run_flow(&mut client, &shared.flow);
        let outcome = match shared.deadline {
            // A flow still running at the deadline is dropped, not counted: the measured
            // window is exactly the duration.
            Some(d) => match timeout_at(d.into(), flow).await {
                Ok(o) => o,
                Err(_) => break,
            },
            None => flow.await,
        };
        let done = Instant::now();
        let backoff = outcome.connection_failed();
        if measured {
            stats.commit(outcome, done, &shared);
        } else if outcome.error.is_some() {
            stats.warmup_errors += 1;
        }
        if backoff {
            // Do not spin on a gateway that is down.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    stats
}

async fn progress(shared: Arc<Shared>, bound: Bound) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    let mut tick = tokio::time::interval_at((Instant::now() + every).into(), every);
    let mut last_flows = 0;
    loop {
        tick.tick().await;
        let now = Instant::now();
        let flows = shared.live.flows.load(Ordering::Relaxed);
        let requests = shared.live.requests.load(Ordering::Relaxed);
        let errors = shared.live.errors.load(Ordering::Relaxed);
        let line = if now < shared.measure_from {
            format!(
                "warm-up: {:.0} s left",
                (shared.measure_from - now).as_secs_f64()
            )
        } else {
            let elapsed = (now - shared.measure_from).as_secs_f64();
            let of = match bound {
                Bound::Duration(d) => format!("/{:.0} s", d.as_secs_f64()),
                Bound::Count(n) => format!(", {flows}/{n} flows"),
            };
            format!(
                "{elapsed:.0} s{of}: {flows} flows ({:.0}/s now), {requests} requests, {errors} errors",
                (flows - last_flows) as f64 / every.as_secs_f64()
            )
        };
        last_flows = flows;
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r{line:79}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
}

fn assemble(
    config: &RunConfig,
    shared: &Shared,
    tasks: Vec<TaskStats>,
    server_cpu: Option<ServerCpu>,
) -> Report {
    let kinds = config.workload.kinds();
    let mut samples: Vec<Vec<u32>> = vec![Vec::new(); kinds.len()];
    let mut errors: BTreeMap<(usize, String), u64> = BTreeMap::new();
    let mut buckets: Vec<u64> = Vec::new();
    let (mut flows_ok, mut flows_failed, mut warmup_errors) = (0, 0, 0);
    let mut last_done: Option<Instant> = None;
    for t in tasks {
        for (all, mine) in samples.iter_mut().zip(t.samples) {
            all.extend(mine);
        }
        for (k, n) in t.errors {
            *errors.entry(k).or_default() += n;
        }
        if buckets.len() < t.buckets.len() {
            buckets.resize(t.buckets.len(), 0);
        }
        for (b, n) in buckets.iter_mut().zip(&t.buckets) {
            *b += n;
        }
        flows_ok += t.flows_ok;
        flows_failed += t.flows_failed;
        warmup_errors += t.warmup_errors;
        last_done = match (last_done, t.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let measured = match config.bound {
        Bound::Duration(d) => d,
        Bound::Count(_) => last_done
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(shared.measure_from),
    };
    let requests_ok = samples.iter().map(|s| s.len() as u64).sum();
    let requests_failed = errors.values().sum();
    Report {
        workload: config.workload.name(),
        base_url: config.target.base_url.clone(),
        concurrency: config.concurrency,
        threads: config.threads,
        bound: config.bound,
        warmup: config.warmup,
        measured,
        flows_completed: flows_ok,
        flows_failed,
        requests_ok,
        requests_failed,
        latency: kinds
            .iter()
            .zip(samples)
            .map(|(k, s)| ((*k).to_owned(), Summary::of(s)))
            .collect(),
        errors: errors
            .into_iter()
            .map(|((kind, error), count)| ErrorCount {
                request: kinds[kind].to_owned(),
                error,
                count,
            })
            .collect(),
        warmup_errors,
        interval: config.interval,
        series: series(&buckets, config.interval, measured),
        server_cpu,
    }
}

/// Turns per-interval counts into points covering `measured`; the last point may be
/// shorter than the interval, and a flow finishing exactly at the end joins the last one.
pub fn series(buckets: &[u64], interval: Duration, measured: Duration) -> Vec<IntervalPoint> {
    let step = interval.as_secs_f64();
    let total = measured.as_secs_f64();
    let n = ((total / step).ceil() as usize).max(1);
    let mut counts = vec![0u64; n];
    for (i, &c) in buckets.iter().enumerate() {
        counts[i.min(n - 1)] += c;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, flows)| IntervalPoint {
            start_s: i as f64 * step,
            end_s: ((i + 1) as f64 * step).min(total.max(step * i as f64)),
            flows,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawRunArgs {
        RawRunArgs {
            base_url: "http://127.0.0.1:4242".into(),
            secret_key: "sk_test_abc".into(),
            publishable_key: None,
            workload: Workload::Payment,
            concurrency: 32,
            duration: None,
            count: None,
            warmup: Duration::ZERO,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            threads: 1,
            quiet: true,
            ca_cert: None,
            server_pid: None,
        }
    }

    #[test]
    fn defaults_to_thirty_seconds() {
        let c = RunConfig::from_args(raw()).unwrap();
        assert_eq!(c.bound, Bound::Duration(Duration::from_secs(30)));
        assert_eq!(c.target.addr.to_string(), "127.0.0.1:4242");
    }

    #[test]
    fn checks_arguments() {
        let with = |f: fn(&mut RawRunArgs)| {
            let mut a = raw();
            f(&mut a);
            RunConfig::from_args(a)
        };
        assert!(with(|a| a.base_url = "http://10.1.2.3:4242".into()).is_err());
        assert!(with(|a| a.base_url = "http://[::1]:4242".into()).is_ok());
        assert!(with(|a| a.concurrency = 0).is_err());
        assert!(with(|a| a.count = Some(0)).is_err());
        assert_eq!(
            with(|a| a.count = Some(20)).unwrap().bound,
            Bound::Count(20)
        );
        assert!(with(|a| a.duration = Some(Duration::ZERO)).is_err());
        assert!(with(|a| a.interval = Duration::from_millis(10)).is_err());
        assert!(with(|a| a.threads = 0).is_err());
        assert!(with(|a| a.secret_key = "sk_live_x".into()).is_err());
        assert!(with(|a| a.workload = Workload::BrowserPayment).is_err());
        assert!(with(|a| a.ca_cert = Some("ca.pem".into())).is_err());
        assert!(with(|a| a.base_url = "https://127.0.0.1:4242".into()).is_err());
        assert!(
            with(|a| {
                a.base_url = "https://127.0.0.1:4242".into();
                a.ca_cert = Some("ca.pem".into());
            })
            .is_ok()
        );
    }

    #[test]
    fn series_covers_the_measured_time() {
        let s = series(&[5, 7, 9], Duration::from_secs(10), Duration::from_secs(30));
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].start_s, s[0].end_s, s[0].flows), (0.0, 10.0, 5));
        assert_eq!((s[2].start_s, s[2].end_s, s[2].flows), (20.0, 30.0, 9));
        // A flow finishing exactly at 30 s lands in bucket 3: it joins the last step.
        let s = series(
            &[5, 7, 9, 1],
            Duration::from_secs(10),
            Duration::from_secs(30),
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[2].flows, 10);
        // A short run: one partial step.
        let s = series(&[4], Duration::from_secs(10), Duration::from_millis(2500));
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].end_s, s[0].flows), (2.5, 4));
        // Nothing measured: still one (empty) step.
        assert_eq!(
            series(&[], Duration::from_secs(10), Duration::ZERO).len(),
            1
        );
    }
}
