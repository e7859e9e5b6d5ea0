//! The delivery worker: claims due deliveries with a lease (a worker that dies leaves
//! its deliveries to be claimed again when the lease ends), attempts them concurrently,
//! and records each attempt with the next one's time.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tessera_crypto::{SubKey, webhook};
use tessera_store::{DueJob, Jobs, Store, StoreError};
use tokio::sync::Semaphore;

use crate::attempt::{self, Outcome};
use crate::records;
use crate::ssrf::AddressPolicy;

/// How deliveries are made and retried.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Where deliveries may go.
    pub policy: AddressPolicy,
    /// Refuse plain `http://` endpoints (live mode).
    pub require_https: bool,
    /// Gap before the first retry; gaps double from there.
    pub retry_base: Duration,
    /// Longest gap between attempts.
    pub retry_max: Duration,
    /// A delivery not succeeded this long after its event is abandoned.
    pub give_up_after: Duration,
    /// An endpoint whose deliveries have all failed for this long is disabled.
    pub disable_after: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Whole-attempt timeout.
    pub timeout: Duration,
    /// Attempts in flight at once.
    pub concurrency: usize,
}

/// Delivers webhooks from the store.
pub struct Worker {
    store: Arc<Store>,
    secret_key: SubKey,
    config: WorkerConfig,
    tls: Arc<rustls::ClientConfig>,
}

/// Attempts kept on a delivery record.
const ATTEMPTS_KEPT: usize = 50;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Worker {
    /// A worker; HTTPS endpoints are verified against the system's trusted roots.
    pub fn new(store: Arc<Store>, secret_key: SubKey, config: WorkerConfig) -> Worker {
        let mut roots = rustls::RootCertStore::empty();
        let loaded = rustls_native_certs::load_native_certs();
        for cert in loaded.certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            tracing::warn!(
                "no trusted root certificates found; https:// webhook deliveries will fail"
            );
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Worker {
            store,
            secret_key,
            config,
            tls: Arc::new(tls),
        }
    }

    /// Runs until the task is aborted: claims due deliveries whenever a slot is free,
    /// looking again every 200 ms when there were none.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(self.config.concurrency));
            loop {
                // Wait for at least one free slot, then claim as many jobs as are free.
                let Ok(first) = slots.clone().acquire_owned().await else {
                    return;
                };
                let free = slots.available_permits() + 1;
                let this = self.clone();
                let jobs = match tokio::task::spawn_blocking(move || this.claim(free)).await {
                    Ok(Ok(jobs)) => jobs,
                    Ok(Err(e)) => {
                        tracing::error!("cannot claim webhook deliveries: {e}");
                        Vec::new()
                    }
                    Err(_) => Vec::new(),
                };
                drop(first);
                if jobs.is_empty() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                for job in jobs {
                    let Ok(slot) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.deliver(job).await;
                        drop(slot);
                    });
                }
            }
        })
    }

    fn lease(&self) -> i64 {
        (self.config.timeout + self.config.connect_timeout + Duration::from_secs(20)).as_millis()
            as i64
    }

    fn claim(&self, limit: usize) -> Result<Vec<DueJob>, StoreError> {
        let now = now_ms();
        let due = self
            .store
            .read(|tx| tx.due_jobs(now, limit as u32, Jobs::Only(crate::DELIVER)))?;
        let until = now + self.lease();
        self.store.write(|tx| {
            let mut claimed = Vec::new();
            for job in due {
                if tx.claim_job(job.id, now, until)? {
                    claimed.push(job);
                }
            }
            Ok(claimed)
        })
    }

    async fn deliver(self: Arc<Self>, job: DueJob) {
        let this = self.clone();
        let job_ = job.clone();
        let prepared = tokio::task::spawn_blocking(move || this.prepare(&job_)).await;
        let prepared = match prepared {
            Ok(Ok(Some(p))) => p,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::error!(
                    job = job.id,
                    "cannot prepare webhook delivery, will retry: {e}"
                );
                return;
            }
            Err(_) => return,
        };
        let signature = {
            let secrets: Vec<&str> = prepared.secrets.iter().map(|s| s.as_str()).collect();
            webhook::header(&secrets, now_ms() / 1000, prepared.body.as_bytes())
        };
        let outcome = attempt::post(&attempt::Attempt {
            url: &prepared.url,
            body: &prepared.body,
            signature: &signature,
            require_https: self.config.require_https,
            policy: self.config.policy,
            connect_timeout: self.config.connect_timeout,
            timeout: self.config.timeout,
            tls: &self.tls,
        })
        .await;
        let this = self.clone();
        let recorded =
            tokio::task::spawn_blocking(move || this.record(&job, prepared.delivery, &outcome))
                .await;
        if let Ok(Err(e)) = recorded {
            tracing::error!(
                "cannot record a webhook attempt (the delivery will be attempted again): {e}"
            );
        }
    }

    /// Loads what the attempt needs; `None` when there is nothing to deliver (the job was
    /// finished here).
    fn prepare(&self, job: &DueJob) -> Result<Option<Prepared>, StoreError> {
        let scope = &job.scope;
        self.store.write(|tx| {
            let Some(delivery) = tx.get_object(scope, "webhook_delivery", &job.object)? else {
                tx.finish_job(job.id)?;
                return Ok(None);
            };
            let delivery = delivery.doc;
            let endpoint_id = delivery["webhook_endpoint"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let endpoint = tx.get_object(scope, "webhook_endpoint", &endpoint_id)?;
            let event = tx.get_object(
                scope,
                "event",
                delivery["event"].as_str().unwrap_or_default(),
            )?;
            let (Some(endpoint), Some(event)) = (endpoint, event) else {
                tx.finish_job(job.id)?;
                return Ok(None);
            };
            if endpoint.doc["deleted"] == true || endpoint.doc["status"] != "enabled" {
                let mut doc = delivery;
                doc["status"] = json!("failed");
                doc["next_attempt"] = Value::Null;
                records::save(tx, scope, &doc)?;
                tx.finish_job(job.id)?;
                return Ok(None);
            }
            let now = now_ms() / 1000;
            let secrets = endpoint.private["secrets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter(|s| s["expires_at"].as_i64().is_none_or(|t| t > now))
                .filter_map(|s| {
                    webhook::open_secret(&self.secret_key, &endpoint_id, s["sealed"].as_str()?)
                })
                .collect();
            Ok(Some(Prepared {
                delivery,
                url: endpoint.doc["url"].as_str().unwrap_or_default().to_owned(),
                body: event.doc.to_string(),
                secrets,
            }))
        })
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let exponent = attempts.saturating_sub(1).min(30);
        let base = self
            .config
            .retry_base
            .saturating_mul(1u32 << exponent)
            .min(self.config.retry_max);
        // Jitter within [0.8, 1.0] keeps every gap longer than the one before it.
        let mut byte = [0u8; 1];
        tessera_crypto::random::fill(&mut byte);
        base.mul_f64(0.8 + 0.2 * f64::from(byte[0]) / 255.0)
    }

    fn record(&self, job: &DueJob, mut doc: Value, outcome: &Outcome) -> Result<(), StoreError> {
        let scope = &job.scope;
        let now = now_ms();
        let attempt = json!({
            "created": now / 1000,
            "status_code": outcome.status,
            "latency_ms": outcome.latency.as_millis() as u64,
            "response_body": outcome.response_body,
            "error": outcome.error,
        });
        let mut attempts = doc["attempts"].as_array().cloned().unwrap_or_default();
        attempts.insert(0, attempt);
        attempts.truncate(ATTEMPTS_KEPT);
        doc["attempts"] = Value::Array(attempts);
        let count = doc["attempt_count"].as_u64().unwrap_or(0) + 1;
        doc["attempt_count"] = json!(count);
        let endpoint_id = doc["webhook_endpoint"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.store.write(|tx| {
            // Status may have changed (a retry on demand) since this attempt was prepared.
            let was_pending = tx
                .get_object(scope, "webhook_delivery", &job.object)?
                .is_some_and(|d| d.doc["status"] != "succeeded");
            if outcome.succeeded() {
                doc["status"] = json!("succeeded");
                doc["next_attempt"] = Value::Null;
                tx.finish_job(job.id)?;
                if was_pending {
                    records::adjust_pending(
                        tx,
                        scope,
                        doc["event"].as_str().unwrap_or_default(),
                        -1,
                    )?;
                }
                self.endpoint_health(tx, scope, &endpoint_id, true, now)?;
            } else {
                let age_ms = now - doc["created"].as_i64().unwrap_or(0) * 1000;
                if age_ms >= self.config.give_up_after.as_millis() as i64 {
                    doc["status"] = json!("failed");
                    doc["next_attempt"] = Value::Null;
                    tx.finish_job(job.id)?;
                } else {
                    let next = now + self.backoff(count as u32).as_millis() as i64;
                    doc["status"] = json!("pending");
                    doc["next_attempt"] = json!(next / 1000);
                    tx.reschedule_job(job.id, next)?;
                }
                self.endpoint_health(tx, scope, &endpoint_id, false, now)?;
            }
            records::save(tx, scope, &doc)
        })
    }

    /// Tracks how long an endpoint has failed without a success; disables it after
    /// `disable_after` and records why.
    fn endpoint_health(
        &self,
        tx: &tessera_store::Tx<'_>,
        scope: &tessera_store::Scope,
        id: &str,
        succeeded: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let Some(found) = tx.get_object(scope, "webhook_endpoint", id)? else {
            return Ok(());
        };
        let mut doc = found.doc;
        let mut private = found.private;
        let failing_since = private["failing_since_ms"].as_i64();
        match (succeeded, failing_since) {
            (true, None) => return Ok(()),
            (true, Some(_)) => private["failing_since_ms"] = Value::Null,
            (false, None) => private["failing_since_ms"] = json!(now_ms),
            (false, Some(since)) => {
                if now_ms - since < self.config.disable_after.as_millis() as i64
                    || doc["status"] != "enabled"
                {
                    return Ok(());
                }
                doc["status"] = json!("disabled");
                // Shown on the endpoint (a Tessera extension field) so the merchant sees why.
                doc["disabled_notice"] = json!({
                    "at": now_ms / 1000,
                    "reason": "every delivery failed for longer than the endpoint may fail; fix the endpoint and enable it again",
                });
                tracing::warn!(
                    endpoint = id,
                    "webhook endpoint disabled after failing continuously"
                );
            }
        }
        tx.update_object(scope, id, (None, None), &doc, Some(&private))
    }
}

struct Prepared {
    delivery: Value,
    url: String,
    body: String,
    secrets: Vec<zeroize::Zeroizing<String>>,
}
