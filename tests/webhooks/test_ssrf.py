"""SSRF: webhook deliveries to private, link-local (incl. the 169.254.169.254 metadata
address), unique-local, CGNAT, multicast, unspecified and IPv4-mapped addresses are
refused before connecting; test mode allows loopback.

The test sends no traffic anywhere but loopback and listens only on 127.0.0.1: it
registers endpoints whose URLs are IP literals of refused ranges and reads Tessera's
delivery records, which must show each attempt refused with an error and no sign of a
connection having been tried (no socket error, no timeout, no status code). Refusing
such a URL already at registration (400 naming `url`) is accepted as well."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict

import pytest
import stripe

import receivers
from webhook_support import (
    api, assert_delivery_shape, delivery_for, pay, wait_until,
)

TARGETS: Dict[str, str] = {
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "link-local": "http://169.254.10.20:8080/hook",
    "private-10": "http://10.0.0.1/hook",
    "private-172": "http://172.16.0.1/hook",
    "private-192": "http://192.168.1.1:8443/hook",
    "cgnat": "http://100.64.0.1/hook",
    "unspecified": "http://0.0.0.0/hook",
    "unspecified-port": "http://0.0.0.0:9/hook",
    "multicast": "http://224.0.0.1/hook",
    "broadcast": "http://255.255.255.255/hook",
    "unique-local-v6": "http://[fc00::1]/hook",
    "link-local-v6": "http://[fe80::1]/hook",
    "multicast-v6": "http://[ff02::1]/hook",
    "unspecified-v6": "http://[::]/hook",
    "v4-mapped-metadata": "http://[::ffff:169.254.169.254]/hook",
    "v4-mapped-private": "http://[::ffff:10.0.0.1]/hook",
    "decimal-metadata": "http://2852039166/hook",       # 169.254.169.254
    "hex-metadata": "http://0xa9fea9fe/hook",           # 169.254.169.254
    "octal-private": "http://012.0.0.1/hook",           # 10.0.0.1
}

# Words of an error that comes from trying to connect rather than from refusing to.
CONNECT_ERROR_WORDS = ("os error", "timed out", "timeout", "unreachable", "tcp connect", "connection reset",
                       "error trying to connect")


PER_ACCOUNT = 10  # accounts have a cap on endpoints (16 per mode)


@dataclass
class Group:
    key: str
    event_id: str = ""
    control_endpoint: str = ""


@dataclass
class SsrfSetup:
    api: str
    groups: Dict[str, Group] = field(default_factory=dict)            # target name -> its account
    controls: list = field(default_factory=list)                      # every Group
    endpoints: Dict[str, str] = field(default_factory=dict)           # name -> we_ id
    refused_at_create: Dict[str, stripe.StripeError] = field(default_factory=dict)


@pytest.fixture(scope="module")
def ssrf(gw):
    """Accounts of up to PER_ACCOUNT refused-address endpoints plus one loopback endpoint
    each; one payment per account, delivered (or refused) to all of them."""
    setup = SsrfSetup(gw.api)
    made = []  # (client, key, control receiver)
    names = list(TARGETS)
    try:
        for i in range(0, len(names), PER_ACCOUNT):
            acct = gw.create_account()
            client = gw.sdk(acct.secret_key)
            control = receivers.PyReceiver(f"ssrf-loopback-{i // PER_ACCOUNT}")
            made.append((client, acct.secret_key, control))
            group = Group(acct.secret_key)
            ep = client.v1.webhook_endpoints.create({"url": control.url(),
                                                     "enabled_events": ["payment_intent.succeeded"]})
            control.set_secrets([ep.secret])
            group.control_endpoint = ep.id
            for name in names[i:i + PER_ACCOUNT]:
                setup.groups[name] = group
                try:
                    e = client.v1.webhook_endpoints.create({"url": TARGETS[name],
                                                            "enabled_events": ["payment_intent.succeeded"]})
                    setup.endpoints[name] = e.id
                except stripe.InvalidRequestError as err:
                    setup.refused_at_create[name] = err
            pi = pay(client)
            d = control.wait_for(lambda r: [d for d in r.verified() if d.object_id == pi.id], 20,
                                 "the loopback delivery")[0]
            group.event_id = d.event_id
            setup.controls.append(group)
        yield setup
    finally:
        for client, key, control in made:
            try:  # stop the refused deliveries from retrying for the rest of the session
                if gw.running:
                    for we in client.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter():
                        api(gw.api, key, "DELETE", f"/v1/webhook_endpoints/{we.id}")
            except Exception:
                pass
            control.close()


def test_loopback_target_is_allowed_in_test_mode(ssrf):
    for g in ssrf.controls:
        rec = wait_until(lambda: (lambda d: d if d and d["status"] == "succeeded" else None)(
            delivery_for(ssrf.api, g.key, g.event_id, g.control_endpoint)), 10,
            "the loopback delivery record to succeed")
        assert rec["attempts"][0]["status_code"] == 200


@pytest.mark.parametrize("name", list(TARGETS))
def test_private_target_refused_without_connecting(ssrf, name):
    if name in ssrf.refused_at_create:
        err = ssrf.refused_at_create[name]
        assert err.http_status == 400 and "url" in ((err.json_body or {}).get("error", {}).get("param") or ""), (
            f"{TARGETS[name]} was refused at registration without a 400 naming url: {err.http_body}")
        return
    ep = ssrf.endpoints[name]
    g = ssrf.groups[name]
    rec = wait_until(lambda: (lambda d: d if d and d["attempt_count"] >= 1 else None)(
        delivery_for(ssrf.api, g.key, g.event_id, ep)), 15,
        f"an attempt to deliver to {TARGETS[name]} to be recorded")
    assert_delivery_shape(rec)
    assert rec["status"] != "succeeded", f"a delivery to {TARGETS[name]} succeeded: {rec}"
    for a in rec["attempts"]:
        assert a["status_code"] is None, f"{TARGETS[name]}: an HTTP answer was recorded, so it connected: {a}"
        assert isinstance(a["error"], str) and a["error"].strip(), f"{TARGETS[name]}: no refusal error: {a}"
        low = a["error"].lower()
        tried = [w for w in CONNECT_ERROR_WORDS if w in low]
        assert not tried, (f"{TARGETS[name]}: the error reads like a failed connection attempt ({tried}), "
                           f"not a refusal before connecting: {a['error']!r}")
        assert a["latency_ms"] is None or a["latency_ms"] < 1000, (
            f"{TARGETS[name]}: a refusal took {a['latency_ms']} ms: {a}")
        assert a["response_body"] in (None, ""), a
