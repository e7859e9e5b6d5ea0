"""Account rules in Radar's syntax (/v1/radar/rules, a Tessera extension): refused with
the position of the problem when malformed; evaluated before every authorization, so a
Block rule declines with `fraudulent` without reaching the processor, an Allow rule
overrides it, a Review rule opens a review, a Request 3DS rule asks for authentication.
Each test uses its own account, since rules apply to every payment of an account."""

import pytest
import stripe

from tessera_support import create_card_pm, field, http, ok_json, pay


@pytest.fixture
def account(gw):
    acct = gw.create_account()
    return acct.secret_key, gw.sdk(acct.secret_key)


def add_rule(gw, key, text):
    return ok_json(http(gw, "POST", "/v1/radar/rules", key, {"rule": text}))


def test_a_malformed_rule_is_refused_with_its_position(gw, account):
    key, _ = account
    r = http(gw, "POST", "/v1/radar/rules", key, {"rule": "Block if :amount_in_usd: > 100 AND :colour: = 'red'"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "rule"
    assert "at 35" in err["message"] and ":colour:" in err["message"], err["message"]


def test_block_rule_declines_before_the_processor(gw, account):
    key, client = account
    rule = add_rule(gw, key, "Block if :amount_in_usd: > 500")
    assert rule["object"] == "radar_rule" and rule["action"] == "block" and rule["id"].startswith("rule_")
    pm = create_card_pm(client, "4242424242424242")
    with pytest.raises(stripe.CardError) as e:
        pay(client, pm.id, amount=60000)
    assert e.value.http_status == 402
    assert e.value.code == "card_declined" and e.value.error.decline_code == "fraudulent"
    pi = e.value.error.payment_intent
    charge = client.v1.charges.retrieve(pi["latest_charge"])
    assert charge.outcome.type == "blocked"
    assert charge.outcome.reason == "rule"
    assert charge.outcome.network_status == "not_sent_to_network"
    assert charge.outcome.rule["id"] == rule["id"]
    assert charge.outcome.rule["predicate"] == "Block if :amount_in_usd: > 500"
    # Below the threshold the same card pays.
    assert pay(client, create_card_pm(client, "4242424242424242").id, amount=1000).status == "succeeded"


def test_allow_rule_overrides_block(gw, account):
    key, client = account
    add_rule(gw, key, "Block if :card_funding: = 'credit'")
    add_rule(gw, key, "Allow if :card_country: = 'US'")
    assert pay(client, create_card_pm(client, "4242424242424242").id).status == "succeeded"


def test_review_rule_opens_a_review(gw, account):
    key, client = account
    add_rule(gw, key, "Review if :card_funding: = 'debit'")
    pi = pay(client, create_card_pm(client, "4000056655665556").id)  # visa debit
    assert pi.status == "succeeded"
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert field(charge, "review", "").startswith("prv_")
    assert charge.outcome.type == "manual_review" and charge.outcome.reason == "rule"
    # A credit card is not reviewed.
    other = pay(client, create_card_pm(client, "4242424242424242").id)
    assert field(client.v1.charges.retrieve(other.latest_charge), "review") is None


def test_request_3ds_rule_asks_for_authentication(gw, account):
    key, client = account
    add_rule(gw, key, "Request 3DS if :amount_in_usd: >= 100")
    pm = create_card_pm(client, "4000000000003055")  # 3-D Secure supported, not required
    pi = client.v1.payment_intents.create({"amount": 20000, "currency": "usd", "payment_method": pm.id,
                                           "confirm": True, "return_url": "https://shop.example/done"})
    assert pi.status == "requires_action"
    small = client.v1.payment_intents.create({"amount": 500, "currency": "usd",
                                              "payment_method": create_card_pm(client, "4000000000003055").id,
                                              "confirm": True, "return_url": "https://shop.example/done"})
    assert small.status == "succeeded"


def test_rules_are_listed_and_deleted(gw, account):
    key, client = account
    rule = add_rule(gw, key, "Block if :email_domain: = 'fraud.example'")
    listed = ok_json(http(gw, "GET", "/v1/radar/rules", key))
    assert [r["id"] for r in listed["data"]] == [rule["id"]]
    gone = ok_json(http(gw, "DELETE", f"/v1/radar/rules/{rule['id']}", key))
    assert gone["deleted"] is True
    assert ok_json(http(gw, "GET", "/v1/radar/rules", key))["data"] == []
    # Another account never sees them.
    assert http(gw, "GET", f"/v1/radar/rules/{rule['id']}", gw.secret_key).status_code == 404
