"""Limits: body size (413), header size and count, slow-loris read timeouts
(plain HTTP and TLS), the connection cap, and rate limits per key, per
publishable key and per client IP (429 + Retry-After + rate_limit)."""

from __future__ import annotations

import datetime
import select
import socket
import threading
import time
from typing import Callable, Dict, List, Tuple

import pytest
import requests

from transport_support import (
    MODERN_TLS12_SUITES, TLS12, client_hello, raw_http, stripe_error,
)

HEADER_TIMEOUT_MS = 1500


@pytest.fixture(scope="module")
def lim_gw(module_procs):
    """Plain HTTP, small body limit and a short header read timeout."""
    return module_procs.gateway({"TESSERA_MAX_BODY_BYTES": "4096",
                                 "TESSERA_HEADER_READ_TIMEOUT_MS": str(HEADER_TIMEOUT_MS)}, name="limits")


@pytest.fixture(scope="module")
def lim_tls_gw(module_procs):
    g = module_procs.gateway({"TESSERA_TLS_SELF_SIGNED": "true",
                              "TESSERA_HEADER_READ_TIMEOUT_MS": str(HEADER_TIMEOUT_MS)}, name="limits-tls")
    g.require_tls()
    return g


def _auth(g) -> Dict[str, str]:
    return {"Authorization": f"Bearer {g.secret_key}"}


# --------------------------------------------------------------------------
# Body size


def test_body_over_limit_is_413_in_stripe_shape(lim_gw):
    r = lim_gw.request("POST", "/v1/customers", lim_gw.secret_key, data={"description": "x" * 100_000})
    assert r.status_code == 413, f"100 KB body with a 4096-byte limit: HTTP {r.status_code} {r.text[:300]}"
    err = stripe_error(r)
    assert err["type"] == "invalid_request_error", err
    assert "application/json" in r.headers.get("Content-Type", "")


def test_chunked_body_over_limit_is_413(lim_gw):
    def chunks():
        for _ in range(25):
            yield b"description=" + b"y" * 4000 + b"&"

    r = lim_gw.request("POST", "/v1/customers", lim_gw.secret_key, data=chunks(),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413, f"chunked 100 KB body: HTTP {r.status_code} {r.text[:300]}"
    stripe_error(r)


def test_announced_oversize_body_answered_without_reading_it(lim_gw):
    head = (f"POST /v1/customers HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {lim_gw.secret_key}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n").encode()
    status, raw = raw_http(lim_gw.port, head, timeout=3)
    assert status == 413, (
        f"Content-Length: 100000 with a 4096-byte limit should be refused at once with 413, "
        f"without waiting for a body it will refuse; got {raw[:300]!r} within 3 s")


def test_body_under_limit_accepted(lim_gw):
    r = lim_gw.request("POST", "/v1/customers", lim_gw.secret_key, data={"description": "z" * 1000})
    assert r.status_code == 200, r.text[:300]


# --------------------------------------------------------------------------
# Header size and count


def _request_with(g, extra: bytes) -> Tuple[int, bytes]:
    data = (b"GET /v1/customers HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            + g.secret_key.encode() + b"\r\n" + extra + b"Connection: close\r\n\r\n")
    return raw_http(g.port, data, timeout=5)


def test_header_limits(lim_gw):
    status, raw = _request_with(lim_gw, b"".join(b"X-Ok-%d: %s\r\n" % (i, b"v" * 50) for i in range(20)))
    assert status == 200, f"a request with 20 ordinary headers was refused: {raw[:300]!r}"

    status, raw = _request_with(lim_gw, b"X-Big: " + b"a" * 65536 + b"\r\n")
    assert status != 200 and (status is None or status in (400, 431)), (
        f"a 64 KB header was not refused with 431/400: {raw[:300]!r}")

    status, raw = _request_with(lim_gw, b"".join(b"X-H-%d: v\r\n" % i for i in range(300)))
    assert status != 200 and (status is None or status in (400, 431)), (
        f"300 headers were not refused with 431/400: {raw[:300]!r}")

    r = lim_gw.request("GET", "/v1/customers", lim_gw.secret_key)
    assert r.status_code == 200


# --------------------------------------------------------------------------
# Slow-loris


def _slow_clients(port: int, payload: bytes, normal: Callable[[], int], n: int = 20,
                  interval: float = 0.4, limit: float = 5.0):
    """Open n connections that send `payload` one byte per `interval`; return
    (seconds each stayed open or None if still open after `limit`, the status
    codes or errors of the normal client that ran meanwhile)."""
    conns: List[dict] = []
    results: List[object] = []
    stop = threading.Event()

    def normal_loop():
        while not stop.is_set():
            try:
                results.append(normal())
            except Exception as e:  # noqa: BLE001 - recorded and asserted on
                results.append(repr(e))
            stop.wait(0.1)

    worker = threading.Thread(target=normal_loop, daemon=True)
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=3)
            s.setblocking(False)
            now = time.monotonic()
            conns.append({"s": s, "opened": now, "next": now, "sent": 0, "closed": None})
        worker.start()
        deadline = time.monotonic() + limit + 0.5
        while time.monotonic() < deadline:
            live = [c for c in conns if c["closed"] is None]
            if not live:
                break
            now = time.monotonic()
            for c in live:
                if now >= c["next"] and c["sent"] < len(payload):
                    try:
                        c["s"].send(payload[c["sent"]:c["sent"] + 1])
                        c["sent"] += 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        c["closed"] = now
                    c["next"] = now + interval
            live = [c for c in live if c["closed"] is None]
            ready, _, _ = select.select([c["s"] for c in live], [], [], 0.05)
            for c in live:
                if c["s"] in ready:
                    try:
                        data = c["s"].recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:  # closed by the server (a 408 before it is fine)
                        c["closed"] = time.monotonic()
    finally:
        stop.set()
        if worker.ident is not None:
            worker.join(timeout=15)
        for c in conns:
            c["s"].close()
    lifetimes = [(c["closed"] - c["opened"]) if c["closed"] is not None else None for c in conns]
    return lifetimes, results


def _assert_slow_loris_defeated(lifetimes, results, limit=5.0):
    still_open = sum(1 for t in lifetimes if t is None or t > limit)
    assert still_open == 0, (
        f"{still_open}/{len(lifetimes)} slow connections were not closed within {limit}s "
        f"(header read timeout {HEADER_TIMEOUT_MS} ms); lifetimes: "
        f"{[None if t is None else round(t, 2) for t in lifetimes]}")
    assert len(results) >= 3, f"the normal client completed only {results}"
    assert all(r == 200 for r in results), f"the normal client failed meanwhile: {results}"


def test_slow_loris_plain_http(lim_gw):
    payload = b"GET /v1/customers HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    lifetimes, results = _slow_clients(
        lim_gw.port, payload,
        lambda: requests.get(lim_gw.api + "/v1/customers", headers=_auth(lim_gw), timeout=3).status_code)
    _assert_slow_loris_defeated(lifetimes, results)


def test_slow_loris_tls_handshake(lim_tls_gw):
    # A ClientHello trickled one byte at a time: no request headers can arrive
    # before the handshake, so the same deadline must apply.
    payload = client_hello(TLS12, MODERN_TLS12_SUITES)
    lifetimes, results = _slow_clients(
        lim_tls_gw.port, payload,
        lambda: requests.get(lim_tls_gw.api + "/v1/customers", headers=_auth(lim_tls_gw),
                             verify=str(lim_tls_gw.ca), timeout=3).status_code)
    _assert_slow_loris_defeated(lifetimes, results)


# --------------------------------------------------------------------------
# Connection cap


def test_connection_cap(procs):
    cap = 8
    g = procs.gateway({"TESSERA_MAX_CONNECTIONS": str(cap), "TESSERA_HEADER_READ_TIMEOUT_MS": "30000"},
                      name="conncap")
    assert g.request("GET", "/v1/customers", g.secret_key).status_code == 200
    time.sleep(0.3)  # let that connection go away
    idle: List[socket.socket] = []
    try:
        for _ in range(cap):
            idle.append(socket.create_connection(("127.0.0.1", g.port), timeout=3))
        time.sleep(0.5)
        try:
            r = requests.get(g.api + "/v1/customers", headers=_auth(g), timeout=2)
            over = r.status_code
        except requests.RequestException as e:
            over = repr(e)
        assert over != 200, f"with {cap} connections open (cap {cap}) another request was served"
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 5
    last = None
    while time.monotonic() < deadline:
        try:
            last = requests.get(g.api + "/v1/customers", headers=_auth(g), timeout=1).status_code
            if last == 200:
                break
        except requests.RequestException as e:
            last = repr(e)
        time.sleep(0.1)
    assert last == 200, f"service did not resume after the idle connections closed: {last}"


# --------------------------------------------------------------------------
# Rate limits


@pytest.fixture(scope="module")
def rl_gw(module_procs):
    return module_procs.gateway({
        "TESSERA_RATE_LIMIT_KEY_PER_SECOND": "5", "TESSERA_RATE_LIMIT_KEY_BURST": "10",
        "TESSERA_RATE_LIMIT_PUBLISHABLE_PER_SECOND": "2", "TESSERA_RATE_LIMIT_PUBLISHABLE_BURST": "3",
        "TESSERA_RATE_LIMIT_IP_PER_SECOND": "1000", "TESSERA_RATE_LIMIT_IP_BURST": "1000",
    }, name="ratelimit")


@pytest.fixture(scope="module")
def rl_ip_gw(module_procs):
    return module_procs.gateway({
        "TESSERA_RATE_LIMIT_IP_PER_SECOND": "2", "TESSERA_RATE_LIMIT_IP_BURST": "5",
        "TESSERA_RATE_LIMIT_KEY_PER_SECOND": "1000", "TESSERA_RATE_LIMIT_KEY_BURST": "1000",
        "TESSERA_RATE_LIMIT_PUBLISHABLE_PER_SECOND": "1000", "TESSERA_RATE_LIMIT_PUBLISHABLE_BURST": "1000",
    }, name="ratelimit-ip")


def _assert_rate_limited(r: requests.Response) -> int:
    assert r.status_code == 429
    ra = r.headers.get("Retry-After")
    assert ra is not None and ra.strip().isdigit(), f"429 without an integer Retry-After: {ra!r}"
    assert int(ra) <= 60, f"Retry-After {ra} is not a sensible wait for these limits"
    err = stripe_error(r)
    assert err["type"] == "invalid_request_error" and err.get("code") == "rate_limit", err
    return int(ra)


def _burst(n: int, send: Callable[[int], requests.Response]):
    t0 = time.monotonic()
    rs = [send(i) for i in range(n)]
    return rs, time.monotonic() - t0


def test_rate_limit_per_key(rl_gw):
    key = rl_gw.create_key("secret")
    other = rl_gw.create_key("secret")
    with requests.Session() as s:
        rs, elapsed = _burst(40, lambda i: rl_gw.request("GET", "/v1/customers", key, session=s))
    codes = [r.status_code for r in rs]
    assert set(codes) <= {200, 429}, codes
    assert codes[:10] == [200] * 10, f"the burst of 10 was not honoured: {codes}"
    assert 429 in codes, f"40 requests in {elapsed:.2f}s with 5/s burst 10: no 429: {codes}"
    allowed = 10 + 5 * elapsed + 2
    assert codes.count(200) <= allowed, f"{codes.count(200)} succeeded in {elapsed:.2f}s (at most {allowed:.0f})"
    waits = [_assert_rate_limited(r) for r in rs if r.status_code == 429]

    # Per key: another key of the same account is not limited.
    r = rl_gw.request("GET", "/v1/customers", other)
    assert r.status_code == 200, f"a different key was limited too: {r.status_code} {r.text[:200]}"

    # After the Retry-After, the key works again.
    time.sleep(waits[-1] + 0.05)
    r = rl_gw.request("GET", "/v1/customers", key)
    assert r.status_code == 200, f"still limited after Retry-After {waits[-1]}s: {r.status_code} {r.text[:200]}"


def test_rate_limit_publishable_is_stricter(rl_gw):
    pk = rl_gw.create_key("publishable")
    year = datetime.date.today().year + 2
    card = {"type": "card", "card[number]": "4242424242424242", "card[exp_month]": "12",
            "card[exp_year]": str(year), "card[cvc]": "123", "key": pk}
    with requests.Session() as s:
        rs, elapsed = _burst(9, lambda i: s.post(rl_gw.api + "/v1/payment_methods", data=card, timeout=10))
    codes = [r.status_code for r in rs]
    assert codes[0] == 200, f"POST /v1/payment_methods with key=pk_… failed: {rs[0].status_code} {rs[0].text[:300]}"
    assert set(codes) <= {200, 429}, codes
    assert codes[:3] == [200] * 3, f"the publishable burst of 3 was not honoured: {codes}"
    # 9 requests stay under the secret-key burst (10): only the publishable limit can trip.
    assert 429 in codes, f"9 publishable requests in {elapsed:.2f}s (2/s, burst 3): no 429: {codes}"
    allowed = 3 + 2 * elapsed + 1
    assert codes.count(200) <= allowed, f"{codes.count(200)} succeeded in {elapsed:.2f}s (at most {allowed:.0f})"
    for r in rs:
        if r.status_code == 429:
            _assert_rate_limited(r)
    # The secret key of the same account is unaffected.
    r = rl_gw.request("GET", "/v1/customers", rl_gw.secret_key)
    assert r.status_code == 200, r.text[:200]


def test_rate_limit_per_ip_across_keys(rl_ip_gw):
    keys = [rl_ip_gw.secret_key, rl_ip_gw.create_key("secret")]
    with requests.Session() as s:
        rs, elapsed = _burst(20, lambda i: rl_ip_gw.request("GET", "/v1/customers", keys[i % 2], session=s))
    codes = [r.status_code for r in rs]
    assert set(codes) <= {200, 429}, codes
    assert codes[:5] == [200] * 5, f"the per-IP burst of 5 was not honoured: {codes}"
    allowed = 5 + 2 * elapsed + 1
    assert codes.count(200) <= allowed, f"{codes.count(200)} succeeded in {elapsed:.2f}s (at most {allowed:.0f})"
    for k in range(2):
        assert 429 in codes[k::2], f"key #{k} was never limited by the per-IP limit: {codes}"
    waits = [_assert_rate_limited(r) for r in rs if r.status_code == 429]
    time.sleep(waits[-1] + 0.05)
    r = rl_ip_gw.request("GET", "/v1/customers", keys[0])
    assert r.status_code == 200, f"still limited after Retry-After {waits[-1]}s: {r.status_code}"
