"""Harness for the Tessera transport suite (TLS, modes, headers, limits).

Each test module starts the `tessera serve` processes it needs with the
environment it needs (HARNESS.md "Transport"), each in its own temporary
directory; every process is stopped in fixture teardown. All traffic stays
on 127.0.0.1.

Env:
  TESSERA_BIN        path of the binary (default <repo>/target/debug/tessera)
  TESSERA_KEEP_TMP=1 keep the temporary data and log directories
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence
from urllib.parse import urlsplit

import pytest
import requests

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
TESSERA_BIN = Path(os.environ.get("TESSERA_BIN") or REPO_ROOT / "target" / "debug" / "tessera")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

for folder in (HERE, HERE.parent / "common"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from tessera_common import parse_account_block, terminate  # noqa: E402
from transport_support import HTTP_TIMEOUT  # noqa: E402


def _base_env() -> Dict[str, str]:
    # The gateway must see only the settings a test gives it.
    return {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}


class Gateway:
    """One `tessera serve` started with the given environment.

    wait=True waits for ready.json (and, with expect_keys, the keys on stdout);
    wait=False only spawns it (for tests that expect it to refuse to start).
    """

    def __init__(self, env: Optional[Dict[str, str]] = None, *, listen: str = "127.0.0.1:0",
                 args: Sequence[str] = (), wait: bool = True, expect_keys: bool = True,
                 ready_timeout: float = READY_TIMEOUT, tmp_root: Optional[Path] = None,
                 name: str = "gw", nice: int = 0) -> None:
        if not TESSERA_BIN.exists():
            raise RuntimeError(f"tessera binary not found at {TESSERA_BIN} (build it, or set TESSERA_BIN)")
        self.tmp_root = tmp_root or Path(tempfile.mkdtemp(prefix=f"tessera-transport-{name}-"))
        self.data_dir = self.tmp_root / "data"
        self.log_dir = self.tmp_root / "logs"
        self.server_tmp = self.tmp_root / "tmp"
        for d in (self.data_dir, self.log_dir, self.server_tmp):
            d.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self.log_dir / "stdout.log"
        self.stderr_path = self.log_dir / "stderr.log"
        self.ready_file = self.data_dir / "ready.json"
        self.env = {**_base_env(), "TMPDIR": str(self.server_tmp), **(env or {})}
        # The vault origin defaults to the API's port + 1. A test that fixes the API's port
        # checked only that port was free, so the vault origin gets one the system picks.
        host, _, port = listen.rpartition(":")
        if port != "0" and "TESSERA_VAULT_LISTEN" not in self.env and "--vault-listen" not in args:
            self.env["TESSERA_VAULT_LISTEN"] = f"{host}:0"
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.exit_code: Optional[int] = None
        self.ready: Optional[dict] = None
        self.secret_key = self.publishable_key = self.account_id = None
        self.proc = subprocess.Popen(
            [str(TESSERA_BIN), "serve", "--data-dir", str(self.data_dir), "--listen", listen,
             "--ready-file", str(self.ready_file), *args],
            stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr, env=self.env,
            # nice: started that much nicer than the tests, as `nice -n N tessera serve` would.
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )
        if wait:
            try:
                self._wait_ready(ready_timeout, expect_keys)
            except BaseException:
                self.stop()
                self.cleanup()
                raise

    # -- startup --------------------------------------------------------
    def _read_ready(self) -> Optional[dict]:
        if not self.ready_file.exists():
            return None
        try:
            parsed = json.loads(self.ready_file.read_text())
        except ValueError:
            return None  # partially written
        if isinstance(parsed, dict) and isinstance(parsed.get("api"), str):
            return parsed
        return None

    def _wait_ready(self, timeout: float, expect_keys: bool) -> None:
        deadline = time.monotonic() + timeout
        ready = None
        keys_ok = not expect_keys
        while time.monotonic() < deadline:
            if ready is None:
                ready = self._read_ready()
            if not keys_ok:
                account = parse_account_block(self.stdout_path.read_text(errors="replace"))
                if account is not None:
                    self.account_id = account.account_id
                    self.secret_key, self.publishable_key = account.secret_key, account.publishable_key
                    keys_ok = True
            if ready is not None and keys_ok:
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if ready is None or not keys_ok:
            raise RuntimeError(
                f"tessera did not become ready within {timeout:.0f}s (ready.json: {ready is not None}, "
                f"keys on stdout: {keys_ok}, exit code: {self.proc.poll()})\n{self.logs_tail()}")
        dumped = json.dumps(ready)
        assert "sk_test_" not in dumped and "sk_live_" not in dumped, "ready.json must not contain secrets"
        self.ready = ready

    # -- addresses -------------------------------------------------------
    @property
    def api(self) -> str:
        assert self.ready is not None
        return self.ready["api"].rstrip("/")

    @property
    def is_tls(self) -> bool:
        return self.api.startswith("https://")

    @property
    def port(self) -> int:
        return urlsplit(self.api).port or (443 if self.is_tls else 80)

    @property
    def ca(self) -> Optional[Path]:
        ca = (self.ready or {}).get("ca")
        return Path(ca) if ca else None

    @property
    def http(self) -> Optional[str]:
        h = (self.ready or {}).get("http")
        return h.rstrip("/") if h else None

    def require_tls(self) -> None:
        assert self.is_tls, (
            f"the main listener should speak TLS with a certificate source configured, "
            f"but ready.json says api={self.api!r} (ready.json: {self.ready})")

    # -- HTTP ------------------------------------------------------------
    verify: object = True  # requests' verify for this gateway (set by tests: CA path)

    def request(self, method: str, path: str, key: Optional[str] = None, *,
                session: Optional[requests.Session] = None, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", None) or {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        kw.setdefault("timeout", HTTP_TIMEOUT)
        kw.setdefault("allow_redirects", False)
        if self.is_tls:
            kw.setdefault("verify", str(self.ca) if self.ca else self.verify)
        return (session or requests).request(method, self.api + path, headers=headers, **kw)

    # -- CLI -------------------------------------------------------------
    def cli(self, *args: str) -> str:
        res = subprocess.run([str(TESSERA_BIN), *args], capture_output=True, text=True, timeout=30,
                             env=self.env, stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            raise AssertionError(f"`tessera {' '.join(a for a in args if not a.startswith('/'))}` failed "
                                 f"(exit {res.returncode}): {res.stderr[-2000:]}")
        return res.stdout

    def create_key(self, kind: str, *, live: bool = False, account_id: Optional[str] = None) -> str:
        args = ["keys", "create", "--data-dir", str(self.data_dir), "--kind", kind]
        if live:
            args.append("--live")
        if account_id:
            args += ["--account", account_id]
        lines = [l.strip() for l in self.cli(*args).splitlines() if l.strip()]
        assert lines, "`tessera keys create` printed nothing"
        return lines[-1]

    # -- lifecycle -------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_exit(self, timeout: float) -> Optional[int]:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> Optional[int]:
        if self.exit_code is None:
            self.exit_code = terminate(self.proc, STOP_TIMEOUT)
            self._stdout.close()
            self._stderr.close()
        return self.exit_code

    def cleanup(self) -> None:
        if not os.environ.get("TESSERA_KEEP_TMP"):
            shutil.rmtree(self.tmp_root, ignore_errors=True)

    def stderr_text(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def logs_tail(self, n: int = 4000) -> str:
        self._stdout.flush()
        self._stderr.flush()
        return (f"--- stdout ---\n{self.stdout_path.read_text(errors='replace')[-n:]}\n"
                f"--- stderr ---\n{self.stderr_path.read_text(errors='replace')[-n:]}")


class Processes:
    """Everything a test (or module) started; torn down in reverse order."""

    def __init__(self) -> None:
        self.gateways: List[Gateway] = []
        self.procs: List[subprocess.Popen] = []
        self.dirs: List[Path] = []

    def gateway(self, env: Optional[Dict[str, str]] = None, **kw) -> Gateway:
        # A gateway that fails to start stops itself; one that starts is ours to stop.
        g = Gateway(env, **kw)
        self.gateways.append(g)
        return g

    def spawn(self, argv: Sequence[str], *, env: Optional[Dict[str, str]] = None,
              log: Optional[Path] = None) -> subprocess.Popen:
        out = open(log, "wb") if log else subprocess.DEVNULL
        try:
            p = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, env={**_base_env(), **(env or {})})
        finally:
            if log:
                out.close()
        self.procs.append(p)
        return p

    def tmpdir(self, prefix: str) -> Path:
        d = Path(tempfile.mkdtemp(prefix=f"tessera-transport-{prefix}-"))
        self.dirs.append(d)
        return d

    def close(self) -> None:
        for g in reversed(self.gateways):
            try:
                g.stop()
            finally:
                g.cleanup()
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=STOP_TIMEOUT)
        if not os.environ.get("TESSERA_KEEP_TMP"):
            for d in self.dirs:
                shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def procs():
    """Per-test process set (gateways, pebble, ...), stopped after the test."""
    p = Processes()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(scope="module")
def module_procs():
    """Per-module process set for gateways shared by a module's tests."""
    p = Processes()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(scope="session")
def certs_dir():
    d = Path(tempfile.mkdtemp(prefix="tessera-transport-certs-"))
    try:
        yield d
    finally:
        if not os.environ.get("TESSERA_KEEP_TMP"):
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def test_ca(certs_dir):
    """A local CA (openssl) for certificates the tests hand to the gateway."""
    from transport_support import make_ca
    return make_ca(certs_dir / "ca")


@pytest.fixture(scope="module")
def tls_gw(module_procs) -> Gateway:
    """Test mode with the generated local CA (`self_signed`)."""
    g = module_procs.gateway({"TESSERA_TLS_SELF_SIGNED": "true"}, name="selfsigned")
    g.require_tls()
    assert g.ca is not None and g.ca.is_file(), (
        f"ready.json should name the generated CA file as \"ca\" with self_signed: {g.ready}")
    return g


@pytest.fixture(scope="module")
def plain_gw(module_procs) -> Gateway:
    """Test mode, plain HTTP on loopback (no certificate source)."""
    g = module_procs.gateway({}, name="plain")
    assert g.api.startswith("http://127.0.0.1:"), g.ready
    return g
