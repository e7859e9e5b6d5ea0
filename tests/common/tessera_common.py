"""What the Python suites (tests/sdk-python, tests/webhooks, tests/transport) share
about a `tessera serve` they start: the account block it prints on first start, the
Stripe client pointed at it, the form encoding of raw requests, and stopping it.

Each suite's conftest puts this folder on `sys.path` (HARNESS.md)."""

from __future__ import annotations

import re
import signal
import subprocess
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple


# The suites drive one key from one address far faster than a merchant would (250
# customers for pagination, every test card in a row): the rate limits and the
# card-testing defence are raised for them; tests/transport checks the real values.
SUITE_LIMITS = {
    # Every decline card in a row from one address is what the card-testing defence stops.
    "TESSERA_CARD_TESTING_IP_DECLINES": "100000", "TESSERA_CARD_TESTING_ACCOUNT_DECLINES": "100000",
    "TESSERA_RATE_LIMIT_KEY_PER_SECOND": "100000", "TESSERA_RATE_LIMIT_KEY_BURST": "100000",
    "TESSERA_RATE_LIMIT_IP_PER_SECOND": "100000", "TESSERA_RATE_LIMIT_IP_BURST": "100000",
    "TESSERA_RATE_LIMIT_PUBLISHABLE_PER_SECOND": "100000", "TESSERA_RATE_LIMIT_PUBLISHABLE_BURST": "100000",
}


@dataclass
class Account:
    account_id: str
    secret_key: str
    publishable_key: str


_ACCOUNT_RE = re.compile(r"Tessera created test-mode account (acct_[A-Za-z0-9]+)")
_SK_RE = re.compile(r"secret key:\s+(sk_test_[A-Za-z0-9]+)")
_PK_RE = re.compile(r"publishable key:\s+(pk_test_[A-Za-z0-9]+)")


def parse_account_block(text: str) -> Optional[Account]:
    """The test-mode account and keys a first start prints, once all are printed."""
    a, s, p = _ACCOUNT_RE.search(text), _SK_RE.search(text), _PK_RE.search(text)
    if not (a and s and p):
        return None
    return Account(a.group(1), s.group(1), p.group(1))


def make_client(api: str, key: str, timeout: float, **kw):
    """A stripe-python client on the gateway at `api`, without the SDK's own retries
    (a test sends again itself when it means to)."""
    import stripe  # only the suites that use the SDK install it

    kw.setdefault("max_network_retries", 0)
    kw.setdefault("http_client", stripe.RequestsClient(timeout=timeout))
    return stripe.StripeClient(key, base_addresses={"api": api}, **kw)


def form_items(params: Dict[str, Any], prefix: Optional[str] = None) -> List[Tuple[str, str]]:
    """Rack-style form encoding, like the SDKs: a[b][c]=v, lists as a[0]=v."""
    out: List[Tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, dict):
            out.extend(form_items(value, name))
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    out.extend(form_items(item, f"{name}[{i}]"))
                else:
                    out.append((f"{name}[{i}]", _scalar(item)))
        else:
            out.append((name, _scalar(value)))
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def terminate(proc: subprocess.Popen, timeout: float) -> int:
    """Stops `proc` as an operator would (SIGTERM), killing it if it has not exited
    within `timeout` seconds; returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    return proc.returncode
