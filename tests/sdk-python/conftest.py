"""Harness for the Tessera stripe-python conformance suite (see tests/HARNESS.md).

One `tessera serve` is started per pytest session in a fresh temporary data
directory. Its stdout and stderr go to log files in a sibling temporary
directory (outside the data dir). test_zz_data_at_rest.py stops it and scans
the data dir and the logs; the session finalizer only cleans up.

Env:
  TESSERA_BIN        path of the binary (default <repo>/target/debug/tessera)
  TESSERA_KEEP_TMP=1 keep the temporary data and log directories
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterable, Optional

import pytest
import stripe

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
TESSERA_BIN = Path(os.environ.get("TESSERA_BIN") or REPO_ROOT / "target" / "debug" / "tessera")

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
SDK_TIMEOUT = 20  # seconds per HTTP request made by the SDK

for folder in (HERE, HERE.parent / "common"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import tessera_common  # noqa: E402
from tessera_common import SUITE_LIMITS, Account, parse_account_block, terminate  # noqa: E402


def make_client(api: str, key: str, **kw) -> stripe.StripeClient:
    return tessera_common.make_client(api, key, SDK_TIMEOUT, **kw)


class Gateway:
    """A running `tessera serve` and everything a test needs to talk to it."""

    def __init__(self, env: Optional[Dict[str, str]] = None) -> None:
        """`env`: settings (`TESSERA_*`) for this gateway, kept across restarts."""
        self.env = env or {}
        if not TESSERA_BIN.exists():
            raise RuntimeError(f"tessera binary not found at {TESSERA_BIN} (build it, or set TESSERA_BIN)")
        self.tmp_root = Path(tempfile.mkdtemp(prefix="tessera-sdk-python-"))
        self.data_dir = self.tmp_root / "data"
        self.log_dir = self.tmp_root / "logs"
        self.server_tmp = self.tmp_root / "tmp"  # the server's TMPDIR, scanned like the data dir
        self.data_dir.mkdir()
        self.log_dir.mkdir()
        self.server_tmp.mkdir()
        self.stdout_path = self.log_dir / "stdout.log"
        self.stderr_path = self.log_dir / "stderr.log"
        self.ready_file = self.data_dir / "ready.json"
        self._start("wb")

    def _start(self, log_mode: str) -> None:
        self._stdout = open(self.stdout_path, log_mode)
        self._stderr = open(self.stderr_path, log_mode)
        self.proc = subprocess.Popen(
            [str(TESSERA_BIN), "serve", "--data-dir", str(self.data_dir),
             "--listen", "127.0.0.1:0", "--ready-file", str(self.ready_file)],
            stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr,
            env={**os.environ, **SUITE_LIMITS, **self.env, "TMPDIR": str(self.server_tmp)},
        )
        self.exit_code: Optional[int] = None
        try:
            self._wait_ready()
        except BaseException:
            self._kill()
            raise
        self.client = make_client(self.api, self.secret_key)

    # -- startup --------------------------------------------------------
    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        ready = None
        acct = None
        while time.monotonic() < deadline:
            if ready is None and self.ready_file.exists():
                try:
                    parsed = json.loads(self.ready_file.read_text())
                    if isinstance(parsed, dict) and isinstance(parsed.get("api"), str):
                        ready = parsed
                except ValueError:
                    pass  # partially written
            if acct is None:
                acct = parse_account_block(self.stdout_path.read_text(errors="replace"))
            if ready is not None and acct is not None:
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if ready is None or acct is None:
            raise RuntimeError(
                f"tessera did not become ready within {READY_TIMEOUT:.0f}s "
                f"(ready.json: {ready is not None}, keys on stdout: {acct is not None}, "
                f"exit code: {self.proc.poll()})\n--- stdout ---\n"
                f"{self.stdout_path.read_text(errors='replace')[-4000:]}\n--- stderr ---\n"
                f"{self.stderr_path.read_text(errors='replace')[-4000:]}"
            )
        assert "sk_test_" not in json.dumps(ready) and "sk_live_" not in json.dumps(ready), \
            "ready.json must not contain secrets"
        self.ready = ready
        self.api = ready["api"].rstrip("/")
        self.vault = ready["vault"].rstrip("/")
        assert not self.api.endswith("/v1"), "ready.json api must be the base address, without /v1"
        self.account = acct
        self.account_id = acct.account_id
        self.secret_key = acct.secret_key
        self.publishable_key = acct.publishable_key

    # -- clients and CLI -----------------------------------------------
    def sdk(self, key: Optional[str] = None, **kw) -> stripe.StripeClient:
        return make_client(self.api, key or self.secret_key, **kw)

    def cli(self, *args: str) -> str:
        res = subprocess.run([str(TESSERA_BIN), *args], capture_output=True, text=True, timeout=30,
                             env={**os.environ, **SUITE_LIMITS, "TMPDIR": str(self.server_tmp)})
        if res.returncode != 0:
            raise RuntimeError(f"tessera {args[0]} {args[1] if len(args) > 1 else ''} failed "
                               f"(exit {res.returncode}): {res.stderr[-2000:]}")
        return res.stdout

    def create_account(self) -> Account:
        out = self.cli("accounts", "create", "--data-dir", str(self.data_dir))
        acct = parse_account_block(out)
        assert acct is not None, "could not parse the new account's keys from `tessera accounts create`"
        return acct

    def create_key(self, kind: str, account_id: Optional[str] = None,
                   permissions: Iterable[str] = ()) -> str:
        args = ["keys", "create", "--data-dir", str(self.data_dir),
                "--account", account_id or self.account_id, "--kind", kind]
        for p in permissions:
            args += ["--permission", p]
        lines = [l.strip() for l in self.cli(*args).splitlines() if l.strip()]
        assert lines, "`tessera keys create` printed nothing"
        key = lines[-1]
        assert re.fullmatch(r"(sk|pk|rk)_test_[A-Za-z0-9]+", key), "unexpected key format from `keys create`"
        return key

    def revoke_key(self, key: str) -> None:
        out = self.cli("keys", "revoke", "--data-dir", str(self.data_dir), key)
        assert "revoked" in out

    # -- shutdown ------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        """SIGTERM, wait; returns the exit code (negative = killed by that signal)."""
        if self.exit_code is None:
            self.exit_code = terminate(self.proc, STOP_TIMEOUT)
            self._stdout.close()
            self._stderr.close()
        return self.exit_code

    def kill(self) -> None:
        """SIGKILL, as a crash: the gateway flushes, erases and answers nothing more.
        `restart()` starts it again."""
        self.proc.kill()
        self.proc.wait()

    def restart(self) -> None:
        """Stops the gateway (SIGTERM) and starts it again on the same data directory;
        its logs go on in the same files."""
        self.stop()
        self.ready_file.unlink(missing_ok=True)
        self._start("ab")

    # -- the store file, for tests that make time pass for what it keeps --
    @property
    def store_path(self) -> Path:
        return self.data_dir / "tessera.db"

    def change_store(self, sql: str, params: tuple = ()) -> int:
        """Runs one write on the store file of the stopped gateway (ageing a record, say);
        returns how many rows it changed."""
        assert not self.running, "the store file is changed only while the gateway is stopped"
        db = sqlite3.connect(self.store_path)
        try:
            with db:
                return db.execute(sql, params).rowcount
        finally:
            db.close()

    def store_values(self, sql: str, params: tuple = ()) -> set:
        """The first column of a read-only query on the store file, as a set (the
        gateway may be running)."""
        db = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True)
        try:
            return {row[0] for row in db.execute(sql, params)}
        finally:
            db.close()

    def poll_store_values(self, sql: str, params: tuple = (), *, until, timeout: float = 20.0) -> set:
        """`store_values` once `until` holds for them, or when `timeout` seconds have
        passed (the caller asserts what it expected)."""
        deadline = time.monotonic() + timeout
        values = self.store_values(sql, params)
        while not until(values) and time.monotonic() < deadline:
            time.sleep(0.1)
            values = self.store_values(sql, params)
        return values

    def _kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stdout.close()
        self._stderr.close()
        self.cleanup()

    def cleanup(self) -> None:
        if not os.environ.get("TESSERA_KEEP_TMP"):
            shutil.rmtree(self.tmp_root, ignore_errors=True)

    def log_text(self) -> str:
        return (self.stdout_path.read_text(errors="replace") + "\n"
                + self.stderr_path.read_text(errors="replace"))


_GATEWAY: Optional[Gateway] = None
_GATEWAY_ERROR: Optional[BaseException] = None


@pytest.fixture(scope="session")
def gw():
    global _GATEWAY, _GATEWAY_ERROR
    if _GATEWAY_ERROR is not None:
        pytest.fail(f"gateway failed to start: {_GATEWAY_ERROR}", pytrace=False)
    if _GATEWAY is None:
        try:
            _GATEWAY = Gateway()
        except BaseException as e:  # report once, fail fast for every test
            _GATEWAY_ERROR = e
            raise
    yield _GATEWAY


def pytest_sessionfinish(session, exitstatus):
    g = _GATEWAY
    if g is not None:
        g.stop()
        g.cleanup()


@pytest.fixture
def client(gw) -> stripe.StripeClient:
    """StripeClient with the account's secret key."""
    if not gw.running:
        pytest.fail("the gateway is no longer running", pytrace=False)
    return gw.client


@pytest.fixture(scope="session")
def other_account(gw) -> Account:
    """A second test-mode account on the same gateway."""
    return gw.create_account()


@pytest.fixture(scope="session")
def other_client(gw, other_account) -> stripe.StripeClient:
    return gw.sdk(other_account.secret_key)


@pytest.fixture(scope="session")
def session_start() -> int:
    return int(time.time())


def pytest_collection_modifyitems(session, config, items):
    # The data-at-rest checks stop the server: they must run last whatever the
    # collection order (e.g. when files are passed in another order).
    last = [i for i in items if i.module.__name__.endswith("test_zz_data_at_rest")]
    if last:
        rest = [i for i in items if i not in last]
        items[:] = rest + last
