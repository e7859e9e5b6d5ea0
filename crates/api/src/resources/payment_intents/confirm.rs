//! Confirming a PaymentIntent: one authorization attempt.
//!
//! The attempt is fenced: the intent is marked as having an attempt in flight before
//! the vault is asked to authorize, so two concurrent confirmations cannot both
//! charge the card. The outcome (charge, intent, events) is then written in one
//! transaction. A decline is answered as a 402 card error carrying the intent.

use serde_json::{Value, json};
use tessera_core::ApiError;
use tessera_core::ids::ObjectKind;
use tessera_core::payment_intent::{Action, Transition};
use tessera_core::ports::{AuthorizationRequest, Decision, ThreeDSecure, VaultError};
use tessera_crypto::{constant_time_eq, random};
use tessera_store::{Encoded, NewObject, Scope, StoredObject, Tx};

use super::{insert_row, save, save_as, status_of};
use crate::app::App;
use crate::auth::Caller;
use crate::events;
use crate::form::Params;
use crate::pipeline::{Ctx, Failure, Outcome, unix_now};
use crate::resources::charges::{self, Attempt};
use crate::resources::{
    absolute_url, checkout_sessions, load, payment_methods, radar_lists, radar_rules, reviews,
};
use crate::risk;
use tessera_core::card::CardChecks;
use tessera_core::ports::Authorization;
use tessera_risk::Action as RuleAction;

/// An attempt in flight for longer than this was abandoned by a process that died.
const ATTEMPT_STALE_AFTER_SECS: i64 = 60;

/// When a job that carries on a fenced processor call (a capture, a release, a refund)
/// looks at it: once its request, if still running, has had the minute after which its
/// fence counts as abandoned ([`attempt_in_flight`]).
pub(crate) const CARRY_ON_AFTER_MS: i64 = (ATTEMPT_STALE_AFTER_SECS + 1) * 1000;

/// Whether an intent (by its private document) has an authorization attempt under way.
/// `serving` is the name of this process when it serves the store alone
/// ([`tessera_store::Store::serving_instance`]): an attempt another process started
/// was then abandoned when that process stopped, and is not waited for. Without it, an
/// attempt counts as abandoned a minute after it started.
pub(crate) fn attempt_in_flight(private: &Value, now: i64, serving: Option<&str>) -> bool {
    let Some(started) = private["attempt_started"].as_i64() else {
        return false;
    };
    let left_by_a_stopped_process =
        serving.is_some_and(|me| private["attempt_by"].as_str() != Some(me));
    now - started < ATTEMPT_STALE_AFTER_SECS && !left_by_a_stopped_process
}

/// What an intent is fenced for while the processor is asked (see [`attempt_in_flight`]):
/// one of its authorization attempts, the capture of its authorization, or the release
/// of that authorization as it is canceled. Noted as `fenced_for` in the intent's
/// private document; an authorization leaves it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FencedFor {
    Authorization,
    Capture,
    Cancel,
}

impl FencedFor {
    pub(crate) fn of(private: &Value) -> FencedFor {
        match private["fenced_for"].as_str() {
            Some("capture") => FencedFor::Capture,
            Some("cancel") => FencedFor::Cancel,
            _ => FencedFor::Authorization,
        }
    }

    /// Notes what the fence is for in `private`; an authorization, on every payment's
    /// path, adds nothing to the intent's row.
    fn note(self, private: &mut Value) {
        let noted = match self {
            FencedFor::Authorization => {
                if let Some(fields) = private.as_object_mut() {
                    fields.remove("fenced_for");
                }
                return;
            }
            FencedFor::Capture => "capture",
            FencedFor::Cancel => "cancel",
        };
        private["fenced_for"] = json!(noted);
    }

    /// What happens to the payment meanwhile, for the refusal's message.
    fn doing(self) -> &'static str {
        match self {
            FencedFor::Authorization => "authorized",
            FencedFor::Capture => "captured",
            FencedFor::Cancel => "canceled",
        }
    }
}

/// Refuses a change to an intent (by its private document) while the processor is
/// asked for it (an authorization attempt, a capture, a release): that call decides
/// first, and its outcome is written over the intent as it was fenced.
pub(crate) fn refuse_while_attempt_in_flight(ctx: &Ctx<'_>, private: &Value) -> Outcome<()> {
    if attempt_in_flight(private, ctx.now, ctx.app.store.serving_instance()) {
        return Err(ApiError::payment_in_progress(FencedFor::of(private).doing()).into());
    }
    Ok(())
}

/// Whether a fence starts a new authorization attempt, or makes again the one that an
/// earlier request with the same idempotency key began before its process stopped
/// (under the same name: [`AuthorizationRequest::attempt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptKind {
    New,
    Again,
}

/// How a fence stores the intent it fenced.
pub(crate) enum Saving {
    /// Over the intent as stored.
    Update,
    /// As the intent's first row: it was created by the same write
    /// (create-and-confirm), whose caller stores it unfenced if the fence refuses.
    /// With the row made ready before the write, when the request names its payment
    /// method.
    Insert(Option<Prefenced>),
}

/// A new intent as its fence will store it, encoded before the write that fences it
/// (which holds the store's one write lock): create-and-confirm knows the intent, the
/// request and the payment method's id before it takes the lock.
pub(crate) struct Prefenced {
    doc: Value,
    private: Value,
    row: Encoded,
}

impl Prefenced {
    /// New intent `doc` as fenced for its first attempt with payment method `pm_id`
    /// by `request`.
    pub(crate) fn new(
        ctx: &Ctx<'_>,
        doc: &Value,
        pm_id: &str,
        request: &ConfirmRequest,
    ) -> Outcome<Prefenced> {
        let (doc, private) = fenced_docs(
            ctx,
            doc.clone(),
            json!({}),
            Some(pm_id),
            request,
            AttemptKind::New,
        );
        Ok(Prefenced {
            row: Encoded::new(&doc)?,
            doc,
            private,
        })
    }
}

/// Intent `doc` (with private document `private`) as a fence for an attempt of `kind`
/// by `request` leaves it: with payment method `new_pm` if the request names one, or
/// with its own.
fn fenced_docs(
    ctx: &Ctx<'_>,
    mut doc: Value,
    mut private: Value,
    new_pm: Option<&str>,
    request: &ConfirmRequest,
    kind: AttemptKind,
) -> (Value, Value) {
    if let Some(pm_id) = new_pm {
        private["authenticated"] = json!(false);
        doc["payment_method"] = json!(pm_id);
    }
    if let Some(email) = &request.receipt_email {
        doc["receipt_email"] = json!(email);
    }
    if let Some(sfu) = &request.setup_future_usage {
        doc["setup_future_usage"] = if sfu.is_empty() {
            Value::Null
        } else {
            json!(sfu)
        };
    }
    if let Some(m) = &request.capture_method {
        doc["capture_method"] = json!(m);
    }
    if let Some(choice) = &request.three_d_secure {
        doc["payment_method_options"]["card"]["request_three_d_secure"] = json!(choice);
    }
    private["return_url"] = json!(request.return_url);
    private["off_session"] = json!(request.off_session.unwrap_or(false));
    private["error_on_requires_action"] = json!(request.error_on_requires_action.unwrap_or(false));
    mark_attempt_started(&mut private, ctx.now, ctx.app, kind);
    (doc, private)
}

/// Marks an intent (by its private document) as having an authorization attempt under
/// way from `now`, by this process ([`attempt_in_flight`] tells it apart from one left
/// by a process that stopped), and counts it unless it is made again.
fn mark_attempt_started(private: &mut Value, now: i64, app: &App, kind: AttemptKind) {
    let made = private["attempts"].as_u64();
    if kind == AttemptKind::New || made.is_none() {
        private["attempts"] = json!(made.unwrap_or(0) + 1);
    }
    mark_fenced(private, now, app, FencedFor::Authorization);
}

/// Fences an intent (by its private document) from `now`, by this process, while the
/// processor is asked `what`; its authorization attempts are counted apart
/// ([`mark_attempt_started`]).
pub(crate) fn mark_fenced(private: &mut Value, now: i64, app: &App, what: FencedFor) {
    private["attempt_started"] = json!(now);
    private["attempt_by"] = json!(app.store.serving_instance());
    what.note(private);
}

/// Whether intent `pi_id` (read in the write that records an attempt's outcome) is
/// still fenced for the attempt whose fence left `fenced` (its private document). Not
/// if the attempt outlived its fence (a processor that took over a minute to answer):
/// the fence then counted as abandoned, and another request may have taken the intent
/// over, whose outcome stands.
pub(crate) fn still_fenced_for(
    tx: &Tx<'_>,
    scope: &Scope,
    pi_id: &str,
    fenced: &Value,
) -> Outcome<bool> {
    // The private document alone: this runs under the store's write lock, once per
    // payment, and need not parse the intent's wire document.
    let current = tx.get_private(scope, ObjectKind::PaymentIntent.object_name(), pi_id)?;
    Ok(current.is_some_and(|current| holds_fence(&current, fenced)))
}

/// Whether an intent's private document `current` still holds the fence that left
/// `fenced` ([`still_fenced_for`], for a caller that has read the intent already).
pub(crate) fn holds_fence(current: &Value, fenced: &Value) -> bool {
    ["attempts", "attempt_started", "attempt_by", "fenced_for"]
        .iter()
        .all(|field| current[*field] == fenced[*field])
}

/// The answer to a call whose intent was taken over while it was with the processor
/// ([`still_fenced_for`]): its outcome is not recorded, and the authorization an
/// attempt obtained, if any (`authorized`: the attempt's name and processor data), is
/// released.
pub(crate) fn superseded(
    ctx: &Ctx<'_>,
    pi_id: &str,
    what: FencedFor,
    authorized: Option<(&str, &str)>,
) -> Failure {
    if let Some((attempt, processor_data)) = authorized {
        ctx.app
            .processor
            .void(&format!("{attempt}/void"), processor_data);
    }
    tracing::warn!(
        request_id = %ctx.request_id,
        payment_intent = %pi_id,
        "a processor call ({what:?}) outlived its fence and another request took the intent over; its outcome was not recorded"
    );
    ApiError::payment_in_progress(what.doing()).into()
}

/// The confirmation parameters of a create-with-confirm or a confirm call.
pub(crate) struct ConfirmRequest {
    payment_method: Option<String>,
    payment_method_data: Option<Params>,
    return_url: Option<String>,
    off_session: Option<bool>,
    error_on_requires_action: Option<bool>,
    setup_future_usage: Option<String>,
    receipt_email: Option<String>,
    capture_method: Option<String>,
    three_d_secure: Option<String>,
}

impl ConfirmRequest {
    /// Takes the confirmation parameters. Publishable keys may not set how the payment
    /// is captured or authenticated: those are decided on the merchant's server.
    pub(crate) fn take(p: &mut Params, ctx: &Ctx<'_>) -> Result<ConfirmRequest, ApiError> {
        if ctx.caller.is_publishable() {
            for server_only in [
                "capture_method",
                "payment_method_options",
                "payment_method_types",
                "allowed_payment_method_types",
                "setup_future_usage",
            ] {
                if p.has(server_only) {
                    return Err(ApiError::invalid_request(
                        server_only,
                        format!(
                            "{server_only} cannot be set with a publishable API key; set it when creating the PaymentIntent on your server."
                        ),
                    ));
                }
            }
        }
        let off_session = match p.string("off_session")?.as_deref() {
            None => None,
            Some("true" | "one_off" | "recurring") => Some(true),
            Some("false") => Some(false),
            Some(_) => {
                return Err(ApiError::invalid_request(
                    "off_session",
                    "Invalid off_session: must be true, false, one_off or recurring.",
                ));
            }
        };
        let three_d_secure = super::three_d_secure_option(p)?.flatten();
        super::payment_method_types(p)?;
        let setup_future_usage = super::setup_future_usage(p)?;
        let request = ConfirmRequest {
            payment_method: p.string("payment_method")?,
            payment_method_data: p.map("payment_method_data")?,
            return_url: p
                .string("return_url")?
                .map(|u| absolute_url(u, "return_url"))
                .transpose()?,
            off_session,
            error_on_requires_action: p.bool("error_on_requires_action")?,
            setup_future_usage,
            receipt_email: p.string("receipt_email")?,
            capture_method: p.one_of(
                "capture_method",
                &["automatic", "automatic_async", "manual"],
            )?,
            three_d_secure,
        };
        if request.payment_method.is_some() && request.payment_method_data.is_some() {
            return Err(ApiError::invalid_request(
                "payment_method_data",
                "You may only specify one of these parameters: payment_method, payment_method_data.",
            ));
        }
        Ok(request)
    }

    /// A parameter that only makes sense when confirming, if one was given.
    pub(crate) fn confirm_only_param(&self) -> Option<&'static str> {
        if self.return_url.is_some() {
            Some("return_url")
        } else if self.off_session.is_some() {
            Some("off_session")
        } else if self.error_on_requires_action.is_some() {
            Some("error_on_requires_action")
        } else {
            None
        }
    }

    /// The id of the payment method a confirmation uses, if the request names one:
    /// created from `payment_method_data` or a test card (`pm_card_visa`) now, or an
    /// id the fence looks up in its own write ([`fence`]), which refuses an unknown one
    /// as [`payment_methods::resolve`] would. That saves a read of the payment method
    /// before the write that reads it anyway, on every payment.
    pub(crate) fn payment_method_id(&mut self, ctx: &Ctx<'_>) -> Outcome<Option<String>> {
        match &self.payment_method {
            Some(id)
                if self.payment_method_data.is_none()
                    && random::is_object_id(ObjectKind::PaymentMethod.prefix(), id) =>
            {
                Ok(Some(id.clone()))
            }
            _ => Ok(self
                .payment_method(ctx)?
                .map(|pm| pm["id"].as_str().unwrap_or_default().to_owned())),
        }
    }

    /// Resolves or creates the payment method the request names, if any.
    pub(crate) fn payment_method(&mut self, ctx: &Ctx<'_>) -> Outcome<Option<Value>> {
        if let Some(mut data) = self.payment_method_data.take() {
            return payment_methods::create_card(ctx, &mut data).map(Some);
        }
        match &self.payment_method {
            Some(id) => payment_methods::resolve(ctx, id, "payment_method").map(Some),
            None => Ok(None),
        }
    }
}

/// Confirms intent `id`: resolves the payment method, fences the attempt, authorizes.
pub(crate) fn run(ctx: &Ctx<'_>, id: &str, mut request: ConfirmRequest) -> Outcome<Value> {
    let new_pm = request.payment_method_id(ctx)?;
    let fenced = ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::PaymentIntent, id, "intent")?;
        fence(
            tx,
            ctx,
            found,
            new_pm.as_deref(),
            &request,
            AttemptKind::New,
            Saving::Update,
        )
    })?;
    attempt(ctx, fenced)
}

/// Carries on with intent `id`, which an earlier request with this request's
/// idempotency key fenced for an attempt before its process died
/// ([`Ctx::resume_from`]), instead of starting over with another intent:
/// - if the attempt's outcome was written, answers with it, as the earlier request
///   would have;
/// - if not, the outcome never came back, and the attempt is made again, on the same
///   intent with the payment method the earlier request gave it.
pub(crate) fn resume(ctx: &Ctx<'_>, id: &str, request: &ConfirmRequest) -> Outcome<Value> {
    let fenced = ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::PaymentIntent, id, "intent")?;
        if found.private["attempt_started"].is_null() {
            return Ok(Err(found.doc));
        }
        fence(
            tx,
            ctx,
            found,
            None,
            request,
            AttemptKind::Again,
            Saving::Update,
        )
        .map(Ok)
    })?;
    match fenced {
        Ok(fenced) => attempt(ctx, fenced),
        Err(finished) => outcome_of(finished),
    }
}

/// The answer an attempt gave, read back from the intent it left: a card error for a
/// declined one (the intent waits for another payment method, with the error), the
/// intent otherwise.
fn outcome_of(doc: Value) -> Outcome<Value> {
    let error = &doc["last_payment_error"];
    if doc["status"] != "requires_payment_method" || !error.is_object() {
        return Ok(doc);
    }
    let mut e = ApiError::card(
        error["code"].as_str().unwrap_or("card_declined"),
        error["decline_code"].as_str(),
        error["message"]
            .as_str()
            .unwrap_or("Your card was declined."),
    );
    e.payment_method = Some(error["payment_method"].clone()).filter(Value::is_object);
    e.charge = error["charge"].as_str().map(str::to_owned);
    e.payment_intent = Some(doc);
    Err(e.into())
}

/// An intent fenced for one authorization attempt, with what the attempt needs.
pub(super) struct Fenced {
    doc: Value,
    private: Value,
    pm: Value,
    pm_private: Value,
    rules: Vec<Value>,
    settings: Value,
}

/// Checks that intent `found` (as stored, read in this write) can be confirmed with
/// the request's payment method (or its own) and marks the attempt as started: the
/// fence that keeps a second confirmation out while this one is with the processor.
/// Writes only at its end, so a refusal leaves nothing behind.
pub(super) fn fence(
    tx: &Tx<'_>,
    ctx: &Ctx<'_>,
    found: StoredObject,
    new_pm: Option<&str>,
    request: &ConfirmRequest,
    kind: AttemptKind,
    saving: Saving,
) -> Outcome<Fenced> {
    // A payment method the request names is looked up first: an unknown one is refused
    // before anything about the intent.
    let named_pm = new_pm
        .map(|id| load(tx, ctx, ObjectKind::PaymentMethod, id, "payment_method"))
        .transpose()?;
    let doc = found.doc;
    let private = if found.private.is_object() {
        found.private
    } else {
        json!({})
    };
    status_of(&doc).allows(Action::Confirm)?;
    refuse_while_attempt_in_flight(ctx, &private)?;
    let pm_id = match new_pm {
        Some(pm_id) => pm_id,
        None => match doc["payment_method"].as_str() {
            Some(pm_id) => pm_id,
            None => {
                return Err(ApiError::invalid_request(
                    "payment_method",
                    "You cannot confirm this PaymentIntent because it's missing a payment method. Pass payment_method or payment_method_data.",
                )
                .with_code("payment_intent_unexpected_state")
                .into());
            }
        },
    };
    // Read inside this transaction: the card's saved-for-later state travels with it.
    let stored_pm = match named_pm {
        Some(pm) => pm,
        None => load(tx, ctx, ObjectKind::PaymentMethod, pm_id, "payment_method")?,
    };
    let (pm, pm_private) = (stored_pm.doc, stored_pm.private);
    if let (Some(pm_customer), Some(pi_customer)) =
        (pm["customer"].as_str(), doc["customer"].as_str())
        && pm_customer != pi_customer
    {
        return Err(ApiError::invalid_request(
            "payment_method",
            "The PaymentMethod belongs to a different customer than this PaymentIntent.",
        )
        .into());
    }
    let (doc, private) = match saving {
        Saving::Insert(Some(ready)) => {
            insert_row(tx, ctx, &ready.doc, &ready.row, &ready.private)?;
            (ready.doc, ready.private)
        }
        Saving::Insert(None) => {
            let (doc, private) = fenced_docs(ctx, doc, private, new_pm, request, kind);
            insert_row(tx, ctx, &doc, &doc, &private)?;
            (doc, private)
        }
        Saving::Update => {
            let (doc, private) = fenced_docs(ctx, doc, private, new_pm, request, kind);
            save(tx, ctx, &doc, &private)?;
            (doc, private)
        }
    };
    // Should this process die before the attempt's outcome is written, a retry with the
    // request's idempotency key carries on with this intent ([`resume`]).
    ctx.set_resume_point(tx, doc["id"].as_str().unwrap_or_default())?;
    let rules = radar_rules::account_rules(tx, ctx.scope())?;
    let settings = tx.account_settings(&ctx.scope().account)?;
    Ok(Fenced {
        doc,
        private,
        pm,
        pm_private,
        rules,
        settings,
    })
}

fn release_fence(ctx: &Ctx<'_>, id: &str) {
    let released = ctx.write(|tx| {
        let found = load(tx, ctx, ObjectKind::PaymentIntent, id, "intent")?;
        let mut private = found.private;
        private["attempt_started"] = Value::Null;
        save(tx, ctx, &found.doc, &private)
    });
    if let Err(Failure::Internal(e)) = released {
        tracing::error!(request_id = %ctx.request_id, "could not release the confirmation fence: {e}");
    }
}

/// One authorization attempt for a fenced intent, and its recorded outcome.
pub(super) fn attempt(ctx: &Ctx<'_>, fenced: Fenced) -> Outcome<Value> {
    let Fenced {
        doc,
        private,
        pm,
        pm_private,
        rules,
        settings,
    } = fenced;
    let (pm_private, rules, settings) = (&pm_private, &rules[..], &settings);
    let pi_id = doc["id"].as_str().unwrap_or_default().to_owned();
    let pm_id = pm["id"].as_str().unwrap_or_default();
    let mut three_d_secure = if private["authenticated"] == true {
        ThreeDSecure::Authenticated
    } else {
        match doc["payment_method_options"]["card"]["request_three_d_secure"].as_str() {
            Some("any" | "challenge") => ThreeDSecure::Any,
            _ => ThreeDSecure::Automatic,
        }
    };
    // The risk engine and the account's rules decide before the card goes anywhere.
    let assessment = risk::assess(ctx, &doc, &pm, pm_private, three_d_secure)?;
    let rule_set = radar_rules::rule_set(rules);
    let lists = radar_lists::lists_for_attempt(ctx, &rule_set, &assessment.signals)?;
    let screened = rule_set.evaluate(&assessment.signals, &lists);
    if screened.request_3ds && three_d_secure == ThreeDSecure::Automatic {
        three_d_secure = ThreeDSecure::Any;
    }
    let mut screening = risk::screening(&assessment, &screened, rules);
    let blocked = assessment.known_fraud || screened.action == Some(RuleAction::Block);
    let request = AuthorizationRequest {
        amount: doc["amount"].as_i64().unwrap_or(0),
        currency: doc["currency"].as_str().unwrap_or_default().to_owned(),
        three_d_secure,
        off_session: private["off_session"] == true,
        set_up_for_off_session: pm_private["off_session_ready"] == true,
        has_address_line1: pm["billing_details"]["address"]["line1"].is_string(),
        has_postal_code: pm["billing_details"]["address"]["postal_code"].is_string(),
        decline_on_cvc_failure: settings["block_cvc_failures"] == true,
        attempt: format!("{pi_id}/{}", private["attempts"].as_u64().unwrap_or(1)),
    };
    // The attempt (intent, fence) is on disk before the card goes to the processor:
    // whatever a connector does upstream, Tessera has a record of having asked.
    if let Err(e) = ctx.flush() {
        release_fence(ctx, &pi_id);
        return Err(e);
    }
    let authorization = if blocked {
        // Blocked by the engine or a rule: never sent to the processor.
        Ok(Authorization {
            decision: Decision::Blocked,
            checks: CardChecks::default(),
            three_d_secure: None,
            processor_data: String::new(),
        })
    } else {
        ctx.app
            .vault
            .authorize(&ctx.scope().account, pm_id, &request)
    };
    let authorization = match authorization {
        Ok(a) => a,
        Err(e) => {
            release_fence(ctx, &pi_id);
            return Err(match e {
                VaultError::NotFound => Failure::Internal(format!("vault has no card for {pm_id}")),
                VaultError::Unavailable(cause) => Failure::Internal(format!("vault: {cause}")),
            });
        }
    };

    let processor = &ctx.app.processor;
    let mut authorization = authorization;
    if authorization.decision == Decision::Approved {
        // What the network answered (the CVC check) can decide too: Radar's rules on
        // `:cvc_check:` block an approved payment, whose authorization is then voided.
        let after = risk::after_authorization(&assessment, &authorization);
        let decided = rule_set.evaluate(&after, &lists);
        if decided.action == Some(RuleAction::Block) && screened.action != Some(RuleAction::Allow) {
            processor.void(
                &format!("{}/void", request.attempt),
                &authorization.processor_data,
            );
            authorization.decision = Decision::Blocked;
            screening = risk::screening(&assessment, &decided, rules);
            screening.blocked_after_authorization = true;
        } else if decided.action == Some(RuleAction::Review) && screened.action.is_none() {
            screening = risk::screening(&assessment, &decided, rules);
        }
    }
    let failure = match authorization.decision {
        Decision::Approved => None,
        Decision::AuthenticationRequired if private["error_on_requires_action"] != true => {
            return requires_action(ctx, doc, private);
        }
        Decision::AuthenticationRequired => Some((
            "authentication_required",
            Some("authentication_required"),
            "Your card was declined. This transaction requires authentication.",
        )),
        Decision::Declined {
            code,
            decline_code,
            message,
        } => Some((code, decline_code, message)),
        Decision::Blocked => Some((
            "card_declined",
            Some("fraudulent"),
            "Your card was declined.",
        )),
    };

    let manual = doc["capture_method"] == "manual";
    let charge_attempt = Attempt {
        payment_intent: &doc,
        payment_method: &pm,
        authorization: &authorization,
        captured: !manual,
        failure: failure.map(|(code, _, message)| (code, message)),
        screening: &screening,
    };
    // Everything the attempt leaves is built and encoded before the write: the write
    // holds the store's one write lock while it runs.
    let charge_doc = charges::new_doc(ctx.scope(), ctx.now, &charge_attempt);
    let review = (failure.is_none() && screening.review)
        // Let through, but a person should look at it.
        .then(|| random::object_id(ObjectKind::Review.prefix()));
    let charge = charges::prepare(ctx.now, &charge_attempt, charge_doc, review.as_deref())?;
    let status = status_of(&doc);
    let mut after = doc.clone();
    let mut after_private = private.clone();
    after_private["attempt_started"] = Value::Null;
    after_private["authenticated"] = json!(false);
    after_private["challenge_token"] = Value::Null;
    after["next_action"] = Value::Null;
    after["latest_charge"] = charge.doc["id"].clone();
    if let Some(review) = &review {
        after["review"] = json!(review);
    }
    let (event, previous) = if let Some((code, decline_code, message)) = failure {
        after["status"] = json!(status.apply(Transition::AttemptFailed)?.as_str());
        after["payment_method"] = Value::Null;
        after["last_payment_error"] = json!({
            "charge": charge.doc["id"],
            "code": code,
            "decline_code": decline_code,
            "doc_url": tessera_core::error::doc_url(code),
            "message": message,
            "payment_method": pm,
            "type": "card_error",
        });
        (
            "payment_intent.payment_failed",
            json!({ "status": status.as_str() }),
        )
    } else {
        let amount = doc["amount"].clone();
        after["status"] = json!(
            status
                .apply(Transition::Authorized {
                    manual_capture: manual
                })?
                .as_str()
        );
        after["last_payment_error"] = Value::Null;
        if manual {
            after["amount_capturable"] = amount;
            (
                "payment_intent.amount_capturable_updated",
                json!({ "amount_capturable": 0, "status": status.as_str() }),
            )
        } else {
            after["amount_received"] = amount;
            (
                "payment_intent.succeeded",
                json!({ "amount_received": 0, "status": status.as_str() }),
            )
        }
    };
    let after_json = events::serialised(&after)?;
    let after_row = Encoded::new(&*after_json)?;
    let charge_event = match failure {
        Some(_) => "charge.failed",
        None => "charge.succeeded",
    };
    let charge_event = events::prepare(ctx, charge_event, &*charge.json, None)?;
    let intent_event = events::prepare(ctx, event, &*after_json, Some(previous))?;
    let risk_attempt = risk::attempt_record(ctx, &assessment, &charge.doc, failure.is_some())?;
    let written = ctx.write(|tx| {
        if !still_fenced_for(tx, ctx.scope(), &pi_id, &private)? {
            return Ok(false);
        }
        charges::insert(tx, ctx.scope(), &charge)?;
        tx.insert_encoded_risk_attempt(&risk_attempt)?;
        if let Some(review) = &review {
            reviews::open(tx, ctx, review, &charge.doc, "rule")?;
        }
        if failure.is_none()
            && let (Some(customer), Some(usage)) = (
                after["customer"].as_str(),
                after["setup_future_usage"].as_str(),
            )
        {
            // Saving the card for later: attach it, and remember it may be used off-session.
            payment_methods::attach_in(tx, ctx, &pm, customer, "customer")?;
            if usage == "off_session" {
                let stored = load(tx, ctx, ObjectKind::PaymentMethod, pm_id, "payment_method")?;
                let mut kept = if stored.private.is_object() {
                    stored.private
                } else {
                    json!({})
                };
                kept["off_session_ready"] = json!(true);
                tx.update_object(
                    ctx.scope(),
                    pm_id,
                    (stored.doc["customer"].as_str(), None),
                    &stored.doc,
                    Some(&kept),
                )?;
            }
        }
        events::record_prepared(tx, ctx.scope(), ctx.now, charge_event)?;
        save_as(tx, ctx.scope(), &after, &after_row, &after_private)?;
        events::record_prepared(tx, ctx.scope(), ctx.now, intent_event)?;
        if failure.is_none() {
            if !manual && processor.will_dispute(&authorization.processor_data) {
                open_dispute(tx, ctx.scope(), ctx.now, &charge.doc)?;
            }
            checkout_sessions::on_payment_succeeded(tx, ctx, &after, &after_private, &pm)?;
        }
        Ok::<_, Failure>(true)
    });
    match written {
        Ok(true) => {}
        Ok(false) => {
            let approved = authorization.decision == Decision::Approved;
            let authorized = approved.then_some((
                request.attempt.as_str(),
                authorization.processor_data.as_str(),
            ));
            return Err(superseded(
                ctx,
                &pi_id,
                FencedFor::Authorization,
                authorized,
            ));
        }
        Err(e) => {
            release_fence(ctx, &pi_id);
            return Err(e);
        }
    };
    ctx.app.risk.record(
        &risk::scope_key(ctx.scope()),
        &assessment.keys,
        ctx.now,
        failure.is_some(),
    );
    match failure {
        None => Ok(after),
        Some((code, decline_code, message)) => {
            let mut error = ApiError::card(code, decline_code, message);
            error.payment_method = Some(pm);
            error.charge = charge.doc["id"].as_str().map(str::to_owned);
            error.payment_intent = Some(after);
            Err(error.into())
        }
    }
}

/// Moves the intent to `requires_action` with a challenge link for the shopper.
fn requires_action(ctx: &Ctx<'_>, mut doc: Value, mut private: Value) -> Outcome<Value> {
    let token = random::base62(32);
    let pi_id = doc["id"].as_str().unwrap_or_default().to_owned();
    let url = format!(
        "{}/3d_secure/{pi_id}/{token}",
        ctx.app.config.browser_base()
    );
    let written = ctx.write(|tx| {
        if !still_fenced_for(tx, ctx.scope(), &pi_id, &private)? {
            return Ok(None);
        }
        let status = status_of(&doc);
        doc["status"] = json!(status.apply(Transition::AuthenticationRequired)?.as_str());
        doc["next_action"] = json!({
            "type": "redirect_to_url",
            "redirect_to_url": { "url": url, "return_url": private["return_url"] },
        });
        private["challenge_token"] = json!(token);
        private["attempt_started"] = Value::Null;
        save(tx, ctx, &doc, &private)?;
        events::record(
            tx,
            ctx,
            "payment_intent.requires_action",
            &doc,
            Some(json!({ "status": status.as_str() })),
        )?;
        Ok(Some(doc))
    })?;
    written.ok_or_else(|| superseded(ctx, &pi_id, FencedFor::Authorization, None))
}

/// Opens a dispute on a succeeded charge (the simulator's dispute test card).
pub(crate) fn open_dispute(tx: &Tx<'_>, scope: &Scope, now: i64, charge: &Value) -> Outcome<()> {
    let id = random::object_id(ObjectKind::Dispute.prefix());
    let dispute = json!({
        "id": id,
        "object": "dispute",
        "amount": charge["amount"],
        "balance_transactions": [],
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "evidence_details": { "due_by": now + 7 * 86_400, "has_evidence": false, "past_due": false, "submission_count": 0 },
        "is_charge_refundable": false,
        "livemode": scope.livemode,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "reason": "fraudulent",
        "status": "needs_response",
    });
    tx.insert_object(
        scope,
        &NewObject {
            id: &id,
            kind: "dispute",
            created: now,
            ref1: charge["id"].as_str(),
            ref2: None,
            doc: &dispute,
            private: None,
        },
    )?;
    let charge_id = charge["id"].as_str().unwrap_or_default();
    if let Some(stored) = tx.get_object(scope, "charge", charge_id)? {
        let mut doc = stored.doc;
        doc["disputed"] = json!(true);
        charges::save(tx, scope, &doc, &stored.private)?;
    }
    events::record_as(
        tx,
        scope,
        now,
        None,
        "charge.dispute.created",
        &dispute,
        None,
    )
}

/// The shopper's answer to a 3-D Secure challenge. Returns the intent afterwards and
/// where to send the shopper.
pub(crate) fn complete_challenge(
    app: &App,
    pi_id: &str,
    token: &str,
    authenticated: bool,
) -> Outcome<(Value, Option<String>)> {
    let invalid =
        || ApiError::bad_request("This authentication link is not valid or has already been used.");
    let Some(scope) = app.store.read(|tx| tx.scope_of("payment_intent", pi_id))? else {
        return Err(invalid().into());
    };
    let caller = Caller::shopper(scope);
    let request_id = random::object_id("req_");
    let unit = app.store.unit();
    let ctx = Ctx {
        app,
        caller: &caller,
        request_id: &request_id,
        idempotency_key: None,
        now: unix_now(),
        client_ip: None,
        unit: &unit,
        claim: None,
        claimed: Default::default(),
    };
    let fenced = ctx.write(|tx| {
        let found = load(tx, &ctx, ObjectKind::PaymentIntent, pi_id, "intent")?;
        let expected = found.private["challenge_token"].as_str().unwrap_or_default();
        if found.doc["status"] != "requires_action" || expected.is_empty() || !constant_time_eq(expected.as_bytes(), token.as_bytes()) {
            return Err(invalid().into());
        }
        // The merchant confirmed the intent again meanwhile, and that attempt decides
        // first: never two authorizations at once.
        refuse_while_attempt_in_flight(&ctx, &found.private)?;
        let mut doc = found.doc;
        let mut private = found.private;
        private["challenge_token"] = Value::Null;
        let pm_id = doc["payment_method"].as_str().unwrap_or_default().to_owned();
        let stored_pm = load(tx, &ctx, ObjectKind::PaymentMethod, &pm_id, "payment_method")?;
        let (pm, pm_private) = (stored_pm.doc, stored_pm.private);
        if authenticated {
            private["authenticated"] = json!(true);
            mark_attempt_started(&mut private, ctx.now, app, AttemptKind::New);
            save(tx, &ctx, &doc, &private)?;
        } else {
            let status = status_of(&doc);
            doc["status"] = json!(status.apply(Transition::AttemptFailed)?.as_str());
            doc["next_action"] = Value::Null;
            doc["payment_method"] = Value::Null;
            doc["last_payment_error"] = json!({
                "code": "payment_intent_authentication_failure",
                "doc_url": tessera_core::error::doc_url("payment_intent_authentication_failure"),
                "message": "The provided PaymentMethod has failed authentication. Provide a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
                "payment_method": pm,
                "type": "invalid_request_error",
            });
            save(tx, &ctx, &doc, &private)?;
            events::record(tx, &ctx, "payment_intent.payment_failed", &doc, Some(json!({ "status": status.as_str() })))?;
        }
        let rules = radar_rules::account_rules(tx, ctx.scope())?;
        let settings = tx.account_settings(&ctx.scope().account)?;
        Ok::<_, Failure>(Fenced { doc, private, pm, pm_private, rules, settings })
    })?;
    let return_url = fenced.private["return_url"].as_str().map(str::to_owned);
    if !authenticated {
        ctx.flush()?;
        return Ok((fenced.doc, return_url));
    }
    let doc = match attempt(&ctx, fenced) {
        Ok(doc) => doc,
        Err(Failure::Api(e)) if e.payment_intent.is_some() => e.payment_intent.unwrap_or_default(),
        Err(e) => return Err(e),
    };
    // Answered to the shopper's browser: on disk first, like every API answer.
    ctx.flush()?;
    Ok((doc, return_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_is_waited_for_only_while_its_process_may_still_make_it() {
        let now = 1_800_000_000;
        // (started seconds ago, by whom, this process serving the store alone as, under way)
        type Case = (
            Option<i64>,
            Option<&'static str>,
            Option<&'static str>,
            bool,
        );
        let cases: &[Case] = &[
            (None, None, None, false),
            (None, None, Some("me"), false),
            // Without knowing who else serves the store: the minute's rule.
            (Some(59), None, None, true),
            (Some(59), Some("other"), None, true),
            (Some(60), None, None, false),
            // Serving the store alone: only this process's own attempts are under way.
            (Some(1), Some("me"), Some("me"), true),
            (Some(1), Some("other"), Some("me"), false),
            (Some(1), None, Some("me"), false),
            (Some(60), Some("me"), Some("me"), false),
        ];
        for &(ago, by, serving, under_way) in cases {
            let private = json!({ "attempt_started": ago.map(|a| now - a), "attempt_by": by });
            assert_eq!(
                attempt_in_flight(&private, now, serving),
                under_way,
                "{private} seen by {serving:?}"
            );
        }
    }
}
