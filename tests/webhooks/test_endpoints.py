"""Webhook Endpoints API through the official stripe-python SDK
(client.v1.webhook_endpoints.create/retrieve/update/delete/list), plus the
roll_secret extension over raw HTTP."""

from __future__ import annotations

import re
import time

import stripe

from webhook_support import (
    KNOWN_EVENT_TYPES, api, assert_id, create_endpoint, error_of, expect_sdk_error, field,
    free_port, ok_json, plain, roll_secret,
)

SECRET_RE = re.compile(r"whsec_[A-Za-z0-9]{24,}")


def _url(path: str = "/hook") -> str:
    # Loopback (allowed in test mode); nothing in these tests makes the account emit events.
    return f"http://127.0.0.1:{free_port()}{path}"


def _no_secret(obj) -> None:
    assert field(obj, "secret") is None, (
        f"the endpoint secret must only be shown in the create response, got {plain(obj)!r}")


def test_create_shape_and_secret_only_in_create_response(tenant):
    c = tenant.client
    url = _url("/orders/webhook")
    before = int(time.time())
    ep = c.v1.webhook_endpoints.create({
        "url": url,
        "enabled_events": ["payment_intent.succeeded", "charge.succeeded"],
        "description": "order fulfilment",
        "metadata": {"team": "payments"},
    })
    assert_id(ep.id, "we_")
    assert ep.object == "webhook_endpoint"
    assert ep.url == url
    assert sorted(ep.enabled_events) == ["charge.succeeded", "payment_intent.succeeded"]
    assert ep.status == "enabled"
    assert isinstance(ep.secret, str) and SECRET_RE.fullmatch(ep.secret), f"bad secret format: {ep.secret!r}"
    assert isinstance(ep.api_version, str) and ep.api_version
    assert isinstance(ep.created, int) and before - 60 <= ep.created <= time.time() + 60
    assert ep.livemode is False
    assert plain(ep.metadata) == {"team": "payments"}
    assert ep.description == "order fulfilment"
    assert "application" in plain(ep) and ep.application is None

    got = c.v1.webhook_endpoints.retrieve(ep.id)
    _no_secret(got)
    for k in ("id", "object", "url", "status", "api_version", "created", "livemode", "description"):
        assert got[k] == ep[k], f"retrieve differs from create on {k}: {got[k]!r} != {ep[k]!r}"
    assert sorted(got.enabled_events) == sorted(ep.enabled_events)

    # Nowhere else, on the raw wire either.
    for path in (f"/v1/webhook_endpoints/{ep.id}", "/v1/webhook_endpoints"):
        r = api(tenant.api, tenant.key, "GET", path)
        ok_json(r)
        assert ep.secret not in r.text and "whsec_" not in r.text, f"GET {path} shows the secret"
    for item in c.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter():
        _no_secret(item)
    updated = c.v1.webhook_endpoints.update(ep.id, {"description": "renamed"})
    _no_secret(updated)

    # Each endpoint gets its own secret.
    other = create_endpoint(c, _url(), ["*"])
    assert other.secret != ep.secret


def test_update_fields_and_disable(tenant):
    c = tenant.client
    ep = create_endpoint(c, _url("/a"), ["payment_intent.succeeded"], description="first")
    new_url = _url("/b")
    up = c.v1.webhook_endpoints.update(ep.id, {
        "url": new_url,
        "enabled_events": ["charge.succeeded", "charge.failed"],
        "description": "second",
        "metadata": {"order": "43"},
    })
    assert up.id == ep.id and up.object == "webhook_endpoint"
    assert up.url == new_url
    assert sorted(up.enabled_events) == ["charge.failed", "charge.succeeded"]
    assert up.description == "second"
    assert plain(up.metadata).get("order") == "43"
    assert up.status == "enabled"
    got = c.v1.webhook_endpoints.retrieve(ep.id)
    assert got.url == new_url and got.description == "second"
    assert sorted(got.enabled_events) == ["charge.failed", "charge.succeeded"]

    off = c.v1.webhook_endpoints.update(ep.id, {"disabled": True})
    assert off.status == "disabled"
    assert c.v1.webhook_endpoints.retrieve(ep.id).status == "disabled"
    on = c.v1.webhook_endpoints.update(ep.id, {"disabled": False})
    assert on.status == "enabled"
    assert c.v1.webhook_endpoints.retrieve(ep.id).status == "enabled"

    wildcard = c.v1.webhook_endpoints.update(ep.id, {"enabled_events": ["*"]})
    assert list(wildcard.enabled_events) == ["*"]


def test_list_newest_first_with_pagination(tenant):
    c = tenant.client
    made = [create_endpoint(c, _url(f"/n{i}"), ["*"]).id for i in range(3)]
    first = c.v1.webhook_endpoints.list({"limit": 2})
    assert first.object == "list"
    assert first.url == "/v1/webhook_endpoints"
    assert len(first.data) == 2 and first.has_more is True
    ids = [e.id for e in c.v1.webhook_endpoints.list({"limit": 2}).auto_paging_iter()]
    assert len(ids) == len(set(ids)), f"auto-pagination repeated endpoints: {ids}"
    assert set(made) <= set(ids)
    mine = [i for i in ids if i in made]
    assert mine == list(reversed(made)), f"list is not newest first: {mine} (created {made})"


def test_delete(tenant):
    c = tenant.client
    ep = create_endpoint(c, _url(), ["*"])
    keep = create_endpoint(c, _url(), ["*"])
    d = c.v1.webhook_endpoints.delete(ep.id)
    assert d.id == ep.id and d.object == "webhook_endpoint" and d.deleted is True
    expect_sdk_error(lambda: c.v1.webhook_endpoints.retrieve(ep.id), stripe.InvalidRequestError, 404)
    expect_sdk_error(lambda: c.v1.webhook_endpoints.update(ep.id, {"description": "x"}),
                     stripe.InvalidRequestError, 404)
    expect_sdk_error(lambda: c.v1.webhook_endpoints.delete(ep.id), stripe.InvalidRequestError, 404)
    ids = [e.id for e in c.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter()]
    assert ep.id not in ids and keep.id in ids


def test_enabled_events_validated_against_emitted_types(tenant):
    c = tenant.client
    for bad in (["payment_intent.exploded"], ["not_an_event"], ["payment_intent.succeeded", "charge.nope"],
                ["payment_intent.*"]):
        err = expect_sdk_error(
            lambda: c.v1.webhook_endpoints.create({"url": _url(), "enabled_events": bad}),
            stripe.InvalidRequestError, 400, param_contains="enabled_events")
        assert err.get("type") == "invalid_request_error"
    expect_sdk_error(lambda: c.v1.webhook_endpoints.create({"url": _url()}),
                     stripe.InvalidRequestError, 400, param_contains="enabled_events")

    every = create_endpoint(c, _url(), KNOWN_EVENT_TYPES)
    assert sorted(every.enabled_events) == sorted(KNOWN_EVENT_TYPES)
    star = create_endpoint(c, _url(), ["*"])
    assert list(star.enabled_events) == ["*"]

    expect_sdk_error(lambda: c.v1.webhook_endpoints.update(star.id, {"enabled_events": ["charge.exploded"]}),
                     stripe.InvalidRequestError, 400, param_contains="enabled_events")
    assert list(c.v1.webhook_endpoints.retrieve(star.id).enabled_events) == ["*"], \
        "a refused update changed the endpoint"
    assert not [e for e in c.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter()
                if e.id not in (every.id, star.id)], "a refused create left an endpoint behind"


def test_url_validated(tenant):
    c = tenant.client
    expect_sdk_error(lambda: c.v1.webhook_endpoints.create({"enabled_events": ["*"]}),
                     stripe.InvalidRequestError, 400, param_contains="url")
    for bad in ("not a url", "ftp://127.0.0.1/x", "127.0.0.1:8080/x", "http://", "http:///x"):
        expect_sdk_error(lambda: c.v1.webhook_endpoints.create({"url": bad, "enabled_events": ["*"]}),
                         stripe.InvalidRequestError, 400, param_contains="url",
                         what=f"creating an endpoint with url={bad!r}")
    ep = create_endpoint(c, _url(), ["*"])
    expect_sdk_error(lambda: c.v1.webhook_endpoints.update(ep.id, {"url": "javascript:alert(1)"}),
                     stripe.InvalidRequestError, 400, param_contains="url")


def test_unknown_parameter_is_named(tenant):
    c = tenant.client
    expect_sdk_error(lambda: c.v1.webhook_endpoints.create({"url": _url(), "enabled_events": ["*"],
                                                            "colour": "blue"}),
                     stripe.InvalidRequestError, 400, param_contains="colour")


def test_endpoints_are_scoped_to_the_account(gw, tenant):
    ep = create_endpoint(tenant.client, _url(), ["*"])
    other = gw.sdk(gw.create_account().secret_key)
    expect_sdk_error(lambda: other.v1.webhook_endpoints.retrieve(ep.id), stripe.InvalidRequestError, 404)
    expect_sdk_error(lambda: other.v1.webhook_endpoints.update(ep.id, {"disabled": True}),
                     stripe.InvalidRequestError, 404)
    expect_sdk_error(lambda: other.v1.webhook_endpoints.delete(ep.id), stripe.InvalidRequestError, 404)
    assert ep.id not in [e.id for e in other.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter()]
    assert tenant.client.v1.webhook_endpoints.retrieve(ep.id).status == "enabled"


def test_publishable_key_cannot_manage_endpoints(gw, tenant):
    pk = gw.sdk(tenant.publishable_key)
    denied = (stripe.AuthenticationError, stripe.PermissionError)
    expect_sdk_error(lambda: pk.v1.webhook_endpoints.create({"url": _url(), "enabled_events": ["*"]}),
                     denied, (401, 403))
    expect_sdk_error(lambda: pk.v1.webhook_endpoints.list(), denied, (401, 403))


def test_roll_secret(gw, tenant):
    c = tenant.client
    ep = create_endpoint(c, _url(), ["*"])
    body = ok_json(roll_secret(tenant.api, tenant.key, ep.id, expire_previous_after=3600))
    assert body.get("id") == ep.id and body.get("object") == "webhook_endpoint", body
    assert isinstance(body.get("secret"), str) and SECRET_RE.fullmatch(body["secret"]), body
    assert body["secret"] != ep.secret
    _no_secret(c.v1.webhook_endpoints.retrieve(ep.id))

    again = ok_json(roll_secret(tenant.api, tenant.key, ep.id))  # default: expire now
    assert SECRET_RE.fullmatch(again["secret"]) and again["secret"] not in (ep.secret, body["secret"])

    for bad in (86401, -1, "soon"):
        r = roll_secret(tenant.api, tenant.key, ep.id, expire_previous_after=bad)
        assert r.status_code == 400, f"expire_previous_after={bad!r}: HTTP {r.status_code} {r.text[:300]}"
        assert "expire_previous_after" in (error_of(r).get("param") or ""), r.text
    ok_json(roll_secret(tenant.api, tenant.key, ep.id, expire_previous_after=86400))

    r = roll_secret(tenant.api, tenant.key, "we_" + "0" * 24)
    assert r.status_code == 404, r.text
    other = gw.create_account()
    r = roll_secret(tenant.api, other.secret_key, ep.id)
    assert r.status_code == 404, f"another account rolled this endpoint's secret: HTTP {r.status_code}"
