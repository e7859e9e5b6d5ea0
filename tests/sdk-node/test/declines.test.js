// Sweep over the "Decline" table of shared/TEST_CARDS.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGateway, createCardPM, assertId, expectStripeError, E } from './harness.js';

const gw = useGateway();

// [number, code, decline_code] -- decline_code null where the table says "—";
// the SDK exposes a missing/null decline_code on StripeCardError as ''.
const DECLINES = [
  ['4000000000000002', 'card_declined', 'generic_decline'],
  ['4000000000009995', 'card_declined', 'insufficient_funds'],
  ['4000000000009987', 'card_declined', 'lost_card'],
  ['4000000000009979', 'card_declined', 'stolen_card'],
  ['4000000000006975', 'card_declined', 'card_velocity_exceeded'],
  ['4000000000000069', 'expired_card', null],
  ['4000000000000127', 'incorrect_cvc', null],
  ['4000000000000119', 'processing_error', null],
];

async function assertDeclinedAttempt(err, { code, declineCode, number }) {
  assert.equal(err.type, 'StripeCardError');
  assert.equal(err.statusCode, 402);
  assert.equal(err.rawType, 'card_error');
  assert.equal(err.code, code);
  assert.equal(err.decline_code, declineCode ?? '');
  assert.match(err.requestId, /^req_/);
  assert.ok(!err.message.includes(number), 'error message must not echo the card number');
}

for (const [number, code, declineCode] of DECLINES) {
  test(`decline ${number} -> ${code}${declineCode ? ` / ${declineCode}` : ''}`, async () => {
    const pm = await createCardPM(gw.stripe, number);
    assertId(pm.id, 'pm_');
    assert.equal(pm.card.last4, number.slice(-4));

    const pi = await gw.stripe.paymentIntents.create({
      amount: 2000,
      currency: 'usd',
      payment_method: pm.id,
    });
    const err = await expectStripeError(
      gw.stripe.paymentIntents.confirm(pi.id),
      E.StripeCardError,
      402,
    );
    await assertDeclinedAttempt(err, { code, declineCode, number });

    const after = await gw.stripe.paymentIntents.retrieve(pi.id);
    assert.equal(after.status, 'requires_payment_method');
    assert.equal(after.last_payment_error.type, 'card_error');
    assert.equal(after.last_payment_error.code, code);
    if (declineCode) assert.equal(after.last_payment_error.decline_code, declineCode);
    assert.equal(after.amount_received, 0);
    assertId(after.latest_charge, 'ch_');
    const ch = await gw.stripe.charges.retrieve(after.latest_charge);
    assert.equal(ch.status, 'failed');
    assert.equal(ch.paid, false);
    assert.equal(ch.captured, false);
    assert.equal(ch.failure_code, code);
    assert.equal(ch.payment_intent, pi.id);

    // the same card, created and confirmed in one call, fails the same way
    const err2 = await expectStripeError(
      gw.stripe.paymentIntents.create({
        amount: 2000,
        currency: 'usd',
        confirm: true,
        payment_method: (await createCardPM(gw.stripe, number)).id,
      }),
      E.StripeCardError,
      402,
    );
    await assertDeclinedAttempt(err2, { code, declineCode, number });
  });
}

test('decline 4242424242424241 -> incorrect_number at PaymentMethod creation', async () => {
  const err = await expectStripeError(
    createCardPM(gw.stripe, '4242424242424241'),
    E.StripeCardError,
    402,
  );
  await assertDeclinedAttempt(err, {
    code: 'incorrect_number',
    declineCode: null,
    number: '4242424242424241',
  });

  // same through payment_method_data on a PaymentIntent
  const err2 = await expectStripeError(
    gw.stripe.paymentIntents.create({
      amount: 100,
      currency: 'usd',
      confirm: true,
      payment_method_data: {
        type: 'card',
        card: { number: '4242424242424241', exp_month: 12, exp_year: new Date().getUTCFullYear() + 1, cvc: '123' },
      },
    }),
    E.StripeCardError,
    402,
  );
  assert.equal(err2.code, 'incorrect_number');
});

test('decline 4000000000000341: attaching succeeds, every charge declines', async () => {
  const cus = await gw.stripe.customers.create();
  const pm = await createCardPM(gw.stripe, '4000000000000341');
  const att = await gw.stripe.paymentMethods.attach(pm.id, { customer: cus.id });
  assert.equal(att.customer, cus.id);
  for (let i = 0; i < 2; i++) {
    const err = await expectStripeError(
      gw.stripe.paymentIntents.create({
        amount: 1500,
        currency: 'usd',
        customer: cus.id,
        payment_method: pm.id,
        confirm: true,
      }),
      E.StripeCardError,
      402,
    );
    await assertDeclinedAttempt(err, {
      code: 'card_declined',
      declineCode: 'generic_decline',
      number: '4000000000000341',
    });
  }
});

test('4100000000000019 is blocked by the risk engine', async () => {
  const pm = await createCardPM(gw.stripe, '4100000000000019');
  const pi = await gw.stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method: pm.id });
  const err = await expectStripeError(gw.stripe.paymentIntents.confirm(pi.id), E.StripeCardError, 402);
  assert.equal(err.code, 'card_declined');
  assert.equal(err.decline_code, 'fraudulent');
  const after = await gw.stripe.paymentIntents.retrieve(pi.id, { expand: ['latest_charge'] });
  assert.equal(after.latest_charge.outcome.type, 'blocked');
});

test('a successful card next to the declines still succeeds', async () => {
  const pm = await createCardPM(gw.stripe, '4242424242424242');
  const pi = await gw.stripe.paymentIntents.create({
    amount: 2000,
    currency: 'usd',
    payment_method: pm.id,
    confirm: true,
  });
  assert.equal(pi.status, 'succeeded');
});
