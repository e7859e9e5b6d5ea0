"""PaymentIntents (create, retrieve, update, confirm, capture, cancel, list) and
the Charges they produce (retrieve, list, latest_charge)."""

import json
import re
import sqlite3
import time

import stripe

from tessera_support import (
    assert_id, assert_no_card_data, assert_request_id, authorization_held, browser_get, card_details,
    create_card_pm, expect_sdk_error, field, ok_json, pay, plain, unique_email,
)


def _check_pi_shape(pi, amount, currency="usd"):
    assert_id(pi.id, "pi_")
    assert pi.object == "payment_intent"
    assert pi.amount == amount
    assert pi.currency == currency
    assert pi.livemode is False
    assert isinstance(pi.created, int) and abs(pi.created - time.time()) < 600
    assert re.fullmatch(re.escape(pi.id) + r"_secret_[A-Za-z0-9]+", pi.client_secret), pi.client_secret
    assert "card" in pi.payment_method_types


def test_create_without_confirm(client):
    pi = client.v1.payment_intents.create({
        "amount": 2000, "currency": "usd", "description": "order 42",
        "metadata": {"order_id": "42"}, "receipt_email": "buyer@example.com",
    })
    assert_request_id(pi.last_response.headers)
    _check_pi_shape(pi, 2000)
    assert pi.status == "requires_payment_method"
    assert pi.capture_method in ("automatic", "automatic_async")
    assert pi.description == "order 42"
    assert plain(pi.metadata) == {"order_id": "42"}
    assert pi.receipt_email == "buyer@example.com"
    assert pi.amount_received == 0
    assert pi.latest_charge is None
    assert pi.payment_method is None
    assert pi.last_payment_error is None
    assert pi.next_action is None


def test_create_with_payment_method_then_confirm(client):
    pm = create_card_pm(client, "4242424242424242")
    pi = client.v1.payment_intents.create({"amount": 1500, "currency": "usd", "payment_method": pm.id})
    assert pi.status == "requires_confirmation"
    assert pi.payment_method == pm.id
    confirmed = client.v1.payment_intents.confirm(pi.id)
    assert confirmed.id == pi.id
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 1500
    assert_id(confirmed.latest_charge, "ch_")


def test_create_with_confirm_true_and_charge(client):
    pm = create_card_pm(client, "4242424242424242")
    pi = pay(client, pm.id, amount=2000)
    _check_pi_shape(pi, 2000)
    assert pi.status == "succeeded"
    assert pi.amount_received == 2000
    assert pi.amount_capturable == 0
    assert pi.next_action is None
    assert_id(pi.latest_charge, "ch_")

    ch = client.v1.charges.retrieve(pi.latest_charge)
    assert ch.object == "charge"
    assert ch.id == pi.latest_charge
    assert ch.payment_intent == pi.id
    assert ch.amount == 2000
    assert ch.currency == "usd"
    assert ch.status == "succeeded"
    assert ch.paid is True
    assert ch.captured is True
    assert ch.amount_captured == 2000
    assert ch.refunded is False
    assert ch.amount_refunded == 0
    assert ch.payment_method == pm.id
    assert ch.livemode is False
    assert ch.outcome.network_status == "approved_by_network"
    assert ch.outcome.type == "authorized"
    assert ch.outcome.risk_level == "normal"
    assert isinstance(ch.outcome.risk_score, int)
    assert ch.payment_method_details.type == "card"
    card = ch.payment_method_details.card
    assert card.brand == "visa"
    assert card.last4 == "4242"
    assert card.checks.cvc_check == "pass"
    assert_no_card_data(ch.last_response.body)
    raw = json.loads(ch.last_response.body)
    assert "number" not in raw["payment_method_details"]["card"]
    assert "cvc" not in raw["payment_method_details"]["card"]


def test_confirm_with_payment_method_data(client):
    pi = client.v1.payment_intents.create({"amount": 999, "currency": "usd"})
    confirmed = client.v1.payment_intents.confirm(pi.id, {
        "payment_method_data": {"type": "card", "card": card_details("5555555555554444"),
                                "billing_details": {"name": "Jenny Rosen"}},
    })
    assert confirmed.status == "succeeded"
    assert_id(confirmed.payment_method, "pm_")
    pm = client.v1.payment_methods.retrieve(confirmed.payment_method)
    assert pm.card.brand == "mastercard"
    assert pm.card.last4 == "4444"
    assert pm.billing_details.name == "Jenny Rosen"


def test_allowed_payment_method_types_and_legacy_name(client):
    a = client.v1.payment_intents.create({"amount": 100, "currency": "usd",
                                          "allowed_payment_method_types": ["card"]})
    assert list(a.payment_method_types) == ["card"]
    b = client.v1.payment_intents.create({"amount": 100, "currency": "usd", "payment_method_types": ["card"]})
    assert list(b.payment_method_types) == ["card"]


def test_zero_decimal_currency(client):
    pi = pay(client, "pm_card_visa", amount=500, currency="jpy")
    assert pi.status == "succeeded"
    assert pi.amount == 500
    assert pi.currency == "jpy"
    assert client.v1.charges.retrieve(pi.latest_charge).amount == 500


def test_retrieve_with_secret_key(client):
    pi = client.v1.payment_intents.create({"amount": 700, "currency": "eur", "metadata": {"k": "v"}})
    got = client.v1.payment_intents.retrieve(pi.id)
    assert got.id == pi.id
    assert got.amount == 700
    assert got.currency == "eur"
    assert got.status == "requires_payment_method"
    assert got.client_secret == pi.client_secret
    assert plain(got.metadata) == {"k": "v"}


def test_retrieve_with_publishable_key_and_client_secret(gw, client):
    pi = client.v1.payment_intents.create({"amount": 700, "currency": "usd"})
    # browser: key= and client_secret= in the query string
    r = browser_get(gw, f"/v1/payment_intents/{pi.id}", {"client_secret": pi.client_secret}, gw.publishable_key)
    body = ok_json(r)
    assert body["id"] == pi.id
    assert body["object"] == "payment_intent"
    assert body["amount"] == 700
    assert body["status"] == "requires_payment_method"
    # SDK with the publishable key as its API key
    got = gw.sdk(gw.publishable_key).v1.payment_intents.retrieve(pi.id, {"client_secret": pi.client_secret})
    assert got.id == pi.id
    assert got.amount == 700


def test_update(client):
    pi = client.v1.payment_intents.create({"amount": 1000, "currency": "usd",
                                           "metadata": {"keep": "1", "drop": "2"}})
    up = client.v1.payment_intents.update(pi.id, {
        "amount": 1800, "currency": "gbp", "description": "changed",
        "metadata": {"new": "3", "drop": ""}, "receipt_email": "r@example.com",
    })
    assert up.id == pi.id
    assert up.amount == 1800
    assert up.currency == "gbp"
    assert up.description == "changed"
    assert plain(up.metadata) == {"keep": "1", "new": "3"}
    assert up.receipt_email == "r@example.com"
    got = client.v1.payment_intents.retrieve(pi.id)
    assert got.amount == 1800 and got.currency == "gbp"
    # an empty value unsets
    cleared = client.v1.payment_intents.update(pi.id, {"description": ""})
    assert cleared.description is None
    # and the updated amount is what gets charged
    done = client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa"})
    assert done.status == "succeeded"
    assert done.amount_received == 1800
    assert client.v1.charges.retrieve(done.latest_charge).amount == 1800


def test_update_amount_after_success_rejected(client):
    pi = pay(client, "pm_card_visa", amount=1000)
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_intents.update(pi.id, {"amount": 5}), status=400)
    assert client.v1.payment_intents.retrieve(pi.id).amount == 1000


def test_confirm_without_payment_method_rejected(client):
    pi = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.payment_intents.confirm(pi.id),
                     status=400)
    assert client.v1.payment_intents.retrieve(pi.id).status == "requires_payment_method"


def test_confirm_succeeded_rejected(client):
    pi = pay(client, "pm_card_visa")
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa"}),
                     status=400, code="payment_intent_unexpected_state")
    assert client.v1.payment_intents.retrieve(pi.id).amount_received == 2000


def test_manual_capture_full(client):
    pi = pay(client, "pm_card_visa", amount=2500, capture_method="manual")
    assert pi.status == "requires_capture"
    assert pi.capture_method == "manual"
    assert pi.amount_capturable == 2500
    assert pi.amount_received == 0
    ch = client.v1.charges.retrieve(pi.latest_charge)
    assert ch.status == "succeeded"
    assert ch.captured is False
    assert ch.amount_captured == 0

    cap = client.v1.payment_intents.capture(pi.id)
    assert cap.status == "succeeded"
    assert cap.amount_received == 2500
    assert cap.amount_capturable == 0
    assert cap.latest_charge == pi.latest_charge
    ch = client.v1.charges.retrieve(pi.latest_charge)
    assert ch.captured is True
    assert ch.amount_captured == 2500


def test_manual_capture_partial(client):
    pi = pay(client, "pm_card_visa", amount=1000, capture_method="manual")
    assert pi.status == "requires_capture"
    cap = client.v1.payment_intents.capture(pi.id, {"amount_to_capture": 600})
    assert cap.status == "succeeded"
    assert cap.amount == 1000
    assert cap.amount_received == 600
    assert cap.amount_capturable == 0
    ch = client.v1.charges.retrieve(pi.latest_charge)
    assert ch.captured is True
    assert ch.amount == 1000
    assert ch.amount_captured == 600
    # capturing again is refused
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.payment_intents.capture(pi.id),
                     status=400, code="payment_intent_unexpected_state")


def test_capture_more_than_authorized_rejected(client):
    pi = pay(client, "pm_card_visa", amount=1000, capture_method="manual")
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_intents.capture(pi.id, {"amount_to_capture": 1001}),
                     status=400, param="amount_to_capture")
    got = client.v1.payment_intents.retrieve(pi.id)
    assert got.status == "requires_capture"
    assert got.amount_capturable == 1000


def test_capture_automatic_payment_rejected(client):
    pi = pay(client, "pm_card_visa")
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.payment_intents.capture(pi.id),
                     status=400, code="payment_intent_unexpected_state")


def test_cancel(client):
    pi = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    c = client.v1.payment_intents.cancel(pi.id, {"cancellation_reason": "requested_by_customer"})
    assert c.status == "canceled"
    assert c.cancellation_reason == "requested_by_customer"
    assert isinstance(c.canceled_at, int) and c.canceled_at >= pi.created
    assert client.v1.payment_intents.retrieve(pi.id).status == "canceled"
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.payment_intents.cancel(pi.id),
                     status=400, code="payment_intent_unexpected_state")
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa"}),
                     status=400, code="payment_intent_unexpected_state")


def test_cancel_authorized_payment(client):
    pi = pay(client, "pm_card_visa", amount=1000, capture_method="manual")
    c = client.v1.payment_intents.cancel(pi.id)
    assert c.status == "canceled"
    assert c.amount_capturable == 0
    assert c.amount_received == 0
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.payment_intents.capture(pi.id),
                     status=400, code="payment_intent_unexpected_state")


def test_cancel_succeeded_rejected(client):
    pi = pay(client, "pm_card_visa")
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.payment_intents.cancel(pi.id),
                     status=400, code="payment_intent_unexpected_state")
    assert client.v1.payment_intents.retrieve(pi.id).status == "succeeded"


def test_cancel_with_invalid_reason_rejected(client):
    pi = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_intents.cancel(pi.id, {"cancellation_reason": "bored"}),
                     status=400, param="cancellation_reason")


def test_off_session_with_saved_card(client):
    cus = client.v1.customers.create({"email": unique_email()})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    pi = pay(client, pm.id, customer=cus.id, off_session=True)
    assert pi.status == "succeeded"
    assert pi.customer == cus.id
    assert client.v1.charges.retrieve(pi.latest_charge).customer == cus.id


def test_list_filter_customer(client):
    cus = client.v1.customers.create({"email": unique_email()})
    other = client.v1.customers.create({"email": unique_email()})
    mine = [client.v1.payment_intents.create({"amount": 100 + i, "currency": "usd", "customer": cus.id})
            for i in range(3)]
    client.v1.payment_intents.create({"amount": 50, "currency": "usd", "customer": other.id})
    client.v1.payment_intents.create({"amount": 51, "currency": "usd"})
    lst = client.v1.payment_intents.list({"customer": cus.id})
    assert lst.object == "list"
    assert lst.url == "/v1/payment_intents"
    assert lst.has_more is False
    assert [p.id for p in lst.data] == [p.id for p in reversed(mine)], "only this customer's, newest first"
    page = client.v1.payment_intents.list({"customer": cus.id, "limit": 2})
    assert [p.id for p in page.data] == [mine[2].id, mine[1].id]
    assert page.has_more is True
    nxt = client.v1.payment_intents.list({"customer": cus.id, "limit": 2, "starting_after": mine[1].id})
    assert [p.id for p in nxt.data] == [mine[0].id]
    assert nxt.has_more is False
    prev = client.v1.payment_intents.list({"customer": cus.id, "limit": 2, "ending_before": mine[0].id})
    assert [p.id for p in prev.data] == [mine[2].id, mine[1].id]


def test_list_filter_created(client):
    cus = client.v1.customers.create({"email": unique_email()})
    first = client.v1.payment_intents.create({"amount": 100, "currency": "usd", "customer": cus.id})
    time.sleep(1.1)
    second = client.v1.payment_intents.create({"amount": 200, "currency": "usd", "customer": cus.id})
    assert second.created > first.created

    def ids(created):
        return [p.id for p in client.v1.payment_intents.list({"customer": cus.id, "created": created}).data]

    assert ids({"gte": second.created}) == [second.id]
    assert ids({"gt": first.created}) == [second.id]
    assert ids({"lt": second.created}) == [first.id]
    assert ids({"lte": first.created}) == [first.id]
    assert ids({"gte": first.created, "lte": second.created}) == [second.id, first.id]
    assert ids({"gt": second.created}) == []
    assert ids(first.created) == [first.id], "created=<exact unix time>"
    # without the customer filter, created alone still filters
    recent = client.v1.payment_intents.list({"created": {"gte": second.created}, "limit": 100})
    assert first.id not in [p.id for p in recent.data]
    assert second.id in [p.id for p in recent.data]


def test_charges_record_every_attempt(client):
    cus = client.v1.customers.create({"email": unique_email()})
    pi = client.v1.payment_intents.create({"amount": 3000, "currency": "usd", "customer": cus.id})
    expect_sdk_error(stripe.CardError,
                     lambda: client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa_chargeDeclined"}),
                     status=402, code="card_declined")
    failed = client.v1.payment_intents.retrieve(pi.id)
    assert failed.status == "requires_payment_method"
    failed_charge = failed.latest_charge
    assert_id(failed_charge, "ch_")
    done = client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa"})
    assert done.status == "succeeded"
    assert done.latest_charge != failed_charge

    lst = client.v1.charges.list({"payment_intent": pi.id})
    assert lst.object == "list"
    assert lst.url == "/v1/charges"
    assert [c.id for c in lst.data] == [done.latest_charge, failed_charge], "newest first"
    assert [c.status for c in lst.data] == ["succeeded", "failed"]
    assert lst.data[1].failure_code == "card_declined"
    assert lst.data[1].paid is False
    by_customer = client.v1.charges.list({"customer": cus.id})
    assert [c.id for c in by_customer.data] == [done.latest_charge, failed_charge]
    for c in lst.data:
        assert_no_card_data(json.dumps(c.to_dict()))


def test_charges_list_pagination(client):
    pi1 = pay(client, "pm_card_visa", amount=101)
    pi2 = pay(client, "pm_card_visa", amount=102)
    page = client.v1.charges.list({"limit": 2})
    assert [c.id for c in page.data] == [pi2.latest_charge, pi1.latest_charge], "newest first"
    assert page.has_more is True
    nxt = client.v1.charges.list({"limit": 1, "starting_after": pi2.latest_charge})
    assert [c.id for c in nxt.data] == [pi1.latest_charge]


def test_retrieve_unknown_charge_and_intent(client):
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.charges.retrieve("ch_" + "0" * 24),
                     status=404, code="resource_missing")
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.payment_intents.retrieve("pi_" + "0" * 24),
                     status=404, code="resource_missing")


def test_missing_customer_leaves_no_payment_method_behind(gw):
    # A fresh account, so its payment-method list holds only what this test makes.
    acct = gw.create_account()
    own = gw.sdk(acct.secret_key)
    missing = "cus_NoSuchCustomerOnThisAccount"
    for confirm in (True, False):
        for method in ({"payment_method_data": {"type": "card", "card": card_details("4242424242424242")}},
                       {"payment_method": "pm_card_visa"}):
            err = expect_sdk_error(stripe.InvalidRequestError, lambda: own.v1.payment_intents.create({
                "amount": 1500, "currency": "usd", "customer": missing, "confirm": confirm, **method,
            }), status=404, code="resource_missing", param="customer")
            assert missing in err["message"]
    assert own.v1.payment_methods.list().data == [], "a refused intent left a payment method behind"
    assert own.v1.payment_intents.list().data == []
    # The same calls with a real customer go through.
    cus = own.v1.customers.create({"email": unique_email()})
    pi = own.v1.payment_intents.create({
        "amount": 1500, "currency": "usd", "customer": cus.id, "confirm": True,
        "payment_method_data": {"type": "card", "card": card_details("4242424242424242")},
    })
    assert pi.status == "succeeded" and pi.customer == cus.id


def test_an_intent_is_neither_canceled_nor_changed_while_its_payment_is_authorized(gw, client):
    """While a confirmation is with the processor, a cancel or an update of the intent
    is refused as a payment in progress (409, `payment_intent_unexpected_state`): its
    outcome is written over the intent as the confirmation found it, so a cancel
    acknowledged meanwhile would be undone by a payment that succeeds. Once the
    payment is decided, the intent is what the confirmation made it, unchanged."""
    pm = create_card_pm(client, "4242424242424242")
    pi = client.v1.payment_intents.create({"amount": 2750, "currency": "usd", "payment_method": pm.id,
                                           "metadata": {"order": "o-1"}})
    with authorization_held(gw, lambda: client.v1.payment_intents.confirm(pi.id), pi.id) as held:
        for change in (lambda: client.v1.payment_intents.cancel(pi.id),
                       lambda: client.v1.payment_intents.update(pi.id, {"amount": 100}),
                       lambda: client.v1.payment_intents.update(pi.id, {"metadata": {"order": "o-2"}})):
            refused = expect_sdk_error(stripe.APIError, change, status=409, code="payment_intent_unexpected_state")
            assert "being authorized by another request" in refused["message"], refused
    assert held.get("answer") is not None, held
    paid = client.v1.payment_intents.retrieve(pi.id)
    assert (paid.status, paid.amount, paid.amount_received, paid.metadata.to_dict()) == \
        ("succeeded", 2750, 2750, {"order": "o-1"})
    types = [e.type for e in client.v1.events.list({"limit": 100}).data if e.data.object.id == pi.id]
    assert "payment_intent.canceled" not in types, types


def test_an_attempt_that_outlives_its_fence_is_not_recorded_over_the_request_that_took_over(gw, client):
    """An attempt fenced longer than a minute counts as abandoned, and another request
    may take the intent over. If the first attempt's processor answers after all, its
    outcome is not written over the intent: the request is answered 409
    (`payment_intent_unexpected_state`), its authorization released, and no charge or
    event is recorded for it. Here the takeover is written into the store file while the
    attempt waits after the processor's answer."""
    pm = create_card_pm(client, "4242424242424242")
    pi = client.v1.payment_intents.create({"amount": 2850, "currency": "usd", "payment_method": pm.id})
    with authorization_held(gw, lambda: client.v1.payment_intents.confirm(pi.id), pi.id) as held:
        store = sqlite3.connect(gw.store_path, timeout=10)
        try:
            with store:
                taken = store.execute(
                    "UPDATE objects SET private = json_set(private, "
                    "'$.attempts', json_extract(private, '$.attempts') + 1, "
                    "'$.attempt_started', CAST(strftime('%s', 'now') AS INTEGER), "
                    "'$.attempt_by', 'another-process') WHERE id = ?", (pi.id,)).rowcount
        finally:
            store.close()
        assert taken == 1
    error = held.get("error")
    assert isinstance(error, stripe.APIError) and error.http_status == 409, held
    assert error.json_body["error"]["code"] == "payment_intent_unexpected_state", error.json_body
    assert client.v1.charges.list({"payment_intent": pi.id}).data == []
    assert client.v1.payment_intents.retrieve(pi.id).status == "requires_confirmation"
    recorded = [e.type for e in client.v1.events.list({"limit": 100}).data
                if getattr(e.data.object, "payment_intent", None) == pi.id or e.data.object.id == pi.id]
    assert not [t for t in recorded if t.startswith("charge.") or t == "payment_intent.succeeded"], recorded
    assert "outlived its fence" in gw.log_text()
    # The takeover's process is not this gateway's: the intent may be confirmed again.
    again = client.v1.payment_intents.confirm(pi.id)
    assert again.status == "succeeded"
    assert [c.id for c in client.v1.charges.list({"payment_intent": pi.id}).data] == [again.latest_charge]
