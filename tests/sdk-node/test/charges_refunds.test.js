import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGateway, createCardPM, assertId, expectStripeError, E } from './harness.js';

const gw = useGateway();

async function paid(amount, extra = {}) {
  const pm = await createCardPM(gw.stripe, '4242424242424242');
  const pi = await gw.stripe.paymentIntents.create({
    amount,
    currency: 'usd',
    payment_method: pm.id,
    confirm: true,
    ...extra,
  });
  assert.ok(['succeeded', 'requires_capture'].includes(pi.status), pi.status);
  return { pi, pm };
}

test('latest_charge and charges.retrieve', async () => {
  const { pi, pm } = await paid(2500, { description: 'charge me' });
  assertId(pi.latest_charge, 'ch_');
  const ch = await gw.stripe.charges.retrieve(pi.latest_charge);
  assert.equal(ch.id, pi.latest_charge);
  assert.equal(ch.object, 'charge');
  assert.equal(ch.amount, 2500);
  assert.equal(ch.amount_captured, 2500);
  assert.equal(ch.amount_refunded, 0);
  assert.equal(ch.currency, 'usd');
  assert.equal(ch.status, 'succeeded');
  assert.equal(ch.paid, true);
  assert.equal(ch.captured, true);
  assert.equal(ch.refunded, false);
  assert.equal(ch.livemode, false);
  assert.equal(ch.payment_intent, pi.id);
  assert.equal(ch.payment_method, pm.id);
  assert.equal(ch.failure_code, null);
  assert.equal(ch.outcome.network_status, 'approved_by_network');
  assert.equal(ch.outcome.type, 'authorized');
  assert.equal(typeof ch.outcome.risk_level, 'string');
  assert.equal(ch.payment_method_details.type, 'card');
  assert.equal(ch.payment_method_details.card.brand, 'visa');
  assert.equal(ch.payment_method_details.card.last4, '4242');
  assert.ok(!JSON.stringify(ch).includes('4242424242424242'));

  const err = await expectStripeError(
    gw.stripe.charges.retrieve('ch_doesnotexist00000000000000'),
    E.StripeInvalidRequestError,
    404,
  );
  assert.equal(err.code, 'resource_missing');
});

test('charges.list, filtered by payment_intent and customer', async () => {
  const cus = await gw.stripe.customers.create();
  const a = await paid(100, { customer: cus.id });
  const b = await paid(200);

  const all = await gw.stripe.charges.list({ limit: 100 });
  assert.equal(all.object, 'list');
  assert.equal(all.url, '/v1/charges');
  const ids = all.data.map((c) => c.id);
  assert.ok(ids.includes(a.pi.latest_charge));
  assert.ok(ids.includes(b.pi.latest_charge));
  for (const c of all.data) assert.equal(c.object, 'charge');

  const byPi = await gw.stripe.charges.list({ payment_intent: b.pi.id });
  assert.deepEqual(byPi.data.map((c) => c.id), [b.pi.latest_charge]);

  const byCus = await gw.stripe.charges.list({ customer: cus.id });
  assert.deepEqual(byCus.data.map((c) => c.id), [a.pi.latest_charge]);
  assert.equal(byCus.data[0].customer, cus.id);

  const one = await gw.stripe.charges.list({ limit: 1 });
  assert.equal(one.data.length, 1);
  assert.equal(one.has_more, true);
});

test('full refund', async () => {
  const { pi } = await paid(1800);
  const re = await gw.stripe.refunds.create({ payment_intent: pi.id });
  assertId(re.id, 're_');
  assert.equal(re.object, 'refund');
  assert.equal(re.amount, 1800);
  assert.equal(re.currency, 'usd');
  assert.equal(re.status, 'succeeded');
  assert.equal(re.charge, pi.latest_charge);
  assert.equal(re.payment_intent, pi.id);
  assert.equal(typeof re.created, 'number');
  assert.deepEqual(re.metadata, {});

  const ch = await gw.stripe.charges.retrieve(pi.latest_charge);
  assert.equal(ch.refunded, true);
  assert.equal(ch.amount_refunded, 1800);

  const again = await expectStripeError(
    gw.stripe.refunds.create({ charge: pi.latest_charge }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(again.code, 'charge_already_refunded');
});

test('multiple partial refunds up to the amount, then one more is refused', async () => {
  const { pi } = await paid(1000);
  const r1 = await gw.stripe.refunds.create({ charge: pi.latest_charge, amount: 300 });
  assert.equal(r1.amount, 300);
  assert.equal(r1.status, 'succeeded');
  let ch = await gw.stripe.charges.retrieve(pi.latest_charge);
  assert.equal(ch.amount_refunded, 300);
  assert.equal(ch.refunded, false);

  const r2 = await gw.stripe.refunds.create({ payment_intent: pi.id, amount: 300 });
  assert.equal(r2.amount, 300);
  assert.notEqual(r2.id, r1.id);

  // more than what is left (400) is refused and changes nothing
  const tooMuch = await expectStripeError(
    gw.stripe.refunds.create({ charge: pi.latest_charge, amount: 401 }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.ok(tooMuch.message.length > 0);
  ch = await gw.stripe.charges.retrieve(pi.latest_charge);
  assert.equal(ch.amount_refunded, 600);

  const r3 = await gw.stripe.refunds.create({ charge: pi.latest_charge, amount: 400 });
  assert.equal(r3.amount, 400);
  ch = await gw.stripe.charges.retrieve(pi.latest_charge);
  assert.equal(ch.amount_refunded, 1000);
  assert.equal(ch.refunded, true);

  const more = await expectStripeError(
    gw.stripe.refunds.create({ charge: pi.latest_charge, amount: 1 }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(more.code, 'charge_already_refunded');

  const list = await gw.stripe.refunds.list({ charge: pi.latest_charge });
  assert.equal(list.object, 'list');
  assert.equal(list.url, '/v1/refunds');
  assert.deepEqual(list.data.map((r) => r.id).sort(), [r1.id, r2.id, r3.id].sort());
  assert.equal(list.data.reduce((s, r) => s + r.amount, 0), 1000);
  assert.equal(list.data[0].id, r3.id, 'newest first');

  const byPi = await gw.stripe.refunds.list({ payment_intent: pi.id });
  assert.equal(byPi.data.length, 3);
});

test('refunds of a partially captured charge are bounded by the captured amount', async () => {
  const pi = await gw.stripe.paymentIntents.create({
    amount: 1000,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    capture_method: 'manual',
    confirm: true,
  });
  assert.equal(pi.status, 'requires_capture');
  const cap = await gw.stripe.paymentIntents.capture(pi.id, { amount_to_capture: 600 });
  assert.equal(cap.amount_received, 600);

  await expectStripeError(
    gw.stripe.refunds.create({ payment_intent: pi.id, amount: 601 }),
    E.StripeInvalidRequestError,
    400,
  );
  for (let i = 0; i < 3; i++) {
    const r = await gw.stripe.refunds.create({ payment_intent: pi.id, amount: 200 });
    assert.equal(r.status, 'succeeded');
  }
  const ch = await gw.stripe.charges.retrieve(cap.latest_charge);
  assert.equal(ch.amount_captured, 600);
  assert.equal(ch.amount_refunded, 600);
  await expectStripeError(
    gw.stripe.refunds.create({ payment_intent: pi.id, amount: 1 }),
    E.StripeInvalidRequestError,
    400,
  );
  // a full refund without an amount is refused too
  await expectStripeError(
    gw.stripe.refunds.create({ payment_intent: pi.id }),
    E.StripeInvalidRequestError,
    400,
  );
});

test('refund reason, retrieve, update metadata', async () => {
  const { pi } = await paid(1200);
  const re = await gw.stripe.refunds.create({
    payment_intent: pi.id,
    amount: 200,
    reason: 'requested_by_customer',
    metadata: { ticket: 'T-1' },
  });
  assert.equal(re.reason, 'requested_by_customer');
  assert.deepEqual(re.metadata, { ticket: 'T-1' });

  const got = await gw.stripe.refunds.retrieve(re.id);
  assert.equal(got.id, re.id);
  assert.equal(got.object, 'refund');
  assert.equal(got.amount, 200);
  assert.equal(got.reason, 'requested_by_customer');
  assert.equal(got.charge, pi.latest_charge);

  const up = await gw.stripe.refunds.update(re.id, { metadata: { ticket: 'T-2', agent: 'bob' } });
  assert.equal(up.id, re.id);
  assert.deepEqual(up.metadata, { ticket: 'T-2', agent: 'bob' });
  assert.deepEqual((await gw.stripe.refunds.retrieve(re.id)).metadata, { ticket: 'T-2', agent: 'bob' });

  const bad = await expectStripeError(
    gw.stripe.refunds.create({ payment_intent: pi.id, amount: 100, reason: 'because' }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(bad.param, 'reason');

  const missing = await expectStripeError(
    gw.stripe.refunds.retrieve('re_doesnotexist00000000000000'),
    E.StripeInvalidRequestError,
    404,
  );
  assert.equal(missing.code, 'resource_missing');
});

test('refunding an uncaptured or unpaid intent is refused', async () => {
  const open = await gw.stripe.paymentIntents.create({ amount: 1000, currency: 'usd' });
  await expectStripeError(
    gw.stripe.refunds.create({ payment_intent: open.id }),
    E.StripeInvalidRequestError,
    400,
  );
});
