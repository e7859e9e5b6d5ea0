"""Reviews: an elevated-risk payment succeeds and opens a review; the review is listed
while open, can be approved once (review.closed), and then leaves the open list."""

import pytest
import stripe

import tessera_support as T
from tessera_support import create_card_pm, field, pay


def test_elevated_risk_review_lifecycle(client):
    pi = pay(client, create_card_pm(client, T.RISK_ELEVATED).id)
    assert pi.status == "succeeded"
    charge = client.v1.charges.retrieve(pi.latest_charge)
    review_id = field(charge, "review")
    assert review_id and review_id.startswith("prv_")

    review = client.v1.reviews.retrieve(review_id)
    assert review.object == "review"
    assert review.open is True
    assert review.charge == charge.id
    assert review.reason == "rule"
    assert review_id in [r.id for r in client.v1.reviews.list({"limit": 100}).auto_paging_iter()]

    approved = client.v1.reviews.approve(review_id)
    assert approved.open is False
    assert approved.closed_reason == "approved"
    assert approved.reason == "approved"
    assert review_id not in [r.id for r in client.v1.reviews.list({"limit": 100}).auto_paging_iter()]

    closed = [e for e in client.v1.events.list({"type": "review.closed", "limit": 100}).auto_paging_iter()
              if e.data.object.id == review_id]
    assert len(closed) == 1
    opened = [e for e in client.v1.events.list({"type": "review.opened", "limit": 100}).auto_paging_iter()
              if e.data.object.id == review_id]
    assert len(opened) == 1

    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.reviews.approve(review_id)
    assert e.value.http_status == 400
    assert e.value.code == "review_already_closed"


def test_normal_payments_open_no_review(client):
    pi = pay(client, create_card_pm(client, "4242424242424242").id)
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert field(charge, "review") is None


def test_unknown_review_is_404(client):
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.reviews.retrieve("prv_doesnotexist000000000000")
    assert e.value.http_status == 404
    assert e.value.code == "resource_missing"
