//! How the kernel schedules the gateway's threads.
//!
//! Under load, dozens of request threads take turns at the store's one write lock, and
//! each waits on a flush that wakes many of them at once. With Linux's default policy
//! a woken thread may preempt the thread running on its CPU, which is often the one
//! holding the write lock; every other write then waits for that thread to be put
//! back. Under `SCHED_BATCH` a woken thread does not preempt a running one: the
//! holder keeps its CPU until it blocks or its time slice ends. Niceness, and so the
//! gateway's share of the machine against other programs, stays what it was.
//! `docs/PERFORMANCE.md` has the measurements.
//!
//! Threads take their policy from the thread that starts them, so [`apply`] runs on
//! the main thread before the store, the vault or the runtime start any.

use std::fmt;

/// The `thread_scheduling` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThreadScheduling {
    /// `SCHED_BATCH`: woken threads do not preempt running ones (the default).
    #[default]
    Batch,
    /// The kernel's default policy (`SCHED_OTHER`), left as it is.
    Normal,
}

impl ThreadScheduling {
    /// Parses the setting's value.
    pub fn parse(text: &str) -> Result<ThreadScheduling, String> {
        match text.trim() {
            "batch" => Ok(ThreadScheduling::Batch),
            "normal" => Ok(ThreadScheduling::Normal),
            other => Err(format!(
                "thread_scheduling '{other}' must be 'batch' or 'normal'"
            )),
        }
    }
}

impl fmt::Display for ThreadScheduling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ThreadScheduling::Batch => "batch",
            ThreadScheduling::Normal => "normal",
        })
    }
}

/// Puts the calling thread, and so every thread it starts afterwards, under the
/// chosen policy. An error says why the policy could not be set; the thread is then
/// scheduled as before.
pub fn apply(choice: ThreadScheduling) -> Result<(), String> {
    match choice {
        ThreadScheduling::Normal => Ok(()),
        ThreadScheduling::Batch => batch(),
    }
}

#[cfg(target_os = "linux")]
fn batch() -> Result<(), String> {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    use thread_priority::{ThreadPriority, ThreadPriorityValue};

    let nice = own_niceness()?;
    let set = |policy: NormalThreadSchedulePolicy| -> Result<(), String> {
        let policy = ThreadSchedulePolicy::Normal(policy);
        // The library sets a niceness along with a normal policy, from a value on its
        // own 0–99 scale: pick the value it turns into the niceness the thread has.
        let keep_nice = (*ThreadPriorityValue::MIN..=*ThreadPriorityValue::MAX)
            .filter_map(|v| ThreadPriorityValue::try_from(v).ok())
            .map(ThreadPriority::Crossplatform)
            .find(|p| p.to_posix(policy).ok() == Some(nice))
            .ok_or_else(|| format!("no priority keeps niceness {nice}"))?;
        set_thread_priority_and_policy(thread_native_id(), keep_nice, policy)
            .map_err(|e| format!("{e:?}"))?;
        match own_niceness()? {
            after if after == nice => Ok(()),
            after => Err(format!("niceness moved from {nice} to {after}")),
        }
    };
    set(NormalThreadSchedulePolicy::Batch).map_err(|e| {
        // Half done (the policy set, the niceness not): back to the default, as far as
        // the system lets us, so the warning the caller logs is true.
        let _ = set(NormalThreadSchedulePolicy::Other);
        format!("cannot schedule threads as batch: {e}")
    })
}

#[cfg(not(target_os = "linux"))]
fn batch() -> Result<(), String> {
    Err("batch scheduling needs Linux".into())
}

/// The calling thread's niceness, from `/proc/thread-self/stat`.
#[cfg(target_os = "linux")]
fn own_niceness() -> Result<i32, String> {
    own_stat_field(19, "niceness")
}

/// Field `field` (numbered from 1, as in proc_pid_stat(5)) of the calling thread's
/// `/proc/thread-self/stat`.
#[cfg(target_os = "linux")]
fn own_stat_field<T: std::str::FromStr>(field: usize, what: &str) -> Result<T, String> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")
        .map_err(|e| format!("cannot read /proc/thread-self/stat: {e}"))?;
    stat_field(&stat, field).ok_or_else(|| format!("no {what} in /proc/thread-self/stat"))
}

/// Field `field` of a `stat` line, counted after the command name in parentheses
/// (which may itself hold spaces and parentheses): fields 3 onwards follow it.
fn stat_field<T: std::str::FromStr>(stat: &str, field: usize) -> Option<T> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name
        .split_whitespace()
        .nth(field.checked_sub(3)?)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_names_its_values() {
        assert_eq!(
            ThreadScheduling::parse("batch"),
            Ok(ThreadScheduling::Batch)
        );
        assert_eq!(
            ThreadScheduling::parse(" normal "),
            Ok(ThreadScheduling::Normal)
        );
        let err = ThreadScheduling::parse("fifo").unwrap_err();
        assert!(err.contains("thread_scheduling 'fifo'"), "{err}");
        assert_eq!(ThreadScheduling::default().to_string(), "batch");
    }

    #[test]
    fn niceness_is_read_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (tokio (rt) 1) S 1 4242 4242 0 -1 4194560 120 0 0 0 3 1 0 0 20 5 9 0 \
                    100 0 0";
        assert_eq!(stat_field::<i32>(stat, 19), Some(5));
        let negative = "7 (x) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 0 -3 1 0 1 0 0";
        assert_eq!(stat_field::<i32>(negative, 19), Some(-3));
        assert_eq!(stat_field::<i32>("7 (x) R 1", 19), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_set_to_batch_keeps_its_niceness_and_passes_the_policy_on() {
        let outer = own_policy();
        std::thread::spawn(|| {
            let before = own_niceness().unwrap();
            apply(ThreadScheduling::Batch).unwrap();
            assert_eq!(own_niceness().unwrap(), before);
            assert_eq!(own_policy(), 3, "SCHED_BATCH");
            let child = std::thread::spawn(own_policy).join().unwrap();
            assert_eq!(child, 3, "a thread started afterwards is batch too");
        })
        .join()
        .unwrap();
        // Other threads are left alone.
        assert_eq!(own_policy(), outer);
    }

    /// Field 41 of `/proc/thread-self/stat`: the scheduling policy.
    #[cfg(target_os = "linux")]
    fn own_policy() -> u32 {
        own_stat_field(41, "policy").unwrap()
    }
}
