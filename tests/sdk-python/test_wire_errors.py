"""Wire format: unknown parameters, invalid values, metadata limits, Request-Id
on every response, error shapes, encoding rules from STRIPE_WIRE.md."""

import re

import pytest
import requests
import stripe

from tessera_support import (
    REQUEST_ID_RE, assert_http_error, assert_request_id, card_details, create_card_pm,
    expect_sdk_error, http, ok_json, pay, plain, unique_email,
)


# ---------------------------------------------------------------- unknown parameters

def test_unknown_parameter_rejected_and_named(client):
    email = unique_email()
    err = expect_sdk_error(stripe.InvalidRequestError,
                           lambda: client.v1.customers.create({"email": email, "colour": "red"}),
                           status=400, type_="invalid_request_error", code="parameter_unknown", param="colour")
    assert "colour" in err["message"]
    assert client.v1.customers.list({"email": email}).data == [], "nothing was created"


@pytest.mark.parametrize("where", ["pi_create", "pi_confirm", "pi_capture", "pi_cancel", "pi_update",
                                   "refund_create", "pm_create", "pm_attach", "customer_update",
                                   "customers_list", "pi_list", "events_list", "charges_list", "refunds_list"])
def test_unknown_parameter_on_every_endpoint(client, where):
    """One unknown parameter per endpoint; it must be named in error.param."""
    bogus = {"zzz_unknown": "1"}
    if where == "pi_create":
        call = lambda: client.v1.payment_intents.create({"amount": 100, "currency": "usd", **bogus})
    elif where == "pi_confirm":
        pi = client.v1.payment_intents.create({"amount": 100, "currency": "usd"})
        call = lambda: client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa", **bogus})
    elif where == "pi_capture":
        pi = pay(client, "pm_card_visa", capture_method="manual")
        call = lambda: client.v1.payment_intents.capture(pi.id, bogus)
    elif where == "pi_cancel":
        pi = client.v1.payment_intents.create({"amount": 100, "currency": "usd"})
        call = lambda: client.v1.payment_intents.cancel(pi.id, bogus)
    elif where == "pi_update":
        pi = client.v1.payment_intents.create({"amount": 100, "currency": "usd"})
        call = lambda: client.v1.payment_intents.update(pi.id, bogus)
    elif where == "refund_create":
        pi = pay(client, "pm_card_visa")
        call = lambda: client.v1.refunds.create({"payment_intent": pi.id, **bogus})
    elif where == "pm_create":
        call = lambda: client.v1.payment_methods.create({"type": "card", "card": card_details("4242424242424242"),
                                                         **bogus})
    elif where == "pm_attach":
        cus = client.v1.customers.create()
        pm = create_card_pm(client, "4242424242424242")
        call = lambda: client.v1.payment_methods.attach(pm.id, {"customer": cus.id, **bogus})
    elif where == "customer_update":
        cus = client.v1.customers.create()
        call = lambda: client.v1.customers.update(cus.id, bogus)
    elif where == "customers_list":
        call = lambda: client.v1.customers.list(bogus)
    elif where == "pi_list":
        call = lambda: client.v1.payment_intents.list(bogus)
    elif where == "events_list":
        call = lambda: client.v1.events.list(bogus)
    elif where == "charges_list":
        call = lambda: client.v1.charges.list(bogus)
    else:
        call = lambda: client.v1.refunds.list(bogus)
    expect_sdk_error(stripe.InvalidRequestError, call, status=400, param="zzz_unknown", code="parameter_unknown")


def test_unknown_nested_parameters_named_with_brackets(client):
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_methods.create(
                         {"type": "card", "card": {**card_details("4242424242424242"), "colour": "red"}}),
                     status=400, param="card[colour]")
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_intents.create(
                         {"amount": 100, "currency": "usd",
                          "payment_method_options": {"card": {"request_three_d_secure": "any", "colour": "red"}}}),
                     status=400, param="payment_method_options[card][colour]")
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.customers.create({"address": {"line1": "x", "planet": "mars"}}),
                     status=400, param="address[planet]")


def test_rejected_payment_is_not_executed(client):
    cus = client.v1.customers.create()
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: pay(client, "pm_card_visa", customer=cus.id, zzz_unknown="1"), status=400)
    assert client.v1.payment_intents.list({"customer": cus.id}).data == []


# ---------------------------------------------------------------- invalid values

@pytest.mark.parametrize("params,param", [
    ({"currency": "usd"}, "amount"),
    ({"amount": 100}, "currency"),
])
def test_missing_required(client, params, param):
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.payment_intents.create(params),
                     status=400, param=param, code="parameter_missing")


@pytest.mark.parametrize("params,param", [
    ({"amount": "abc", "currency": "usd"}, "amount"),
    ({"amount": -1, "currency": "usd"}, "amount"),
    ({"amount": "12.5", "currency": "usd"}, "amount"),
    ({"amount": "99999999999999999999999", "currency": "usd"}, "amount"),
    ({"amount": 100, "currency": "zzz"}, "currency"),
    ({"amount": 100, "currency": "usd", "capture_method": "sometimes"}, "capture_method"),
    ({"amount": 100, "currency": "usd", "confirm": "maybe"}, "confirm"),
    ({"amount": 100, "currency": "usd", "customer": "cus_" + "m" * 24}, "customer"),
    ({"amount": 100, "currency": "usd", "payment_method_options": {"card": {"request_three_d_secure": "always"}}},
     "payment_method_options[card][request_three_d_secure]"),
])
def test_invalid_values_named(client, params, param):
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.payment_intents.create(params),
                     status=(400, 404) if param == "customer" else 400, param=param)


def test_created_filter_must_be_integer(client):
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_intents.list({"created": {"gte": "yesterday"}}),
                     status=400, param="created[gte]")


# ---------------------------------------------------------------- metadata limits

def _meta(n, key_len=8, value="v"):
    return {f"k{i:0{key_len - 1}d}": value for i in range(n)}


def test_metadata_50_keys_allowed_51_rejected(client):
    cus = client.v1.customers.create({"metadata": _meta(50)})
    assert len(plain(cus.metadata)) == 50
    err = expect_sdk_error(stripe.InvalidRequestError,
                           lambda: client.v1.customers.create({"metadata": _meta(51)}), status=400)
    assert (err.get("param") or "").startswith("metadata"), err
    # adding a 51st key by update is refused too, and changes nothing
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.customers.update(cus.id, {"metadata": {"extra": "x"}}), status=400)
    assert len(plain(client.v1.customers.retrieve(cus.id).metadata)) == 50
    # replacing one key keeps it at 50
    up = client.v1.customers.update(cus.id, {"metadata": {"k0000000": "", "extra": "x"}})
    assert len(plain(up.metadata)) == 50


def test_metadata_key_length(client):
    k40, k41 = "a" * 40, "b" * 41
    cus = client.v1.customers.create({"metadata": {k40: "ok"}})
    assert plain(cus.metadata) == {k40: "ok"}
    err = expect_sdk_error(stripe.InvalidRequestError,
                           lambda: client.v1.customers.create({"metadata": {k41: "x"}}), status=400)
    assert (err.get("param") or "").startswith("metadata"), err


def test_metadata_value_length(client):
    v500, v501 = "x" * 500, "y" * 501
    pi = client.v1.payment_intents.create({"amount": 100, "currency": "usd", "metadata": {"note": v500}})
    assert pi.metadata.note == v500
    err = expect_sdk_error(stripe.InvalidRequestError,
                           lambda: client.v1.payment_intents.create({"amount": 100, "currency": "usd",
                                                                     "metadata": {"note": v501}}), status=400)
    assert (err.get("param") or "").startswith("metadata"), err
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_intents.update(pi.id, {"metadata": {"note": v501}}), status=400)
    assert client.v1.payment_intents.retrieve(pi.id).metadata.note == v500


@pytest.mark.parametrize("resource", ["payment_methods", "refunds"])
def test_metadata_limits_on_other_resources(client, resource):
    if resource == "payment_methods":
        make = lambda md: client.v1.payment_methods.create({"type": "card", "card": card_details("4242424242424242"),
                                                            "metadata": md})
    else:
        pi = pay(client, "pm_card_visa", amount=1000)
        make = lambda md: client.v1.refunds.create({"payment_intent": pi.id, "amount": 1, "metadata": md})
    for bad in (_meta(51), {"c" * 41: "x"}, {"k": "z" * 501}):
        expect_sdk_error(stripe.InvalidRequestError, lambda: make(bad), status=400)
    assert len(plain(make(_meta(50)).metadata)) == 50


# ---------------------------------------------------------------- Request-Id and error shapes

def test_request_id_on_every_response(gw, client):
    cus = client.v1.customers.create()
    pi_ok = pay(client, "pm_card_visa")
    rk = gw.create_key("restricted", permissions=["customers=read"])
    responses = {
        "GET 200": http(gw, "GET", f"/v1/customers/{cus.id}", gw.secret_key),
        "GET list": http(gw, "GET", "/v1/customers", gw.secret_key, query={"limit": 1}),
        "POST 200": http(gw, "POST", "/v1/customers", gw.secret_key, {"name": "r"}),
        "DELETE 200": http(gw, "DELETE", f"/v1/customers/{cus.id}", gw.secret_key),
        "400": http(gw, "POST", "/v1/customers", gw.secret_key, {"colour": "red"}),
        "401 no key": http(gw, "GET", "/v1/customers"),
        "401 bad key": http(gw, "GET", "/v1/customers", "sk_test_" + "9" * 40),
        "402": http(gw, "POST", "/v1/payment_intents", gw.secret_key,
                    {"amount": 100, "currency": "usd", "payment_method": "pm_card_visa_chargeDeclined",
                     "confirm": True}),
        "403": http(gw, "POST", "/v1/customers", rk, {"name": "nope"}),
        "404 object": http(gw, "GET", "/v1/customers/cus_" + "x" * 24, gw.secret_key),
        "404 route": http(gw, "GET", "/v1/no_such_resource", gw.secret_key),
        "400 state": http(gw, "POST", f"/v1/payment_intents/{pi_ok.id}/capture", gw.secret_key, {}),
        "browser": http(gw, "GET", f"/v1/payment_intents/{pi_ok.id}",
                        query={"key": gw.publishable_key, "client_secret": pi_ok.client_secret}),
    }
    expected = {"GET 200": 200, "GET list": 200, "POST 200": 200, "DELETE 200": 200, "400": 400,
                "401 no key": 401, "401 bad key": 401, "402": 402, "403": 403, "404 object": 404,
                "404 route": 404, "400 state": 400, "browser": 200}
    ids = set()
    for name, r in responses.items():
        assert r.status_code == expected[name], f"{name}: HTTP {r.status_code} {r.text[:300]}"
        rid = assert_request_id(r.headers)
        ids.add(rid)
        assert r.headers.get("Content-Type", "").startswith("application/json"), name
        if r.status_code >= 400:
            assert_http_error(r, expected[name])
    assert len(ids) == len(responses), "every response gets its own Request-Id"


def test_sdk_exposes_request_ids(client):
    cus = client.v1.customers.create()
    assert REQUEST_ID_RE.fullmatch(cus.last_response.request_id)
    with pytest.raises(stripe.InvalidRequestError) as ei:
        client.v1.customers.retrieve("cus_" + "y" * 24)
    assert REQUEST_ID_RE.fullmatch(ei.value.request_id)


@pytest.mark.parametrize("status,type_,call", [
    (400, "invalid_request_error", lambda gw: http(gw, "POST", "/v1/payment_intents", gw.secret_key, {"amount": 5})),
    (402, "card_error", lambda gw: http(gw, "POST", "/v1/payment_methods", gw.secret_key,
                                         {"type": "card", "card": card_details("4242424242424242", exp_month=13)})),
    (404, "invalid_request_error", lambda gw: http(gw, "GET", "/v1/refunds/re_" + "n" * 24, gw.secret_key)),
    (401, "invalid_request_error", lambda gw: http(gw, "GET", "/v1/refunds", "rk_test_" + "n" * 40)),
])
def test_error_shape(gw, status, type_, call):
    r = call(gw)
    err = assert_http_error(r, status, type_=type_)
    # Stripe's error object fields; anything else (traces, internals) must not appear
    allowed = {"type", "code", "decline_code", "message", "param", "doc_url", "payment_intent",
               "payment_method", "payment_method_type", "setup_intent", "source", "charge", "advice_code",
               "network_advice_code", "network_decline_code", "request_log_url"}
    assert set(err) <= allowed, f"unexpected error fields: {set(err) - allowed}"
    for k in ("code", "param", "doc_url", "decline_code"):
        assert err.get(k) is None or isinstance(err[k], str)
    assert "Traceback" not in r.text and "panicked" not in r.text


def test_unknown_route_is_json_404(gw):
    r = http(gw, "POST", "/v1/teleport", gw.secret_key, {"a": "b"})
    assert_http_error(r, 404, type_="invalid_request_error")


def test_messages_do_not_echo_secrets(gw):
    bad = "sk_test_" + "Q7" * 20
    r = http(gw, "GET", "/v1/customers", bad)
    assert_http_error(r, 401)
    assert bad not in r.text
    r = http(gw, "POST", "/v1/customers", gw.secret_key, {"zzz": gw.secret_key})
    assert_http_error(r, 400, param="zzz")
    assert gw.secret_key not in r.text


# ---------------------------------------------------------------- encoding rules

def test_query_and_body_parameters_are_merged(gw):
    email = unique_email()
    r = requests.post(f"{gw.api}/v1/customers?email={email}", data={"name": "Merged"},
                      headers={"Authorization": f"Bearer {gw.secret_key}"}, timeout=20)
    body = ok_json(r)
    assert body["email"] == email
    assert body["name"] == "Merged"


def test_bodies_on_get_are_ignored(gw):
    r = requests.get(f"{gw.api}/v1/customers", data="colour=red",
                     headers={"Authorization": f"Bearer {gw.secret_key}",
                              "Content-Type": "application/x-www-form-urlencoded"}, timeout=20)
    assert ok_json(r)["object"] == "list"


def test_basic_auth(gw):
    r = http(gw, "GET", "/v1/customers", gw.secret_key, query={"limit": 1}, auth="basic")
    assert ok_json(r)["object"] == "list"


def test_percent_encoded_and_plain_brackets(gw):
    raw = f"name=Raw&metadata%5Border%5D=42&metadata[line]=7"
    r = requests.post(f"{gw.api}/v1/customers", data=raw,
                      headers={"Authorization": f"Bearer {gw.secret_key}",
                               "Content-Type": "application/x-www-form-urlencoded"}, timeout=20)
    body = ok_json(r)
    assert body["metadata"] == {"order": "42", "line": "7"}


def test_booleans_and_empty_values(gw, client):
    r = http(gw, "POST", "/v1/payment_intents", gw.secret_key,
             [("amount", "700"), ("currency", "usd"), ("payment_method", "pm_card_visa"), ("confirm", "true"),
              ("description", "")])
    body = ok_json(r)
    assert body["status"] == "succeeded"
    assert body["description"] is None
    cus = client.v1.customers.create({"description": "d", "metadata": {"a": "1"}})
    body = ok_json(http(gw, "POST", f"/v1/customers/{cus.id}", gw.secret_key,
                        [("description", ""), ("metadata", "")]))
    assert body["description"] is None
    assert body["metadata"] == {}


def test_malformed_bodies_are_4xx_not_5xx(gw):
    for raw in ("metadata[a=1", "amount=%ZZ&currency=usd", "a[b][c][d][e][f][g][h][i][j]=1",
                "\x00\x01\x02"):
        r = requests.post(f"{gw.api}/v1/payment_intents", data=raw.encode("latin-1"),
                          headers={"Authorization": f"Bearer {gw.secret_key}",
                                   "Content-Type": "application/x-www-form-urlencoded"}, timeout=20)
        assert 400 <= r.status_code < 500, f"{raw!r}: HTTP {r.status_code} {r.text[:200]}"
        assert_http_error(r, r.status_code, type_="invalid_request_error")
