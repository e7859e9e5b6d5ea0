"""Payload hygiene over every delivery Tessera made during the session (runs last,
see conftest.py): events carry card facts (brand, last4, expiry, fingerprint) and never
a card number, a CVC, an API key or a webhook secret."""

from __future__ import annotations

import datetime
import json

import pytest
import stripe

import receivers
from webhook_support import (
    FORBIDDEN_SUBSTRINGS, all_events, card_objects, card_problems, create_endpoint, luhn_runs, pay,
)

EXP_YEAR = datetime.date.today().year + 2
PANS = {"4242424242424242", "5555555555554444", "4000000000000002"}
CVC = "739"


def _raw_card_pm(client, number: str):
    return client.v1.payment_methods.create({"type": "card", "card": {
        "number": number, "exp_month": 11, "exp_year": EXP_YEAR, "cvc": CVC}})


def test_every_delivered_payload_is_clean(gw, tenant, py_receiver, node_receiver):
    # Card-rich traffic on a fresh account: raw card numbers with a CVC, an attached
    # PaymentMethod, a payment, a refund, a decline.
    c = tenant.client
    py = py_receiver("hygiene")
    node = node_receiver("hygiene-node")
    ep_py = create_endpoint(c, py.url(), ["*"])
    py.set_secrets([ep_py.secret])
    ep_node = create_endpoint(c, node.url(), ["*"])
    node.set_secrets([ep_node.secret])

    cus = c.v1.customers.create({"email": "hygiene@example.com"})
    pm = _raw_card_pm(c, "4242424242424242")
    c.v1.payment_methods.attach(pm.id, {"customer": cus.id})
    pi = pay(c, payment_method=pm.id, customer=cus.id)
    c.v1.refunds.create({"payment_intent": pi.id, "amount": 500})
    c.v1.customers.update(cus.id, {"description": "hygiene check"})
    pay(c, payment_method=_raw_card_pm(c, "5555555555554444").id)
    with pytest.raises(stripe.CardError):
        pay(c, payment_method=_raw_card_pm(c, "4000000000000002").id)

    ids = {e["id"] for e in all_events(c)}
    assert ids, "the account emitted no events"
    py.wait_for_events(ids, 20)
    node.wait_for_events(ids, 20)

    captured = list(receivers.CAPTURED)
    assert len(captured) >= 2 * len(ids)
    problems = []
    pm_cards = charge_cards = 0
    for d in captured:
        where = f"{d.receiver} {d.type} {d.event_id}"
        text = d.body.decode("utf-8", errors="replace")
        head = json.dumps(d.headers)
        for run in luhn_runs(text):
            problems.append(f"{where}: a Luhn-valid {len(run)}-digit run {run[:6]}…{run[-4:]}")
        for pan in PANS:
            if pan in text or pan in head:
                problems.append(f"{where}: the card number {pan[:6]}… appears")
        for s in FORBIDDEN_SUBSTRINGS:
            if s in text or s in head:
                problems.append(f"{where}: contains {s!r}")
        for secret in (tenant.key, ep_py.secret, ep_node.secret):
            if secret in text:
                problems.append(f"{where}: contains a key or secret of this account")
        try:
            doc = json.loads(text)
        except ValueError:
            problems.append(f"{where}: body is not JSON")
            continue
        problems.extend(f"{where}: {p}" for p in card_problems(doc))
        if f'"cvc": "{CVC}"' in text or f'"cvc":"{CVC}"' in text:
            problems.append(f"{where}: carries the CVC")
        for path, card in card_objects(doc):
            if path.endswith("payment_method_details.card"):
                charge_cards += 1
            else:
                pm_cards += 1
            for k in ("brand", "last4", "exp_month", "exp_year", "fingerprint"):
                if card.get(k) in (None, ""):
                    problems.append(f"{where}: {path} lacks {k}")
    assert not problems, f"{len(problems)} problems in delivered payloads:\n" + "\n".join(problems[:30])
    assert pm_cards and charge_cards, (
        f"expected PaymentMethod and charge card objects among the deliveries "
        f"(saw {pm_cards} and {charge_cards}); the scan would prove nothing")
