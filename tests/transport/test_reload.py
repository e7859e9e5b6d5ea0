"""Certificates from PEM files, reloaded on SIGHUP (and when the files
change) without dropping established connections."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from transport_support import (
    client_context, get_over, https_on, make_leaf, peer_fingerprint, tls_connect,
)

RELOAD_WITHIN = 5.0
WATCH_WITHIN = 10.0


def _install(pair, cert_path: Path, key_path: Path) -> None:
    """Replace the served files (each atomically: write aside, rename over)."""
    for src, dst in ((pair.key, key_path), (pair.cert, cert_path)):
        tmp = dst.with_name(dst.name + ".new")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


def _new_connection_fingerprint(g, ca) -> str:
    s = tls_connect(g.port, client_context(ca), server_hostname="localhost")
    try:
        return peer_fingerprint(s)
    finally:
        s.close()


def _wait_for_fingerprint(g, ca, want: str, within: float) -> str:
    deadline = time.monotonic() + within
    got = None
    while time.monotonic() < deadline:
        got = _new_connection_fingerprint(g, ca)
        if got == want:
            return got
        time.sleep(0.1)
    return got


@pytest.fixture
def reload_setup(procs, test_ca, certs_dir):
    d = procs.tmpdir("reload")
    one = make_leaf(test_ca, d / "one", "tessera-one")
    two = make_leaf(test_ca, d / "two", "tessera-two")
    assert one.fingerprint != two.fingerprint
    live = d / "live"
    live.mkdir()
    cert_path, key_path = live / "cert.pem", live / "key.pem"
    _install(one, cert_path, key_path)
    g = procs.gateway({"TESSERA_TLS_CERT_FILE": str(cert_path), "TESSERA_TLS_KEY_FILE": str(key_path)},
                      name="reload")
    g.require_tls()
    return g, one, two, cert_path, key_path


def test_sighup_reload_keeps_connections(reload_setup, test_ca):
    g, one, two, cert_path, key_path = reload_setup
    ca = test_ca.cert

    old = tls_connect(g.port, client_context(ca), server_hostname="localhost")
    try:
        assert peer_fingerprint(old) == one.fingerprint, "the gateway does not serve the configured certificate"
        conn = https_on(old, "127.0.0.1")
        status, headers, body = get_over(conn, "/v1/customers", g.secret_key)
        assert status == 200, body[:300]
        assert headers.get("connection", "").lower() != "close"

        _install(two, cert_path, key_path)
        g.proc.send_signal(signal.SIGHUP)
        got = _wait_for_fingerprint(g, ca, two.fingerprint, RELOAD_WITHIN)
        assert g.running, f"the gateway died on SIGHUP (exit {g.proc.poll()})\n{g.logs_tail()}"
        assert got == two.fingerprint, (
            f"after SIGHUP new connections still get the old certificate ({RELOAD_WITHIN}s)")

        # The connection opened before the reload still works, on the same socket.
        status, _, body = get_over(conn, "/v1/customers", g.secret_key)
        assert status == 200, body[:300]
        assert conn.sock is old and peer_fingerprint(old) == one.fingerprint, "the old connection was replaced"
    finally:
        old.close()


def test_bad_files_on_sighup_keep_the_old_certificate(reload_setup, test_ca):
    g, one, two, cert_path, key_path = reload_setup
    cert_path.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    g.proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert g.running, f"the gateway died on a SIGHUP with a broken certificate file\n{g.logs_tail()}"
    assert _new_connection_fingerprint(g, test_ca.cert) == one.fingerprint
    r = g.request("GET", "/v1/customers", g.secret_key, verify=str(test_ca.cert))
    assert r.status_code == 200


def test_reload_when_files_change(reload_setup, test_ca):
    g, one, two, cert_path, key_path = reload_setup
    time.sleep(1.1)  # a modification time visibly later than the first install
    _install(two, cert_path, key_path)
    got = _wait_for_fingerprint(g, test_ca.cert, two.fingerprint, WATCH_WITHIN)
    assert got == two.fingerprint, f"changed certificate files were not picked up within {WATCH_WITHIN}s"
