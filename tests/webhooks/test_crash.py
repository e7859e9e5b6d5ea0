"""Crash test: SIGKILL the gateway during a burst of payments, restart it on the same
data directory and port, and check that every acknowledged payment's events reach the
receiver (a delivery claimed by a process that died is picked up again)."""

from __future__ import annotations

import threading
import time
from typing import Dict

import stripe

from webhook_support import all_events, create_endpoint, delivery_for, event_object_ids, free_port

BURST_SECONDS = 6.0
CLIENT_THREADS = 3
KILLS_DURING_BURST = (1.5, 3.5)  # seconds into the burst; one more kill when it ends
FINAL_WAIT = 30.0


def test_sigkill_during_burst_loses_no_acknowledged_event(gateway_factory, py_receiver):
    port = free_port()
    g = gateway_factory("crash", listen=f"127.0.0.1:{port}",
                        env={"TESSERA_WEBHOOK_RETRY_BASE_MS": "100", "TESSERA_WEBHOOK_RETRY_MAX_MS": "1000",
                             # The receiver answers at once; a short attempt timeout shortens the
                             # lease (timeout + 5 s connect + 20 s) a killed worker's claims hold.
                             "TESSERA_WEBHOOK_TIMEOUT_MS": "1000"})
    r = py_receiver("crash")
    ep = create_endpoint(g.client, r.url(), ["*"])
    r.set_secrets([ep.secret])

    acked: Dict[str, str] = {}   # PaymentIntent id -> status, for 2xx answers only
    failures = [0]
    lock = threading.Lock()
    stop = threading.Event()

    def client_loop(n: int) -> None:
        cl = g.sdk(max_network_retries=0, http_client=stripe.RequestsClient(timeout=5))
        i = 0
        while not stop.is_set():
            i += 1
            try:
                pi = cl.v1.payment_intents.create({
                    "amount": 1000 + i, "currency": "usd", "payment_method": "pm_card_visa",
                    "confirm": True, "metadata": {"client": str(n), "seq": str(i)},
                })
            except (stripe.StripeError, OSError):
                with lock:
                    failures[0] += 1  # the gateway is down or was killed mid-request: not counted
                time.sleep(0.02)
                continue
            with lock:
                acked[pi.id] = pi.status

    threads = [threading.Thread(target=client_loop, args=(n,), daemon=True) for n in range(CLIENT_THREADS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    try:
        for at in KILLS_DURING_BURST:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            g.kill9()
            g.start()
        time.sleep(max(0.0, t0 + BURST_SECONDS - time.monotonic()))
        g.kill9()  # with deliveries still in flight
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    assert not any(t.is_alive() for t in threads), "a client thread did not stop"
    g.start()  # the final restart, same data dir and port
    assert g.kills == len(KILLS_DURING_BURST) + 1 and g.starts >= g.kills + 1

    with lock:
        acked = dict(acked)
    assert len(acked) >= 10, f"only {len(acked)} payments were acknowledged during the burst ({failures[0]} failed)"
    not_paid = {k: v for k, v in acked.items() if v != "succeeded"}
    assert not not_paid, f"acknowledged PaymentIntents that did not succeed: {list(not_paid.items())[:5]}"

    deadline = time.monotonic() + FINAL_WAIT

    # Nothing acknowledged is lost from the store: each payment has its event, and (the
    # fan-out being in the same transaction) its delivery is recorded somewhere to go.
    stored = [e for e in all_events(g.client) if set(event_object_ids(e)) & set(acked)]
    succeeded_in_store = {event_object_ids(e)[0]: e["id"] for e in stored if e["type"] == "payment_intent.succeeded"}
    lost = set(acked) - set(succeeded_in_store)
    assert not lost, (f"{len(lost)} acknowledged payments have no payment_intent.succeeded event in the store "
                      f"(e.g. {sorted(lost)[:5]})")
    want = {e["id"] for e in stored}

    def delivered_succeeded() -> set:
        return {d.object_id for d in r.verified() if d.type == "payment_intent.succeeded"}

    def progress(missing_events) -> str:
        sample = sorted(missing_events)[:3]
        recs = []
        for ev in sample:
            try:
                d = delivery_for(g.api, g.secret_key, ev, ep.id)
                recs.append(f"{ev}: " + (f"{d['status']}, {d['attempt_count']} attempts, next {d['next_attempt']}"
                                         if d else "no delivery record"))
            except AssertionError as e:
                recs.append(f"{ev}: {e}")
        return (f"after waiting {FINAL_WAIT:.0f}s the receiver has {len(r.verified_event_ids() & want)} of "
                f"{len(want)} events; gateway killed {g.kills}x; records: {recs}")

    try:
        r.wait_for(lambda r: set(acked) <= delivered_succeeded(), max(1.0, deadline - time.monotonic()),
                   "payment_intent.succeeded for every acknowledged payment")
    except AssertionError:
        pass  # reported below with the details
    missing = set(acked) - delivered_succeeded()
    assert not missing, (
        f"{len(missing)} of {len(acked)} acknowledged payments never had payment_intent.succeeded delivered "
        f"(e.g. {sorted(missing)[:3]}); "
        + progress({succeeded_in_store[m] for m in missing}))

    # Every event the store holds about those payments was delivered at least once.
    try:
        r.wait_for(lambda r: want <= r.verified_event_ids(), max(1.0, deadline - time.monotonic()),
                   "every stored event about the acknowledged payments")
    except AssertionError:
        pass
    undelivered = want - r.verified_event_ids()
    assert not undelivered, (
        f"{len(undelivered)} of {len(want)} stored events about acknowledged payments were never delivered; "
        + progress(undelivered))

    bad = [(d.event_id, d.error) for d in r.deliveries() if not d.verified]
    assert not bad, f"deliveries that failed SDK verification: {bad[:5]}"
    assert "panicked" not in g.log_text(), f"the gateway panicked:\n{g.log_tail()}"
