"""Auto-pagination over 250 objects; list parameters; expansion in all forms."""

import pytest
import stripe

from tessera_support import (
    assert_id, expect_sdk_error, form_items, http, ok_json, pay, unique_email,
)

N = 250


@pytest.fixture(scope="module")
def many_customers(gw):
    client = gw.client
    email = unique_email()
    ids = [client.v1.customers.create({"email": email, "metadata": {"i": str(i)}}).id for i in range(N)]
    return email, ids


def test_auto_pagination_over_250_objects(client, many_customers):
    email, ids = many_customers
    seen = [c.id for c in client.v1.customers.list({"email": email, "limit": 100}).auto_paging_iter()]
    assert len(seen) == N
    assert len(set(seen)) == N, "no object twice"
    assert seen == list(reversed(ids)), "newest first, in creation order"


def test_auto_pagination_default_page_size(client, many_customers):
    email, ids = many_customers
    first = client.v1.customers.list({"email": email})
    assert len(first.data) == 10, "default limit is 10"
    assert first.has_more is True
    seen = [c.id for c in first.auto_paging_iter()]
    assert seen == list(reversed(ids))


def test_pages_and_has_more(client, many_customers):
    email, ids = many_customers
    newest_first = list(reversed(ids))
    p1 = client.v1.customers.list({"email": email, "limit": 100})
    p2 = client.v1.customers.list({"email": email, "limit": 100, "starting_after": p1.data[-1].id})
    p3 = client.v1.customers.list({"email": email, "limit": 100, "starting_after": p2.data[-1].id})
    assert (len(p1.data), len(p2.data), len(p3.data)) == (100, 100, 50)
    assert (p1.has_more, p2.has_more, p3.has_more) == (True, True, False)
    assert [c.id for c in p1.data + p2.data + p3.data] == newest_first


def test_auto_pagination_backwards_with_ending_before(client, many_customers):
    email, ids = many_customers
    # ending_before the oldest: everything newer, yielded oldest first by the SDK
    seen = [c.id for c in client.v1.customers.list({"email": email, "limit": 100,
                                                    "ending_before": ids[0]}).auto_paging_iter()]
    assert seen == ids[1:]
    page = client.v1.customers.list({"email": email, "limit": 3, "ending_before": ids[10]})
    assert [c.id for c in page.data] == [ids[13], ids[12], ids[11]]
    assert page.has_more is True


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_limit_out_of_range(client, limit):
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.customers.list({"limit": limit}),
                     status=400, param="limit")


def test_limit_100_allowed(client, many_customers):
    email, _ = many_customers
    assert len(client.v1.customers.list({"email": email, "limit": 100}).data) == 100


def test_starting_after_and_ending_before_exclude_each_other(client, many_customers):
    _, ids = many_customers
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.customers.list({"starting_after": ids[5], "ending_before": ids[1]}),
                     status=400)


def test_starting_after_unknown_id(client):
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.customers.list({"starting_after": "cus_" + "u" * 24}),
                     status=(400, 404))


# ---------------------------------------------------------------- expansion

@pytest.fixture(scope="module")
def paid(gw):
    client = gw.client
    cus = client.v1.customers.create({"email": unique_email()})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    pi = pay(client, pm.id, amount=3100, customer=cus.id)
    refund = client.v1.refunds.create({"payment_intent": pi.id, "amount": 100})
    return cus, pm, pi, refund


def test_expand_on_retrieve(client, paid):
    cus, pm, pi, _ = paid
    got = client.v1.payment_intents.retrieve(pi.id, {"expand": ["payment_method", "customer", "latest_charge"]})
    assert got.payment_method.object == "payment_method" and got.payment_method.id == pm.id
    assert got.customer.object == "customer" and got.customer.id == cus.id
    assert got.latest_charge.object == "charge" and got.latest_charge.id == pi.latest_charge
    plain_ = client.v1.payment_intents.retrieve(pi.id)
    assert plain_.customer == cus.id and plain_.latest_charge == pi.latest_charge, "unexpanded fields stay ids"


def test_expand_nested_path(client, paid):
    _, _, pi, _ = paid
    got = client.v1.payment_intents.retrieve(pi.id, {"expand": ["latest_charge.balance_transaction",
                                                                "latest_charge.payment_intent"]})
    ch = got.latest_charge
    assert ch.object == "charge"
    assert ch.balance_transaction.object == "balance_transaction"
    assert_id(ch.balance_transaction.id, "txn_")
    assert ch.payment_intent.id == pi.id


def test_expand_payment_intent_on_charge_and_refund(client, paid):
    cus, _, pi, refund = paid
    ch = client.v1.charges.retrieve(pi.latest_charge, {"expand": ["payment_intent", "customer"]})
    assert ch.payment_intent.object == "payment_intent" and ch.payment_intent.id == pi.id
    assert ch.customer.id == cus.id
    r = client.v1.refunds.retrieve(refund.id, {"expand": ["payment_intent", "charge"]})
    assert r.payment_intent.id == pi.id
    assert r.charge.id == pi.latest_charge


def test_expand_on_create_and_confirm(client):
    cus = client.v1.customers.create()
    pi = client.v1.payment_intents.create({"amount": 500, "currency": "usd", "customer": cus.id,
                                           "payment_method": "pm_card_visa", "confirm": True,
                                           "expand": ["customer", "latest_charge", "payment_method"]})
    assert pi.customer.id == cus.id
    assert pi.latest_charge.object == "charge"
    assert pi.payment_method.object == "payment_method"
    pi2 = client.v1.payment_intents.create({"amount": 600, "currency": "usd"})
    done = client.v1.payment_intents.confirm(pi2.id, {"payment_method": "pm_card_visa", "expand": ["latest_charge"]})
    assert done.latest_charge.amount == 600


def test_expand_list_items(client, paid):
    cus, pm, pi, _ = paid
    lst = client.v1.payment_intents.list({"customer": cus.id, "expand": ["data.customer", "data.payment_method",
                                                                        "data.latest_charge"]})
    assert [p.id for p in lst.data] == [pi.id]
    item = lst.data[0]
    assert item.customer.id == cus.id
    assert item.payment_method.id == pm.id
    assert item.latest_charge.id == pi.latest_charge
    charges = client.v1.charges.list({"payment_intent": pi.id, "expand": ["data.payment_intent"]})
    assert charges.data[0].payment_intent.id == pi.id


def test_expand_wire_forms(gw, paid):
    """expand[]= (curl), expand[0]= (SDKs), percent-encoded brackets in the query."""
    _, _, pi, _ = paid
    path = f"/v1/payment_intents/{pi.id}"
    for query in ([("expand[]", "customer")], [("expand[0]", "customer")]):
        body = ok_json(http(gw, "GET", path, gw.secret_key, query=query))
        assert isinstance(body["customer"], dict), query
    import requests
    raw = requests.get(f"{gw.api}{path}?expand%5B0%5D=customer&expand%5B1%5D=latest_charge",
                       headers={"Authorization": f"Bearer {gw.secret_key}"}, timeout=20)
    body = ok_json(raw)
    assert isinstance(body["customer"], dict)
    assert isinstance(body["latest_charge"], dict)
    raw = requests.get(f"{gw.api}{path}?expand[]=customer", headers={"Authorization": f"Bearer {gw.secret_key}"},
                       timeout=20)
    assert isinstance(ok_json(raw)["customer"], dict)
    # on POST, in the body
    body = ok_json(http(gw, "POST", "/v1/payment_intents", gw.secret_key,
                        [("amount", "300"), ("currency", "usd"), ("customer", pi.customer), ("expand[]", "customer")]))
    assert isinstance(body["customer"], dict)
    assert body["customer"]["id"] == pi.customer


def test_expand_unknown_path_rejected(client, paid):
    _, _, pi, _ = paid
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_intents.retrieve(pi.id, {"expand": ["no_such_field"]}), status=400)


def test_expand_four_levels_allowed_five_rejected(client, paid):
    cus, _, pi, _ = paid
    got = client.v1.payment_intents.retrieve(pi.id, {"expand": ["latest_charge.payment_intent.latest_charge.customer"]})
    assert got.latest_charge.payment_intent.latest_charge.customer.id == cus.id
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.payment_intents.retrieve(
                         pi.id, {"expand": ["latest_charge.payment_intent.latest_charge.payment_intent.customer"]}),
                     status=400)
