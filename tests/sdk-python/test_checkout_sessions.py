"""Checkout Sessions, payment mode (/v1/checkout/sessions): amounts computed from the
line items on the server, the session's PaymentIntent created with it, retrieve, list
with filters, line items, expire, completion when the intent is paid (with
checkout.session.completed in the same write), validation naming the parameter, and
key permissions.

Expiry at `expires_at` is not exercised here: Stripe's bounds keep a session open at
least 30 minutes. The scheduled job that does it is unit-tested in
crates/api/src/resources/checkout_sessions.rs (expires and cancels the intent, leaves a
completed session alone, waits for a payment under way)."""

import time

import pytest
import stripe

from tessera_support import (
    assert_http_error, assert_id, create_card_pm, expect_sdk_error, field, find_event,
    http, ok_json, submit_challenge,
)

SUCCESS_URL = "https://shop.example/thanks?session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://shop.example/cart"


def item(name, unit_amount, quantity, currency="usd", description=None):
    product = {"name": name}
    if description is not None:
        product["description"] = description
    return {"price_data": {"currency": currency, "unit_amount": unit_amount, "product_data": product},
            "quantity": quantity}


def basket(**extra):
    params = {
        "mode": "payment",
        "line_items": [item("T-shirt", 1500, 2), item("Sticker", 500, 1, description="Holographic")],
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
    }
    params.update(extra)
    return params


@pytest.fixture
def account(gw):
    """A fresh account: lists and events of these tests see only their own sessions."""
    acct = gw.create_account()
    return acct, gw.sdk(acct.secret_key)


def test_create_computes_amounts_and_creates_the_intent(gw, client):
    cs = client.v1.checkout.sessions.create(basket(
        customer_email="jenny@example.com",
        client_reference_id="order-42",
        metadata={"order": "42"},
        payment_intent_data={"description": "Order 42", "metadata": {"order": "42"}},
    ))
    assert_id(cs.id, "cs_test_")
    assert cs.object == "checkout.session"
    assert cs.mode == "payment"
    assert cs.amount_subtotal == 3500
    assert cs.amount_total == 3500
    assert cs.currency == "usd"
    assert cs.status == "open"
    assert cs.payment_status == "unpaid"
    assert cs.payment_method_types == ["card"]
    assert cs.livemode is False
    assert isinstance(cs.url, str) and cs.url.startswith("http") and cs.url.endswith(f"/checkout/{cs.id}")
    # The placeholder is kept for Checkout to fill in on the way back.
    assert cs.success_url == SUCCESS_URL
    assert cs.cancel_url == CANCEL_URL
    assert cs.customer_email == "jenny@example.com"
    assert cs.client_reference_id == "order-42"
    assert cs.metadata.to_dict() == {"order": "42"}
    assert abs(cs.expires_at - (cs.created + 24 * 3600)) <= 5, "default expiry is 24 hours"
    assert "line_items" not in cs, "line items are listed separately, not included by default"

    pi = client.v1.payment_intents.retrieve(cs.payment_intent)
    assert pi.amount == 3500
    assert pi.currency == "usd"
    assert pi.status == "requires_payment_method"
    assert pi.description == "Order 42"
    assert pi.metadata.to_dict() == {"order": "42"}
    assert pi.capture_method in ("automatic", "automatic_async")
    assert pi.client_secret.startswith(pi.id + "_secret_")
    assert find_event(client, "payment_intent.created", pi.id)


def test_line_items_are_listed_in_order_and_page(client):
    cs = client.v1.checkout.sessions.create(basket())
    items = client.v1.checkout.sessions.line_items.list(cs.id)
    assert items.object == "list"
    assert items.has_more is False
    assert [i.description for i in items.data] == ["T-shirt", "Sticker"]
    first, second = items.data
    assert_id(first.id, "li_")
    assert first.object == "item"
    assert first.quantity == 2
    assert first.amount_subtotal == 3000 and first.amount_total == 3000
    assert first.currency == "usd"
    assert first.price.object == "price"
    assert first.price.unit_amount == 1500
    assert first.price.currency == "usd"
    assert second.price.product.name == "Sticker"
    assert second.price.product.description == "Holographic"

    page = client.v1.checkout.sessions.line_items.list(cs.id, {"limit": 1})
    assert [i.id for i in page.data] == [first.id] and page.has_more is True
    rest = client.v1.checkout.sessions.line_items.list(cs.id, {"limit": 1, "starting_after": first.id})
    assert [i.id for i in rest.data] == [second.id] and rest.has_more is False
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.checkout.sessions.line_items.list(cs.id, {"starting_after": "li_nope"}),
                     status=404, param="starting_after")
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.checkout.sessions.line_items.list("cs_test_nope"), status=404)


def test_retrieve_and_list_with_filters(account):
    _, client = account
    a = client.v1.checkout.sessions.create(basket())
    b = client.v1.checkout.sessions.create(basket())
    c = client.v1.checkout.sessions.create(basket())
    client.v1.checkout.sessions.expire(b.id)

    got = client.v1.checkout.sessions.retrieve(a.id)
    assert got.id == a.id and got.amount_total == 3500 and got.status == "open"
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.checkout.sessions.retrieve("cs_test_doesnotexist"), status=404)

    everything = client.v1.checkout.sessions.list()
    assert [s.id for s in everything.data] == [c.id, b.id, a.id], "newest first"
    assert everything.url == "/v1/checkout/sessions"
    assert [s.id for s in client.v1.checkout.sessions.list({"status": "expired"}).data] == [b.id]
    assert [s.id for s in client.v1.checkout.sessions.list({"status": "open"}).data] == [c.id, a.id]
    assert client.v1.checkout.sessions.list({"status": "complete"}).data == []
    by_intent = client.v1.checkout.sessions.list({"payment_intent": a.payment_intent})
    assert [s.id for s in by_intent.data] == [a.id]

    page = client.v1.checkout.sessions.list({"limit": 2})
    assert [s.id for s in page.data] == [c.id, b.id] and page.has_more is True
    walked = [s.id for s in client.v1.checkout.sessions.list({"limit": 1}).auto_paging_iter()]
    assert walked == [c.id, b.id, a.id]
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.checkout.sessions.list({"status": "paid"}), status=400, param="status")


def test_expire_closes_the_session_and_cancels_its_intent(client):
    cs = client.v1.checkout.sessions.create(basket())
    expired = client.v1.checkout.sessions.expire(cs.id)
    assert expired.id == cs.id
    assert expired.status == "expired"
    assert expired.url is None
    assert expired.payment_status == "unpaid"
    assert client.v1.checkout.sessions.retrieve(cs.id).status == "expired"
    ev = find_event(client, "checkout.session.expired", cs.id)
    assert ev.data.object.status == "expired"

    pi = client.v1.payment_intents.retrieve(cs.payment_intent)
    assert pi.status == "canceled"
    assert find_event(client, "payment_intent.canceled", pi.id)
    # Nothing can be paid on it any more.
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa"}),
                     status=400)

    err = expect_sdk_error(stripe.InvalidRequestError,
                           lambda: client.v1.checkout.sessions.expire(cs.id), status=400)
    assert err["code"] == "checkout_session_unexpected_state"
    assert "expired" in err["message"]
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.checkout.sessions.expire("cs_test_doesnotexist"), status=404)


def test_paying_the_intent_completes_the_session(client):
    cs = client.v1.checkout.sessions.create(basket(customer_email="payer@example.com"))
    pi = client.v1.payment_intents.confirm(cs.payment_intent, {"payment_method": "pm_card_visa"})
    assert pi.status == "succeeded"
    assert pi.amount_received == 3500

    done = client.v1.checkout.sessions.retrieve(cs.id)
    assert done.status == "complete"
    assert done.payment_status == "paid"
    assert done.url is None
    assert done.payment_intent == pi.id
    assert done.customer_details.email == "payer@example.com"
    ev = find_event(client, "checkout.session.completed", cs.id)
    assert ev.data.object.status == "complete"
    assert ev.data.object.payment_status == "paid"
    # The session's intent, expanded from the session.
    expanded = client.v1.checkout.sessions.retrieve(cs.id, {"expand": ["payment_intent"]})
    assert expanded.payment_intent.id == pi.id and expanded.payment_intent.status == "succeeded"

    err = expect_sdk_error(stripe.InvalidRequestError,
                           lambda: client.v1.checkout.sessions.expire(cs.id), status=400)
    assert err["code"] == "checkout_session_unexpected_state"
    assert [s.id for s in client.v1.checkout.sessions.list({"payment_intent": pi.id, "status": "complete"}).data] \
        == [cs.id]


def test_an_authorization_for_manual_capture_completes_the_session(client):
    cs = client.v1.checkout.sessions.create(basket(payment_intent_data={"capture_method": "manual"}))
    pi = client.v1.payment_intents.confirm(cs.payment_intent, {"payment_method": "pm_card_visa"})
    assert pi.status == "requires_capture"
    done = client.v1.checkout.sessions.retrieve(cs.id)
    assert done.status == "complete" and done.payment_status == "paid"
    assert find_event(client, "checkout.session.completed", cs.id)
    # An authorized intent of a completed session may be captured, or canceled.
    assert client.v1.payment_intents.capture(pi.id).status == "succeeded"


def test_a_declined_attempt_leaves_the_session_open(client):
    cs = client.v1.checkout.sessions.create(basket())
    declined = create_card_pm(client, "4000000000000002")
    expect_sdk_error(stripe.CardError,
                     lambda: client.v1.payment_intents.confirm(cs.payment_intent, {"payment_method": declined.id}),
                     status=402)
    still = client.v1.checkout.sessions.retrieve(cs.id)
    assert still.status == "open" and still.payment_status == "unpaid" and still.url
    client.v1.payment_intents.confirm(cs.payment_intent, {"payment_method": "pm_card_visa"})
    assert client.v1.checkout.sessions.retrieve(cs.id).status == "complete"


def test_a_payment_after_3d_secure_completes_the_session(client):
    cs = client.v1.checkout.sessions.create(basket())
    pi = client.v1.payment_intents.confirm(cs.payment_intent, {
        "payment_method": "pm_card_threeDSecureRequired", "return_url": "https://shop.example/back"})
    assert pi.status == "requires_action"
    assert client.v1.checkout.sessions.retrieve(cs.id).status == "open"
    answer = submit_challenge(pi.next_action.redirect_to_url.url, "complete")
    assert answer.status_code == 303, answer.text[:300]
    assert client.v1.payment_intents.retrieve(pi.id).status == "succeeded"
    done = client.v1.checkout.sessions.retrieve(cs.id)
    assert done.status == "complete" and done.payment_status == "paid"
    assert find_event(client, "checkout.session.completed", cs.id)


def test_an_open_sessions_intent_is_managed_by_the_session(client):
    cs = client.v1.checkout.sessions.create(basket())
    err = expect_sdk_error(stripe.InvalidRequestError,
                           lambda: client.v1.payment_intents.cancel(cs.payment_intent), status=400)
    assert cs.id in err["message"] and "xpire" in err["message"]
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_intents.update(cs.payment_intent, {"amount": 1}),
                     status=400, param="amount")
    assert client.v1.payment_intents.retrieve(cs.payment_intent).amount == 3500
    # Other fields stay the merchant's to change.
    updated = client.v1.payment_intents.update(cs.payment_intent, {"description": "gift"})
    assert updated.description == "gift"


def test_expires_at_within_bounds_is_kept(client):
    at = int(time.time()) + 30 * 60
    cs = client.v1.checkout.sessions.create(basket(expires_at=at))
    assert cs.expires_at == at
    later = int(time.time()) + 23 * 3600
    assert client.v1.checkout.sessions.create(basket(expires_at=later)).expires_at == later


def test_other_currencies_and_customers(client):
    cus = client.v1.customers.create({"email": "known@example.com"})
    cs = client.v1.checkout.sessions.create({
        "mode": "payment",
        "line_items": [item("Tea", 800, 3, currency="jpy")],
        "success_url": "http://localhost:8000/ok",
        "customer": cus.id,
    })
    assert cs.currency == "jpy" and cs.amount_total == 2400
    assert cs.customer == cus.id
    assert cs.cancel_url is None
    pi = client.v1.payment_intents.retrieve(cs.payment_intent)
    assert pi.currency == "jpy" and pi.amount == 2400 and pi.customer == cus.id
    client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa"})
    assert client.v1.checkout.sessions.retrieve(cs.id).customer_details.email == "known@example.com"


def _without(key):
    params = basket()
    del params[key]
    return params


def _with_items(*items):
    return basket(line_items=list(items))


_NOW = int(time.time())

INVALID = [
    ("missing_success_url", lambda: _without("success_url"), "success_url"),
    ("relative_success_url", lambda: basket(success_url="/thanks"), "success_url"),
    ("bad_cancel_url", lambda: basket(cancel_url="javascript:alert(1)"), "cancel_url"),
    ("missing_mode", lambda: _without("mode"), "mode"),
    ("subscription_mode", lambda: basket(mode="subscription"), "mode"),
    ("setup_mode", lambda: basket(mode="setup"), "mode"),
    ("unknown_mode", lambda: basket(mode="donation"), "mode"),
    ("missing_line_items", lambda: _without("line_items"), "line_items"),
    ("mixed_currencies", lambda: _with_items(item("A", 1000, 1), item("B", 1000, 1, currency="eur")),
     "line_items[1][price_data][currency]"),
    ("quantity_zero", lambda: _with_items(item("A", 1000, 0)), "line_items[0][quantity]"),
    ("quantity_too_large", lambda: _with_items(item("A", 1000, 1000)), "line_items[0][quantity]"),
    ("missing_quantity", lambda: _with_items({"price_data": item("A", 1000, 1)["price_data"]}),
     "line_items[0][quantity]"),
    ("price_id", lambda: _with_items({"price": "price_123", "quantity": 1}), "line_items[0][price]"),
    ("missing_product_name", lambda: _with_items(
        {"price_data": {"currency": "usd", "unit_amount": 100, "product_data": {"description": "x"}}, "quantity": 1}),
     "line_items[0][price_data][product_data][name]"),
    ("missing_unit_amount", lambda: _with_items(
        {"price_data": {"currency": "usd", "product_data": {"name": "A"}}, "quantity": 1}),
     "line_items[0][price_data][unit_amount]"),
    ("negative_unit_amount", lambda: _with_items(item("A", -5, 1)), "line_items[0][price_data][unit_amount]"),
    ("unknown_currency", lambda: _with_items(item("A", 1000, 1, currency="xyz")),
     "line_items[0][price_data][currency]"),
    ("total_below_minimum", lambda: _with_items(item("A", 10, 1)), "line_items"),
    ("expires_too_soon", lambda: basket(expires_at=int(time.time()) + 10 * 60), "expires_at"),
    ("expires_too_late", lambda: basket(expires_at=int(time.time()) + 25 * 3600), "expires_at"),
    ("expires_in_the_past", lambda: basket(expires_at=_NOW - 3600), "expires_at"),
    ("bad_capture_method", lambda: basket(payment_intent_data={"capture_method": "later"}),
     "payment_intent_data[capture_method]"),
    ("customer_and_email", lambda: basket(customer="cus_x", customer_email="a@example.com"), "customer_email"),
    ("bad_email", lambda: basket(customer_email="not-an-email"), "customer_email"),
    ("unknown_parameter", lambda: basket(locale="fr"), "locale"),
    ("unknown_item_field", lambda: _with_items(dict(item("A", 1000, 1), adjustable_quantity={"enabled": True})),
     "line_items[0][adjustable_quantity][enabled]"),
    ("non_card_method", lambda: basket(payment_method_types=["ideal"]), "payment_method_types"),
]


@pytest.mark.parametrize("name,params,param", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_requests_name_the_parameter(client, name, params, param):
    err = expect_sdk_error(stripe.InvalidRequestError,
                           lambda: client.v1.checkout.sessions.create(params()), status=400, param=param)
    assert len(err["message"]) > 10


def test_unknown_customer_is_404_naming_customer(client):
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.checkout.sessions.create(basket(customer="cus_doesnotexist")),
                     status=404, param="customer")


def test_nothing_is_created_by_a_refused_request(account):
    _, client = account
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.checkout.sessions.create(basket(customer="cus_doesnotexist")), status=404)
    assert client.v1.checkout.sessions.list().data == []
    assert client.v1.payment_intents.list().data == []


def test_publishable_key_is_refused(gw, client):
    cs = client.v1.checkout.sessions.create(basket())
    pk = gw.publishable_key
    for method, path, params in [
        ("POST", "/v1/checkout/sessions", basket()),
        ("GET", "/v1/checkout/sessions", None),
        ("GET", f"/v1/checkout/sessions/{cs.id}", None),
        ("POST", f"/v1/checkout/sessions/{cs.id}/expire", {}),
        ("GET", f"/v1/checkout/sessions/{cs.id}/line_items", None),
    ]:
        resp = http(gw, method, path, pk, params)
        assert_http_error(resp, (401, 403))
        assert '"amount_total"' not in resp.text
    assert client.v1.checkout.sessions.retrieve(cs.id).status == "open"
    expect_sdk_error(stripe.PermissionError,
                     lambda: gw.sdk(pk).v1.checkout.sessions.create(basket()), status=403)


def test_restricted_keys_need_checkout_sessions_permission(gw, client):
    cs = client.v1.checkout.sessions.create(basket())
    reader = gw.sdk(gw.create_key("restricted", permissions=["checkout_sessions=read"]))
    assert reader.v1.checkout.sessions.retrieve(cs.id).id == cs.id
    assert reader.v1.checkout.sessions.line_items.list(cs.id).data
    expect_sdk_error(stripe.PermissionError, lambda: reader.v1.checkout.sessions.create(basket()), status=403)
    expect_sdk_error(stripe.PermissionError, lambda: reader.v1.checkout.sessions.expire(cs.id), status=403)
    writer = gw.sdk(gw.create_key("restricted", permissions=["checkout_sessions=write"]))
    assert writer.v1.checkout.sessions.expire(cs.id).status == "expired"
    other = gw.sdk(gw.create_key("restricted", permissions=["payment_intents=write"]))
    expect_sdk_error(stripe.PermissionError, lambda: other.v1.checkout.sessions.list(), status=403)


def test_webhook_endpoints_can_subscribe_to_session_events(gw, account):
    acct, client = account
    we = client.v1.webhook_endpoints.create({
        "url": "https://shop.example/hooks",
        "enabled_events": ["checkout.session.completed", "checkout.session.expired"],
    })
    assert sorted(we.enabled_events) == ["checkout.session.completed", "checkout.session.expired"]
    cs = client.v1.checkout.sessions.create(basket())
    client.v1.payment_intents.confirm(cs.payment_intent, {"payment_method": "pm_card_visa"})
    ev = find_event(client, "checkout.session.completed", cs.id)
    deliveries = ok_json(http(gw, "GET", "/v1/webhook_deliveries", acct.secret_key))
    assert any(field(d, "event") == ev.id for d in deliveries["data"]), deliveries


def test_the_hosted_page_takes_only_the_card_from_the_browser(gw, client):
    """The hosted page posts the card to the vault origin; whatever else a browser adds
    (an amount, a currency, line items) is not taken: the session's total is paid."""
    import requests

    session = client.v1.checkout.sessions.create(basket())
    assert session.url.startswith(gw.vault + "/checkout/")
    page = requests.get(session.url, timeout=10)
    assert page.status_code == 200 and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    answer = requests.post(session.url + "/pay", data={
        "card[number]": "4242424242424242", "card[exp_month]": "12", "card[exp_year]": "2034",
        "card[cvc]": "123", "billing_details[name]": "Jenny Rosen",
        "amount": "1", "currency": "jpy", "line_items[0][price_data][unit_amount]": "1",
        "payment_intent": "pi_someone_else", "customer": "cus_someone",
    }, timeout=20).json()
    assert answer["redirect"] == SUCCESS_URL.replace("{CHECKOUT_SESSION_ID}", session.id), answer
    paid = client.v1.checkout.sessions.retrieve(session.id)
    assert paid.status == "complete" and paid.payment_status == "paid"
    intent = client.v1.payment_intents.retrieve(paid.payment_intent)
    assert (intent.amount, intent.currency, intent.status) == (session.amount_total, "usd", "succeeded")
    # Paid sessions take no second payment.
    again = requests.post(session.url + "/pay", data={"card[number]": "4242424242424242"},
                          timeout=10).json()
    assert again == {"error": "This checkout is no longer open."}
