"""3-D Secure over HTTP: follow next_action.redirect_to_url, submit the
challenge form (complete / fail), check the 303 and verify server-side."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import stripe

import tessera_support as T
from tessera_support import (
    assert_requires_redirect, authorization_held, browser_post, card_details, challenge_form, create_card_pm,
    expect_sdk_error, ok_json, pay, submit_challenge,
)

RETURN_URL = "https://merchant.example/checkout/return"


def _requires_action(client, number=T.TDS2_REQUIRED, **extra):
    pm = create_card_pm(client, number)
    params = {"return_url": RETURN_URL}
    params.update(extra)
    return pay(client, pm.id, amount=2599, **{k: v for k, v in params.items() if v is not None})


def _redirect_params(resp: requests.Response, return_url: str = RETURN_URL):
    assert resp.status_code == 303, f"challenge answer: HTTP {resp.status_code} {resp.text[:300]}"
    loc = resp.headers["Location"]
    parts = urlsplit(loc)
    want = urlsplit(return_url)
    assert (parts.scheme, parts.netloc, parts.path) == (want.scheme, want.netloc, want.path), loc
    q = parse_qs(parts.query)
    return {k: v[0] for k, v in q.items()}, q


def test_complete_challenge(gw, client):
    pi = _requires_action(client)
    url = assert_requires_redirect(pi, gw.vault)
    assert pi.next_action.redirect_to_url.return_url == RETURN_URL
    assert pi.amount_received == 0
    # nothing is charged before the challenge
    assert client.v1.payment_intents.retrieve(pi.id).status == "requires_action"

    page = requests.get(url, timeout=20)
    T.assert_no_card_data(page.text)
    resp = submit_challenge(url, "complete")
    params, raw = _redirect_params(resp)
    assert params["payment_intent"] == pi.id
    assert params["payment_intent_client_secret"] == pi.client_secret
    assert params["redirect_status"] == "succeeded"
    assert all(len(v) == 1 for v in raw.values())

    got = client.v1.payment_intents.retrieve(pi.id)
    assert got.status == "succeeded"
    assert got.amount_received == 2599
    assert got.next_action is None
    ch = client.v1.charges.retrieve(got.latest_charge)
    assert ch.status == "succeeded"
    assert ch.payment_method_details.card.three_d_secure.result == "authenticated"


def test_fail_challenge(gw, client):
    pi = _requires_action(client)
    url = assert_requires_redirect(pi, gw.vault)
    params, _ = _redirect_params(submit_challenge(url, "fail"))
    assert params["payment_intent"] == pi.id
    assert params["payment_intent_client_secret"] == pi.client_secret
    assert params["redirect_status"] == "failed"

    got = client.v1.payment_intents.retrieve(pi.id)
    assert got.status == "requires_payment_method"
    assert got.next_action is None
    assert got.amount_received == 0
    assert got.last_payment_error.code == "payment_intent_authentication_failure"
    # the PaymentIntent can be paid with another method afterwards
    done = client.v1.payment_intents.confirm(pi.id, {"payment_method": "pm_card_visa"})
    assert done.status == "succeeded"
    assert done.amount_received == 2599


def test_challenge_cannot_be_replayed(gw, client):
    pi = _requires_action(client)
    url = assert_requires_redirect(pi, gw.vault)
    action, hidden, _ = challenge_form(url)
    first = requests.post(action, data={**hidden, "result": "fail"}, timeout=20, allow_redirects=False)
    assert first.status_code == 303
    again = requests.post(action, data={**hidden, "result": "complete"}, timeout=20, allow_redirects=False)
    if again.status_code == 303:
        assert "redirect_status=succeeded" not in again.headers.get("Location", "")
    else:
        assert 400 <= again.status_code < 500
    got = client.v1.payment_intents.retrieve(pi.id)
    assert got.status == "requires_payment_method", "a used challenge token must not authenticate again"
    assert got.last_payment_error.code == "payment_intent_authentication_failure"


def test_tampered_token_rejected(gw, client):
    pi = _requires_action(client)
    url = assert_requires_redirect(pi, gw.vault)
    action, hidden, _ = challenge_form(url)
    token = hidden["token"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    r = requests.post(action, data={**hidden, "token": forged, "result": "complete"}, timeout=20,
                      allow_redirects=False)
    assert 400 <= r.status_code < 500, f"forged token accepted: HTTP {r.status_code}"
    # a guessed challenge URL (whatever part of it carries the secret) is refused too
    parts = urlsplit(action)
    segs = parts.path.rstrip("/").split("/")
    segs[-1] = segs[-1][:-4] + ("AAAA" if not segs[-1].endswith("AAAA") else "BBBB")
    guessed = parts._replace(path="/".join(segs)).geturl()
    r = requests.post(guessed, data={**hidden, "token": forged, "result": "complete"}, timeout=20,
                      allow_redirects=False)
    assert 400 <= r.status_code < 500, f"guessed challenge URL accepted: HTTP {r.status_code}"
    assert client.v1.payment_intents.retrieve(pi.id).status == "requires_action"


def test_challenge_token_bound_to_its_payment_intent(gw, client):
    a = _requires_action(client)
    b = _requires_action(client)
    url_a = assert_requires_redirect(a, gw.vault)
    url_b = assert_requires_redirect(b, gw.vault)
    action_b, _, _ = challenge_form(url_b)
    _, hidden_a, _ = challenge_form(url_a)
    # a's token posted to b's form action must not complete b
    r = requests.post(action_b, data={**hidden_a, "result": "complete"}, timeout=20, allow_redirects=False)
    if r.status_code == 303:
        assert b.id not in r.headers.get("Location", "") or "redirect_status=succeeded" not in r.headers["Location"]
    assert client.v1.payment_intents.retrieve(b.id).status == "requires_action"


def test_challenge_without_return_url(gw, client):
    pm = create_card_pm(client, T.TDS_REQUIRED)
    pi = pay(client, pm.id)
    url = assert_requires_redirect(pi, gw.vault)
    resp = submit_challenge(url, "complete")
    assert resp.status_code == 303
    assert resp.headers.get("Location")
    assert client.v1.payment_intents.retrieve(pi.id).status == "succeeded"


def test_challenge_then_manual_capture(gw, client):
    pi = _requires_action(client, capture_method="manual")
    url = assert_requires_redirect(pi, gw.vault)
    _redirect_params(submit_challenge(url, "complete"))
    got = client.v1.payment_intents.retrieve(pi.id)
    assert got.status == "requires_capture"
    assert got.amount_capturable == 2599
    assert client.v1.payment_intents.capture(pi.id).status == "succeeded"


def test_request_three_d_secure_any_forces_challenge(gw, client):
    pm = create_card_pm(client, T.TDS_SUPPORTED)
    pi = pay(client, pm.id, return_url=RETURN_URL,
             payment_method_options={"card": {"request_three_d_secure": "any"}})
    url = assert_requires_redirect(pi, gw.vault)
    _redirect_params(submit_challenge(url, "complete"))
    assert client.v1.payment_intents.retrieve(pi.id).status == "succeeded"


def test_browser_confirm_with_client_secret_then_challenge(gw, client):
    pi = client.v1.payment_intents.create({"amount": 4100, "currency": "usd"})
    r = browser_post(gw, f"/v1/payment_intents/{pi.id}/confirm", {
        "client_secret": pi.client_secret,
        "return_url": RETURN_URL,
        "payment_method_data": {"type": "card", "card": card_details(T.TDS2_REQUIRED)},
    }, gw.publishable_key)
    body = ok_json(r)
    assert body["status"] == "requires_action"
    assert body["next_action"]["type"] == "redirect_to_url"
    url = body["next_action"]["redirect_to_url"]["url"]
    assert url.startswith(gw.vault + "/3d_secure/")
    params, _ = _redirect_params(submit_challenge(url, "complete"))
    assert params["redirect_status"] == "succeeded"
    # after the redirect the merchant verifies the status server-side
    got = client.v1.payment_intents.retrieve(params["payment_intent"])
    assert got.id == pi.id
    assert got.status == "succeeded"
    assert got.amount_received == 4100


def test_error_on_requires_action(client):
    pm = create_card_pm(client, T.TDS2_REQUIRED)
    expect_sdk_error(stripe.CardError, lambda: pay(client, pm.id, error_on_requires_action=True),
                     status=402, code="authentication_required")


def test_a_payment_is_not_confirmed_again_while_its_challenge_is_being_authorized():
    """Once the shopper completes the challenge, the intent is authorized: while that
    authorization is under way, a confirmation is refused as a payment in progress
    (409, `payment_intent_unexpected_state`), and the intent ends with one charge. The
    gateway crashes and restarts while the shopper is in the challenge, so the
    completion is the new process's own attempt, not one a stopped process left."""
    from conftest import Gateway

    gw = Gateway()
    try:
        pi = _requires_action(gw.client)
        gw.kill()
        gw.restart()
        client = gw.client
        link = pi.next_action.redirect_to_url.url
        url = link.replace(urlsplit(link).netloc, urlsplit(gw.vault).netloc)
        with authorization_held(gw, lambda: submit_challenge(url, "complete"), pi.id) as held:
            refused = expect_sdk_error(stripe.APIError, lambda: client.v1.payment_intents.confirm(pi.id),
                                       status=409, code="payment_intent_unexpected_state")
            assert "being authorized by another request" in refused["message"], refused
        assert held.get("answer") is not None, held
        params, _ = _redirect_params(held["answer"])
        assert params["redirect_status"] == "succeeded"
        charges = client.v1.charges.list({"payment_intent": pi.id}).data
        assert [c.status for c in charges] == ["succeeded"]
    finally:
        gw.stop()
        gw.cleanup()


def test_a_challenge_is_not_completed_while_the_intent_is_confirmed_again(gw, client):
    """The merchant confirms an intent waiting for its challenge again, with another
    card, and the shopper completes the old challenge while that confirmation is with
    the processor: the completion is refused (the page says a payment is under way) and
    the intent ends with the confirmation's one charge."""
    pi = _requires_action(client)
    url = assert_requires_redirect(pi, gw.vault)
    other = create_card_pm(client, "4242424242424242")
    send = lambda: client.v1.payment_intents.confirm(pi.id, {"payment_method": other.id})  # noqa: E731
    with authorization_held(gw, send, pi.id) as held:
        refused = submit_challenge(url, "complete")
        assert refused.status_code == 400, refused.text[:500]
        assert "being authorized by another request" in refused.text
    assert held.get("answer") is not None, held
    assert held["answer"].status == "succeeded"
    charges = client.v1.charges.list({"payment_intent": pi.id}).data
    assert [(c.status, c.payment_method) for c in charges] == [("succeeded", other.id)]
