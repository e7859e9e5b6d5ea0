// Starts what the browser tests need, all on loopback: `tessera serve` (API and vault
// origin on free ports, fresh data directory), the demo merchant from examples/ on a
// third origin, and Debian's chromium through playwright-core.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const Stripe = require('stripe');

const REPO = path.resolve(__dirname, '..', '..');
const TESSERA_BIN = process.env.TESSERA_BIN || path.join(REPO, 'target', 'debug', 'tessera');
const ARTIFACTS = process.env.TESSERA_BROWSER_ARTIFACTS || path.join(REPO, 'target', 'browser-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

function waitFor(what, check, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      let value;
      try { value = check(); } catch { value = undefined; }
      if (value) return resolve(value);
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

class Gateway {
  async start(env = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-browser-'));
    this.data = path.join(this.dir, 'data');
    this.stdout = '';
    this.stderr = '';
    this.proc = spawn(TESSERA_BIN, ['serve', '--data-dir', this.data, '--listen', '127.0.0.1:0',
      '--ready-file', path.join(this.dir, 'ready.json')], {
      env: { ...process.env, ...env, TESSERA_LOG: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout.on('data', (d) => { this.stdout += d; });
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    const ready = await waitFor('tessera ready.json', () =>
      JSON.parse(fs.readFileSync(path.join(this.dir, 'ready.json'), 'utf8')));
    await waitFor('keys on stdout', () => /pk_test_\w+/.test(this.stdout));
    this.api = ready.api;
    this.vault = ready.vault;
    this.account = /account (acct_\w+)/.exec(this.stdout)[1];
    this.secretKey = /(sk_test_\w+)/.exec(this.stdout)[1];
    this.publishableKey = /(pk_test_\w+)/.exec(this.stdout)[1];
    const api = new URL(this.api);
    this.stripe = new Stripe(this.secretKey, { host: api.hostname, port: Number(api.port), protocol: 'http' });
    return this;
  }

  cli(...args) {
    return execFileSync(TESSERA_BIN, [...args, '--data-dir', this.data], { encoding: 'utf8' });
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      await new Promise((r) => this.proc.once('exit', r));
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

class Merchant {
  async start(gw) {
    this.log = '';
    this.proc = spawn(process.execPath, [path.join(REPO, 'examples', 'demo-merchant', 'server.js')], {
      env: {
        ...process.env,
        PORT: '0',
        TESSERA_API_URL: gw.api,
        TESSERA_VAULT_URL: gw.vault,
        TESSERA_SECRET_KEY: gw.secretKey,
        TESSERA_PUBLISHABLE_KEY: gw.publishableKey,
        NODE_PATH: path.join(__dirname, 'node_modules'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    this.url = await waitFor('the demo merchant', () => {
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(this.log);
      return m && m[1];
    });
    return this;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      await new Promise((r) => this.proc.once('exit', r));
    }
  }
}

async function browser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
  });
}

// A page that records every request the merchant's own document makes, and every
// console message (CSP violations are reported there).
async function shopPage(b, merchant) {
  const context = await b.newContext();
  const page = await context.newPage();
  const record = { merchantRequests: [], console: [], allRequests: [] };
  page.on('request', (req) => {
    const entry = { url: req.url(), method: req.method(), body: req.postData() || '', frame: req.frame() === page.mainFrame() ? 'main' : 'child' };
    record.allRequests.push(entry);
    if (entry.frame === 'main') record.merchantRequests.push(entry);
  });
  page.on('console', (m) => record.console.push(`${m.type()}: ${m.text()}`));
  await page.goto(merchant.url + '/');
  return { context, page, record };
}

function cardFrame(page) {
  return page.frameLocator('#card-element iframe');
}

async function typeCard(page, number, { exp = '12 / 34', cvc = '123' } = {}) {
  const f = cardFrame(page);
  await f.getByLabel('Card number').fill('');
  await f.getByLabel('Card number').pressSequentially(number, { delay: 5 });
  await f.getByLabel('Expiry date (MM / YY)').pressSequentially(exp.replace(/\D/g, ''), { delay: 5 });
  await f.getByLabel('Security code').pressSequentially(cvc, { delay: 5 });
}

function screenshotPath(name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, `${name}.png`);
}

module.exports = { Gateway, Merchant, browser, shopPage, cardFrame, typeCard, screenshotPath, waitFor };
