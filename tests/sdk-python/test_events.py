"""Events: one for every state change; retrieve; list filtered by type."""

import json
import time

import stripe

import tessera_support as T
from tessera_support import (
    assert_id, assert_requires_redirect, create_card_pm, expect_sdk_error, find_event, pay, plain,
    submit_challenge, unique_email,
)


def _check_event(client, ev, type_, obj_type, obj_id):
    assert_id(ev.id, "evt_")
    assert ev.object == "event"
    assert ev.type == type_
    assert ev.livemode is False
    assert isinstance(ev.created, int) and abs(ev.created - time.time()) < 600
    assert isinstance(ev.api_version, str) and ev.api_version
    assert isinstance(ev.pending_webhooks, int)
    assert "request" in ev
    assert ev.data.object.object == obj_type
    assert ev.data.object.id == obj_id
    got = client.v1.events.retrieve(ev.id)
    assert got.id == ev.id
    assert got.type == type_
    assert got.data.object.id == obj_id
    T.assert_no_card_data(got.last_response.body)
    return got


def test_customer_created(client):
    cus = client.v1.customers.create({"email": unique_email()})
    ev = find_event(client, "customer.created", cus.id)
    got = _check_event(client, ev, "customer.created", "customer", cus.id)
    assert got.data.object.email == cus.email


def test_payment_intent_created_succeeded_and_charge_succeeded(client):
    pi = client.v1.payment_intents.create({"amount": 1100, "currency": "usd"})
    created = find_event(client, "payment_intent.created", pi.id)
    _check_event(client, created, "payment_intent.created", "payment_intent", pi.id)
    assert created.data.object.status == "requires_payment_method"
    done = client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa"})
    ev = find_event(client, "payment_intent.succeeded", pi.id)
    _check_event(client, ev, "payment_intent.succeeded", "payment_intent", pi.id)
    assert ev.data.object.status == "succeeded"
    assert ev.data.object.amount_received == 1100
    ch = find_event(client, "charge.succeeded", done.latest_charge)
    _check_event(client, ch, "charge.succeeded", "charge", done.latest_charge)
    assert ch.data.object.payment_intent == pi.id
    assert len(T.events_for(client, "payment_intent.succeeded", pi.id)) == 1, "one event per state change"


def test_payment_failed_and_charge_failed(client):
    pi = client.v1.payment_intents.create({"amount": 1200, "currency": "usd"})
    expect_sdk_error(stripe.CardError,
                     lambda: client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa_chargeDeclined"}),
                     status=402)
    ev = find_event(client, "payment_intent.payment_failed", pi.id)
    _check_event(client, ev, "payment_intent.payment_failed", "payment_intent", pi.id)
    assert ev.data.object.last_payment_error.code == "card_declined"
    latest = client.v1.payment_intents.retrieve(pi.id).latest_charge
    ch = find_event(client, "charge.failed", latest)
    _check_event(client, ch, "charge.failed", "charge", latest)
    assert ch.data.object.status == "failed"


def test_requires_action(gw, client):
    pm = create_card_pm(client, T.TDS2_REQUIRED)
    pi = pay(client, pm.id, return_url="https://merchant.example/r")
    assert_requires_redirect(pi, gw.vault)
    ev = find_event(client, "payment_intent.requires_action", pi.id)
    _check_event(client, ev, "payment_intent.requires_action", "payment_intent", pi.id)
    assert ev.data.object.status == "requires_action"


def test_canceled(client):
    pi = client.v1.payment_intents.create({"amount": 1300, "currency": "usd"})
    client.v1.payment_intents.cancel(pi.id)
    ev = find_event(client, "payment_intent.canceled", pi.id)
    _check_event(client, ev, "payment_intent.canceled", "payment_intent", pi.id)
    assert ev.data.object.status == "canceled"


def test_amount_capturable_updated_and_charge_captured(client):
    pi = pay(client, "pm_card_visa", amount=1400, capture_method="manual")
    ev = find_event(client, "payment_intent.amount_capturable_updated", pi.id)
    _check_event(client, ev, "payment_intent.amount_capturable_updated", "payment_intent", pi.id)
    assert ev.data.object.amount_capturable == 1400
    assert ev.data.object.status == "requires_capture"
    # authorization without capture is not charge.captured yet
    assert T.events_for(client, "charge.captured", pi.latest_charge) == []
    client.v1.payment_intents.capture(pi.id, {"amount_to_capture": 1000})
    cap = find_event(client, "charge.captured", pi.latest_charge)
    _check_event(client, cap, "charge.captured", "charge", pi.latest_charge)
    assert cap.data.object.captured is True
    assert cap.data.object.amount_captured == 1000
    succ = find_event(client, "payment_intent.succeeded", pi.id)
    assert succ.data.object.amount_received == 1000


def test_charge_refunded_and_refund_created(client):
    pi = pay(client, "pm_card_visa", amount=1500)
    r = client.v1.refunds.create({"payment_intent": pi.id, "amount": 500})
    rc = find_event(client, "refund.created", r.id)
    _check_event(client, rc, "refund.created", "refund", r.id)
    assert rc.data.object.amount == 500
    cr = find_event(client, "charge.refunded", pi.latest_charge)
    _check_event(client, cr, "charge.refunded", "charge", pi.latest_charge)
    assert cr.data.object.amount_refunded == 500


def test_list_filter_type(client):
    cus = client.v1.customers.create()
    find_event(client, "customer.created", cus.id)
    lst = client.v1.events.list({"type": "customer.created", "limit": 5})
    assert lst.object == "list"
    assert lst.url == "/v1/events"
    assert lst.data, "expected customer.created events"
    assert all(e.type == "customer.created" for e in lst.data)
    assert lst.data[0].data.object.id == cus.id, "newest first"
    mixed = client.v1.events.list({"limit": 100})
    assert len({e.type for e in mixed.data}) > 1
    times = [e.created for e in mixed.data]
    assert times == sorted(times, reverse=True)
    assert client.v1.events.list({"type": "no.such_type"}).data == []


def test_retrieve_unknown_event(client):
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.events.retrieve("evt_" + "e" * 24),
                     status=404, code="resource_missing")
