"""Helpers for the Tessera transport suite (TLS, modes, headers, limits).

Nothing here knows Tessera's internals: certificates are made with the
`openssl` command line, TLS is spoken with Python's `ssl` module or with
hand-built ClientHello records, HTTP with `requests` or raw sockets.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import ssl
import struct
import subprocess
import time
import warnings
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import requests

HTTP_TIMEOUT = 10  # seconds for one ordinary request

# --------------------------------------------------------------------------
# Ports


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_tcp_udp_port(attempts: int = 50) -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (for a DNS server)."""
    for _ in range(attempts):
        port = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port free for both TCP and UDP on 127.0.0.1")


def wait_tcp(port: int, timeout: float, proc: Optional[subprocess.Popen] = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")
        time.sleep(0.05)


# --------------------------------------------------------------------------
# Certificates (openssl CLI)


def _openssl(*args: str, cwd: Optional[Path] = None) -> None:
    res = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, cwd=cwd)
    if res.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {res.stderr[-2000:]}")


class CertPair:
    def __init__(self, cert: Path, key: Path):
        self.cert = cert
        self.key = key

    @property
    def der(self) -> bytes:
        return ssl.PEM_cert_to_DER_cert(self.cert.read_text())

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def _key_args(key_type: str) -> List[str]:
    if key_type == "ec":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    if key_type == "rsa":
        return ["-newkey", "rsa:2048"]
    raise ValueError(key_type)


def make_ca(directory: Path, name: str = "Tessera Transport Test CA") -> CertPair:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "ca.pem", directory / "ca.key"
    _openssl("req", "-x509", *_key_args("ec"), "-nodes", "-sha256", "-days", "30",
             "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return CertPair(cert, key)


def make_leaf(ca: CertPair, directory: Path, stem: str,
              sans: Sequence[str] = ("DNS:localhost", "IP:127.0.0.1"),
              key_type: str = "ec", days: int = 30) -> CertPair:
    """A server certificate signed by `ca`, valid `days` days (within Mozilla's 366)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key, csr, ext = (directory / f"{stem}.pem", directory / f"{stem}.key",
                           directory / f"{stem}.csr", directory / f"{stem}.ext")
    _openssl("req", "-new", *_key_args(key_type), "-nodes", "-subj", f"/CN={stem}",
             "-keyout", str(key), "-out", str(csr))
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature" + (",keyEncipherment" if key_type == "rsa" else "") + "\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName={','.join(sans)}\n"
    )
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
             "-CAcreateserial", "-sha256", "-days", str(days), "-extfile", str(ext), "-out", str(cert))
    return CertPair(cert, key)


# --------------------------------------------------------------------------
# TLS clients

_LEGACY = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


def client_context(ca: Optional[Path] = None, *, version: Optional[str] = None,
                   max_version: Optional[str] = None, ciphers: Optional[str] = None,
                   alpn: Optional[List[str]] = None) -> ssl.SSLContext:
    """A TLS client context. With `ca`, the server certificate and name are
    verified against it; without, nothing is verified (handshake probing only)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is not None:
        ctx.load_verify_locations(cafile=str(ca))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if version is not None:
            # Lower the floor first, then pin both ends, so that the local
            # OpenSSL policy (MinProtocol) does not stop the client itself.
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = _LEGACY[version]
            ctx.minimum_version = _LEGACY[version]
        if max_version is not None:
            ctx.maximum_version = _LEGACY[max_version]
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_connect(port: int, ctx: ssl.SSLContext, server_hostname: str = "localhost",
                timeout: float = 5.0) -> ssl.SSLSocket:
    """TCP connect to 127.0.0.1:port and complete a TLS handshake (raises on failure)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise


def handshake_error(port: int, ctx: ssl.SSLContext, server_hostname: str = "localhost",
                    timeout: float = 5.0) -> Optional[str]:
    """None when the handshake succeeds, else a description of the failure."""
    try:
        s = tls_connect(port, ctx, server_hostname, timeout)
    except (ssl.SSLError, ConnectionError, OSError) as e:
        return f"{type(e).__name__}: {e}"
    try:
        return None
    finally:
        s.close()


def peer_fingerprint(s: ssl.SSLSocket) -> str:
    der = s.getpeercert(binary_form=True)
    assert der, "no peer certificate"
    return hashlib.sha256(der).hexdigest()


def https_on(sock: ssl.SSLSocket, host: str) -> http.client.HTTPConnection:
    """An http.client connection that speaks HTTP/1.1 over an already
    established TLS socket (so the socket, and its certificate, are ours)."""
    conn = http.client.HTTPConnection(host, timeout=HTTP_TIMEOUT)
    conn.sock = sock
    return conn


def get_over(conn: http.client.HTTPConnection, path: str, key: Optional[str] = None
             ) -> Tuple[int, Dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


# --------------------------------------------------------------------------
# Hand-built ClientHello records (for protocol versions the local OpenSSL
# cannot speak any more, e.g. SSLv3, and as an OpenSSL-independent probe).

SSL3, TLS10, TLS11, TLS12 = 0x0300, 0x0301, 0x0302, 0x0303

# Cipher suites a server still accepting old protocols would pick from.
LEGACY_SUITES = [
    0xC013, 0xC014,  # ECDHE-RSA-AES128/256-SHA
    0xC009, 0xC00A,  # ECDHE-ECDSA-AES128/256-SHA
    0x002F, 0x0035,  # AES128/256-SHA (RSA key exchange)
    0x000A,          # DES-CBC3-SHA
    0xC02B, 0xC02F,  # ECDHE-{ECDSA,RSA}-AES128-GCM-SHA256
]
MODERN_TLS12_SUITES = [0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8]


def _ext(typ: int, data: bytes) -> bytes:
    return struct.pack("!HH", typ, len(data)) + data


def client_hello(version: int, suites: Iterable[int], sni: str = "localhost",
                 extensions: bool = True) -> bytes:
    suites = list(suites)
    body = struct.pack("!H", version) + os.urandom(32)
    sid = os.urandom(32)
    body += bytes([len(sid)]) + sid
    body += struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", c) for c in suites)
    body += b"\x01\x00"  # null compression only
    if extensions:
        name = sni.encode()
        exts = _ext(0x0000, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)
        groups = [0x001D, 0x0017, 0x0018]  # x25519, secp256r1, secp384r1
        exts += _ext(0x000A, struct.pack("!H", 2 * len(groups)) + b"".join(struct.pack("!H", g) for g in groups))
        exts += _ext(0x000B, b"\x01\x00")       # ec_point_formats: uncompressed
        exts += _ext(0xFF01, b"\x00")           # renegotiation_info (initial)
        exts += _ext(0x0017, b"")               # extended_master_secret
        if version >= TLS12:
            algs = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
            exts += _ext(0x000D, struct.pack("!H", 2 * len(algs)) + b"".join(struct.pack("!H", a) for a in algs))
        body += struct.pack("!H", len(exts)) + exts
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    record_version = min(version, TLS10)
    return b"\x16" + struct.pack("!HH", record_version, len(hs)) + hs


def _recv_exact(s: socket.socket, n: int, deadline: float) -> bytes:
    buf = b""
    while len(buf) < n:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def probe_hello(port: int, hello: bytes, timeout: float = 5.0) -> Tuple[str, Optional[int]]:
    """Send a raw ClientHello; return ("server_hello", negotiated_version),
    ("alert", description), ("closed", None) or ("other", content_type)."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(hello)
        try:
            header = _recv_exact(s, 5, deadline)
        except (ConnectionResetError, socket.timeout):
            return ("closed", None)
        if len(header) < 5:
            return ("closed", None)
        ctype, _ver, length = struct.unpack("!BHH", header)
        try:
            payload = _recv_exact(s, min(length, 16384), deadline)
        except (ConnectionResetError, socket.timeout):
            payload = b""
        if ctype == 21:
            return ("alert", payload[1] if len(payload) >= 2 else None)
        if ctype == 22 and payload[:1] == b"\x02" and len(payload) >= 6:
            return ("server_hello", struct.unpack("!H", payload[4:6])[0])
        return ("other", ctype)


# --------------------------------------------------------------------------
# Raw HTTP


def raw_http(port: int, data: bytes, timeout: float = 5.0) -> Tuple[Optional[int], bytes]:
    """Send bytes over a fresh plain TCP connection, read until close or timeout.
    Returns (status or None when no HTTP response came, raw bytes)."""
    deadline = time.monotonic() + timeout
    buf = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
            if b"\r\n\r\n" in buf:
                break
    status = None
    if buf.startswith(b"HTTP/1."):
        try:
            status = int(buf.split(b" ", 2)[1])
        except (IndexError, ValueError):
            status = None
    return status, buf


# --------------------------------------------------------------------------
# Stripe-shaped errors and security headers

ERROR_TYPES = {"invalid_request_error", "card_error", "idempotency_error", "api_error"}


def stripe_error(resp: requests.Response) -> Dict:
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"HTTP {resp.status_code} body is not JSON: {resp.text[:500]!r}")
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), (
        f"HTTP {resp.status_code} body has no Stripe error object: {body!r}")
    err = body["error"]
    assert err.get("type") in ERROR_TYPES, f"bad error type: {err!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"error has no message: {err!r}"
    return err


HSTS = "max-age=63072000; includeSubDomains"
SAFE_REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


def _h(headers, name: str) -> Optional[str]:
    return headers.get(name)


def assert_security_headers(resp: requests.Response, *, tls: bool, api: bool = True,
                            what: str = "") -> None:
    """The headers every response carries (HARNESS.md Transport, SECURITY.md)."""
    h = resp.headers
    where = f"{what or resp.request.method + ' ' + resp.url} (HTTP {resp.status_code})"
    problems = []
    hsts = _h(h, "Strict-Transport-Security")
    if tls:
        if hsts is None or hsts.replace(" ", "").lower() != HSTS.replace(" ", "").lower():
            problems.append(f"Strict-Transport-Security is {hsts!r}, want {HSTS!r}")
    elif hsts is not None:
        problems.append(f"Strict-Transport-Security over plain HTTP: {hsts!r}")
    xcto = _h(h, "X-Content-Type-Options")
    if (xcto or "").strip().lower() != "nosniff":
        problems.append(f"X-Content-Type-Options is {xcto!r}, want 'nosniff'")
    rp = _h(h, "Referrer-Policy")
    # Browsers apply the last policy token they understand.
    last = rp.split(",")[-1].strip().lower() if rp else None
    if last not in SAFE_REFERRER_POLICIES:
        problems.append(f"Referrer-Policy is {rp!r}, want one of {sorted(SAFE_REFERRER_POLICIES)}")
    pp = _h(h, "Permissions-Policy")
    if not pp or "=" not in pp:
        problems.append(f"Permissions-Policy is {pp!r}, want a policy (e.g. camera=(), ...)")
    coop = _h(h, "Cross-Origin-Opener-Policy")
    if (coop or "").strip().lower() not in ("same-origin", "same-origin-allow-popups"):
        problems.append(f"Cross-Origin-Opener-Policy is {coop!r}")
    corp = _h(h, "Cross-Origin-Resource-Policy")
    if (corp or "").strip().lower() not in ("same-origin", "same-site"):
        problems.append(f"Cross-Origin-Resource-Policy is {corp!r}")
    server = _h(h, "Server")
    if server is not None and (any(c.isdigit() for c in server) or "/" in server):
        problems.append(f"Server header reveals a version: {server!r}")
    if api:
        cc = _h(h, "Cache-Control")
        if cc is None or "no-store" not in [d.strip().lower() for d in cc.split(",")]:
            problems.append(f"Cache-Control is {cc!r}, want no-store")
    assert not problems, f"{where}:\n  " + "\n  ".join(problems)


def parse_csp(value: str) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}
    for part in value.split(";"):
        tokens = part.strip().split()
        if tokens:
            out.setdefault(tokens[0].lower(), [t for t in tokens[1:]])
    return out
