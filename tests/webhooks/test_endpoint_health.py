"""Endpoint health and live-mode delivery rules.

- An endpoint whose every delivery fails for longer than the configured time is disabled,
  with a notice on the endpoint saying why; enabling it again clears the notice.
- In live mode, endpoints must be https://, and even an https:// endpoint on a loopback
  address is refused before connecting (test mode's loopback allowance never applies)."""

import os
import subprocess
import time
from pathlib import Path

import stripe

from webhook_support import create_endpoint, field, list_deliveries, pay, wait_until


def test_endpoint_failing_continuously_is_disabled_with_a_notice(gateway_factory, py_receiver):
    g = gateway_factory("failing", env={
        "TESSERA_WEBHOOK_RETRY_BASE_MS": "100",
        "TESSERA_WEBHOOK_RETRY_MAX_MS": "200",
        "TESSERA_WEBHOOK_DISABLE_AFTER_SECONDS": "2",
    })
    down = py_receiver("down", responder=lambda delivery, attempt: (503, b"down for maintenance", {}))
    healthy = py_receiver("healthy", secrets=[])
    ep = create_endpoint(g.client, down.url(), ["*"])
    good = create_endpoint(g.client, healthy.url(), ["*"])
    healthy.secrets.append(good.secret)
    pay(g.client)

    def disabled():
        e = g.client.v1.webhook_endpoints.retrieve(ep.id)
        return e if e.status == "disabled" else None

    e = wait_until(disabled, timeout=20, what="the failing endpoint to be disabled")
    notice = field(e, "disabled_notice")
    assert notice and "failed" in notice["reason"] and notice["at"] > 0, notice
    assert g.client.v1.webhook_endpoints.retrieve(good.id).status == "enabled"

    # No new deliveries go to a disabled endpoint.
    before = len(list_deliveries(g.api, g.secret_key, endpoint=ep.id))
    pay(g.client)
    time.sleep(1.0)
    assert len(list_deliveries(g.api, g.secret_key, endpoint=ep.id)) == before

    # Enabling it again clears the notice.
    again = g.client.v1.webhook_endpoints.update(ep.id, {"disabled": False})
    assert again.status == "enabled"
    assert field(again, "disabled_notice") is None


def _certificate(tmp: Path) -> tuple:
    """A CA and a 127.0.0.1 server certificate signed by it."""
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, cwd=tmp)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=webhook-test-ca")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1")
    (tmp / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf")
    return tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"


def test_live_mode_requires_https_and_never_reaches_loopback(tmp_path, gateway_factory, py_receiver):
    ca, cert, key = _certificate(tmp_path)
    previous_bundle = stripe.ca_bundle_path
    previous_env = os.environ.get("REQUESTS_CA_BUNDLE")
    stripe.ca_bundle_path = str(ca)  # the SDK passes its own bundle to requests
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca)  # the suite's raw requests
    try:
        g = gateway_factory("live", env={
            "TESSERA_MODE": "live",
            "TESSERA_TLS_CERT_FILE": str(cert),
            "TESSERA_TLS_KEY_FILE": str(key),
        })
        assert g.api.startswith("https://")
        live_key = g.cli("keys", "create", "--data-dir", str(g.data_dir), "--kind", "secret", "--live").strip()
        assert live_key.startswith("sk_live_")
        live = g.sdk(live_key)
        receiver = py_receiver("loopback")

        try:
            live.v1.webhook_endpoints.create({"url": receiver.url(), "enabled_events": ["*"]})
            raise AssertionError("a plain http:// endpoint was accepted in live mode")
        except stripe.InvalidRequestError as e:
            assert e.http_status == 400 and "https" in str(e)

        https_url = receiver.url().replace("http://", "https://")
        ep = live.v1.webhook_endpoints.create({"url": https_url, "enabled_events": ["customer.created"]})
        live.v1.customers.create({"email": "live@example.com"})

        def refused():
            ds = list_deliveries(g.api, live_key, endpoint=ep.id)
            attempts = ds[0]["attempts"] if ds else []
            return attempts[0] if attempts else None

        attempt = wait_until(refused, timeout=15, what="the live delivery attempt to be recorded")
        assert attempt["status_code"] is None
        assert "refused before connecting" in attempt["error"] and "loopback" in attempt["error"], attempt
        assert receiver.deliveries() == [], "a live-mode delivery reached a loopback receiver"
    finally:
        stripe.ca_bundle_path = previous_bundle
        if previous_env is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = previous_env
