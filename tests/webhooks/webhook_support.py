"""Shared helpers for the Tessera webhook suite (tests/HARNESS.md "Webhooks").

Everything here talks to a running gateway over its /v1 API; nothing here knows
anything about Tessera's internals.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import socket
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import requests
import stripe
from stripe._api_version import _ApiVersion
from tessera_common import form_items  # noqa: F401 (tests import it from here)

HTTP_TIMEOUT = 20

# Webhook retry timing the suite's gateways run with (conftest.py passes them on).
RETRY_BASE_MS = 200
RETRY_MAX_MS = 2000

# Event types the suite relies on Tessera emitting (a subset of what it emits).
KNOWN_EVENT_TYPES = [
    "payment_intent.created",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.succeeded",
    "charge.failed",
    "charge.refunded",
    "customer.created",
    "customer.updated",
    "payment_method.attached",
    "refund.created",
]

ID_RE = r"[A-Za-z0-9]{24,}"
SIG_HEADER_RE = re.compile(r"t=(\d+)((?:,v1=[0-9a-f]{64})+)")


# --------------------------------------------------------------------------
# Waiting

def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll pred() until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except AssertionError as e:  # let predicates explain themselves
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last: {last_exc})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# Raw HTTP to the gateway (for the Tessera extensions the SDKs do not know)



def api(api_base: str, key: str, method: str, path: str, params: Optional[Dict[str, Any]] = None,
        query: Optional[Dict[str, Any]] = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}", "Stripe-Version": _ApiVersion.CURRENT}
    return requests.request(
        method, api_base + path,
        data=form_items(params) if params is not None else None,
        params=form_items(query) if query is not None else None,
        headers=headers, timeout=HTTP_TIMEOUT, allow_redirects=False,
    )


def ok_json(resp: requests.Response) -> Dict[str, Any]:
    assert 200 <= resp.status_code < 300, (
        f"{resp.request.method} {resp.request.path_url} -> HTTP {resp.status_code}: {resp.text[:800]}"
    )
    return resp.json()


def error_of(resp: requests.Response) -> Dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"error response is not JSON (HTTP {resp.status_code}): {resp.text[:500]!r}")
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"no error object: {body!r}"
    err = body["error"]
    assert isinstance(err.get("message"), str) and err["message"], f"error without message: {err!r}"
    return err


# --------------------------------------------------------------------------
# Objects

def plain(obj: Any) -> Any:
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return obj


def field(obj: Any, key: str, default: Any = None) -> Any:
    if obj is None:
        return default
    try:
        return obj[key]
    except (KeyError, TypeError):
        return default


def assert_id(value: Any, prefix: str) -> None:
    assert isinstance(value, str) and re.fullmatch(re.escape(prefix) + ID_RE, value), (
        f"{value!r} is not a {prefix}… id of at least 24 base62 characters"
    )


def pay(client: stripe.StripeClient, amount: int = 2000, payment_method: str = "pm_card_visa",
        **extra: Any):
    params = {"amount": amount, "currency": "usd", "payment_method": payment_method, "confirm": True}
    params.update(extra)
    return client.v1.payment_intents.create(params)


def all_events(client: stripe.StripeClient, type_: Optional[str] = None) -> List[Dict[str, Any]]:
    params: Dict[str, Any] = {"limit": 100}
    if type_:
        params["type"] = type_
    return [plain(e) for e in client.v1.events.list(params).auto_paging_iter()]


def event_object_ids(event: Dict[str, Any]) -> Tuple[Optional[str], Optional[str]]:
    """(data.object.id, data.object.payment_intent) of an event dict."""
    obj = (event.get("data") or {}).get("object") or {}
    pi = obj.get("payment_intent")
    if isinstance(pi, dict):
        pi = pi.get("id")
    return obj.get("id"), pi


# --------------------------------------------------------------------------
# Webhook endpoints and delivery records

def create_endpoint(client: stripe.StripeClient, url: str, events: Iterable[str] = ("*",), **extra: Any):
    params: Dict[str, Any] = {"url": url, "enabled_events": list(events)}
    params.update(extra)
    ep = client.v1.webhook_endpoints.create(params)
    assert_id(ep.id, "we_")
    assert isinstance(field(ep, "secret"), str) and ep.secret.startswith("whsec_"), (
        f"the create response carries no whsec_ secret: {plain(ep)!r}"
    )
    return ep


def roll_secret(api_base: str, key: str, endpoint_id: str,
                expire_previous_after: Optional[int] = None) -> requests.Response:
    params = {} if expire_previous_after is None else {"expire_previous_after": expire_previous_after}
    return api(api_base, key, "POST", f"/v1/webhook_endpoints/{endpoint_id}/roll_secret", params)


def list_deliveries(api_base: str, key: str, event: Optional[str] = None,
                    endpoint: Optional[str] = None) -> List[Dict[str, Any]]:
    query: Dict[str, Any] = {"limit": 100}
    if event:
        query["event"] = event
    if endpoint:
        query["webhook_endpoint"] = endpoint
    out: List[Dict[str, Any]] = []
    for _ in range(100):  # bounded pagination
        body = ok_json(api(api_base, key, "GET", "/v1/webhook_deliveries", query=query))
        data = body.get("data")
        assert isinstance(data, list), f"/v1/webhook_deliveries is not a list object: {body!r}"
        out.extend(data)
        if not body.get("has_more") or not data:
            break
        query["starting_after"] = data[-1]["id"]
    return out


def delivery_for(api_base: str, key: str, event: str, endpoint: str) -> Optional[Dict[str, Any]]:
    ds = [d for d in list_deliveries(api_base, key, event=event, endpoint=endpoint)
          if d.get("event") == event and d.get("webhook_endpoint") == endpoint]
    assert len(ds) <= 1, f"more than one delivery record for {event} to {endpoint}: {ds!r}"
    return ds[0] if ds else None


def assert_delivery_shape(d: Dict[str, Any]) -> None:
    assert_id(d.get("id"), "whd_")
    assert d.get("object") == "webhook_delivery", d
    assert_id(d.get("event"), "evt_")
    assert_id(d.get("webhook_endpoint"), "we_")
    assert d.get("status") in ("pending", "succeeded", "failed"), d
    assert isinstance(d.get("attempt_count"), int), d
    assert d.get("next_attempt") is None or isinstance(d.get("next_attempt"), int), d
    attempts = d.get("attempts")
    assert isinstance(attempts, list), d
    assert len(attempts) == d["attempt_count"], (
        f"attempt_count {d['attempt_count']} but {len(attempts)} attempts listed: {d!r}"
    )
    for a in attempts:
        assert isinstance(a.get("created"), int), a
        assert a.get("status_code") is None or isinstance(a.get("status_code"), int), a
        assert a.get("latency_ms") is None or (isinstance(a.get("latency_ms"), int) and a["latency_ms"] >= 0), a
        assert a.get("response_body") is None or isinstance(a.get("response_body"), str), a
        if isinstance(a.get("response_body"), str):
            assert len(a["response_body"].encode()) <= 2048, "response_body longer than 2048 bytes"
        assert a.get("error") is None or isinstance(a.get("error"), str), a
    created = [a["created"] for a in attempts]
    assert created == sorted(created, reverse=True), f"attempts are not newest first: {created}"


# --------------------------------------------------------------------------
# Signatures (for replaying captured deliveries)

def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sig_header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    return f"t={timestamp}" + "".join(f",v1={sign(s, timestamp, body)}" for s in secrets)


def parse_sig_header(value: str) -> Tuple[int, List[str]]:
    m = SIG_HEADER_RE.fullmatch(value or "")
    assert m, f"Stripe-Signature {value!r} is not t=<unix>,v1=<64 hex>[,v1=…]"
    return int(m.group(1)), re.findall(r"v1=([0-9a-f]{64})", m.group(2))


def replay(url: str, body: bytes, signature: Optional[str]) -> requests.Response:
    """POST a (possibly altered) delivery to a receiver ourselves. X-Test-Replay keeps
    it out of the record of what Tessera sent."""
    headers = {"Content-Type": "application/json; charset=utf-8", "X-Test-Replay": "1"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return requests.post(url, data=body, headers=headers, timeout=HTTP_TIMEOUT)


# --------------------------------------------------------------------------
# Payload hygiene

def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_runs(text: str) -> List[str]:
    """Digit runs of 13 or more digits containing a 13–19 digit Luhn-valid window."""
    hits = []
    for m in re.finditer(r"\d{13,}", text):
        run = m.group(0)
        if any(luhn_ok(run[i:i + n]) for n in range(13, min(19, len(run)) + 1)
               for i in range(0, len(run) - n + 1)):
            hits.append(run)
    return hits


FORBIDDEN_SUBSTRINGS = ("sk_test_", "sk_live_", "rk_test_", "rk_live_", "whsec_")

# What a card object may show: brand, last four, expiry, fingerprint and the other
# non-sensitive facts of Stripe's PaymentMethod `card` and charge
# `payment_method_details.card` objects. Never the number, the CVC or the BIN.
CARD_FIELDS_ALLOWED = {
    "brand", "display_brand", "last4", "exp_month", "exp_year", "fingerprint", "funding",
    "country", "checks", "networks", "network", "three_d_secure_usage", "three_d_secure",
    "wallet", "generated_from", "regulated_status", "amount_authorized", "authorization_code",
    "capture_before", "extended_authorization", "incremental_authorization", "installments",
    "mandate", "multicapture", "network_token", "network_transaction_id", "overcapture",
}


def card_objects(node: Any, path: str = "$", parent_key: str = "") -> List[Tuple[str, Dict[str, Any]]]:
    """Every card object in a JSON document: the `card` of a PaymentMethod, a charge's
    `payment_method_details.card`, and any object with "object": "card"."""
    found: List[Tuple[str, Dict[str, Any]]] = []
    if isinstance(node, dict):
        if node.get("object") == "card":
            found.append((path, node))
        card = node.get("card")
        if isinstance(card, dict) and (node.get("object") == "payment_method"
                                       or parent_key == "payment_method_details"):
            found.append((f"{path}.card", card))
        for k, v in node.items():
            found.extend(card_objects(v, f"{path}.{k}", k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found.extend(card_objects(v, f"{path}[{i}]", parent_key))
    return found


SENSITIVE_KEYS = {"number", "card_number", "pan", "cvc", "cvv", "cvc2", "cvv2", "security_code",
                  "track", "track1", "track2", "track_data", "pin"}


def sensitive_keys(node: Any, path: str = "$", in_card: bool = False) -> List[str]:
    """Paths of card-number/CVC/track/PIN-named keys anywhere under a `card…` key."""
    found: List[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            here = f"{path}.{k}"
            if in_card and k.lower() in SENSITIVE_KEYS:
                found.append(here)
            found.extend(sensitive_keys(v, here, in_card or "card" in k.lower()))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found.extend(sensitive_keys(v, f"{path}[{i}]", in_card))
    return found


def card_problems(doc: Any) -> List[str]:
    problems = [f"{p} is a card number/CVC/track field" for p in sensitive_keys(doc)]
    for where, card in card_objects(doc):
        extra = set(card) - CARD_FIELDS_ALLOWED
        if extra:
            problems.append(f"{where} has fields beyond brand/last4/exp/fingerprint facts: {sorted(extra)}")
        last4 = card.get("last4")
        if last4 is not None and not (isinstance(last4, str) and re.fullmatch(r"\d{4}", last4)):
            problems.append(f"{where}.last4 is not four digits: {last4!r}")
    return problems


# --------------------------------------------------------------------------
# SDK errors

def expect_sdk_error(call: Callable[[], Any], exc_classes: Any, status: Any = None,
                     param_contains: Optional[str] = None, what: str = "the call") -> Dict[str, Any]:
    """Run call(); it must raise one of exc_classes. Returns the error dict."""
    classes = exc_classes if isinstance(exc_classes, tuple) else (exc_classes,)
    try:
        call()
    except stripe.StripeError as e:
        assert isinstance(e, classes), (
            f"expected {[c.__name__ for c in classes]}, got {type(e).__name__} "
            f"(HTTP {e.http_status}): {e.http_body}")
        if status is not None:
            statuses = status if isinstance(status, (set, tuple, list)) else {status}
            assert e.http_status in statuses, f"expected HTTP {sorted(statuses)}, got {e.http_status}: {e.http_body}"
        assert isinstance(e.json_body, dict) and isinstance(e.json_body.get("error"), dict), e.http_body
        err = e.json_body["error"]
        assert isinstance(err.get("message"), str) and err["message"], f"error without message: {err!r}"
        if param_contains is not None:
            assert param_contains in (err.get("param") or ""), (
                f"expected the error to name {param_contains!r} in param, got {err!r}")
        return err
    raise AssertionError(f"expected {[c.__name__ for c in classes]}, but {what} succeeded")
