//! `--server-pid`: the CPU time the server under test used during the measured window,
//! read from Linux's `/proc/PID/stat`, so that a run says what a flow cost the server and
//! not only how many flows there were. On a shared virtual machine the same build's
//! flows per second move with the host's load; its CPU time per flow shows by how much.

use std::time::{Duration, Instant};

/// Clock ticks per second of the times in `/proc/PID/stat` (`USER_HZ`: 100 in the
/// ABI of every architecture Tessera is built for).
const USER_HZ: u64 = 100;

/// A process's CPU time (user and system, all its threads) at one moment.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    ticks: u64,
}

/// CPU time a process used over a stretch of wall-clock time.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerCpu {
    /// The process.
    pub pid: u32,
    /// CPU time used (user and system).
    pub cpu: Duration,
    /// Wall-clock time it was used in.
    pub over: Duration,
}

impl ServerCpu {
    /// From two samples of one process, the earlier first.
    pub fn between(pid: u32, from: CpuSample, to: CpuSample) -> ServerCpu {
        let ticks = to.ticks.saturating_sub(from.ticks);
        ServerCpu {
            pid,
            cpu: Duration::from_millis(ticks * 1000 / USER_HZ),
            over: to.at.saturating_duration_since(from.at),
        }
    }

    /// Cores kept busy on average.
    pub fn cores(&self) -> f64 {
        self.cpu.as_secs_f64() / self.over.as_secs_f64().max(1e-9)
    }

    /// Milliseconds of CPU per flow, when any completed.
    pub fn ms_per(&self, flows: u64) -> Option<f64> {
        (flows > 0).then(|| self.cpu.as_secs_f64() * 1000.0 / flows as f64)
    }
}

/// Reads the CPU time process `pid` has used so far.
pub fn sample(pid: u32) -> Result<CpuSample, String> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("--server-pid {pid}: cannot read {path}: {e}"))?;
    let ticks = cpu_ticks(&text)
        .ok_or_else(|| format!("--server-pid {pid}: {path} is not in the expected format"))?;
    Ok(CpuSample {
        at: Instant::now(),
        ticks,
    })
}

/// `utime + stime` from the text of `/proc/PID/stat`: fields 14 and 15, counted after
/// the command name, which is in parentheses and may itself hold spaces and `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (the state) is the first after the name.
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_time_even_when_the_name_has_spaces_and_parentheses() {
        let stat = "4242 (tokio rt) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 1234 567 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(1234 + 567));
        assert_eq!(cpu_ticks("4242 (short) S 1"), None);
        assert_eq!(cpu_ticks("no name at all"), None);
    }

    #[test]
    fn this_process_is_sampled_and_its_busy_loop_shows_as_cpu_time() {
        let pid = std::process::id();
        let from = sample(pid).unwrap();
        // Work for a quarter of a second of wall-clock time: well over one 10 ms tick
        // of CPU, however slow or shared the machine.
        let until = Instant::now() + Duration::from_millis(250);
        let mut x = 0u64;
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let cpu = ServerCpu::between(pid, from, sample(pid).unwrap());
        assert!(cpu.cpu > Duration::ZERO, "{cpu:?}");
        assert!(cpu.over >= Duration::from_millis(250));
        assert_eq!(cpu.ms_per(0), None);
        assert!(cpu.ms_per(2).unwrap() > 0.0);
    }

    #[test]
    fn a_process_that_does_not_exist_is_named_in_the_error() {
        // Above the kernel's largest possible pid (2^22).
        let e = sample(4_999_999).unwrap_err();
        assert!(e.contains("--server-pid 4999999"), "{e}");
    }
}
