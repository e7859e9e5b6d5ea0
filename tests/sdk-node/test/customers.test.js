import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGateway, assertId, expectStripeError, E, uniq } from './harness.js';

const gw = useGateway();

test('create, retrieve, update, delete', async () => {
  const email = `${uniq('c')}@example.com`;
  const cus = await gw.stripe.customers.create({
    email,
    name: 'Ada Lovelace',
    description: 'first customer',
    phone: '+15555550100',
    metadata: { tier: 'gold' },
  });
  assertId(cus.id, 'cus_');
  assert.equal(cus.object, 'customer');
  assert.equal(cus.email, email);
  assert.equal(cus.name, 'Ada Lovelace');
  assert.equal(cus.description, 'first customer');
  assert.equal(cus.phone, '+15555550100');
  assert.deepEqual(cus.metadata, { tier: 'gold' });
  assert.equal(cus.livemode, false);
  assert.equal(typeof cus.created, 'number');

  const got = await gw.stripe.customers.retrieve(cus.id);
  assert.equal(got.id, cus.id);
  assert.equal(got.email, email);
  assert.equal(got.created, cus.created);

  const up = await gw.stripe.customers.update(cus.id, {
    name: 'Ada King',
    metadata: { since: '1843' },
  });
  assert.equal(up.name, 'Ada King');
  assert.equal(up.email, email, 'untouched fields stay');
  assert.deepEqual(up.metadata, { tier: 'gold', since: '1843' });

  // empty value for one metadata key removes that key
  const up2 = await gw.stripe.customers.update(cus.id, { metadata: { tier: '' } });
  assert.deepEqual(up2.metadata, { since: '1843' });

  const del = await gw.stripe.customers.del(cus.id);
  assert.equal(del.id, cus.id);
  assert.equal(del.object, 'customer');
  assert.equal(del.deleted, true);

  const gone = await gw.stripe.customers.retrieve(cus.id);
  assert.equal(gone.id, cus.id);
  assert.equal(gone.deleted, true);

  const list = await gw.stripe.customers.list({ email });
  assert.equal(list.data.length, 0, 'deleted customers are not listed');

  const err = await expectStripeError(
    gw.stripe.customers.retrieve('cus_doesnotexist0000000000000'),
    E.StripeInvalidRequestError,
    404,
  );
  assert.equal(err.code, 'resource_missing');
});

test('list with email filter', async () => {
  const email = `${uniq('dup')}@example.com`;
  const a = await gw.stripe.customers.create({ email });
  const b = await gw.stripe.customers.create({ email });
  const c = await gw.stripe.customers.create({ email: `${uniq('other')}@example.com` });

  const list = await gw.stripe.customers.list({ email });
  assert.equal(list.object, 'list');
  assert.equal(list.url, '/v1/customers');
  assert.equal(list.has_more, false);
  assert.deepEqual(list.data.map((x) => x.id).sort(), [a.id, b.id].sort());
  assert.equal(list.data[0].id, b.id, 'newest first');
  assert.ok(!list.data.some((x) => x.id === c.id));

  const none = await gw.stripe.customers.list({ email: `${uniq('nobody')}@example.com` });
  assert.deepEqual(none.data, []);
  assert.equal(none.has_more, false);
});

test("description: '' on update unsets the description", async () => {
  const cus = await gw.stripe.customers.create({ description: 'to be removed', name: 'N' });
  assert.equal(cus.description, 'to be removed');
  const up = await gw.stripe.customers.update(cus.id, { description: '' });
  assert.equal(up.description, null);
  assert.equal(up.name, 'N');
  assert.equal((await gw.stripe.customers.retrieve(cus.id)).description, null);

  // null is sent the same way by the Node SDK (description=)
  const c2 = await gw.stripe.customers.create({ description: 'x' });
  const up2 = await gw.stripe.customers.update(c2.id, { description: null });
  assert.equal(up2.description, null);

  const pi = await gw.stripe.paymentIntents.create({
    amount: 100,
    currency: 'usd',
    description: 'pi desc',
  });
  const piUp = await gw.stripe.paymentIntents.update(pi.id, { description: '' });
  assert.equal(piUp.description, null);
});

test("metadata: '' and metadata: null empty the metadata", async () => {
  const cus = await gw.stripe.customers.create({ metadata: { a: '1', b: '2' } });
  const up = await gw.stripe.customers.update(cus.id, { metadata: '' });
  assert.deepEqual(up.metadata, {});
  assert.deepEqual((await gw.stripe.customers.retrieve(cus.id)).metadata, {});

  const cus2 = await gw.stripe.customers.create({ metadata: { a: '1' } });
  const up2 = await gw.stripe.customers.update(cus2.id, { metadata: null });
  assert.deepEqual(up2.metadata, {});

  const pi = await gw.stripe.paymentIntents.create({
    amount: 100,
    currency: 'usd',
    metadata: { k: 'v' },
  });
  const piUp = await gw.stripe.paymentIntents.update(pi.id, { metadata: '' });
  assert.deepEqual(piUp.metadata, {});
});
