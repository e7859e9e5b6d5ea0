import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGateway, createCardPM, assertId, expectStripeError, E, eventually } from './harness.js';

const gw = useGateway();

/** Find the event of `type` whose data.object.id is `objectId` (events may lag a little). */
async function findEvent(type, objectId) {
  const found = await eventually(async () => {
    for await (const ev of gw.stripe.events.list({ type, limit: 100 })) {
      assert.equal(ev.type, type, `type filter returned ${ev.type}`);
      if (ev.data.object.id === objectId) return ev;
    }
    return null;
  });
  assert.ok(found, `no ${type} event for ${objectId}`);
  return found;
}

function assertEventShape(ev, type, objectName) {
  assertId(ev.id, 'evt_');
  assert.equal(ev.object, 'event');
  assert.equal(ev.type, type);
  assert.equal(ev.livemode, false);
  assert.equal(typeof ev.created, 'number');
  assert.equal(typeof ev.api_version, 'string');
  assert.equal(typeof ev.pending_webhooks, 'number');
  assert.ok('request' in ev);
  assert.equal(ev.data.object.object, objectName);
}

test('customer.created', async () => {
  const cus = await gw.stripe.customers.create({ email: 'events@example.com' });
  const ev = await findEvent('customer.created', cus.id);
  assertEventShape(ev, 'customer.created', 'customer');
  assert.equal(ev.data.object.email, 'events@example.com');
  assert.match(ev.request.id, /^req_/);
  assert.match(ev.request.idempotency_key, /^stripe-node-retry-/);
});

test('payment_intent.created, payment_intent.succeeded, charge.succeeded', async () => {
  const pm = await createCardPM(gw.stripe, '4242424242424242');
  const pi = await gw.stripe.paymentIntents.create({
    amount: 1000,
    currency: 'usd',
    payment_method: pm.id,
    confirm: true,
  });
  const created = await findEvent('payment_intent.created', pi.id);
  assertEventShape(created, 'payment_intent.created', 'payment_intent');
  const succeeded = await findEvent('payment_intent.succeeded', pi.id);
  assertEventShape(succeeded, 'payment_intent.succeeded', 'payment_intent');
  assert.equal(succeeded.data.object.status, 'succeeded');
  assert.equal(succeeded.data.object.amount_received, 1000);
  const chEv = await findEvent('charge.succeeded', pi.latest_charge);
  assertEventShape(chEv, 'charge.succeeded', 'charge');
  assert.equal(chEv.data.object.payment_intent, pi.id);
  assert.ok(succeeded.created >= created.created);

  const got = await gw.stripe.events.retrieve(succeeded.id);
  assert.equal(got.id, succeeded.id);
  assert.equal(got.type, 'payment_intent.succeeded');
  assert.deepEqual(got.data, succeeded.data);
});

test('payment_intent.payment_failed, charge.failed', async () => {
  const pi = await gw.stripe.paymentIntents.create({ amount: 1000, currency: 'usd' });
  await expectStripeError(
    gw.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa_chargeDeclined' }),
    E.StripeCardError,
    402,
  );
  const failed = await findEvent('payment_intent.payment_failed', pi.id);
  assertEventShape(failed, 'payment_intent.payment_failed', 'payment_intent');
  assert.equal(failed.data.object.last_payment_error.code, 'card_declined');
  const after = await gw.stripe.paymentIntents.retrieve(pi.id);
  const chFailed = await findEvent('charge.failed', after.latest_charge);
  assertEventShape(chFailed, 'charge.failed', 'charge');
  assert.equal(chFailed.data.object.status, 'failed');
  assert.equal(chFailed.data.object.failure_code, 'card_declined');
});

test('payment_intent.canceled', async () => {
  const pi = await gw.stripe.paymentIntents.create({ amount: 1000, currency: 'usd' });
  await gw.stripe.paymentIntents.cancel(pi.id);
  const ev = await findEvent('payment_intent.canceled', pi.id);
  assertEventShape(ev, 'payment_intent.canceled', 'payment_intent');
  assert.equal(ev.data.object.status, 'canceled');
});

test('payment_intent.amount_capturable_updated, charge.captured', async () => {
  const pi = await gw.stripe.paymentIntents.create({
    amount: 2500,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    capture_method: 'manual',
    confirm: true,
  });
  assert.equal(pi.status, 'requires_capture');
  const upd = await findEvent('payment_intent.amount_capturable_updated', pi.id);
  assertEventShape(upd, 'payment_intent.amount_capturable_updated', 'payment_intent');
  assert.equal(upd.data.object.amount_capturable, 2500);
  assert.equal(upd.data.object.status, 'requires_capture');

  await gw.stripe.paymentIntents.capture(pi.id, { amount_to_capture: 2000 });
  const cap = await findEvent('charge.captured', pi.latest_charge);
  assertEventShape(cap, 'charge.captured', 'charge');
  assert.equal(cap.data.object.captured, true);
  assert.equal(cap.data.object.amount_captured, 2000);
  const succ = await findEvent('payment_intent.succeeded', pi.id);
  assert.equal(succ.data.object.amount_received, 2000);
});

test('charge.refunded, refund.created', async () => {
  const pi = await gw.stripe.paymentIntents.create({
    amount: 900,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    confirm: true,
  });
  const re = await gw.stripe.refunds.create({ payment_intent: pi.id, amount: 400 });
  const rc = await findEvent('refund.created', re.id);
  assertEventShape(rc, 'refund.created', 'refund');
  assert.equal(rc.data.object.amount, 400);
  const cr = await findEvent('charge.refunded', pi.latest_charge);
  assertEventShape(cr, 'charge.refunded', 'charge');
  assert.equal(cr.data.object.amount_refunded, 400);
});

test('events.list: type filter, newest first, retrieve unknown', async () => {
  await gw.stripe.customers.create();
  await gw.stripe.customers.create();
  const list = await gw.stripe.events.list({ type: 'customer.created', limit: 100 });
  assert.equal(list.object, 'list');
  assert.equal(list.url, '/v1/events');
  assert.ok(list.data.length >= 2);
  for (const ev of list.data) assert.equal(ev.type, 'customer.created');
  for (let i = 1; i < list.data.length; i++) {
    assert.ok(list.data[i - 1].created >= list.data[i].created, 'newest first');
  }
  const all = await gw.stripe.events.list({ limit: 100 });
  assert.ok(all.data.length > list.data.length);
  assert.ok(new Set(all.data.map((e) => e.type)).size > 1);

  const none = await gw.stripe.events.list({ type: 'payment_intent.processing' });
  assert.deepEqual(none.data, []);

  const err = await expectStripeError(
    gw.stripe.events.retrieve('evt_doesnotexist0000000000000'),
    E.StripeInvalidRequestError,
    404,
  );
  assert.equal(err.code, 'resource_missing');
});
