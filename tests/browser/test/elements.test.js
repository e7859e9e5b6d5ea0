// tessera.js and the card-fields frame in a real browser: the demo merchant's page on
// its own origin, the card fields on Tessera's vault origin, the API on a third.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Gateway, Merchant, browser, shopPage, cardFrame, typeCard, screenshotPath } = require('../harness');

const PAN = '4242424242424242';
const CARDS = [PAN, '4000000000000002', '4000002760003184'];

let gw;
let merchant;
let b;

before(async () => {
  gw = await new Gateway().start();
  merchant = await new Merchant().start(gw);
  b = await browser();
});

after(async () => {
  if (b) await b.close();
  if (merchant) await merchant.stop();
  if (gw) await gw.stop();
});

async function pay(page) {
  await page.getByRole('button', { name: 'Pay', exact: true }).click();
  const message = page.locator('#message');
  await waitForState(message);
  return { state: await message.getAttribute('data-state'), text: await message.textContent() };
}

async function waitForState(message) {
  await message.evaluate((el) => new Promise((resolve) => {
    const done = () => ['succeeded', 'error'].includes(el.dataset.state);
    if (done()) return resolve();
    new MutationObserver(() => { if (done()) resolve(); }).observe(el, { attributes: true });
  }));
}

function noCardDataIn(record, merchantLog) {
  for (const req of record.merchantRequests) {
    for (const number of CARDS) {
      assert.ok(!req.url.includes(number) && !req.body.includes(number),
        `a request from the merchant page carried a card number: ${req.method} ${req.url}`);
    }
    assert.ok(!/card\[(number|cvc)\]/.test(req.body), `card fields in a merchant request: ${req.url}`);
  }
  for (const number of CARDS) {
    assert.ok(!merchantLog.includes(number), 'the merchant server received a card number');
  }
}

function cspViolations(record) {
  return record.console.filter((line) => /Content Security Policy|Refused to/i.test(line));
}

test('4242 4242 4242 4242 pays through the card element; the server verifies it', async () => {
  const { context, page, record } = await shopPage(b, merchant);
  try {
    const frame = cardFrame(page);
    await typeCard(page, PAN);
    // The frame formats the number and names the brand.
    assert.equal(await frame.getByLabel('Card number').inputValue(), '4242 4242 4242 4242');
    assert.equal(await frame.locator('#brand').textContent(), 'Visa');
    await page.locator('#card-element').screenshot({ path: screenshotPath('card-element') });
    const result = await pay(page);
    assert.equal(result.state, 'succeeded', result.text);
    const id = await page.locator('#message').getAttribute('data-payment-intent');
    const pi = await gw.stripe.paymentIntents.retrieve(id);
    assert.equal(pi.status, 'succeeded');
    assert.equal(pi.amount, 2000, 'the amount the server decided');
    const pm = await gw.stripe.paymentMethods.retrieve(pi.payment_method);
    assert.equal(pm.card.last4, '4242');
    noCardDataIn(record, merchant.log);
    // The card data went from the frame to the vault origin, and nowhere else.
    const tokenize = record.allRequests.filter((r) => r.url.startsWith(gw.vault) && r.url.endsWith('/v1/payment_methods'));
    assert.equal(tokenize.length, 1);
    assert.equal(tokenize[0].frame, 'child');
    assert.deepEqual(cspViolations(record), []);
  } finally {
    await context.close();
  }
});

test('the merchant page cannot read the card fields (cross-origin)', async () => {
  const { context, page } = await shopPage(b, merchant);
  try {
    await typeCard(page, PAN);
    const outcome = await page.evaluate(() => {
      const frame = document.querySelector('#card-element iframe');
      try {
        const doc = frame.contentDocument || frame.contentWindow.document;
        return doc ? `read: ${doc.querySelector('input').value}` : 'no document';
      } catch (e) {
        return `blocked: ${e.name}`;
      }
    });
    assert.ok(outcome === 'no document' || outcome.startsWith('blocked'), outcome);
  } finally {
    await context.close();
  }
});

test('4000 0000 0000 0002 shows the decline in the page', async () => {
  const { context, page, record } = await shopPage(b, merchant);
  try {
    await typeCard(page, '4000000000000002');
    const result = await pay(page);
    assert.equal(result.state, 'error');
    assert.equal(result.text, 'Your card was declined.');
    noCardDataIn(record, merchant.log);
  } finally {
    await context.close();
  }
});

test('the card fields check the number, expiry and CVC as the shopper types', async () => {
  const { context, page } = await shopPage(b, merchant);
  try {
    const frame = cardFrame(page);
    await frame.getByLabel('Card number').pressSequentially('4242424242424241', { delay: 5 });
    await frame.getByLabel('Expiry date (MM / YY)').click();
    await page.locator('#message[data-state="invalid"]').waitFor();
    assert.equal(await page.locator('#message').textContent(), 'Your card number is invalid.');
    assert.equal(await frame.getByLabel('Card number').getAttribute('aria-invalid'), 'true');
    await frame.getByLabel('Card number').fill('');
    await frame.getByLabel('Card number').pressSequentially('378282246310005', { delay: 5 });
    assert.equal(await frame.getByLabel('Card number').inputValue(), '3782 822463 10005');
    assert.equal(await frame.locator('#brand').textContent(), 'American Express');
    await frame.getByLabel('Expiry date (MM / YY)').pressSequentially('1320', { delay: 5 });
    await page.locator('#message[data-state="invalid"]').waitFor();
    assert.equal(await page.locator('#message').textContent(), "Your card's expiration month is invalid.");
    // Keyboard: the fields are reachable with Tab, in order.
    await frame.getByLabel('Card number').focus();
    await page.keyboard.press('Tab');
    assert.equal(await frame.locator(':focus').getAttribute('id'), 'exp');
  } finally {
    await context.close();
  }
});

test('4000 0027 6000 3184: the challenge opens; Complete pays', async () => {
  const { context, page, record } = await shopPage(b, merchant);
  try {
    await typeCard(page, '4000002760003184');
    await page.getByRole('button', { name: 'Pay', exact: true }).click();
    const challenge = page.frameLocator('iframe[data-tessera="challenge"]');
    await challenge.getByRole('button', { name: 'Complete authentication' }).waitFor();
    await page.screenshot({ path: screenshotPath('3ds-challenge') });
    await challenge.getByRole('button', { name: 'Complete authentication' }).click();
    await waitForState(page.locator('#message'));
    assert.equal(await page.locator('#message').getAttribute('data-state'), 'succeeded',
      await page.locator('#message').textContent());
    const id = await page.locator('#message').getAttribute('data-payment-intent');
    assert.equal((await gw.stripe.paymentIntents.retrieve(id)).status, 'succeeded');
    assert.equal(await page.locator('iframe[data-tessera="challenge"]').count(), 0, 'the modal closed');
    noCardDataIn(record, merchant.log);
    assert.deepEqual(cspViolations(record), []);
  } finally {
    await context.close();
  }
});

test('4000 0027 6000 3184: Fail leaves requires_payment_method and shows the error', async () => {
  const { context, page } = await shopPage(b, merchant);
  try {
    await typeCard(page, '4000002760003184');
    await page.getByRole('button', { name: 'Pay', exact: true }).click();
    const challenge = page.frameLocator('iframe[data-tessera="challenge"]');
    await challenge.getByRole('button', { name: 'Fail authentication' }).click();
    await waitForState(page.locator('#message'));
    assert.equal(await page.locator('#message').getAttribute('data-state'), 'error');
    const text = await page.locator('#message').textContent();
    assert.match(text, /failed authentication/);
    const list = await gw.stripe.paymentIntents.list({ limit: 1 });
    assert.equal(list.data[0].status, 'requires_payment_method');
  } finally {
    await context.close();
  }
});

test('an inline script injected into a Tessera page is blocked by its CSP', async () => {
  const context = await b.newContext();
  const page = await context.newPage();
  const messages = [];
  page.on('console', (m) => messages.push(m.text()));
  try {
    await page.goto(`${gw.vault}/elements/card?key=${gw.publishableKey}&origin=${encodeURIComponent(merchant.url)}`);
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.injected = true;';
      document.body.appendChild(s);
    });
    assert.equal(await page.evaluate(() => window.injected === true), false);
    assert.ok(messages.some((m) => /Content Security Policy/.test(m)), messages.join('\n'));
  } finally {
    await context.close();
  }
});

test('the card fields refuse to be framed by an origin the account has not registered', async () => {
  gw.cli('accounts', 'configure', '--account', gw.account, '--merchant-origin', 'https://shop.example');
  const { context, page, record } = await shopPage(b, merchant);
  try {
    // The frame is refused (frame-ancestors), so the fields never load.
    await page.waitForTimeout(1500);
    const frame = page.frame({ url: /\/elements\/card/ });
    const inputs = frame ? await frame.locator('input').count() : 0;
    assert.equal(inputs, 0, 'the card fields loaded inside an unregistered origin');
    assert.ok(record.console.some((m) => /frame-ancestors/.test(m)), record.console.join('\n'));
  } finally {
    await context.close();
    gw.cli('accounts', 'configure', '--account', gw.account, '--clear-merchant-origins');
  }
  // Registered, the merchant's origin may frame them again.
  gw.cli('accounts', 'configure', '--account', gw.account, '--merchant-origin', merchant.url);
  const again = await shopPage(b, merchant);
  try {
    await cardFrame(again.page).getByLabel('Card number').waitFor();
  } finally {
    await again.context.close();
    gw.cli('accounts', 'configure', '--account', gw.account, '--clear-merchant-origins');
  }
});

// From the demo shop's "Pay with Tessera Checkout" to the hosted page; the session id.
async function openHostedCheckout(page) {
  await page.goto(merchant.url + '/');
  await page.getByRole('button', { name: /Tessera Checkout/ }).click();
  await page.waitForURL(new RegExp(`^${gw.vault}/checkout/cs_test_`));
  return new URL(page.url()).pathname.split('/').pop();
}

async function typeHostedCard(page, number) {
  await page.getByLabel('Card number').pressSequentially(number, { delay: 5 });
  await page.getByLabel('Expiry date (MM / YY)').pressSequentially('1234', { delay: 5 });
  await page.getByLabel('Security code').pressSequentially('123', { delay: 5 });
}

test('hosted checkout: two line items, a server-computed total, paid, back on the success page', async () => {
  const context = await b.newContext();
  const page = await context.newPage();
  const messages = [];
  page.on('console', (m) => messages.push(m.text()));
  try {
    const sessionId = await openHostedCheckout(page);
    // The items and the total come from the session the merchant's server created.
    const rows = await page.locator('table.items tr').allTextContents();
    assert.equal(rows.length, 3, rows.join(' | '));
    assert.match(rows[0], /Tessera T-shirt × 1/);
    assert.match(rows[1], /Tessera mug × 1/);
    assert.equal(await page.locator('#total').textContent(), '32.50 USD');
    await page.getByLabel('Email').fill('shopper@example.org');
    await typeHostedCard(page, PAN);
    await page.getByLabel('Name on card').fill('Jenny Rosen');
    await page.screenshot({ path: screenshotPath('hosted-checkout') });
    await page.getByRole('button', { name: /^Pay / }).click();
    await page.waitForURL(new RegExp(`^${merchant.url}/success\\?session_id=${sessionId}$`));
    const shown = page.locator('#session');
    assert.equal(await shown.getAttribute('data-session'), sessionId, 'the success page got the session id');
    const session = await gw.stripe.checkout.sessions.retrieve(sessionId);
    assert.equal(session.status, 'complete');
    assert.equal(session.payment_status, 'paid');
    assert.equal(session.amount_total, 3250);
    const pi = await gw.stripe.paymentIntents.retrieve(session.payment_intent);
    assert.equal(pi.status, 'succeeded');
    assert.equal(pi.amount, 3250);
    assert.deepEqual(messages.filter((m) => /Content Security Policy|Refused/.test(m)), []);
    assert.ok(!merchant.log.includes(PAN), 'the merchant server received a card number');
  } finally {
    await context.close();
  }
});

test('hosted checkout: a decline is shown and the session stays open', async () => {
  const context = await b.newContext();
  const page = await context.newPage();
  try {
    const sessionId = await openHostedCheckout(page);
    await typeHostedCard(page, '4000000000000002');
    await page.getByRole('button', { name: /^Pay / }).click();
    await page.locator('#message', { hasText: 'declined' }).waitFor();
    assert.equal(await page.locator('#message').textContent(), 'Your card was declined.');
    assert.equal((await gw.stripe.checkout.sessions.retrieve(sessionId)).status, 'open');
  } finally {
    await context.close();
  }
});

test('hosted checkout with 3-D Secure: the challenge, then the success page', async () => {
  const context = await b.newContext();
  const page = await context.newPage();
  try {
    const sessionId = await openHostedCheckout(page);
    await typeHostedCard(page, '4000002760003184');
    await page.getByRole('button', { name: /^Pay / }).click();
    await page.getByRole('button', { name: 'Complete authentication' }).click();
    await page.waitForURL(new RegExp(`^${merchant.url}/success\\?session_id=${sessionId}$`));
    assert.equal((await gw.stripe.checkout.sessions.retrieve(sessionId)).payment_status, 'paid');
  } finally {
    await context.close();
  }
});

test('hosted checkout refuses to be framed', async () => {
  const session = await gw.stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [{ price_data: { currency: 'usd', unit_amount: 500, product_data: { name: 'Sticker' } }, quantity: 1 }],
    success_url: `${merchant.url}/success?session_id={CHECKOUT_SESSION_ID}`,
  });
  const res = await fetch(session.url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  assert.doesNotMatch(res.headers.get('content-security-policy'), /unsafe-(inline|eval)/);
});

test('redirectToCheckout sends the shopper to the hosted page', async () => {
  const session = await gw.stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [{ price_data: { currency: 'usd', unit_amount: 700, product_data: { name: 'Poster' } }, quantity: 2 }],
    success_url: `${merchant.url}/success?session_id={CHECKOUT_SESSION_ID}`,
  });
  const { context, page } = await shopPage(b, merchant);
  try {
    await page.evaluate((id) => { Tessera(JSON.parse(document.getElementById('config').textContent).publishableKey).redirectToCheckout({ sessionId: id }); }, session.id);
    await page.waitForURL(`${gw.vault}/checkout/${session.id}`);
    assert.equal(await page.locator('#total').textContent(), '14.00 USD');
  } finally {
    await context.close();
  }
});
