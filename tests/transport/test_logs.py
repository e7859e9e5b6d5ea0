"""The gateway's log, written to a file (as under systemd or a container runtime), is
plain text: no terminal colour codes, and each API request's line carries its call and
status as `key=value` that a log search can match."""

from __future__ import annotations

import time


def test_a_log_written_to_a_file_is_plain_text(procs):
    gw = procs.gateway(name="logs")
    r = gw.request("POST", "/v1/customers", gw.secret_key, data={"email": "log@example.com"})
    assert r.status_code == 200, r.text
    request_id = r.headers["Request-Id"]
    deadline = time.monotonic() + 10
    while True:  # the line is written as the request finishes, maybe after its answer
        log = gw.stderr_text()
        line = next((l for l in log.splitlines() if request_id in l), None)
        if line is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert line is not None, log[-2000:]
    assert "\x1b[" not in log, log[-2000:]
    assert 'call="customers.create"' in line and "status=200" in line, line
