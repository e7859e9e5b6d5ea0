"""4000000000000101: `cvc_check: fail`; declined `incorrect_cvc` when the account blocks
CVC failures (TEST_CARDS.md). The setting is per account (`tessera accounts configure`)."""

import pytest
import stripe

from tessera_support import create_card_pm, pay

CVC_FAILS = "4000000000000101"


def test_cvc_failure_passes_by_default_with_a_failed_check(client):
    pi = pay(client, create_card_pm(client, CVC_FAILS).id)
    assert pi.status == "succeeded"
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.payment_method_details.card.checks.cvc_check == "fail"


def test_an_account_that_blocks_cvc_failures_declines_them(gw):
    acct = gw.create_account()
    gw.cli("accounts", "configure", "--data-dir", str(gw.data_dir), "--account", acct.account_id,
           "--block-cvc-failures", "true")
    strict = gw.sdk(acct.secret_key)
    with pytest.raises(stripe.CardError) as e:
        pay(strict, create_card_pm(strict, CVC_FAILS).id)
    assert e.value.http_status == 402
    assert e.value.code == "incorrect_cvc"
    charge = strict.v1.charges.retrieve(e.value.error.payment_intent["latest_charge"])
    assert charge.payment_method_details.card.checks.cvc_check == "fail"
    # A card whose CVC passes still pays on that account.
    assert pay(strict, create_card_pm(strict, "4242424242424242").id).status == "succeeded"
