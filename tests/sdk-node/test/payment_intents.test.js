import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGateway, createCardPM, assertId, expectStripeError, E } from './harness.js';

const gw = useGateway();

test('create without confirm, then confirm', async () => {
  const bare = await gw.stripe.paymentIntents.create({ amount: 1099, currency: 'usd' });
  assertId(bare.id, 'pi_');
  assert.equal(bare.object, 'payment_intent');
  assert.equal(bare.status, 'requires_payment_method');
  assert.equal(bare.amount, 1099);
  assert.equal(bare.currency, 'usd');
  assert.equal(bare.livemode, false);
  // API versions from 2024-04-10 on default to automatic_async; both capture at once
  assert.ok(['automatic', 'automatic_async'].includes(bare.capture_method), bare.capture_method);
  assert.equal(bare.latest_charge, null);
  assert.equal(bare.amount_received, 0);
  assert.deepEqual(bare.metadata, {});
  assert.ok(bare.client_secret.startsWith(`${bare.id}_secret_`), bare.client_secret);
  assert.ok(Array.isArray(bare.payment_method_types) && bare.payment_method_types.includes('card'));

  const pm = await createCardPM(gw.stripe, '4242424242424242');
  const pi = await gw.stripe.paymentIntents.create({
    amount: 2000,
    currency: 'usd',
    payment_method: pm.id,
    description: 'order 1',
    metadata: { order_id: '1' },
  });
  assert.equal(pi.status, 'requires_confirmation');
  assert.equal(pi.payment_method, pm.id);
  assert.equal(pi.description, 'order 1');
  assert.deepEqual(pi.metadata, { order_id: '1' });

  const confirmed = await gw.stripe.paymentIntents.confirm(pi.id);
  assert.equal(confirmed.id, pi.id);
  assert.equal(confirmed.status, 'succeeded');
  assert.equal(confirmed.amount_received, 2000);
  assertId(confirmed.latest_charge, 'ch_');
  assert.equal(confirmed.last_payment_error, null);
  assert.equal(confirmed.next_action, null);

  // confirm with a payment_method supplied at confirm time
  const pi2 = await gw.stripe.paymentIntents.create({ amount: 500, currency: 'eur' });
  const c2 = await gw.stripe.paymentIntents.confirm(pi2.id, { payment_method: 'pm_card_visa' });
  assert.equal(c2.status, 'succeeded');
  assert.equal(c2.currency, 'eur');
  assertId(c2.payment_method, 'pm_');
});

test('create with confirm=true succeeds and retrieve returns the same intent', async () => {
  const pm = await createCardPM(gw.stripe, '4242424242424242');
  const pi = await gw.stripe.paymentIntents.create({
    amount: 4200,
    currency: 'usd',
    payment_method: pm.id,
    confirm: true,
  });
  assert.equal(pi.status, 'succeeded');
  assert.equal(pi.amount_received, 4200);
  assert.equal(pi.amount_capturable, 0);
  assertId(pi.latest_charge, 'ch_');

  const got = await gw.stripe.paymentIntents.retrieve(pi.id);
  assert.equal(got.id, pi.id);
  assert.equal(got.status, 'succeeded');
  assert.equal(got.amount, 4200);
  assert.equal(got.latest_charge, pi.latest_charge);
  assert.equal(got.payment_method, pm.id);
  assert.equal(got.created, pi.created);

  const err = await expectStripeError(
    gw.stripe.paymentIntents.retrieve('pi_doesnotexist00000000000000'),
    E.StripeInvalidRequestError,
    404,
  );
  assert.equal(err.code, 'resource_missing');
});

test('payment_method_data creates the PaymentMethod inline', async () => {
  const pi = await gw.stripe.paymentIntents.create({
    amount: 1500,
    currency: 'usd',
    confirm: true,
    payment_method_data: {
      type: 'card',
      card: { number: '5555555555554444', exp_month: 1, exp_year: new Date().getUTCFullYear() + 2, cvc: '321' },
    },
  });
  assert.equal(pi.status, 'succeeded');
  const pm = await gw.stripe.paymentMethods.retrieve(pi.payment_method);
  assert.equal(pm.card.brand, 'mastercard');
  assert.equal(pm.card.last4, '4444');
});

test('update amount, description and metadata', async () => {
  const pi = await gw.stripe.paymentIntents.create({
    amount: 1000,
    currency: 'usd',
    metadata: { a: '1' },
  });
  const up = await gw.stripe.paymentIntents.update(pi.id, {
    amount: 1234,
    description: 'updated',
    metadata: { b: '2' },
  });
  assert.equal(up.id, pi.id);
  assert.equal(up.amount, 1234);
  assert.equal(up.description, 'updated');
  assert.deepEqual(up.metadata, { a: '1', b: '2' }, 'metadata updates merge');
  const got = await gw.stripe.paymentIntents.retrieve(pi.id);
  assert.equal(got.amount, 1234);
  assert.equal(got.description, 'updated');

  // a succeeded intent's amount can no longer change
  const done = await gw.stripe.paymentIntents.create({
    amount: 1000,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    confirm: true,
  });
  assert.equal(done.status, 'succeeded');
  await expectStripeError(
    gw.stripe.paymentIntents.update(done.id, { amount: 5 }),
    E.StripeInvalidRequestError,
    400,
  );
});

test('manual capture: full capture', async () => {
  const pm = await createCardPM(gw.stripe, '4242424242424242');
  const pi = await gw.stripe.paymentIntents.create({
    amount: 3000,
    currency: 'usd',
    payment_method: pm.id,
    capture_method: 'manual',
    confirm: true,
  });
  assert.equal(pi.capture_method, 'manual');
  assert.equal(pi.status, 'requires_capture');
  assert.equal(pi.amount_capturable, 3000);
  assert.equal(pi.amount_received, 0);
  const ch = await gw.stripe.charges.retrieve(pi.latest_charge);
  assert.equal(ch.captured, false);
  assert.equal(ch.status, 'succeeded');
  assert.equal(ch.amount_captured, 0);

  const cap = await gw.stripe.paymentIntents.capture(pi.id);
  assert.equal(cap.status, 'succeeded');
  assert.equal(cap.amount_received, 3000);
  assert.equal(cap.amount_capturable, 0);
  assert.equal(cap.latest_charge, pi.latest_charge);
  const ch2 = await gw.stripe.charges.retrieve(pi.latest_charge);
  assert.equal(ch2.captured, true);
  assert.equal(ch2.amount_captured, 3000);

  // capturing twice is refused
  const err = await expectStripeError(
    gw.stripe.paymentIntents.capture(pi.id),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(err.code, 'payment_intent_unexpected_state');
});

test('manual capture: partial capture with amount_to_capture', async () => {
  const pi = await gw.stripe.paymentIntents.create({
    amount: 5000,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    capture_method: 'manual',
    confirm: true,
  });
  assert.equal(pi.status, 'requires_capture');

  await expectStripeError(
    gw.stripe.paymentIntents.capture(pi.id, { amount_to_capture: 6000 }),
    E.StripeInvalidRequestError,
    400,
  );

  const cap = await gw.stripe.paymentIntents.capture(pi.id, { amount_to_capture: 3500 });
  assert.equal(cap.status, 'succeeded');
  assert.equal(cap.amount, 5000);
  assert.equal(cap.amount_received, 3500);
  assert.equal(cap.amount_capturable, 0);
  const ch = await gw.stripe.charges.retrieve(cap.latest_charge);
  assert.equal(ch.captured, true);
  assert.equal(ch.amount, 5000);
  assert.equal(ch.amount_captured, 3500);
});

test('capturing an automatic-capture intent is refused', async () => {
  const pi = await gw.stripe.paymentIntents.create({ amount: 700, currency: 'usd' });
  const err = await expectStripeError(
    gw.stripe.paymentIntents.capture(pi.id),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(err.code, 'payment_intent_unexpected_state');
});

test('cancel', async () => {
  const pi = await gw.stripe.paymentIntents.create({ amount: 800, currency: 'usd' });
  const c = await gw.stripe.paymentIntents.cancel(pi.id, {
    cancellation_reason: 'requested_by_customer',
  });
  assert.equal(c.id, pi.id);
  assert.equal(c.status, 'canceled');
  assert.equal(c.cancellation_reason, 'requested_by_customer');
  assert.equal(typeof c.canceled_at, 'number');
  assert.equal((await gw.stripe.paymentIntents.retrieve(pi.id)).status, 'canceled');

  // an authorised, uncaptured intent can be canceled too
  const auth = await gw.stripe.paymentIntents.create({
    amount: 900,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    capture_method: 'manual',
    confirm: true,
  });
  assert.equal(auth.status, 'requires_capture');
  const c2 = await gw.stripe.paymentIntents.cancel(auth.id);
  assert.equal(c2.status, 'canceled');
  assert.equal(c2.amount_capturable, 0);

  // confirming a canceled intent, or canceling a succeeded one, is refused
  const e1 = await expectStripeError(
    gw.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(e1.code, 'payment_intent_unexpected_state');
  const done = await gw.stripe.paymentIntents.create({
    amount: 1000,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    confirm: true,
  });
  const e2 = await expectStripeError(
    gw.stripe.paymentIntents.cancel(done.id),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(e2.code, 'payment_intent_unexpected_state');
});

test('a declined confirm answers 402 and leaves the intent requires_payment_method', async () => {
  const pi = await gw.stripe.paymentIntents.create({ amount: 1000, currency: 'usd' });
  const err = await expectStripeError(
    gw.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa_chargeDeclined' }),
    E.StripeCardError,
    402,
  );
  assert.equal(err.code, 'card_declined');
  assert.equal(err.decline_code, 'generic_decline');
  if (err.payment_intent) assert.equal(err.payment_intent.id, pi.id);
  const got = await gw.stripe.paymentIntents.retrieve(pi.id);
  assert.equal(got.status, 'requires_payment_method');
  assert.equal(got.last_payment_error.code, 'card_declined');
  assert.equal(got.last_payment_error.decline_code, 'generic_decline');
  assert.equal(got.last_payment_error.type, 'card_error');
  assertId(got.latest_charge, 'ch_');
  const ch = await gw.stripe.charges.retrieve(got.latest_charge);
  assert.equal(ch.status, 'failed');
  assert.equal(ch.failure_code, 'card_declined');

  // and can then be paid with another card
  const ok = await gw.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
  assert.equal(ok.status, 'succeeded');
  assert.notEqual(ok.latest_charge, got.latest_charge);
});

test('ready-made pm_card_visa and pm_card_visa_chargeDeclined', async () => {
  const ok = await gw.stripe.paymentIntents.create({
    amount: 1000,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    confirm: true,
  });
  assert.equal(ok.status, 'succeeded');
  assertId(ok.payment_method, 'pm_');
  const pm = await gw.stripe.paymentMethods.retrieve(ok.payment_method);
  assert.equal(pm.card.brand, 'visa');
  assert.equal(pm.card.last4, '4242');

  const ok2 = await gw.stripe.paymentIntents.create({
    amount: 1000,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    confirm: true,
  });
  assert.notEqual(ok2.payment_method, ok.payment_method, 'each use resolves to a fresh PaymentMethod');

  const err = await expectStripeError(
    gw.stripe.paymentIntents.create({
      amount: 1000,
      currency: 'usd',
      payment_method: 'pm_card_visa_chargeDeclined',
      confirm: true,
    }),
    E.StripeCardError,
    402,
  );
  assert.equal(err.code, 'card_declined');
  assert.equal(err.decline_code, 'generic_decline');
  assert.equal(err.rawType, 'card_error');
});

test('list with customer filter and created filter', async () => {
  const cus = await gw.stripe.customers.create({ name: 'Lister' });
  const mine = [];
  for (let i = 0; i < 3; i++) {
    mine.push(
      await gw.stripe.paymentIntents.create({ amount: 100 + i, currency: 'usd', customer: cus.id }),
    );
  }
  const stranger = await gw.stripe.paymentIntents.create({ amount: 999, currency: 'usd' });

  const list = await gw.stripe.paymentIntents.list({ customer: cus.id });
  assert.equal(list.object, 'list');
  assert.equal(list.url, '/v1/payment_intents');
  assert.equal(list.has_more, false);
  assert.deepEqual(list.data.map((p) => p.id).sort(), mine.map((p) => p.id).sort());
  for (const p of list.data) assert.equal(p.customer, cus.id);
  for (let i = 1; i < list.data.length; i++) {
    assert.ok(list.data[i - 1].created >= list.data[i].created, 'newest first');
  }
  assert.equal(list.data[0].id, mine[2].id, 'newest first');

  const page = await gw.stripe.paymentIntents.list({ customer: cus.id, limit: 2 });
  assert.equal(page.data.length, 2);
  assert.equal(page.has_more, true);
  const page2 = await gw.stripe.paymentIntents.list({
    customer: cus.id,
    limit: 2,
    starting_after: page.data[1].id,
  });
  assert.equal(page2.data.length, 1);
  assert.equal(page2.has_more, false);
  assert.equal(page2.data[0].id, mine[0].id);

  const t0 = mine[0].created;
  const inRange = await gw.stripe.paymentIntents.list({
    customer: cus.id,
    created: { gte: t0, lte: stranger.created + 1 },
  });
  assert.equal(inRange.data.length, 3);
  const before = await gw.stripe.paymentIntents.list({ customer: cus.id, created: { lt: t0 } });
  assert.equal(before.data.length, 0);
  const future = await gw.stripe.paymentIntents.list({ created: { gt: stranger.created + 3600 } });
  assert.equal(future.data.length, 0);
  const exact = await gw.stripe.paymentIntents.list({ created: stranger.created, limit: 100 });
  assert.ok(exact.data.some((p) => p.id === stranger.id));
  assert.ok(exact.data.every((p) => p.created === stranger.created));
  const all = await gw.stripe.paymentIntents.list({ created: { gte: t0 }, limit: 100 });
  assert.ok(all.data.some((p) => p.id === stranger.id));

  await expectStripeError(
    gw.stripe.paymentIntents.list({ limit: 101 }),
    E.StripeInvalidRequestError,
    400,
  );
});

test('an unknown payment method is refused alike whether or not it is shaped like an id', async () => {
  // A name shaped like Tessera's ids (pm_ and 24 letters or digits) is looked up in the
  // confirmation's own write; any other name is looked up before it.
  for (const [i, id] of ['pm_doesnotexist0000000000000000', 'pm_0000000AAAAAAAAAAAAAAAAA'].entries()) {
    const amount = 4321 + i;
    const onCreate = await expectStripeError(
      gw.stripe.paymentIntents.create({ amount, currency: 'usd', payment_method: id, confirm: true }),
      E.StripeInvalidRequestError,
    );
    assert.equal(onCreate.code, 'resource_missing');
    assert.equal(onCreate.param, 'payment_method');
    // Named as resolving it before the write names it (a name holding a card-number-like
    // run of digits is never echoed).
    assert.match(onCreate.message, /^No such payment_method: '/);
    // The intent was still created, as when creating and confirming are two calls.
    const recent = await gw.stripe.paymentIntents.list({ limit: 20 });
    const created = recent.data.find((pi) => pi.amount === amount);
    assert.ok(created, `an intent of ${amount} was created`);
    assert.equal(created.status, 'requires_payment_method');
    assert.equal(created.latest_charge, null);

    const onConfirm = await expectStripeError(
      gw.stripe.paymentIntents.confirm(created.id, { payment_method: id }),
      E.StripeInvalidRequestError,
    );
    assert.equal(onConfirm.code, 'resource_missing');
    assert.equal(onConfirm.param, 'payment_method');
    assert.equal(onConfirm.message, onCreate.message);
    const after = await gw.stripe.paymentIntents.retrieve(created.id);
    assert.equal(after.status, 'requires_payment_method');
    assert.equal(after.payment_method, null);
  }

  // Before anything about the intent: a succeeded one refuses a second confirmation for
  // its state, but an unknown payment method is named first.
  const pm = await createCardPM(gw.stripe, '4242424242424242');
  const paid = await gw.stripe.paymentIntents.create({
    amount: 1000,
    currency: 'usd',
    payment_method: pm.id,
    confirm: true,
  });
  assert.equal(paid.status, 'succeeded');
  for (const id of ['pm_doesnotexist0000000000000000', 'pm_0000000AAAAAAAAAAAAAAAAA']) {
    const err = await expectStripeError(
      gw.stripe.paymentIntents.confirm(paid.id, { payment_method: id }),
      E.StripeInvalidRequestError,
    );
    assert.equal(err.code, 'resource_missing', `${id}: ${err.message}`);
  }
});

test('confirm on create with an unknown payment method fails with resource_missing', async () => {
  const err = await expectStripeError(
    gw.stripe.paymentIntents.create({
      amount: 1000,
      currency: 'usd',
      payment_method: 'pm_doesnotexist0000000000000000',
      confirm: true,
    }),
    E.StripeInvalidRequestError,
  );
  assert.ok([400, 404].includes(err.statusCode));
  assert.equal(err.code, 'resource_missing');
});
