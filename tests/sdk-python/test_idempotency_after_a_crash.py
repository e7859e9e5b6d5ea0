"""A payment request cut off by a crash, retried: with its idempotency key the retry
carries on with the intent the first request made, and never pays twice; and the
retry is served as soon as the gateway is back, not told for a minute that the
request is still in flight.

Each test runs its own gateway and kills it (SIGKILL) or stops it at the moment it
needs. A gateway serves its data directory alone (a second one is refused), so what
the stopped one left unfinished is known to be abandoned."""

import json
import subprocess
import threading
import time
import uuid

import stripe

from tessera_support import authorization_held, create_card_pm, expect_sdk_error, unique_email

# The attempt an authorization was made as, as the simulator recorded it with the charge.
ATTEMPT_OF_CHARGE = ("SELECT json_extract(json_extract(private, '$.processor_data'), '$.attempt') "
                     "FROM objects WHERE id = ?")


# The simulated processor's answer time in the capture and refund tests: the gateway
# is stopped while a call is out, and this is long enough to find it out on any machine.
SLOW_PROCESSOR = {"TESSERA_SIMULATOR_LATENCY_MS": "3000"}


def _key():
    return "crash-" + uuid.uuid4().hex


def _intents_and_charges(client, customer):
    intents = [p.id for p in client.v1.payment_intents.list({"customer": customer}).data]
    charges = [c.id for c in client.v1.charges.list({"customer": customer}).data]
    return intents, charges


def _cut_off_at_the_processor(gw, send):
    """Kills the gateway (SIGKILL) while `send()`'s request has fenced an intent for
    its attempt and is with the processor; returns that intent's id."""
    with authorization_held(gw, send) as held:
        time.sleep(0.5)
        assert held.get("error") is None and held.get("answer") is None, held
        gw.kill()
    assert "answer" not in held, "the killed gateway answered"
    return held["fenced"]


def _cut_off_once_stored(gw, send, sql, params=()):
    """Runs `send()` on a thread and kills the gateway (SIGKILL) as soon as `sql` finds
    what the request's first write stored before it asked the (slow) processor; returns
    what it found."""
    outcome = {}

    def run():
        try:
            outcome["answer"] = send()
        except BaseException as e:  # the caller looks at it
            outcome["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    found = gw.poll_store_values(sql, params, until=lambda v: bool(v) or not thread.is_alive())
    assert found and thread.is_alive(), (found, outcome)
    gw.kill()
    thread.join(timeout=30)
    assert "answer" not in outcome, "the killed gateway answered"
    return found


def test_a_payment_cut_off_at_the_processor_is_carried_on_by_its_retry():
    """The gateway dies while a create-and-confirm is with the processor: the intent is
    stored and fenced for its attempt, the outcome is not. The retry with the same key,
    sent as soon as the gateway is back, makes the attempt again on that intent: one
    intent, one charge."""
    from conftest import Gateway

    gw = Gateway()
    try:
        client = gw.client
        cus = client.v1.customers.create({"email": unique_email()})
        pm = create_card_pm(client, "4242424242424242")
        key = _key()
        params = {"amount": 2300, "currency": "usd", "customer": cus.id, "payment_method": pm.id,
                  "confirm": True}
        intent_id = _cut_off_at_the_processor(
            gw, lambda: client.v1.payment_intents.create(params, {"idempotency_key": key}))

        gw.restart()
        client = gw.client
        retried = client.v1.payment_intents.create(params, {"idempotency_key": key})
        assert retried.id == intent_id, "the retry made another intent instead of carrying on with the first"
        assert retried.status == "succeeded"
        assert _intents_and_charges(client, cus.id) == ([intent_id], [retried.latest_charge])
        # Made again under the cut-off attempt's name, which a connector gives its
        # processor as the authorization's idempotency key.
        assert gw.store_values(ATTEMPT_OF_CHARGE, (retried.latest_charge,)) == {f"{intent_id}/1"}
        # From now on the key replays the answer.
        replayed = client.v1.payment_intents.create(params, {"idempotency_key": key})
        assert json.loads(replayed.last_response.body) == json.loads(retried.last_response.body)
        assert "resuming a request whose process stopped before it answered" in gw.log_text()
    finally:
        gw.stop()
        gw.cleanup()


def test_a_confirmation_cut_off_at_the_processor_may_be_sent_again_at_once():
    """The same crash during a confirmation sent without an idempotency key: the intent
    stays fenced for an attempt that the stopped gateway will never finish. The
    merchant's confirmation, sent again as soon as the gateway is back, is not refused
    as a payment under way: it makes the attempt, and the intent has one charge."""
    from conftest import Gateway

    gw = Gateway()
    try:
        client = gw.client
        cus = client.v1.customers.create({"email": unique_email()})
        pm = create_card_pm(client, "4242424242424242")
        intent = client.v1.payment_intents.create({"amount": 2350, "currency": "usd",
                                                   "customer": cus.id, "payment_method": pm.id})
        intent_id = _cut_off_at_the_processor(
            gw, lambda: client.v1.payment_intents.confirm(intent.id))
        assert intent_id == intent.id

        gw.restart()
        client = gw.client
        confirmed = client.v1.payment_intents.confirm(intent.id)
        assert confirmed.status == "succeeded"
        assert _intents_and_charges(client, cus.id) == ([intent.id], [confirmed.latest_charge])
        # Another request is another attempt, under a name of its own.
        assert gw.store_values(ATTEMPT_OF_CHARGE, (confirmed.latest_charge,)) == {f"{intent.id}/2"}
        # A second confirmation now finds it paid, as ever.
        expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.payment_intents.confirm(intent.id),
                         status=400, code="payment_intent_unexpected_state")
    finally:
        gw.stop()
        gw.cleanup()


def test_a_second_gateway_on_the_same_data_directory_is_refused():
    """Two gateways on one data directory would each take the other's requests in
    flight for abandoned ones. The second is refused before it opens a port, told which
    process serves the directory, and the first serves on."""
    from conftest import TESSERA_BIN, Gateway

    gw = Gateway()
    try:
        second = subprocess.run(
            [str(TESSERA_BIN), "serve", "--data-dir", str(gw.data_dir), "--listen", "127.0.0.1:0",
             "--vault-listen", "127.0.0.1:0"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert second.returncode != 0, second.stdout + second.stderr
        said = second.stdout + second.stderr
        assert f"another process serves this store (process {gw.proc.pid})" in said, said
        assert "tessera.db-serving is locked" in said, said
        assert "sk_test_" not in said
        assert gw.client.v1.customers.create({"email": unique_email()}).id.startswith("cus_")
    finally:
        gw.stop()
        gw.cleanup()


def test_a_payment_whose_answer_was_lost_is_answered_from_its_intent():
    """The outcome was written, but the gateway died before it stored the answer for the
    key (a later write): the retries answer from the intents, a decline as a decline,
    and neither pays again. This leaves the store as that crash would, by taking the
    stored answers out of two records that were completed."""
    from conftest import Gateway

    gw = Gateway()
    try:
        client = gw.client
        cus = client.v1.customers.create({"email": unique_email()})
        paid_key, declined_key, confirmed_key = _key(), _key(), _key()
        paid_params = {"amount": 2400, "currency": "usd", "customer": cus.id,
                       "payment_method": "pm_card_visa", "confirm": True}
        declined_params = {**paid_params, "payment_method": "pm_card_visa_chargeDeclined"}
        paid = client.v1.payment_intents.create(paid_params, {"idempotency_key": paid_key})
        declined = expect_sdk_error(
            stripe.CardError,
            lambda: client.v1.payment_intents.create(declined_params, {"idempotency_key": declined_key}),
            status=402, code="card_declined")
        # And a confirmation of an intent made earlier.
        later = client.v1.payment_intents.create({"amount": 2500, "currency": "usd", "customer": cus.id})
        confirmed = client.v1.payment_intents.confirm(later.id, {"payment_method": "pm_card_visa"},
                                                      {"idempotency_key": confirmed_key})
        before = _intents_and_charges(client, cus.id)
        assert len(before[0]) == 3 and len(before[1]) == 3

        gw.stop()
        keys = (paid_key, declined_key, confirmed_key)
        assert gw.change_store(
            "UPDATE idempotency SET status = NULL, body = NULL WHERE key IN (?, ?, ?)", keys) == 3
        gw.restart()
        client = gw.client

        paid_again = client.v1.payment_intents.create(paid_params, {"idempotency_key": paid_key})
        assert json.loads(paid_again.last_response.body) == json.loads(paid.last_response.body)
        declined_again = expect_sdk_error(
            stripe.CardError,
            lambda: client.v1.payment_intents.create(declined_params, {"idempotency_key": declined_key}),
            status=402, code="card_declined")
        assert declined_again == declined, "the decline is answered as it was the first time"
        confirmed_again = client.v1.payment_intents.confirm(later.id, {"payment_method": "pm_card_visa"},
                                                            {"idempotency_key": confirmed_key})
        assert json.loads(confirmed_again.last_response.body) == json.loads(confirmed.last_response.body)
        assert _intents_and_charges(client, cus.id) == before, "a retry paid again"
    finally:
        gw.stop()
        gw.cleanup()


def test_a_capture_cut_off_at_the_processor_is_carried_on_by_its_retry():
    """The gateway dies while a capture is with the processor: the intent is fenced for
    it on disk, the outcome is not. Back, the gateway carries the capture on by itself
    (under the same name, `<charge>/capture`, which a connector gives its processor as
    the idempotency key); the retry with the same key, sent meanwhile, is told to retry
    while that call is out, then answered with the captured intent, as the first
    request would have been. The charge is captured once."""
    from conftest import Gateway

    gw = Gateway(SLOW_PROCESSOR)
    try:
        client = gw.client
        intent = _authorized(client, 3100)
        key = _key()
        _cut_off_once_stored(
            gw, lambda: client.v1.payment_intents.capture(intent.id, {}, {"idempotency_key": key}),
            "SELECT id FROM objects WHERE id = ? AND json_extract(private, '$.fenced_for') = 'capture' "
            "AND json_extract(private, '$.attempt_started') IS NOT NULL", (intent.id,))

        gw.restart()
        client = gw.client
        captured = _sent_until_not_in_progress(
            lambda: client.v1.payment_intents.capture(intent.id, {}, {"idempotency_key": key}))
        assert (captured.status, captured.amount_received) == ("succeeded", 3100)
        charge = client.v1.charges.retrieve(intent.latest_charge)
        assert (charge.captured, charge.amount_captured) == (True, 3100)
        events = client.v1.events.list({"type": "charge.captured"}).data
        assert [e.data.object.id for e in events] == [intent.latest_charge]
        replayed = client.v1.payment_intents.capture(intent.id, {}, {"idempotency_key": key})
        assert json.loads(replayed.last_response.body) == json.loads(captured.last_response.body)
    finally:
        gw.stop()
        gw.cleanup()


def test_a_refund_cut_off_at_the_processor_is_carried_on_by_its_retry():
    """The gateway dies while a refund is with the processor: the refund is stored,
    pending, with its amount reserved on the charge; its outcome is not. The retry with
    the same key is answered with that refund, carried on by the restarted gateway or by
    the retry itself (the processor is asked again under the refund's id, which takes
    effect once): one refund, one `refund.created`."""
    from conftest import Gateway

    gw = Gateway(SLOW_PROCESSOR)
    try:
        client = gw.client
        intent = client.v1.payment_intents.create({
            "amount": 5200, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True})
        key = _key()
        params = {"payment_intent": intent.id, "amount": 1200}
        (refund_id,) = _cut_off_once_stored(
            gw, lambda: client.v1.refunds.create(params, {"idempotency_key": key}),
            "SELECT id FROM objects WHERE kind = 'refund' "
            "AND json_extract(private, '$.attempt_started') IS NOT NULL")

        gw.restart()
        client = gw.client
        refund = _sent_until_not_in_progress(
            lambda: client.v1.refunds.create(params, {"idempotency_key": key}))
        assert (refund.id, refund.status, refund.amount) == (refund_id, "succeeded", 1200)
        assert [r.id for r in client.v1.refunds.list({"payment_intent": intent.id}).data] == [refund_id]
        assert client.v1.charges.retrieve(intent.latest_charge).amount_refunded == 1200
        events = client.v1.events.list({"type": "refund.created"}).data
        assert [e.data.object.id for e in events] == [refund_id]
        replayed = client.v1.refunds.create(params, {"idempotency_key": key})
        assert json.loads(replayed.last_response.body) == json.loads(refund.last_response.body)
    finally:
        gw.stop()
        gw.cleanup()


def test_a_capture_and_a_refund_cut_off_without_a_retry_are_recorded_after_the_restart():
    """No retry comes: the gateway, back after the crash, carries on what the stopped
    one left with the processor by itself, asking again under the same names, and
    records the outcomes with their events: the capture, then (after another crash) a
    refund."""
    from conftest import Gateway

    gw = Gateway(SLOW_PROCESSOR)
    try:
        client = gw.client
        intent = _authorized(client, 4400)
        _cut_off_once_stored(
            gw, lambda: client.v1.payment_intents.capture(intent.id, {"amount_to_capture": 4000}),
            "SELECT id FROM objects WHERE id = ? AND json_extract(private, '$.fenced_for') = 'capture' "
            "AND json_extract(private, '$.attempt_started') IS NOT NULL", (intent.id,))
        gw.restart()
        client = gw.client
        recorded = _poll(lambda: client.v1.payment_intents.retrieve(intent.id),
                         until=lambda pi: pi.status == "succeeded")
        assert (recorded.status, recorded.amount_received) == ("succeeded", 4000)
        assert [e.data.object.id for e in client.v1.events.list({"type": "charge.captured"}).data] == [
            intent.latest_charge]

        _cut_off_once_stored(
            gw, lambda: client.v1.refunds.create({"payment_intent": intent.id, "amount": 1500}),
            "SELECT id FROM objects WHERE kind = 'refund' "
            "AND json_extract(private, '$.attempt_started') IS NOT NULL")
        gw.restart()
        client = gw.client
        refunds = _poll(lambda: client.v1.refunds.list({"payment_intent": intent.id}).data,
                        until=lambda r: len(r) == 1 and r[0].status != "pending")
        assert [(r.status, r.amount) for r in refunds] == [("succeeded", 1500)]
        assert [e.data.object.id for e in client.v1.events.list({"type": "refund.created"}).data] == [
            refunds[0].id]
        assert client.v1.charges.retrieve(intent.latest_charge).amount_refunded == 1500
        assert "carrying on processor calls" in gw.log_text()
    finally:
        gw.stop()
        gw.cleanup()


def _authorized(client, amount):
    """A manual-capture intent of `amount`, confirmed: `requires_capture`."""
    intent = client.v1.payment_intents.create({
        "amount": amount, "currency": "usd", "payment_method": "pm_card_visa",
        "capture_method": "manual", "confirm": True})
    assert intent.status == "requires_capture"
    return intent


def _sent_until_not_in_progress(send, timeout=20.0):
    """`send()`'s answer, sent again while it is refused with 409 because the call is
    still with the processor for another request (here: the restarted gateway carrying
    on what the stopped one left), as the SDKs do when they retry."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return send()
        except stripe.StripeError as e:
            if e.http_status != 409 or "by another request" not in str(e) or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _poll(read, *, until, timeout=20.0):
    """`read()` once `until` holds for it, or when `timeout` seconds have passed (the
    caller asserts what it expected)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not until(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value
