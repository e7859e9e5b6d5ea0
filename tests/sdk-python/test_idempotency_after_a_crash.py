"""A payment request cut off by a crash, retried with its idempotency key: the retry
carries on with the intent the first request made, and never pays twice.

Each test runs its own gateway, kills it (SIGKILL) or stops it at the moment it needs,
and makes the minute after which a claim counts as abandoned pass by ageing the
records in the store file while the gateway is down."""

import json
import sqlite3
import threading
import time
import uuid

import stripe

from tessera_support import create_card_pm, expect_sdk_error, unique_email

# What a request's claim on its key and an intent's attempt look like once a minute
# has passed (the gateway takes a claim over, and retries an attempt, only after that).
AGE_CLAIMS = "UPDATE idempotency SET started_at = started_at - 120 WHERE key IN ({})"
AGE_ATTEMPT = ("UPDATE objects SET private = json_set(private, '$.attempt_started', "
               "json_extract(private, '$.attempt_started') - 120) WHERE id = ?")
FENCED_INTENTS = ("SELECT id FROM objects WHERE kind = 'payment_intent' "
                  "AND json_extract(private, '$.attempt_started') IS NOT NULL")


def _key():
    return "crash-" + uuid.uuid4().hex


def _intents_and_charges(client, customer):
    intents = [p.id for p in client.v1.payment_intents.list({"customer": customer}).data]
    charges = [c.id for c in client.v1.charges.list({"customer": customer}).data]
    return intents, charges


def test_a_payment_cut_off_at_the_processor_is_carried_on_by_its_retry():
    """The gateway dies while a create-and-confirm is with the processor: the intent is
    stored and fenced for its attempt, the outcome is not. The retry with the same key
    makes the attempt again on that intent: one intent, one charge."""
    from conftest import Gateway

    gw = Gateway()
    vault = None
    try:
        client = gw.client
        cus = client.v1.customers.create({"email": unique_email()})
        pm = create_card_pm(client, "4242424242424242")
        key = _key()
        params = {"amount": 2300, "currency": "usd", "customer": cus.id, "payment_method": pm.id,
                  "confirm": True}
        # Another process holds the vault database's write lock: once the processor has
        # answered, the vault waits for it to erase the CVC, and the request waits too.
        vault = sqlite3.connect(gw.data_dir / "vault" / "vault.db", isolation_level=None, timeout=10)
        vault.execute("BEGIN IMMEDIATE")
        outcome = {}

        def pay():
            try:
                outcome["intent"] = client.v1.payment_intents.create(params, {"idempotency_key": key})
            except stripe.StripeError as e:
                outcome["error"] = e

        request = threading.Thread(target=pay)
        request.start()
        fenced = gw.poll_store_values(FENCED_INTENTS, until=bool)
        assert len(fenced) == 1, f"the intent was not fenced for its attempt: {outcome}"
        time.sleep(0.5)
        assert request.is_alive(), f"the request answered before the crash: {outcome}"
        gw.kill()
        request.join(timeout=30)
        assert "intent" not in outcome, "the killed gateway answered"
        vault.rollback()
        vault.close()
        vault = None
        (intent_id,) = fenced

        assert gw.change_store(AGE_CLAIMS.format("?"), (key,)) == 1
        assert gw.change_store(AGE_ATTEMPT, (intent_id,)) == 1
        gw.restart()
        client = gw.client
        retried = client.v1.payment_intents.create(params, {"idempotency_key": key})
        assert retried.id == intent_id, "the retry made another intent instead of carrying on with the first"
        assert retried.status == "succeeded"
        assert _intents_and_charges(client, cus.id) == ([intent_id], [retried.latest_charge])
        # From now on the key replays the answer.
        replayed = client.v1.payment_intents.create(params, {"idempotency_key": key})
        assert json.loads(replayed.last_response.body) == json.loads(retried.last_response.body)
        assert "resuming a request whose process stopped before it answered" in gw.log_text()
    finally:
        if vault is not None:
            vault.close()
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
            f"UPDATE idempotency SET status = NULL, body = NULL, started_at = started_at - 120 "
            f"WHERE key IN (?, ?, ?)", keys) == 3
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
