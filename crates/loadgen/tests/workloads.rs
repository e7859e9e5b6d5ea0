//! Runs every workload for 20 flows against a real `tessera serve` (the debug binary of
//! this workspace, built here if it is missing) and expects no errors; then the payment
//! workload over HTTPS with the gateway's generated local CA.

use std::env;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `TESSERA_BIN`, else `<target>/debug/tessera`, built with cargo if it is missing.
fn tessera_bin() -> PathBuf {
    if let Some(bin) = env::var_os("TESSERA_BIN") {
        return PathBuf::from(bin);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let bin = target.join("debug").join("tessera");
    if !bin.exists() {
        eprintln!("{} is missing; building tessera-server", bin.display());
        let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "tessera-server"])
            .current_dir(&workspace)
            .status()
            .expect("run cargo build -p tessera-server");
        assert!(status.success(), "cargo build -p tessera-server failed");
    }
    assert!(
        bin.exists(),
        "{} still missing after the build",
        bin.display()
    );
    bin
}

/// A running gateway; killed on drop.
struct Gateway {
    child: Child,
    url: String,
    secret: String,
    publishable: String,
    ca: Option<String>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn start(tls: bool) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready.json");
        let log = dir.path().join("tessera.log");
        let mut cmd = Command::new(tessera_bin());
        for var in [
            "TESSERA_CONFIG",
            "TESSERA_DATA_DIR",
            "TESSERA_LISTEN",
            "TESSERA_PUBLIC_URL",
            "TESSERA_MASTER_KEY",
            "TESSERA_MASTER_KEY_FILE",
        ] {
            cmd.env_remove(var);
        }
        // A load test is what the rate limits exist to stop: lift them.
        for limit in [
            "KEY_PER_SECOND",
            "KEY_BURST",
            "IP_PER_SECOND",
            "IP_BURST",
            "PUBLISHABLE_PER_SECOND",
            "PUBLISHABLE_BURST",
        ] {
            cmd.env(format!("TESSERA_RATE_LIMIT_{limit}"), "1000000");
        }
        if tls {
            cmd.env("TESSERA_TLS_SELF_SIGNED", "true");
        } else {
            cmd.env_remove("TESSERA_TLS_SELF_SIGNED");
        }
        let mut child = cmd
            .env("TESSERA_LOG", "warn")
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0", "--ready-file"])
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start tessera serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (mut secret, mut publishable) = (String::new(), String::new());
        let mut line = String::new();
        while (secret.is_empty() || publishable.is_empty())
            && stdout.read_line(&mut line).unwrap_or(0) > 0
        {
            if let Some(k) = line.trim().strip_prefix("secret key:") {
                secret = k.trim().to_owned();
            }
            if let Some(k) = line.trim().strip_prefix("publishable key:") {
                publishable = k.trim().to_owned();
            }
            line.clear();
        }
        // Keep draining stdout so the gateway never blocks on it.
        std::thread::spawn(move || {
            let _ = stdout.read_to_end(&mut Vec::new());
        });
        let mut gateway = Gateway {
            child,
            url: String::new(),
            secret,
            publishable,
            ca: None,
            log,
            _dir: dir,
        };
        assert!(
            gateway.secret.starts_with("sk_test_") && gateway.publishable.starts_with("pk_test_"),
            "no keys on tessera's stdout; log:\n{}",
            gateway.log()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                && let Some(api) = v["api"].as_str()
            {
                gateway.url = api.to_owned();
                gateway.ca = v["ca"].as_str().map(str::to_owned);
                break;
            }
            if let Ok(Some(status)) = gateway.child.try_wait() {
                panic!("tessera exited with {status}; log:\n{}", gateway.log());
            }
            assert!(
                Instant::now() < deadline,
                "no ready file after 30 s; log:\n{}",
                gateway.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        gateway
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn loadgen(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera-loadgen"))
        .args(args)
        .output()
        .expect("run tessera-loadgen");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_workload_runs_twenty_flows_without_errors() {
    let gw = Gateway::start(false);
    for workload in ["payment", "browser-payment", "capture-refund", "read"] {
        let (ok, stdout, stderr) = loadgen(&[
            "run",
            "--base-url",
            &gw.url,
            "--secret-key",
            &gw.secret,
            "--publishable-key",
            &gw.publishable,
            "--workload",
            workload,
            "--concurrency",
            "4",
            "--count",
            "20",
            "--json",
            "--quiet",
        ]);
        assert!(ok, "{workload}: loadgen failed:\n{stderr}\n{stdout}");
        let report: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{workload}: not JSON ({e}):\n{stdout}"));
        assert_eq!(report["workload"], workload);
        assert_eq!(report["flows"]["completed"], 20, "{workload}: {stdout}");
        assert_eq!(report["flows"]["failed"], 0, "{workload}: {stdout}");
        assert_eq!(report["requests"]["failed"], 0, "{workload}: {stdout}");
        assert_eq!(
            report["errors"],
            serde_json::json!([]),
            "{workload}: {stdout}"
        );
        let kinds = report["latency"].as_array().unwrap();
        assert!(kinds.len() >= 2, "{workload}: {stdout}");
        for k in kinds {
            assert_eq!(k["count"], 20, "{workload}: {stdout}");
        }
        let series_total: u64 = report["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["flows"].as_u64().unwrap())
            .sum();
        assert_eq!(series_total, 20, "{workload}: {stdout}");
        assert!(report["server_cpu"].is_null(), "{workload}: {stdout}");
    }
}

#[test]
fn the_gateways_cpu_time_in_the_window_is_reported_per_flow() {
    let gw = Gateway::start(false);
    let pid = gw.child.id().to_string();
    let run = |json: bool| {
        let mut args = vec![
            "run",
            "--base-url",
            &gw.url,
            "--secret-key",
            &gw.secret,
            "--concurrency",
            "4",
            "--duration",
            "2s",
            "--warmup",
            "1s",
            "--quiet",
            "--server-pid",
            &pid,
        ];
        if json {
            args.push("--json");
        }
        let (ok, stdout, stderr) = loadgen(&args);
        assert!(ok, "loadgen failed:\n{stderr}\n{stdout}");
        assert!(!stderr.contains("not measured"), "{stderr}");
        stdout
    };
    let stdout = run(true);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let cpu = &report["server_cpu"];
    assert_eq!(
        cpu["pid"].as_u64(),
        Some(u64::from(gw.child.id())),
        "{stdout}"
    );
    // Two seconds of payments cost the gateway CPU time, so every figure is above zero.
    for field in ["cpu_s", "cores", "ms_per_flow"] {
        assert!(cpu[field].as_f64().unwrap() > 0.0, "{field}: {stdout}");
    }
    let table = run(false);
    assert!(
        table.contains(&format!("server CPU (pid {pid})")),
        "{table}"
    );
    assert!(table.contains("ms per completed flow"), "{table}");

    // A process that does not exist is refused before any load.
    let (ok, _, stderr) = loadgen(&[
        "run",
        "--base-url",
        &gw.url,
        "--secret-key",
        &gw.secret,
        "--count",
        "1",
        "--server-pid",
        "4999999",
    ]);
    assert!(!ok);
    assert!(stderr.contains("--server-pid 4999999"), "{stderr}");
}

#[test]
fn payment_over_https_with_the_local_ca() {
    let gw = Gateway::start(true);
    assert!(gw.url.starts_with("https://127.0.0.1:"), "{}", gw.url);
    let ca = gw.ca.clone().expect("ready.json names the CA");
    let (ok, stdout, stderr) = loadgen(&[
        "run",
        "--base-url",
        &gw.url,
        "--ca-cert",
        &ca,
        "--secret-key",
        &gw.secret,
        "--concurrency",
        "4",
        "--count",
        "20",
        "--json",
        "--quiet",
    ]);
    assert!(ok, "loadgen over https failed:\n{stderr}\n{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["flows"]["completed"], 20, "{stdout}");
    assert_eq!(report["errors"], serde_json::json!([]), "{stdout}");

    // Without the CA the handshake fails before any load, with a reason.
    let (ok, _, stderr) = loadgen(&[
        "run",
        "--base-url",
        &gw.url,
        "--ca-cert",
        "/etc/ssl/certs/ca-certificates.crt",
        "--secret-key",
        &gw.secret,
        "--count",
        "1",
    ]);
    if Path::new("/etc/ssl/certs/ca-certificates.crt").exists() {
        assert!(!ok);
        assert!(stderr.contains("certificate"), "{stderr}");
    }
}

#[test]
fn refuses_a_non_loopback_target() {
    let (ok, _, stderr) = loadgen(&[
        "run",
        "--base-url",
        "http://192.168.1.10:4242",
        "--secret-key",
        "sk_test_x",
        "--count",
        "1",
    ]);
    assert!(!ok);
    assert!(stderr.contains("loopback"), "{stderr}");
}
