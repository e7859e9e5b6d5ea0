"""Retries with exponential backoff and jitter, the delivery record of each attempt,
resending on demand, refused connections and redirects (all on loopback).

The shared gateway runs with TESSERA_WEBHOOK_RETRY_BASE_MS=200 and
TESSERA_WEBHOOK_RETRY_MAX_MS=2000 (conftest.py)."""

from __future__ import annotations

import time

from webhook_support import (
    RETRY_BASE_MS, RETRY_MAX_MS, all_events, api, assert_delivery_shape, create_endpoint, delivery_for, free_port, ok_json,
    pay, wait_until,
)

FAILURES = 3  # the receiver answers 500 to the first FAILURES attempts of each event


def _failing_responder(d, attempt):
    if d.replay or not d.verified:
        return 400, b"bad signature", {}
    if attempt <= FAILURES:
        # Longer than 2 KB: the record keeps the first 2048 bytes.
        body = (f"attempt {attempt} of {d.event_id} failed; " + "x" * 3000).encode()
        return 500, body, {"Content-Type": "text/plain"}
    return 200, f"ok {d.event_id} attempt {attempt}".encode(), {"Content-Type": "text/plain"}


def test_retries_with_backoff_until_2xx(tenant, py_receiver):
    c = tenant.client
    r = py_receiver("flaky", responder=_failing_responder)
    ep = create_endpoint(c, r.url(), ["payment_intent.succeeded", "charge.succeeded"])
    r.set_secrets([ep.secret])

    for i in range(2):
        pay(c, amount=1000 + i)
    events = wait_until(
        lambda: (lambda evs: evs if len(evs) == 4 else None)(
            [e for e in all_events(c) if e["type"] in ("payment_intent.succeeded", "charge.succeeded")]),
        10, "two payment_intent.succeeded and two charge.succeeded events")
    ids = {e["id"] for e in events}
    # While an event's first attempts fail, it counts a pending webhook.
    first = events[-1]["id"]
    r.wait_for(lambda r: r.for_event(first), 10, f"the first attempt for {first}")
    pending = c.v1.events.retrieve(first).pending_webhooks
    assert pending >= 1, f"pending_webhooks is {pending} while the delivery is still failing"
    r.wait_for(lambda r: ids <= {d.event_id for d in r.deliveries() if d.status == 200}, 30,
               "every event to be answered 200 after its failures")

    nominal = [RETRY_BASE_MS * 2 ** k / 1000 for k in range(FAILURES)]  # 0.2, 0.4, 0.8 s
    for ev in events:
        ds = r.for_event(ev["id"])
        assert all(d.verified for d in ds), [d.error for d in ds]
        statuses = [d.status for d in ds]
        assert statuses[:FAILURES + 1] == [500] * FAILURES + [200], f"{ev['id']}: answers {statuses}"
        times = [d.mono for d in ds[:FAILURES + 1]]
        gaps = [b - a for a, b in zip(times, times[1:])]
        for k, (gap, nom) in enumerate(zip(gaps, nominal)):
            assert gap >= 0.5 * nom, (
                f"{ev['id']}: retry {k + 1} came {gap:.3f}s after the previous attempt; "
                f"backoff from a {RETRY_BASE_MS} ms base wants about {nom:.1f}s (gaps {gaps})")
            assert gap <= RETRY_MAX_MS / 1000 * 1.5 + 2.0, f"{ev['id']}: gap {gap:.2f}s exceeds the cap (gaps {gaps})"
        assert gaps[-1] > gaps[0], f"{ev['id']}: gaps between attempts do not grow: {gaps}"

        rec = wait_until(lambda: (lambda d: d if d and d["status"] == "succeeded" else None)(
            delivery_for(tenant.api, tenant.key, ev["id"], ep.id)), 10, f"{ev['id']}'s record to succeed")
        assert_delivery_shape(rec)
        assert rec["attempt_count"] == len(ds), (rec["attempt_count"], statuses)
        assert rec["next_attempt"] is None
        newest_first = list(reversed(ds))
        for a, d in zip(rec["attempts"], newest_first):
            assert a["status_code"] == d.status, (a, d.status)
            assert a["error"] is None, a
            assert a["response_body"] == d.response_body[:2048].decode(), (
                f"response_body is not the first 2048 bytes of the answer: {a['response_body'][:80]!r}…")
            assert isinstance(a["latency_ms"], int)
            assert abs(a["created"] - d.received) <= 5, (a["created"], d.received)
        wait_until(lambda: c.v1.events.retrieve(ev["id"]).pending_webhooks == 0, 5,
                   f"pending_webhooks of {ev['id']} to reach 0 once delivered")


def test_resend_on_demand(tenant, py_receiver):
    c = tenant.client
    r = py_receiver("ok")
    ep = create_endpoint(c, r.url(), ["payment_intent.succeeded"])
    r.set_secrets([ep.secret])
    pi = pay(c)
    d0 = r.wait_for(lambda r: [d for d in r.verified() if d.object_id == pi.id], 20, "the first delivery")[0]
    rec = wait_until(lambda: (lambda d: d if d and d["status"] == "succeeded" else None)(
        delivery_for(tenant.api, tenant.key, d0.event_id, ep.id)), 10, "the record to succeed")
    count = rec["attempt_count"]

    time.sleep(1.1)  # a later timestamp for the resend
    resp = api(tenant.api, tenant.key, "POST", f"/v1/webhook_deliveries/{rec['id']}/retry")
    body = ok_json(resp)
    assert body.get("id") == rec["id"], body
    ds = r.wait_for(lambda r: [d for d in r.for_event(d0.event_id)][1:], 10, "the resent delivery")
    again = ds[0]
    assert again.verified, again.error
    assert again.body == d0.body or again.event["id"] == d0.event_id
    after = wait_until(lambda: (lambda d: d if d["attempt_count"] == count + 1 else None)(
        delivery_for(tenant.api, tenant.key, d0.event_id, ep.id)), 10, "the resend to be recorded")
    assert_delivery_shape(after)
    assert after["status"] == "succeeded" and after["attempts"][0]["status_code"] == 200

    missing = api(tenant.api, tenant.key, "POST", "/v1/webhook_deliveries/whd_" + "0" * 24 + "/retry")
    assert missing.status_code == 404, missing.text
    other = api(tenant.api, tenant.gw.create_account().secret_key, "POST",
                f"/v1/webhook_deliveries/{rec['id']}/retry")
    assert other.status_code == 404, f"another account resent this delivery: HTTP {other.status_code}"


def test_refused_connection_is_recorded_and_retried(tenant):
    c = tenant.client
    port = free_port()  # nothing listens there
    ep = create_endpoint(c, f"http://127.0.0.1:{port}/gone", ["payment_intent.succeeded"])
    pi = pay(c)
    ev = [e for e in all_events(c, "payment_intent.succeeded") if e["data"]["object"]["id"] == pi.id][0]
    rec = wait_until(lambda: (lambda d: d if d and d["attempt_count"] >= 2 else None)(
        delivery_for(tenant.api, tenant.key, ev["id"], ep.id)), 15, "two failed attempts")
    assert_delivery_shape(rec)
    assert rec["status"] == "pending", rec
    assert isinstance(rec["next_attempt"], int) and rec["next_attempt"] >= rec["attempts"][0]["created"], rec
    for a in rec["attempts"]:
        assert a["status_code"] is None and isinstance(a["error"], str) and a["error"], a
    assert c.v1.events.retrieve(ev["id"]).pending_webhooks >= 1


def test_redirects_are_not_followed(tenant, py_receiver):
    c = tenant.client
    target = py_receiver("redirect-target")
    r = py_receiver("redirector",
                    responder=lambda d, n: (302, b"moved", {"Location": target.url("/elsewhere")}))
    ep = create_endpoint(c, r.url(), ["payment_intent.succeeded"])
    r.set_secrets([ep.secret])
    target.set_secrets([ep.secret])
    pi = pay(c)
    d = r.wait_for(lambda r: [d for d in r.deliveries() if d.object_id == pi.id], 20, "the delivery")[0]
    wait_until(lambda: (lambda x: x if x["attempt_count"] >= 1 else None)(
        delivery_for(tenant.api, tenant.key, d.event_id, ep.id)), 10, "an attempt in the record")
    time.sleep(1.0)
    assert not target.deliveries(), "Tessera followed a redirect"
    rec = delivery_for(tenant.api, tenant.key, d.event_id, ep.id)
    assert rec["status"] != "succeeded", "a 302 answer counted as a successful delivery"
    assert rec["attempts"][-1]["status_code"] == 302, rec["attempts"][-1]
