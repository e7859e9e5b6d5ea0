"""Customers: create, retrieve, update, delete, list filtered by email; and the
SDK's global (module-level) configuration style."""

import stripe
import pytest

from tessera_support import assert_id, assert_request_id, expect_sdk_error, plain, unique_email


def test_create_and_retrieve(client):
    email = unique_email()
    cus = client.v1.customers.create({
        "email": email, "name": "Jenny Rosen", "description": "VIP", "phone": "+15555550100",
        "metadata": {"crm_id": "C-1"},
    })
    assert_request_id(cus.last_response.headers)
    assert_id(cus.id, "cus_")
    assert cus.object == "customer"
    assert cus.email == email
    assert cus.name == "Jenny Rosen"
    assert cus.description == "VIP"
    assert cus.phone == "+15555550100"
    assert plain(cus.metadata) == {"crm_id": "C-1"}
    assert cus.livemode is False
    assert isinstance(cus.created, int)
    got = client.v1.customers.retrieve(cus.id)
    assert got.id == cus.id
    assert got.email == email
    assert plain(got.metadata) == {"crm_id": "C-1"}


def test_create_empty(client):
    cus = client.v1.customers.create()
    assert_id(cus.id, "cus_")
    assert cus.email is None
    assert plain(cus.metadata) == {}


def test_update(client):
    cus = client.v1.customers.create({"email": unique_email(), "name": "A", "metadata": {"a": "1", "b": "2"}})
    new_email = unique_email()
    up = client.v1.customers.update(cus.id, {"email": new_email, "name": "B", "metadata": {"b": "", "c": "3"}})
    assert up.email == new_email
    assert up.name == "B"
    assert plain(up.metadata) == {"a": "1", "c": "3"}
    got = client.v1.customers.retrieve(cus.id)
    assert got.email == new_email and got.name == "B"
    cleared = client.v1.customers.update(cus.id, {"name": "", "metadata": ""})
    assert cleared.name is None
    assert plain(cleared.metadata) == {}


def test_delete(client):
    cus = client.v1.customers.create({"email": unique_email()})
    d = client.v1.customers.delete(cus.id)
    assert d.id == cus.id
    assert d.deleted is True
    # afterwards: either Stripe's deleted stub or 404, never the old data
    try:
        got = client.v1.customers.retrieve(cus.id)
    except stripe.InvalidRequestError as e:
        assert e.http_status == 404
    else:
        assert got.deleted is True
        assert "email" not in got or got.email is None
    assert cus.id not in [c.id for c in client.v1.customers.list({"email": cus.email}).data]
    expect_sdk_error(stripe.InvalidRequestError,
                     lambda: client.v1.customers.update(cus.id, {"name": "x"}), status=(400, 404))


def test_delete_unknown(client):
    expect_sdk_error(stripe.InvalidRequestError, lambda: client.v1.customers.delete("cus_" + "n" * 24),
                     status=404, code="resource_missing")


def test_list_filter_email(client):
    email = unique_email()
    a = client.v1.customers.create({"email": email})
    client.v1.customers.create({"email": unique_email()})
    b = client.v1.customers.create({"email": email, "name": "second"})
    lst = client.v1.customers.list({"email": email})
    assert lst.object == "list"
    assert lst.url == "/v1/customers"
    assert lst.has_more is False
    assert [c.id for c in lst.data] == [b.id, a.id]
    assert client.v1.customers.list({"email": unique_email()}).data == []


def test_list_limit(client):
    for _ in range(3):
        client.v1.customers.create()
    page = client.v1.customers.list({"limit": 2})
    assert len(page.data) == 2
    assert page.has_more is True
    assert page.data[0].created >= page.data[1].created


@pytest.fixture
def global_stripe(gw):
    saved = (stripe.api_key, stripe.api_base, stripe.max_network_retries)
    stripe.api_key = gw.secret_key
    stripe.api_base = gw.api
    stripe.max_network_retries = 0
    yield stripe
    stripe.api_key, stripe.api_base, stripe.max_network_retries = saved


def test_global_configuration_style(global_stripe):
    email = unique_email()
    cus = stripe.Customer.create(email=email, metadata={"style": "global"})
    assert_id(cus.id, "cus_")
    assert stripe.Customer.retrieve(cus.id).email == email
    up = stripe.Customer.modify(cus.id, name="Global")
    assert up.name == "Global"
    listed = stripe.Customer.list(email=email)
    assert [c.id for c in listed.data] == [cus.id]
    pi = stripe.PaymentIntent.create(amount=1500, currency="usd", customer=cus.id,
                                     payment_method="pm_card_visa", confirm=True)
    assert pi.status == "succeeded"
    assert stripe.Charge.retrieve(pi.latest_charge).amount == 1500
    r = stripe.Refund.create(payment_intent=pi.id, amount=500)
    assert r.amount == 500
    d = stripe.Customer.delete(cus.id)
    assert d.deleted is True
    with pytest.raises(stripe.CardError) as ei:
        stripe.PaymentIntent.create(amount=1500, currency="usd", payment_method="pm_card_visa_chargeDeclined",
                                    confirm=True)
    assert ei.value.http_status == 402
    assert ei.value.code == "card_declined"
