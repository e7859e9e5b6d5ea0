//! Background work: the scheduled jobs carried out when they come due, and the records
//! kept only for a while: idempotency keys (a day) and the risk engine's attempts (as
//! far back as a rule's dry run replays).

use tessera_store::{DueJob, Jobs, Store, StoreError};

use crate::app::App;
use crate::pipeline::{Failure, unix_now};
use crate::resources::{checkout_sessions, payment_intents, radar_rules, refunds};

/// Jobs taken per pass.
const BATCH: u32 = 100;

/// Carries out every job due now; returns how many were done. Each job is applied
/// and removed in one transaction, so it happens once even with several workers.
pub fn run_due_jobs(app: &App) -> usize {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    run_due_jobs_at(app, now_ms)
}

/// [`run_due_jobs`] as of `now_ms` (unix milliseconds): a test sees what a later
/// moment's worker does.
pub fn run_due_jobs_at(app: &App, now_ms: i64) -> usize {
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
        match run(app, &job, now_ms / 1000) {
            Ok(true) => done += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(job = job.id, action = %job.action, "scheduled job failed, will retry: {e:?}")
            }
        }
    }
    done
}

/// For a gateway that has just started serving its store alone: the jobs that carry on
/// processor calls a request left unrecorded (captures, releases, refunds) come due at
/// once, since every such call was left by a process that stopped, instead of a minute
/// after the call began. Returns how many.
pub fn carry_on_left_calls_at_once(app: &App) -> Result<usize, StoreError> {
    if !app.store.serves_alone() {
        return Ok(0);
    }
    let now_ms = unix_now() * 1000;
    app.store.write(|tx| {
        let mut moved = 0;
        for action in [refunds::FINISH_REFUND, payment_intents::FINISH] {
            moved += tx.bring_jobs_forward(action, now_ms)?;
        }
        Ok(moved)
    })
}

/// How long a request's answer is kept for replay under its idempotency key: 24 hours,
/// as on Stripe. An older key may be used again, for a new request.
pub const IDEMPOTENCY_KEYS_KEPT_FOR_SECS: i64 = 24 * 3600;

/// Records an expiry step looks at (or deletes): each step is one short turn at the
/// store's write lock, between payments' writes.
const EXPIRY_WINDOW: u32 = 256;

/// Deletes the idempotency records of keys first used more than
/// [`IDEMPOTENCY_KEYS_KEPT_FOR_SECS`] ago; returns how many. Without it the store would
/// keep two answers per payment for ever.
pub fn expire_idempotency_keys(app: &App) -> Result<usize, StoreError> {
    expire_keys(&app.store, unix_now())
}

/// [`expire_idempotency_keys`] as of `now` (unix seconds).
fn expire_keys(store: &Store, now: i64) -> Result<usize, StoreError> {
    let before = now - IDEMPOTENCY_KEYS_KEPT_FOR_SECS;
    let (mut after, mut expired) = (0, 0);
    loop {
        let (deleted, last) =
            store.write(|tx| tx.expire_idempotency_keys(before, after, EXPIRY_WINDOW))?;
        expired += deleted;
        // Records are in the order their keys were claimed (a claim taken over after a
        // crash moves to the end): a window with nothing expired is past the expired ones.
        match last {
            Some(last) if deleted > 0 => after = last,
            _ => return Ok(expired),
        }
    }
}

/// How long the risk engine's record of a payment attempt is kept: as far back as a
/// rule's dry run replays (90 days). Its velocity counters read only the last week.
pub const RISK_ATTEMPTS_KEPT_FOR_SECS: i64 = radar_rules::MAX_DRY_RUN_DAYS * 86_400;

const _: () = assert!(crate::risk::HISTORY_SECS <= RISK_ATTEMPTS_KEPT_FOR_SECS);

/// Deletes the risk engine's attempts older than [`RISK_ATTEMPTS_KEPT_FOR_SECS`];
/// returns how many. Without it the store would keep one per payment for ever.
pub fn prune_risk_attempts(app: &App) -> Result<usize, StoreError> {
    prune_attempts(&app.store, unix_now())
}

/// [`prune_risk_attempts`] as of `now` (unix seconds), oldest first, in steps of
/// [`EXPIRY_WINDOW`] attempts.
fn prune_attempts(store: &Store, now: i64) -> Result<usize, StoreError> {
    let before = now - RISK_ATTEMPTS_KEPT_FOR_SECS;
    let mut pruned = 0;
    loop {
        let deleted = store.write(|tx| tx.prune_risk_attempts(before, EXPIRY_WINDOW))?;
        pruned += deleted;
        if deleted < EXPIRY_WINDOW as usize {
            return Ok(pruned);
        }
    }
}

fn run(app: &App, job: &DueJob, now: i64) -> Result<bool, Failure> {
    // These ask the processor: outside the store's write lock, between writes of their own.
    match job.action.as_str() {
        refunds::FINISH_REFUND => return refunds::finish_abandoned(app, job, now),
        payment_intents::FINISH => return payment_intents::finish_abandoned(app, job, now),
        _ => {}
    }
    app.store.write(|tx| {
        if !tx.finish_job(job.id)? {
            return Ok(false);
        }
        match job.action.as_str() {
            refunds::FAIL_REFUND => refunds::fail_refund(tx, &job.scope, now, &job.object)?,
            checkout_sessions::EXPIRE_SESSION => {
                checkout_sessions::expire_due(tx, &job.scope, now, &job.object)?
            }
            other => tracing::error!(job = job.id, "unknown scheduled action {other}; dropped"),
        }
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_store::{KeyUse, Scope};

    fn scope() -> Scope {
        Scope {
            account: "acct_a".into(),
            livemode: false,
        }
    }

    fn key_use(key: &str, at: i64) -> KeyUse<'_> {
        KeyUse {
            key,
            endpoint: "POST /v1/payment_intents",
            request_hash: b"h",
            at,
            serving_alone: false,
        }
    }

    #[test]
    fn risk_attempts_older_than_the_dry_run_window_are_pruned() {
        let (_dir, store) = crate::scratch_store();
        let scope = scope();
        let now = 1_800_000_000;
        let kept = RISK_ATTEMPTS_KEPT_FOR_SECS;
        // More than two windows of aged attempts, then attempts still inside the window.
        let ages = (0..600)
            .map(|i| (format!("ch_old{i}"), now - kept - 600 + i))
            .chain((0..5).map(|i| (format!("ch_new{i}"), now - kept + i)));
        store
            .write(|tx| {
                for (charge, at) in ages {
                    tx.insert_risk_attempt(&tessera_store::RiskAttempt {
                        scope: scope.clone(),
                        at,
                        charge,
                        declined: false,
                        keys: serde_json::json!({}),
                        signals: serde_json::json!({}),
                    })?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert_eq!(prune_attempts(&store, now).unwrap(), 600);
        let left = store
            .read(|tx| tx.risk_attempts_since(None, 0, 1000))
            .unwrap();
        let charges: Vec<_> = left.iter().map(|a| a.charge.as_str()).collect();
        assert_eq!(
            charges,
            ["ch_new0", "ch_new1", "ch_new2", "ch_new3", "ch_new4"]
        );
        // A dry run's longest window still sees every attempt that is left.
        let replayed = crate::risk::for_each_past_attempt(
            &store,
            &scope,
            now,
            radar_rules::MAX_DRY_RUN_DAYS,
            1000,
            |_| {},
        )
        .unwrap();
        assert_eq!(replayed, 5);
        assert_eq!(prune_attempts(&store, now).unwrap(), 0);
        assert_eq!(prune_attempts(&store, now + 3).unwrap(), 3);
    }

    /// Claims taken over after a crash are younger than the records after them; more
    /// than a window of them in a row must not hide those records from the expiry.
    #[test]
    fn taken_over_claims_do_not_hold_the_expiry_up() {
        let (_dir, store) = crate::scratch_store();
        let scope = scope();
        let now = 1_800_000_000;
        let two_days_ago = now - 2 * IDEMPOTENCY_KEYS_KEPT_FOR_SECS;
        let claims: Vec<String> = (0..300).map(|i| format!("claim-{i}")).collect();
        let claim = |at: i64| {
            for key in &claims {
                store
                    .write(|tx| tx.claim_idempotency_key(&scope, &key_use(key, at)))
                    .unwrap();
            }
        };
        claim(two_days_ago);
        for i in 0..10 {
            let key = format!("old-{i}");
            store
                .write(|tx| {
                    tx.complete_idempotency_key(&scope, &key_use(&key, two_days_ago + 1), 200, "{}")
                })
                .unwrap();
        }
        // The process that made the claims died; retries take them over an hour ago.
        claim(now - 3600);
        assert_eq!(expire_keys(&store, now).unwrap(), 10);
        assert_eq!(
            expire_keys(&store, now + IDEMPOTENCY_KEYS_KEPT_FOR_SECS).unwrap(),
            300
        );
    }

    #[test]
    fn keys_older_than_a_day_are_expired_and_younger_ones_replayed() {
        let (_dir, store) = crate::scratch_store();
        let scope = scope();
        let now = 1_800_000_000;
        let day = IDEMPOTENCY_KEYS_KEPT_FOR_SECS;
        // More than one window of expired keys, then keys inside the day.
        let keys: Vec<(String, i64)> = (0..600)
            .map(|i| (format!("old-{i}"), now - 2 * day + i))
            .chain((0..5).map(|i| (format!("young-{i}"), now - day + 1 + i)))
            .collect();
        for (key, at) in &keys {
            store
                .write(|tx| tx.complete_idempotency_key(&scope, &key_use(key, *at), 200, "{}"))
                .unwrap();
        }
        assert_eq!(expire_keys(&store, now).unwrap(), 600);
        let replayed = |key: &str, at| {
            store
                .read(|tx| tx.look_up_idempotency_key(&scope, &key_use(key, at)))
                .unwrap()
        };
        assert_eq!(
            replayed("old-0", now),
            tessera_store::IdempotencyClaim::Execute,
            "an expired key may be used again"
        );
        for i in 0..5 {
            assert!(matches!(
                replayed(&format!("young-{i}"), now),
                tessera_store::IdempotencyClaim::Replay { .. }
            ));
        }
        // Nothing more to expire until the young keys are a day old.
        assert_eq!(expire_keys(&store, now).unwrap(), 0);
        assert_eq!(expire_keys(&store, now + 10).unwrap(), 5);
    }
}
