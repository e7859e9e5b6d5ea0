// A demo shop that takes card payments through Tessera without ever seeing a card
// number: the official Stripe SDK on this server (pointed at Tessera), tessera.js and
// Tessera's card fields in the page.
//
//   TESSERA_SECRET_KEY=sk_test_… TESSERA_PUBLISHABLE_KEY=pk_test_… node server.js
//
// Settings (environment): TESSERA_API_URL (default http://127.0.0.1:4242),
// TESSERA_VAULT_URL (default http://127.0.0.1:4243), PORT (default 4000; 0 picks a
// free one), HOST (default 127.0.0.1). Every request this server receives is logged as
// one JSON line on stdout, so you can check that no card data ever reaches it.
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const Stripe = require('stripe');

const API = new URL(process.env.TESSERA_API_URL || 'http://127.0.0.1:4242');
const VAULT = new URL(process.env.TESSERA_VAULT_URL || 'http://127.0.0.1:4243').origin;
const SECRET_KEY = process.env.TESSERA_SECRET_KEY;
const PUBLISHABLE_KEY = process.env.TESSERA_PUBLISHABLE_KEY;
if (!SECRET_KEY || !PUBLISHABLE_KEY) {
  console.error('Set TESSERA_SECRET_KEY and TESSERA_PUBLISHABLE_KEY (tessera serve prints both on its first start).');
  process.exit(2);
}

const stripe = new Stripe(SECRET_KEY, {
  host: API.hostname,
  port: Number(API.port || (API.protocol === 'https:' ? 443 : 80)),
  protocol: API.protocol.replace(':', ''),
  maxNetworkRetries: 1,
});

// The catalogue lives on the server: the browser names a product, never a price.
const PRODUCTS = {
  tshirt: { name: 'Tessera T-shirt', unit_amount: 2000 },
  mug: { name: 'Tessera mug', unit_amount: 1250 },
};

const PUBLIC = path.join(__dirname, 'public');
let tesseraJs = null; // { path, integrity } from the vault origin's /assets.json

async function loadTesseraJs() {
  const r = await fetch(`${VAULT}/assets.json`);
  if (!r.ok) throw new Error(`${VAULT}/assets.json answered ${r.status}`);
  tesseraJs = (await r.json())['tessera.js'];
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// The CSP a page using tessera.js needs (see docs/ELEMENTS.md): scripts from this site
// and the vault origin, frames from the vault origin, fetches to this site only.
function csp() {
  return [
    "default-src 'self'",
    `script-src 'self' ${VAULT}`,
    `frame-src ${VAULT}`,
    "connect-src 'self'",
    "img-src 'self'",
    "style-src 'self'",
    "base-uri 'none'",
    `form-action 'self' ${VAULT}`,
    "frame-ancestors 'none'",
  ].join('; ');
}

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, {
    'Content-Type': type,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    ...headers,
  });
  res.end(body);
}

function json(res, status, value) {
  send(res, status, 'application/json', JSON.stringify(value));
}

function page() {
  const items = Object.entries(PRODUCTS)
    .map(([id, p]) => `<option value="${id}">${escapeHtml(p.name)} — $${(p.unit_amount / 100).toFixed(2)}</option>`)
    .join('');
  const config = JSON.stringify({ publishableKey: PUBLISHABLE_KEY }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera demo shop</title>
<link rel="stylesheet" href="/shop.css">
<script src="${VAULT}${tesseraJs.path}" integrity="${tesseraJs.integrity}" crossorigin="anonymous"></script>
<script type="application/json" id="config">${config}</script>
<script src="/shop.js" defer></script>
</head><body><main>
<h1>Tessera demo shop</h1>
<form id="pay-form">
  <label for="product">Product</label>
  <select id="product" name="product">${items}</select>
  <label for="name">Name on card</label>
  <input id="name" name="name" autocomplete="cc-name" value="Jenny Rosen">
  <div id="card-element"></div>
  <button id="pay" type="submit">Pay</button>
</form>
<form id="checkout-form" method="post" action="/checkout">
  <button id="checkout" type="submit">Pay with Tessera Checkout (T-shirt and mug)</button>
</form>
<p id="message" role="status" aria-live="polite"></p>
</main></body></html>`;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > 64 * 1024) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function route(req, res, body) {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/') {
    return send(res, 200, 'text/html; charset=utf-8', page(), { 'Content-Security-Policy': csp() });
  }
  if (req.method === 'GET' && (url.pathname === '/shop.js' || url.pathname === '/shop.css')) {
    const file = path.join(PUBLIC, url.pathname.slice(1));
    const type = url.pathname.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8';
    return send(res, 200, type, fs.readFileSync(file));
  }
  if (req.method === 'POST' && url.pathname === '/create-payment-intent') {
    let product;
    try { product = PRODUCTS[JSON.parse(body || '{}').product]; } catch { product = undefined; }
    if (!product) return json(res, 400, { error: 'Unknown product.' });
    const pi = await stripe.paymentIntents.create({
      amount: product.unit_amount,
      currency: 'usd',
      payment_method_types: ['card'],
      description: product.name,
    });
    return json(res, 200, { clientSecret: pi.client_secret });
  }
  if (req.method === 'GET' && url.pathname === '/verify') {
    // The page's word is not proof of payment: ask Tessera from the server.
    const id = url.searchParams.get('payment_intent') || '';
    if (!/^pi_[A-Za-z0-9]+$/.test(id)) return json(res, 400, { error: 'Unknown payment.' });
    const pi = await stripe.paymentIntents.retrieve(id);
    return json(res, 200, { id: pi.id, status: pi.status, amount: pi.amount, currency: pi.currency });
  }
  if (req.method === 'POST' && url.pathname === '/checkout') {
    const origin = `http://${req.headers.host}`;
    const session = await stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: Object.values(PRODUCTS).map((p) => ({
        price_data: { currency: 'usd', unit_amount: p.unit_amount, product_data: { name: p.name } },
        quantity: 1,
      })),
      success_url: `${origin}/success?session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: `${origin}/`,
    });
    return send(res, 303, 'text/plain', '', { Location: session.url });
  }
  if (req.method === 'GET' && url.pathname === '/success') {
    const id = url.searchParams.get('session_id') || '';
    if (!/^cs_(test|live)_[A-Za-z0-9]+$/.test(id)) return json(res, 400, { error: 'Unknown session.' });
    const session = await stripe.checkout.sessions.retrieve(id);
    const paid = session.status === 'complete' && session.payment_status === 'paid';
    return send(res, 200, 'text/html; charset=utf-8',
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Thank you</title><link rel="stylesheet" href="/shop.css"></head>
<body><main><h1>${paid ? 'Thank you!' : 'Payment not completed'}</h1>
<p id="session" data-session="${escapeHtml(session.id)}" data-status="${escapeHtml(session.status)}" data-payment-status="${escapeHtml(session.payment_status)}">
Order ${escapeHtml(session.id)}: ${escapeHtml(session.payment_status)}, $${(session.amount_total / 100).toFixed(2)}</p></main></body></html>`,
      { 'Content-Security-Policy': csp() });
  }
  return json(res, 404, { error: 'Not found.' });
}

const server = http.createServer(async (req, res) => {
  let body = '';
  try {
    body = await readBody(req);
    console.log(JSON.stringify({ method: req.method, url: req.url, body }));
    await route(req, res, body);
  } catch (e) {
    console.error(`demo merchant: ${req.method} ${req.url}: ${e.message}`);
    if (!res.headersSent) json(res, 500, { error: 'Something went wrong.' });
  }
});

loadTesseraJs().then(() => {
  server.listen(Number(process.env.PORT ?? 4000), process.env.HOST || '127.0.0.1', () => {
    const a = server.address();
    console.log(`Demo merchant listening on http://${a.address}:${a.port} (Tessera API ${API.origin}, vault origin ${VAULT})`);
  });
}, (e) => {
  console.error(`demo merchant: cannot load tessera.js details from the vault origin: ${e.message}`);
  process.exit(1);
});
