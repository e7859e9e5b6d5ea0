//! The workloads: what one flow sends, and how each response is checked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clap::ValueEnum;
use hyper::Method;
use serde::Deserialize;

use crate::http::{Call, Client, form};

/// What one flow does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Secret-key card PaymentMethod, then a PaymentIntent created and confirmed with it.
    Payment,
    /// PaymentIntent (secret key), PaymentMethod with the publishable key (as a browser
    /// does), confirm with the client secret and publishable key.
    BrowserPayment,
    /// PaymentMethod, manual-capture PaymentIntent, partial capture, partial refund.
    CaptureRefund,
    /// Retrieve one PaymentIntent and list ten.
    Read,
}

impl Workload {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Payment => "payment",
            Workload::BrowserPayment => "browser-payment",
            Workload::CaptureRefund => "capture-refund",
            Workload::Read => "read",
        }
    }

    /// The request kinds of one flow, in order.
    pub fn kinds(self) -> &'static [&'static str] {
        match self {
            Workload::Payment => &["payment_methods.create", "payment_intents.create_confirm"],
            Workload::BrowserPayment => &[
                "payment_intents.create",
                "payment_methods.create_publishable",
                "payment_intents.confirm_publishable",
            ],
            Workload::CaptureRefund => &[
                "payment_methods.create",
                "payment_intents.create_confirm_manual",
                "payment_intents.capture_partial",
                "refunds.create_partial",
            ],
            Workload::Read => &["payment_intents.retrieve", "payment_intents.list"],
        }
    }
}

/// Test-mode keys.
#[derive(Debug, Clone)]
pub struct Keys {
    /// `sk_test_…` (or `rk_test_…`).
    pub secret: String,
    /// `pk_test_…`.
    pub publishable: Option<String>,
}

/// Checks the keys: test mode only, and a publishable key where the workload needs one.
pub fn check_keys(
    workload: Workload,
    secret: String,
    publishable: Option<String>,
) -> Result<Keys, String> {
    if !(secret.starts_with("sk_test_") || secret.starts_with("rk_test_")) {
        return Err("--secret-key must be a test-mode secret key (sk_test_… or rk_test_…)".into());
    }
    if let Some(pk) = &publishable
        && !pk.starts_with("pk_test_")
    {
        return Err("--publishable-key must be a test-mode publishable key (pk_test_…)".into());
    }
    if workload == Workload::BrowserPayment && publishable.is_none() {
        return Err("the browser-payment workload needs --publishable-key pk_test_…".into());
    }
    Ok(Keys {
        secret,
        publishable,
    })
}

/// State shared by every flow of a run.
pub struct FlowShared {
    /// Which workload.
    pub workload: Workload,
    /// The keys.
    pub keys: Keys,
    /// For `read`: PaymentIntents made in setup.
    pub read_ids: Vec<String>,
    /// Card expiry year sent (a few years ahead).
    pub exp_year: String,
    idempotency_prefix: String,
    counter: AtomicU64,
}

impl FlowShared {
    /// Shared state for a run.
    pub fn new(workload: Workload, keys: Keys, exp_year: u32, idempotency_prefix: String) -> Self {
        FlowShared {
            workload,
            keys,
            read_ids: Vec::new(),
            exp_year: exp_year.to_string(),
            idempotency_prefix,
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    fn idempotency_key(&self) -> String {
        format!("{}-{}", self.idempotency_prefix, self.next())
    }
}

/// What a flow did: latencies (µs) of its successful requests by kind index, and the
/// failure that ended it, if any.
#[derive(Debug, Default)]
pub struct FlowOutcome {
    /// (kind index, microseconds) per successful request.
    pub samples: Vec<(usize, u32)>,
    /// (kind index, error label) of the request that failed.
    pub error: Option<(usize, String)>,
}

impl FlowOutcome {
    /// Whether the error (if any) means the connection is unusable.
    pub fn connection_failed(&self) -> bool {
        matches!(&self.error, Some((_, e)) if e == "connection" || e == "timeout")
    }
}

/// The fields of a response that flows look at; everything else is ignored.
#[derive(Debug, Deserialize)]
pub struct Obj {
    /// Object id.
    pub id: Option<String>,
    /// `object` (e.g. `payment_intent`, `list`).
    pub object: Option<String>,
    /// Status, where the object has one.
    pub status: Option<String>,
    /// PaymentIntent client secret.
    pub client_secret: Option<String>,
}

struct Flow<'a> {
    client: &'a mut Client,
    shared: &'a FlowShared,
    outcome: FlowOutcome,
}

type Step<T> = Result<T, (usize, String)>;

impl Flow<'_> {
    async fn call(
        &mut self,
        kind: usize,
        method: Method,
        path: &str,
        bearer: bool,
        pairs: &[(&str, &str)],
    ) -> Step<Obj> {
        let post = method == Method::POST;
        let call = Call {
            method,
            path,
            bearer: bearer.then_some(self.shared.keys.secret.as_str()),
            form: post.then(|| form(pairs)),
            idempotency_key: post.then(|| self.shared.idempotency_key()),
        };
        let start = Instant::now();
        let reply = self
            .client
            .send(call)
            .await
            .map_err(|f| (kind, f.label().to_owned()))?;
        let micros = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
        if !(200..300).contains(&reply.status) {
            return Err((kind, reply.status.to_string()));
        }
        self.outcome.samples.push((kind, micros));
        serde_json::from_slice::<Obj>(&reply.body).map_err(|_| (kind, "bad_json".to_owned()))
    }
}

fn need(kind: usize, value: Option<String>, what: &str) -> Step<String> {
    value.ok_or_else(|| (kind, format!("no_{what}")))
}

fn expect_status(kind: usize, obj: &Obj, wanted: &[&str]) -> Step<()> {
    match obj.status.as_deref() {
        Some(s) if wanted.contains(&s) => Ok(()),
        Some(s) => Err((kind, format!("status_{s}"))),
        None => Err((kind, "no_status".to_owned())),
    }
}

/// Runs one flow of the workload on `client`.
pub async fn run_flow(client: &mut Client, shared: &FlowShared) -> FlowOutcome {
    let mut flow = Flow {
        client,
        shared,
        outcome: FlowOutcome::default(),
    };
    let result = match shared.workload {
        Workload::Payment => payment(&mut flow).await,
        Workload::BrowserPayment => browser_payment(&mut flow).await,
        Workload::CaptureRefund => capture_refund(&mut flow).await,
        Workload::Read => read(&mut flow).await,
    };
    if let Err(e) = result {
        flow.outcome.error = Some(e);
    }
    flow.outcome
}

fn card(exp_year: &str) -> [(&'static str, &str); 5] {
    [
        ("type", "card"),
        ("card[number]", "4242424242424242"),
        ("card[exp_month]", "12"),
        ("card[exp_year]", exp_year),
        ("card[cvc]", "123"),
    ]
}

async fn create_pm(flow: &mut Flow<'_>, kind: usize) -> Step<String> {
    let pm = flow
        .call(
            kind,
            Method::POST,
            "/v1/payment_methods",
            true,
            &card(&flow.shared.exp_year),
        )
        .await?;
    need(kind, pm.id, "id")
}

async fn payment(flow: &mut Flow<'_>) -> Step<()> {
    let pm = create_pm(flow, 0).await?;
    let amount = (1000 + flow.shared.next() % 1000).to_string();
    let pi = flow
        .call(
            1,
            Method::POST,
            "/v1/payment_intents",
            true,
            &[
                ("amount", &amount),
                ("currency", "usd"),
                ("payment_method", &pm),
                ("confirm", "true"),
            ],
        )
        .await?;
    expect_status(1, &pi, &["succeeded"])
}

async fn browser_payment(flow: &mut Flow<'_>) -> Step<()> {
    let pk = flow.shared.keys.publishable.clone().unwrap_or_default();
    let amount = (1000 + flow.shared.next() % 1000).to_string();
    let pi = flow
        .call(
            0,
            Method::POST,
            "/v1/payment_intents",
            true,
            &[("amount", &amount), ("currency", "usd")],
        )
        .await?;
    let pi_id = need(0, pi.id, "id")?;
    let secret = need(0, pi.client_secret, "client_secret")?;
    let exp_year = flow.shared.exp_year.clone();
    let mut pm_form = card(&exp_year).to_vec();
    pm_form.push(("key", &pk));
    let pm = flow
        .call(1, Method::POST, "/v1/payment_methods", false, &pm_form)
        .await?;
    let pm_id = need(1, pm.id, "id")?;
    let confirmed = flow
        .call(
            2,
            Method::POST,
            &format!("/v1/payment_intents/{pi_id}/confirm"),
            false,
            &[
                ("client_secret", &secret),
                ("payment_method", &pm_id),
                ("key", &pk),
            ],
        )
        .await?;
    expect_status(2, &confirmed, &["succeeded"])
}

async fn capture_refund(flow: &mut Flow<'_>) -> Step<()> {
    let pm = create_pm(flow, 0).await?;
    let pi = flow
        .call(
            1,
            Method::POST,
            "/v1/payment_intents",
            true,
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("payment_method", &pm),
                ("capture_method", "manual"),
                ("confirm", "true"),
            ],
        )
        .await?;
    expect_status(1, &pi, &["requires_capture"])?;
    let pi_id = need(1, pi.id, "id")?;
    let captured = flow
        .call(
            2,
            Method::POST,
            &format!("/v1/payment_intents/{pi_id}/capture"),
            true,
            &[("amount_to_capture", "1500")],
        )
        .await?;
    expect_status(2, &captured, &["succeeded"])?;
    let refund = flow
        .call(
            3,
            Method::POST,
            "/v1/refunds",
            true,
            &[("payment_intent", &pi_id), ("amount", "500")],
        )
        .await?;
    expect_status(3, &refund, &["succeeded", "pending"])
}

async fn read(flow: &mut Flow<'_>) -> Step<()> {
    let ids = &flow.shared.read_ids;
    let id = &ids[(flow.shared.next() % ids.len().max(1) as u64) as usize];
    let pi = flow
        .call(
            0,
            Method::GET,
            &format!("/v1/payment_intents/{id}"),
            true,
            &[],
        )
        .await?;
    if pi.id.as_deref() != Some(id.as_str()) {
        return Err((0, "wrong_id".to_owned()));
    }
    let list = flow
        .call(1, Method::GET, "/v1/payment_intents?limit=10", true, &[])
        .await?;
    if list.object.as_deref() != Some("list") {
        return Err((1, "not_a_list".to_owned()));
    }
    Ok(())
}

/// Lists one PaymentIntent with the secret key: is the gateway up, is the key good?
pub async fn preflight(client: &mut Client, shared: &FlowShared) -> Result<(), String> {
    let reply = client
        .send(Call {
            method: Method::GET,
            path: "/v1/payment_intents?limit=1",
            bearer: Some(&shared.keys.secret),
            form: None,
            idempotency_key: None,
        })
        .await
        .map_err(|f| match f {
            crate::http::Failure::Connection => {
                "a first request got no HTTP answer (http:// to an https listener?)".to_owned()
            }
            crate::http::Failure::Timeout => "no answer to a first request".to_owned(),
        })?;
    match reply.status {
        200..=299 => Ok(()),
        401 => Err("the gateway refused --secret-key (401)".into()),
        status => Err(format!(
            "a first request (GET /v1/payment_intents?limit=1) answered {status}: {}",
            String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)])
        )),
    }
}

/// Setup for `read`: creates `n` PaymentIntents (not confirmed) and returns their ids.
pub async fn create_read_fixtures(
    client: &mut Client,
    shared: &FlowShared,
    n: usize,
) -> Result<Vec<String>, String> {
    let mut flow = Flow {
        client,
        shared,
        outcome: FlowOutcome::default(),
    };
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let amount = (500 + i).to_string();
        let pi = flow
            .call(
                0,
                Method::POST,
                "/v1/payment_intents",
                true,
                &[("amount", &amount), ("currency", "usd")],
            )
            .await
            .map_err(|(_, e)| format!("setup: creating a PaymentIntent failed: {e}"))?;
        ids.push(need(0, pi.id, "id").map_err(|_| "setup: PaymentIntent without id")?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_test_mode() {
        assert!(check_keys(Workload::Payment, "sk_test_x".into(), None).is_ok());
        assert!(check_keys(Workload::Payment, "rk_test_x".into(), None).is_ok());
        assert!(check_keys(Workload::Payment, "sk_live_x".into(), None).is_err());
        assert!(check_keys(Workload::Payment, "pk_test_x".into(), None).is_err());
        assert!(
            check_keys(
                Workload::Payment,
                "sk_test_x".into(),
                Some("pk_live_x".into())
            )
            .is_err()
        );
        let err = check_keys(Workload::BrowserPayment, "sk_test_x".into(), None).unwrap_err();
        assert!(err.contains("--publishable-key"), "{err}");
        assert!(
            check_keys(
                Workload::BrowserPayment,
                "sk_test_x".into(),
                Some("pk_test_y".into())
            )
            .is_ok()
        );
    }

    #[test]
    fn kinds_are_distinct_per_workload() {
        for w in [
            Workload::Payment,
            Workload::BrowserPayment,
            Workload::CaptureRefund,
            Workload::Read,
        ] {
            let mut k = w.kinds().to_vec();
            k.sort_unstable();
            k.dedup();
            assert_eq!(k.len(), w.kinds().len(), "{}", w.name());
        }
    }
}
