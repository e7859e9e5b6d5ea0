//! The worker that carries out scheduled jobs when they come due.

use tessera_store::{DueJob, Jobs};

use crate::app::App;
use crate::pipeline::{Failure, unix_now};
use crate::resources::{checkout_sessions, refunds};

/// Jobs taken per pass.
const BATCH: u32 = 100;

/// Carries out every job due now; returns how many were done. Each job is applied
/// and removed in one transaction, so it happens once even with several workers.
pub fn run_due_jobs(app: &App) -> usize {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let due = match app
        .store
        .read(|tx| tx.due_jobs(now_ms, BATCH, Jobs::Except(tessera_webhooks::DELIVER)))
    {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("cannot read scheduled jobs: {e}");
            return 0;
        }
    };
    let mut done = 0;
    for job in due {
        match run(app, &job) {
            Ok(true) => done += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(job = job.id, action = %job.action, "scheduled job failed, will retry: {e:?}")
            }
        }
    }
    done
}

fn run(app: &App, job: &DueJob) -> Result<bool, Failure> {
    app.store.write(|tx| {
        if !tx.finish_job(job.id)? {
            return Ok(false);
        }
        match job.action.as_str() {
            refunds::FAIL_REFUND => refunds::fail_refund(tx, &job.scope, unix_now(), &job.object)?,
            checkout_sessions::EXPIRE_SESSION => {
                checkout_sessions::expire_due(tx, &job.scope, unix_now(), &job.object)?
            }
            other => tracing::error!(job = job.id, "unknown scheduled action {other}; dropped"),
        }
        Ok(true)
    })
}
