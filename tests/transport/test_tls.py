"""TLS on the main listener: protocol versions, cipher suites, ALPN, the
generated test-mode CA, sslyze's Mozilla "intermediate" check, and the
official stripe-python SDK over HTTPS."""

from __future__ import annotations

import importlib.util
import ssl
import subprocess
import sys

import pytest
import requests
import stripe

from transport_support import (
    LEGACY_SUITES, MODERN_TLS12_SUITES, SSL3, TLS10, TLS11, TLS12,
    client_context, client_hello, get_over, handshake_error, https_on, make_leaf,
    probe_hello, raw_http, tls_connect,
)

SSLYZE_TIMEOUT = 150


@pytest.fixture(scope="module")
def rsa_gw(module_procs, test_ca, certs_dir):
    """Test mode with an RSA certificate from files: the only kind of
    certificate with which a server could still accept RSA key exchange, so
    the forward-secrecy checks mean something."""
    leaf = make_leaf(test_ca, certs_dir / "rsa", "tessera-rsa", key_type="rsa")
    g = module_procs.gateway({"TESSERA_TLS_CERT_FILE": str(leaf.cert),
                              "TESSERA_TLS_KEY_FILE": str(leaf.key)}, name="rsa")
    g.require_tls()
    g.verify = str(test_ca.cert)
    g.trust = test_ca.cert
    return g


def _trust(gw):
    return getattr(gw, "trust", None) or gw.ca


# --------------------------------------------------------------------------
# The generated test-mode CA


def test_self_signed_ca_in_data_dir_and_printed(tls_gw):
    ca = tls_gw.ca
    assert "BEGIN CERTIFICATE" in ca.read_text(), f"{ca} is not a PEM certificate"
    assert tls_gw.data_dir.resolve() in ca.resolve().parents, (
        f"the generated CA {ca} should live in the data directory {tls_gw.data_dir}")
    assert str(ca) in tls_gw.logs_tail(100_000) or ca.name in tls_gw.logs_tail(100_000), (
        f"the CA path should be printed at startup\n{tls_gw.logs_tail()}")
    # The certificate served verifies against that CA for both names.
    for name in ("localhost", "127.0.0.1"):
        s = tls_connect(tls_gw.port, client_context(ca), server_hostname=name)
        s.close()
    r = tls_gw.request("GET", "/v1/customers", tls_gw.secret_key)
    assert r.status_code == 200, r.text[:500]


def test_no_plaintext_api_on_the_tls_listener(tls_gw):
    status, raw = raw_http(tls_gw.port, b"GET /v1/customers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Authorization: Bearer " + tls_gw.secret_key.encode() + b"\r\n\r\n", timeout=3)
    assert status != 200 and b'"object":"list"' not in raw.replace(b" ", b""), (
        f"the TLS listener answered a plain-HTTP request: {raw[:300]!r}")


# --------------------------------------------------------------------------
# sslyze: Mozilla intermediate


def test_sslyze_mozilla_intermediate(tls_gw):
    if importlib.util.find_spec("sslyze") is None:
        pytest.fail("sslyze is not installed in this venv (tests/transport/run.sh installs it)", pytrace=False)
    # The generated CA is trusted through sslyze's custom trust store, so the
    # certificate-path check is made, not skipped. The target syntax
    # host:port{ip} sends SNI "localhost" to 127.0.0.1.
    cmd = [sys.executable, "-m", "sslyze", "--mozilla_config=intermediate",
           f"--certinfo_ca_file={tls_gw.ca}", f"localhost:{tls_gw.port}{{127.0.0.1}}"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=SSLYZE_TIMEOUT,
                         stdin=subprocess.DEVNULL)
    out = res.stdout + res.stderr
    verdict = out[out.find("COMPLIANCE AGAINST"):] if "COMPLIANCE AGAINST" in out else "(no compliance section)"
    trust = "\n".join(l.strip() for l in out.splitlines() if "Supplied CA file" in l)
    # sslyze exits 0 when it could not connect at all: require the verdict line too.
    assert res.returncode == 0 and "OK - Compliant" in res.stdout, (
        f"sslyze --mozilla_config=intermediate: exit {res.returncode}\n{verdict[:3000]}\n"
        f"trust via the generated CA:\n{trust}\n--- full output (tail) ---\n{out[-5000:]}")


# --------------------------------------------------------------------------
# Protocol versions


@pytest.mark.parametrize("version,name", [(SSL3, "SSLv3"), (TLS10, "TLSv1"), (TLS11, "TLSv1.1")])
def test_legacy_protocols_refused(tls_gw, rsa_gw, version, name):
    for gw in (tls_gw, rsa_gw):
        # A hand-built ClientHello, so the probe does not depend on what the
        # local OpenSSL still agrees to speak.
        kind, detail = probe_hello(gw.port, client_hello(version, LEGACY_SUITES,
                                                         extensions=version != SSL3))
        assert kind != "server_hello", (
            f"{gw.api}: a {name} ClientHello got a ServerHello (version 0x{detail:04x})")
        # And the same through OpenSSL, made willing with @SECLEVEL=0.
        if name == "SSLv3" and not ssl.HAS_SSLv3:
            continue
        err = handshake_error(gw.port, client_context(version=name, ciphers="ALL:@SECLEVEL=0"))
        assert err is not None, f"{gw.api}: a {name} handshake succeeded"


def test_raw_tls12_hello_is_answered(tls_gw, rsa_gw):
    """Positive control for the hand-built ClientHello above."""
    for gw in (tls_gw, rsa_gw):
        kind, detail = probe_hello(gw.port, client_hello(TLS12, MODERN_TLS12_SUITES))
        assert (kind, detail) == ("server_hello", TLS12), (
            f"{gw.api}: a TLS 1.2 ClientHello got {kind} {detail}")


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_tls12_and_tls13_accepted(tls_gw, version):
    s = tls_connect(tls_gw.port, client_context(tls_gw.ca, version=version))
    try:
        assert s.version() == version
        status, _, body = get_over(https_on(s, "127.0.0.1"), "/v1/customers", tls_gw.secret_key)
        assert status == 200, body[:500]
    finally:
        s.close()


def test_tls13_preferred(tls_gw):
    s = tls_connect(tls_gw.port, client_context(tls_gw.ca))
    try:
        assert s.version() == "TLSv1.3", f"a client offering 1.2 and 1.3 got {s.version()}"
    finally:
        s.close()


# --------------------------------------------------------------------------
# ALPN


@pytest.mark.parametrize("offer,acceptable", [
    (["h2", "http/1.1"], {"h2", "http/1.1"}),
    (["http/1.1"], {"http/1.1"}),
    (["h2"], {"h2"}),
])
def test_alpn(tls_gw, offer, acceptable):
    s = tls_connect(tls_gw.port, client_context(tls_gw.ca, alpn=offer))
    try:
        got = s.selected_alpn_protocol()
        assert got in acceptable, f"offered ALPN {offer}, server selected {got!r}"
    finally:
        s.close()


def test_http11_over_alpn_http11(tls_gw):
    s = tls_connect(tls_gw.port, client_context(tls_gw.ca, alpn=["http/1.1"]))
    try:
        status, _, body = get_over(https_on(s, "127.0.0.1"), "/v1/customers", tls_gw.secret_key)
        assert status == 200, body[:500]
    finally:
        s.close()


# --------------------------------------------------------------------------
# Cipher suites: ECDHE (forward secrecy) and AEAD only

NOT_FORWARD_SECRET = ["AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA", "AES256-SHA256"]
NOT_AEAD = ["ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA",
            "ECDHE-ECDSA-AES256-SHA384"]


@pytest.mark.parametrize("cipher", NOT_FORWARD_SECRET + NOT_AEAD)
def test_weak_tls12_suites_refused(tls_gw, rsa_gw, cipher):
    for gw in (tls_gw, rsa_gw):
        ctx = client_context(max_version="TLSv1.2", ciphers=f"{cipher}:@SECLEVEL=0")
        err = handshake_error(gw.port, ctx)
        assert err is not None, f"{gw.api}: TLS 1.2 handshake with {cipher} succeeded"


def test_ecdhe_aes128_gcm_accepted(tls_gw, rsa_gw):
    for gw, suite in ((tls_gw, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"),
                      (rsa_gw, "ECDHE-RSA-AES128-GCM-SHA256")):
        ctx = client_context(_trust(gw), version="TLSv1.2", ciphers=suite)
        s = tls_connect(gw.port, ctx)
        try:
            assert s.cipher()[0] in suite.split(":"), s.cipher()
        finally:
            s.close()


# --------------------------------------------------------------------------
# The official stripe-python SDK over HTTPS


def test_stripe_sdk_payment_over_https(tls_gw, monkeypatch):
    ca = str(tls_gw.ca)
    # REQUESTS_CA_BUNDLE is what plain `requests` honours; stripe-python passes
    # verify=stripe.ca_bundle_path explicitly, so point that at the CA too.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
    default_bundle = stripe.ca_bundle_path
    monkeypatch.setattr(stripe, "ca_bundle_path", ca)

    def client():
        return stripe.StripeClient(tls_gw.secret_key, base_addresses={"api": tls_gw.api},
                                   max_network_retries=0,
                                   http_client=stripe.RequestsClient(timeout=20))

    pi = client().v1.payment_intents.create({
        "amount": 2000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True,
    })
    assert pi.status == "succeeded", pi
    assert client().v1.payment_intents.retrieve(pi.id).status == "succeeded"
    assert requests.get(tls_gw.api + "/v1/customers", auth=(tls_gw.secret_key, ""),
                        timeout=10).status_code == 200

    # The SDK does verify the certificate: with its own bundle only, it refuses.
    monkeypatch.setattr(stripe, "ca_bundle_path", default_bundle)
    with pytest.raises(stripe.APIConnectionError):
        client().v1.customers.list()
