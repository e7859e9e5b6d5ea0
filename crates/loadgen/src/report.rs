//! The run report as a table or as JSON.

use std::fmt::Write;

use serde_json::{Value, json};

use crate::duration::secs_label;
use crate::run::{Bound, Report};

fn per_s(n: u64, report: &Report) -> f64 {
    let s = report.measured.as_secs_f64();
    if s > 0.0 { n as f64 / s } else { 0.0 }
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// The report as JSON (one object; see docs/PERFORMANCE.md).
pub fn to_json(report: &Report) -> String {
    let bound = match report.bound {
        Bound::Duration(d) => json!({"duration_s": d.as_secs_f64()}),
        Bound::Count(n) => json!({"count": n}),
    };
    // A list rather than an object, so that the flow's order survives.
    let latency: Vec<Value> = report
        .latency
        .iter()
        .map(|(k, s)| {
            json!({
                "request": k,
                "count": s.count,
                "p50_ms": round(s.p50_ms, 3),
                "p95_ms": round(s.p95_ms, 3),
                "p99_ms": round(s.p99_ms, 3),
                "max_ms": round(s.max_ms, 3),
                "mean_ms": round(s.mean_ms, 3),
            })
        })
        .collect();
    let errors: Vec<Value> = report
        .errors
        .iter()
        .map(|e| json!({"request": e.request, "error": e.error, "count": e.count}))
        .collect();
    let step = report.interval.as_secs_f64();
    let series: Vec<Value> = report
        .series
        .iter()
        .map(|p| {
            let len = p.end_s - p.start_s;
            json!({
                "start_s": round(p.start_s, 3),
                "end_s": round(p.end_s, 3),
                "flows": p.flows,
                "flows_per_s": round(if len > 0.0 { p.flows as f64 / len } else { 0.0 }, 2),
            })
        })
        .collect();
    let v = json!({
        "workload": report.workload,
        "base_url": report.base_url,
        "concurrency": report.concurrency,
        "threads": report.threads,
        "bound": bound,
        "warmup_s": report.warmup.as_secs_f64(),
        "measured_s": round(report.measured.as_secs_f64(), 3),
        "flows": {
            "completed": report.flows_completed,
            "failed": report.flows_failed,
            "per_s": round(per_s(report.flows_completed, report), 2),
        },
        "requests": {
            "ok": report.requests_ok,
            "failed": report.requests_failed,
            "per_s": round(per_s(report.requests_ok, report), 2),
        },
        "latency": latency,
        "errors": errors,
        "warmup_errors": report.warmup_errors,
        "interval_s": step,
        "series": series,
        "server_cpu": report.server_cpu.as_ref().map(|c| json!({
            "pid": c.pid,
            "cpu_s": round(c.cpu.as_secs_f64(), 3),
            "cores": round(c.cores(), 3),
            "ms_per_flow": c.ms_per(report.flows_completed).map(|ms| round(ms, 4)),
        })),
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// The report as a human-readable table.
pub fn to_table(report: &Report) -> String {
    let mut out = String::new();
    let bound = match report.bound {
        Bound::Duration(d) => format!("{} s", secs_label(d)),
        Bound::Count(n) => format!("{n} flows"),
    };
    let _ = writeln!(
        out,
        "workload {} against {}: concurrency {}, {} loadgen thread(s), bound {}, warm-up {} s",
        report.workload,
        report.base_url,
        report.concurrency,
        report.threads,
        bound,
        secs_label(report.warmup)
    );
    let _ = writeln!(out, "measured {:.2} s\n", report.measured.as_secs_f64());
    let _ = writeln!(
        out,
        "flows     {:>9} completed {:>7} failed   {:>10.1} flows/s",
        report.flows_completed,
        report.flows_failed,
        per_s(report.flows_completed, report)
    );
    let _ = writeln!(
        out,
        "requests  {:>9} ok        {:>7} failed   {:>10.1} requests/s\n",
        report.requests_ok,
        report.requests_failed,
        per_s(report.requests_ok, report)
    );
    if let Some(c) = &report.server_cpu {
        let per_flow = c
            .ms_per(report.flows_completed)
            .map_or("no flow completed".to_owned(), |ms| {
                format!("{ms:.3} ms per completed flow")
            });
        let _ = writeln!(
            out,
            "server CPU (pid {}): {:.2} s in {:.2} s, {:.2} cores; {per_flow}\n",
            c.pid,
            c.cpu.as_secs_f64(),
            c.over.as_secs_f64(),
            c.cores()
        );
    }
    let _ = writeln!(
        out,
        "{:<38} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "latency of successful requests (ms)", "count", "p50", "p95", "p99", "max", "mean"
    );
    for (kind, s) in &report.latency {
        let _ = writeln!(
            out,
            "{:<38} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            kind, s.count, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms, s.mean_ms
        );
    }
    out.push('\n');
    if report.errors.is_empty() {
        let _ = writeln!(out, "errors: none");
    } else {
        let _ = writeln!(
            out,
            "{:<38} {:<24} {:>8}",
            "errors by request", "error", "count"
        );
        for e in &report.errors {
            let _ = writeln!(out, "{:<38} {:<24} {:>8}", e.request, e.error, e.count);
        }
    }
    if report.warmup_errors > 0 {
        let _ = writeln!(
            out,
            "({} flows failed during warm-up; not counted above)",
            report.warmup_errors
        );
    }
    let _ = writeln!(
        out,
        "\nthroughput per {} s interval",
        secs_label(report.interval)
    );
    let _ = writeln!(
        out,
        "{:>18} {:>9} {:>10}",
        "interval (s)", "flows", "flows/s"
    );
    for p in &report.series {
        let len = p.end_s - p.start_s;
        let rate = if len > 0.0 { p.flows as f64 / len } else { 0.0 };
        let _ = writeln!(
            out,
            "{:>18} {:>9} {:>10.1}",
            format!("{}–{}", trim(p.start_s), trim(p.end_s)),
            p.flows,
            rate
        );
    }
    out
}

fn trim(x: f64) -> String {
    secs_label(std::time::Duration::from_secs_f64(x.max(0.0)))
}
