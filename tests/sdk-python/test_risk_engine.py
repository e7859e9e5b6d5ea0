"""The risk engine's signals, as rules see them: the shopper's IP country (from the
address of the browser that tokenized the card, looked up in the bundled test
database that places 127.0.1.0/24 in GB and 127.0.0.0/24 in the US), disposable
email domains, velocity counters per card and per IP address, the customer's age,
the CVC check (evaluated after the network answers, voiding the authorization),
Radar value lists, the risk score, and the dry run that replays past attempts with
a new rule. Each test uses its own account, since rules apply to every payment of an
account."""

import http.client as httpclient
import json
from urllib.parse import urlencode

import pytest
import stripe

import tessera_support as T
from tessera_support import EXP_MONTH, EXP_YEAR, create_card_pm, http, ok_json, pay


@pytest.fixture
def account(gw):
    acct = gw.create_account()
    return acct, gw.sdk(acct.secret_key)


def add_rule(gw, key, text):
    return ok_json(http(gw, "POST", "/v1/radar/rules", key, {"rule": text}))


def browser_pm(gw, publishable_key, number, source, **billing):
    """Tokenizes a card the way a shopper's browser does (publishable key), from the
    loopback address `source`."""
    host, port = gw.api.split("//")[1].split(":")
    conn = httpclient.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    form = {"type": "card", "card[number]": number, "card[exp_month]": str(EXP_MONTH),
            "card[exp_year]": str(EXP_YEAR), "card[cvc]": "123"}
    for k, v in billing.items():
        form[f"billing_details[{k}]"] = v
    try:
        conn.request("POST", "/v1/payment_methods", urlencode(form),
                     {"Authorization": f"Bearer {publishable_key}",
                      "Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        body = json.loads(r.read())
        assert r.status == 200, body
        return body["id"]
    finally:
        conn.close()


def blocked(client, pm_id, **kw):
    with pytest.raises(stripe.CardError) as e:
        pay(client, pm_id, **kw)
    assert e.value.code == "card_declined" and e.value.error.decline_code == "fraudulent"
    return client.v1.charges.retrieve(e.value.error.payment_intent["latest_charge"])


def test_ip_country_comes_from_the_tokenizing_browser(gw, account):
    acct, client = account
    rule = add_rule(gw, acct.secret_key, "Block if :ip_country: != :card_country:")
    from_gb = browser_pm(gw, acct.publishable_key, "4242424242424242", "127.0.1.5")
    charge = blocked(client, from_gb)
    assert charge.outcome.rule["id"] == rule["id"]
    assert charge.outcome.network_status == "not_sent_to_network"
    from_us = browser_pm(gw, acct.publishable_key, "4242424242424242", "127.0.0.9")
    assert pay(client, from_us).status == "succeeded"
    # A card tokenized by the merchant's server (secret key) has no shopper address:
    # the comparison is unknown, and the rule does not match.
    assert pay(client, create_card_pm(client, "4242424242424242").id).status == "succeeded"


def test_disposable_email_domains(gw, account):
    acct, client = account
    add_rule(gw, acct.secret_key, "Block if :is_disposable_email:")
    throwaway = create_card_pm(client, "4242424242424242",
                               billing_details={"email": "someone@Team.Mailinator.com"})
    assert blocked(client, throwaway.id).outcome.type == "blocked"
    real = create_card_pm(client, "4242424242424242", billing_details={"email": "someone@example.org"})
    assert pay(client, real.id).status == "succeeded"


def test_velocity_per_card(gw, account):
    acct, client = account
    add_rule(gw, acct.secret_key, "Block if :total_charges_per_card_number_hourly: >= 3")
    for _ in range(3):
        assert pay(client, create_card_pm(client, "4000056655665556").id).status == "succeeded"
    # The fourth attempt with the same card (same fingerprint) this hour is blocked;
    # another card is not.
    blocked(client, create_card_pm(client, "4000056655665556").id)
    assert pay(client, create_card_pm(client, "5555555555554444").id).status == "succeeded"


def test_distinct_cards_per_ip_address(gw, account):
    acct, client = account
    add_rule(gw, acct.secret_key, "Block if :card_count_for_ip_address_daily: >= 3")
    cards = ["4242424242424242", "5555555555554444", "4000056655665556", "2223003122003222"]
    for number in cards[:3]:
        assert pay(client, browser_pm(gw, acct.publishable_key, number, "127.0.2.7")).status == "succeeded"
    blocked(client, browser_pm(gw, acct.publishable_key, cards[3], "127.0.2.7"))
    # A shopper elsewhere is unaffected.
    assert pay(client, browser_pm(gw, acct.publishable_key, cards[3], "127.0.2.8")).status == "succeeded"


def test_declines_per_card_count_toward_the_next_attempt(gw, account):
    acct, client = account
    add_rule(gw, acct.secret_key, "Block if :declined_charges_per_card_number_daily: >= 2")
    for _ in range(2):
        with pytest.raises(stripe.CardError) as e:
            pay(client, create_card_pm(client, T.CHARGE_CUSTOMER_FAIL).id)
        assert e.value.error.decline_code == "generic_decline"
    charge = blocked(client, create_card_pm(client, T.CHARGE_CUSTOMER_FAIL).id)
    assert charge.outcome.reason == "rule"


def test_customer_age(gw, account):
    acct, client = account
    add_rule(gw, acct.secret_key, "Review if :customer_age_in_days: < 1")
    customer = client.v1.customers.create({"email": "new@example.org"})
    pm = create_card_pm(client, "4242424242424242")
    pi = client.v1.payment_intents.create({"amount": 1500, "currency": "usd", "customer": customer.id,
                                           "payment_method": pm.id, "confirm": True})
    assert pi.status == "succeeded"
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.outcome.type == "manual_review" and charge.outcome.reason == "rule"
    # Without a Customer the age is missing and the rule does not match.
    plain = client.v1.charges.retrieve(pay(client, create_card_pm(client, "4242424242424242").id).latest_charge)
    assert plain.outcome.type == "authorized"


def test_cvc_check_rule_voids_an_approved_authorization(gw, account):
    acct, client = account
    rule = add_rule(gw, acct.secret_key, "Block if :cvc_check: = 'fail'")
    charge = blocked(client, create_card_pm(client, T.CVC_FAIL).id)
    assert charge.outcome.type == "blocked"
    assert charge.outcome.rule["id"] == rule["id"]
    # The network had approved it; the rule decided after, and nothing was captured.
    assert charge.outcome.network_status == "approved_by_network"
    assert charge.captured is False and charge.status == "failed"
    assert pay(client, create_card_pm(client, "4242424242424242").id).status == "succeeded"


def test_address_check_rules(gw, account):
    acct, client = account
    add_rule(gw, acct.secret_key, "Review if :address_zip_check: = 'fail'")
    billing = {"address": {"line1": "1 Main St", "postal_code": "94107", "country": "US"}}
    zip_fails = create_card_pm(client, "4000000000000036", billing_details=billing)
    charge = client.v1.charges.retrieve(pay(client, zip_fails.id).latest_charge)
    assert charge.outcome.type == "manual_review" and charge.outcome.reason == "rule"
    ok = create_card_pm(client, "4242424242424242", billing_details=billing)
    assert client.v1.charges.retrieve(pay(client, ok.id).latest_charge).outcome.type == "authorized"


def test_value_lists(gw, account):
    acct, client = account
    vl = client.v1.radar.value_lists.create({"alias": "blocked_emails", "name": "Blocked emails",
                                             "item_type": "email"})
    assert vl.object == "radar.value_list" and vl.id.startswith("rsl_")
    item = client.v1.radar.value_list_items.create({"value_list": vl.id, "value": "fraud@example.org"})
    assert item.object == "radar.value_list_item" and item.value_list == vl.id
    add_rule(gw, acct.secret_key, "Block if :email: IN @blocked_emails")
    listed = create_card_pm(client, "4242424242424242", billing_details={"email": "Fraud@Example.org"})
    blocked(client, listed.id)
    fine = create_card_pm(client, "4242424242424242", billing_details={"email": "fine@example.org"})
    assert pay(client, fine.id).status == "succeeded"
    got = client.v1.radar.value_lists.retrieve(vl.id)
    assert [i.value for i in got.list_items.data] == ["fraud@example.org"]
    items = client.v1.radar.value_list_items.list({"value_list": vl.id})
    assert [i.id for i in items.data] == [item.id]
    # A list a rule uses cannot be deleted from under it.
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.radar.value_lists.delete(vl.id)
    assert "delete the rule first" in e.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as e:
        client.v1.radar.value_list_items.create({"value_list": vl.id, "value": "not an email"})
    assert e.value.param == "value"
    removed = client.v1.radar.value_list_items.delete(item.id)
    assert removed.deleted is True
    again = create_card_pm(client, "4242424242424242", billing_details={"email": "fraud@example.org"})
    assert pay(client, again.id).status == "succeeded"


def test_a_payment_looks_its_values_up_in_a_list_and_lists_made_before_are_keyed_when_added_to():
    """Each item is kept under its match key (lower-cased unless the list is
    case-sensitive), so a payment looks up the values it has rather than reading the
    list. A list whose items were stored before that (made here by taking the keys
    away in the stopped gateway's store) is read whole until its next item is added,
    which keys it."""
    from conftest import Gateway

    gw = Gateway()
    try:
        fingerprint = {n: create_card_pm(gw.client, n).card.fingerprint
                       for n in ("5555555555554444", "4000056655665556")}
        assert fingerprint["4000056655665556"].swapcase() != fingerprint["4000056655665556"]
        emails = gw.client.v1.radar.value_lists.create({"alias": "emails", "name": "Emails",
                                                     "item_type": "email"})
        exact = gw.client.v1.radar.value_lists.create({"alias": "exact", "name": "Exact"})
        for value in ("Fraud@Example.org", "other@example.org"):
            gw.client.v1.radar.value_list_items.create({"value_list": emails.id, "value": value})
        for value in (fingerprint["5555555555554444"], fingerprint["4000056655665556"].swapcase()):
            gw.client.v1.radar.value_list_items.create({"value_list": exact.id, "value": value})
        add_rule(gw, gw.secret_key, "Block if :email: IN @emails")
        add_rule(gw, gw.secret_key, "Block if :card_fingerprint: IN @exact")

        def outcome(email, number="4242424242424242"):
            pm = create_card_pm(gw.client, number, billing_details={"email": email})
            try:
                return pay(gw.client, pm.id).status
            except stripe.CardError as e:
                assert e.error.decline_code == "fraudulent"
                return "blocked"

        def check():
            assert outcome("fraud@example.ORG") == "blocked", "a case-insensitive list"
            assert outcome("fine@example.org", "5555555555554444") == "blocked", "a case-sensitive list"
            assert outcome("fine@example.org", "4000056655665556") == "succeeded", "other case"
            assert outcome("fine@example.org") == "succeeded"

        check()
        # An item whose key is already in the list is the same value.
        with pytest.raises(stripe.InvalidRequestError) as e:
            gw.client.v1.radar.value_list_items.create({"value_list": emails.id, "value": "FRAUD@example.org"})
        assert "already contains this value" in e.value.user_message
        assert gw.client.v1.radar.value_lists.retrieve(emails.id).list_items.total_count == 2

        gw.stop()
        assert gw.change_store("UPDATE objects SET ref2 = NULL WHERE kind = 'radar.value_list_item'") == 4
        assert gw.change_store("UPDATE objects SET private = NULL WHERE kind = 'radar.value_list'") == 2
        gw.restart()
        check()
        gw.client.v1.radar.value_list_items.create({"value_list": emails.id, "value": "new@example.org"})
        keys = gw.store_values("SELECT ref2 FROM objects WHERE kind = 'radar.value_list_item' AND ref1 = ?",
                               (emails.id,))
        assert keys == {"fraud@example.org", "other@example.org", "new@example.org"}
        assert outcome("NEW@example.org") == "blocked"
        check()
    finally:
        gw.stop()
        gw.cleanup()


def test_risk_score_and_level_are_rule_attributes(gw, account):
    acct, client = account
    plain = client.v1.charges.retrieve(pay(client, create_card_pm(client, "4242424242424242").id).latest_charge)
    assert plain.outcome.risk_level == "normal" and 0 <= plain.outcome.risk_score < 65
    add_rule(gw, acct.secret_key, "Block if :risk_score: >= 65")
    # The elevated-risk test card scores 70 through the engine; this account's rule
    # blocks it before Radar's default review rule is reached.
    charge = blocked(client, create_card_pm(client, T.RISK_ELEVATED).id)
    assert charge.outcome.reason == "rule" and charge.outcome.risk_score >= 65


def test_risk_test_cards_go_through_the_rules(gw, account):
    acct, client = account
    # An Allow rule is evaluated before Radar's defaults: the highest-risk card is no
    # longer blocked and the elevated one no longer reviewed...
    add_rule(gw, acct.secret_key, "Allow if :card_country: = 'US'")
    highest = pay(client, create_card_pm(client, T.RISK_HIGHEST).id)
    assert highest.status == "succeeded"
    assert client.v1.charges.retrieve(highest.latest_charge).outcome.risk_level == "highest"
    elevated = client.v1.charges.retrieve(pay(client, create_card_pm(client, T.RISK_ELEVATED).id).latest_charge)
    assert elevated.outcome.type == "authorized" and elevated.outcome.risk_level == "elevated"
    # ...but a card the network lists as used in fraud is blocked whatever the rules say.
    charge = blocked(client, create_card_pm(client, T.RADAR_BLOCK).id)
    assert charge.outcome.reason == "highest_risk_level" and charge.outcome.rule is None


def test_dry_run_replays_past_attempts(gw, account):
    acct, client = account
    small = [pay(client, create_card_pm(client, "4242424242424242").id, amount=1000) for _ in range(3)]
    # The large ones on cards not seen before, so the default rules let them through.
    large = [pay(client, create_card_pm(client, number).id, amount=90000)
             for number in ("5555555555554444", "4000056655665556")]
    report = ok_json(http(gw, "POST", "/v1/radar/rules/dry_run", acct.secret_key,
                          {"rule": "Block if :amount_in_usd: > 500", "days": "7"}))
    assert report["object"] == "radar.rule_dry_run"
    assert report["attempts"] == 5 and report["matched"] == 2 and report["changed"] == 2
    assert report["changed_to"]["blocked"] == 2
    assert {e["charge"] for e in report["examples"]} == {pi.latest_charge for pi in large}
    assert all(e["from"] == "authorized" and e["to"] == "blocked" for e in report["examples"])
    # Nothing was saved: the account still has no rules, and a large payment still pays.
    assert ok_json(http(gw, "GET", "/v1/radar/rules", acct.secret_key))["data"] == []
    assert small[0].status == "succeeded"
    bad = http(gw, "POST", "/v1/radar/rules/dry_run", acct.secret_key, {"rule": "Block if :amount: > 5"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "rule"
    bad = http(gw, "POST", "/v1/radar/rules/dry_run", acct.secret_key,
               {"rule": "Block if :amount_in_usd: > 5", "days": "365"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "days"


def test_rules_from_the_command_line(gw, account):
    acct, client = account
    dd = ["rules", "--data-dir", str(gw.data_dir), "--account", acct.account_id]
    pay(client, create_card_pm(client, "4242424242424242").id, amount=70000)
    report = json.loads(gw.cli(*dd, "dry-run", "Review if :amount_in_usd: > 500", "--days", "1"))
    assert report["attempts"] == 1 and report["changed_to"]["manual_review"] == 1
    added = json.loads(gw.cli(*dd, "add", "Review if :amount_in_usd: > 500", "--description", "big"))
    assert added["id"].startswith("rule_") and added["action"] == "review"
    listed = json.loads(gw.cli(*dd, "list"))
    assert [r["id"] for r in listed["data"]] == [added["id"]]
    # The running gateway applies the rule the command line added.
    pi = pay(client, create_card_pm(client, "4242424242424242").id, amount=70000)
    assert client.v1.charges.retrieve(pi.latest_charge).outcome.type == "manual_review"
    with pytest.raises(RuntimeError) as e:
        gw.cli(*dd, "add", "Block if :colour: = 'red'")
    assert ":colour:" in str(e.value)
    deleted = json.loads(gw.cli(*dd, "delete", added["id"]))
    assert deleted["deleted"] is True
    assert json.loads(gw.cli(*dd, "list"))["data"] == []


def test_velocity_survives_a_sigkill():
    """The counters are rebuilt from the recorded attempts when the gateway restarts,
    even after it was killed without warning."""
    import os
    import signal
    import subprocess
    import time

    from conftest import READY_TIMEOUT, SUITE_LIMITS, TESSERA_BIN, Gateway, make_client

    first = Gateway()
    try:
        client = first.client
        ok_json(http(first, "POST", "/v1/radar/rules", first.secret_key,
                     {"rule": "Block if :total_charges_per_card_number_daily: >= 2"}))
        for _ in range(2):
            assert pay(client, create_card_pm(client, "4242424242424242").id).status == "succeeded"
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        first.ready_file.unlink()
        with open(first.log_dir / "restart.log", "wb") as log:
            proc = subprocess.Popen(
                [str(TESSERA_BIN), "serve", "--data-dir", str(first.data_dir),
                 "--listen", "127.0.0.1:0", "--ready-file", str(first.ready_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env={**os.environ, **SUITE_LIMITS, "TMPDIR": str(first.server_tmp)})
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while not first.ready_file.exists() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            time.sleep(0.1)
            api = json.loads(first.ready_file.read_text())["api"]
            again = make_client(api, first.secret_key)
            with pytest.raises(stripe.CardError) as e:
                pay(again, create_card_pm(again, "4242424242424242").id)
            assert e.value.error.decline_code == "fraudulent"
        finally:
            proc.kill()
            proc.wait()
    finally:
        first._kill()


def test_attempts_older_than_the_longest_dry_run_are_pruned():
    """The engine keeps each payment attempt as long as a rule's dry run can replay it
    (90 days); the gateway then deletes it (every minute, and once at start). The days
    are made to pass by ageing two attempts in the store file while it is stopped."""
    from conftest import Gateway

    gw = Gateway()
    try:
        client = gw.client
        charges = [pay(client, create_card_pm(client, "4242424242424242").id, amount=90000).latest_charge
                   for _ in range(3)]
        gw.stop()
        for charge, days in ((charges[0], 91), (charges[1], 89)):
            assert gw.change_store("UPDATE risk_attempts SET at = at - ? * 86400 WHERE charge = ?",
                                   (days, charge)) == 1
        gw.restart()
        kept = gw.poll_store_values("SELECT charge FROM risk_attempts", until=lambda found: charges[0] not in found)
        assert kept == set(charges[1:]), "only the attempt older than 90 days is pruned"
        assert "pruned risk attempts older than the longest rule dry run" in gw.log_text()
        # The longest dry run still replays everything inside its window.
        report = ok_json(http(gw, "POST", "/v1/radar/rules/dry_run", gw.secret_key,
                              {"rule": "Block if :amount_in_usd: > 500", "days": "90"}))
        assert report["attempts"] == 2 and report["changed_to"]["blocked"] == 2
    finally:
        gw.stop()
        gw.cleanup()
