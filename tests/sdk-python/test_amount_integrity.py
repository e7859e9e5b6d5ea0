"""Amount integrity: a publishable key with the client secret can confirm and
retrieve, but cannot change amount, currency, customer, capture method or the
3-D Secure options. One test per refusal; after each refusal the PaymentIntent
is unchanged and nothing was charged, and an honest confirm still works."""

import pytest
import stripe

import tessera_support as T
from tessera_support import (
    assert_http_error, assert_requires_redirect, browser_get, browser_post, card_details, ok_json, unique_email,
)

AMOUNT = 5000


def _browser_pm(gw, number="4242424242424242"):
    return ok_json(browser_post(gw, "/v1/payment_methods", {"type": "card", "card": card_details(number)},
                                gw.publishable_key))["id"]


@pytest.fixture
def order(gw, client):
    """What the merchant server creates for a checkout."""
    cus = client.v1.customers.create({"email": unique_email()})
    pi = client.v1.payment_intents.create({
        "amount": AMOUNT, "currency": "usd", "customer": cus.id, "capture_method": "automatic",
        "metadata": {"order": "A-1"},
    })
    return cus, pi


def _snapshot(client, pi_id):
    pi = client.v1.payment_intents.retrieve(pi_id)
    return {
        "amount": pi.amount, "currency": pi.currency, "customer": pi.customer,
        "capture_method": pi.capture_method, "status": pi.status, "amount_received": pi.amount_received,
        "payment_method_options": T.plain(pi.payment_method_options),
    }


def _refused(resp, param):
    assert resp.status_code in (400, 401, 403), (
        f"browser changed {param}: HTTP {resp.status_code} {resp.text[:400]}"
    )
    err = assert_http_error(resp, resp.status_code)
    if resp.status_code == 400:
        assert (err.get("param") or "").startswith(param.split("[")[0]), err
    return err


def _tamper_confirm(gw, client, pi, extra, param):
    before = _snapshot(client, pi.id)
    pm = _browser_pm(gw)
    resp = browser_post(gw, f"/v1/payment_intents/{pi.id}/confirm",
                        {"client_secret": pi.client_secret, "payment_method": pm, **extra}, gw.publishable_key)
    _refused(resp, param)
    assert _snapshot(client, pi.id) == before, "a refused browser request changed the PaymentIntent"
    assert client.v1.charges.list({"payment_intent": pi.id}).data == [], "nothing may be charged"
    return pm


def _honest_confirm(gw, client, pi, pm):
    resp = browser_post(gw, f"/v1/payment_intents/{pi.id}/confirm",
                        {"client_secret": pi.client_secret, "payment_method": pm}, gw.publishable_key)
    body = ok_json(resp)
    return body


def _assert_paid_as_created(gw, client, pi, pm, capture_method="automatic"):
    body = _honest_confirm(gw, client, pi, pm)
    got = client.v1.payment_intents.retrieve(pi.id)
    assert got.amount == AMOUNT and got.currency == "usd"
    if capture_method == "manual":
        assert body["status"] == got.status == "requires_capture"
        assert got.amount_capturable == AMOUNT
    else:
        assert body["status"] == got.status == "succeeded"
        assert got.amount_received == AMOUNT
        assert client.v1.charges.retrieve(got.latest_charge).amount == AMOUNT


def test_browser_cannot_change_amount(gw, client, order):
    _, pi = order
    pm = _tamper_confirm(gw, client, pi, {"amount": 1}, "amount")
    _assert_paid_as_created(gw, client, pi, pm)


def test_browser_cannot_change_amount_by_update(gw, client, order):
    _, pi = order
    before = _snapshot(client, pi.id)
    resp = browser_post(gw, f"/v1/payment_intents/{pi.id}", {"client_secret": pi.client_secret, "amount": 1},
                        gw.publishable_key)
    _refused(resp, "amount")
    assert _snapshot(client, pi.id) == before


def test_browser_cannot_change_amount_with_sdk(gw, client, order):
    _, pi = order
    before = _snapshot(client, pi.id)
    pk = gw.sdk(gw.publishable_key)
    with pytest.raises(stripe.StripeError) as ei:
        pk.v1.payment_intents.confirm(pi.id, {"client_secret": pi.client_secret, "payment_method": _browser_pm(gw),
                                              "amount": 1})
    assert type(ei.value) in (stripe.InvalidRequestError, stripe.AuthenticationError, stripe.PermissionError)
    assert _snapshot(client, pi.id) == before


def test_browser_cannot_change_currency(gw, client, order):
    _, pi = order
    pm = _tamper_confirm(gw, client, pi, {"currency": "jpy"}, "currency")
    _assert_paid_as_created(gw, client, pi, pm)


def test_browser_cannot_change_customer(gw, client, order):
    cus, pi = order
    thief = client.v1.customers.create({"email": unique_email()})
    pm = _tamper_confirm(gw, client, pi, {"customer": thief.id}, "customer")
    _assert_paid_as_created(gw, client, pi, pm)
    assert client.v1.payment_intents.retrieve(pi.id).customer == cus.id


def test_browser_cannot_change_capture_method_to_manual(gw, client, order):
    _, pi = order
    pm = _tamper_confirm(gw, client, pi, {"capture_method": "manual"}, "capture_method")
    _assert_paid_as_created(gw, client, pi, pm)


def test_browser_cannot_change_capture_method_to_automatic(gw, client):
    pi = client.v1.payment_intents.create({"amount": AMOUNT, "currency": "usd", "capture_method": "manual"})
    pm = _tamper_confirm(gw, client, pi, {"capture_method": "automatic"}, "capture_method")
    _assert_paid_as_created(gw, client, pi, pm, capture_method="manual")


def test_browser_cannot_change_capture_method_through_card_options(gw, client, order):
    _, pi = order
    pm = _tamper_confirm(gw, client, pi, {"payment_method_options": {"card": {"capture_method": "manual"}}},
                         "payment_method_options")
    _assert_paid_as_created(gw, client, pi, pm)


def test_browser_cannot_change_three_d_secure_options(gw, client):
    pi = client.v1.payment_intents.create({
        "amount": AMOUNT, "currency": "usd",
        "payment_method_options": {"card": {"request_three_d_secure": "any"}},
    })
    pm = _browser_pm(gw, T.TDS_SUPPORTED)
    before = _snapshot(client, pi.id)
    resp = browser_post(gw, f"/v1/payment_intents/{pi.id}/confirm", {
        "client_secret": pi.client_secret, "payment_method": pm, "return_url": "https://merchant.example/r",
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
    }, gw.publishable_key)
    _refused(resp, "payment_method_options")
    assert _snapshot(client, pi.id) == before
    assert client.v1.charges.list({"payment_intent": pi.id}).data == []
    # honest confirm: the merchant's 3-D Secure setting still applies
    body = ok_json(browser_post(gw, f"/v1/payment_intents/{pi.id}/confirm", {
        "client_secret": pi.client_secret, "payment_method": pm, "return_url": "https://merchant.example/r",
    }, gw.publishable_key))
    assert body["status"] == "requires_action", "3-D Secure requested by the merchant was skipped"
    assert_requires_redirect(client.v1.payment_intents.retrieve(pi.id), gw.vault)


def test_browser_cannot_set_three_d_secure_options_on_plain_intent(gw, client, order):
    _, pi = order
    pm = _tamper_confirm(gw, client, pi,
                         {"payment_method_options": {"card": {"request_three_d_secure": "any"}}},
                         "payment_method_options")
    _assert_paid_as_created(gw, client, pi, pm)


def test_browser_cannot_change_amount_after_decline(gw, client, order):
    """A declined attempt must not open a window for tampering on the retry."""
    _, pi = order
    bad = _browser_pm(gw, "4000000000000002")
    r = browser_post(gw, f"/v1/payment_intents/{pi.id}/confirm",
                     {"client_secret": pi.client_secret, "payment_method": bad}, gw.publishable_key)
    assert_http_error(r, 402, type_="card_error", code="card_declined")
    before = _snapshot(client, pi.id)
    pm = _browser_pm(gw)
    r = browser_post(gw, f"/v1/payment_intents/{pi.id}/confirm",
                     {"client_secret": pi.client_secret, "payment_method": pm, "amount": 1}, gw.publishable_key)
    _refused(r, "amount")
    assert _snapshot(client, pi.id) == before
    body = _honest_confirm(gw, client, pi, pm)
    assert body["status"] == "succeeded"
    assert client.v1.payment_intents.retrieve(pi.id).amount_received == AMOUNT


def test_browser_retrieve_shows_the_server_amount(gw, client, order):
    _, pi = order
    body = ok_json(browser_get(gw, f"/v1/payment_intents/{pi.id}", {"client_secret": pi.client_secret},
                               gw.publishable_key))
    assert body["amount"] == AMOUNT
    assert body["currency"] == "usd"
