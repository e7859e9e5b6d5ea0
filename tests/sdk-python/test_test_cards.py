"""Every row of TEST_CARDS.md gives the documented outcome through the SDK."""

import datetime
import time

import pytest
import stripe

import tessera_support as T
from tessera_support import (
    BILLING_WITH_ADDRESS, assert_id, assert_requires_redirect, browser_post, card_details,
    create_card_pm, expect_sdk_error, field, pay, submit_challenge, unique_email,
)

RETURN_URL = "https://merchant.example/checkout/return"


def _decline_codes(code, documented):
    """TEST_CARDS.md writes "—" for declines without a separate decline code;
    Stripe's test mode repeats the code there. Accept either, nothing else."""
    return {documented} if documented is not None else {None, code}


def _confirm_expecting_decline(client, pm_id, code, decline_code, amount=2000, **extra):
    pi = client.v1.payment_intents.create({"amount": amount, "currency": "usd", "payment_method": pm_id, **extra})
    err = expect_sdk_error(
        stripe.CardError, lambda: client.v1.payment_intents.confirm(pi.id),
        status=402, type_="card_error", code=code, decline_code=decline_code,
    )
    assert field(err.get("payment_intent"), "id") == pi.id, "card errors carry the PaymentIntent"
    got = client.v1.payment_intents.retrieve(pi.id)
    assert got.status == "requires_payment_method"
    assert got.last_payment_error is not None
    assert got.last_payment_error.type == "card_error"
    assert got.last_payment_error.code == code
    assert field(got.last_payment_error, "decline_code") == err.get("decline_code")
    assert got.amount_received == 0
    assert_id(got.latest_charge, "ch_")
    ch = client.v1.charges.retrieve(got.latest_charge)
    assert ch.status == "failed"
    assert ch.paid is False
    assert ch.captured is False
    assert ch.failure_code == code
    return err, got, ch


# ---------------------------------------------------------------- succeed

@pytest.mark.parametrize("number", sorted(T.SUCCEED_CARDS))
def test_succeeding_card(client, number):
    brand, funding = T.SUCCEED_CARDS[number]
    pm = create_card_pm(client, number, billing_details=BILLING_WITH_ADDRESS)
    assert pm.card.brand == brand
    assert pm.card.last4 == number[-4:]
    if funding is not None:
        assert pm.card.funding == funding
    pi = pay(client, pm.id, amount=4321)
    assert pi.status == "succeeded", pi
    assert pi.amount_received == 4321
    ch = client.v1.charges.retrieve(pi.latest_charge)
    assert ch.status == "succeeded"
    assert ch.outcome.type == "authorized"
    assert ch.payment_method_details.card.brand == brand
    assert ch.payment_method_details.card.last4 == number[-4:]
    assert ch.payment_method_details.card.checks.cvc_check == "pass"
    T.assert_no_card_data(ch.last_response.body, number)


@pytest.mark.parametrize("number", ["378282246310005", "371449635398431"])
def test_amex_does_not_support_three_d_secure(client, number):
    pm = create_card_pm(client, number)
    assert pm.card.three_d_secure_usage.supported is False
    pi = pay(client, pm.id, return_url=RETURN_URL,
             payment_method_options={"card": {"request_three_d_secure": "any"}})
    assert pi.status == "succeeded", "3-D Secure cannot run on this card, so the payment proceeds without it"
    assert pi.next_action is None


# ---------------------------------------------------------------- decline

@pytest.mark.parametrize("number", sorted(T.DECLINE_CARDS))
def test_declining_card(client, number):
    code, decline_code = T.DECLINE_CARDS[number]
    pm = create_card_pm(client, number)  # tokenizing succeeds; the charge declines
    assert pm.card.last4 == number[-4:]
    err, pi, ch = _confirm_expecting_decline(client, pm.id, code, _decline_codes(code, decline_code))
    if code == "card_declined":
        assert ch.outcome.type == "issuer_declined"
        assert ch.outcome.network_status == "declined_by_network"


def test_decline_on_create_with_confirm_true(client):
    pm = create_card_pm(client, "4000000000000002")
    err = expect_sdk_error(stripe.CardError, lambda: pay(client, pm.id), status=402, type_="card_error",
                           code="card_declined", decline_code="generic_decline")
    assert (err.get("payment_method") or {}).get("id") in (None, pm.id)
    pi_id = field(err.get("payment_intent"), "id")
    assert_id(pi_id, "pi_")
    got = client.v1.payment_intents.retrieve(pi_id)
    assert got.status == "requires_payment_method"
    assert got.last_payment_error.decline_code == "generic_decline"


def test_incorrect_number_rejected_when_pm_created(gw, client):
    expect_sdk_error(stripe.CardError, lambda: create_card_pm(client, T.BAD_LUHN),
                     status=402, type_="card_error", code="incorrect_number")
    r = browser_post(gw, "/v1/payment_methods", {"type": "card", "card": card_details(T.BAD_LUHN)},
                     gw.publishable_key)
    T.assert_http_error(r, 402, type_="card_error", code="incorrect_number")
    T.assert_no_card_data(r.text)


def test_charge_customer_fail_attaches_then_declines(client):
    cus = client.v1.customers.create({"email": unique_email()})
    pm = create_card_pm(client, T.CHARGE_CUSTOMER_FAIL)
    attached = client.v1.payment_methods.attach(pm.id, {"customer": cus.id})
    assert attached.customer == cus.id
    _confirm_expecting_decline(client, pm.id, "card_declined", "generic_decline", customer=cus.id)
    # and again off-session: every charge declines
    expect_sdk_error(stripe.CardError, lambda: pay(client, pm.id, customer=cus.id, off_session=True),
                     status=402, code="card_declined", decline_code="generic_decline")


INPUT_ERRORS = [
    ("month-13", "4242424242424242", {"exp_month": 13}, "invalid_expiry_month", "exp_month"),
    ("past-year", "4242424242424242", {"exp_year": datetime.date.today().year - 1}, "invalid_expiry_year", "exp_year"),
    ("cvc-too-short", "4242424242424242", {"cvc": "12"}, "invalid_cvc", "cvc"),
    ("cvc-too-long", "4242424242424242", {"cvc": "12345"}, "invalid_cvc", "cvc"),
    ("amex-3-digit-cvc", "378282246310005", {"cvc": "123"}, "invalid_cvc", "cvc"),
    ("luhn", T.BAD_LUHN, {}, "incorrect_number", "number"),
]


@pytest.mark.parametrize("number,override,code,field_name",
                         [c[1:] for c in INPUT_ERRORS], ids=[c[0] for c in INPUT_ERRORS])
def test_plain_input_errors(client, number, override, code, field_name):
    err = expect_sdk_error(stripe.CardError, lambda: create_card_pm(client, number, **override),
                           status=402, type_="card_error", code=code)
    assert err.get("param") in (field_name, f"card[{field_name}]"), err


# ---------------------------------------------------------------- checks and risk

def test_cvc_check_fail(client):
    pm = create_card_pm(client, T.CVC_FAIL)
    pi = client.v1.payment_intents.create({"amount": 2000, "currency": "usd", "payment_method": pm.id})
    try:
        done = client.v1.payment_intents.confirm(pi.id)
        assert done.status == "succeeded"
    except stripe.CardError as e:  # the account blocks CVC failures
        assert e.http_status == 402
        assert e.code == "incorrect_cvc"
    ch = client.v1.charges.retrieve(client.v1.payment_intents.retrieve(pi.id).latest_charge)
    assert ch.payment_method_details.card.checks.cvc_check == "fail"


@pytest.mark.parametrize("number", sorted(T.ADDRESS_CHECK_CARDS))
def test_address_checks(client, number):
    pm = create_card_pm(client, number, billing_details=BILLING_WITH_ADDRESS)
    pi = pay(client, pm.id)
    assert pi.status == "succeeded"
    checks = client.v1.charges.retrieve(pi.latest_charge).payment_method_details.card.checks
    for name, value in T.ADDRESS_CHECK_CARDS[number].items():
        assert checks[name] == value, f"{name}: {checks}"


def test_address_checks_pass_for_plain_card(client):
    pm = create_card_pm(client, "4242424242424242", billing_details=BILLING_WITH_ADDRESS)
    pi = pay(client, pm.id)
    checks = client.v1.charges.retrieve(pi.latest_charge).payment_method_details.card.checks
    assert checks.address_line1_check == "pass"
    assert checks.address_postal_code_check == "pass"
    assert checks.cvc_check == "pass"


def test_radar_block(client):
    pm = create_card_pm(client, T.RADAR_BLOCK)
    err, pi, ch = _confirm_expecting_decline(client, pm.id, "card_declined", "fraudulent")
    assert ch.outcome.type == "blocked"


def test_risk_level_highest_blocked(client):
    pm = create_card_pm(client, T.RISK_HIGHEST)
    pi = client.v1.payment_intents.create({"amount": 2000, "currency": "usd", "payment_method": pm.id})
    expect_sdk_error(stripe.CardError, lambda: client.v1.payment_intents.confirm(pi.id),
                     status=402, type_="card_error", code="card_declined")
    got = client.v1.payment_intents.retrieve(pi.id)
    assert got.status == "requires_payment_method"
    ch = client.v1.charges.retrieve(got.latest_charge)
    assert ch.status == "failed"
    assert ch.outcome.type == "blocked"
    assert ch.outcome.risk_level == "highest"


def test_risk_level_elevated_succeeds_with_review(client):
    pm = create_card_pm(client, T.RISK_ELEVATED)
    pi = pay(client, pm.id)
    assert pi.status == "succeeded"
    ch = client.v1.charges.retrieve(pi.latest_charge)
    assert ch.outcome.risk_level == "elevated"
    assert ch.outcome.type == "manual_review"
    assert field(ch, "review"), "an elevated-risk payment opens a review"


# ---------------------------------------------------------------- 3-D Secure

def _pay_on_session(client, number, **extra):
    pm = create_card_pm(client, number)
    return pay(client, pm.id, return_url=RETURN_URL, **extra)


@pytest.mark.parametrize("number", [T.TDS_ALWAYS, T.TDS_UNLESS_SETUP, T.TDS2_REQUIRED, T.TDS_REQUIRED])
def test_three_d_secure_required_then_succeeds(gw, client, number):
    pi = _pay_on_session(client, number)
    url = assert_requires_redirect(pi, gw.vault)
    assert pi.latest_charge is None or client.v1.charges.retrieve(pi.latest_charge).status != "succeeded"
    r = submit_challenge(url, "complete")
    assert r.status_code == 303, r.text[:500]
    got = client.v1.payment_intents.retrieve(pi.id)
    assert got.status == "succeeded"
    assert got.amount_received == 2000
    tds = client.v1.charges.retrieve(got.latest_charge).payment_method_details.card.three_d_secure
    assert tds is not None
    assert tds.result == "authenticated"


@pytest.mark.parametrize("number,decline_code", [(T.TDS_THEN_INSUFFICIENT, "insufficient_funds"),
                                                 (T.TDS_THEN_DECLINED, None)])
def test_three_d_secure_succeeds_then_declines(gw, client, number, decline_code):
    pi = _pay_on_session(client, number)
    url = assert_requires_redirect(pi, gw.vault)
    r = submit_challenge(url, "complete")
    assert r.status_code == 303
    got = client.v1.payment_intents.retrieve(pi.id)
    assert got.status == "requires_payment_method"
    assert got.last_payment_error.code == "card_declined"
    if decline_code:
        assert got.last_payment_error.decline_code == decline_code
    assert client.v1.charges.retrieve(got.latest_charge).status == "failed"


def test_three_d_secure_supported_not_required(client):
    pi = _pay_on_session(client, T.TDS_SUPPORTED)
    assert pi.status == "succeeded"
    assert pi.next_action is None


def test_three_d_secure_frictionless(client):
    pi = _pay_on_session(client, T.TDS_FRICTIONLESS,
                         payment_method_options={"card": {"request_three_d_secure": "any"}})
    assert pi.status == "succeeded", "frictionless: authenticated without a challenge"
    assert pi.next_action is None
    tds = client.v1.charges.retrieve(pi.latest_charge).payment_method_details.card.three_d_secure
    assert tds is not None and tds.result == "authenticated"


def test_authentication_required_off_session(client):
    cus = client.v1.customers.create({"email": unique_email()})
    pm = create_card_pm(client, T.TDS_ALWAYS)
    client.v1.payment_methods.attach(pm.id, {"customer": cus.id})
    err = expect_sdk_error(stripe.CardError, lambda: pay(client, pm.id, customer=cus.id, off_session=True),
                           status=402, type_="card_error", code="authentication_required")
    pi_id = field(err.get("payment_intent"), "id")
    assert_id(pi_id, "pi_")
    assert client.v1.payment_intents.retrieve(pi_id).status == "requires_payment_method"


# ---------------------------------------------------------------- refunds and disputes

def test_refund_stays_pending(client):
    pi = pay(client, create_card_pm(client, T.REFUND_PENDING).id)
    assert pi.status == "succeeded"
    re_ = client.v1.refunds.create({"payment_intent": pi.id})
    assert re_.status == "pending"
    time.sleep(1.0)
    assert client.v1.refunds.retrieve(re_.id).status == "pending"


def test_refund_fails_after_creation(client):
    pi = pay(client, create_card_pm(client, T.REFUND_FAILS).id)
    re_ = client.v1.refunds.create({"payment_intent": pi.id})
    assert re_.status in ("pending", "succeeded")
    deadline = time.monotonic() + 10
    while client.v1.refunds.retrieve(re_.id).status != "failed":
        assert time.monotonic() < deadline, "refund never failed"
        time.sleep(0.2)
    ev = T.find_event(client, "refund.failed", re_.id, timeout=5)
    assert ev.data.object.status == "failed"


def test_dispute_opens(client):
    pi = pay(client, create_card_pm(client, T.DISPUTE).id)
    assert pi.status == "succeeded"
    deadline = time.monotonic() + 10
    found = None
    while found is None:
        for ev in client.v1.events.list({"type": "charge.dispute.created", "limit": 100}).auto_paging_iter():
            if field(ev.data.object, "charge") == pi.latest_charge:
                found = ev
                break
        if found is None:
            assert time.monotonic() < deadline, "no charge.dispute.created event"
            time.sleep(0.2)
    assert found.data.object.object == "dispute"
    assert found.data.object.amount == 2000
    assert client.v1.charges.retrieve(pi.latest_charge).disputed is True


# ---------------------------------------------------------------- ready-made PaymentMethods

READY_MADE = {
    "pm_card_visa": ("succeeded", "visa"),
    "pm_card_mastercard": ("succeeded", "mastercard"),
    "pm_card_amex": ("succeeded", "amex"),
    "pm_card_visa_chargeDeclined": ("declined", "generic_decline"),
    "pm_card_visa_chargeDeclinedInsufficientFunds": ("declined", "insufficient_funds"),
    "pm_card_chargeCustomerFail": ("declined", "generic_decline"),
    "pm_card_authenticationRequired": ("requires_action", None),
    "pm_card_threeDSecure2Required": ("requires_action", None),
    "pm_card_radarBlock": ("declined", "fraudulent"),
    "pm_card_riskLevelHighest": ("blocked", None),
    "pm_card_riskLevelElevated": ("succeeded", None),
}


@pytest.mark.parametrize("name", sorted(READY_MADE))
def test_ready_made_payment_method(gw, client, name):
    outcome, detail = READY_MADE[name]
    pi = client.v1.payment_intents.create({"amount": 2000, "currency": "usd", "payment_method": name})
    assert_id(pi.payment_method, "pm_")
    assert pi.payment_method != name, "a ready-made PaymentMethod resolves to a fresh pm_…"
    if outcome == "succeeded":
        done = client.v1.payment_intents.confirm(pi.id)
        assert done.status == "succeeded"
        if detail:
            assert client.v1.payment_methods.retrieve(done.payment_method).card.brand == detail
    elif outcome == "declined":
        expect_sdk_error(stripe.CardError, lambda: client.v1.payment_intents.confirm(pi.id),
                         status=402, code="card_declined", decline_code=detail)
        assert client.v1.payment_intents.retrieve(pi.id).status == "requires_payment_method"
    elif outcome == "blocked":
        expect_sdk_error(stripe.CardError, lambda: client.v1.payment_intents.confirm(pi.id),
                         status=402, code="card_declined")
        got = client.v1.payment_intents.retrieve(pi.id)
        assert client.v1.charges.retrieve(got.latest_charge).outcome.type == "blocked"
    else:
        done = client.v1.payment_intents.confirm(pi.id, {"return_url": RETURN_URL})
        assert_requires_redirect(done, gw.vault)
    # each use gives another PaymentMethod
    again = client.v1.payment_intents.create({"amount": 100, "currency": "usd", "payment_method": name})
    assert again.payment_method != pi.payment_method
