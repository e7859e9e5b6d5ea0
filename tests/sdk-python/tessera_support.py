"""Shared helpers for the Tessera stripe-python conformance suite.

Everything here talks to a running gateway (see conftest.py); nothing here
knows anything about Tessera's internals.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import sqlite3
import threading
import time
import uuid
from html.parser import HTMLParser
from typing import Any, Dict, Iterable, List, Optional, Tuple
from urllib.parse import urljoin

import requests
import stripe
from stripe._api_version import _ApiVersion
from tessera_common import form_items  # noqa: F401 (tests import it from here)

# --------------------------------------------------------------------------
# Cards (TEST_CARDS.md). Every PAN the suite ever sends must be in ALL_PANS:
# the data-at-rest test scans the store and the logs for each of them.

EXP_YEAR = datetime.date.today().year + 2
EXP_MONTH = 12

# number -> (brand, funding or None when the table does not say)
SUCCEED_CARDS: Dict[str, Tuple[str, Optional[str]]] = {
    "4242424242424242": ("visa", "credit"),
    "4000056655665556": ("visa", "debit"),
    "5555555555554444": ("mastercard", "credit"),
    "2223003122003222": ("mastercard", "credit"),
    "5200828282828210": ("mastercard", "debit"),
    "5105105105105100": ("mastercard", "prepaid"),
    "378282246310005": ("amex", None),
    "371449635398431": ("amex", None),
    "6011111111111117": ("discover", None),
    "3056930009020004": ("diners", None),
    "36227206271667": ("diners", None),
    "3566002020360505": ("jcb", None),
    "6200000000000005": ("unionpay", None),
}

# number -> (code, decline_code or None for "—")
DECLINE_CARDS: Dict[str, Tuple[str, Optional[str]]] = {
    "4000000000000002": ("card_declined", "generic_decline"),
    "4000000000009995": ("card_declined", "insufficient_funds"),
    "4000000000009987": ("card_declined", "lost_card"),
    "4000000000009979": ("card_declined", "stolen_card"),
    "4000000000006975": ("card_declined", "card_velocity_exceeded"),
    "4000000000000069": ("expired_card", None),
    "4000000000000127": ("incorrect_cvc", None),
    "4000000000000119": ("processing_error", None),
}

BAD_LUHN = "4242424242424241"
CHARGE_CUSTOMER_FAIL = "4000000000000341"

CVC_FAIL = "4000000000000101"
# number -> expected {check: value}
ADDRESS_CHECK_CARDS: Dict[str, Dict[str, str]] = {
    "4000000000000036": {"address_postal_code_check": "fail"},
    "4000000000000010": {"address_line1_check": "fail", "address_postal_code_check": "fail"},
    "4000000000000028": {"address_line1_check": "fail"},
    "4000000000000044": {"address_line1_check": "unavailable", "address_postal_code_check": "unavailable"},
}

RADAR_BLOCK = "4100000000000019"
RISK_HIGHEST = "4000000000004954"
RISK_ELEVATED = "4000000000009235"

TDS_ALWAYS = "4000002760003184"
TDS_UNLESS_SETUP = "4000002500003155"
TDS2_REQUIRED = "4000000000003220"
TDS_REQUIRED = "4000000000003063"
TDS_THEN_INSUFFICIENT = "4000008260003178"
TDS_THEN_DECLINED = "4000008400001629"
TDS_SUPPORTED = "4000000000003055"
TDS_FRICTIONLESS = "4000000032200000"

REFUND_PENDING = "4000000000007726"
REFUND_FAILS = "4000000000005126"
DISPUTE = "4000000000000259"

ALL_PANS: List[str] = sorted(
    set(SUCCEED_CARDS)
    | set(DECLINE_CARDS)
    | set(ADDRESS_CHECK_CARDS)
    | {
        BAD_LUHN, CHARGE_CUSTOMER_FAIL, CVC_FAIL, RADAR_BLOCK, RISK_HIGHEST,
        RISK_ELEVATED, TDS_ALWAYS, TDS_UNLESS_SETUP, TDS2_REQUIRED, TDS_REQUIRED,
        TDS_THEN_INSUFFICIENT, TDS_THEN_DECLINED, TDS_SUPPORTED, TDS_FRICTIONLESS,
        REFUND_PENDING, REFUND_FAILS, DISPUTE,
    }
)


def is_amex(number: str) -> bool:
    return number.startswith(("34", "37"))


def default_cvc(number: str) -> str:
    return "1234" if is_amex(number) else "123"


def card_details(number: str, cvc: Optional[str] = None, exp_month: int = EXP_MONTH,
                 exp_year: int = EXP_YEAR) -> Dict[str, Any]:
    return {
        "number": number,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "cvc": cvc if cvc is not None else default_cvc(number),
    }


BILLING_WITH_ADDRESS = {
    "name": "Jenny Rosen",
    "email": "jenny@example.com",
    "address": {
        "line1": "1 Main Street",
        "city": "Springfield",
        "postal_code": "12345",
        "country": "US",
    },
}


def create_card_pm(client: stripe.StripeClient, number: str, **extra: Any):
    """Create a card PaymentMethod from raw card data (secret key path)."""
    card = card_details(number, **{k: extra.pop(k) for k in ("cvc", "exp_month", "exp_year") if k in extra})
    params = {"type": "card", "card": card}
    params.update(extra)
    return client.v1.payment_methods.create(params)


def pay(client: stripe.StripeClient, payment_method: str, amount: int = 2000,
        currency: str = "usd", **extra: Any):
    """Create and confirm a PaymentIntent in one call (confirm=true)."""
    params = {
        "amount": amount,
        "currency": currency,
        "payment_method": payment_method,
        "confirm": True,
    }
    params.update(extra)
    return client.v1.payment_intents.create(params)


def field(obj: Any, key: str, default: Any = None) -> Any:
    """obj[key] for StripeObjects (which are not dicts) and dicts alike."""
    if obj is None:
        return default
    try:
        return obj[key]
    except (KeyError, TypeError):
        return default


def plain(obj: Any) -> Any:
    """A StripeObject as plain dicts/lists (for comparisons)."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return obj


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def unique_email() -> str:
    return f"{unique('u')}@example.com"


# --------------------------------------------------------------------------
# Ids and headers

def assert_id(value: Any, prefix: str) -> None:
    assert isinstance(value, str), f"expected an id string with prefix {prefix!r}, got {value!r}"
    assert re.fullmatch(re.escape(prefix) + r"[A-Za-z0-9]{24,}", value), (
        f"{value!r} is not a {prefix}… id of at least 24 base62 characters"
    )


REQUEST_ID_RE = re.compile(r"req_[A-Za-z0-9]+")


def assert_request_id(headers: Any) -> str:
    rid = headers.get("Request-Id") if hasattr(headers, "get") else None
    if rid is None and hasattr(headers, "get"):
        rid = headers.get("request-id")
    assert rid, f"response has no Request-Id header (headers: {dict(headers)})"
    assert REQUEST_ID_RE.fullmatch(rid), f"Request-Id {rid!r} is not req_…"
    return rid


# --------------------------------------------------------------------------
# Raw HTTP (browser path and wire-level checks)

HTTP_TIMEOUT = 20




def http(gw, method: str, path: str, key: Optional[str] = None, params: Any = None,
         query: Any = None, headers: Optional[Dict[str, str]] = None,
         auth: str = "bearer") -> requests.Response:
    """A plain HTTP call to the gateway. params/query may be dicts (Rack-encoded)
    or lists of (name, value) pairs (sent verbatim)."""
    h = {"Stripe-Version": _ApiVersion.CURRENT}
    if key is not None:
        if auth == "bearer":
            h["Authorization"] = f"Bearer {key}"
        elif auth == "basic":
            import base64
            h["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    if headers:
        h.update(headers)
    data = None
    if params is not None:
        data = form_items(params) if isinstance(params, dict) else params
    q = None
    if query is not None:
        q = form_items(query) if isinstance(query, dict) else query
    return requests.request(method, gw.api + path, data=data, params=q, headers=h,
                            timeout=HTTP_TIMEOUT, allow_redirects=False)


def browser_post(gw, path: str, params: Dict[str, Any], publishable_key: str) -> requests.Response:
    """What tessera.js sends: form body with key=pk_…, no Authorization header."""
    items = form_items(params) + [("key", publishable_key)]
    return requests.post(
        gw.api + path,
        data=items,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=HTTP_TIMEOUT,
        allow_redirects=False,
    )


def browser_get(gw, path: str, params: Dict[str, Any], publishable_key: str) -> requests.Response:
    items = form_items(params) + [("key", publishable_key)]
    return requests.get(gw.api + path, params=items, timeout=HTTP_TIMEOUT, allow_redirects=False)


ERROR_TYPES = {"invalid_request_error", "card_error", "idempotency_error", "api_error"}


def error_of(resp: requests.Response) -> Dict[str, Any]:
    assert_request_id(resp.headers)
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"error response is not JSON (HTTP {resp.status_code}): {resp.text[:500]!r}")
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), (
        f"error response has no error object: {body!r}"
    )
    err = body["error"]
    assert err.get("type") in ERROR_TYPES, f"bad error type: {err!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"error has no message: {err!r}"
    return err


def assert_http_error(resp: requests.Response, status: Any, type_: Optional[str] = None,
                      code: Optional[str] = None, param: Optional[str] = None) -> Dict[str, Any]:
    statuses = status if isinstance(status, (set, tuple, list)) else {status}
    assert resp.status_code in statuses, (
        f"expected HTTP {sorted(statuses)}, got {resp.status_code}: {resp.text[:800]}"
    )
    err = error_of(resp)
    if type_ is not None:
        assert err["type"] == type_, f"expected type {type_}, got {err!r}"
    if code is not None:
        assert err.get("code") == code, f"expected code {code}, got {err!r}"
    if param is not None:
        assert err.get("param") == param, f"expected param {param!r}, got {err!r}"
    return err


def ok_json(resp: requests.Response) -> Dict[str, Any]:
    assert 200 <= resp.status_code < 300, f"HTTP {resp.status_code}: {resp.text[:800]}"
    assert_request_id(resp.headers)
    return resp.json()


# --------------------------------------------------------------------------
# Events

def find_event(client: stripe.StripeClient, type_: str, object_id: str, timeout: float = 5.0,
               since: Optional[int] = None):
    """Poll the events list (filtered by type) for an event about object_id."""
    deadline = time.monotonic() + timeout
    params: Dict[str, Any] = {"type": type_, "limit": 100}
    if since is not None:
        params["created"] = {"gte": since - 2}
    while True:
        for ev in client.v1.events.list(params).auto_paging_iter():
            assert ev.type == type_, f"events list filtered by type={type_} returned a {ev.type}"
            if field(ev.data.object, "id") == object_id:
                return ev
        if time.monotonic() > deadline:
            raise AssertionError(f"no {type_} event for {object_id} within {timeout}s")
        time.sleep(0.2)


def events_for(client: stripe.StripeClient, type_: str, object_id: str) -> list:
    return [ev for ev in client.v1.events.list({"type": type_, "limit": 100}).auto_paging_iter()
            if field(ev.data.object, "id") == object_id]


# --------------------------------------------------------------------------
# 3-D Secure challenge page

class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: List[Dict[str, Any]] = []
        self._current: Optional[Dict[str, Any]] = None

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        a = {k.lower(): (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._current = {"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                             "hidden": {}, "buttons": []}
            self.forms.append(self._current)
        elif self._current is not None and tag in ("input", "button"):
            typ = a.get("type", "submit" if tag == "button" else "text").lower()
            name = a.get("name")
            if typ == "hidden" and name:
                self._current["hidden"][name] = a.get("value", "")
            elif typ == "submit" and name:
                self._current["buttons"].append((name, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def challenge_form(redirect_url: str) -> Tuple[str, Dict[str, str], List[Tuple[str, str]]]:
    """GET the 3-D Secure page; return (absolute action URL, hidden fields, submit buttons)."""
    r = requests.get(redirect_url, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, f"challenge page answered {r.status_code}: {r.text[:500]}"
    assert "html" in r.headers.get("Content-Type", ""), r.headers.get("Content-Type")
    p = _FormParser()
    p.feed(r.text)
    forms = [f for f in p.forms if "token" in f["hidden"]]
    assert forms, f"no form with a hidden token field on the challenge page: {r.text[:1000]}"
    form = forms[0]
    assert form["method"] == "post", f"challenge form method is {form['method']}"
    return urljoin(r.url, form["action"] or r.url), form["hidden"], form["buttons"]


def submit_challenge(redirect_url: str, result: str) -> requests.Response:
    """Submit the challenge form with result=complete|fail; returns the (303) response."""
    action, hidden, buttons = challenge_form(redirect_url)
    assert ("result", "complete") in buttons and ("result", "fail") in buttons, (
        f"challenge form lacks result=complete/fail buttons: {buttons}"
    )
    data = dict(hidden)
    data["result"] = result
    return requests.post(action, data=data, timeout=HTTP_TIMEOUT, allow_redirects=False)


def assert_requires_redirect(pi, vault_base: str) -> str:
    """The challenge link of a PaymentIntent that needs 3-D Secure: on the gateway's
    vault origin (the browser-facing listener beside the API)."""
    assert pi.status == "requires_action", f"expected requires_action, got {pi.status}"
    na = pi.next_action
    assert na is not None and na.type == "redirect_to_url", f"next_action: {na!r}"
    url = na.redirect_to_url.url
    assert isinstance(url, str) and url.startswith(vault_base + "/3d_secure/"), (
        f"redirect url {url!r} is not on the gateway's vault origin {vault_base}"
    )
    return url


# --------------------------------------------------------------------------
# SDK errors

def expect_sdk_error(exc_class, call, *, status: Any = None, type_: Optional[str] = None,
                     code: Optional[str] = None, param: Optional[str] = None,
                     decline_code: Any = "__unchecked__"):
    """Run call(); it must raise exactly exc_class. Returns the error dict."""
    import pytest

    with pytest.raises(stripe.StripeError) as ei:
        call()
    e = ei.value
    assert type(e) is exc_class, (
        f"expected {exc_class.__name__}, got {type(e).__name__} (HTTP {e.http_status}): {e.http_body}"
    )
    if status is not None:
        statuses = status if isinstance(status, (set, tuple, list)) else {status}
        assert e.http_status in statuses, f"expected HTTP {sorted(statuses)}, got {e.http_status}: {e.http_body}"
    assert_request_id(e.headers)
    assert isinstance(e.json_body, dict) and isinstance(e.json_body.get("error"), dict), e.http_body
    err = e.json_body["error"]
    assert err.get("type") in ERROR_TYPES, f"bad error type: {err!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"error has no message: {err!r}"
    if type_ is not None:
        assert err["type"] == type_, f"expected type {type_}, got {err!r}"
    if code is not None:
        assert err.get("code") == code, f"expected code {code}, got {err!r}"
    if param is not None:
        assert err.get("param") == param, f"expected param {param!r}, got {err!r}"
    if decline_code != "__unchecked__":
        allowed = decline_code if isinstance(decline_code, (set, tuple, list)) else {decline_code}
        assert err.get("decline_code") in allowed, f"expected decline_code {decline_code!r}, got {err!r}"
    return err


def assert_no_card_data(text: str, *pans: str) -> None:
    for pan in pans or ALL_PANS:
        assert pan not in text, "a response carries a full card number"


_FENCED_INTENTS = ("SELECT id FROM objects WHERE kind = 'payment_intent' "
                   "AND json_extract(private, '$.attempt_started') IS NOT NULL")


@contextlib.contextmanager
def authorization_held(gw, send, intent: Optional[str] = None):
    """Runs `send()` (a request that authorizes a payment) in a thread while another
    process holds the vault database's write lock, and yields once the request has
    fenced an intent for its attempt (`intent`, or any) and is still under way: once
    the processor has answered, the vault waits for the lock to erase the CVC (at most
    its five-second lock timeout), and the request waits with it. Yields a dict that
    gets the intent's id (`fenced`), and when the request ends, its `answer` or
    `error`; on leaving, the lock is released and the request waited for."""
    vault = sqlite3.connect(gw.data_dir / "vault" / "vault.db", isolation_level=None, timeout=10)
    outcome: Dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["answer"] = send()
        except BaseException as e:  # the caller looks at it
            outcome["error"] = e

    thread = threading.Thread(target=run)
    try:
        vault.execute("BEGIN IMMEDIATE")
        thread.start()
        sql, params = ((_FENCED_INTENTS, ()) if intent is None
                       else (_FENCED_INTENTS + " AND id = ?", (intent,)))
        fenced = gw.poll_store_values(sql, params, until=lambda v: bool(v) or not thread.is_alive())
        assert len(fenced) == 1, f"no intent was fenced for an attempt: {fenced} {outcome}"
        assert thread.is_alive(), f"the request answered before the vault was free: {outcome}"
        (outcome["fenced"],) = fenced
        yield outcome
    finally:
        if vault.in_transaction:
            vault.rollback()
        vault.close()
        if thread.ident is not None:
            thread.join(timeout=30)
