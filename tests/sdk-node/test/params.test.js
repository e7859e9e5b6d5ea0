import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGateway, expectStripeError, E, makeClient, EXP_YEAR } from './harness.js';

const gw = useGateway();

test('an unknown parameter is a 400 naming it in err.param', async () => {
  const e1 = await expectStripeError(
    gw.stripe.customers.create({ email: 'a@example.com', not_a_real_param: 'x' }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(e1.param, 'not_a_real_param');
  assert.equal(e1.rawType, 'invalid_request_error');
  assert.equal(e1.code, 'parameter_unknown');

  const e2 = await expectStripeError(
    gw.stripe.paymentIntents.create({ amount: 100, currency: 'usd', frobnicate: 'yes' }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(e2.param, 'frobnicate');

  const pi = await gw.stripe.paymentIntents.create({ amount: 100, currency: 'usd' });
  const e3 = await expectStripeError(
    gw.stripe.paymentIntents.update(pi.id, { bogus: '1' }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(e3.param, 'bogus');

  const e4 = await expectStripeError(
    gw.stripe.paymentMethods.create({
      type: 'card',
      card: { number: '4242424242424242', exp_month: 12, exp_year: EXP_YEAR, cvc: '123', colour: 'red' },
    }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(e4.param, 'card[colour]');
  assert.ok(!e4.message.includes('4242424242424242'));

  // nothing was created by the rejected requests
  const list = await gw.stripe.customers.list({ email: 'a@example.com' });
  assert.equal(list.data.length, 0);
});

test('missing and malformed parameters', async () => {
  const e1 = await expectStripeError(
    gw.stripe.paymentIntents.create({ currency: 'usd' }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(e1.param, 'amount');
  assert.equal(e1.code, 'parameter_missing');

  const e2 = await expectStripeError(
    gw.stripe.paymentIntents.create({ amount: 'ten', currency: 'usd' }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(e2.param, 'amount');

  const e3 = await expectStripeError(
    gw.stripe.paymentIntents.create({ amount: 100, currency: 'usd', capture_method: 'sometimes' }),
    E.StripeInvalidRequestError,
    400,
  );
  assert.equal(e3.param, 'capture_method');
});

test('error responses carry a Request-Id and a doc_url-shaped body', async () => {
  const err = await expectStripeError(
    gw.stripe.customers.retrieve('cus_doesnotexist0000000000000'),
    E.StripeInvalidRequestError,
    404,
  );
  assert.match(err.requestId, /^req_/);
  assert.equal(err.code, 'resource_missing');
  assert.equal(err.rawType, 'invalid_request_error');
  assert.ok('doc_url' in err.raw);
});

test('authentication: bad and missing keys answer 401', async () => {
  const bad = makeClient('sk_test_thisisnotarealkey000000000000', gw.port);
  const err = await expectStripeError(bad.customers.list(), E.StripeAuthenticationError, 401);
  assert.ok(!err.message.includes('sk_test_thisisnotarealkey000000000000'), 'never echo a key');

  const res = await fetch(`${gw.api}/v1/customers`);
  assert.equal(res.status, 401);
  const body = await res.json();
  assert.equal(body.error.type, 'invalid_request_error');

  // Basic auth with the key as user name also works
  const basic = await fetch(`${gw.api}/v1/customers`, {
    headers: { Authorization: `Basic ${Buffer.from(`${gw.secretKey}:`).toString('base64')}` },
  });
  assert.equal(basic.status, 200);
});

test('a publishable key cannot use secret-key endpoints', async () => {
  const pk = makeClient(gw.publishableKey, gw.port);
  const err = await expectStripeError(pk.customers.list(), E.StripeError);
  assert.ok([401, 403].includes(err.statusCode), String(err.statusCode));
  // but it may create a PaymentMethod from card data
  const pm = await pk.paymentMethods.create({
    type: 'card',
    card: { number: '4242424242424242', exp_month: 12, exp_year: EXP_YEAR, cvc: '123' },
  });
  assert.match(pm.id, /^pm_/);
});
