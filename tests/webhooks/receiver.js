'use strict';
// Webhook receiver for the Tessera webhook suite: verifies every request with the
// official stripe-node SDK (stripe.webhooks.constructEvent(rawBody, header, secret)).
//
//   node tests/webhooks/receiver.js
//
// Listens on 127.0.0.1 (a free port) and writes one JSON line per message on stdout:
//   {"kind": "listening", "port": N}
//   {"kind": "config", "secrets": n}              (after each line read on stdin)
//   {"kind": "request", "method", "path", "headers", "body_b64", "verified_with": [i...],
//    "error", "status", "response", "received_at", "event_id", "type"}
// Secrets come on stdin as JSON lines: {"secrets": ["whsec_…", …]}. Each secret is tried
// on its own; `verified_with` lists the indexes of those that verified. A verified request
// gets 200, any other 400. Closing stdin stops the receiver.
// stripe-node is loaded from TESSERA_STRIPE_NODE or tests/sdk-node/node_modules/stripe.

const http = require('node:http');
const path = require('node:path');
const readline = require('node:readline');

const stripeDir = process.env.TESSERA_STRIPE_NODE
  || path.resolve(__dirname, '..', 'sdk-node', 'node_modules', 'stripe');
const Stripe = require(stripeDir);
// constructEvent needs no API key and makes no request; the key only satisfies the constructor.
const stripe = new Stripe('receiver_needs_no_api_key');

let secrets = [];

function out(msg) {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    const header = req.headers['stripe-signature'];
    const verifiedWith = [];
    let error = null;
    let event = null;
    secrets.forEach((secret, i) => {
      try {
        event = stripe.webhooks.constructEvent(raw, header, secret);
        verifiedWith.push(i);
      } catch (e) {
        if (error === null) error = `${e.type || e.name}: ${e.message}`;
      }
    });
    if (secrets.length === 0) error = 'receiver has no secret';
    const verified = verifiedWith.length > 0;
    const status = verified ? 200 : 400;
    const response = verified
      ? JSON.stringify({ received: true, by: 'node' })
      : `signature verification failed: ${error}`;
    out({
      kind: 'request',
      method: req.method,
      path: req.url,
      headers: req.headers,
      body_b64: raw.toString('base64'),
      verified_with: verifiedWith,
      error,
      status,
      response,
      received_at: Date.now() / 1000,
      event_id: event ? event.id : null,
      type: event ? event.type : null,
    });
    res.writeHead(status, { 'Content-Type': verified ? 'application/json' : 'text/plain' });
    res.end(response);
  });
});

server.listen(0, '127.0.0.1', () => {
  out({ kind: 'listening', port: server.address().port });
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  try {
    const msg = JSON.parse(line);
    if (Array.isArray(msg.secrets)) secrets = msg.secrets.map(String);
  } catch (e) {
    process.stderr.write(`receiver.js: bad control line: ${e.message}\n`);
  }
  out({ kind: 'config', secrets: secrets.length });
});
rl.on('close', () => {
  server.close();
  process.exit(0);
});
