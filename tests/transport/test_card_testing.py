"""Card-testing defence: hundreds of random cards pushed through the browser-facing calls
(publishable key) from one address are stopped within a bounded number of attempts, while
a shopper on another address still pays, and the operator gets a card_testing.detected
event. Both addresses are loopback (127.0.0.1 and 127.0.0.2)."""

import http.client
import json
import random
from urllib.parse import urlencode

LIMITS = {f"TESSERA_RATE_LIMIT_{who}_{what}": "100000"
          for who in ("KEY", "IP", "PUBLISHABLE") for what in ("PER_SECOND", "BURST")}


def _call(port, method, path, form=None, *, source="127.0.0.1", secret=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        conn.request(method, path, urlencode(form or {}), headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(r.read() or b"{}")
    finally:
        conn.close()


def _card(number):
    return {"type": "card", "card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2035",
            "card[cvc]": "123"}


def test_card_testing_is_stopped_while_other_shoppers_pay(procs):
    g = procs.gateway({**LIMITS, "TESSERA_CARD_TESTING_IP_DECLINES": "5",
                       "TESSERA_CARD_TESTING_ACCOUNT_DECLINES": "1000"}, name="card-testing")
    pk, sk, port = g.publishable_key, g.secret_key, g.port
    rng = random.Random(7)

    # The attacker: random card numbers from 127.0.0.1 with the shop's publishable key.
    statuses = []
    for _ in range(300):
        number = "4" + "".join(rng.choice("0123456789") for _ in range(15))
        status, headers, body = _call(port, "POST", "/v1/payment_methods", {**_card(number), "key": pk})
        statuses.append(status)
        if status == 429:
            assert body["error"]["code"] == "rate_limit", body
            assert int(headers["retry-after"]) > 0
            break
    declines_before_block = statuses.count(402)
    assert statuses[-1] == 429, f"300 attempts were never stopped: {statuses.count(402)} declines"
    assert declines_before_block == 5, f"blocked after {declines_before_block} declines, expected 5"
    assert len(statuses) <= 40, f"stopped only after {len(statuses)} attempts"
    # It stays stopped, for good cards too.
    for number in ["4242424242424242"] * 5:
        status, _, _ = _call(port, "POST", "/v1/payment_methods", {**_card(number), "key": pk})
        assert status == 429

    # A shopper on another address pays: the merchant's server creates the intent, the
    # browser creates the card and confirms with the client secret.
    status, _, pi = _call(port, "POST", "/v1/payment_intents", {"amount": "2500", "currency": "usd"}, secret=sk)
    assert status == 200, pi
    status, _, pm = _call(port, "POST", "/v1/payment_methods", {**_card("4242424242424242"), "key": pk},
                          source="127.0.0.2")
    assert status == 200, pm
    status, _, confirmed = _call(port, "POST", f"/v1/payment_intents/{pi['id']}/confirm",
                                 {"client_secret": pi["client_secret"], "payment_method": pm["id"], "key": pk},
                                 source="127.0.0.2")
    assert status == 200 and confirmed["status"] == "succeeded", confirmed

    # The merchant's own server is not affected either.
    status, _, _ = _call(port, "GET", "/v1/customers", secret=sk)
    assert status == 200

    # The operator is told.
    status, _, events = _call(port, "GET", "/v1/events?type=card_testing.detected", secret=sk)
    assert status == 200
    alerts = [e["data"]["object"] for e in events["data"]]
    assert len(alerts) == 1, alerts
    assert alerts[0]["ip_address"] == "127.0.0.1" and alerts[0]["declines"] == 5
