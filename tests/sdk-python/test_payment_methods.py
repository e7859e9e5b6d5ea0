"""PaymentMethods: create (secret key, publishable key in the body, publishable
key as the SDK key), retrieve, attach/detach, list a customer's methods."""

import json
import time

import stripe

from tessera_support import (
    BILLING_WITH_ADDRESS, EXP_YEAR, assert_http_error, assert_id, assert_no_card_data,
    assert_request_id, browser_post, card_details, create_card_pm, expect_sdk_error, field,
    http, ok_json, plain,
)


def _check_card_pm(pm: dict, brand: str, last4: str, funding: str = None) -> None:
    """pm is a plain dict (JSON) of a card PaymentMethod."""
    assert_id(pm["id"], "pm_")
    assert pm["object"] == "payment_method"
    assert pm["type"] == "card"
    assert pm["livemode"] is False
    assert isinstance(pm["created"], int) and abs(pm["created"] - time.time()) < 600
    card = pm["card"]
    assert card["brand"] == brand
    assert card["last4"] == last4
    assert card["exp_month"] == 12
    assert card["exp_year"] == EXP_YEAR
    if funding:
        assert card["funding"] == funding
    assert card["funding"] in ("credit", "debit", "prepaid", "unknown")
    assert isinstance(card["fingerprint"], str) and card["fingerprint"]
    assert set(card["checks"]) >= {"cvc_check", "address_line1_check", "address_postal_code_check"}
    assert card["three_d_secure_usage"]["supported"] in (True, False)
    assert brand in card["networks"]["available"]
    assert card["wallet"] is None
    assert "number" not in card and "cvc" not in card
    assert_no_card_data(json.dumps(pm))


def test_create_with_secret_key(client):
    pm = create_card_pm(client, "4242424242424242", billing_details=BILLING_WITH_ADDRESS,
                        metadata={"order": "42"})
    assert_request_id(pm.last_response.headers)
    body = json.loads(pm.last_response.body)
    _check_card_pm(body, "visa", "4242", "credit")
    assert body["customer"] is None
    assert body["metadata"] == {"order": "42"}
    assert body["billing_details"]["name"] == "Jenny Rosen"
    assert body["billing_details"]["email"] == "jenny@example.com"
    assert body["billing_details"]["address"]["postal_code"] == "12345"
    assert body["billing_details"]["address"]["line1"] == "1 Main Street"
    assert body["card"]["three_d_secure_usage"]["supported"] is True


def test_create_browser_path_publishable_key_in_body(gw, client):
    """tessera.js: form body with key=pk_…, no Authorization header."""
    r = browser_post(gw, "/v1/payment_methods", {
        "type": "card",
        "card": card_details("5555555555554444"),
        "billing_details": {"name": "Jenny Rosen", "address": {"postal_code": "12345"}},
    }, gw.publishable_key)
    body = ok_json(r)
    _check_card_pm(body, "mastercard", "4444", "credit")
    assert_no_card_data(r.text)
    # The merchant server sees the same PaymentMethod with its secret key.
    pm = client.v1.payment_methods.retrieve(body["id"])
    assert pm.id == body["id"]
    assert pm.card.last4 == "4444"
    assert pm.card.fingerprint == body["card"]["fingerprint"]


def test_browser_tokenized_pm_can_be_charged_by_the_server(gw, client):
    r = browser_post(gw, "/v1/payment_methods", {"type": "card", "card": card_details("4242424242424242")},
                     gw.publishable_key)
    pm_id = ok_json(r)["id"]
    pi = client.v1.payment_intents.create({"amount": 1234, "currency": "usd", "payment_method": pm_id,
                                           "confirm": True})
    assert pi.status == "succeeded"
    assert pi.payment_method == pm_id


def test_create_with_publishable_key_as_sdk_api_key(gw):
    pk_client = gw.sdk(gw.publishable_key)
    pm = pk_client.v1.payment_methods.create({"type": "card", "card": card_details("378282246310005")})
    body = json.loads(pm.last_response.body)
    _check_card_pm(body, "amex", "0005")


def test_create_with_basic_auth_secret_key(gw):
    r = http(gw, "POST", "/v1/payment_methods", gw.secret_key,
             {"type": "card", "card": card_details("6011111111111117")}, auth="basic")
    _check_card_pm(ok_json(r), "discover", "1117")


def test_retrieve(client):
    created = create_card_pm(client, "4000056655665556")
    pm = client.v1.payment_methods.retrieve(created.id)
    assert pm.id == created.id
    assert pm.object == "payment_method"
    assert pm.card.brand == "visa"
    assert pm.card.funding == "debit"
    assert pm.card.last4 == "5556"
    assert pm.card.fingerprint == created.card.fingerprint
    _check_card_pm(json.loads(pm.last_response.body), "visa", "5556", "debit")


def test_retrieve_unknown_is_404(client):
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_methods.retrieve("pm_" + "a" * 24),
                     status=404, type_="invalid_request_error", code="resource_missing")


def test_fingerprint_same_card_same_account_differs_across_accounts(client, other_client):
    a = create_card_pm(client, "4242424242424242")
    b = create_card_pm(client, "4242424242424242", exp_month=11)
    c = create_card_pm(client, "5555555555554444")
    other = create_card_pm(other_client, "4242424242424242")
    assert a.id != b.id
    assert a.card.fingerprint == b.card.fingerprint, "same card, same account => same fingerprint"
    assert a.card.fingerprint != c.card.fingerprint, "different cards => different fingerprints"
    assert a.card.fingerprint != other.card.fingerprint, "fingerprints must be per account"


def test_attach_detach_and_list_customer_payment_methods(client):
    cus = client.v1.customers.create({"email": "pm-owner@example.com"})
    pm1 = create_card_pm(client, "4242424242424242")
    pm2 = create_card_pm(client, "5555555555554444")
    unrelated = create_card_pm(client, "6011111111111117")

    attached = client.v1.payment_methods.attach(pm1.id, {"customer": cus.id})
    assert attached.id == pm1.id
    assert attached.customer == cus.id
    client.v1.payment_methods.attach(pm2.id, {"customer": cus.id})
    assert client.v1.payment_methods.retrieve(pm1.id).customer == cus.id

    listed = client.v1.customers.payment_methods.list(cus.id)
    assert listed.object == "list"
    assert listed.url == f"/v1/customers/{cus.id}/payment_methods"
    assert [pm.id for pm in listed.data] == [pm2.id, pm1.id], "newest first, only this customer's methods"
    assert listed.has_more is False

    filtered = client.v1.payment_methods.list({"customer": cus.id, "type": "card"})
    assert filtered.url == "/v1/payment_methods"
    assert sorted(pm.id for pm in filtered.data) == sorted([pm1.id, pm2.id])
    assert unrelated.id not in [pm.id for pm in filtered.data]

    # expand the customer on a listed payment method
    exp = client.v1.customers.payment_methods.list(cus.id, {"expand": ["data.customer"]})
    assert all(pm.customer.id == cus.id for pm in exp.data)

    detached = client.v1.payment_methods.detach(pm1.id)
    assert detached.id == pm1.id
    assert detached.customer is None
    assert [pm.id for pm in client.v1.customers.payment_methods.list(cus.id).data] == [pm2.id]
    assert client.v1.payment_methods.retrieve(pm1.id).customer is None


def test_attach_to_unknown_customer(client):
    pm = create_card_pm(client, "4242424242424242")
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_methods.attach(pm.id, {"customer": "cus_" + "z" * 24}),
                     status=(400, 404), code="resource_missing")
    assert client.v1.payment_methods.retrieve(pm.id).customer is None


def test_attach_requires_customer(client):
    pm = create_card_pm(client, "4242424242424242")
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_methods.attach(pm.id, {}),
                     status=400, param="customer")


def test_detach_unattached_is_rejected(client):
    pm = create_card_pm(client, "4242424242424242")
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.payment_methods.detach(pm.id),
                     status=400)


def test_attach_ready_made_payment_method_gives_a_fresh_one(client):
    cus = client.v1.customers.create()
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    assert pm.id != "pm_card_visa"
    assert_id(pm.id, "pm_")
    assert pm.customer == cus.id
    assert pm.card.brand == "visa"
    assert pm.card.last4 == "4242"
    pm2 = client.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    assert pm2.id != pm.id, "each use of pm_card_visa resolves to a fresh PaymentMethod"


def test_create_requires_card_for_type_card(client):
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_methods.create({"type": "card"}),
                     status=400, param="card")


def test_browser_path_bad_card_error_does_not_echo_the_number(gw):
    r = browser_post(gw, "/v1/payment_methods",
                     {"type": "card", "card": card_details("4242424242424242", exp_month=13)},
                     gw.publishable_key)
    assert_http_error(r, 402, type_="card_error", code="invalid_expiry_month")
    assert_no_card_data(r.text)
