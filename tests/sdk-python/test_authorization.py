"""Who may call what: secret, publishable, restricted (with and without the
permission), unknown, revoked and other accounts' keys."""

import pytest
import stripe

from tessera_support import (
    assert_http_error, browser_get, browser_post, card_details, create_card_pm, expect_sdk_error,
    find_event, http, ok_json, pay, unique_email,
)


# ---------------------------------------------------------------- unknown, missing, revoked

@pytest.mark.parametrize("key", ["sk_test_" + "A1" * 20, "rk_test_" + "B2" * 20,
                                 "pk_test_" + "D4" * 20, "not-a-key"])
def test_unknown_key_is_401(gw, key):
    c = gw.sdk(key)
    expect_sdk_error(stripe.AuthenticationError, lambda: c.v1.customers.list(), status=401)
    expect_sdk_error(stripe.AuthenticationError,
                     lambda: c.v1.payment_intents.create({"amount": 100, "currency": "usd"}), status=401)


def test_missing_or_malformed_authorization_is_401(gw):
    assert_http_error(http(gw, "GET", "/v1/customers"), 401)
    assert_http_error(http(gw, "GET", "/v1/customers", headers={"Authorization": "Bearer"}), 401)
    assert_http_error(http(gw, "GET", "/v1/customers", headers={"Authorization": "Token " + gw.secret_key}), 401)
    assert_http_error(http(gw, "GET", "/v1/customers", headers={"Authorization": "Basic !!!"}), 401)


def test_unknown_key_on_existing_object_reveals_nothing(gw, client):
    cus = client.v1.customers.create()
    bad = gw.sdk("sk_test_" + "Z9" * 20)
    e1 = expect_sdk_error(stripe.AuthenticationError, lambda: bad.v1.customers.retrieve(cus.id), status=401)
    e2 = expect_sdk_error(stripe.AuthenticationError, lambda: bad.v1.customers.retrieve(_lookalike(cus.id)),
                          status=401)
    assert _norm(e1, cus.id) == _norm(e2, _lookalike(cus.id))


def test_revoked_secret_key_is_401(gw):
    key = gw.create_key("secret")
    c = gw.sdk(key)
    cus = c.v1.customers.create({"email": unique_email()})
    gw.revoke_key(key)
    expect_sdk_error(stripe.AuthenticationError, lambda: c.v1.customers.retrieve(cus.id), status=401)
    expect_sdk_error(stripe.AuthenticationError, lambda: c.v1.customers.create(), status=401)
    # the account's other keys keep working
    assert gw.client.v1.customers.retrieve(cus.id).id == cus.id


def test_revoked_publishable_key_is_401(gw):
    pk = gw.create_key("publishable")
    assert pk.startswith("pk_test_")
    body = {"type": "card", "card": card_details("4242424242424242")}
    assert ok_json(browser_post(gw, "/v1/payment_methods", body, pk))["object"] == "payment_method"
    gw.revoke_key(pk)
    assert_http_error(browser_post(gw, "/v1/payment_methods", body, pk), 401)


def test_revoked_restricted_key_is_401(gw):
    rk = gw.create_key("restricted", permissions=["customers=read"])
    c = gw.sdk(rk)
    c.v1.customers.list()
    gw.revoke_key(rk)
    expect_sdk_error(stripe.AuthenticationError, lambda: c.v1.customers.list(), status=401)


# ---------------------------------------------------------------- other accounts

def _lookalike(object_id):
    """A well-formed id of the same kind that does not exist: the real id with its tail changed."""
    tail = object_id[-4:]
    return object_id[:-4] + ("Zq7x" if tail != "Zq7x" else "Wp3y")


def _norm(err, object_id):
    """An error body with the requested id blanked, for comparing two errors."""
    e = dict(err)
    for k in ("message", "doc_url"):
        if isinstance(e.get(k), str):
            e[k] = e[k].replace(object_id, "<id>")
    return e


@pytest.fixture(scope="module")
def objects(gw):
    """One object of each kind in the main account."""
    client = gw.client
    cus = client.v1.customers.create({"email": unique_email()})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    pi = pay(client, pm.id, amount=1800, customer=cus.id)
    refund = client.v1.refunds.create({"payment_intent": pi.id, "amount": 100})
    open_pi = client.v1.payment_intents.create({"amount": 900, "currency": "usd"})
    auth_pi = pay(client, "pm_card_visa", amount=900, capture_method="manual")
    detached_pm = create_card_pm(client, "4242424242424242")
    ev = find_event(client, "customer.created", cus.id)
    return dict(cus=cus, pm=pm, pi=pi, refund=refund, open_pi=open_pi, auth_pi=auth_pi,
                detached_pm=detached_pm, ch=pi.latest_charge, evt=ev.id)


READS = [
    ("customer", "cus", lambda c, o: c.v1.customers.retrieve(o)),
    ("payment_intent", "pi", lambda c, o: c.v1.payment_intents.retrieve(o)),
    ("payment_method", "pm", lambda c, o: c.v1.payment_methods.retrieve(o)),
    ("charge", "ch", lambda c, o: c.v1.charges.retrieve(o)),
    ("refund", "refund", lambda c, o: c.v1.refunds.retrieve(o)),
    ("event", "evt", lambda c, o: c.v1.events.retrieve(o)),
]


def _oid(objects, name):
    v = objects[name]
    return v if isinstance(v, str) else v.id


@pytest.mark.parametrize("kind,name,call", READS, ids=[r[0] for r in READS])
def test_other_account_cannot_read_and_learns_nothing(other_client, objects, kind, name, call):
    oid = _oid(objects, name)
    fake = _lookalike(oid)
    e_real = expect_sdk_error(stripe.InvalidRequestError, lambda: call(other_client, oid),
                              status=404, code="resource_missing")
    e_fake = expect_sdk_error(stripe.InvalidRequestError, lambda: call(other_client, fake),
                              status=404, code="resource_missing")
    assert _norm(e_real, oid) == _norm(e_fake, fake), "an existing object in another account looks missing"


WRITES = [
    ("customer_update", lambda c, o: c.v1.customers.update(o["cus"].id, {"name": "x"})),
    ("customer_delete", lambda c, o: c.v1.customers.delete(o["cus"].id)),
    ("pi_update", lambda c, o: c.v1.payment_intents.update(o["open_pi"].id, {"amount": 1})),
    ("pi_confirm", lambda c, o: c.v1.payment_intents.confirm(o["open_pi"].id, {"payment_method": "pm_card_visa"})),
    ("pi_cancel", lambda c, o: c.v1.payment_intents.cancel(o["open_pi"].id)),
    ("pi_capture", lambda c, o: c.v1.payment_intents.capture(o["auth_pi"].id)),
    ("refund_create", lambda c, o: c.v1.refunds.create({"payment_intent": o["pi"].id, "amount": 1})),
    ("refund_by_charge", lambda c, o: c.v1.refunds.create({"charge": o["ch"], "amount": 1})),
    ("refund_update", lambda c, o: c.v1.refunds.update(o["refund"].id, {"metadata": {"a": "b"}})),
    ("pm_attach", lambda c, o: c.v1.payment_methods.attach(o["detached_pm"].id,
                                                           {"customer": c.v1.customers.create().id})),
    ("pm_detach", lambda c, o: c.v1.payment_methods.detach(o["pm"].id)),
    ("pi_with_their_customer", lambda c, o: c.v1.payment_intents.create(
        {"amount": 100, "currency": "usd", "customer": o["cus"].id})),
    ("pi_with_their_pm", lambda c, o: c.v1.payment_intents.create(
        {"amount": 100, "currency": "usd", "payment_method": o["detached_pm"].id, "confirm": True})),
    ("customer_pms", lambda c, o: c.v1.customers.payment_methods.list(o["cus"].id)),
]


@pytest.mark.parametrize("name,call", WRITES, ids=[w[0] for w in WRITES])
def test_other_account_cannot_touch(client, other_client, objects, name, call):
    expect_sdk_error(stripe.InvalidRequestError, lambda: call(other_client, objects),
                     status=(404,) if name not in ("pi_with_their_customer", "pi_with_their_pm") else (400, 404),
                     code="resource_missing")
    # nothing changed in the owner's account
    o = objects
    assert client.v1.customers.retrieve(o["cus"].id).name is None
    assert client.v1.payment_intents.retrieve(o["open_pi"].id).status == "requires_payment_method"
    assert client.v1.payment_intents.retrieve(o["open_pi"].id).amount == 900
    assert client.v1.payment_intents.retrieve(o["auth_pi"].id).status == "requires_capture"
    assert client.v1.charges.retrieve(o["ch"]).amount_refunded == 100
    assert client.v1.payment_methods.retrieve(o["pm"].id).customer == o["cus"].id
    assert client.v1.payment_methods.retrieve(o["detached_pm"].id).customer is None


def test_other_account_lists_do_not_include_ours(other_client, objects):
    cus_ids = [c.id for c in other_client.v1.customers.list({"limit": 100}).auto_paging_iter()]
    assert objects["cus"].id not in cus_ids
    assert other_client.v1.customers.list({"email": objects["cus"].email}).data == []
    assert objects["pi"].id not in [p.id for p in other_client.v1.payment_intents.list({"limit": 100}).data]
    assert objects["ch"] not in [c.id for c in other_client.v1.charges.list({"limit": 100}).data]
    assert objects["refund"].id not in [r.id for r in other_client.v1.refunds.list({"limit": 100}).data]
    assert objects["evt"] not in [e.id for e in other_client.v1.events.list({"limit": 100}).data]


def test_other_accounts_publishable_key_with_our_client_secret(gw, client, other_account):
    pi = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    r = browser_get(gw, f"/v1/payment_intents/{pi.id}", {"client_secret": pi.client_secret},
                    other_account.publishable_key)
    assert_http_error(r, 404, code="resource_missing")
    r = browser_post(gw, f"/v1/payment_intents/{pi.id}/confirm",
                     {"client_secret": pi.client_secret, "payment_method": "pm_card_visa"},
                     other_account.publishable_key)
    assert_http_error(r, 404, code="resource_missing")
    assert client.v1.payment_intents.retrieve(pi.id).status == "requires_payment_method"


# ---------------------------------------------------------------- publishable keys

def test_publishable_key_browser_calls_allowed(gw, client):
    pi = client.v1.payment_intents.create({"amount": 1111, "currency": "usd"})
    pm = ok_json(browser_post(gw, "/v1/payment_methods", {"type": "card", "card": card_details("4242424242424242")},
                              gw.publishable_key))
    got = ok_json(browser_get(gw, f"/v1/payment_intents/{pi.id}", {"client_secret": pi.client_secret},
                              gw.publishable_key))
    assert got["id"] == pi.id
    done = ok_json(browser_post(gw, f"/v1/payment_intents/{pi.id}/confirm",
                                {"client_secret": pi.client_secret, "payment_method": pm["id"]},
                                gw.publishable_key))
    assert done["status"] == "succeeded"
    assert done["amount"] == 1111
    assert client.v1.payment_intents.retrieve(pi.id).status == "succeeded"


def test_publishable_key_via_sdk_confirm_with_client_secret(gw, client):
    pi = client.v1.payment_intents.create({"amount": 1212, "currency": "usd"})
    pk = gw.sdk(gw.publishable_key)
    done = pk.v1.payment_intents.confirm(pi.id, {"client_secret": pi.client_secret, "payment_method": "pm_card_visa"})
    assert done.status == "succeeded"
    assert client.v1.payment_intents.retrieve(pi.id).amount_received == 1212


def _pk_refusal(resp, path):
    # Secret-only resources: 401/403. A PaymentIntent addressed without (or
    # beyond) what its client secret allows may also look missing (404) or be
    # a bad request (400); either way no data comes back and nothing happens.
    allowed = (400, 401, 403, 404) if path.startswith("/v1/payment_intents/") else (401, 403)
    assert resp.status_code in allowed, f"publishable key was not refused: HTTP {resp.status_code} {resp.text[:300]}"
    assert_http_error(resp, resp.status_code)
    assert '"amount"' not in resp.text and '"email"' not in resp.text


@pytest.fixture(scope="module")
def pk_targets(gw):
    client = gw.client
    cus = client.v1.customers.create({"email": unique_email()})
    pi = client.v1.payment_intents.create({"amount": 800, "currency": "usd"})
    paid = pay(client, "pm_card_visa", amount=800, capture_method="manual")
    pm = create_card_pm(client, "4242424242424242")
    return dict(cus=cus, pi=pi, paid=paid, pm=pm)


SECRET_ONLY = [
    ("customers_create", "POST", lambda t: "/v1/customers", lambda t: {"email": "pk@example.com"}),
    ("customers_list", "GET", lambda t: "/v1/customers", lambda t: {}),
    ("customers_retrieve", "GET", lambda t: f"/v1/customers/{t['cus'].id}", lambda t: {}),
    ("customers_update", "POST", lambda t: f"/v1/customers/{t['cus'].id}", lambda t: {"name": "pk"}),
    ("customers_delete", "DELETE", lambda t: f"/v1/customers/{t['cus'].id}", lambda t: {}),
    ("pi_create", "POST", lambda t: "/v1/payment_intents", lambda t: {"amount": 1, "currency": "usd"}),
    ("pi_list", "GET", lambda t: "/v1/payment_intents", lambda t: {}),
    ("pi_retrieve_without_secret", "GET", lambda t: f"/v1/payment_intents/{t['pi'].id}", lambda t: {}),
    ("pi_update", "POST", lambda t: f"/v1/payment_intents/{t['pi'].id}",
     lambda t: {"client_secret": t["pi"].client_secret, "description": "pk"}),
    ("pi_confirm_without_secret", "POST", lambda t: f"/v1/payment_intents/{t['pi'].id}/confirm",
     lambda t: {"payment_method": "pm_card_visa"}),
    ("pi_capture", "POST", lambda t: f"/v1/payment_intents/{t['paid'].id}/capture",
     lambda t: {"client_secret": t["paid"].client_secret}),
    ("pi_cancel", "POST", lambda t: f"/v1/payment_intents/{t['pi'].id}/cancel",
     lambda t: {"client_secret": t["pi"].client_secret}),
    ("pm_retrieve", "GET", lambda t: f"/v1/payment_methods/{t['pm'].id}", lambda t: {}),
    ("pm_list", "GET", lambda t: "/v1/payment_methods", lambda t: {"customer": t["cus"].id}),
    ("pm_attach", "POST", lambda t: f"/v1/payment_methods/{t['pm'].id}/attach", lambda t: {"customer": t["cus"].id}),
    ("charges_list", "GET", lambda t: "/v1/charges", lambda t: {}),
    ("charges_retrieve", "GET", lambda t: f"/v1/charges/{t['paid'].latest_charge}", lambda t: {}),
    ("refunds_create", "POST", lambda t: "/v1/refunds", lambda t: {"payment_intent": t["paid"].id}),
    ("refunds_list", "GET", lambda t: "/v1/refunds", lambda t: {}),
    ("events_list", "GET", lambda t: "/v1/events", lambda t: {}),
]


@pytest.mark.parametrize("name,method,path,params", SECRET_ONLY, ids=[s[0] for s in SECRET_ONLY])
def test_publishable_key_refused_on_secret_calls(gw, client, pk_targets, name, method, path, params):
    p, body = path(pk_targets), params(pk_targets)
    # as tessera.js would send it (key= in the body / query) ...
    if method == "GET":
        _pk_refusal(browser_get(gw, p, body, gw.publishable_key), p)
    elif method == "POST":
        _pk_refusal(browser_post(gw, p, body, gw.publishable_key), p)
    # ... and as a bearer token
    _pk_refusal(http(gw, method, p, gw.publishable_key, body if method == "POST" else None,
                     query=body if method != "POST" else None), p)
    t = pk_targets
    assert client.v1.customers.retrieve(t["cus"].id).name is None
    assert client.v1.payment_intents.retrieve(t["pi"].id).status == "requires_payment_method"
    assert client.v1.payment_intents.retrieve(t["paid"].id).status == "requires_capture"
    assert client.v1.payment_methods.retrieve(t["pm"].id).customer is None
    assert client.v1.customers.list({"email": "pk@example.com"}).data == []


def test_publishable_key_with_wrong_client_secret_reveals_nothing(gw, client):
    pi = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    other = client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    fake_id = _lookalike(pi.id)
    wrong = browser_get(gw, f"/v1/payment_intents/{pi.id}", {"client_secret": other.client_secret},
                        gw.publishable_key)
    forged = browser_get(gw, f"/v1/payment_intents/{pi.id}", {"client_secret": pi.id + "_secret_forged000000"},
                         gw.publishable_key)
    missing = browser_get(gw, f"/v1/payment_intents/{fake_id}", {"client_secret": fake_id + "_secret_forged000000"},
                          gw.publishable_key)
    assert wrong.status_code == forged.status_code == missing.status_code
    assert 400 <= wrong.status_code < 500
    ew = assert_http_error(wrong, wrong.status_code)
    ef = assert_http_error(forged, forged.status_code)
    em = assert_http_error(missing, missing.status_code)
    assert (ew["type"], ew.get("code")) == (ef["type"], ef.get("code")) == (em["type"], em.get("code"))
    assert _norm(ef, pi.id) == _norm(em, fake_id)
    assert '"amount"' not in wrong.text and '"amount"' not in forged.text
    r = browser_post(gw, f"/v1/payment_intents/{pi.id}/confirm",
                     {"client_secret": other.client_secret, "payment_method": "pm_card_visa"}, gw.publishable_key)
    assert 400 <= r.status_code < 500
    assert client.v1.payment_intents.retrieve(pi.id).status == "requires_payment_method"
    assert client.v1.payment_intents.retrieve(other.id).status == "requires_payment_method"


# ---------------------------------------------------------------- restricted keys

def test_restricted_key_read_permission(gw, client):
    cus = client.v1.customers.create({"email": unique_email()})
    rk = gw.create_key("restricted", permissions=["customers=read"])
    assert rk.startswith("rk_test_")
    c = gw.sdk(rk)
    assert c.v1.customers.retrieve(cus.id).id == cus.id
    assert c.v1.customers.list({"email": cus.email}).data[0].id == cus.id
    expect_sdk_error(stripe.PermissionError, lambda: c.v1.customers.create(), status=403)
    expect_sdk_error(stripe.PermissionError, lambda: c.v1.customers.update(cus.id, {"name": "x"}), status=403)
    expect_sdk_error(stripe.PermissionError, lambda: c.v1.customers.delete(cus.id), status=403)
    expect_sdk_error(stripe.PermissionError, lambda: c.v1.payment_intents.list(), status=403)
    expect_sdk_error(stripe.PermissionError,
                     lambda: c.v1.payment_intents.create({"amount": 100, "currency": "usd"}), status=403)
    assert client.v1.customers.retrieve(cus.id).name is None


def test_restricted_key_write_permission(gw, client):
    rk = gw.create_key("restricted", permissions=["customers=write"])
    c = gw.sdk(rk)
    cus = c.v1.customers.create({"email": unique_email()})
    assert c.v1.customers.update(cus.id, {"name": "W"}).name == "W"
    assert c.v1.customers.retrieve(cus.id).name == "W", "write implies read"
    assert client.v1.customers.retrieve(cus.id).name == "W"
    expect_sdk_error(stripe.PermissionError, lambda: c.v1.refunds.list(), status=403)


def test_restricted_key_payments(gw, client):
    rk = gw.create_key("restricted", permissions=["payment_intents=write", "payment_methods=write"])
    c = gw.sdk(rk)
    pi = c.v1.payment_intents.create({"amount": 1300, "currency": "usd", "payment_method": "pm_card_visa",
                                      "confirm": True})
    assert pi.status == "succeeded"
    assert c.v1.payment_intents.retrieve(pi.id).amount_received == 1300
    expect_sdk_error(stripe.PermissionError, lambda: c.v1.refunds.create({"payment_intent": pi.id}), status=403)
    expect_sdk_error(stripe.PermissionError, lambda: c.v1.charges.retrieve(pi.latest_charge), status=403)
    expect_sdk_error(stripe.PermissionError, lambda: c.v1.customers.list(), status=403)
    assert client.v1.charges.retrieve(pi.latest_charge).amount_refunded == 0

    rk2 = gw.create_key("restricted", permissions=["refunds=write", "charges=read"])
    c2 = gw.sdk(rk2)
    assert c2.v1.charges.retrieve(pi.latest_charge).id == pi.latest_charge
    r = c2.v1.refunds.create({"payment_intent": pi.id, "amount": 300})
    assert r.amount == 300
    expect_sdk_error(stripe.PermissionError,
                     lambda: c2.v1.payment_intents.create({"amount": 100, "currency": "usd"}), status=403)
    expect_sdk_error(stripe.PermissionError, lambda: c2.v1.payment_intents.capture(pi.id), status=403)


def test_restricted_key_events(gw):
    c = gw.sdk(gw.create_key("restricted", permissions=["events=read"]))
    assert c.v1.events.list({"limit": 1}).object == "list"
    expect_sdk_error(stripe.PermissionError, lambda: c.v1.customers.list(), status=403)


def test_restricted_key_without_any_permission(gw, client):
    cus = client.v1.customers.create()
    c = gw.sdk(gw.create_key("restricted"))
    for call in (lambda: c.v1.customers.list(), lambda: c.v1.customers.retrieve(cus.id),
                 lambda: c.v1.payment_intents.create({"amount": 1, "currency": "usd"}),
                 lambda: c.v1.events.list(), lambda: c.v1.refunds.list(), lambda: c.v1.charges.list(),
                 lambda: c.v1.payment_methods.create({"type": "card", "card": card_details("4242424242424242")})):
        expect_sdk_error(stripe.PermissionError, call, status=403)


def test_restricted_key_of_other_account_gets_404(gw, client, other_account):
    cus = client.v1.customers.create()
    c = gw.sdk(gw.create_key("restricted", account_id=other_account.account_id, permissions=["customers=read"]))
    expect_sdk_error(stripe.InvalidRequestError, lambda: c.v1.customers.retrieve(cus.id), status=404,
                     code="resource_missing")
