"""Deliveries verified by the official SDK verifiers (stripe-python's
stripe.Webhook.construct_event and stripe-node's stripe.webhooks.constructEvent),
rejection of tampered and stale deliveries, secret rolling, event filtering, and the
server-side verification pattern (verify, then re-fetch by id before acting)."""

from __future__ import annotations

import json
import secrets as pysecrets
import time
from pathlib import Path

import pytest
import stripe

from webhook_support import (
    api, all_events, assert_delivery_shape, assert_id, create_endpoint, delivery_for, event_object_ids,
    list_deliveries, ok_json, parse_sig_header, pay, replay, roll_secret, sig_header,
    wait_until,
)

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DELIVERY_TIMEOUT = 20.0
EVENT_KEYS = {"id", "object", "type", "data", "api_version", "created", "livemode", "pending_webhooks",
              "request"}


def _events_for(client, object_ids, types=None, timeout=10.0):
    """The account's events about object_ids (data.object.id or its payment_intent),
    once each listed type has at least one."""
    want_types = set(types or ())

    def get():
        evs = [e for e in all_events(client) if set(event_object_ids(e)) & set(object_ids)]
        return evs if want_types <= {e["type"] for e in evs} else None

    return wait_until(get, timeout, f"events {sorted(want_types)} about {sorted(object_ids)}")


def _declined(client):
    """A PaymentIntent whose confirmation is declined; returns its id."""
    with pytest.raises(stripe.CardError) as ei:
        pay(client, payment_method="pm_card_visa_chargeDeclined")
    pi = (ei.value.json_body or {}).get("error", {}).get("payment_intent") or {}
    assert_id(pi.get("id"), "pi_")
    return pi["id"]


def _check_wire(d, secret_count: int = 1) -> None:
    assert d.method == "POST", f"delivery used {d.method}"
    ctype = (d.headers.get("content-type") or "").lower().replace(" ", "")
    assert ctype == "application/json;charset=utf-8", f"Content-Type: {d.headers.get('content-type')!r}"
    t, sigs = parse_sig_header(d.signature)
    assert len(sigs) == secret_count, f"expected {secret_count} v1 signature(s): {d.signature}"
    assert d.received - 60 <= t <= d.received + 5, f"signature timestamp {t} is not current ({d.received:.0f})"
    ev = d.event
    assert ev is not None, f"delivery body is not a JSON object: {d.body[:200]!r}"
    missing = EVENT_KEYS - set(ev)
    assert not missing, f"delivered event lacks {sorted(missing)}: {sorted(ev)}"
    assert ev["object"] == "event"
    assert_id(ev["id"], "evt_")
    assert isinstance(ev["data"].get("object"), dict) and ev["data"]["object"].get("id")
    assert ev["livemode"] is False
    assert isinstance(ev["pending_webhooks"], int)
    assert isinstance(ev["created"], int)


# --------------------------------------------------------------------------
# 1. The official SDK verifiers accept Tessera's deliveries

def test_python_and_node_sdk_verifiers_accept_deliveries(tenant, py_receiver, node_receiver):
    c = tenant.client
    py = py_receiver("py")
    node = node_receiver("node")
    ep_py = create_endpoint(c, py.url("/py"), ["*"])
    py.set_secrets([ep_py.secret])
    ep_node = create_endpoint(c, node.url("/node"), ["*"])
    node.set_secrets([ep_node.secret])

    pi = pay(c)
    cus = c.v1.customers.create({"email": "webhooks@example.com"})
    events = _events_for(c, {pi.id, cus.id}, ["payment_intent.succeeded", "charge.succeeded", "customer.created"])
    ids = {e["id"] for e in all_events(c)}  # everything the account emitted, not only these
    py.wait_for_events(ids, DELIVERY_TIMEOUT)
    node.wait_for_events(ids, DELIVERY_TIMEOUT)

    for r, path in ((py, "/py"), (node, "/node")):
        ds = r.deliveries()
        bad = [(d.event_id, d.error) for d in ds if not d.verified]
        assert not bad, f"{r.name}: the SDK verifier rejected deliveries: {bad}"
        for d in ds:
            assert d.path == path
            _check_wire(d)
    for ev in events:
        got = [d.event for d in py.for_event(ev["id"])][0]
        stored = ok_json(api(tenant.api, tenant.key, "GET", f"/v1/events/{ev['id']}"))
        for k in ("id", "type", "created", "api_version", "livemode", "request"):
            assert got[k] == stored[k], f"delivered {k} {got[k]!r} != stored {stored[k]!r}"
        assert got["data"]["object"]["id"] == stored["data"]["object"]["id"]

    # Delivery records, one per (event, endpoint).
    for ev in events:
        for ep, r in ((ep_py, py), (ep_node, node)):
            rec = wait_until(lambda: (lambda d: d if d and d["status"] == "succeeded" else None)(
                delivery_for(tenant.api, tenant.key, ev["id"], ep.id)), 10,
                f"a succeeded delivery record of {ev['id']} to {ep.id}")
            assert_delivery_shape(rec)
            assert rec["next_attempt"] is None
            a = rec["attempts"][0]
            assert a["status_code"] == 200 and a["error"] is None, a
            assert a["response_body"] == r.for_event(ev["id"])[-1].response_body.decode(), a
            one = ok_json(api(tenant.api, tenant.key, "GET", f"/v1/webhook_deliveries/{rec['id']}"))
            assert one["id"] == rec["id"] and one["event"] == ev["id"] and one["webhook_endpoint"] == ep.id
    per_endpoint = list_deliveries(tenant.api, tenant.key, endpoint=ep_py.id)
    assert {d["event"] for d in per_endpoint} == ids
    assert all(d["webhook_endpoint"] == ep_py.id for d in per_endpoint)

    # Nothing is pending any more.
    for ev in events:
        wait_until(lambda: c.v1.events.retrieve(ev["id"]).pending_webhooks == 0, 5,
                   f"pending_webhooks of {ev['id']} to reach 0")


def test_sdk_verifiers_reject_tampered_and_stale_deliveries(tenant, py_receiver, node_receiver):
    c = tenant.client
    py = py_receiver("py")
    node = node_receiver("node")
    ep_py = create_endpoint(c, py.url(), ["payment_intent.succeeded"])
    py.set_secrets([ep_py.secret])
    ep_node = create_endpoint(c, node.url(), ["payment_intent.succeeded"])
    node.set_secrets([ep_node.secret])
    pi = pay(c)
    for r in (py, node):
        r.wait_for(lambda r: [d for d in r.verified() if d.object_id == pi.id], DELIVERY_TIMEOUT,
                   f"the payment_intent.succeeded delivery for {pi.id}")

    for r, secret in ((py, ep_py.secret), (node, ep_node.secret)):
        d = [d for d in r.verified() if d.object_id == pi.id][0]
        body, header = d.body, d.signature
        ev = json.loads(body)
        ev["data"]["object"]["amount"] = 1
        tampered = json.dumps(ev).encode()
        now = int(time.time())
        t0, _ = parse_sig_header(header)
        cases = [
            # (what, body, header, accepted, error must mention)
            ("the captured delivery, replayed unchanged", body, header, True, None),
            ("a tampered amount", tampered, header, False, "signature"),
            ("one extra byte", body + b" ", header, False, "signature"),
            ("the timestamp moved", body, header.replace(f"t={t0}", f"t={t0 + 1}", 1), False, "signature"),
            ("re-signed with t = now-600", body, sig_header([secret], now - 600, body), False, "tolerance"),
            ("re-signed with t = now", body, sig_header([secret], now, body), True, None),
            ("signed with another secret", body, sig_header(["whsec_" + pysecrets.token_hex(16)], now, body),
             False, "signature"),
            ("no Stripe-Signature header", body, None, False, None),
        ]
        for what, b, h, accepted, mention in cases:
            before = len(r.deliveries(include_replays=True))
            resp = replay(r.url(), b, h)
            rec = r.wait_for(lambda r: [x for x in r.deliveries(include_replays=True)[before:] if x.replay],
                             10, f"the replay ({what})")[0]
            assert rec.replay
            if accepted:
                assert resp.status_code == 200 and rec.verified, f"{r.name}: {what} was refused: {rec.error}"
            else:
                assert resp.status_code == 400 and not rec.verified, f"{r.name}: {what} was accepted"
                if mention:
                    assert mention in (rec.error or "").lower(), f"{r.name}: {what}: {rec.error}"
        # The same checks in-process with stripe-python's verifier.
        stripe.Webhook.construct_event(body, header, secret)
        for b, h in ((tampered, header), (body, sig_header([secret], now - 600, body))):
            with pytest.raises(stripe.SignatureVerificationError):
                stripe.Webhook.construct_event(b, h, secret)


# --------------------------------------------------------------------------
# 3. Secret roll

def test_roll_with_overlap_signs_with_old_and_new_secret(tenant, py_receiver, node_receiver):
    c = tenant.client
    py = py_receiver("py")
    node = node_receiver("node")
    ep_py = create_endpoint(c, py.url(), ["payment_intent.succeeded"])
    ep_node = create_endpoint(c, node.url(), ["payment_intent.succeeded"])
    rolled = {}
    for ep in (ep_py, ep_node):
        body = ok_json(roll_secret(tenant.api, tenant.key, ep.id, expire_previous_after=3600))
        assert body["secret"] != ep.secret
        rolled[ep.id] = body["secret"]
    py.set_secrets([ep_py.secret, rolled[ep_py.id]])
    node.set_secrets([ep_node.secret, rolled[ep_node.id]])

    pi = pay(c)
    for r, ep in ((py, ep_py), (node, ep_node)):
        ds = r.wait_for(lambda r: [d for d in r.deliveries() if d.object_id == pi.id], DELIVERY_TIMEOUT,
                        f"the delivery for {pi.id}")
        d = ds[0]
        _check_wire(d, secret_count=2)
        assert d.verified_with == [0, 1], (
            f"{r.name}: during the overlap the delivery must verify with the old and the new secret "
            f"(verified with {d.verified_with}; {d.error})")
        for secret in (ep.secret, rolled[ep.id]):
            stripe.Webhook.construct_event(d.body, d.signature, secret)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(d.body, d.signature, "whsec_" + pysecrets.token_hex(16))


def test_roll_without_overlap_signs_with_new_secret_only(tenant, py_receiver, node_receiver):
    c = tenant.client
    py = py_receiver("py")
    node = node_receiver("node")
    ep_py = create_endpoint(c, py.url(), ["payment_intent.succeeded"])
    ep_node = create_endpoint(c, node.url(), ["payment_intent.succeeded"])
    rolled = {}
    for ep in (ep_py, ep_node):
        rolled[ep.id] = ok_json(roll_secret(tenant.api, tenant.key, ep.id, expire_previous_after=0))["secret"]
    py.set_secrets([ep_py.secret, rolled[ep_py.id]])
    node.set_secrets([ep_node.secret, rolled[ep_node.id]])

    pi = pay(c)
    for r, ep in ((py, ep_py), (node, ep_node)):
        d = r.wait_for(lambda r: [d for d in r.deliveries() if d.object_id == pi.id], DELIVERY_TIMEOUT,
                       f"the delivery for {pi.id}")[0]
        _check_wire(d, secret_count=1)
        assert d.verified_with == [1], (
            f"{r.name}: after a roll with expire_previous_after=0 only the new secret may verify "
            f"(verified with {d.verified_with}; {d.error})")
        stripe.Webhook.construct_event(d.body, d.signature, rolled[ep.id])
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(d.body, d.signature, ep.secret)


def test_overlap_ends_when_the_old_secret_expires(tenant, py_receiver):
    c = tenant.client
    r = py_receiver("py")
    ep = create_endpoint(c, r.url(), ["payment_intent.succeeded"])
    new = ok_json(roll_secret(tenant.api, tenant.key, ep.id, expire_previous_after=2))["secret"]
    rolled_at = time.time()
    r.set_secrets([ep.secret, new])

    pi = pay(c)
    d = r.wait_for(lambda r: [d for d in r.deliveries() if d.object_id == pi.id], DELIVERY_TIMEOUT,
                   f"the delivery for {pi.id}")[0]
    if d.received < rolled_at + 1.5:  # still inside the overlap
        _check_wire(d, secret_count=2)
        assert d.verified_with == [0, 1], (d.verified_with, d.error)

    time.sleep(max(0.0, rolled_at + 3.5 - time.time()))
    pi2 = pay(c)
    d2 = r.wait_for(lambda r: [d for d in r.deliveries() if d.object_id == pi2.id], DELIVERY_TIMEOUT,
                    f"the delivery for {pi2.id}")[0]
    _check_wire(d2, secret_count=1)
    assert d2.verified_with == [1], (
        f"once the overlap is over only the new secret may sign (verified with {d2.verified_with}; {d2.error})")


# --------------------------------------------------------------------------
# 5. Event filtering

def test_enabled_events_filter_and_disabled_endpoint(tenant, py_receiver):
    c = tenant.client
    everything = py_receiver("all")
    only = py_receiver("only-succeeded")
    off = py_receiver("disabled")
    ep_all = create_endpoint(c, everything.url(), ["*"])
    ep_only = create_endpoint(c, only.url(), ["payment_intent.succeeded"])
    ep_off = create_endpoint(c, off.url(), ["*"])
    for r, ep in ((everything, ep_all), (only, ep_only), (off, ep_off)):
        r.set_secrets([ep.secret])
    assert c.v1.webhook_endpoints.update(ep_off.id, {"disabled": True}).status == "disabled"

    pi = pay(c)
    failed = _declined(c)
    cus = c.v1.customers.create({"email": "filter@example.com"})
    _events_for(c, {pi.id, failed, cus.id},
                ["payment_intent.succeeded", "payment_intent.payment_failed", "customer.created"])
    events = all_events(c)
    ids = {e["id"] for e in events}
    succeeded = {e["id"] for e in events if e["type"] == "payment_intent.succeeded"}
    assert len({e["type"] for e in events}) >= 3 and succeeded

    everything.wait_for_events(ids, DELIVERY_TIMEOUT)
    only.wait_for_events(succeeded, DELIVERY_TIMEOUT)
    # Everything else has had its chance: let any stray delivery arrive, then look.
    wait_until(lambda: {d["event"] for d in list_deliveries(tenant.api, tenant.key, endpoint=ep_all.id)
                        if d["status"] == "succeeded"} >= ids, 10, "the * endpoint's records to succeed")
    time.sleep(1.0)
    wrong = [(d.type, d.event_id) for d in only.deliveries() if d.type != "payment_intent.succeeded"]
    assert not wrong, f"an endpoint for payment_intent.succeeded received other events: {wrong}"
    assert {d.event_id for d in only.deliveries()} == succeeded
    assert {d["event"] for d in list_deliveries(tenant.api, tenant.key, endpoint=ep_only.id)} == succeeded
    assert not off.deliveries(), f"a disabled endpoint received {[(d.type, d.event_id) for d in off.deliveries()]}"
    assert list_deliveries(tenant.api, tenant.key, endpoint=ep_off.id) == [], \
        "a disabled endpoint has delivery records"

    # Enabled again, it receives what happens from then on.
    assert c.v1.webhook_endpoints.update(ep_off.id, {"disabled": False}).status == "enabled"
    pi2 = pay(c)
    off.wait_for(lambda r: [d for d in r.verified() if d.object_id == pi2.id and d.type == "payment_intent.succeeded"],
                 DELIVERY_TIMEOUT, "the re-enabled endpoint to receive the new payment")


# --------------------------------------------------------------------------
# 9. Server-side verification: verify the signature, then re-fetch before acting

def test_merchant_verifies_then_refetches_before_acting(gw, tenant, py_receiver):
    c = tenant.client
    merchant = gw.sdk(tenant.key)  # the merchant's server-side client, secret key
    fulfilled, refused = {}, {}

    def handle(event, d):
        # 1. construct_event has verified the signature (only then are we called).
        if not event.type.startswith("payment_intent."):
            return
        claimed = event.data.object.status
        # 2. Re-fetch the object by id with the secret key; act on what the API says.
        pi = merchant.v1.payment_intents.retrieve(event.data.object.id)
        d.note.update(claimed=claimed, actual=pi.status)
        if event.type == "payment_intent.succeeded":
            if pi.status == "succeeded" and pi.amount_received == pi.amount:
                fulfilled[pi.id] = event.id
            else:
                refused[pi.id] = (event.id, pi.status)

    r = py_receiver("merchant", on_verified=handle)
    ep = create_endpoint(c, r.url(), ["payment_intent.succeeded", "payment_intent.payment_failed"])
    r.set_secrets([ep.secret])

    pi = pay(c, amount=4200)
    r.wait_for(lambda r: pi.id in fulfilled, DELIVERY_TIMEOUT, f"the order for {pi.id} to be fulfilled")
    d = [d for d in r.deliveries() if d.object_id == pi.id][0]
    assert "handler_error" not in d.note, d.note
    assert d.note["claimed"] == d.note["actual"] == "succeeded", d.note

    failed = _declined(c)
    d = r.wait_for(lambda r: [d for d in r.deliveries() if d.object_id == failed and "actual" in d.note],
                   DELIVERY_TIMEOUT, "the payment_failed delivery")[0]
    assert d.type == "payment_intent.payment_failed"
    assert d.note["claimed"] == d.note["actual"] == "requires_payment_method", d.note
    assert failed not in fulfilled

    # A forged "succeeded" event about an unpaid PaymentIntent.
    unpaid = c.v1.payment_intents.create({"amount": 99900, "currency": "usd"})
    assert unpaid.status == "requires_payment_method"
    genuine = [d for d in r.deliveries() if d.object_id == pi.id][0].event
    forged = json.loads(json.dumps(genuine))
    forged["id"] = "evt_" + pysecrets.token_hex(12)
    forged["data"]["object"].update(id=unpaid.id, amount=99900, amount_received=99900, status="succeeded")
    body = json.dumps(forged).encode()
    now = int(time.time())

    # Signed with a secret that is not the endpoint's: the verifier rejects it, nothing is fetched.
    resp = replay(r.url(), body, sig_header(["whsec_" + pysecrets.token_hex(16)], now, body))
    assert resp.status_code == 400
    rec = [d for d in r.deliveries(include_replays=True) if d.replay][-1]
    assert not rec.verified and "actual" not in rec.note
    # Even correctly signed (a leaked secret), the re-fetch shows it is not paid.
    resp = replay(r.url(), body, sig_header([ep.secret], now, body))
    rec = [d for d in r.deliveries(include_replays=True) if d.replay][-1]
    assert rec.verified, rec.error
    assert rec.note.get("actual") == "requires_payment_method", rec.note
    assert unpaid.id in refused and unpaid.id not in fulfilled


def test_docs_describe_the_verification_pattern():
    doc = REPO_ROOT / "docs" / "WEBHOOKS.md"
    assert doc.exists(), "docs/WEBHOOKS.md is missing"
    text = doc.read_text()
    assert "construct_event" in text or "constructEvent" in text, \
        "docs/WEBHOOKS.md does not show verifying with the SDK (construct_event / constructEvent)"
    assert "retrieve" in text, "docs/WEBHOOKS.md does not show re-fetching the object (retrieve) before acting"
    assert "roll_secret" in text, "docs/WEBHOOKS.md does not document rolling the secret"
