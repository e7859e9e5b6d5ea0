"""Harness for the Tessera webhook suite (tests/HARNESS.md "Webhooks").

One `tessera serve` is shared by the session (fixture `gw`), started in a fresh
temporary data directory with the suite's rate limits (as tests/sdk-python) and fast
webhook retries. Each test works in its own test-mode account (fixture `tenant`,
created with `tessera accounts create`), so one test's events never reach another
test's endpoints. The crash test starts its own gateway on a fixed port.

Receivers listen on 127.0.0.1 only; every gateway, receiver and subprocess is
stopped in teardown. All waits are bounded.

Env:
  TESSERA_BIN        path of the binary (default <repo>/target/debug/tessera)
  TESSERA_NODE       node executable (default: node on PATH)
  TESSERA_KEEP_TMP=1 keep the temporary data and log directories
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import stripe

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
TESSERA_BIN = Path(os.environ.get("TESSERA_BIN") or REPO_ROOT / "target" / "debug" / "tessera")

for folder in (HERE, HERE.parent / "common"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import receivers  # noqa: E402
import tessera_common  # noqa: E402
from tessera_common import SUITE_LIMITS, Account, parse_account_block, terminate  # noqa: E402
from webhook_support import RETRY_BASE_MS, RETRY_MAX_MS, api  # noqa: E402

WEBHOOK_ENV = {
    "TESSERA_WEBHOOK_RETRY_BASE_MS": str(RETRY_BASE_MS),
    "TESSERA_WEBHOOK_RETRY_MAX_MS": str(RETRY_MAX_MS),
}
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
SDK_TIMEOUT = 20

def make_client(api_base: str, key: str, **kw) -> stripe.StripeClient:
    return tessera_common.make_client(api_base, key, SDK_TIMEOUT, **kw)


def _base_env() -> Dict[str, str]:
    # The gateway sees only the settings the suite gives it.
    return {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}


class Gateway:
    """A `tessera serve` on one data directory; can be SIGKILLed and restarted on the
    same directory and (with a fixed `listen`) the same port."""

    def __init__(self, name: str = "gw", env: Optional[Dict[str, str]] = None,
                 listen: str = "127.0.0.1:0") -> None:
        if not TESSERA_BIN.exists():
            raise RuntimeError(f"tessera binary not found at {TESSERA_BIN} (build it, or set TESSERA_BIN)")
        self.name = name
        self.listen = listen
        self.tmp_root = Path(tempfile.mkdtemp(prefix=f"tessera-webhooks-{name}-"))
        self.data_dir = self.tmp_root / "data"
        self.log_dir = self.tmp_root / "logs"
        self.server_tmp = self.tmp_root / "tmp"
        for d in (self.data_dir, self.log_dir, self.server_tmp):
            d.mkdir()
        self.stdout_path = self.log_dir / "stdout.log"
        self.stderr_path = self.log_dir / "stderr.log"
        self.ready_file = self.data_dir / "ready.json"
        self.env = {**_base_env(), **SUITE_LIMITS, **WEBHOOK_ENV, **(env or {}),
                    "TMPDIR": str(self.server_tmp)}
        # The vault origin defaults to the API's port + 1, which nobody checked was free
        # when the test fixed the API's port: let the system pick it.
        host, _, port = listen.rpartition(":")
        if port != "0":
            self.env.setdefault("TESSERA_VAULT_LISTEN", f"{host}:0")
        self.proc: Optional[subprocess.Popen] = None
        self.account: Optional[Account] = None
        self.starts = 0
        self.kills = 0
        self._out = self._err = None
        try:
            self.start()
        except BaseException:
            self.close()
            raise

    # -- lifecycle -------------------------------------------------------
    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start (or restart) on the same data dir; retries while the port is still taken."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._spawn_and_wait(deadline)
                return
            except _ExitedEarly:
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"tessera exited before becoming ready:\n{self.log_tail()}")
                time.sleep(0.2)

    def _spawn_and_wait(self, deadline: float) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        try:
            self.ready_file.unlink()
        except FileNotFoundError:
            pass
        self._close_logs()
        self._out = open(self.stdout_path, "ab")
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [str(TESSERA_BIN), "serve", "--data-dir", str(self.data_dir), "--listen", self.listen,
             "--ready-file", str(self.ready_file)],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err, env=self.env,
        )
        self.starts += 1
        ready = None
        while time.monotonic() < deadline:
            if ready is None and self.ready_file.exists():
                try:
                    parsed = json.loads(self.ready_file.read_text())
                    if isinstance(parsed, dict) and isinstance(parsed.get("api"), str) \
                            and parsed.get("pid", self.proc.pid) == self.proc.pid:
                        ready = parsed
                except ValueError:
                    pass
            if self.account is None:
                self.account = parse_account_block(self.stdout_path.read_text(errors="replace"))
            if ready is not None and self.account is not None:
                break
            if self.proc.poll() is not None:
                raise _ExitedEarly()
            time.sleep(0.05)
        if ready is None or self.account is None:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(
                f"tessera did not become ready within {READY_TIMEOUT:.0f}s (ready.json: {ready is not None}, "
                f"keys: {self.account is not None})\n{self.log_tail()}")
        self.ready = ready
        self.api = ready["api"].rstrip("/")
        self.secret_key = self.account.secret_key
        self.client = make_client(self.api, self.secret_key)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)
            self.kills += 1

    def stop(self) -> Optional[int]:
        if self.proc is None:
            return None
        code = terminate(self.proc, STOP_TIMEOUT)
        self._close_logs()
        return code

    def close(self) -> None:
        self.stop()
        self._close_logs()
        if not os.environ.get("TESSERA_KEEP_TMP"):
            shutil.rmtree(self.tmp_root, ignore_errors=True)

    def _close_logs(self) -> None:
        for f in (self._out, self._err):
            if f is not None:
                f.close()
        self._out = self._err = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return (self.stdout_path.read_text(errors="replace") + "\n"
                + self.stderr_path.read_text(errors="replace"))

    def log_tail(self, n: int = 4000) -> str:
        return (f"--- stdout ---\n{self.stdout_path.read_text(errors='replace')[-n:]}\n"
                f"--- stderr ---\n{self.stderr_path.read_text(errors='replace')[-n:]}")

    # -- clients and CLI -------------------------------------------------
    def sdk(self, key: Optional[str] = None, **kw) -> stripe.StripeClient:
        return make_client(self.api, key or self.secret_key, **kw)

    def cli(self, *args: str) -> str:
        res = subprocess.run([str(TESSERA_BIN), *args], capture_output=True, text=True, timeout=30,
                             env=self.env)
        if res.returncode != 0:
            raise RuntimeError(f"tessera {' '.join(args[:2])} failed (exit {res.returncode}): {res.stderr[-2000:]}")
        return res.stdout

    def create_account(self) -> Account:
        acct = parse_account_block(self.cli("accounts", "create", "--data-dir", str(self.data_dir)))
        assert acct is not None, "could not parse the new account's keys from `tessera accounts create`"
        return acct


class _ExitedEarly(Exception):
    pass


class Tenant:
    """One test-mode account on a gateway: its keys, an SDK client and the endpoints a
    test created (deleted in teardown so failing ones stop retrying)."""

    def __init__(self, gw: Gateway, account: Account) -> None:
        self.gw = gw
        self.account = account
        self.api = gw.api
        self.key = account.secret_key
        self.publishable_key = account.publishable_key
        self.client = gw.sdk(account.secret_key)

    def cleanup(self) -> None:
        if not self.gw.running:
            return
        try:
            for ep in self.client.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter():
                api(self.api, self.key, "DELETE", f"/v1/webhook_endpoints/{ep.id}")
        except Exception:
            pass  # best effort; the server may not have the feature


# --------------------------------------------------------------------------
# Fixtures

_GATEWAY: Optional[Gateway] = None
_GATEWAY_ERROR: Optional[BaseException] = None
_EXTRA_GATEWAYS: List[Gateway] = []


@pytest.fixture(scope="session")
def gw() -> Gateway:
    global _GATEWAY, _GATEWAY_ERROR
    if _GATEWAY_ERROR is not None:
        pytest.fail(f"gateway failed to start: {_GATEWAY_ERROR}", pytrace=False)
    if _GATEWAY is None:
        try:
            _GATEWAY = Gateway("shared")
        except BaseException as e:
            _GATEWAY_ERROR = e
            raise
    if not _GATEWAY.running:
        pytest.fail(f"the shared gateway is no longer running\n{_GATEWAY.log_tail()}", pytrace=False)
    return _GATEWAY


@pytest.fixture
def tenant(gw):
    """A fresh test-mode account: its events reach only this test's endpoints."""
    t = Tenant(gw, gw.create_account())
    yield t
    t.cleanup()


@pytest.fixture
def gateway_factory():
    """Start extra gateways (e.g. with a fixed port); all are killed in teardown."""
    made: List[Gateway] = []

    def make(name: str, **kw) -> Gateway:
        g = Gateway(name, **kw)
        made.append(g)
        _EXTRA_GATEWAYS.append(g)
        return g

    yield make
    for g in made:
        g.close()
        if g in _EXTRA_GATEWAYS:
            _EXTRA_GATEWAYS.remove(g)


@pytest.fixture
def py_receiver():
    """Factory for Python receivers; all closed in teardown."""
    made: List[receivers.PyReceiver] = []

    def make(name: str = "py", **kw) -> receivers.PyReceiver:
        r = receivers.PyReceiver(name, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def node_receiver():
    """Factory for Node receivers (tests/webhooks/receiver.js); all stopped in teardown."""
    made: List[receivers.NodeReceiver] = []

    def make(name: str = "node", **kw) -> receivers.NodeReceiver:
        r = receivers.NodeReceiver(name, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def pytest_sessionfinish(session, exitstatus):
    receivers.close_all()
    for g in list(_EXTRA_GATEWAYS):
        g.close()
    if _GATEWAY is not None:
        _GATEWAY.close()


def pytest_collection_modifyitems(session, config, items):
    # The payload hygiene scan reads every delivery captured during the session: last.
    last = [i for i in items if i.module.__name__.endswith("test_zz_payload_hygiene")]
    if last:
        items[:] = [i for i in items if i not in last] + last
