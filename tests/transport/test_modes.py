"""Test and live mode: live needs a certificate; plain HTTP only for test
mode on loopback; live keys never over plain HTTP."""

from __future__ import annotations

import re
import time

import pytest

from transport_support import stripe_error

START_FAIL_WITHIN = 10.0  # "exits non-zero within a few seconds"


def _expect_refusal(g, what: str) -> str:
    """The gateway must exit non-zero without ever becoming ready."""
    deadline = time.monotonic() + START_FAIL_WITHIN
    while time.monotonic() < deadline:
        if g.proc.poll() is not None:
            break
        if g._read_ready() is not None:
            pytest.fail(f"{what}: the gateway started (ready.json {g._read_ready()}) instead of refusing\n"
                        f"{g.logs_tail()}", pytrace=False)
        time.sleep(0.05)
    code = g.proc.poll()
    assert code is not None, f"{what}: still running after {START_FAIL_WITHIN}s\n{g.logs_tail()}"
    assert code != 0, f"{what}: exited 0\n{g.logs_tail()}"
    assert g._read_ready() is None, f"{what}: ready.json was written"
    return g.stderr_text()


def test_live_mode_without_certificate_refuses_to_start(procs):
    g = procs.gateway({"TESSERA_MODE": "live"}, wait=False, name="live-nocert")
    err = _expect_refusal(g, "live mode without a certificate source")
    low = err.lower()
    assert "certificate" in low, f"stderr should say a certificate is needed:\n{err[-3000:]}"
    ways = ["tessera_tls_cert_file", "cert_file", "tessera_acme_domains", "acme"]
    assert any(w in low for w in ways), (
        f"stderr should say how to provide a certificate (cert_file/key_file or ACME):\n{err[-3000:]}")


def test_test_mode_plain_http_only_on_loopback(procs):
    # Bound to all interfaces for at most a moment: the gateway must refuse
    # before it ever answers; no traffic is sent to it.
    g = procs.gateway({}, listen="0.0.0.0:0", wait=False, name="test-wildcard")
    err = _expect_refusal(g, "test mode, plain HTTP on 0.0.0.0")
    assert re.search(r"loopback|127\.0\.0\.1|tls|https|certificate", err, re.I), err[-3000:]


def test_live_key_refused_over_plain_http(procs):
    g = procs.gateway({}, name="plain-livekey")
    assert g.api.startswith("http://127.0.0.1:"), g.ready
    live = g.create_key("secret", live=True)
    assert re.fullmatch(r"sk_live_[A-Za-z0-9]+", live), f"unexpected live key format: {live!r}"

    ok = g.request("GET", "/v1/customers", g.secret_key)
    assert ok.status_code == 200, ok.text[:500]

    for method, path, kw in (("GET", "/v1/customers", {}),
                             ("POST", "/v1/customers", {"data": {"description": "live over http"}})):
        for auth in ("bearer", "basic"):
            if auth == "bearer":
                r = g.request(method, path, live, **kw)
            else:
                r = g.request(method, path, auth=(live, ""), **kw)
            assert r.status_code == 403, (
                f"{method} {path} with a live key over plain HTTP ({auth}): HTTP {r.status_code} {r.text[:300]}")
            err = stripe_error(r)
            assert "https" in err["message"].lower(), f"the refusal should mention HTTPS: {err!r}"
            assert live not in r.text, "the refusal must not echo the key"

    # The test key still works afterwards.
    assert g.request("GET", "/v1/customers", g.secret_key).status_code == 200
