"""Webhook receivers for the suite, both listening on 127.0.0.1 only.

PyReceiver   http.server in a thread; verifies every request with stripe-python's
             `stripe.Webhook.construct_event(payload, sig_header, secret)`.
NodeReceiver `node receiver.js` as a subprocess; verifies with stripe-node's
             `stripe.webhooks.constructEvent(rawBody, header, secret)` and reports each
             request as one JSON line on stdout.

Each request is recorded as a `Delivery`. A receiver given several secrets tries each
one separately and records which verified (`verified_with`, indexes into the list).

Every request Tessera makes to any receiver (not the replays the tests send
themselves, marked with `X-Test-Replay: 1`) is also appended to CAPTURED, which the
payload hygiene test scans at the end of the session.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import stripe

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
RECEIVER_JS = HERE / "receiver.js"
STRIPE_NODE_DIR = Path(os.environ.get("TESSERA_STRIPE_NODE")
                       or REPO_ROOT / "tests" / "sdk-node" / "node_modules" / "stripe")


@dataclass
class Delivery:
    receiver: str
    method: str
    path: str
    headers: Dict[str, str]          # lower-cased names
    body: bytes
    received: float                  # time.time()
    mono: float                      # time.monotonic() (Python receivers; derived for Node)
    verified_with: List[int]         # indexes of the secrets that verified the request
    error: Optional[str]             # the first verification error, if any
    status: int                      # what the receiver answered
    response_body: bytes
    replay: bool                     # sent by a test, not by Tessera
    note: Dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return bool(self.verified_with)

    @property
    def event(self) -> Optional[Dict[str, Any]]:
        try:
            ev = json.loads(self.body)
        except ValueError:
            return None
        return ev if isinstance(ev, dict) else None

    @property
    def event_id(self) -> Optional[str]:
        ev = self.event
        return ev.get("id") if ev else None

    @property
    def type(self) -> Optional[str]:
        ev = self.event
        return ev.get("type") if ev else None

    @property
    def object_id(self) -> Optional[str]:
        ev = self.event
        try:
            return ev["data"]["object"]["id"]  # type: ignore[index]
        except (KeyError, TypeError):
            return None

    @property
    def signature(self) -> Optional[str]:
        return self.headers.get("stripe-signature")


CAPTURED: List[Delivery] = []
_CAPTURED_LOCK = threading.Lock()
_LIVE: List["_Receiver"] = []


def close_all() -> None:
    for r in list(_LIVE):
        r.close()


class _Receiver:
    name = "receiver"

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._deliveries: List[Delivery] = []
        self._attempts: Dict[str, int] = {}
        _LIVE.append(self)

    # -- records --------------------------------------------------------
    def _record(self, d: Delivery) -> None:
        with self._cond:
            self._deliveries.append(d)
            self._cond.notify_all()
        if not d.replay:
            with _CAPTURED_LOCK:
                CAPTURED.append(d)

    def deliveries(self, include_replays: bool = False) -> List[Delivery]:
        with self._cond:
            return [d for d in self._deliveries if include_replays or not d.replay]

    def verified(self) -> List[Delivery]:
        return [d for d in self.deliveries() if d.verified]

    def verified_event_ids(self) -> set:
        return {d.event_id for d in self.verified()}

    def for_event(self, event_id: str) -> List[Delivery]:
        return [d for d in self.deliveries() if d.event_id == event_id]

    def wait_for(self, pred: Callable[["_Receiver"], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = pred(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [(d.type, d.event_id, d.status) for d in self._deliveries][-20:]
                    raise AssertionError(
                        f"{self.name}: timed out after {timeout:.0f}s waiting for {what}; "
                        f"last requests received: {got}")
                self._cond.wait(min(left, 0.2))

    def wait_for_events(self, event_ids, timeout: float) -> None:
        want = set(event_ids)
        self.wait_for(lambda r: want <= {d.event_id for d in r._deliveries if d.verified and not d.replay},
                      timeout, f"verified deliveries of {len(want)} events "
                               f"(missing: {sorted(want - self.verified_event_ids())[:10]})")

    def close(self) -> None:
        if self in _LIVE:
            _LIVE.remove(self)


# --------------------------------------------------------------------------
# Python

Responder = Callable[[Delivery, int], Tuple[int, bytes, Dict[str, str]]]


class PyReceiver(_Receiver):
    """responder(delivery, attempt_number) -> (status, body, headers) decides the answer
    (default: 200 when verified, 400 otherwise). on_verified(event, delivery) runs after a
    successful verification, before answering (the merchant's handler)."""

    def __init__(self, name: str = "py", secrets: Sequence[str] = (),
                 responder: Optional[Responder] = None,
                 on_verified: Optional[Callable[[Any, Delivery], None]] = None) -> None:
        super().__init__()
        self.name = name
        self.secrets: List[str] = list(secrets)
        self.responder = responder
        self.on_verified = on_verified
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _read_body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _any(self) -> None:
                body = self._read_body()
                status, resp, headers = receiver._handle(self.command, self.path,
                                                          {k.lower(): v for k, v in self.headers.items()},
                                                          body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(resp)))
                self.end_headers()
                self.wfile.write(resp)

            do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _any

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"receiver-{name}", daemon=True)
        self._thread.start()

    def url(self, path: str = "/webhook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set_secrets(self, secrets: Sequence[str]) -> None:
        self.secrets = list(secrets)

    def _handle(self, method: str, path: str, headers: Dict[str, str], body: bytes
                ) -> Tuple[int, bytes, Dict[str, str]]:
        replay = headers.get("x-test-replay") == "1"
        sig = headers.get("stripe-signature")
        verified_with: List[int] = []
        error: Optional[str] = None
        event = None
        for i, secret in enumerate(list(self.secrets)):
            try:
                ev = stripe.Webhook.construct_event(body, sig, secret)
                verified_with.append(i)
                event = ev
            except (stripe.SignatureVerificationError, ValueError) as e:
                if error is None:
                    error = f"{type(e).__name__}: {e}"
        if not self.secrets:
            error = "receiver has no secret"
        d = Delivery(self.name, method, path, headers, body, time.time(), time.monotonic(),
                     verified_with, error, 0, b"", replay)
        if event is not None and self.on_verified is not None:
            try:
                self.on_verified(event, d)
            except Exception as e:  # recorded, the test reads it
                d.note["handler_error"] = f"{type(e).__name__}: {e}"
        with self._cond:
            if not replay and d.event_id:
                self._attempts[d.event_id] = self._attempts.get(d.event_id, 0) + 1
            attempt = self._attempts.get(d.event_id or "", 0)
        if self.responder is not None:
            status, resp, rheaders = self.responder(d, attempt)
        elif d.verified:
            status, resp, rheaders = 200, b'{"received": true, "by": "python"}', {"Content-Type": "application/json"}
        else:
            status, resp, rheaders = 400, f"signature verification failed: {error}".encode(), {}
        d.status, d.response_body = status, resp
        self._record(d)
        return status, resp, rheaders

    def close(self) -> None:
        super().close()
        try:
            self._httpd.shutdown()
            self._httpd.server_close()
        finally:
            self._thread.join(timeout=5)


# --------------------------------------------------------------------------
# Node

class NodeReceiver(_Receiver):
    def __init__(self, name: str = "node", secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self.name = name
        node = os.environ.get("TESSERA_NODE") or shutil.which("node")
        if not node:
            raise RuntimeError("node is not installed (set TESSERA_NODE)")
        if not (STRIPE_NODE_DIR / "package.json").exists():
            raise RuntimeError(f"stripe-node not found at {STRIPE_NODE_DIR} (run `npm ci` in tests/sdk-node)")
        self._stderr = tempfile.TemporaryFile()
        self._acks = 0
        self.port: Optional[int] = None
        self.proc = subprocess.Popen(
            [node, str(RECEIVER_JS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True, bufsize=1,
            env={**os.environ, "TESSERA_STRIPE_NODE": str(STRIPE_NODE_DIR)},
        )
        self._reader = threading.Thread(target=self._read, name=f"receiver-{name}", daemon=True)
        self._reader.start()
        try:
            self.wait_for(lambda r: r.port, 15, "the node receiver to listen")
            if secrets:
                self.set_secrets(secrets)
        except BaseException:
            self.close()
            raise

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            kind = msg.get("kind")
            if kind == "listening":
                with self._cond:
                    self.port = int(msg["port"])
                    self._cond.notify_all()
            elif kind == "config":
                with self._cond:
                    self._acks += 1
                    self._cond.notify_all()
            elif kind == "request":
                headers = {k.lower(): (", ".join(v) if isinstance(v, list) else str(v))
                           for k, v in (msg.get("headers") or {}).items()}
                received = float(msg.get("received_at") or time.time())
                d = Delivery(self.name, msg.get("method", ""), msg.get("path", ""), headers,
                             base64.b64decode(msg.get("body_b64") or ""), received,
                             time.monotonic() - max(0.0, time.time() - received),
                             list(msg.get("verified_with") or []), msg.get("error"),
                             int(msg.get("status") or 0), (msg.get("response") or "").encode(),
                             headers.get("x-test-replay") == "1")
                self._record(d)

    def url(self, path: str = "/webhook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set_secrets(self, secrets: Sequence[str]) -> None:
        assert self.proc.stdin is not None
        with self._cond:
            want = self._acks + 1
        self.proc.stdin.write(json.dumps({"secrets": list(secrets)}) + "\n")
        self.proc.stdin.flush()
        self.wait_for(lambda r: r._acks >= want, 10, "the node receiver to take its secrets")

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def close(self) -> None:
        super().close()
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
