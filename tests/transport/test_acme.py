"""ACME end to end against Debian's pebble: Tessera (live mode) obtains a
certificate for tessera.test through an HTTP-01 challenge on its plain-HTTP
listener, then serves it with the chain up to pebble's root."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
import requests

from transport_support import (
    client_context, free_port, free_tcp_udp_port, get_over, https_on, make_leaf,
    tls_connect, wait_tcp,
)

DOMAIN = "tessera.test"
ACME_READY_TIMEOUT = 60.0


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if not path:
        pytest.fail(f"{name} is not installed (apt-get install -y pebble)", pytrace=False)
    return path


def _tail(path, n=3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


def test_acme_issuance_with_pebble(procs, test_ca):
    pebble_bin, challtestsrv_bin = _tool("pebble"), _tool("pebble-challtestsrv")
    d = procs.tmpdir("acme")
    listener = make_leaf(test_ca, d / "pebble-tls", "pebble-listener")

    dns_port = free_tcp_udp_port()
    cts_mgmt_port, acme_port, mgmt_port = free_port(), free_port(), free_port()
    http_port, https_port = free_port(), free_port()

    cfg = d / "pebble-config.json"
    cfg.write_text(json.dumps({"pebble": {
        "listenAddress": f"127.0.0.1:{acme_port}",
        "managementListenAddress": f"127.0.0.1:{mgmt_port}",
        "certificate": str(listener.cert),
        "privateKey": str(listener.key),
        "httpPort": http_port,      # HTTP-01 is validated on Tessera's http_listen
        "tlsPort": https_port,      # (TLS-ALPN-01 would go to the main listener)
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
    }}))
    cts_log, pebble_log = d / "challtestsrv.log", d / "pebble.log"
    cts = procs.spawn([challtestsrv_bin, "-dns01", f"127.0.0.1:{dns_port}", "-http01", "", "-https01", "",
                       "-tlsalpn01", "", "-management", f"127.0.0.1:{cts_mgmt_port}",
                       "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""], log=cts_log)
    pebble = procs.spawn([pebble_bin, "-config", str(cfg), "-dnsserver", f"127.0.0.1:{dns_port}",
                          "-strict=false"],
                         env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}, log=pebble_log)
    wait_tcp(dns_port, 10, cts)
    wait_tcp(acme_port, 10, pebble)
    deadline = time.monotonic() + 10
    while True:
        try:
            if requests.get(f"https://127.0.0.1:{acme_port}/dir", verify=str(test_ca.cert),
                            timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"pebble's directory did not come up\n{_tail(pebble_log)}"
        time.sleep(0.1)

    try:
        g = procs.gateway({
            "TESSERA_MODE": "live",
            "TESSERA_ACME_DOMAINS": DOMAIN,
            "TESSERA_ACME_CONTACT": "mailto:ops@tessera.test",
            "TESSERA_ACME_DIRECTORY": f"https://127.0.0.1:{acme_port}/dir",
            "TESSERA_ACME_CA_FILE": str(test_ca.cert),
            "TESSERA_HTTP_LISTEN": f"127.0.0.1:{http_port}",
            "TESSERA_LISTEN": f"127.0.0.1:{https_port}",
            # Renewal on a test clock: renew certificates older than 4 s, checked every second.
            "TESSERA_ACME_RENEW_AFTER_SECONDS": "4",
            "TESSERA_ACME_RENEW_CHECK_SECONDS": "1",
        }, listen=f"127.0.0.1:{https_port}", expect_keys=False, ready_timeout=ACME_READY_TIMEOUT, name="acme")
    except RuntimeError as e:
        pytest.fail(f"{e}\n--- pebble ---\n{_tail(pebble_log)}", pytrace=False)

    assert g.is_tls and g.port == https_port, f"ready.json after ACME issuance: {g.ready}"

    # Pebble's issuing root (management API; its listener uses our test CA).
    root_pem = requests.get(f"https://127.0.0.1:{mgmt_port}/roots/0", verify=str(test_ca.cert), timeout=10).text
    assert "BEGIN CERTIFICATE" in root_pem
    root = d / "pebble-root.pem"
    root.write_text(root_pem)

    # tessera.test -> 127.0.0.1, verified against pebble's root (name and chain).
    try:
        s = tls_connect(https_port, client_context(root), server_hostname=DOMAIN)
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"TLS to {DOMAIN} verified with pebble's root failed: {e!r}\n{g.logs_tail()}\n"
                    f"--- pebble ---\n{_tail(pebble_log)}", pytrace=False)
    try:
        cert = s.getpeercert()
        first_serial = cert["serialNumber"]
        sans = {v for k, v in cert.get("subjectAltName", ()) if k == "DNS"}
        assert DOMAIN in sans, cert
        issuer = " ".join(v for rdn in cert.get("issuer", ()) for _, v in rdn)
        assert "Pebble" in issuer, f"issued by {issuer!r}, not by pebble"
        status, headers, body = get_over(https_on(s, DOMAIN), "/v1/customers")
        assert status in (200, 401), body[:300]
        assert "application/json" in headers.get("content-type", ""), headers
        json.loads(body)
    finally:
        s.close()

    # In live mode the plain listener only redirects.
    r = requests.get(f"http://127.0.0.1:{http_port}/v1/customers", timeout=10, allow_redirects=False)
    assert r.status_code == 308 and r.headers.get("Location", "").startswith("https://"), (
        f"plain listener in live mode: HTTP {r.status_code} {r.headers.get('Location')!r}")

    # Renewal: once the certificate is older than the renewal age, Tessera obtains a new one
    # from the CA and serves it to new connections, without a restart.
    deadline = time.monotonic() + 30
    renewed = None
    while renewed is None:
        assert time.monotonic() < deadline, (
            f"the certificate was not renewed within 30 s\n{g.logs_tail()}\n--- pebble ---\n{_tail(pebble_log)}")
        time.sleep(0.5)
        s = tls_connect(https_port, client_context(root), server_hostname=DOMAIN)
        try:
            serial = s.getpeercert()["serialNumber"]
        finally:
            s.close()
        if serial != first_serial:
            renewed = serial
    assert g.running, "the gateway restarted or died while renewing"
