import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGateway, createCardPM, assertId, expectStripeError, E, EXP_YEAR, uniq } from './harness.js';

const gw = useGateway();

function assertNoCardData(obj) {
  const json = JSON.stringify(obj);
  for (const n of ['4242424242424242', '5555555555554444', '378282246310005']) {
    assert.ok(!json.includes(n), 'a PaymentMethod must never carry the card number');
  }
  assert.equal(obj.card.number, undefined);
  assert.equal(obj.card.cvc, undefined);
}

test('create a card PaymentMethod from raw card data with a secret key', async () => {
  const pm = await createCardPM(gw.stripe, '4242424242424242', {
    billing_details: { name: 'Jenny Rosen', email: 'jenny@example.com' },
    metadata: { order: '42' },
  });
  assertId(pm.id, 'pm_');
  assert.equal(pm.object, 'payment_method');
  assert.equal(pm.type, 'card');
  assert.equal(pm.livemode, false);
  assert.equal(typeof pm.created, 'number');
  assert.ok(Math.abs(pm.created - Date.now() / 1000) < 300, 'created is unix seconds');
  assert.equal(pm.customer, null);
  assert.deepEqual(pm.metadata, { order: '42' });
  assert.equal(pm.billing_details.name, 'Jenny Rosen');
  assert.equal(pm.billing_details.email, 'jenny@example.com');
  assert.equal(pm.card.brand, 'visa');
  assert.equal(pm.card.last4, '4242');
  assert.equal(pm.card.exp_month, 12);
  assert.equal(pm.card.exp_year, EXP_YEAR);
  assert.equal(pm.card.funding, 'credit');
  assert.equal(typeof pm.card.fingerprint, 'string');
  assert.ok(pm.card.fingerprint.length > 0);
  assert.equal(pm.card.wallet, null);
  assert.ok(pm.card.checks && 'cvc_check' in pm.card.checks);
  assertNoCardData(pm);
  assert.match(pm.lastResponse.requestId, /^req_/);
});

test('card brands, funding and fingerprints', async () => {
  const cases = [
    ['5555555555554444', 'mastercard', 'credit', '4444'],
    ['4000056655665556', 'visa', 'debit', '5556'],
    ['378282246310005', 'amex', 'credit', '0005'],
    ['6011111111111117', 'discover', 'credit', '1117'],
    ['5105105105105100', 'mastercard', 'prepaid', '5100'],
  ];
  for (const [number, brand, funding, last4] of cases) {
    const pm = await createCardPM(gw.stripe, number);
    assert.equal(pm.card.brand, brand, number);
    assert.equal(pm.card.funding, funding, number);
    assert.equal(pm.card.last4, last4, number);
    assertNoCardData(pm);
  }
  const a = await createCardPM(gw.stripe, '4242424242424242');
  const b = await createCardPM(gw.stripe, '4242424242424242');
  const c = await createCardPM(gw.stripe, '5555555555554444');
  assert.notEqual(a.id, b.id);
  assert.equal(a.card.fingerprint, b.card.fingerprint, 'same card => same fingerprint');
  assert.notEqual(a.card.fingerprint, c.card.fingerprint);
});

test('retrieve a PaymentMethod', async () => {
  const pm = await createCardPM(gw.stripe, '4242424242424242');
  const got = await gw.stripe.paymentMethods.retrieve(pm.id);
  assert.equal(got.id, pm.id);
  assert.equal(got.object, 'payment_method');
  assert.equal(got.card.last4, '4242');
  assert.equal(got.card.fingerprint, pm.card.fingerprint);
  assertNoCardData(got);

  const err = await expectStripeError(
    gw.stripe.paymentMethods.retrieve('pm_doesnotexist000000000000000'),
    E.StripeInvalidRequestError,
    404,
  );
  assert.equal(err.code, 'resource_missing');
});

test('attach, list for customer, detach', async () => {
  const cus = await gw.stripe.customers.create({ email: `${uniq('pm')}@example.com` });
  const pm1 = await createCardPM(gw.stripe, '4242424242424242');
  const pm2 = await createCardPM(gw.stripe, '5555555555554444');
  const other = await createCardPM(gw.stripe, '4242424242424242');

  const att1 = await gw.stripe.paymentMethods.attach(pm1.id, { customer: cus.id });
  assert.equal(att1.id, pm1.id);
  assert.equal(att1.customer, cus.id);
  const att2 = await gw.stripe.paymentMethods.attach(pm2.id, { customer: cus.id });
  assert.equal(att2.customer, cus.id);
  assert.equal((await gw.stripe.paymentMethods.retrieve(pm1.id)).customer, cus.id);

  const list = await gw.stripe.customers.listPaymentMethods(cus.id);
  assert.equal(list.object, 'list');
  assert.equal(list.has_more, false);
  assert.equal(typeof list.url, 'string');
  const ids = list.data.map((p) => p.id).sort();
  assert.deepEqual(ids, [pm1.id, pm2.id].sort());
  assert.ok(!ids.includes(other.id));
  for (const p of list.data) {
    assert.equal(p.object, 'payment_method');
    assert.equal(p.customer, cus.id);
  }

  const typed = await gw.stripe.customers.listPaymentMethods(cus.id, { type: 'card', limit: 1 });
  assert.equal(typed.data.length, 1);
  assert.equal(typed.has_more, true);

  const det = await gw.stripe.paymentMethods.detach(pm1.id);
  assert.equal(det.id, pm1.id);
  assert.equal(det.customer, null);

  const after = await gw.stripe.customers.listPaymentMethods(cus.id);
  assert.deepEqual(after.data.map((p) => p.id), [pm2.id]);
});

test('attaching to an unknown customer fails with resource_missing', async () => {
  const pm = await createCardPM(gw.stripe, '4242424242424242');
  const err = await expectStripeError(
    gw.stripe.paymentMethods.attach(pm.id, { customer: 'cus_doesnotexist0000000000000' }),
    E.StripeInvalidRequestError,
    404,
  );
  assert.equal(err.code, 'resource_missing');
});

test('a number failing Luhn is rejected at creation with incorrect_number', async () => {
  const err = await expectStripeError(
    createCardPM(gw.stripe, '4242424242424241'),
    E.StripeCardError,
    402,
  );
  assert.equal(err.code, 'incorrect_number');
  assert.equal(err.rawType, 'card_error');
  assert.ok(!err.message.includes('4242424242424241'), 'error must not echo the card number');
});

test('4000000000000341 attaches to a customer', async () => {
  const cus = await gw.stripe.customers.create();
  const pm = await createCardPM(gw.stripe, '4000000000000341');
  const att = await gw.stripe.paymentMethods.attach(pm.id, { customer: cus.id });
  assert.equal(att.customer, cus.id);
});
