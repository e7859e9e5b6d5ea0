"""Refunds: full, partial, several partials up to the captured amount, reason,
retrieve, list, update metadata."""

import pytest
import stripe

from tessera_support import assert_id, expect_sdk_error, pay, plain


def test_full_refund_by_payment_intent(client):
    pi = pay(client, "pm_card_visa", amount=2000)
    re_ = client.v1.refunds.create({"payment_intent": pi.id})
    assert_id(re_.id, "re_")
    assert re_.object == "refund"
    assert re_.amount == 2000
    assert re_.currency == "usd"
    assert re_.status == "succeeded"
    assert re_.charge == pi.latest_charge
    assert re_.payment_intent == pi.id
    assert isinstance(re_.created, int)
    ch = client.v1.charges.retrieve(pi.latest_charge)
    assert ch.refunded is True
    assert ch.amount_refunded == 2000
    # nothing left to refund
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.refunds.create({"payment_intent": pi.id}), status=400)


def test_full_refund_by_charge(client):
    pi = pay(client, "pm_card_mastercard", amount=1234)
    re_ = client.v1.refunds.create({"charge": pi.latest_charge})
    assert re_.amount == 1234
    assert re_.charge == pi.latest_charge
    assert re_.payment_intent == pi.id
    assert client.v1.charges.retrieve(pi.latest_charge).refunded is True


def test_multiple_partial_refunds_up_to_captured_amount(client):
    pi = pay(client, "pm_card_visa", amount=1000)
    r1 = client.v1.refunds.create({"payment_intent": pi.id, "amount": 300})
    assert r1.amount == 300
    ch = client.v1.charges.retrieve(pi.latest_charge)
    assert ch.refunded is False
    assert ch.amount_refunded == 300
    r2 = client.v1.refunds.create({"payment_intent": pi.id, "amount": 500})
    assert r2.amount == 500
    # more than what is left (200) is refused, naming amount
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.refunds.create({"payment_intent": pi.id, "amount": 201}),
                     status=400, param="amount")
    assert client.v1.charges.retrieve(pi.latest_charge).amount_refunded == 800
    # without an amount the rest is refunded
    r3 = client.v1.refunds.create({"payment_intent": pi.id})
    assert r3.amount == 200
    ch = client.v1.charges.retrieve(pi.latest_charge)
    assert ch.refunded is True
    assert ch.amount_refunded == 1000
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.refunds.create({"payment_intent": pi.id, "amount": 1}), status=400)
    lst = client.v1.refunds.list({"payment_intent": pi.id})
    assert [r.id for r in lst.data] == [r3.id, r2.id, r1.id]


def test_refunds_limited_to_partially_captured_amount(client):
    pi = pay(client, "pm_card_visa", amount=1000, capture_method="manual")
    client.v1.payment_intents.capture(pi.id, {"amount_to_capture": 600})
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.refunds.create({"payment_intent": pi.id, "amount": 601}),
                     status=400, param="amount")
    r = client.v1.refunds.create({"payment_intent": pi.id, "amount": 600})
    assert r.amount == 600
    assert r.status == "succeeded"
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.refunds.create({"payment_intent": pi.id, "amount": 1}), status=400)
    ch = client.v1.charges.retrieve(pi.latest_charge)
    assert ch.amount_captured == 600
    assert ch.refunded is True


@pytest.mark.parametrize("reason", ["duplicate", "fraudulent", "requested_by_customer"])
def test_reason(client, reason):
    pi = pay(client, "pm_card_visa", amount=500)
    r = client.v1.refunds.create({"payment_intent": pi.id, "reason": reason})
    assert r.reason == reason
    assert client.v1.refunds.retrieve(r.id).reason == reason


def test_invalid_reason_rejected(client):
    pi = pay(client, "pm_card_visa", amount=500)
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.refunds.create({"payment_intent": pi.id, "reason": "because"}),
                     status=400, param="reason")
    assert client.v1.charges.retrieve(pi.latest_charge).amount_refunded == 0


def test_invalid_amounts_rejected(client):
    pi = pay(client, "pm_card_visa", amount=500)
    for bad in (0, -5, 501):
        expect_sdk_error(stripe.InvalidRequestError,
                         lambda: client.v1.refunds.create({"payment_intent": pi.id, "amount": bad}),
                         status=400, param="amount")
    assert client.v1.charges.retrieve(pi.latest_charge).amount_refunded == 0


def test_refund_requires_a_target(client):
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.refunds.create({}), status=400)


def test_refund_of_unpaid_intent_rejected(client):
    pi = client.v1.payment_intents.create({"amount": 500, "currency": "usd"})
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.refunds.create({"payment_intent": pi.id}), status=400)


def test_refund_of_unknown_charge(client):
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.refunds.create({"charge": "ch_" + "x" * 24}),
                     status=(400, 404), code="resource_missing")


def test_retrieve_list_and_update_metadata(client):
    pi = pay(client, "pm_card_visa", amount=900)
    r = client.v1.refunds.create({"payment_intent": pi.id, "amount": 100, "metadata": {"ticket": "T-1"}})
    assert plain(r.metadata) == {"ticket": "T-1"}
    got = client.v1.refunds.retrieve(r.id)
    assert got.id == r.id and got.amount == 100 and got.status == r.status

    up = client.v1.refunds.update(r.id, {"metadata": {"agent": "bob", "ticket": ""}})
    assert plain(up.metadata) == {"agent": "bob"}
    assert plain(client.v1.refunds.retrieve(r.id).metadata) == {"agent": "bob"}
    # only metadata may be updated
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.refunds.update(r.id, {"amount": 50}), status=400, param="amount")

    r2 = client.v1.refunds.create({"charge": pi.latest_charge, "amount": 200})
    by_charge = client.v1.refunds.list({"charge": pi.latest_charge})
    assert by_charge.object == "list"
    assert by_charge.url == "/v1/refunds"
    assert [x.id for x in by_charge.data] == [r2.id, r.id]
    all_recent = client.v1.refunds.list({"limit": 2})
    assert [x.id for x in all_recent.data] == [r2.id, r.id]
    ch = client.v1.charges.retrieve(pi.latest_charge)
    assert ch.amount_refunded == 300
    assert ch.refunded is False


def test_retrieve_unknown_refund(client):
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.refunds.retrieve("re_" + "q" * 24),
                     status=404, code="resource_missing")
