import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGateway, createCardPM, expectStripeError, E } from './harness.js';

const gw = useGateway();

async function paidForCustomer() {
  const cus = await gw.stripe.customers.create({ email: 'expand@example.com', name: 'Exp' });
  const pm = await createCardPM(gw.stripe, '4242424242424242');
  await gw.stripe.paymentMethods.attach(pm.id, { customer: cus.id });
  const pi = await gw.stripe.paymentIntents.create({
    amount: 1000,
    currency: 'usd',
    customer: cus.id,
    payment_method: pm.id,
    confirm: true,
  });
  assert.equal(pi.status, 'succeeded');
  return { cus, pm, pi };
}

test("retrieve with expand ['latest_charge', 'payment_method', 'customer']", async () => {
  const { cus, pm, pi } = await paidForCustomer();
  assert.equal(typeof pi.latest_charge, 'string');
  assert.equal(typeof pi.customer, 'string');
  const x = await gw.stripe.paymentIntents.retrieve(pi.id, {
    expand: ['latest_charge', 'payment_method', 'customer'],
  });
  assert.equal(x.id, pi.id);
  assert.equal(x.latest_charge.object, 'charge');
  assert.equal(x.latest_charge.id, pi.latest_charge);
  assert.equal(x.latest_charge.payment_intent, pi.id);
  assert.equal(x.payment_method.object, 'payment_method');
  assert.equal(x.payment_method.id, pm.id);
  assert.equal(x.payment_method.card.last4, '4242');
  assert.equal(x.customer.object, 'customer');
  assert.equal(x.customer.id, cus.id);
  assert.equal(x.customer.email, 'expand@example.com');

  // unexpanded fields stay ids
  const y = await gw.stripe.paymentIntents.retrieve(pi.id, { expand: ['customer'] });
  assert.equal(y.customer.id, cus.id);
  assert.equal(typeof y.latest_charge, 'string');
  assert.equal(typeof y.payment_method, 'string');
});

test('expand on create and confirm, nested dot paths', async () => {
  const cus = await gw.stripe.customers.create();
  const pi = await gw.stripe.paymentIntents.create({
    amount: 700,
    currency: 'usd',
    customer: cus.id,
    payment_method: 'pm_card_visa',
    expand: ['customer'],
  });
  assert.equal(pi.customer.id, cus.id);
  const c = await gw.stripe.paymentIntents.confirm(pi.id, { expand: ['latest_charge'] });
  assert.equal(c.status, 'succeeded');
  assert.equal(c.latest_charge.object, 'charge');
  assert.equal(c.latest_charge.amount, 700);

  const nested = await gw.stripe.paymentIntents.retrieve(pi.id, {
    expand: ['latest_charge.balance_transaction', 'latest_charge.customer'],
  });
  assert.equal(nested.latest_charge.object, 'charge');
  assert.equal(nested.latest_charge.balance_transaction.object, 'balance_transaction');
  assert.match(nested.latest_charge.balance_transaction.id, /^txn_/);
  assert.equal(nested.latest_charge.customer.id, cus.id);

  const ch = await gw.stripe.charges.retrieve(c.latest_charge.id, { expand: ['payment_intent'] });
  assert.equal(ch.payment_intent.object, 'payment_intent');
  assert.equal(ch.payment_intent.id, pi.id);

  const re = await gw.stripe.refunds.create({ payment_intent: pi.id, amount: 100, expand: ['charge'] });
  assert.equal(re.charge.object, 'charge');
  assert.equal(re.charge.id, c.latest_charge.id);
});

test("list with expand ['data.customer']", async () => {
  const { cus } = await paidForCustomer();
  const list = await gw.stripe.paymentIntents.list({ customer: cus.id, expand: ['data.customer'] });
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].customer.object, 'customer');
  assert.equal(list.data[0].customer.id, cus.id);

  const charges = await gw.stripe.charges.list({
    customer: cus.id,
    expand: ['data.payment_intent', 'data.customer'],
  });
  assert.equal(charges.data.length, 1);
  assert.equal(charges.data[0].payment_intent.object, 'payment_intent');
  assert.equal(charges.data[0].customer.id, cus.id);

  // auto-pagination keeps the expansion on every page
  for await (const pi of gw.stripe.paymentIntents.list({ limit: 1, expand: ['data.customer'] })) {
    if (pi.customer !== null) assert.equal(typeof pi.customer, 'object');
  }
});

test('expanding something that cannot be expanded is an invalid request', async () => {
  const pi = await gw.stripe.paymentIntents.create({ amount: 100, currency: 'usd' });
  const err = await expectStripeError(
    gw.stripe.paymentIntents.retrieve(pi.id, { expand: ['amount'] }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.ok(err.message.length > 0);
});
