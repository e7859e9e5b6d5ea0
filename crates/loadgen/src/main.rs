//! `tessera-loadgen`: drives load against a Tessera (or any Stripe-compatible) `/v1`
//! API on this machine's loopback interface, and probes how many fsync-durable commits
//! per second the local disk can take.
//!
//! It refuses every base URL whose host is not a loopback address: it is a tool for
//! benchmarking a gateway running on the same machine, never for aiming traffic
//! elsewhere.
#![forbid(unsafe_code)]

mod disk;
mod duration;
mod http;
mod report;
mod run;
mod server_cpu;
mod stats;
mod target;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use duration::parse_duration;
use workload::Workload;

#[derive(Parser)]
#[command(
    name = "tessera-loadgen",
    version,
    about = "Load generator for Tessera's /v1 API (loopback only) and a disk fsync probe"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workload against a gateway on this machine and report throughput and latency.
    Run(RunArgs),
    /// Measure fsync-durable commits per second in a directory (file appends and SQLite).
    DiskProbe(DiskProbeArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Base address of the API, without /v1: http://127.0.0.1:PORT (or https:// with
    /// --ca-cert). Loopback only.
    #[arg(long)]
    base_url: String,
    /// Test-mode secret key (sk_test_…) sent as `Authorization: Bearer`.
    #[arg(long)]
    secret_key: String,
    /// Test-mode publishable key (pk_test_…); needed by browser-payment.
    #[arg(long)]
    publishable_key: Option<String>,
    /// What one flow does.
    #[arg(long, value_enum, default_value = "payment")]
    workload: Workload,
    /// Client tasks, each with its own keep-alive connection.
    #[arg(long, short = 'c', default_value_t = 32)]
    concurrency: usize,
    /// Measure for this long (e.g. 30s, 5m, 1m30s). Default 30s when --count is not given.
    #[arg(long, value_parser = parse_duration, conflicts_with = "count")]
    duration: Option<Duration>,
    /// Measure exactly this many flows instead of a duration.
    #[arg(long)]
    count: Option<u64>,
    /// Run flows for this long first without counting them.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    warmup: Duration,
    /// Length of one step of the throughput series.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    interval: Duration,
    /// Give up on one request after this long (counted as a "timeout" error).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
    /// Threads of the load generator's runtime (1: a single-threaded runtime, which
    /// leaves the other cores to the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file (the table still goes to stdout).
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
    /// PEM CA certificate(s) to trust for an https:// base URL (and no others).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Process id of the server under test (on this machine): its CPU time during the
    /// measured window is reported, in total and per completed flow (Linux /proc).
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Args)]
struct DiskProbeArgs {
    /// Directory to probe (a scratch file is created there and removed afterwards).
    #[arg(long)]
    dir: PathBuf,
    /// Seconds for each probe.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Bytes appended per commit in the file probe.
    #[arg(long, default_value_t = 4096)]
    block_size: usize,
    /// Skip the SQLite probe.
    #[arg(long)]
    no_sqlite: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run_command(args),
        Command::DiskProbe(args) => disk_probe_command(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("tessera-loadgen: {message}");
            ExitCode::from(2)
        }
    }
}

fn run_command(args: RunArgs) -> Result<ExitCode, String> {
    let config = run::RunConfig::from_args(run::RawRunArgs {
        base_url: args.base_url,
        secret_key: args.secret_key,
        publishable_key: args.publishable_key,
        workload: args.workload,
        concurrency: args.concurrency,
        duration: args.duration,
        count: args.count,
        warmup: args.warmup,
        interval: args.interval,
        timeout: args.timeout,
        threads: args.threads,
        quiet: args.quiet,
        ca_cert: args.ca_cert,
        server_pid: args.server_pid,
    })?;
    let report = run::run(config)?;
    if args.json {
        println!("{}", report::to_json(&report));
    } else {
        print!("{}", report::to_table(&report));
    }
    if let Some(path) = &args.json_out {
        std::fs::write(path, report::to_json(&report) + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(if report.flows_completed == 0 {
        eprintln!("tessera-loadgen: no flow completed");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn disk_probe_command(args: DiskProbeArgs) -> Result<ExitCode, String> {
    if !(args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err("--seconds must be more than 0 and at most 3600".into());
    }
    if args.block_size == 0 || args.block_size > 16 << 20 {
        return Err("--block-size must be between 1 byte and 16 MiB".into());
    }
    let config = disk::ProbeConfig {
        dir: args.dir,
        time: Duration::from_secs_f64(args.seconds),
        block_size: args.block_size,
        sqlite: !args.no_sqlite,
    };
    let report = disk::probe(&config)?;
    if args.json {
        println!("{}", disk::to_json(&config, &report));
    } else {
        print!("{}", disk::to_table(&config, &report));
    }
    Ok(ExitCode::SUCCESS)
}
