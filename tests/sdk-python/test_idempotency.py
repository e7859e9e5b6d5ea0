"""Idempotent requests: replay, conflicts, scope, what is (not) stored."""

import json
import uuid

import stripe

from tessera_support import assert_request_id, expect_sdk_error, http, ok_json, pay, unique_email


def _key():
    return "idem-" + uuid.uuid4().hex


def test_same_key_same_object(client):
    key = _key()
    email = unique_email()
    a = client.v1.customers.create({"email": email, "metadata": {"n": "1"}}, {"idempotency_key": key})
    b = client.v1.customers.create({"email": email, "metadata": {"n": "1"}}, {"idempotency_key": key})
    assert a.id == b.id
    assert json.loads(a.last_response.body) == json.loads(b.last_response.body)
    assert [c.id for c in client.v1.customers.list({"email": email}).data] == [a.id], "only one object created"


def test_replay_of_a_payment_does_not_charge_twice(client):
    key = _key()
    cus = client.v1.customers.create({"email": unique_email()})
    params = {"amount": 2100, "currency": "usd", "customer": cus.id, "payment_method": "pm_card_visa", "confirm": True}
    a = client.v1.payment_intents.create(params, {"idempotency_key": key})
    b = client.v1.payment_intents.create(params, {"idempotency_key": key})
    assert a.id == b.id
    assert a.latest_charge == b.latest_charge
    assert [p.id for p in client.v1.payment_intents.list({"customer": cus.id}).data] == [a.id]
    assert len(client.v1.charges.list({"customer": cus.id}).data) == 1


def test_same_key_other_parameters_is_idempotency_error(client):
    key = _key()
    client.v1.customers.create({"email": unique_email()}, {"idempotency_key": key})
    expect_sdk_error(stripe.IdempotencyError,
                     lambda: client.v1.customers.create({"email": unique_email()}, {"idempotency_key": key}),
                     status=400, type_="idempotency_error")


def test_same_key_other_endpoint_is_idempotency_error(client):
    key = _key()
    client.v1.customers.create({}, {"idempotency_key": key})
    expect_sdk_error(stripe.IdempotencyError,
                     lambda: client.v1.payment_intents.create({"amount": 100, "currency": "usd"},
                                                              {"idempotency_key": key}),
                     status=400, type_="idempotency_error")


def test_failed_payment_is_replayed_not_retried(client):
    pi = client.v1.payment_intents.create({"amount": 2200, "currency": "usd"})
    key = _key()
    params = {"payment_method": "pm_card_visa_chargeDeclined"}
    e1 = expect_sdk_error(stripe.CardError, lambda: client.v1.payment_intents.confirm(pi.id, params, {"idempotency_key": key}),
                          status=402, code="card_declined")
    e2 = expect_sdk_error(stripe.CardError, lambda: client.v1.payment_intents.confirm(pi.id, params, {"idempotency_key": key}),
                          status=402, code="card_declined")
    assert e1 == e2, "the stored failure is replayed as is"
    assert len(client.v1.charges.list({"payment_intent": pi.id}).data) == 1, "the replay made no new attempt"


def test_rejected_request_stores_nothing(client):
    key = _key()
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.customers.create({"email": unique_email(), "colour": "red"},
                                                        {"idempotency_key": key}),
                     status=400, param="colour")
    cus = client.v1.customers.create({"email": unique_email()}, {"idempotency_key": key})
    assert cus.id.startswith("cus_")


def test_unauthenticated_request_stores_nothing(gw, client):
    key = _key()
    r = http(gw, "POST", "/v1/customers", "sk_test_" + "0" * 40, {"name": "x"}, headers={"Idempotency-Key": key})
    assert r.status_code == 401
    assert client.v1.customers.create({"name": "y"}, {"idempotency_key": key}).name == "y"


def test_keys_are_scoped_to_the_account(client, other_client):
    key = _key()
    a = client.v1.customers.create({"name": "a"}, {"idempotency_key": key})
    b = other_client.v1.customers.create({"name": "a"}, {"idempotency_key": key})
    assert a.id != b.id
    expect_sdk_error(stripe.InvalidRequestError, lambda: other_client.v1.customers.retrieve(a.id), status=404)


def test_get_and_delete_ignore_the_header(client):
    key = _key()
    cus = client.v1.customers.create({"name": "g"}, {"idempotency_key": key})
    got = client.v1.customers.retrieve(cus.id, options={"idempotency_key": key})
    assert got.id == cus.id
    lst = client.v1.customers.list({"limit": 1}, {"idempotency_key": key})
    assert lst.object == "list"
    other = client.v1.customers.create()
    d = client.v1.customers.delete(other.id, options={"idempotency_key": key})
    assert d.deleted is True and d.id == other.id


def test_long_keys(gw, client):
    k255 = "k" * 255
    a = client.v1.customers.create({"name": "long"}, {"idempotency_key": k255})
    b = client.v1.customers.create({"name": "long"}, {"idempotency_key": k255})
    assert a.id == b.id
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.customers.create({"name": "too long"}, {"idempotency_key": "k" * 256}),
                     status=400)


def test_sdk_sends_a_key_on_every_post_and_each_is_distinct(client):
    a = client.v1.customers.create({"name": "same"})
    b = client.v1.customers.create({"name": "same"})
    assert a.id != b.id, "distinct generated keys make distinct objects"
    ka, kb = a.last_response.idempotency_key, b.last_response.idempotency_key
    if ka is not None and kb is not None:  # echoed back by the server
        assert ka != kb


def test_replay_keeps_the_original_response_headers_sane(gw):
    key = _key()
    email = unique_email()
    r1 = http(gw, "POST", "/v1/customers", gw.secret_key, {"email": email}, headers={"Idempotency-Key": key})
    r2 = http(gw, "POST", "/v1/customers", gw.secret_key, {"email": email}, headers={"Idempotency-Key": key})
    b1, b2 = ok_json(r1), ok_json(r2)
    assert b1 == b2
    assert r1.status_code == r2.status_code == 200
    assert_request_id(r2.headers)


def test_concurrent_requests_with_one_key_pay_once(client):
    # Eight copies of one payment at once, one key: one executes, the others are told it
    # is in flight (the SDK retries a 409) or are answered its stored response.
    import threading
    key = _key()
    cus = client.v1.customers.create({"email": unique_email()})
    params = {"amount": 2300, "currency": "usd", "customer": cus.id, "payment_method": "pm_card_visa", "confirm": True}
    start = threading.Barrier(8)
    ids, errors = [], []

    def one():
        start.wait()
        try:
            ids.append(client.v1.payment_intents.create(params, {"idempotency_key": key}).id)
        except stripe.StripeError as e:
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert ids, f"no copy succeeded: {errors}"
    assert len(set(ids)) == 1, f"one key paid more than once: {sorted(set(ids))}"
    for e in errors:
        assert e.http_status == 409, f"a copy failed with something other than 'in flight': {e!r}"
    assert [p.id for p in client.v1.payment_intents.list({"customer": cus.id}).data] == [ids[0]]
    assert len(client.v1.charges.list({"customer": cus.id}).data) == 1


def test_a_key_expires_after_a_day_and_may_then_be_used_again():
    """A stored answer is replayed for 24 hours; the gateway then deletes the key's
    record (every minute, and once at start), and the key makes a new request. Two days
    are made to pass by ageing one record in the store file while the gateway is stopped."""
    from conftest import Gateway

    gw = Gateway()
    try:
        old_key, young_key = _key(), _key()
        old = gw.client.v1.customers.create({"name": "old"}, {"idempotency_key": old_key})
        young = gw.client.v1.customers.create({"name": "young"}, {"idempotency_key": young_key})
        gw.stop()
        assert gw.change_store("UPDATE idempotency SET started_at = started_at - 2 * 86400 WHERE key = ?",
                               (old_key,)) == 1
        gw.restart()
        kept = gw.poll_store_values("SELECT key FROM idempotency WHERE key IN (?, ?)", (old_key, young_key),
                                    until=lambda keys: old_key not in keys)
        assert kept == {young_key}, "the day-old key expired, the younger one is kept"
        again = gw.client.v1.customers.create({"name": "old"}, {"idempotency_key": old_key})
        assert again.id != old.id, "an expired key makes a new request"
        replay = gw.client.v1.customers.create({"name": "young"}, {"idempotency_key": young_key})
        assert replay.id == young.id, "a key younger than a day is still replayed"
        assert "expired idempotency keys older than a day" in gw.log_text()
    finally:
        gw.stop()
        gw.cleanup()


def test_a_payments_answers_replay_byte_for_byte(gw):
    # The two requests of a payment (a new PaymentMethod, an intent created and
    # confirmed), and an answer expanded: each replay is the first answer, byte for byte.
    def twice(path, params):
        key = _key()
        first = http(gw, "POST", path, gw.secret_key, params, headers={"Idempotency-Key": key})
        again = http(gw, "POST", path, gw.secret_key, params, headers={"Idempotency-Key": key})
        assert first.status_code == again.status_code == 200, first.text[:400]
        assert "idempotent-replayed" not in first.headers
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.content == first.content
        return first.json()

    pm = twice("/v1/payment_methods", {"type": "card", "card[number]": "4242424242424242",
                                        "card[exp_month]": "12", "card[exp_year]": "2034", "card[cvc]": "123"})
    assert pm["object"] == "payment_method"
    pi = twice("/v1/payment_intents", {"amount": 1500, "currency": "usd", "payment_method": pm["id"],
                                       "confirm": "true"})
    assert pi["status"] == "succeeded" and isinstance(pi["latest_charge"], str)
    expanded = twice("/v1/payment_intents", {"amount": 1600, "currency": "usd", "payment_method": "pm_card_visa",
                                             "confirm": "true", "expand[]": "latest_charge"})
    assert expanded["latest_charge"]["object"] == "charge"
