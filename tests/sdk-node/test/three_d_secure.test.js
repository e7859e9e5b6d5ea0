import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGateway, createCardPM, expectStripeError, E } from './harness.js';

const gw = useGateway();
const RETURN_URL = 'https://shop.example.com/checkout/return?order=17';

function decodeEntities(s) {
  return s
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

function attr(tag, name) {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(tag);
  return m ? decodeEntities(m[1] ?? m[2] ?? m[3]) : null;
}

/** Parse the challenge page: form action/method, hidden token, result buttons. */
function parseChallenge(html, pageUrl) {
  const formTag = /<form\b[^>]*>/i.exec(html);
  assert.ok(formTag, 'challenge page has a <form>');
  assert.equal((attr(formTag[0], 'method') || '').toLowerCase(), 'post', 'form method is POST');
  const action = new URL(attr(formTag[0], 'action') || pageUrl, pageUrl).toString();
  const controls = html.match(/<(?:input|button)\b[^>]*>/gi) || [];
  let token = null;
  const results = [];
  for (const c of controls) {
    const name = attr(c, 'name');
    if (name === 'token') {
      assert.equal((attr(c, 'type') || '').toLowerCase(), 'hidden', 'token is a hidden field');
      token = attr(c, 'value');
    }
    if (name === 'result') results.push(attr(c, 'value'));
  }
  assert.ok(token, 'hidden token field present');
  assert.ok(results.includes('complete'), `complete button present: ${results}`);
  assert.ok(results.includes('fail'), `fail button present: ${results}`);
  return { action, token };
}

async function startChallenge(returnUrl = RETURN_URL) {
  const pm = await createCardPM(gw.stripe, '4000002760003184');
  const params = {
    amount: 3184,
    currency: 'usd',
    payment_method: pm.id,
    confirm: true,
  };
  if (returnUrl) params.return_url = returnUrl;
  const pi = await gw.stripe.paymentIntents.create(params);
  assert.equal(pi.status, 'requires_action');
  assert.equal(pi.next_action.type, 'redirect_to_url');
  const url = pi.next_action.redirect_to_url.url;
  assert.equal(typeof url, 'string');
  assert.ok(url.startsWith(gw.vault + '/3d_secure/'), `challenge url ${url} is on the gateway's vault origin`);
  if (returnUrl) assert.equal(pi.next_action.redirect_to_url.return_url, returnUrl);

  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') || '', /text\/html/);
  const html = await page.text();
  assert.ok(!html.includes('4000002760003184'), 'challenge page never shows the card number');
  return { pi, url, ...parseChallenge(html, url) };
}

async function submit(action, token, result) {
  return fetch(action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, result }).toString(),
    redirect: 'manual',
  });
}

test('4000002760003184: requires_action, challenge completed, succeeded', async () => {
  const { pi, action, token } = await startChallenge();
  assert.equal(pi.amount_received, 0);

  const res = await submit(action, token, 'complete');
  assert.equal(res.status, 303);
  const loc = new URL(res.headers.get('location'));
  assert.equal(loc.origin + loc.pathname, 'https://shop.example.com/checkout/return');
  assert.equal(loc.searchParams.get('order'), '17', 'return_url query kept');
  assert.equal(loc.searchParams.get('payment_intent'), pi.id);
  assert.equal(loc.searchParams.get('payment_intent_client_secret'), pi.client_secret);
  assert.equal(loc.searchParams.get('redirect_status'), 'succeeded');

  const done = await gw.stripe.paymentIntents.retrieve(pi.id, { expand: ['latest_charge'] });
  assert.equal(done.status, 'succeeded');
  assert.equal(done.amount_received, 3184);
  assert.equal(done.next_action, null);
  assert.equal(done.latest_charge.status, 'succeeded');
  assert.equal(done.latest_charge.payment_method_details.card.last4, '3184');

  // replaying the form does not charge again
  const again = await submit(action, token, 'complete');
  assert.ok([303, 400, 403, 404, 409, 410].includes(again.status), String(again.status));
  const after = await gw.stripe.paymentIntents.retrieve(pi.id);
  assert.equal(after.status, 'succeeded');
  assert.equal(after.latest_charge, done.latest_charge.id);
  const charges = await gw.stripe.charges.list({ payment_intent: pi.id });
  assert.equal(charges.data.length, 1);
});

test('4000002760003184: challenge failed -> requires_payment_method', async () => {
  const { pi, action, token } = await startChallenge();
  const res = await submit(action, token, 'fail');
  assert.equal(res.status, 303);
  const loc = new URL(res.headers.get('location'));
  assert.equal(loc.searchParams.get('payment_intent'), pi.id);
  assert.equal(loc.searchParams.get('redirect_status'), 'failed');
  const after = await gw.stripe.paymentIntents.retrieve(pi.id);
  assert.equal(after.status, 'requires_payment_method');
  assert.equal(after.last_payment_error.code, 'payment_intent_authentication_failure');
});

test('a forged token is refused and changes nothing', async () => {
  const { pi, action } = await startChallenge();
  const res = await submit(action, 'forged-token-value', 'complete');
  assert.notEqual(res.status, 303);
  assert.ok(res.status >= 400, String(res.status));
  assert.equal((await gw.stripe.paymentIntents.retrieve(pi.id)).status, 'requires_action');
});

test('without return_url the shopper lands on a gateway result page', async () => {
  const { pi, action, token } = await startChallenge(null);
  const res = await submit(action, token, 'complete');
  assert.equal(res.status, 303);
  const loc = new URL(res.headers.get('location'), action);
  assert.equal(loc.origin, gw.vault);
  assert.equal((await gw.stripe.paymentIntents.retrieve(pi.id)).status, 'succeeded');
});

test('error_on_requires_action turns the challenge into a card error', async () => {
  const pm = await createCardPM(gw.stripe, '4000002760003184');
  const err = await expectStripeError(
    gw.stripe.paymentIntents.create({
      amount: 1000,
      currency: 'usd',
      payment_method: pm.id,
      confirm: true,
      error_on_requires_action: true,
    }),
    E.StripeCardError,
    402,
  );
  assert.equal(err.code, 'authentication_required');
});
