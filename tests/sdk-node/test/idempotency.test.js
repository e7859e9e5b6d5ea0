import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { useGateway, expectStripeError, E, uniq, createAccount, makeClient } from './harness.js';

const gw = useGateway();

/** Collect the Idempotency-Key the SDK sent on each request while fn runs. */
async function captureKeys(fn) {
  const keys = [];
  const on = (e) => keys.push({ method: e.method, path: e.path, key: e.idempotency_key });
  gw.stripe.on('request', on);
  try {
    const result = await fn();
    return { result, keys };
  } finally {
    gw.stripe.off('request', on);
  }
}

test('the SDK sends stripe-node-retry-<uuid> keys and the gateway stores them', async () => {
  const email = `${uniq('auto')}@example.com`;
  const { result: a, keys } = await captureKeys(() => gw.stripe.customers.create({ email }));
  assert.equal(keys.length, 1);
  assert.match(keys[0].key, /^stripe-node-retry-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

  // a second identical call gets a fresh key, hence a new object
  const b = await gw.stripe.customers.create({ email });
  assert.notEqual(a.id, b.id);

  // replaying the SDK's own key returns the stored object, creates nothing
  const replay = await gw.stripe.customers.create({ email }, { idempotencyKey: keys[0].key });
  assert.equal(replay.id, a.id);
  assert.equal(replay.created, a.created);
  const list = await gw.stripe.customers.list({ email });
  assert.equal(list.data.length, 2);
});

test('explicit idempotencyKey: same key -> same object', async () => {
  const key = `order-${randomUUID()}`;
  const p = { amount: 4321, currency: 'usd', metadata: { k: key } };
  const first = await gw.stripe.paymentIntents.create(p, { idempotencyKey: key });
  const second = await gw.stripe.paymentIntents.create(p, { idempotencyKey: key });
  assert.equal(second.id, first.id);
  assert.equal(second.client_secret, first.client_secret);
  assert.deepEqual(second, first);

  const cusKey = randomUUID();
  const c1 = await gw.stripe.customers.create({ name: 'Idem' }, { idempotencyKey: cusKey });
  const c2 = await gw.stripe.customers.create({ name: 'Idem' }, { idempotencyKey: cusKey });
  assert.equal(c2.id, c1.id);

  // the replay is of the original response, even after the object changed
  await gw.stripe.customers.update(c1.id, { name: 'Changed' });
  const c3 = await gw.stripe.customers.create({ name: 'Idem' }, { idempotencyKey: cusKey });
  assert.equal(c3.id, c1.id);
  assert.equal(c3.name, 'Idem');
});

test('confirm with a key runs once', async () => {
  const pi = await gw.stripe.paymentIntents.create({
    amount: 1000,
    currency: 'usd',
    payment_method: 'pm_card_visa',
  });
  const key = randomUUID();
  const a = await gw.stripe.paymentIntents.confirm(pi.id, {}, { idempotencyKey: key });
  const b = await gw.stripe.paymentIntents.confirm(pi.id, {}, { idempotencyKey: key });
  assert.equal(a.status, 'succeeded');
  assert.equal(b.status, 'succeeded');
  assert.equal(b.latest_charge, a.latest_charge);
  const charges = await gw.stripe.charges.list({ payment_intent: pi.id });
  assert.equal(charges.data.length, 1);

  // refunds too
  const rk = randomUUID();
  const r1 = await gw.stripe.refunds.create({ payment_intent: pi.id, amount: 100 }, { idempotencyKey: rk });
  const r2 = await gw.stripe.refunds.create({ payment_intent: pi.id, amount: 100 }, { idempotencyKey: rk });
  assert.equal(r2.id, r1.id);
  const refunds = await gw.stripe.refunds.list({ payment_intent: pi.id });
  assert.equal(refunds.data.length, 1);
});

test('same key with different params -> StripeIdempotencyError', async () => {
  const key = randomUUID();
  await gw.stripe.customers.create({ name: 'First' }, { idempotencyKey: key });
  const err = await expectStripeError(
    gw.stripe.customers.create({ name: 'Second' }, { idempotencyKey: key }),
    E.StripeIdempotencyError,
    400,
  );
  assert.equal(err.rawType, 'idempotency_error');
  assert.ok(!(err instanceof E.StripeInvalidRequestError));

  // same key on a different endpoint
  const err2 = await expectStripeError(
    gw.stripe.paymentIntents.create({ amount: 100, currency: 'usd' }, { idempotencyKey: key }),
    E.StripeIdempotencyError,
    400,
  );
  assert.equal(err2.rawType, 'idempotency_error');

  // the original is still replayable
  const again = await gw.stripe.customers.create({ name: 'First' }, { idempotencyKey: key });
  assert.equal(again.name, 'First');
});

test('a failed (402) response is stored and replayed', async () => {
  const key = randomUUID();
  const params = {
    amount: 1000,
    currency: 'usd',
    payment_method: 'pm_card_visa_chargeDeclined',
    confirm: true,
  };
  const e1 = await expectStripeError(
    gw.stripe.paymentIntents.create(params, { idempotencyKey: key }),
    E.StripeCardError,
    402,
  );
  const e2 = await expectStripeError(
    gw.stripe.paymentIntents.create(params, { idempotencyKey: key }),
    E.StripeCardError,
    402,
  );
  assert.equal(e2.code, e1.code);
  assert.equal(e2.decline_code, 'generic_decline');
  assert.equal(e2.message, e1.message);
  if (e1.payment_intent) assert.equal(e2.payment_intent.id, e1.payment_intent.id);
});

test('a request rejected before execution stores nothing', async () => {
  const key = randomUUID();
  const err = await expectStripeError(
    gw.stripe.customers.create({ name: 'x', unknown_field: '1' }, { idempotencyKey: key }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(err.param, 'unknown_field');
  const ok = await gw.stripe.customers.create({ name: 'fixed' }, { idempotencyKey: key });
  assert.equal(ok.name, 'fixed');
});

test('keys are scoped to the account', async () => {
  const other = await createAccount(gw);
  const otherClient = makeClient(other.secretKey, gw.port);
  const key = randomUUID();
  const mine = await gw.stripe.customers.create({ name: 'scoped' }, { idempotencyKey: key });
  const theirs = await otherClient.customers.create({ name: 'scoped' }, { idempotencyKey: key });
  assert.notEqual(theirs.id, mine.id);
  // and objects are invisible across accounts
  const err = await expectStripeError(
    otherClient.customers.retrieve(mine.id),
    E.StripeInvalidRequestError,
    404,
  );
  assert.equal(err.code, 'resource_missing');
});
